"""pytest-benchmark suite: pytest benchmarks/ --benchmark-only (not part of `make test`).

Compare groups with --benchmark-group-by=group; ratios belong to one run."""
import numpy as np
import pytest

from benchmarks import peers

CASES = {"self-20000x512": (20000, 512), "self-50000x64": (50000, 64)}


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
    counts = benchmark.pedantic(fn, args=(x, 5, None or 2), rounds=3, iterations=1)
    assert counts.sum() == len(x) * 5
