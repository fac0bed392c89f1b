"""Same-run comparison of hubness_fast with its peers; prints medians and ratios to faiss.

    python -m benchmarks [--quick] [--rounds 3] [--peers faiss-cpu,torch] [--out FILE]

Each round runs every peer once, one after the other, so that drifting machine
load hits all of them alike (with a pause before each call, so that the
previous peer's spinning worker threads do not steal cores: half a second, or
a quarter of the previous call's time up to 5 s, since a peer that allocated
gigabytes, as torch does here, leaves the next seconds measurably slower for
whoever runs next); the table holds medians over rounds. The slow
peers (full-matrix numpy, scikit-learn) run once per case unless --slow-rounds
says otherwise. Every side's result, hubness_fast's included, is checked against
a float64 brute force (hubness_fast.bench.oracle): every row where the case's n*m*d
multiply-adds fit --oracle-budget (a self-join's hub count of every point,
within the range that ties allow), else the k-NN lists of --oracle-rows sampled
rows (a self-join's counts being the tally of those lists). The "oracle" column
counts the points or rows that no valid answer gives; the output says which
were checked. Results go to
build/benchmarks/ as JSON (--out benchmarks/results/NAME.json keeps a quoted run).

Our share of the arithmetic limit is quoted against the FMA loop of the widest
vector level this CPU runs (AVX-512 where present), whichever kernel level ran:
HUBNESS_FAST_SIMD=generic|avx2|avx512|amx forces one, and the header names it.
Where the CPU has AMX, register-only tdpbf16ps and tdpbssd loops give the
matrix unit's bf16 and int8 limits too, and runs of the amx level name the
scheme the case's data got (int8x4 or bf16x3) and quote their share of its
limit: the useful multiply-adds, and the pass's tile work (four int8 or three
bf16 products per useful one).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Optional

import numpy as np

import hubness_fast as hf
from hubness_fast import _cpu, _native

from hubness_fast.bench import oracle, peers
from .report import write_report

# Pause before each timed call: OpenMP/OpenBLAS worker threads of the previous
# peer spin for a while after it returns and would steal cores from the next.
SETTLE_S = 0.5      # the shortest pause before a timed call
SETTLE_FRACTION = 0.25  # of the previous call's time ...
SETTLE_MAX_S = 5.0      # ... up to this

FULL_CASES = [
    {"kind": "self", "n": 20000, "d": 512, "k": 5},
    {"kind": "self", "n": 50000, "d": 64, "k": 5},
    {"kind": "cross", "n": 20000, "m": 20000, "d": 512, "k": 5},
]
QUICK_CASES = [
    {"kind": "self", "n": 5000, "d": 256, "k": 5},
    {"kind": "cross", "n": 4000, "m": 2000, "d": 64, "k": 5},
]


# The kernel levels with a vector FMA probe, narrowest first (the AMX pass is not one).
VECTOR_LEVELS = ("generic", "avx2", "avx512")
PEAK_ITERATIONS = 20_000_000  # about 0.1-0.3 s of the FMA loop
AMX_PEAK_ITERATIONS = 2_000_000  # about 0.05 s of the tdpbf16ps loop
# Per scheme of the amx level's pass: the tile products per useful product, and the unit's limit it runs at.
TILE_PRODUCTS = {"int8x4": (4, "int8"), "bf16x3": (3, "bf16")}


def widest_vector_level() -> str:
    """The widest vector level this CPU and build run: the arithmetic limit every level is quoted against."""
    return [level for level in hf.SIMD_LEVELS if level in VECTOR_LEVELS][-1]


def peak_sample(threads: int) -> float:
    return _cpu.peak_gflops(threads, PEAK_ITERATIONS, widest_vector_level())


def peak_gflops(threads: int) -> float:
    """Best of five runs of a register-only FMA loop: a ceiling, so interference
    from other processes can only lower a run, never raise it."""
    return max(peak_sample(threads) for _ in range(5))


def amx_peak_gflops(threads: int) -> Optional[dict]:
    """Best of five runs of register-only tdpbf16ps and tdpbssd loops: {"bf16": GFLOP/s, "int8": GOP/s}
    (None without AMX)."""
    if "amx" not in hf.SIMD_LEVELS:
        return None
    return {kind: max(_cpu.amx_peak_gflops(threads, AMX_PEAK_ITERATIONS, kind == "int8") for _ in range(5))
            for kind in ("bf16", "int8")}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_data(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case["n"], case["d"]), dtype=np.float32)
    q = rng.standard_normal((case["m"], case["d"]), dtype=np.float32) if case["kind"] == "cross" else None
    return x, q


def run_case(case, names, rounds, slow_rounds, threads, *, data=None, budget=oracle.FULL_BUDGET,
             sample=oracle.SAMPLE_ROWS):
    """Times each peer on the case's data (or `data`, an (x, q) pair) and checks each one's result
    against the float64 oracle: one dict per peer, and one describing what the oracle checked."""
    x, q = make_data(case) if data is None else data
    k = case["k"]
    table = peers.SELF_JOIN_LISTS if q is None else peers.CROSS
    names = [n for n in names if n in table and not peers.missing(n)]
    times = {n: [] for n in names}
    peaks = []  # a register-only FMA sample taken just before each of our runs
    results = {}  # self-join: (counts, lists or None); search: lists
    last = 0.0  # duration of the previous timed call
    for r in range(max(rounds, slow_rounds)):
        for name in names:
            if r >= (slow_rounds if name in peers.SLOW else rounds):
                continue
            time.sleep(min(SETTLE_MAX_S, max(SETTLE_S, SETTLE_FRACTION * last)))
            if name == "hubness_fast":
                peaks.append(peak_sample(threads))
            t0 = time.perf_counter()
            if q is not None:
                out = table[name](q, x, k, threads)
            elif name == "hubness_fast":
                out = (peers.hubness_fast_hubs(x, k, threads), None)  # the fused count, no lists formed
            else:
                ids = table[name](x, k, threads)
                out = (peers.tally(ids, len(x)), ids)  # a peer's hub counts are its lists' tally
            last = time.perf_counter() - t0
            times[name].append(last)
            results.setdefault(name, out)
    check, mismatch = oracle_check(x, q, k, results, threads, budget, sample)
    rows = {name: {"median_s": statistics.median(times[name]), "times_s": times[name],
                   "oracle_mismatch": mismatch[name]} for name in names}
    rows["hubness_fast"]["peak_gflops_before_run"] = peaks
    return rows, check


def oracle_check(x, q, k, results, threads, budget, sample):
    """Every side's result against float64 brute force: every row where the n*m*d multiply-adds fit
    `budget`, else `sample` rows. Returns what was checked and the mismatches per side."""
    queries = len(x) if q is None else len(q)
    every = queries * len(x) * x.shape[1] <= budget
    rows = oracle.sample_rows(queries, queries if every else sample)
    t0 = time.perf_counter()
    truth = oracle.float64_neighbours(x, k, rows=rows, queries=q)
    mismatch = {}
    extra = {}
    if q is not None:
        for name, ids in results.items():
            mismatch[name] = int(oracle.wrong_rows(truth, np.asarray(ids)[rows]).sum())
        unit, what = "rows", f"k-NN lists of {len(rows)} of {queries} query rows"
    elif every:
        for name, (counts, _) in results.items():
            mismatch[name] = oracle.wrong_counts(truth, counts)
        unit, what = "points", (f"hub counts of all {queries} points, each against the range of counts "
                                "that valid float64 answers give (one value where nothing ties)")
    else:
        unit, what = "rows", (f"k-NN lists of {len(rows)} of {queries} rows; hub counts as the tally of the "
                              "lists (hubness_fast: hub_counts against the tally of its knn lists)")
        for name, (counts, ids) in results.items():
            if ids is None:  # hubness_fast: hub_counts formed no lists; check knn's, and the count against them
                ids = peers.SELF_JOIN_LISTS[name](x, k, threads)
                extra[name] = int(np.sum(counts != peers.tally(ids, len(x))))
            mismatch[name] = int(oracle.wrong_rows(truth, ids[rows]).sum())
    check = {"mode": "every row" if every else "sampled rows", "rows_checked": len(rows),
             "rows": None if every else rows.tolist(), "unit": unit, "checked": what,
             "budget_multiply_adds": budget, "seconds": time.perf_counter() - t0}
    if extra:
        check["hub_counts_not_tally_of_lists"] = extra
    return check, mismatch


def flops(case) -> float:
    """Arithmetic of the job: a self-join computes N^2/2 pairs x D multiply-adds; a search M*N*D."""
    if case["kind"] == "self":
        return case["n"] ** 2 * case["d"]
    return 2.0 * case["m"] * case["n"] * case["d"]


def describe(case) -> str:
    if case["kind"] == "self":
        return f"self-join hub counts N={case['n']} D={case['d']} k={case['k']}"
    return f"search M={case['m']} vs N={case['n']} D={case['d']} k={case['k']}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds for the fast peers (default 3)")
    ap.add_argument("--slow-rounds", type=int, default=1, help="rounds for numpy/scikit-learn (default 1)")
    ap.add_argument("--peers", default=",".join(peers.SELF_JOIN), help="comma-separated peer names")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--cases", default=None, help="comma-separated case numbers to run (default: all)")
    ap.add_argument("--oracle-budget", type=float, default=oracle.FULL_BUDGET,
                    help=f"n*m*d multiply-adds up to which the float64 check covers every row "
                         f"(default {oracle.FULL_BUDGET:.0e})")
    ap.add_argument("--oracle-rows", type=int, default=oracle.SAMPLE_ROWS,
                    help=f"rows the float64 check samples above that budget (default {oracle.SAMPLE_ROWS})")
    ap.add_argument("--out", default=None, help="JSON file (default build/benchmarks/cpu-<date>.json, untracked; "
                    "keep a quoted run under benchmarks/results/)")
    args = ap.parse_args(argv)
    names = ["hubness_fast"] + [n for n in args.peers.split(",") if n and n != "hubness_fast"]
    known = {*peers.SELF_JOIN_LISTS, *peers.CROSS}
    for name in names:
        if name not in known:
            ap.error(f"unknown peer {name!r} (known: {', '.join(sorted(known))})")
    skipped = {name: peers.missing(name) for name in names if peers.missing(name)}
    names = [name for name in names if name not in skipped]
    cases = QUICK_CASES if args.quick else FULL_CASES
    if args.cases:
        cases = [cases[int(i)] for i in args.cases.split(",")]

    peak = peak_gflops(args.threads)
    amx_peak = amx_peak_gflops(args.threads)
    kernels = _cpu.kernel_level(_native.simd_level())
    amx_note = (f"; AMX peaks (register-only loops): bf16 {amx_peak['bf16']:.0f} GFLOP/s, int8 {amx_peak['int8']:.0f} "
                f"GOP/s" if amx_peak else "")
    print(f"{cpu_name()}, {args.threads} threads; FMA peak ({widest_vector_level()} register-only loop): "
          f"{peak:.0f} GFLOP/s{amx_note}; kernels: {kernels} (available: {', '.join(hf.SIMD_LEVELS)})")
    report = {"machine": {"cpu": cpu_name(), "threads": args.threads, "peak_gflops": peak,
                          "amx_peak_gflops": amx_peak,
                          "peak_level": widest_vector_level(), "kernels": kernels,
                          "platform": platform.platform()},
              "date": datetime.datetime.now().isoformat(timespec="seconds"), "skipped": skipped, "cases": []}
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    for case in cases:
        rows, check = run_case(case, names, args.rounds, args.slow_rounds, args.threads,
                               budget=args.oracle_budget, sample=args.oracle_rows)
        ref = rows.get("faiss-cpu", {}).get("median_s")
        ours = rows["hubness_fast"]["median_s"]
        print(f"\n{describe(case)}")
        print(f"  {'peer':<20}{'median s':>10}{'runs':>6}{'faiss / peer':>14}{'peer / ours':>13}{'oracle':>8}")
        for name, row in rows.items():
            vs_faiss = f"{ref / row['median_s']:.2f}x" if ref else "-"
            print(f"  {name:<20}{row['median_s']:>10.3f}{len(row['times_s']):>6}{vs_faiss:>14}"
                  f"{row['median_s'] / ours:>12.2f}x{row['oracle_mismatch']:>8}")
        print(f"  oracle (float64 brute force, {check['seconds']:.1f} s): {check['checked']}; "
              f"the column counts {check['unit']} that no valid answer gives")
        for name, n in check.get("hub_counts_not_tally_of_lists", {}).items():
            if n:
                print(f"  {name}: {n} hub counts differ from the tally of its own k-NN lists")
        fraction = flops(case) / ours / 1e9 / peak
        # Paired: each run against the FMA loop measured just before it, so a
        # drift in machine load hits both; the median over rounds.
        paired = statistics.median(flops(case) / t / 1e9 / max(p, 1e-9) for t, p in
                                   zip(rows["hubness_fast"]["times_s"], rows["hubness_fast"]["peak_gflops_before_run"]))
        print(f"  hubness_fast reaches {fraction:.2f} of the arithmetic limit "
              f"({flops(case) / ours / 1e9:.0f} of {peak:.0f} GFLOP/s); paired with a peak sample before each run: "
              f"{paired:.2f}")
        amx_fraction = scheme = None
        if kernels == "amx" and amx_peak:
            scheme = _cpu.amx_scheme(make_data(case)[0])
            products, unit = TILE_PRODUCTS[scheme]
            amx_fraction = flops(case) / ours / 1e9 / amx_peak[unit]
            rate = "GOP/s" if unit == "int8" else "GFLOP/s"
            print(f"  scheme {scheme}; of the AMX {unit} limit ({amx_peak[unit]:.0f} {rate}): {amx_fraction:.2f} in "
                  f"useful multiply-adds, {products * amx_fraction:.2f} in the pass's tile work ({products} {unit} "
                  f"products each)")
        report["cases"].append({**case, "peers": rows, "oracle": check, "fraction_of_peak": fraction,
                                "fraction_of_peak_paired": paired, "fraction_of_amx_peak": amx_fraction,
                                "amx_scheme": scheme,
                                "speedup_vs_faiss": (ref / ours) if ref else None})
    print()
    write_report(report, args.out, "cpu-quick" if args.quick else "cpu")
    return 0
