"""P/R/D/C against the prdc package: time, peak memory above the inputs, values.

    python -m benchmarks.metrics [--n 10000] [--d 2048] [--rounds 3] [--large 50000]

Each measurement runs in a fresh subprocess, which builds the inputs (seeded
float32 Gaussians), resets its peak-RSS counter, runs the metric, and reports
time, peak RSS above the inputs and the four values. hubness_fast and prdc
alternate within each round; the table holds medians. --large N also runs
hubness_fast alone on N x d real and fake sets (prdc would need O(N^2) memory).
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys

from .report import RSS_HELPER, write_report

CHILD = r"""
import json, sys, time
import numpy as np
""" + RSS_HELPER + r"""
peer, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
real = rng.standard_normal((n, d), dtype=np.float32)
fake = rng.standard_normal((n, d), dtype=np.float32) * np.float32(1.02)  # close to the real distribution
if peer == "hubness_fast":
    from hubness_fast.metrics import prdc as run
    fn = lambda: run(real, fake, k=5)
else:
    import contextlib, io, prdc
    def fn():
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sizes
            return prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
base = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
t = time.perf_counter()
out = fn()
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "peak_above_inputs": rss("VmHWM:") - base,
                  "values": {k: float(v) for k, v in out.items()}}))
"""


def measure(peer: str, n: int, d: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, peer, str(n), str(d)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.metrics", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--large", type=int, default=0, help="also run hubness_fast alone at this size")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    runs = {"hubness_fast": [], "prdc": []}
    for _ in range(args.rounds):
        for peer in runs:
            runs[peer].append(measure(peer, args.n, args.d))
    gib = 2.0**30
    print(f"P/R/D/C, real and fake {args.n} x {args.d} float32, k=5 (medians of {args.rounds})")
    print(f"  {'peer':<14}{'median s':>10}{'peak above inputs':>20}  values")
    summary = {}
    for peer, rs in runs.items():
        t = statistics.median(r["seconds"] for r in rs)
        mem = statistics.median(r["peak_above_inputs"] for r in rs)
        vals = rs[0]["values"]
        summary[peer] = {"median_s": t, "peak_above_inputs_bytes": mem, "values": vals,
                         "times_s": [r["seconds"] for r in rs]}
        shown = ", ".join(f"{k} {v:.6f}" for k, v in vals.items())
        print(f"  {peer:<14}{t:>10.2f}{mem / gib:>17.3f} GiB  {shown}")
    ours, ref = summary["hubness_fast"], summary["prdc"]
    identical = ours["values"] == ref["values"]
    less = ref['peak_above_inputs_bytes'] / max(ours['peak_above_inputs_bytes'], 1)
    print(f"  speed-up {ref['median_s'] / ours['median_s']:.2f}x, memory {less:.1f}x less, "
          f"values identical: {identical}")
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "n": args.n, "d": args.d,
              "peers": summary, "speedup": ref["median_s"] / ours["median_s"],
              "memory_ratio": ref["peak_above_inputs_bytes"] / max(ours["peak_above_inputs_bytes"], 1),
              "identical_values": identical}
    if args.large:
        big = measure("hubness_fast", args.large, args.d)
        print(f"\nhubness_fast alone, real and fake {args.large} x {args.d}: {big['seconds']:.1f} s, "
              f"peak {big['peak_above_inputs'] / gib:.3f} GiB above the inputs; {big['values']}")
        report["large"] = {"n": args.large, **big}
    write_report(report, args.out, "metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
