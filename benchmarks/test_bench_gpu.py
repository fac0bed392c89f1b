"""pytest-benchmark suite on a GPU: pytest benchmarks/test_bench_gpu.py --benchmark-only.

Skips without a CUDA device. The runner (python -m benchmarks.gpu_bench)
gives the same-run ratios against torch, cupy and KeOps."""
import pytest

import hubness_fast as hf
from hubness_fast import _native

torch = pytest.importorskip("torch")
if not (hf.HAS_CUDA and _native.cuda.device_count() > 0 and torch.cuda.is_available()):
    pytest.skip("needs a CUDA device", allow_module_level=True)

from benchmarks.gpu_bench import torch_knn  # noqa: E402

CASES = {"self-200000x512": (200_000, 512), "self-500000x64": (500_000, 64)}


@pytest.fixture(scope="module", params=list(CASES))
def data(request):
    n, d = CASES[request.param]
    g = torch.Generator(device="cuda").manual_seed(0)
    return request.param, torch.randn((n, d), generator=g, device="cuda")


def _synced(fn):
    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


@pytest.mark.parametrize("peer", ["hubness_fast", "hubness_fast[exact]", "torch[16384 rows]"])
def test_gpu_self_join_hub_counts(benchmark, data, peer):
    name, x = data
    benchmark.group = name
    if peer == "hubness_fast":
        fn = lambda: hf.hub_counts(x, 5)  # noqa: E731
    elif peer == "hubness_fast[exact]":
        fn = lambda: hf.hub_counts(x, 5, precision="exact")  # noqa: E731
    else:  # torch on a slice of the queries (its cost is linear in them)
        fn = lambda: torch_knn(x, 16384, 5)  # noqa: E731
    benchmark.pedantic(_synced(fn), rounds=3, warmup_rounds=1)
