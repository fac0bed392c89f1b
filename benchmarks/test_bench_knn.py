"""pytest-benchmark suite: pytest benchmarks/ --benchmark-only (not part of `make test`).

Compare groups with --benchmark-group-by=group; ratios belong to one run."""
import os

import numpy as np
import pytest

from hubness_fast import peers

# Smaller than the runner's cases, so a pytest-benchmark session stays short.
CASES = {"self-10000x512": (10000, 512), "self-20000x64": (20000, 64)}
THREADS = os.cpu_count() or 1


@pytest.fixture(scope="module", params=list(CASES))
def data(request):
    n, d = CASES[request.param]
    return request.param, np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)


@pytest.mark.parametrize("peer", ["hubness_fast", "faiss-cpu", "torch"])
def test_self_join_hub_counts(benchmark, data, peer):
    name, x = data
    if peer == "faiss-cpu":
        pytest.importorskip("faiss")
    if peer == "torch":
        pytest.importorskip("torch")
    benchmark.group = name
    fn = peers.SELF_JOIN[peer]
    counts = benchmark.pedantic(fn, args=(x, 5, THREADS), rounds=3, iterations=1)
    assert counts.sum() == len(x) * 5
