"""The CUDA backend. GPU tests are marked `gpu` and skip without a device; the
host half of the path (operands, candidate-list certification) is tested here
with a numpy stand-in for the kernel."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import _backend
from oracles import brute_hub_counts, brute_knn

METRICS = ["sqeuclidean", "euclidean", "inner_product", "cosine"]
has_gpu = hf.HAS_CUDA and _backend._cuda.device_count() > 0
gpu = pytest.mark.skipif(not has_gpu, reason="needs a CUDA device and the _cuda module")


class FakeCuda:
    """What the kernel computes, in numpy: fp32 keys, the cap best by (key, id), padded."""

    @staticmethod
    def device_count():
        return 1

    @staticmethod
    def candidates(x, queries, x_off, q_off, gamma, exclude_same_index, cap):
        q, qo = (x, x_off) if queries is None else (queries, q_off)
        keys = (qo[:, None] + x_off[None, :] + np.float32(gamma) * (q @ x.T)).astype(np.float32)
        if exclude_same_index:
            np.fill_diagonal(keys, np.inf)
        idx = np.broadcast_to(np.arange(x.shape[0]), keys.shape)
        order = np.lexsort((idx, keys), axis=1)[:, :cap]
        k = np.take_along_axis(keys, order, 1)
        return k, np.where(np.isfinite(k), order, -1).astype(np.int64)


@pytest.mark.parametrize("metric", METRICS)
def test_host_path_with_stand_in_kernel(monkeypatch, rng, metric):
    monkeypatch.setattr(_backend, "_cuda", FakeCuda)
    monkeypatch.setattr(_backend, "HAS_CUDA", True)
    x = rng.standard_normal((600, 12))
    q = rng.standard_normal((90, 12))
    np.testing.assert_array_equal(hf.knn(x, 5, metric=metric, device="cuda")[1], brute_knn(x, 5, metric=metric)[1])
    np.testing.assert_array_equal(hf.knn(x, 4, queries=q, metric=metric, device="cuda")[1],
                                  brute_knn(x, 4, queries=q, metric=metric)[1])
    monkeypatch.setattr(_backend, "CUDA_VERIFIED", True)  # then "auto" takes the GPU path too
    np.testing.assert_array_equal(hf.hub_counts(x, 3, device="auto"), brute_hub_counts(x, 3))


def test_device_argument(rng):
    with pytest.raises(ValueError, match="device must be"):
        hf.knn(rng.standard_normal((10, 2)), 2, device="tpu")
    if not has_gpu:
        with pytest.raises(ValueError, match="device='cuda'"):
            hf.knn(rng.standard_normal((10, 2)), 2, device="cuda")
    assert hf.knn(rng.standard_normal((10, 2)), 2, device="auto")[1].shape == (10, 2)  # CPU until verified


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("metric", METRICS)
def test_gpu_matches_oracle(rng, metric):
    x = rng.standard_normal((1300, 37))
    np.testing.assert_array_equal(hf.knn(x, 6, metric=metric, device="cuda")[1], brute_knn(x, 6, metric=metric)[1])


@gpu
@pytest.mark.gpu
def test_gpu_ties_duplicates_and_cpu_agreement(rng):
    g = np.stack(np.meshgrid(np.arange(12), np.arange(12), np.arange(5)), -1).reshape(-1, 3).astype(np.float32)
    np.testing.assert_array_equal(hf.knn(g, 10, device="cuda")[1], brute_knn(g, 10)[1])
    x = np.repeat(rng.standard_normal((40, 12)), 30, axis=0)
    np.testing.assert_array_equal(hf.knn(x, 5, device="cuda")[1], brute_knn(x, 5)[1])
    z = rng.standard_normal((200_000, 64), dtype=np.float32)
    np.testing.assert_array_equal(hf.hub_counts(z, 5, device="cuda"), hf.hub_counts(z, 5))
