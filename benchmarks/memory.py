"""Peak memory of hub counts computed from a memory-mapped .npy file.

    python -m benchmarks.memory [--n 200000] [--d 128] [--k 5] [--out FILE]

Writes seeded float32 Gaussians to a temporary .npy file. A fresh subprocess
opens it with np.load(mmap_mode="r") (nothing read yet), resets its peak-RSS
counter, runs hub_counts and reports the peak resident memory above its size
before the run. The file's pages count in RSS once the engine has read them,
so the figure to compare is the peak minus the file's size: what the engine
itself allocated (candidate lists, per-thread tiles, outputs). The issue's
target: at most 100 MB above the memmap's size for N = 200 000, D = 128.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .report import RSS_HELPER, write_report

CHILD = r"""
import json, sys, time
import numpy as np
import hubness_fast as hf
""" + RSS_HELPER + r"""
path, k = sys.argv[1], int(sys.argv[2])
x = np.load(path, mmap_mode="r")
base = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
t = time.perf_counter()
counts = hf.hub_counts(x, k)
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "peak_above_start": rss("VmHWM:") - base,
                  "counts_sum": int(counts.sum()), "n": int(x.shape[0])}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", default=None, help="JSON file (default build/benchmarks/memory-<date>.json, untracked; "
                    "keep a quoted run under benchmarks/results/)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "latents.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(args.n, args.d))
        rng = np.random.default_rng(0)
        for s in range(0, args.n, 50_000):  # written in slices: this process never holds it all either
            out[s:s + 50_000] = rng.standard_normal((min(50_000, args.n - s), args.d), dtype=np.float32)
        out.flush()
        del out
        file_bytes = path.stat().st_size
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.k)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"hub_counts failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    if r["counts_sum"] != args.n * args.k:
        raise RuntimeError(f"hub counts sum to {r['counts_sum']}, not N k = {args.n * args.k}")
    mib = 2.0**20
    engine = r["peak_above_start"] - file_bytes
    print(f"hub counts of a {args.n} x {args.d} float32 memmap ({file_bytes / mib:.1f} MiB), k={args.k}: "
          f"{r['seconds']:.1f} s")
    print(f"  peak RSS above the start: {r['peak_above_start'] / mib:.1f} MiB = the file "
          f"+ {engine / mib:.1f} MiB ({engine / 1e6:.1f} MB; target <= 100 MB)")
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "n": args.n, "d": args.d, "k": args.k,
              "file_bytes": file_bytes, "peak_above_start_bytes": r["peak_above_start"],
              "above_file_bytes": engine, "seconds": r["seconds"]}
    write_report(report, args.out, "memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
