"""Evaluating many fake sets against one real set: a fitted Manifold against the k-NN metric packages.

    python -m benchmarks.manifold_bench [--quick] [--out benchmarks/results/manifold-DATE.json]

1. 10 000 x 2 048, ten fake sets: one fitted Manifold evaluating all ten (every containment metric,
   realism off: the peers have none) against the prdc package run ten times and torch-fidelity's
   precision/recall (its array function, k = 3) run ten times: time per fake set (median) and peak
   memory above the inputs.
2. 50 000 x 2 048 and 200 000 x 512: fit + one evaluation, time and peak memory above the inputs
   (goal: under 100 MB).
3. eP&R (hubs only, Liang et al. 2024) against the full improved precision/recall: values and time.

Every measurement runs in its own process (the peak RSS of a process only grows), its inputs drawn
there as float32 before the baseline is read. Figures are medians of the runs in one invocation;
quote ratios, not absolute times (a shared 2-core VM).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

from .report import peak_mb, rss_mb

THREADS = int(os.environ.get("BENCH_THREADS", "2"))


def data(n: int, d: int, n_fake_sets: int, m: int | None = None):
    rng = np.random.default_rng(0)
    real = rng.standard_normal((n, d), dtype=np.float32)
    fakes = []
    for i in range(n_fake_sets):
        f = rng.standard_normal((m or n, d), dtype=np.float32)
        f *= np.float32(1.0 + 0.03 * i)
        f += np.float32(0.02 * i)
        fakes.append(f)
    return real, fakes


def torch_fidelity_prc():
    """torch-fidelity's precision/recall on feature arrays (metric_prc), without its image extractors:
    its package __init__ imports torchvision, which does not import with this environment's torch."""
    import importlib.util

    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = types.ModuleType("torch_fidelity")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["torch_fidelity"] = pkg
    utils = types.ModuleType("torch_fidelity.utils")  # only the image-side names metric_prc imports
    for name in ("create_feature_extractor", "extract_featuresdict_from_input_id_cached",
                 "resolve_feature_extractor", "resolve_feature_layer_for_metric"):
        setattr(utils, name, None)
    sys.modules["torch_fidelity.utils"] = utils
    from torch_fidelity import metric_prc

    return metric_prc.calculate_precision_recall_part


def worker(job: str, n: int, d: int, sets: int) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    import hubness_fast as hf

    real, fakes = data(n, d, sets)
    base = rss_mb()
    times, values = [], []
    if job == "manifold":
        t0 = time.perf_counter()
        m = hf.Manifold(real, (3, 5), n_threads=THREADS)
        fit = time.perf_counter() - t0
        for f in fakes:
            t0 = time.perf_counter()
            ev = m.evaluate(f, realism=False)
            times.append(time.perf_counter() - t0)
            values.append({"precision": ev.precision, "recall": ev.recall, "density": ev.density,
                           "coverage": ev.coverage, "prdc": ev.prdc})
        out = {"fit_s": fit}
    elif job == "prdc":
        from prdc import compute_prdc

        for f in fakes:
            t0 = time.perf_counter()
            values.append(compute_prdc(real, f, nearest_k=5))
            times.append(time.perf_counter() - t0)
        out = {}
    elif job == "torch_fidelity":
        prc = torch_fidelity_prc()
        if prc is None:
            return {"skipped": "torch-fidelity is not installed"}
        r = torch.from_numpy(real)
        for f in fakes:
            t0 = time.perf_counter()
            p, rec = prc(torch.from_numpy(f), r, neighborhood=3, batch_size=10000)  # (fake, real) as it calls it
            times.append(time.perf_counter() - t0)
            values.append({"precision": float(p), "recall": float(rec)})
        out = {}
    elif job == "epr":
        f = fakes[0]
        t0 = time.perf_counter()
        full = hf.metrics.precision_recall(real, f, n_threads=THREADS)
        t_full = time.perf_counter() - t0
        t0 = time.perf_counter()
        e = hf.metrics.efficient_precision_recall(real, f, n_threads=THREADS)
        t_e = time.perf_counter() - t0
        return {"full": list(full), "full_s": t_full, "epr": list(e), "epr_s": t_e,
                "peak_above_inputs_mb": peak_mb() - base}
    else:
        raise SystemExit(f"unknown job {job}")
    out.update({"per_set_s": times, "median_per_set_s": statistics.median(times), "values": values,
                "peak_above_inputs_mb": peak_mb() - base})
    return out


def run_worker(job: str, n: int, d: int, sets: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.manifold_bench", "--worker", job, str(n), str(d), str(sets)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(THREADS)})
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1:] if res.stderr else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def scale_part(quick: bool) -> list:
    rows = []
    for n_s, d_s in [(4000, 512)] if quick else [(50_000, 2048), (200_000, 512)]:
        r = run_worker("manifold", n_s, d_s, 1)
        r.pop("values", None)
        rows.append({"n": n_s, "d": d_s, **r})
        print("scale", n_s, d_s, {k: v for k, v in r.items() if k != "per_set_s"}, flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", choices=["scale"], help="rerun one part, updating the report at --out")
    ap.add_argument("--worker", nargs=4, metavar=("JOB", "N", "D", "SETS"))
    args = ap.parse_args(argv)
    if args.worker:
        job, n, d, sets = args.worker
        print(json.dumps(worker(job, int(n), int(d), int(sets))))
        return 0
    n, d, sets = (2000, 256, 3) if args.quick else (10_000, 2048, 10)
    if args.only:
        out = Path(args.out or "benchmarks/results/manifold-latest.json")
        report = json.loads(out.read_text())
        report["scale"] = scale_part(args.quick)
        report.setdefault("reruns", []).append({"part": args.only, "date": datetime.date.today().isoformat()})
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"updated {out}")
        return 0
    report: dict = {"date": datetime.date.today().isoformat(), "threads": THREADS, "many_sets": {"n": n, "d": d,
                                                                                             "sets": sets}}
    for job in ("manifold", "prdc", "torch_fidelity"):
        report["many_sets"][job] = r = run_worker(job, n, d, sets)
        print(job, {k: v for k, v in r.items() if k not in ("values", "per_set_s")}, flush=True)
    ms = report["many_sets"]
    if "median_per_set_s" in ms["manifold"]:
        ours = ms["manifold"]
        total = ours["fit_s"] + sum(ours["per_set_s"])
        for peer in ("prdc", "torch_fidelity"):
            if "median_per_set_s" in ms[peer]:
                ms[f"speedup_vs_{peer}_total"] = sum(ms[peer]["per_set_s"]) / total
                ms[f"speedup_vs_{peer}_per_set"] = ms[peer]["median_per_set_s"] / ours["median_per_set_s"]
        if "values" in ms["prdc"]:
            ms["max_abs_diff_vs_prdc"] = max(abs(a["prdc"][key] - b[key]) for a, b in zip(ours["values"],
                                                                                         ms["prdc"]["values"])
                                             for key in b)
        if "values" in ms["torch_fidelity"]:
            ms["max_abs_diff_vs_torch_fidelity"] = max(
                abs(a[key] - b[key]) for a, b in zip(ours["values"], ms["torch_fidelity"]["values"])
                for key in ("precision", "recall"))
    print({k: v for k, v in ms.items() if k.startswith(("speedup", "max_abs"))}, flush=True)
    report["scale"] = scale_part(args.quick)
    report["epr"] = run_worker("epr", n, d, 1)
    e = report["epr"]
    if "full_s" in e:
        e["speedup"] = e["full_s"] / e["epr_s"]
    print("epr", e, flush=True)
    out = Path(args.out or f"benchmarks/results/manifold-{report['date']}{'-quick' if args.quick else ''}.json")
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
