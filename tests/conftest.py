import numpy as np
import pytest

import hubness_fast

SIMD_LEVELS = ["generic"] + (["avx2"] if hubness_fast.HAS_AVX2 else [])


@pytest.fixture(params=SIMD_LEVELS)
def simd(request, monkeypatch):
    """Runs a test once per kernel set this CPU supports."""
    monkeypatch.setenv("HUBNESS_FAST_SIMD", request.param)
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
