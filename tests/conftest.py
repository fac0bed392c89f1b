import numpy as np
import pytest

import hubness_fast

# Every level the engine knows, from the portable one up; a test runs under each
# one this build and CPU can run (hubness_fast.SIMD_LEVELS) and is skipped for the others.
ALL_SIMD_LEVELS = ["generic", "avx2", "avx512", "amx"]
ALL_SIMD_LEVELS += [level for level in hubness_fast.SIMD_LEVELS if level not in ALL_SIMD_LEVELS]


@pytest.fixture(params=ALL_SIMD_LEVELS)
def simd(request, monkeypatch):
    """Runs a test once per kernel set: HUBNESS_FAST_SIMD set to the level."""
    if request.param not in hubness_fast.SIMD_LEVELS:
        pytest.skip(f"simd level {request.param} is not available on this CPU and build")
    monkeypatch.setenv("HUBNESS_FAST_SIMD", request.param)
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
