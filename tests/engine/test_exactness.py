"""engine_stats(): the kernel level that really ran, and the rows exactness cost, for the calls in a block."""
import numpy as np
import pytest

import hubness_fast
from hubness_fast import engine_stats, hub_counts, knn
from oracles import brute_hub_counts, brute_knn


@pytest.mark.parametrize("level", hubness_fast.SIMD_LEVELS)
def test_the_level_that_ran_is_the_level_asked_for(level, monkeypatch):
    monkeypatch.setenv("HUBNESS_FAST_SIMD", level)
    x = np.random.default_rng(0).standard_normal((700, 24)).astype(np.float32)
    with engine_stats() as stats:
        counts = hub_counts(x, 5, device="cpu")
    np.testing.assert_array_equal(counts, brute_hub_counts(x, 5))
    assert stats.levels == {level} and len(stats.calls) == 1 and stats.calls[0]["device"] == "cpu"
    t = stats.totals()
    assert t["rows"] == 700 and t["rows_certified"] + t["rows_recomputed"] == 700


def test_inner_product_at_the_amx_level_says_it_ran_the_tiles(monkeypatch):
    if "amx" not in hubness_fast.SIMD_LEVELS:
        pytest.skip("no AMX here")
    monkeypatch.setenv("HUBNESS_FAST_SIMD", "amx")
    x = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
    with engine_stats() as stats:
        got = knn(x, 3, metric="inner_product", device="cpu")
    assert stats.levels == {"amx"}  # uncentred bf16x3 keys, certified in float64
    np.testing.assert_array_equal(got.indices, brute_knn(x, 3, metric="inner_product")[1])


def test_ties_show_up_as_rows_recomputed_in_float64():
    x = np.repeat(np.random.default_rng(2).integers(-2, 3, (40, 4)), 6, axis=0).astype(np.float32)
    with engine_stats() as stats:
        counts = hub_counts(x, 5, device="cpu")
    np.testing.assert_array_equal(counts, brute_hub_counts(x, 5))
    assert stats.totals()["rows_recomputed"] > 0


def test_blocks_nest_and_see_only_their_own_calls():
    x = np.random.default_rng(3).standard_normal((200, 8)).astype(np.float32)
    knn(x, 2, device="cpu")  # outside any block: recorded nowhere
    with engine_stats() as outer:
        knn(x, 2, device="cpu")
        with engine_stats() as inner:
            knn(x, 3, queries=x[:10], device="cpu")
    knn(x, 2, device="cpu")
    assert len(outer.calls) == 2 and len(inner.calls) == 1
    assert inner.totals()["rows"] == 10 and "levels" in repr(outer)


def test_forcing_a_level_the_cpu_lacks_fails_before_any_work(monkeypatch):
    missing = [lv for lv in ("generic", "avx2", "avx512", "amx") if lv not in hubness_fast.SIMD_LEVELS]
    if not missing:
        pytest.skip("this CPU runs every level")
    monkeypatch.setenv("HUBNESS_FAST_SIMD", missing[0])
    with engine_stats() as stats, pytest.raises(ValueError, match="available"):
        knn(np.zeros((10, 2), np.float32), 1)
    assert stats.calls == []
