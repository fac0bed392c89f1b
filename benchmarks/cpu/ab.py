"""A/B two builds of the native CPU module in one process.

    python benchmarks/cpu/ab.py A.so B.so [--n 50000] [--d 64] [--k 5] [--rounds 9] [--threads 2] [--queries 0]
                                [--pair 0] [--balls] [--data gaussian|one-hot|groups|binary] [--metric sqeuclidean]
                                [--simd auto] [--simd-a LEVEL] [--simd-b LEVEL]

Loads both shared objects (for example the _cpu module of two commits, built
with `cmake -S . -B build-x -DHUBNESS_FAST_CUDA=OFF && ninja -C build-x _cpu`)
side by side, checks that they return the same neighbours, then alternates
them on the same self-join (or, with --queries M, a search of M other points
against the N; with --pair M, the Dask runner's block pair of the first M
points against the others, both directions; with --balls, the metrics' ball
pass) and prints the medians, their ratio and each one's fraction of the FMA
peak (--data other than gaussian: data full of ties, whose rows take wider
passes or the float64 scan; the fraction is then of the first fp32 pass only).
Alternating in one process is what makes a few per cent visible on a shared
machine whose speed drifts by more than that between
runs. --simd picks the kernel level of both builds (--simd-a / --simd-b of
one), so a level of a new build can be set against an older build that has no
such switch; the fractions are of the FMA loop of the widest vector level
either build knows (AVX-512 where a build has it and the CPU too).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import numpy as np


def load(path: str, tag: str):
    spec = importlib.util.spec_from_file_location(f"{tag}._cpu", path)  # the init symbol is PyInit__cpu
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = ("gaussian", "one-hot", "groups", "binary")


def make_data(kind, n, d, rng):
    """float32 [n, d]: standard normal, or a kind full of ties (more than k + 3 points at a row's k-th
    distance, which the candidate lists cannot settle)."""
    if kind == "one-hot":
        x = np.zeros((n, d), np.float32)
        x[np.arange(n), rng.integers(0, d, n)] = 1
        return x
    if kind == "groups":
        return rng.standard_normal((max(1, n // 10), d)).astype(np.float32)[rng.integers(0, max(1, n // 10), n)]
    if kind == "binary":
        return rng.integers(0, 2, (n, d)).astype(np.float32)
    return rng.standard_normal((n, d)).astype(np.float32)


def widest_probe(mods):
    """The module and level of the widest FMA probe: builds with simd_levels() list what this CPU runs."""
    best = (mods["A"], "auto", 0)
    for m in mods.values():
        if hasattr(m, "simd_levels"):
            level = [lv for lv in m.simd_levels() if lv in ("generic", "avx2", "avx512")][-1]
            width = ("generic", "avx2", "avx512").index(level)
            if width >= best[2]:
                best = (m, level, width)
    return best[0], best[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=0, help="M > 0: a search of M query points instead of the self-join")
    ap.add_argument("--pair", type=int, default=0,
                    help="M > 0: the Dask runner's block pair (the first M points against the rest, both ways)")
    ap.add_argument("--balls", action="store_true",
                    help="time the ball pass of the metrics instead: N other points against N balls of radius "
                         "their k-th neighbour distance (strict), as precision/recall use it")
    ap.add_argument("--data", default="gaussian", choices=DATA,
                    help="gaussian (default); or data full of ties, rows the float64 scan settles: one-hot rows, "
                         "groups of about 10 equal rows, or 0/1 values")
    ap.add_argument("--metric", default="sqeuclidean", help="metric of the self-join or search (default sqeuclidean)")
    ap.add_argument("--simd", default="auto", help="kernel level of both builds (default auto)")
    ap.add_argument("--simd-a", default=None, help="kernel level of build A (default --simd)")
    ap.add_argument("--simd-b", default=None, help="kernel level of build B (default --simd)")
    args = ap.parse_args(argv)
    levels = {"A": args.simd_a or args.simd, "B": args.simd_b or args.simd}

    mods = {"A": load(args.a, "build_a"), "B": load(args.b, "build_b")}
    rng = np.random.default_rng(0)
    x = make_data(args.data, args.n, args.d, rng)
    q = rng.standard_normal((args.queries, args.d)).astype(np.float32) if args.queries else None
    if args.pair and not (0 < args.pair < args.n and q is None and not args.balls):
        raise SystemExit("--pair M takes 0 < M < N, without --queries or --balls")

    if args.balls:
        import hubness_fast as hf  # the radii, once, from the installed package

        fake = (rng.standard_normal((args.n, args.d)) * 1.1).astype(np.float32)
        r2 = np.asarray(hf.kth_neighbor_distance(x, args.k), np.float64) ** 2

    def run(name):
        m, level = mods[name], levels[name]
        if args.balls:  # the counts come first, as the neighbours do below
            out = m.balls(fake, None, x, r2, [False], args.threads, level, None)
            return np.asarray(out[0]["in_count"]), None, {}
        if args.pair:
            ia, _, ib, _ = m.knn_pair(x[:args.pair], x[args.pair:], args.k, args.metric, args.threads, level, None)
            return np.concatenate([ia.ravel(), ib.ravel()]), None, {}
        try:  # the binding takes the metric's name; builds before 2026-12-01 took its integer code
            return m.knn(x, q, args.k, args.metric, q is None, args.threads, level, None, False)
        except TypeError:
            return m.knn(x, q, args.k, 0, q is None, args.threads, level, None, False)

    ran = {name: run(name)[2].get("kernels", levels[name]) for name in mods}
    if not np.array_equal(run("A")[0], run("B")[0]):
        raise SystemExit("the two builds return different neighbours")
    times = {name: [] for name in mods}
    for _ in range(args.rounds):
        for name in mods:
            t0 = time.perf_counter()
            run(name)
            times[name].append(time.perf_counter() - t0)
    probe, peak_level = widest_probe(mods)
    peak = max(probe.peak_gflops(args.threads, 20_000_000, peak_level) for _ in range(3))
    # N^2/2 pairs (self-join) or M N pairs (search, balls), x D multiply-adds of 2 flops
    pairs = (2 * args.n**2 if args.balls else 2 * args.pair * (args.n - args.pair) if args.pair
             else args.n**2 if q is None else 2 * args.queries * args.n)
    gflop = pairs * args.d / 1e9
    med = {name: statistics.median(t) for name, t in times.items()}
    for name in mods:
        print(f"{name} ({ran[name]} kernels): median {med[name]:.3f} s, {gflop / med[name] / peak:.3f} of the "
              f"{peak_level} FMA peak ({peak:.0f} GFLOP/s)")
    what = ("ball pass" if args.balls else f"block pair of {args.pair} and {args.n - args.pair}" if args.pair
            else "self-join" if q is None else f"search of {args.queries} queries")
    print(f"B is {med['A'] / med['B']:.3f}x as fast as A ({what}, N={args.n}, D={args.d}, k={args.k}, "
          f"{args.metric}, {args.data} data, {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
