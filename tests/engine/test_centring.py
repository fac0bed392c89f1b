"""Points gathered far from the origin (StyleGAN's W space): the fp32 levels centre their operands.

The fp32 bound grows with |x|^2 + |y|^2, so a cluster whose mean is far larger than its spread
has bounds far above the gaps between neighbours. Without centring nearly every row of such data
went to the float64 scan (about 80x slower on a 10 000 x 512 W pool); with it the rows certify as they
stand. Results must stay those of the float64 brute force, to the bit.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import engine_stats
from hubness_fast.engine._dispatch import run_pair
from oracles import brute_hub_counts, brute_knn, sq_dists


def w_like(rng, n, d, offset=1.0, spread=0.02, dtype=np.float32):
    """A mapping network's output in shape: a shared mean about 50 times the spread (like W)."""
    mean = offset * rng.standard_normal(d) / np.sqrt(d)
    return (mean + spread / np.sqrt(d) * rng.standard_normal((n, d))).astype(dtype)


def check(x, k, metric="sqeuclidean", queries=None):
    d, i = hf.knn(x, k, queries=queries, metric=metric, device="cpu")
    od, oi = brute_knn(x, k, queries=queries, metric=metric)
    np.testing.assert_array_equal(i, oi)
    np.testing.assert_array_equal(d, od.astype(np.float32))


@pytest.mark.parametrize("metric", ["sqeuclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_far_cluster_certifies_without_float64_scans(simd, rng, dtype, metric):
    x = w_like(rng, 1300, 64, dtype=dtype)
    with engine_stats() as stats:
        check(x, 5, metric)
        counts = hf.hub_counts(x, 5, metric=metric, device="cpu")
    np.testing.assert_array_equal(counts, brute_hub_counts(x, 5, metric=metric))
    t = stats.totals()
    # uncentred, the bounds (about (D + 16) u 2 |x|^2) exceed the neighbour gaps: most rows were scanned
    assert t["rows_scanned"] == 0 and t["rows_certified"] >= 0.95 * t["rows"], t


def test_uncentred_bounds_would_not_certify_this_data(rng):
    # The premise of the test above, in the fp32 bound's own terms: for most rows the gap
    # between the 5th and 6th exact distances is below the uncentred bound and above the centred one.
    x = w_like(rng, 1300, 64).astype(np.float64)
    d, _ = brute_knn(x, 6)
    gap = d[:, 5] - d[:, 4]
    u = 2.0 ** -24
    sq = (x ** 2).sum(1)
    centred = ((x - x.mean(0)) ** 2).sum(1)
    uncentred_bound = (64 + 16) * u * 1.05 * 2 * sq
    centred_bound = (64 + 16) * u * 1.05 * 2 * centred
    assert np.mean(gap < 2 * uncentred_bound) > 0.75
    assert np.mean(gap > 2 * centred_bound) > 0.9


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "inner_product", "cosine"])
def test_every_metric_on_a_far_cluster(simd, rng, metric):
    # the euclidean family and cosine (its unit rows) are centred; inner products are not (a shift changes them)
    x = w_like(rng, 900, 24)
    check(x, 4, metric)
    # queries from the same cluster, some a few spreads out: the search is centred too
    q = x[:300] + np.float32(0.02 / np.sqrt(24)) * rng.choice([0.1, 1, 5], (300, 1)).astype(np.float32) * \
        rng.standard_normal((300, 24)).astype(np.float32)
    with engine_stats() as stats:
        check(x, 4, metric, queries=q)
    if metric != "inner_product":
        assert stats.totals()["rows_scanned"] == 0, stats.totals()


def test_cosine_near_duplicates_and_parallel_rows_in_a_far_cluster(simd, rng):
    # groups of 8 copies 1e-7 apart (cosine keys of about 1e-14, below the rounding of a float64 dot:
    # the documented left-to-right order decides them), and rows scaled by powers of two, which are
    # the same unit vector to the bit: cosine distance 0, ties broken by index
    base = np.repeat(w_like(rng, 60, 12, dtype=np.float64), 8, axis=0)
    x = base + 1e-7 * 0.02 / np.sqrt(12) * rng.standard_normal(base.shape)
    x = np.concatenate([x, 2 * x[:40], 0.25 * x[40:80]])
    check(x, 6, "cosine")
    with engine_stats() as stats:
        check(x.astype(np.float32), 6, "cosine")
    assert stats.totals()["rows_recomputed"] > 0  # the ties cannot be settled in fp32


def test_search_with_queries_near_and_far_from_the_database(simd, rng):
    x = w_like(rng, 1200, 32)
    near = x[:300] + np.float32(1e-3) * rng.standard_normal((300, 32)).astype(np.float32)
    # ten spreads out in random directions: far from every point, still worth centring
    out = x.mean(0) + np.float32(0.2 / np.sqrt(32)) * rng.standard_normal((100, 32)).astype(np.float32)
    with engine_stats() as stats:
        check(x, 5, queries=near)
        check(x, 5, queries=np.concatenate([near, out]))
    assert stats.totals()["rows_scanned"] == 0, stats.totals()  # centred: the uncentred bounds scan most rows
    far = (rng.standard_normal((200, 32)) * 50).astype(np.float32)  # far from the origin too: no centring, exact
    check(x, 5, queries=far)
    check(x, 5, queries=np.concatenate([near, far]))


def test_near_ties_and_duplicates_inside_a_far_cluster(simd, rng):
    base = w_like(rng, 200, 16, offset=100.0, spread=1.0)
    # pairs 1e-6 apart relative to the offset, and exact duplicates: ties broken by index
    x = np.concatenate([base, base + np.float32(1e-4) * rng.standard_normal(base.shape).astype(np.float32), base[:50]])
    check(x, 6)
    np.testing.assert_array_equal(hf.hub_counts(x, 6, device="cpu"), brute_hub_counts(x, 6))


def test_integer_grid_at_a_large_offset(simd, rng):
    # exact ties everywhere; the centre (a mean of integers plus 1e4) is not itself on the grid
    x = (rng.integers(-3, 4, (1000, 8)) + 1e4).astype(np.float32)
    check(x, 7)
    check(x, 7, queries=x[::9] + np.float32(0.5))


def test_large_magnitudes_and_a_few_outliers(simd, rng):
    x = w_like(rng, 1100, 48, offset=1e15, spread=3e13).astype(np.float64)
    x[::97] *= -3  # far outliers: the centre stays the mean, the outliers' own bounds are large
    check(x, 5)


@pytest.mark.parametrize("metric", ["sqeuclidean", "cosine"])
def test_block_pairs_of_the_dask_runner(simd, rng, metric):
    a, b = w_like(rng, 700, 40), w_like(rng, 650, 40)
    b[:] += a.mean(0) - b.mean(0)  # one cluster split in two blocks
    ia, da, ib, db = run_pair(a, b, 5, metric, 0, "cpu")
    oda, oia = brute_knn(b, 5, queries=a, metric=metric)
    odb, oib = brute_knn(a, 5, queries=b, metric=metric)
    np.testing.assert_array_equal(ia, oia)
    np.testing.assert_array_equal(ib, oib)
    np.testing.assert_array_equal(da, oda)
    np.testing.assert_array_equal(db, odb)


@pytest.mark.parametrize("inclusive", [False, True])
def test_ball_counts_of_a_far_cluster(simd, rng, inclusive):
    # the metrics' ball pass (precision, recall, density, coverage) on W-like features: radii
    # among the pairwise distances, so many points sit near a ball's edge
    c, q = w_like(rng, 800, 40), w_like(rng, 700, 40)
    q[:] += c.mean(0) - q.mean(0)
    d = sq_dists(q.astype(np.float64), c.astype(np.float64))
    radii = np.sqrt(np.quantile(d, rng.uniform(0.001, 0.05, 800)))
    res = hf.ball_query(q, c, radii, inclusive=inclusive, return_nearest=True, device="cpu")
    inside = (d <= radii ** 2) if inclusive else (d < radii ** 2)
    np.testing.assert_array_equal(res.count, inside.sum(1))
    np.testing.assert_array_equal(res.nearest, np.argmin(d, axis=1))


NO_ROOM_FOR_THE_COPY = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import hubness_fast as hf
    rng = np.random.default_rng(0)
    d = 64
    mean = rng.standard_normal(d) / 8
    x = (mean + 0.02 / 8 * rng.standard_normal((300_000, d))).astype(np.float32)  # 77 MB to copy
    q = x[:5] + np.float32(1e-4)
    hf.knn(x[:1000], 3, queries=q, device="cpu")  # threads and lists warmed up
    if sys.argv[1] == "limited":  # 40 MB more address space: the copy cannot be made
        vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 40 * 2**20, resource.RLIM_INFINITY))
    with hf.engine_stats() as st:
        got = hf.knn(x, 5, queries=q, device="cpu")
    print(json.dumps({"ids": got.indices.tolist(), "stats": st.totals()}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status")
def test_without_memory_for_the_centred_copy_the_uncentred_pass_runs(monkeypatch):
    if "amx" in hf.SIMD_LEVELS:
        monkeypatch.setenv("HUBNESS_FAST_SIMD", "avx512")  # the fp32 levels centre; the amx pass has its own parts
    runs = {}
    for mode in ("free", "limited"):
        out = subprocess.run([sys.executable, "-c", NO_ROOM_FOR_THE_COPY, mode], capture_output=True, text=True,
                             env=dict(os.environ), cwd=Path(__file__).parent, timeout=300)
        assert out.returncode == 0, out.stderr
        runs[mode] = json.loads(out.stdout.splitlines()[-1])
    assert runs["free"]["ids"] == runs["limited"]["ids"]  # exact either way
    assert runs["free"]["stats"]["rows_scanned"] == 0  # centred
    assert runs["limited"]["stats"]["rows_certified"] == 0  # the uncentred bounds: no row certifies as it stands


def test_the_same_stats_on_every_run(simd, rng):
    # the mean is summed over fixed ranges of rows in a fixed order: which rows certify does not vary
    x = w_like(rng, 3000, 96)
    seen = set()
    for _ in range(4):
        with engine_stats() as stats:
            hf.hub_counts(x, 5, device="cpu", n_threads=3)
        seen.add(tuple(sorted(stats.totals().items())))
    assert len(seen) == 1
    assert dict(next(iter(seen)))["rows_scanned"] == 0


def test_cosine_rows_too_small_for_float64_are_refused(simd, rng):
    # below |x|^2 = 2^-969 the float64 norms and dot products round subnormal squares and products,
    # and the float64 cosine loses up to 1e-3: the bounds no longer hold, centred or not
    x = w_like(rng, 300, 8, dtype=np.float64)
    tiny = np.concatenate([x, x[:1] * 2.0 ** -531])  # |x|^2 about 8.6e-321
    for call in (lambda: hf.knn(tiny, 5, metric="cosine", device="cpu"),
                 lambda: hf.knn(x, 5, queries=tiny[-1:], metric="cosine", device="cpu"),
                 lambda: hf.hub_counts(tiny, 5, metric="cosine", device="cpu")):
        with pytest.raises(ValueError, match="row 300 has a squared norm below 2\\^-969|row 0 has a squared norm"):
            call()
    hf.knn(tiny, 5, metric="sqeuclidean", device="cpu")  # other metrics take such rows
    # just above the limit (|x|^2 about 1e-289): centred, exact to the bit
    small = np.concatenate([x, x[:40] * 2.0 ** -480, x[40:80] * 2.0 ** 50])
    check(small, 5, "cosine")
    check(small, 5, "cosine", queries=small[::7] * 2.0 ** -2)
