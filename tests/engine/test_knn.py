"""knn() against the float64 brute-force oracle."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast.engine import _native
from hubness_fast.engine._dispatch import describe, run
from oracles import brute_hub_counts, brute_knn

METRICS = ["sqeuclidean", "euclidean", "inner_product", "cosine"]


def check(x, k, metric="sqeuclidean", queries=None, exclude_self=None, n_threads=None, **kw):
    d, i = hf.knn(x, k, queries=queries, metric=metric, exclude_self=exclude_self, n_threads=n_threads)
    od, oi = brute_knn(x, k, queries=queries, metric=metric,
                       exclude_self=(queries is None) and (exclude_self is not False))
    np.testing.assert_array_equal(i, oi)
    # the documented claim, to the bit: the float64 value rounded once to float32
    np.testing.assert_array_equal(d, od.astype(np.float32))
    assert d.dtype == np.float32 and i.dtype == np.int64
    return d, i


@pytest.mark.parametrize("metric", METRICS)
def test_gaussian_matches_oracle(simd, rng, metric):
    check(rng.standard_normal((1300, 37)), 6, metric)  # 1300: not a multiple of the 576-row block


@pytest.mark.parametrize("metric", METRICS)
def test_near_duplicates_exact_to_the_bit(simd, rng, metric):
    # groups of 8 copies 1e-7 apart: cosine keys of about 1e-14 sit below the rounding of a
    # float64 dot product, so only the documented left-to-right order defines them
    base = np.repeat(rng.standard_normal((60, 12)), 8, axis=0)
    check(base + 1e-7 * rng.standard_normal(base.shape), 6, metric)


@pytest.mark.parametrize("metric", METRICS)
def test_large_offsets_and_integer_grids_exact_to_the_bit(simd, rng, metric):
    check(rng.standard_normal((700, 16)) * 1e4 + 1e5, 5, metric)
    check(rng.integers(-3, 4, (900, 8)).astype(np.float64), 7, metric)


@pytest.mark.parametrize("n", [1158, 1735])  # last block: 6 rows (read in place) / 7 rows (packed)
@pytest.mark.parametrize("metric", ["sqeuclidean", "cosine"])  # fp32 rows in place / rescaled and packed
def test_float32_self_join_every_block_layout(simd, rng, n, metric):
    check(rng.standard_normal((n, 40)).astype(np.float32), 5, metric, n_threads=2)


@pytest.mark.parametrize("metric", METRICS)
def test_cross_search_matches_oracle(simd, rng, metric):
    x, q = rng.standard_normal((1500, 24)), rng.standard_normal((700, 24))
    check(x, 5, metric, queries=q)


def test_few_queries_use_database_slices(simd, rng):
    x, q = rng.standard_normal((3000, 16)), rng.standard_normal((7, 16))
    check(x, 9, queries=q, n_threads=2)


def test_results_identical_for_any_thread_count(rng):
    x = rng.standard_normal((2000, 20)).astype(np.float32)
    ref = hf.knn(x, 7, n_threads=1)
    for t in (2, 3, 5):
        d, i = hf.knn(x, 7, n_threads=t)
        np.testing.assert_array_equal(i, ref[1])
        np.testing.assert_array_equal(d, ref[0])


def test_float32_and_float64_inputs_agree_when_representable(rng):
    x = rng.standard_normal((800, 10)).astype(np.float32)
    d32, i32 = hf.knn(x, 4)
    d64, i64 = hf.knn(x.astype(np.float64), 4)
    np.testing.assert_array_equal(i32, i64)
    np.testing.assert_array_equal(d32, d64)


def test_integer_grid_ties_broken_by_index(simd):
    g = np.stack(np.meshgrid(np.arange(12), np.arange(12), np.arange(5)), -1).reshape(-1, 3)
    g = np.random.default_rng(0).permutation(g).astype(np.float32)  # 720 points, every distance tied many times
    d, i = check(g, 10)
    assert d[0, 0] == 1.0  # grid neighbours at distance 1


@pytest.mark.parametrize("k", [1, 4, 6])
@pytest.mark.parametrize("jitter", [3e-5, 3e-4, 3e-3])
def test_near_tied_grid_around_the_rounding_bound(simd, k, jitter):
    # A grid jittered by about the fp32 bound of its keys (~1e-3 here): the gaps
    # between the k-th, (k+1)-th, ... keys straddle the margin by which a list
    # may turn points away (TopKSet::set_margins), on both sides of it.
    rng = np.random.default_rng(1)
    g = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(10)), -1).reshape(-1, 3) * 3.0
    x = (rng.permutation(g) + rng.uniform(-jitter, jitter, g.shape)).astype(np.float32)
    check(x, k)
    check(x, k, queries=x[:300] + np.float32(0.5))


def test_duplicates_are_neighbours_at_distance_zero(simd, rng):
    base = rng.standard_normal((40, 12))
    x = np.repeat(base, 30, axis=0)  # 30 exact copies of each point: massive ties the fp32 pass cannot order
    d, i = check(x, 5)
    assert np.all(d == 0)
    info = run(describe(x, 5), distances=True).stats
    assert info["rows_scanned"] > 0  # these rows needed the float64 scan


def scan_case(case, rng, n=203, d=13):
    """Rows whose k-th neighbour ties with more points than a candidate list holds (k + 3), so that
    they go to the float64 scan of every point; n is not a multiple of the scan's 8 lanes."""
    if case == "one-hot":  # every pair at the same distance
        x = np.zeros((n, d))
        x[np.arange(n), rng.integers(0, d, n)] = 1
    elif case == "identical groups":  # groups of about 12 equal rows
        x = rng.standard_normal((n // 12 + 1, d))[rng.integers(0, n // 12 + 1, n)]
    elif case == "binary":
        x = rng.integers(0, 2, (n, d)).astype(np.float64)
        x[:, 0] = 1  # no zero row (cosine refuses one)
    else:  # "parallel": positive multiples of 4 directions, cosine 0 within each
        x = rng.standard_normal((4, d))[rng.integers(0, 4, n)] * rng.integers(1, 9, (n, 1))
    return x


@pytest.mark.parametrize("case", ["one-hot", "identical groups", "binary", "parallel"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_the_lists_cannot_settle_equal_the_oracle(simd, rng, case, metric, dtype):
    # the scan sums each pair in 8 lanes (2 or 4 to a vector) with exact_sqdist's / exact_dot's steps: the
    # same keys as the oracle's in-order float64 sums, so the same neighbours and ties broken by index;
    # rows with no equal row take a wider fp32 pass first (binary rows here: the lists of 32 settle them)
    x = scan_case(case, rng).astype(dtype)
    check(x, 5, metric=metric)
    check(x, 40, metric=metric, exclude_self=False)  # more than a scan group's rows, itself included
    check(x, 3, metric=metric, queries=x[:37] * dtype(2) if metric == "cosine" else x[:37])
    stats = run(describe(x, 5, metric=metric), distances=True).stats
    if case != "parallel" or metric == "cosine":
        assert stats["rows_scanned"] + stats["rows_widened"] > 0  # the paths under test
    if case in ("one-hot", "identical groups"):
        assert stats["rows_scanned"] > 0  # rows equal to another unsettled row: one scan per group


def widen_case(case, rng, n=900, d=12):
    """Rows whose k-th key ties beyond the k + 3 kept candidates, no two of them equal: a wider fp32 pass
    settles them. 900 rows: two blocks of 576, and n_cand > 4 x 128 so two widths are tried."""
    if case == "binary":  # 0/1 features: integer distances, many equal at each rank
        x = rng.integers(0, 2, (n, 24)).astype(np.float64)
        x[:, 0] = 1
    elif case == "grid":  # a small integer grid, all rows distinct
        x = np.unique(rng.integers(-3, 4, (3 * n, 5)), axis=0)[:n].astype(np.float64)
        x[:, 0] += 10  # no zero row
    else:  # "scaled binary": 0/1 rows at large norm, where the fp32 bound is coarse
        x = rng.integers(0, 2, (n, d)).astype(np.float64) * 1000 + 1e5
    _, first = np.unique(x, axis=0, return_index=True)
    return x[np.sort(first)]


@pytest.mark.parametrize("case", ["binary", "grid", "scaled binary"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_a_wider_pass_settles_equal_the_oracle(simd, rng, case, metric, dtype):
    x = widen_case(case, rng).astype(dtype)
    check(x, 5, metric=metric)
    check(x, 40, metric=metric, exclude_self=False)  # lists of 128 (40 + 3 > 32)
    check(x, 4, metric=metric, queries=x[::7] + dtype(1))
    np.testing.assert_array_equal(hf.hub_counts(x, 5, metric=metric), brute_hub_counts(x, 5, metric=metric))
    if metric != "inner_product":  # ties at the k-th key beyond the list, and no two rows equal
        for k, exclude_self in ((5, None), (40, False)):  # lists of 32, and of 128 (k + 3 > 32)
            stats = run(describe(x, k, metric=metric, exclude_self=exclude_self), distances=True).stats
            assert stats["rows_widened"] > 0 and stats["rows_scanned"] < stats["rows_widened"], k


@pytest.mark.parametrize("case", ["binary", "grid", "scaled binary"])
@pytest.mark.parametrize("metric", METRICS)
def test_block_pairs_give_unsettled_rows_the_wider_pass_too(simd, rng, case, metric):
    # the Dask runner's block pairs: both directions (a against b, b against a) settle rows the
    # first lists leave unsettled with wider passes, each against the other side
    x = widen_case(case, rng)
    a, b = x[:300], x[300:]  # b's rows meet 300 points (lists of 32), a's rows 600 (32, then 128)
    for k in (5, 40):
        before = _native.cpu.engine_counters()
        ia, da, ib, db = _native.cpu.knn_pair(a, b, k, metric, 2, _native.simd_level(), None)
        widened = _native.cpu.engine_counters()["rows_widened"] - before["rows_widened"]
        for ids, dist, rows, cols in ((ia, da, a, b), (ib, db, b, a)):
            od, oi = brute_knn(cols, k, queries=rows, metric=metric)
            np.testing.assert_array_equal(ids, oi)
            np.testing.assert_array_equal(dist, od)
        if metric != "inner_product":
            assert widened > 0, k


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_heap_lists_keep_keys_of_every_sign_and_ties_by_index(simd, rng, metric, n_threads):
    # lists of more than 32 (k >= 30) are heaps of packed (key, id) words while a pass runs: the key's
    # bits made order-preserving, negative keys (inner products), -0 and +0 (orthogonal rows) and ties
    # (an integer grid with repeats) must come back as the float64 brute force has them
    x = rng.integers(-2, 3, (900, 6)).astype(np.float64)
    x[::9] = 0.0 if metric != "cosine" else 1.0  # orthogonal to everything: keys of -0.0 for dot products
    x[5::50] = x[7]  # repeated rows
    q = np.concatenate([x[::11], rng.integers(-2, 3, (40, 6)).astype(np.float64) + 0.5])
    for k in (30, 70):
        check(x, k, metric=metric, n_threads=n_threads)
        check(x, k, metric=metric, queries=q, n_threads=n_threads)
    a, b = x[:350], x[350:]
    ia, da, ib, db = _native.cpu.knn_pair(a, b, 45, metric, n_threads, _native.simd_level(), None)
    for ids, dist, rows, cols in ((ia, da, a, b), (ib, db, b, a)):
        od, oi = brute_knn(cols, 45, queries=rows, metric=metric)
        np.testing.assert_array_equal(ids, oi)
        np.testing.assert_array_equal(dist, od)


def test_rows_no_wider_list_settles_are_scanned(simd):
    # 300 distinct one-hot rows: every pair at distance 2, so a row's k-th key ties with every point; lists
    # of 32 do not settle them, lists of 128 would hold more than a quarter of the points: the scan does
    x = np.eye(300)
    check(x, 5)
    stats = run(describe(x, 5), distances=True).stats
    assert stats["rows_scanned"] == 300 and stats["rows_widened"] == 0


def test_self_excluded_by_index_not_position(rng):
    x = rng.standard_normal((200, 5))
    x[17] = x[3]
    d, i = hf.knn(x, 1)
    assert i[3, 0] == 17 and i[17, 0] == 3 and d[3, 0] == 0
    assert not np.any(i == np.arange(200)[:, None])


def test_include_self(simd, rng):
    x = rng.standard_normal((300, 6))
    d, i = check(x, 4, exclude_self=False)
    np.testing.assert_array_equal(i[:, 0], np.arange(300))
    assert np.all(d[:, 0] == 0)


@pytest.mark.parametrize("n,k", [(50, 1), (50, 49), (700, 699), (600, 100)])
def test_k_extremes(simd, rng, n, k):
    check(rng.standard_normal((n, 7)), k)


@pytest.mark.parametrize("dim", [1, 1000])
def test_dimensions(simd, rng, dim):
    check(rng.standard_normal((650, dim)), 5)


def test_large_norms_and_near_ties(simd, rng):
    # A common offset of 1e4 makes the fp32 expansion |x|^2 + |y|^2 - 2<x,y> lose most
    # digits: the float64 check must repair the order.
    x = rng.standard_normal((900, 16)) * 0.01 + 1e4
    check(x, 5)
    # Pairs of distances that differ by 1e-7 relative: below fp32 resolution.
    base = rng.standard_normal((300, 8))
    x = np.concatenate([base, base + 1e-7 * rng.standard_normal((300, 8))])
    check(x, 3)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e19), (np.float32, 1e35),
                                          (np.float64, 1e120), (np.float64, 1e150)])
def test_cosine_has_no_float32_limit(simd, rng, dtype, scale):
    # cosine's fp32 pass reads rows divided by their float64 norms: rows far beyond |x|^2 = 1e36
    # (the euclidean family's limit) keep exact results, power-of-two multiples and near-duplicates included
    x = rng.standard_normal((400, 12)) * scale
    x[5], x[9] = x[3] * 4, x[3] * (1 + 1e-7)
    x[100:200] *= 1e-3  # rows of several magnitudes side by side
    x = x.astype(dtype)
    check(x, 5, metric="cosine")
    check(x[:300], 4, metric="cosine", queries=x[300:])
    with pytest.raises(ValueError, match="squared norm above 1e36"):
        hf.knn(x, 3)


def test_cosine_refuses_squared_norms_beyond_float64(rng):
    x = rng.standard_normal((20, 3))
    x[7] = 1e200
    with pytest.raises(ValueError, match=r"x has a squared norm beyond the float64 range \(first at row 7\)"):
        hf.knn(x, 3, metric="cosine")
    with pytest.raises(ValueError, match="too large for float32 arithmetic"):
        hf.knn(x, 3)


def test_kth_neighbor_distance(rng):
    x = rng.standard_normal((700, 9))
    r = hf.kth_neighbor_distance(x, 3)
    od, _ = brute_knn(x, 3, metric="euclidean")
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, od[:, 2], rtol=1e-12)


# 576-row blocks, 6-row micro-tiles, 16-column panels (48 with AVX-512): these
# sizes leave every kind of remainder in the last block (padded rows, a panel
# with 1 to 47 real columns, a 96-column strip with one panel).
@pytest.mark.parametrize("n", [577, 583, 593, 609, 623, 625, 1151])
def test_block_and_micro_tile_edges(simd, rng, n):
    x = rng.standard_normal((n, 9)).astype(np.float32)
    check(x, 5)
    check(x, 4, "inner_product", queries=rng.standard_normal((n - 571, 9)).astype(np.float32))


@pytest.mark.parametrize("k", [1, 5, 29, 40])  # sorted lists up to 32 entries (k + 3), heaps beyond
@pytest.mark.parametrize("metric", ["sqeuclidean", "inner_product"])
def test_ties_at_the_threshold(simd, k, metric):
    # The 720 orderings of (0, 1, ..., 5): every point has the same norm, so
    # from the all-ones query every key is equal (sum 15) and every candidate
    # ties the worst kept one: the lists must keep the smallest indices.
    from itertools import permutations
    x = np.array(list(permutations(range(6))), dtype=np.float32)[::-1].copy()
    q = np.ones((13, 6), np.float32)
    d, i = check(x, k, metric, queries=q)
    np.testing.assert_array_equal(i, np.broadcast_to(np.arange(k), (13, k)))
    check(x, k, metric)  # self-join: few distinct distances, ties across both lists of each pair


def test_mixed_scales_rows_and_columns_pass_apart(simd, rng):
    # Points at scales 1e-3, 1 and 1e3 side by side: within a micro-tile some
    # keys pass only their row's threshold, others only their column's.
    scale = rng.choice([1e-3, 1.0, 1e3], size=(1400, 1))
    x = (rng.standard_normal((1400, 12)) * scale).astype(np.float32)
    check(x, 5)
    check(x, 6, "euclidean", queries=x[::7] * np.float32(1.01))



@pytest.mark.parametrize("metric", METRICS)
def test_thread_count_invariance_across_many_blocks_with_ties(rng, metric):
    # 4 100 rows (seven 576-row blocks and a ragged one) on an integer grid: ties everywhere, so the
    # float64 recompute and scan paths run in every block, under every split among threads
    x = rng.integers(-2, 3, (4100, 6)).astype(np.float32)
    x[np.all(x == 0, axis=1), 0] = 1
    q = x[::7] + 0.5
    ref = [hf.knn(x, 9, metric=metric, n_threads=1), hf.knn(x, 9, queries=q, metric=metric, n_threads=1)]
    for t in (2, 3, 7):
        for want, got in zip(ref, [hf.knn(x, 9, metric=metric, n_threads=t),
                                   hf.knn(x, 9, queries=q, metric=metric, n_threads=t)]):
            np.testing.assert_array_equal(got[1], want[1])
            np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(ref[0][1], brute_knn(x, 9, metric=metric)[1])


def test_ball_counts_thread_invariant_across_many_blocks(rng):
    x = rng.integers(-2, 3, (3000, 5)).astype(np.float64)
    r2 = hf.metrics.kth_radius2(x, 4, n_threads=1)
    ref = hf.ball_query(x[::3], x, r2, inclusive=True, n_threads=1)
    for t in (2, 5):
        got = hf.ball_query(x[::3], x, r2, inclusive=True, n_threads=t)
        for a, b in zip(ref, got):
            np.testing.assert_array_equal(a, b)


def test_euclidean_is_ranked_by_the_squared_distance(simd):
    # two squared distances one ulp apart with the same float64 square root: the smaller square
    # comes first (docs/semantics.md), here at the larger index
    X = np.array([[2.3784068564593306e-22, 1.8856805971055787e-24],
                  [-7.4497955448155167e-26, 1.4885046676614042e-25]])
    q = np.array([[-1.2674297711184766e-06, -1.8448052740260092e-06]])
    sq = [float(((q[0] - x) ** 2).sum()) for x in X]
    assert sq[1] < sq[0] and np.sqrt(sq[1]) == np.sqrt(sq[0])
    for metric in ("euclidean", "sqeuclidean"):
        assert hf.knn(X, 1, queries=q, metric=metric).indices.tolist() == [[1]]
