"""The CUDA backend on a device: marked `gpu`, skipped without one (benchmarks/gpu/device_run.sh runs them)."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import _native
from fakes import METRICS
from oracles import brute_hub_counts, brute_knn

has_gpu = hf.HAS_CUDA and _native.cuda.device_count() > 0
native_module_built = hf.HAS_CUDA  # compiled by nvcc; runs its host half without a device

try:
    import torch

    has_torch_cuda = has_gpu and torch.cuda.is_available()
except ImportError:  # pragma: no cover
    torch = None
    has_torch_cuda = False
try:
    import cupy
except ImportError:
    cupy = None


def _cases(rng):
    """The CPU suite's oracle cases: ties, duplicates, odd sizes, extreme D."""
    grid = np.stack(np.meshgrid(np.arange(9), np.arange(9), np.arange(4)), -1).reshape(-1, 3).astype(np.float32)
    return {
        "gaussian": (rng.standard_normal((1300, 37)), 6),
        "grid_ties": (grid, 10),
        "duplicates": (np.repeat(rng.standard_normal((40, 12)), 30, axis=0), 5),
        "k1_odd_n": (rng.standard_normal((257, 5)), 1),
        "k_n_minus_1": (rng.standard_normal((130, 9)), 129),
        "d1": (rng.standard_normal((500, 1)), 4),
        "d1000": (rng.standard_normal((300, 1000)), 7),
        "large_k": (rng.standard_normal((2000, 16)), 300),
    }


def _torch(a, dtype=None):
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype or torch.float32, device="cuda")


@pytest.mark.parametrize("precision", ["exact", "tensor"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
@pytest.mark.gpu
def test_gpu_device_arrays_match_oracle(rng, metric, precision):
    for name, (x, k) in _cases(rng).items():
        if metric == "cosine" and name in ("d1", "grid_ties"):
            continue  # zero rows (grid) are rejected; D = 1 cosine is all ties of +-1
        x32 = x.astype(np.float32)
        want_d, want_i = brute_knn(x32, k, metric=metric)
        d, i = hf.knn(_torch(x32), k, metric=metric, precision=precision)
        assert d.is_cuda and i.is_cuda and i.dtype == torch.int64, name
        np.testing.assert_array_equal(i.cpu().numpy(), want_i, err_msg=f"{name} {metric}")
        np.testing.assert_allclose(d.cpu().numpy(), want_d, rtol=1e-5, atol=1e-5, err_msg=name)
        counts = hf.hub_counts(_torch(x32), k, metric=metric, precision=precision)
        np.testing.assert_array_equal(counts.cpu().numpy(), np.bincount(want_i.ravel(), minlength=len(x)))


@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
@pytest.mark.gpu
def test_gpu_tensor_path_where_the_bound_matters(rng):
    """tf32 candidates on near-ties, duplicates and large norms (a bound far wider
    than the gaps, so most rows go to the fp32 fallback): still the exact answer."""
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(6)), -1).reshape(-1, 3)
    cases = {
        "near_ties": (grid + 1e-4 * rng.standard_normal(grid.shape)).astype(np.float32),
        "duplicates": np.repeat(rng.standard_normal((60, 48)), 25, axis=0).astype(np.float32),
        "large_norms": (rng.standard_normal((1500, 64)) + 300.0).astype(np.float32),
        "gaussian_512": rng.standard_normal((4000, 512)).astype(np.float32),
    }
    for name, x in cases.items():
        for metric in ("sqeuclidean", "inner_product", "cosine"):
            want = brute_knn(x, 7, metric=metric)[1]
            got = hf.knn(_torch(x), 7, metric=metric, precision="tensor")[1].cpu().numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {metric}")
            counts = hf.hub_counts(_torch(x), 7, metric=metric, precision="tensor").cpu().numpy()
            np.testing.assert_array_equal(counts, np.bincount(want.ravel(), minlength=len(x)))


@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
@pytest.mark.gpu
def test_gpu_integer_tensors_beyond_float32_are_exact():
    """CUDA int64 tensors go to float64 on the device, as numpy's integers do on the host."""
    x = np.array([[2**40 + 3], [2**40], [2**40 + 2]], dtype=np.int64)
    d, i = hf.knn(torch.from_numpy(x).cuda(), 1)
    assert i.is_cuda
    np.testing.assert_array_equal(i.cpu().numpy(), [[2], [2], [0]])  # float32 would tie them all at 0
    np.testing.assert_array_equal(d.cpu().numpy(), [[1], [4], [1]])


def test_precision_argument(rng):
    x = rng.standard_normal((50, 3))
    with pytest.raises(ValueError, match="precision must be"):
        hf.knn(x, 2, precision="half")
    with pytest.raises(ValueError, match="applies to GPU arrays"):
        hf.hub_counts(x, 2, precision="tensor")


@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
@pytest.mark.gpu
def test_gpu_cross_search_float64_strided_and_include_self(rng):
    x = rng.standard_normal((3000, 70))
    q = rng.standard_normal((700, 70))
    for metric in METRICS:
        i = hf.knn(_torch(x, torch.float64), 9, queries=_torch(q, torch.float64), metric=metric)[1]
        np.testing.assert_array_equal(i.cpu().numpy(), brute_knn(x, 9, queries=q, metric=metric)[1])
    wide = _torch(rng.standard_normal((900, 40)))
    view = wide[:, ::2]  # a strided view: read through a contiguous copy
    np.testing.assert_array_equal(hf.knn(view, 5)[1].cpu().numpy(), brute_knn(view.cpu().numpy(), 5)[1])
    x32 = x[:800].astype(np.float32)
    np.testing.assert_array_equal(hf.hub_counts(_torch(x32), 5, include_self=True).cpu().numpy(),
                                  brute_hub_counts(x32, 5, include_self=True))
    kth = hf.kth_neighbor_distance(_torch(x32), 3)
    np.testing.assert_allclose(kth.cpu().numpy(), np.sqrt(brute_knn(x32, 3)[0][:, -1]), rtol=1e-12)


@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
@pytest.mark.gpu
def test_gpu_no_copy_of_device_input(rng):
    """A float32 contiguous tensor is read in place: the run allocates far less than the input."""
    x = _torch(rng.standard_normal((60_000, 256)))
    hf.hub_counts(x, 5)  # warm-up: module load, lazy allocations
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    counts = hf.hub_counts(x, 5)
    peak = torch.cuda.max_memory_allocated() - base
    assert counts.is_cuda and int(counts.sum()) == 60_000 * 5
    assert peak < x.numel() * 4 // 10  # torch-side allocations: the outputs only


@pytest.mark.skipif(not has_gpu or cupy is None, reason="needs cupy with a CUDA device")
@pytest.mark.gpu
def test_gpu_cupy_arrays(rng):
    x = rng.standard_normal((1500, 24)).astype(np.float32)
    d, i = hf.knn(cupy.asarray(x), 4)
    assert isinstance(i, cupy.ndarray) and isinstance(d, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(i), brute_knn(x, 4)[1])
    c = hf.hub_counts(cupy.asarray(x), 4)
    np.testing.assert_array_equal(cupy.asnumpy(c), brute_hub_counts(x, 4))


@pytest.mark.gpu
@pytest.mark.skipif(not has_gpu, reason="needs a CUDA device")
@pytest.mark.parametrize("chunk", [0, 384])
def test_gpu_host_arrays_streamed_in_chunks(monkeypatch, rng, chunk):
    """device="cuda" on numpy: chunks through pinned memory (384 rows forces many chunk pairs)."""
    monkeypatch.setenv("HUBNESS_FAST_GPU_CHUNK_ROWS", str(chunk))
    x = rng.standard_normal((2500, 33))
    q = rng.standard_normal((900, 33))
    for metric in METRICS:
        np.testing.assert_array_equal(hf.knn(x, 6, metric=metric, device="cuda")[1], brute_knn(x, 6, metric=metric)[1])
        np.testing.assert_array_equal(hf.knn(x, 6, queries=q, metric=metric, device="cuda")[1],
                                      brute_knn(x, 6, queries=q, metric=metric)[1])
    dup = np.repeat(rng.standard_normal((50, 8)), 40, axis=0)
    np.testing.assert_array_equal(hf.hub_counts(dup, 5, device="cuda"), brute_hub_counts(dup, 5))


@pytest.mark.skipif(not native_module_built, reason="the package was built without its nvcc module")
@pytest.mark.parametrize("queries", [False, True])
def test_host_path_refuses_bad_cosine_rows_before_the_gpu_pass(rng, queries):
    # the real _cuda.knn_host validates cosine rows as the CPU certification will, before it
    # touches a GPU: without one, a refusal here proves the check runs first
    x = rng.standard_normal((60, 8))
    bad = x.copy()
    bad[9] *= 2.0 ** -531
    zero = x.copy()
    zero[4] = 0
    for rows, message in ((bad, "row 9 has a squared norm below 2\\^-969"), (zero, "row 4 is all zeros")):
        db, q = (x, rows[:12]) if queries else (rows, None)
        with pytest.raises(ValueError, match=("queries " if queries else "x ") + message):
            _native.cuda.knn_host(db, q, 3, "cosine", not queries, 1, "auto", 0, 0, None, False)


@pytest.mark.gpu
@pytest.mark.skipif(not has_gpu, reason="needs a CUDA device")
def test_gpu_bad_input_and_errors(rng):
    x = rng.standard_normal((500, 8)).astype(np.float32)
    x[321, 3] = np.nan
    with pytest.raises(ValueError, match="row 321"):
        hf.knn(x, 3, device="cuda")
    if has_torch_cuda:
        with pytest.raises(ValueError, match="row 321"):
            hf.knn(_torch(x), 3)
        z = np.ones((50, 4), np.float32)
        z[7] = 0
        with pytest.raises(ValueError, match="row 7 is all zeros"):
            hf.knn(_torch(z), 3, metric="cosine")
        with pytest.raises(ValueError, match="k must be between"):
            hf.knn(_torch(z), 50)
        tiny = rng.standard_normal((50, 4))
        tiny[9] *= 2.0 ** -531  # |x|^2 about 1e-320: float64 cosine underflows
        with pytest.raises(ValueError, match="row 9 has a squared norm below 2\\^-969"):
            hf.knn(_torch(tiny), 3, metric="cosine")
        hf.knn(_torch(tiny), 3)  # the euclidean family takes such rows
        tiny[9] = rng.standard_normal(4) * 1e-170  # every square underflows to 0: still not a row of zeros
        with pytest.raises(ValueError, match="row 9 has a squared norm below 2\\^-969"):
            hf.knn(_torch(tiny), 3, metric="cosine")
        big = _torch(rng.standard_normal((200_000, 4)))
        with pytest.raises(MemoryError):
            hf.hub_counts(big, 199_999)  # lists of 200 000 x 200 000 candidates cannot fit


@pytest.mark.gpu
@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
def test_gpu_progress_and_agreement_with_cpu_at_200k(rng):
    z = rng.standard_normal((200_000, 64), dtype=np.float32)
    seen = []
    counts = hf.hub_counts(_torch(z), 5, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    np.testing.assert_array_equal(counts.cpu().numpy(), hf.hub_counts(z, 5, device="cpu"))
    np.testing.assert_array_equal(hf.hub_counts(z, 5, device="cuda"), counts.cpu().numpy())


@pytest.mark.gpu
@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
def test_gpu_k_beyond_the_device_certification(rng):
    """k + margin above DEVICE_MAX_CAP: lists on the GPU, certified on the host, results back on the GPU."""
    from hubness_fast.engine import _dispatch

    x = rng.standard_normal((_dispatch.DEVICE_MAX_CAP + 400, 6)).astype(np.float32)
    k = _dispatch.DEVICE_MAX_CAP
    d, i = hf.knn(_torch(x), k)
    assert i.is_cuda and i.shape == (len(x), k)
    keys = ((x[:40, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    keys[np.arange(40), np.arange(40)] = np.inf
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), keys.shape), keys), axis=1)[:, :k]
    np.testing.assert_array_equal(i[:40].cpu().numpy(), order)
    counts = hf.hub_counts(_torch(x), k)
    assert counts.is_cuda and int(counts.sum()) == len(x) * k


@pytest.mark.gpu
@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
@pytest.mark.parametrize("precision", ["exact", "tensor"])
def test_gpu_warp_fold_matches_oracle(monkeypatch, rng, precision):
    """The warp-cooperative fold (HUBNESS_FAST_CUDA_FOLD=warp, experimental) gives the same exact lists."""
    monkeypatch.setenv("HUBNESS_FAST_CUDA_FOLD", "warp")
    for name, (x, k) in _cases(rng).items():
        x32 = x.astype(np.float32)
        for metric in ("sqeuclidean", "inner_product"):
            want = brute_knn(x32, k, metric=metric)[1]
            got = hf.knn(_torch(x32), k, metric=metric, precision=precision)[1].cpu().numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {metric}")
    monkeypatch.setenv("HUBNESS_FAST_GPU_CHUNK_ROWS", "384")
    x = rng.standard_normal((2500, 33))
    np.testing.assert_array_equal(hf.hub_counts(x, 6, device="cuda"), brute_hub_counts(x, 6))


@pytest.mark.gpu
@pytest.mark.skipif(not has_gpu, reason="needs a CUDA device")
def test_gpu_ball_pass_matches_cpu(rng):
    """The GPU ball kernel against the CPU pass: random sets, points exactly on a radius
    (radii from k-th neighbour distances: strict and inclusive differ there), duplicates."""
    from hubness_fast.engine.balls import ball_pass
    from hubness_fast.metrics import kth_radius2

    grid = np.stack(np.meshgrid(np.arange(7), np.arange(7), np.arange(5)), -1).reshape(-1, 3).astype(np.float64)
    cases = [
        (rng.standard_normal((3000, 70)), rng.standard_normal((2600, 70)) + 0.1),
        (grid, np.ascontiguousarray(grid[::-1] + [1.0, 0.0, 0.0])),
        (np.repeat(rng.standard_normal((40, 16)), 20, axis=0), rng.standard_normal((500, 16))),
        (rng.standard_normal((900, 2048)).astype(np.float32), rng.standard_normal((700, 2048)).astype(np.float32)),
    ]
    for a, b in cases:
        ra, rb = kth_radius2(a, 3, device="cpu"), kth_radius2(b, 3, device="cpu")
        for inclusive in (False, True):
            cpu = ball_pass(a, ra, b, rb, inclusive=inclusive, device="cpu")
            gpu = ball_pass(a, ra, b, rb, inclusive=inclusive, device="cuda")
            for side_c, side_g in zip(cpu, gpu):
                for key in ("in_count", "own_count", "min_radius2"):
                    np.testing.assert_array_equal(getattr(side_g, key), getattr(side_c, key),
                                                  err_msg=f"{key} inclusive={inclusive}")


@pytest.mark.gpu
@pytest.mark.skipif(not has_torch_cuda, reason="needs torch with CUDA")
def test_gpu_tensor_with_device_cpu_comes_back_on_its_device(rng):
    x = rng.standard_normal((700, 10)).astype(np.float32)
    d, i = hf.knn(_torch(x), 4, device="cpu")
    assert i.is_cuda and d.is_cuda
    np.testing.assert_array_equal(i.cpu().numpy(), brute_knn(x, 4)[1])
