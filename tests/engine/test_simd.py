"""The CPU kernel levels: which ones exist, that HUBNESS_FAST_SIMD is honoured, and that
every level returns the same bits."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import _native
from hubness_fast.engine._dispatch import describe, run


def test_levels_listed_from_the_portable_one_up():
    assert hf.SIMD_LEVELS[0] == "generic"
    known = ["generic", "avx2", "avx512", "amx"]
    assert list(hf.SIMD_LEVELS) == sorted(hf.SIMD_LEVELS, key=known.index)
    assert ("avx2" in hf.SIMD_LEVELS) == hf.HAS_AVX2
    assert ("avx512" in hf.SIMD_LEVELS) == hf.HAS_AVX512 == bool(_native.cpu.HAS_AVX512)
    assert ("amx" in hf.SIMD_LEVELS) == (hf.HAS_AVX512 and _native.cpu.cpu_has_amx())
    assert _native.cpu.kernel_level("auto") == hf.SIMD_LEVELS[-1]


def test_the_level_asked_for_is_the_level_that_runs(simd, rng):
    # The engine reports the kernel set its candidate pass ran: ignoring
    # HUBNESS_FAST_SIMD (or falling back) would show here.
    x = rng.standard_normal((700, 20)).astype(np.float32)
    assert _native.cpu.kernel_level(simd) == simd
    assert run(describe(x, 5), distances=True).stats["kernels"] == simd
    assert run(describe(x, 5, queries=x[:50] + 1), distances=True).stats["kernels"] == simd


@pytest.mark.parametrize("level", ["avx512", "avx2", "amx"])
def test_a_level_this_cpu_or_build_lacks_is_an_error(rng, monkeypatch, level):
    if level in hf.SIMD_LEVELS:
        pytest.skip(f"{level} is available here")
    x = rng.standard_normal((50, 4))
    monkeypatch.setenv("HUBNESS_FAST_SIMD", level)
    with pytest.raises(ValueError, match="HUBNESS_FAST_SIMD=.* is not available on this CPU and build; .*"
                                         + ", ".join(hf.SIMD_LEVELS)):
        hf.knn(x, 3)
    with pytest.raises(ValueError, match="use 'auto' or one of: " + ", ".join(hf.SIMD_LEVELS)):
        _native.cpu.knn(x, None, 3, "sqeuclidean", True, 1, level, None, True)
    with pytest.raises(ValueError, match="not available"):
        _native.cpu.kernel_level(level)


def test_an_unknown_level_is_an_error(rng, monkeypatch):
    x = rng.standard_normal((50, 4))
    with pytest.raises(ValueError, match="simd must be one of auto, generic, avx2, avx512, amx, got 'sse4'"):
        _native.cpu.knn(x, None, 3, "sqeuclidean", True, 1, "sse4", None, True)
    monkeypatch.setenv("HUBNESS_FAST_SIMD", "sse4")
    with pytest.raises(ValueError, match="HUBNESS_FAST_SIMD='sse4' is no kernel level "
                                         r"\(they are generic, avx2, avx512, amx, auto\)"):
        hf.knn(x, 3)


def test_every_level_returns_the_same_bits(rng):
    # Certified results are the float64 answer at every level. The fp32 levels
    # with fused multiply-adds (avx2, avx512) also form the same fp32 keys, so
    # even the key-ordered rows of a call without distances agree bit for bit;
    # amx forms other (bf16x3) keys: its rows hold the same neighbours.
    x = rng.standard_normal((1300, 45)).astype(np.float32)
    q = rng.standard_normal((333, 45)).astype(np.float32)
    certified, keyed = {}, {}
    for level in hf.SIMD_LEVELS:
        certified[level] = [_native.cpu.knn(x, None, 5, "sqeuclidean", True, 2, level, None, True)[:2],
                            _native.cpu.knn(x, q, 7, "cosine", False, 2, level, None, True)[:2],
                            _native.cpu.knn_pair(x[:500], q, 4, "inner_product", 2, level, None)]
        if level != "generic":
            keyed[level] = [_native.cpu.knn(x, None, 5, "sqeuclidean", True, 2, level, None, False)[:1],
                            _native.cpu.knn(x, q, 6, "euclidean", False, 2, level, None, False)[:1]]
    for results in (certified, keyed):
        levels = list(results)
        for level in levels[1:]:
            for got, want in zip(results[level], results[levels[0]]):
                for a, b in zip(got, want):
                    if results is keyed and level == "amx":
                        a, b = np.sort(a, axis=1), np.sort(b, axis=1)
                    np.testing.assert_array_equal(a, b)


def test_pinned_cases_equal_at_every_level():
    # tests/test_pinned.py pins the bytes of "auto" (the best level here); the
    # same calls at every other level must return the same bytes.
    rng = np.random.default_rng(20261201)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    q = rng.standard_normal((700, 64)).astype(np.float32)
    xd = rng.standard_normal((1500, 33))
    c = x[:200].copy()
    r = _native.cpu.knn(c, None, 3, "sqeuclidean", True, 2, "auto", None, True)[1][:, 2].copy()

    def calls(level):
        return [_native.cpu.knn(x, None, 5, "sqeuclidean", True, 2, level, None, True)[:2],
                _native.cpu.knn(x, q, 7, "euclidean", False, 2, level, None, True)[:2],
                _native.cpu.knn(xd, None, 4, "cosine", True, 2, level, None, True)[:2],
                _native.cpu.knn(x, q, 3, "inner_product", False, 2, level, None, True)[:2],
                [v for side in _native.cpu.balls(q, None, c, r, [True], 2, level, None) for v in side.values()]]

    want = calls("auto")
    for level in hf.SIMD_LEVELS:
        for got, ref in zip(calls(level), want):
            for a, b in zip(got, ref):
                np.testing.assert_array_equal(a, b)
