"""NearestNeighbors as scikit-learn users call it, against scikit-learn and faiss-cpu.

    python -m benchmarks.nn_bench [--quick] [--out benchmarks/results/nn-DATE.json]

1. ``kneighbors()`` of the fitted points, 50 000 x 128, k = 10: hubness_fast.neighbors.NearestNeighbors
   against scikit-learn's NearestNeighbors with algorithm="brute" and "auto" (which picks brute above 15
   features) and faiss-cpu IndexFlatL2 (k + 1, self dropped).
2. ``radius_neighbors()`` of the fitted points, 20 000 x 64, a radius giving about 20 neighbours per
   point: the same tools (faiss: ``range_search``, which is float32 and not exact at the boundary).
3. The paper notebook's hub computation for one pool of 10 000 x 512, k = 5, each point counting
   itself: scikit-learn's ``kneighbors_graph(X, k, include_self=True)`` column sums against the
   drop-in ``hubness_fast.neighbors.kneighbors_graph`` (faiss and sklearn-auto are not run here).

Each measurement runs in its own process (time and peak RSS above the inputs), two threads; the clock
stops when the tool has returned its result in its own format (scikit-learn's object arrays, faiss's
arrays, a CSR graph), before the benchmark turns it into sets; each tool's neighbour sets are compared
with hubness_fast's. Quote ratios from one run (a shared 2-core VM).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import time

import numpy as np

from . import report

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
TOOLS = ("hubness_fast", "sklearn-brute", "sklearn-auto", "faiss")


def data(n: int, d: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)


def radius_for(x: np.ndarray, per_point: int) -> float:
    """A radius with about ``per_point`` neighbours per point (from 500 sampled rows)."""
    s = x[:500].astype(np.float64)
    x64 = x.astype(np.float64)
    d = np.sqrt(np.maximum((s * s).sum(1)[:, None] - 2 * s @ x64.T + (x64 ** 2).sum(1), 0))
    return float(np.quantile(d, (per_point + 1) / len(x)))


def job(kind: str, tool: str, n: int, d: int) -> dict:
    x = data(n, d)
    r = radius_for(x, 20) if kind == "radius" else None
    import faiss  # every tool imported before the clock starts
    import sklearn.neighbors

    import hubness_fast.neighbors

    base = report.rss_mb()
    t0 = time.perf_counter()
    if kind == "notebook":
        fn = (hubness_fast.neighbors.kneighbors_graph if tool == "hubness_fast"
              else sklearn.neighbors.kneighbors_graph)
        g = fn(x, 5, include_self=True, n_jobs=THREADS)
        seconds = time.perf_counter() - t0
        sets = [set(g.indices[g.indptr[i]:g.indptr[i + 1]].tolist()) for i in range(n)]
    elif tool == "faiss":
        faiss.omp_set_num_threads(THREADS)
        index = faiss.IndexFlatL2(d)
        index.add(x)
        if kind == "knn":
            _, ind = index.search(x, 11)
            seconds = time.perf_counter() - t0
            sets = [set(row) - {i} for i, row in enumerate(ind.tolist())]
        else:
            lims, _, ids = index.range_search(x, r * r)
            seconds = time.perf_counter() - t0
            sets = [set(ids[lims[i]:lims[i + 1]].tolist()) - {i} for i in range(n)]
    else:
        if tool == "hubness_fast":
            nn = hubness_fast.neighbors.NearestNeighbors(n_neighbors=10, radius=r or 1.0, n_jobs=THREADS)
        else:
            algo = tool.split("-")[1]
            nn = sklearn.neighbors.NearestNeighbors(n_neighbors=10, radius=r or 1.0, algorithm=algo, n_jobs=THREADS)
        nn.fit(x)
        ind = nn.kneighbors(return_distance=False) if kind == "knn" else nn.radius_neighbors(return_distance=False)
        seconds = time.perf_counter() - t0
        sets = [set(row.tolist()) for row in ind]
    path = f"/tmp/nn-{kind}-{tool}.json"
    with open(path, "w") as f:
        json.dump([sorted(s) for s in sets], f)
    return {"seconds": seconds, "peak_above_inputs_mb": report.peak_mb() - base, "sets": path,
            "radius": r, "neighbours": sum(map(len, sets))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", nargs=4)
    args = ap.parse_args(argv)
    if args.worker:
        kind, tool, n, d = args.worker
        print(json.dumps(job(kind, tool, int(n), int(d))))
        return 0
    cases = ({"knn": (5000, 32), "radius": (4000, 16), "notebook": (3000, 64)} if args.quick
             else {"knn": (50_000, 128), "radius": (20_000, 64), "notebook": (10_000, 512)})
    out: dict = {"date": datetime.date.today().isoformat(), "threads": THREADS, "cpu": report_cpu()}
    for kind, (n, d) in cases.items():
        row: dict = {"n": n, "d": d}
        for tool in TOOLS if kind != "notebook" else ("hubness_fast", "sklearn-brute"):
            row[tool] = report.run_worker("benchmarks.nn_bench", kind, tool, str(n), str(d), threads=THREADS)
            print(kind, tool, row[tool], flush=True)
        ours = row["hubness_fast"]
        exact = json.load(open(ours["sets"])) if "sets" in ours else None
        for tool in TOOLS[1:]:
            peer = row.get(tool, {})
            if "seconds" in peer and exact is not None:
                peer["time_ratio"] = peer["seconds"] / ours["seconds"]
                peer["rows_differing"] = sum(a != b for a, b in zip(exact, json.load(open(peer["sets"]))))
        out[kind] = row
    report.write_report(out, args.out, "nn")
    for kind in cases:
        print(kind, {t: round(out[kind].get(t, {}).get("time_ratio", float("nan")), 2) for t in TOOLS[1:]},
              {t: out[kind].get(t, {}).get("rows_differing") for t in TOOLS[1:]})
    return 0


def report_cpu() -> str:
    from hubness_fast import _cpu, _native

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 "unknown")
    return f"{model}; kernel level {_cpu.kernel_level(_native.simd_level())}"


if __name__ == "__main__":
    raise SystemExit(main())
