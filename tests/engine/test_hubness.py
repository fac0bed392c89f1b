"""hub_counts() against the oracle, plus property tests over shapes, k, metrics and threads."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hubness_fast as hf
from oracles import brute_hub_counts, brute_knn


def test_hub_counts_match_oracle_and_sum(simd, rng):
    x = rng.standard_normal((1400, 64)).astype(np.float32)
    c = hf.hub_counts(x, 5)
    assert c.dtype == np.int64 and c.sum() == 1400 * 5
    np.testing.assert_array_equal(c, brute_hub_counts(x, 5))


def test_hub_counts_include_self_is_one_plus_n_k_minus_1(rng):
    x = rng.standard_normal((500, 12))
    with_self = hf.hub_counts(x, 5, include_self=True)
    np.testing.assert_array_equal(with_self, 1 + hf.hub_counts(x, 4))
    np.testing.assert_array_equal(with_self, brute_hub_counts(x, 5, include_self=True))


def test_hub_counts_with_queries(rng):
    x, q = rng.standard_normal((900, 10)), rng.standard_normal((300, 10))
    c = hf.hub_counts(x, 4, queries=q)
    _, order = brute_knn(x, 4, queries=q)
    np.testing.assert_array_equal(c, np.bincount(order.ravel(), minlength=900))
    assert c.sum() == 300 * 4


def test_hub_counts_ties_and_duplicates():
    g = np.stack(np.meshgrid(np.arange(9), np.arange(9), np.arange(9)), -1).reshape(-1, 3).astype(np.float64)
    x = np.concatenate([g, g[::7]])  # a grid plus duplicates of some of its points
    np.testing.assert_array_equal(hf.hub_counts(x, 6), brute_hub_counts(x, 6))


def test_hub_counts_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    t = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    c = hf.hub_counts(t, 5)
    assert isinstance(c, torch.Tensor) and c.dtype == torch.int64
    np.testing.assert_array_equal(c.numpy(), brute_hub_counts(t.numpy(), 5))


@st.composite
def problems(draw):
    n = draw(st.integers(2, 260))
    d = draw(st.integers(1, 40))
    k = draw(st.integers(1, n - 1))
    metric = draw(st.sampled_from(["sqeuclidean", "euclidean", "inner_product", "cosine"]))
    grid = draw(st.booleans())  # small integers: many exact ties
    seed = draw(st.integers(0, 2**31 - 1))
    threads = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    r = np.random.default_rng(seed)
    x = (r.integers(-3, 4, (n, d)) if grid else r.standard_normal((n, d))).astype(dtype)
    if metric == "cosine":
        x[np.all(x == 0, axis=1), 0] = 1  # cosine is undefined for zero rows
    return x, k, metric, threads


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_property_knn_equals_oracle(problem):
    x, k, metric, threads = problem
    d, i = hf.knn(x, k, metric=metric, n_threads=threads)
    od, oi = brute_knn(x, k, metric=metric)
    np.testing.assert_array_equal(i, oi)
    np.testing.assert_array_equal(d, od.astype(np.float32))
    c = hf.hub_counts(x, k, metric=metric, n_threads=threads)
    assert c.sum() == x.shape[0] * k
    np.testing.assert_array_equal(c, np.bincount(oi.ravel(), minlength=x.shape[0]))


def test_hubness_stats_takes_torch_counts():
    torch = pytest.importorskip("torch")
    counts = np.array([0, 3, 5, 2, 10, 0])
    assert hf.hubness_stats(counts=torch.from_numpy(counts), k=2) == hf.hubness_stats(counts=counts, k=2)
