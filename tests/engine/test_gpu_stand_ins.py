"""The host half of the CUDA path (dispatch, candidate-list certification, the metrics' ball pass)
with numpy stand-ins for the kernels (tests/fakes.py), so it runs everywhere; each test asserts its
stand-in ran."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import _native
from fakes import METRICS, FakeBallsCuda, FakeCuda, install
from oracles import brute_hub_counts, brute_knn

has_gpu = hf.HAS_CUDA and _native.cuda.device_count() > 0


@pytest.mark.parametrize("metric", METRICS)
def test_host_path_with_stand_in_kernel(monkeypatch, rng, metric):
    fake = install(monkeypatch, FakeCuda())
    x = rng.standard_normal((600, 12))
    q = rng.standard_normal((90, 12))
    with hf.engine_stats() as stats:
        np.testing.assert_array_equal(hf.knn(x, 5, metric=metric, device="cuda")[1],
                                      brute_knn(x, 5, metric=metric)[1])
        np.testing.assert_array_equal(hf.knn(x, 4, queries=q, metric=metric, device="cuda")[1],
                                      brute_knn(x, 4, queries=q, metric=metric)[1])
        np.testing.assert_array_equal(hf.hub_counts(x, 3, device="cuda"), brute_hub_counts(x, 3))
    assert fake.calls == [("knn_host", 5, metric), ("knn_host", 4, metric), ("knn_host", 3, "sqeuclidean")]
    # the host path's candidate pass is the GPU's fp32 one (the certification alone would say "external")
    assert [c["device"] for c in stats.calls] == ["cuda"] * 3 and stats.levels == {"cuda-fp32"}
    assert stats.totals()["rows"] == 600 + 90 + 600


def test_auto_dispatch_by_size(monkeypatch, rng):
    """device="auto" sends host arrays to the GPU only when verified and large enough."""
    fake = install(monkeypatch, FakeCuda())
    x = rng.standard_normal((300, 8))
    with hf.engine_stats() as stats:
        hf.hub_counts(x, 3)  # tiny: the CPU
    assert fake.calls == [] and [c["device"] for c in stats.calls] == ["cpu"]
    monkeypatch.setattr("hubness_fast.engine._dispatch.MIN_GPU_WORK", 1)
    with hf.engine_stats() as stats:
        np.testing.assert_array_equal(hf.hub_counts(x, 3), brute_hub_counts(x, 3))
    assert len(fake.calls) == 1 and [c["device"] for c in stats.calls] == ["cuda"]
    hf.hub_counts(x, 3, device="cpu")
    assert len(fake.calls) == 1


def test_device_argument(rng):
    with pytest.raises(ValueError, match="device must be"):
        hf.knn(rng.standard_normal((10, 2)), 2, device="tpu")
    if not has_gpu:
        with pytest.raises(ValueError, match="device='cuda'"):
            hf.knn(rng.standard_normal((10, 2)), 2, device="cuda")
    assert hf.knn(rng.standard_normal((10, 2)), 2, device="auto")[1].shape == (10, 2)


def test_metrics_on_the_gpu_path_with_stand_in(monkeypatch, rng):
    """device="cuda" routes the containment pass to _cuda.balls (here its numpy contract) and the radii to
    _cuda.knn_host, with the same values as the CPU."""
    fake = install(monkeypatch, FakeBallsCuda())
    real, fake_set = rng.standard_normal((300, 6)), rng.standard_normal((250, 6)) + 0.3
    want = hf.metrics.prdc(real, fake_set, k=4, device="cpu")
    assert fake.calls == []
    with hf.engine_stats() as stats:
        assert hf.metrics.prdc(real, fake_set, k=4, device="cuda") == want
    assert {c[0] for c in fake.calls} == {"balls", "knn_host"}
    assert stats.calls and {c["device"] for c in stats.calls} == {"cuda"}
    before = len(fake.calls)
    assert (hf.metrics.precision_recall(real, fake_set, device="cuda")
            == hf.metrics.precision_recall(real, fake_set, device="cpu"))
    assert ("balls", len(fake_set), len(real)) in fake.calls[before:]
    before = len(fake.calls)
    got = hf.metrics.rarity_score(real, fake_set, device="cuda")
    assert "balls" in [c[0] for c in fake.calls[before:]]
    np.testing.assert_array_equal(got.scores, hf.metrics.rarity_score(real, fake_set, device="cpu").scores)
