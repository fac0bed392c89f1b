"""The Dask runner against the plain engine, on this machine.

    python -m benchmarks.dask_bench [--n 40000] [--d 256] [--chunk-rows 8000] [--rounds 3]

Runs hub counts of one float32 .npy file (read by the tasks through from_npy)
with the plain engine, with a LocalCluster of 1 worker x 2 threads and of
2 workers x 1 thread; prints medians, the overhead against the plain engine,
and the work of one task (arithmetic and bytes moved). Writes JSON to
build/benchmarks/ (--out benchmarks/results/NAME.json keeps a quoted run).
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import write_report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dask_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40_000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--chunk-rows", type=int, default=8_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import distributed

    import hubness_fast as hf
    import hubness_fast.dask as hfd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        x = np.random.default_rng(0).standard_normal((args.n, args.d), dtype=np.float32)
        np.save(path, x)
        expected = hf.hub_counts(x, args.k)
        setups = {"plain engine (2 threads)": None, "dask 1 worker x 2 threads": (1, 2),
              "dask 2 workers x 1 thread": (2, 1)}
        times = {name: [] for name in setups}
        clusters = {}
        try:
            for name, shape in setups.items():
                if shape:
                    cl = distributed.LocalCluster(n_workers=shape[0], threads_per_worker=shape[1], processes=True,
                                                  dashboard_address=":0")
                    clusters[name] = (cl, distributed.Client(cl))
            for _ in range(args.rounds):
                for name in setups:
                    time.sleep(0.5)
                    t0 = time.perf_counter()
                    if name in clusters:
                        # the runner's default threads per task (one while tasks outnumber the threads)
                        counts = hfd.hub_counts(hfd.from_npy(path, args.chunk_rows), args.k, client=clusters[name][1])
                    else:
                        counts = hf.hub_counts(np.load(path, mmap_mode="r"), args.k)
                    times[name].append(time.perf_counter() - t0)
                    if not np.array_equal(counts, expected):
                        raise AssertionError(f"{name}: counts differ from the plain engine")
        finally:
            for cl, c in clusters.values():
                c.close()
                cl.close()
    b = args.chunk_rows
    n_blocks = -(-args.n // b)
    print(f"hub counts N={args.n} D={args.d} k={args.k}, blocks of {b} rows ({n_blocks} blocks, "
          f"{n_blocks * (n_blocks + 1) // 2} block-pair tasks); medians of {args.rounds}; all results identical")
    base = statistics.median(times["plain engine (2 threads)"])
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "n": args.n, "d": args.d, "k": args.k,
              "chunk_rows": b, "cpu_count": os.cpu_count(), **hf.engine.machine_record(), "setups": {}}
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<28}{med:>8.2f} s   {med / base:>5.2f}x the plain engine")
        report["setups"][name] = {"median_s": med, "times_s": ts}
    flop = 2.0 * b * b * args.d
    moved = 2 * b * args.d * 4 + 2 * b * args.k * 16
    print(f"  one off-diagonal task: {flop / 1e9:.1f} GFLOP, {moved / 2**20:.1f} MiB in and out")
    report["task_gflop"], report["task_bytes"] = flop / 1e9, moved
    write_report(report, args.out, "dask")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
