"""``hubness-fast bench --data FILE.npy``: this package against the installed peers, on your data.

Self-join hub counts of ``--data`` (or, with ``--queries``, the k nearest neighbours of each query
in ``--data``), timed for each peer (faiss-cpu, torch, scikit-learn, numpy; those not installed are
skipped with a note) over ``--rounds`` rounds, medians and ratios from the same run. Every result
is checked: hubness_fast's own against a float64 brute force on a sample of rows, and each peer's
against hubness_fast's (hub counts, or neighbour sets per row). The CPU, the kernel level that ran
and the FMA peak of the vector unit are printed, so a figure can be quoted with its machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import oracle, peers
from .._files import load_npy, writable_file
from .._inputs import as_path, usable_cpus
from ..engine import HAS_AVX2, HAS_AVX512, machine_record, peak_gflops

PEAK_ITERATIONS = 20_000_000  # register-only FMA loop iterations for the peak probe (0.1-0.3 s)
PEAK_SAMPLES = 3  # the best of these (a shared machine's single samples vary twofold)
WARM_UP_ROWS = 256  # each peer's untimed first call, on this many rows


def load(path: Path, what: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The file as every tool here runs it, float32 (faiss and the others take it), in a writable copy
    (torch refuses read-only arrays), and what the conversion did: the file's dtype and how many rows
    it changed (float64 or large integers round; ``hubs`` keeps the file's dtype)."""
    x = load_npy(path, what)
    if x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ValueError(f"{what} {path} holds {x.dtype} {x.shape}; a 2-D numeric array is needed")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what} {path} is empty (shape {x.shape})")
    out = np.array(x, dtype=np.float32)
    changed, step = 0, max(1, (1 << 22) // x.shape[1])  # row blocks: no N x D temporaries of a large file
    for s in range(0, len(out), step):
        bad = np.flatnonzero(~np.isfinite(out[s:s + step]).all(1))
        if bad.size:
            raise ValueError(f"{what} {path} contains NaN or Inf, or values beyond float32 (first at row "
                             f"{s + int(bad[0])})")
        if x.dtype != np.float32:
            changed += int(np.count_nonzero((out[s:s + step] != x[s:s + step]).any(1)))
    return out, {"dtype": str(x.dtype), "rows_changed_by_float32": changed}


def self_join_ids(x: np.ndarray, k: int) -> np.ndarray:
    from ..engine.knn import knn

    return knn(x, k).indices


def run(x: np.ndarray, q: np.ndarray | None, k: int, names: list[str], rounds: int, threads: int) -> dict[str, Any]:
    table = peers.SELF_JOIN if q is None else peers.CROSS
    times: dict[str, list[float]] = {}
    results: dict[str, np.ndarray] = {}
    skipped = {}
    for name in names:
        if name not in table:
            skipped[name] = f"unknown peer (known: {', '.join(table)})"
        elif (why := peers.missing(name)) is not None:
            skipped[name] = why
        else:
            times[name] = []
    for name in times:  # untimed: a peer's first call imports its library and starts its thread pools
        if q is None:
            table[name](x[:max(k + 1, WARM_UP_ROWS)], k, threads)  # type: ignore[call-arg]
        else:
            table[name](q[:WARM_UP_ROWS], x, k, threads)  # type: ignore[call-arg]
    for _ in range(rounds):
        for name in times:
            t0 = time.perf_counter()
            out = table[name](x, k, threads) if q is None else table[name](q, x, k, threads)  # type: ignore[call-arg]
            times[name].append(time.perf_counter() - t0)
            results[name] = np.asarray(out)
    ours = results["hubness_fast"]
    ids = self_join_ids(x, k) if q is None else ours
    report: dict[str, Any] = {"hubness_fast_vs_float64_rows_wrong": oracle.oracle_mismatches(x, q, k, ids),
                              "rows_checked_against_float64": min(oracle.SAMPLE_ROWS, len(x if q is None else q)),
                              "peers": {}, "skipped": skipped}
    base = statistics.median(times["hubness_fast"])
    for name, ts in times.items():
        entry: dict[str, Any] = {"median_s": statistics.median(ts), "rounds": len(ts),
                                 "ratio_to_hubness_fast": statistics.median(ts) / base}
        # every side against float64 brute force on the sampled rows (self-joins: the tool's k-NN lists,
        # from one more untimed call, since the timed one returns counts)
        lists = peers.SELF_JOIN_LISTS[name](x, k, threads) if q is None else results[name]
        entry["rows_wrong_vs_float64"] = oracle.oracle_mismatches(x, q, k, lists)
        if name != "hubness_fast":
            res = results[name]
            if q is None:
                entry["points_with_other_counts"] = int(np.sum(res != ours))
            else:
                entry["rows_with_other_neighbours"] = int(sum(set(a) != set(b) for a, b in zip(res.tolist(),
                                                                                              ours.tolist())))
        report["peers"][name] = entry
    return report


def machine(threads: int) -> dict[str, Any]:
    vector = "avx512" if HAS_AVX512 else "avx2" if HAS_AVX2 else "generic"  # the widest vector unit
    return {**machine_record(), "threads": threads, "fma_peak_level": vector,
            "fma_peak_gflops": max(peak_gflops(threads, PEAK_ITERATIONS, vector) for _ in range(PEAK_SAMPLES))}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # the command line prints a ValueError as one line, exit code 2
        raise ValueError(message)


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="hubness-fast bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=as_path, required=True, help="the database (.npy, [N, D])")
    ap.add_argument("--queries", type=as_path, default=None, help="queries (.npy, [M, D]): a search instead of a "
                                                                 "self-join")
    ap.add_argument("--k", type=int, default=5, help="neighbours per point (default 5)")
    ap.add_argument("--peers", default="faiss-cpu,torch,sklearn-brute,numpy-argpartition",
                    help="comma-separated (default: faiss-cpu,torch,sklearn-brute,numpy-argpartition)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per tool (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="threads for every tool (default: every core)")
    ap.add_argument("--json", type=as_path, default=None, help="also write the report here")
    args = ap.parse_args(argv)
    out = writable_file(args.json, "--json", ".json") if args.json else None
    x, converted = load(args.data, "--data")
    q, q_converted = load(args.queries, "--queries") if args.queries else (None, None)
    if q is not None and q.shape[1] != x.shape[1]:
        raise ValueError(f"--queries have {q.shape[1]} features but --data has {x.shape[1]}")
    limit = len(x) - (q is None)
    if limit < 1:
        raise ValueError(f"--data {args.data} holds 1 row: a self-join needs at least 2 (each row's neighbours "
                         "are the other rows)")
    if not 1 <= args.k <= limit:
        raise ValueError(f"--k must be in 1..{limit} (the {'rows of --data' if q is not None else 'other rows'}), "
                         f"got {args.k}")
    for flag, value in (("--rounds", args.rounds), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    threads = args.threads or usable_cpus()
    names = ["hubness_fast"] + [n for n in args.peers.split(",") if n and n != "hubness_fast"]
    report = {"data": str(args.data), "shape": list(x.shape), "queries": None if q is None else list(q.shape),
              "data_conversion": converted, "queries_conversion": q_converted,
              "k": args.k, **machine(threads), **run(x, q, args.k, names, args.rounds, threads)}
    print(f"{report['cpu']}; kernel level {report['kernel_level']}; {threads} threads; "
          f"{report['fma_peak_level']} FMA peak {report['fma_peak_gflops']:.0f} GFLOP/s")
    for flag, c in (("--data", converted), ("--queries", q_converted)):
        if c is not None and c["dtype"] != "float32":
            print(f"{flag} is {c['dtype']}: every tool here runs its float32 copy, in which float32 rounding changed "
                  f"{c['rows_changed_by_float32']} rows (the checks below are on that copy; `hubness-fast hubs` "
                  f"runs the file's own dtype)")
    print(f"hubness_fast against float64 brute force: {report['hubness_fast_vs_float64_rows_wrong']} of "
          f"{report['rows_checked_against_float64']} sampled rows wrong")
    for name, e in report["peers"].items():
        check = {k: v for k, v in e.items() if k.endswith(("counts", "neighbours", "float64"))}
        print(f"{name:<20} median {e['median_s']:.4g} s  {e['ratio_to_hubness_fast']:.2f}x ours  {check or ''}")
    for name, why in report["skipped"].items():
        print(f"{name:<20} skipped: {why}")
    if out is not None:
        out.write_text(json.dumps(report, indent=2))
        print(f"wrote {out}")
    return 0
