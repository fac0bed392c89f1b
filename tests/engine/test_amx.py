"""The AMX level's candidate pass, under both of its schemes (int8x4 and bf16x3): its rounding bound
on adversarial data (checked on the portable scalar reference on any CPU, and on the tiles where this
CPU has AMX), and its certified results against the float64 oracle and the fp32 levels, bit for bit."""
import zlib

import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import _native
from oracles import brute_knn

cpu = _native.cpu
HAS_AMX = "amx" in hf.SIMD_LEVELS
FP32 = [level for level in hf.SIMD_LEVELS if level != "amx"][-1]  # the best fp32 level: the results to equal
# The bf16x3 pass as the engine runs it: its scalar reference anywhere, the tiles where the CPU has them.
PASSES = ["amx-reference", pytest.param("amx", marks=pytest.mark.skipif(not HAS_AMX, reason="no AMX here"))]


@pytest.fixture(autouse=True, params=["int8x4", "bf16x3"])
def scheme(request, monkeypatch):
    """Every test of this module under each scheme, forced (the engine otherwise picks by depth and data)."""
    monkeypatch.setenv("HUBNESS_FAST_AMX_SCHEME", request.param)
    return request.param


def adversarial(name):
    """float32 data sets built to stress the bf16x3 split, the fp32 accumulation and the key assembly."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if name == "gaussian":
        return rng.standard_normal((64, 512))
    if name == "gaussian_odd_depth":
        return rng.standard_normal((96, 61))
    if name == "worst_representation":
        # every component just below a bf16 rounding midpoint (signs alternate, so the centre is about 0 and
        # stays out of the way): the split's representation errors add up coherently
        i, k = np.arange(64)[:, None], np.arange(512)[None, :]
        return np.where((i + k) % 2 == 1, 1.0, -1.0) * (1 + float.fromhex("0x1.fep-9")) * (1 + i * 2.0**-20)
    if name == "near_ties":
        # distances from the base point equal to 1e-6 relative
        base = rng.standard_normal(256)
        x = np.tile(base, (64, 1))
        x[np.arange(64), np.arange(64)] += 1 + 1e-6 * np.arange(64)
        return x
    if name == "near_duplicates":
        seeds = rng.standard_normal((4, 512))
        return seeds[np.arange(64) % 4] * (1 + 1e-5 * rng.uniform(-1, 1, (64, 512)))
    if name == "far_clusters":
        # |x|^2 about 1e10 D with spreads 1e-3 .. 1: catastrophic cancellation without centring
        i = np.arange(64)[:, None]
        return 1e5 * (1 + i % 2) + 10.0 ** (-3 + i % 4) * rng.standard_normal((64, 512))
    if name == "subnormal":
        scale = np.where(np.arange(128) % 2 == 1, 1e-42, 1e-39)
        return rng.standard_normal((64, 128)) * scale * (1 + np.arange(64)[:, None] % 3)
    if name == "tiny_and_huge":
        mag = np.array([1e15, 1e-38, 1e-20, 1, 1, 1, 1, 1] * 64)
        return mag * rng.standard_normal((64, 512)) * (1 + (np.arange(64)[:, None] % 5 == 0))
    if name == "huge":
        return 4e16 * rng.uniform(-1, 1, (64, 512))
    if name == "integer_grid":
        return np.floor(8 * rng.uniform(-1, 1, (64, 512)) + 8)
    if name == "integer_grid_big":
        return np.floor(1e6 * rng.uniform(-1, 1, (64, 64)))
    raise KeyError(name)


DATA = ["gaussian", "gaussian_odd_depth", "worst_representation", "near_ties", "near_duplicates", "far_clusters",
        "subnormal", "tiny_and_huge", "huge", "integer_grid", "integer_grid_big"]


def true_keys(a, b, scale):
    """scale^2 |a_i - b_j|^2 in extended precision (the float32 inputs are exact there)."""
    a, b = np.asarray(a, np.longdouble), np.asarray(b, np.longdouble)
    return np.stack([((row[None, :] - b) ** 2).sum(-1) for row in a]) * np.longdouble(scale) ** 2


@pytest.mark.parametrize("tiles", [False, pytest.param(True, marks=pytest.mark.skipif(not HAS_AMX, reason="no AMX"))],
                         ids=["reference", "tiles"])
@pytest.mark.parametrize("name", DATA)
def test_keys_within_the_bound(name, tiles, scheme):
    x = adversarial(name).astype(np.float32)
    a, b = x[: len(x) // 2 + 3], x  # rows and columns of different sizes (strip padding on both)
    keys, bounds, scale = cpu.amx_keys(a, b, tiles, scheme)
    assert keys.shape == bounds.shape == (len(a), len(b)) and scale > 0
    err = np.abs(keys.astype(np.longdouble) - true_keys(a, b, scale))
    ratio = float((err / bounds).max())
    assert ratio <= 1.0, f"{name}: error up to {ratio:.3f} of the bound"


def test_bound_is_tight_enough_to_certify(scheme):
    # The bound is within a small factor of the fp32 engine's ((D + 16) 2^-24 (|x|^2 + |y|^2)), not a vacuous
    # one: about its size for bf16x3, about twice it for int8x4 (whose products cost half as much).
    x = adversarial("gaussian").astype(np.float32)
    keys, bounds, scale = cpu.amx_keys(x, x, False, scheme)
    alpha = (x.astype(np.float64) - x.mean(0)) ** 2
    norms2 = alpha.sum(1) * scale**2
    fp32_like = (512 + 16) * 2.0**-24 * (norms2[:, None] + norms2[None, :])
    assert np.median(bounds / fp32_like) < {"bf16x3": 2.0, "int8x4": 4.0}[scheme]


def test_tiles_and_reference_agree_within_the_bound(scheme):
    if not HAS_AMX:
        pytest.skip("no AMX here")
    x = np.random.default_rng(3).standard_normal((100, 200)).astype(np.float32)
    k_tiles, bounds, _ = cpu.amx_keys(x, x, True, scheme)
    k_ref, _, _ = cpu.amx_keys(x, x, False, scheme)
    assert (np.abs(k_tiles.astype(np.float64) - k_ref) <= 2 * bounds).all()


@pytest.mark.skipif(not HAS_AMX, reason="no AMX here")
@pytest.mark.parametrize("name", DATA)
def test_int8_tiles_equal_the_reference_bit_for_bit(name, scheme):
    # tdpbssd's int32 sums are exact and the fold combines them in the reference's order: the same bits.
    if scheme != "int8x4":
        pytest.skip("bf16x3 tiles may add in another order than the reference")
    x = adversarial(name).astype(np.float32)
    a, b = x[: len(x) // 2 + 3], np.concatenate([x, x[:40] * np.float32(-0.5)])
    k_tiles, _, _ = cpu.amx_keys(a, b, True, scheme)
    k_ref, _, _ = cpu.amx_keys(a, b, False, scheme)
    np.testing.assert_array_equal(k_tiles.view(np.uint32), k_ref.view(np.uint32))


def test_tiles_need_amx(scheme):
    if HAS_AMX:
        pytest.skip("AMX is available here")
    x = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="no AMX tiles"):
        cpu.amx_keys(x, x, True, scheme)


def test_probe_rejects_unknown_schemes():
    x = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="scheme must be"):
        cpu.amx_keys(x, x, False, "fp8")


@pytest.mark.parametrize("forced", [None, "int8x4", "bf16x3"])
def test_the_scheme_follows_depth_and_data(monkeypatch, forced):
    # int8x4 from 256 features on data whose rows share one scale; bf16x3 below that depth and where some
    # features dwarf the others (a coarse int8 step per row); the environment variable forces either.
    if forced:
        monkeypatch.setenv("HUBNESS_FAST_AMX_SCHEME", forced)
    else:
        monkeypatch.delenv("HUBNESS_FAST_AMX_SCHEME", raising=False)
    rng = np.random.default_rng(9)
    gaussian = rng.standard_normal((600, 300)).astype(np.float32)
    shallow = rng.standard_normal((600, 100)).astype(np.float32)
    uneven = (rng.standard_normal((600, 300)) * np.exp(rng.standard_normal(300))).astype(np.float32)
    got = [cpu.amx_scheme(x) for x in (gaussian, shallow, uneven)]
    assert got == ([forced] * 3 if forced else ["int8x4", "bf16x3", "bf16x3"])


def knn(level, x, k, queries=None, metric="sqeuclidean", exclude_self=True):
    ids, dist, stats = cpu.knn(x, queries, k, metric, exclude_self, 2, level, None, True)
    return ids, dist, stats


@pytest.mark.parametrize("level", PASSES)
@pytest.mark.parametrize("name", DATA)
def test_adversarial_self_join_equals_oracle_and_fp32(level, name):
    x = adversarial(name).astype(np.float32)
    x = np.concatenate([x, x[:7] * np.float32(1 + 2**-20), x[:3]])  # near and exact duplicates of other rows
    for k, metric in ((1, "sqeuclidean"), (5, "sqeuclidean"), (12, "sqeuclidean"), (5, "cosine")):
        ids, dist, stats = knn(level, x, k, metric=metric)
        assert stats["kernels"] == level
        od, oi = brute_knn(x, k, metric=metric)
        np.testing.assert_array_equal(ids, oi)  # the oracle sums in the engine's order (oracles.py)
        if metric == "cosine":
            # the near-parallel copies sit at cosine distances of about 1e-16: relative agreement means little there
            np.testing.assert_allclose(dist, od, rtol=1e-12, atol=1e-13)
        else:
            np.testing.assert_allclose(dist, od, rtol=1e-12, atol=0)
        want = knn(FP32, x, k, metric=metric)
        np.testing.assert_array_equal(ids, want[0])
        np.testing.assert_array_equal(dist, want[1])


@pytest.mark.parametrize("level", PASSES)
@pytest.mark.parametrize("name", ["far_clusters", "near_ties", "integer_grid", "subnormal", "huge"])
def test_adversarial_search_pairs_and_self_included(level, name):
    x = adversarial(name)  # float64 inputs: the pass splits the float64 values
    q = x[:21] + np.float64(1e-3) * x[21:42]
    for args in [(x, 4, q, "euclidean", False), (x, 6, None, "sqeuclidean", False), (x, 3, q, "cosine", False)]:
        got = knn(level, *args)
        want = knn(FP32, *args)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # the block pairs of the Dask runner
    for metric in ("sqeuclidean", "cosine"):
        got = cpu.knn_pair(x[:40], q, 5, metric, 2, level, None)
        want = cpu.knn_pair(x[:40], q, 5, metric, 2, FP32, None)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("level", PASSES)
def test_blocks_strips_and_every_k(level):
    # Several 576-row blocks (diagonal and off-diagonal pairs), strips cut at the edges, k up to n - 1.
    rng = np.random.default_rng(11)
    n = 1200 if level == "amx" else 620
    x = rng.standard_normal((n, 33)).astype(np.float32)
    for k in (1, 3, 40, n - 1) if level == "amx" else (2, n - 1):
        got, want = knn(level, x, k), knn(FP32, x, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.skipif(not HAS_AMX, reason="no AMX here")
@pytest.mark.parametrize("d", [61, 300, 520])
def test_strip_runs_of_every_shape(d):
    # The tile pass folds each strip pair while the next one multiplies and stores its accumulators as the
    # next begins: runs of 1 to 6 column strips, the whole depth at once (d <= 256) and depth slices
    # (d > 256), diagonal and off-diagonal blocks, self-join and search; every list and distance equals the
    # fp32 level's, bit for bit, and the ball pass's counts too.
    rng = np.random.default_rng(d)
    x = rng.standard_normal((900, d)).astype(np.float32)
    x[700:760] = x[:60] * np.float32(1 + 2**-21)  # near-duplicates: near-ties for the folds
    q = rng.standard_normal((333, d)).astype(np.float32)
    for args in [(x, 5), (x, 17), (x, 5, q)]:
        got, want = knn("amx", *args), knn(FP32, *args)
        assert got[2]["kernels"] == "amx"
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    r = np.repeat(knn(FP32, x, 4)[1][:, 3:4], 2, axis=1)
    for got_side, want_side in zip(cpu.balls(q, None, x, r, [True, False], 2, "amx", None),
                                   cpu.balls(q, None, x, r, [True, False], 2, FP32, None)):
        for key in want_side:
            np.testing.assert_array_equal(got_side[key], want_side[key])


@pytest.mark.skipif(not HAS_AMX, reason="no AMX here")
def test_amx_certifies_most_rows_and_counts_them():
    x = np.random.default_rng(5).standard_normal((3000, 128)).astype(np.float32)
    before = cpu.engine_counters()
    _, _, stats = knn("amx", x, 5)
    after = cpu.engine_counters()
    assert stats["kernels"] == "amx" and stats["rows"] == 3000
    assert stats["rows_certified"] + stats["rows_recomputed"] == stats["rows"]
    assert stats["rows_certified"] >= 0.9 * stats["rows"] and stats["rows_scanned"] == 0
    assert after["calls"] >= before["calls"] + 1 and after["rows"] >= before["rows"] + 3000


@pytest.mark.parametrize("level", PASSES)
@pytest.mark.parametrize("name", ["gaussian", "far_clusters", "near_duplicates", "integer_grid", "subnormal"])
def test_adversarial_balls_equal_fp32(level, name):
    # Radii are the engine's own k-th neighbour distances, so many pairs sit exactly on a ball's boundary.
    x = adversarial(name).astype(np.float32)
    q = np.concatenate([x[::2], x[1::2] * np.float32(1 + 2**-22)])
    r = np.repeat(knn(FP32, x, 3)[1][:, 2:3], 2, axis=1)  # squared radii, one column per layer
    rq = np.repeat(knn(FP32, q, 2)[1][:, 1:2], 2, axis=1)
    got = cpu.balls(q, rq, x, r, [True, False], 2, level, None)
    want = cpu.balls(q, rq, x, r, [True, False], 2, FP32, None)
    for side_got, side_want in zip(got, want):
        for key in side_want:
            np.testing.assert_array_equal(side_got[key], side_want[key])


@pytest.mark.parametrize("level", PASSES)
@pytest.mark.parametrize("name", DATA)
def test_inner_products_on_the_tiles_equal_oracle_and_fp32(level, name):
    # Inner products run the bf16x3 pass uncentred (keys -2 s^2 <x, y>); far-off clusters, huge and tiny
    # magnitudes and integer grids (many exact ties) must still give the float64 answer, bit for bit the
    # fp32 level's, in a self-join, a search and the Dask block pairs.
    x = adversarial(name).astype(np.float32)
    x = np.concatenate([x, x[:5], -x[5:9]])  # exact duplicates (ties) and opposite rows
    q = x[:13] * np.float32(0.5) + x[13:26]
    for args in [(x, 4), (x, 7, q)]:
        ids, dist, stats = knn(level, *args, metric="inner_product")
        assert stats["kernels"] == level
        want = knn(FP32, *args, metric="inner_product")
        np.testing.assert_array_equal(ids, want[0])
        np.testing.assert_array_equal(dist, want[1])
    od, oi = brute_knn(x, 4, metric="inner_product")
    np.testing.assert_array_equal(knn(level, x, 4, metric="inner_product")[0], oi)
    got = cpu.knn_pair(x[:40], q, 5, "inner_product", 2, level, None)
    want = cpu.knn_pair(x[:40], q, 5, "inner_product", 2, FP32, None)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not HAS_AMX, reason="no AMX here")
def test_every_metric_and_the_balls_run_the_tiles_under_amx():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((700, 20)).astype(np.float32)
    for metric in ("sqeuclidean", "euclidean", "cosine", "inner_product"):
        got = knn("amx", x, 5, metric=metric)
        assert got[2]["kernels"] == "amx", metric
        assert got[2]["rows_certified"] >= 0.9 * len(x), metric
        for a, b in zip(got[:2], knn("avx512", x, 5, metric=metric)[:2]):
            np.testing.assert_array_equal(a, b)
    c = x[:100].copy()
    r = np.full(100, 30.0)
    for got, want in zip(cpu.balls(x, None, c, r, [True], 2, "amx", None),
                         cpu.balls(x, None, c, r, [True], 2, "avx512", None)):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_reference_level_is_not_listed():
    assert "amx-reference" not in hf.SIMD_LEVELS
    assert cpu.kernel_level("amx-reference") == "amx-reference"


@pytest.mark.parametrize("level", PASSES)
def test_data_that_send_the_engine_back_to_bf16x3_stay_exact(level, monkeypatch):
    # Features of very different scales: the engine packs int8x4, finds its bound too loose for these rows,
    # packs bf16x3 instead (amx_scheme says so), and every list, distance and ball count equals the fp32 level's.
    monkeypatch.delenv("HUBNESS_FAST_AMX_SCHEME", raising=False)
    rng = np.random.default_rng(21)
    scales = np.exp(rng.standard_normal(300))
    x = (rng.standard_normal((700, 300)) * scales).astype(np.float32)
    q = (rng.standard_normal((90, 300)) * scales).astype(np.float32)
    assert cpu.amx_scheme(x) == "bf16x3" and cpu.amx_scheme(x / scales.astype(np.float32)) == "int8x4"
    for args in [(x, 5), (x, 4, q)]:
        got, want = knn(level, *args), knn(FP32, *args)
        assert got[2]["kernels"] == level
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    r = np.repeat(knn(FP32, x, 3)[1][:, 2:3], 2, axis=1)
    for got_side, want_side in zip(cpu.balls(q, None, x, r, [True, False], 2, level, None),
                                   cpu.balls(q, None, x, r, [True, False], 2, FP32, None)):
        for key in want_side:
            np.testing.assert_array_equal(got_side[key], want_side[key])


@pytest.mark.parametrize("level", PASSES)
@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "inner_product", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_the_tiles_leave_unsettled_take_a_wider_fp32_pass(level, metric, dtype):
    # 0/1 rows, no two equal: many tie at the k-th key beyond the list; after the tile pass they take a
    # wider pass on the fp32 kernels (as the GPU path's wider passes do), certified by the fp32 rule
    rng = np.random.default_rng(11)
    x = np.unique(rng.integers(0, 2, (900, 24)), axis=0).astype(dtype)  # n_cand > 4 x 128
    x[:, 0] = 1  # no zero row (cosine refuses one)
    for k, exclude_self, queries in ((5, True, None), (40, False, None), (4, False, x[::7] + dtype(1))):
        ids, dist, stats = knn(level, x, k, queries=queries, metric=metric, exclude_self=exclude_self)
        od, oi = brute_knn(x, k, queries=queries, metric=metric, exclude_self=exclude_self)
        np.testing.assert_array_equal(ids, oi)
        np.testing.assert_array_equal(dist, od)
        assert stats["kernels"] == level
        if metric != "inner_product" and queries is None:
            assert stats["rows_widened"] > 0 and stats["rows_scanned"] < stats["rows_widened"], k
    # a Dask block pair, both directions: the same wider passes after the tile pass
    before = cpu.engine_counters()["rows_widened"]
    ia, da, ib, db = cpu.knn_pair(x[:300], x[300:], 5, metric, 2, level, None)
    for ids, dist, rows, cols in ((ia, da, x[:300], x[300:]), (ib, db, x[300:], x[:300])):
        od, oi = brute_knn(cols, 5, queries=rows, metric=metric)
        np.testing.assert_array_equal(ids, oi)
        np.testing.assert_array_equal(dist, od)
    if metric != "inner_product":
        assert cpu.engine_counters()["rows_widened"] > before
