"""The exact k-NN graph as scikit-learn takes it, and hubness reduction, against the usual tools.

    python -m benchmarks.graph_bench [--quick] [--out benchmarks/results/graph-DATE.json]

1. CSR k-NN graph (k = 15, distance mode) at N = 50 000, D = 128 and N = 20 000, D = 512: this
   package's KNeighborsTransformer against scikit-learn's KNeighborsTransformer(algorithm="brute"),
   pynndescent's PyNNDescentTransformer (approximate: its recall against the exact graph is
   reported) and faiss-cpu IndexFlatL2 with the conversion to the same CSR layout.
2. Hubness reduction (mutual proximity, Gaussian) at N = 20 000, D = 512, k = 10: this package
   (exact k-NN lists of 3k candidates, re-ranked) against scikit-hubness's way, a full N x N distance
   matrix with the Gaussian of each row's N distances, written here in numpy.

Each measurement runs in its own process (time and peak RSS above the inputs), two threads.
Quote ratios from one run, not absolute times (a shared 2-core VM).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import numpy as np

from . import report
from .report import peak_mb, rss_mb

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
K = 15


def csr_from_lists(dist: np.ndarray, ind: np.ndarray, n_fit: int):
    import scipy.sparse as sp

    rows, k = ind.shape
    return sp.csr_matrix((dist.ravel(), ind.ravel(), np.arange(0, rows * k + 1, k)), shape=(rows, n_fit))


def graph_job(tool: str, n: int, d: int) -> dict:
    x = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    import faiss  # noqa: F401  every tool imported (and pynndescent compiled) before the clock starts
    import sklearn.neighbors  # noqa: F401
    from pynndescent import PyNNDescentTransformer

    import hubness_fast.neighbors  # noqa: F401

    if tool == "pynndescent":  # numba compiles on first use: warm it up on a small set first
        PyNNDescentTransformer(n_neighbors=K, n_jobs=THREADS).fit_transform(x[:2000])
    base = rss_mb()
    t0 = time.perf_counter()
    if tool == "hubness_fast":
        from hubness_fast.neighbors import KNeighborsTransformer

        g = KNeighborsTransformer(n_neighbors=K, n_jobs=THREADS).fit_transform(x)
    elif tool == "sklearn":
        from sklearn.neighbors import KNeighborsTransformer

        g = KNeighborsTransformer(n_neighbors=K, algorithm="brute", n_jobs=THREADS).fit_transform(x)
    elif tool == "pynndescent":
        from pynndescent import PyNNDescentTransformer

        g = PyNNDescentTransformer(n_neighbors=K, n_jobs=THREADS).fit_transform(x)
    elif tool == "faiss":
        import faiss

        faiss.omp_set_num_threads(THREADS)
        index = faiss.IndexFlatL2(d)
        index.add(x)
        dist, ind = index.search(x, K + 1)
        g = csr_from_lists(np.sqrt(np.maximum(dist, 0)), ind, n)
    else:
        raise SystemExit(f"unknown tool {tool}")
    secs = time.perf_counter() - t0
    peak = peak_mb() - base
    g = g.tocsr()
    np.savez(f"/tmp/graph-{tool}-{n}-{d}.npz", indices=g.indices, indptr=g.indptr)
    return {"seconds": secs, "peak_above_inputs_mb": peak, "nnz_per_row": g.nnz / n}


def mp_job(tool: str, n: int, d: int, k: int) -> dict:
    x = np.random.default_rng(1).standard_normal((n, d), dtype=np.float32)
    from scipy.special import ndtr  # noqa: F401

    import hubness_fast.neighbors  # noqa: F401

    base = rss_mb()
    t0 = time.perf_counter()
    if tool == "hubness_fast":
        from hubness_fast.neighbors import KNeighborsTransformer

        t = KNeighborsTransformer(n_neighbors=k, hubness="mp", n_jobs=THREADS).fit(x)
        _, ind = t.kneighbors()
    else:  # scikit-hubness's way: the full N x N matrix (built in place), each row's Gaussian over all N distances
        from scipy.special import ndtr

        x64 = x.astype(np.float64)
        sq = (x64 * x64).sum(1)
        dm = np.empty((n, n))
        for s0 in range(0, n, 2048):  # row blocks (one 20 000 x 20 000 product crashes this numpy's BLAS)
            b = dm[s0:s0 + 2048]
            np.matmul(x64[s0:s0 + 2048], x64.T, out=b)
            b *= -2
            b += sq[s0:s0 + 2048, None]
            b += sq[None, :]
            np.maximum(b, 0, out=b)
            np.sqrt(b, out=b)
        off = ~np.eye(n, dtype=bool)
        mu = np.array([dm[r][off[r]].mean() for r in range(n)])
        sd = np.array([dm[r][off[r]].std() for r in range(n)])
        ind = np.empty((n, k), np.int64)
        for s0 in range(0, n, 512):  # 1 - SF_x(d) SF_y(d), SF the Gaussian survival function, row block by block
            block = dm[s0:s0 + 512]
            rows = slice(s0, s0 + 512)
            mp = 1 - ndtr((mu[rows, None] - block) / sd[rows, None]) * ndtr((mu[None, :] - block) / sd[None, :])
            mp[np.arange(mp.shape[0]), np.arange(s0, s0 + mp.shape[0])] = np.inf
            ind[s0:s0 + 512] = np.argsort(mp, axis=1, kind="stable")[:, :k]
    secs = time.perf_counter() - t0
    peak = peak_mb() - base
    out = {"seconds": secs, "peak_above_inputs_mb": peak, "k_skewness_after": k_skewness(ind, n)}
    if tool == "hubness_fast":  # after the clock and the peak: the graph without reduction
        from hubness_fast.neighbors import KNeighborsTransformer as T

        out["k_skewness_before"] = k_skewness(T(n_neighbors=k, n_jobs=THREADS).fit(x).kneighbors()[1], n)
    return out


def k_skewness(ind: np.ndarray, n: int) -> float:
    counts = np.bincount(ind.ravel(), minlength=n).astype(float)
    return float(((counts - counts.mean()) ** 3).mean() / counts.std() ** 3)


def run_worker(*args: str) -> dict:
    return report.run_worker("benchmarks.graph_bench", *args, threads=THREADS)


def mp_part(quick: bool) -> dict:
    n, d, k = (3000, 64, 10) if quick else (20_000, 512, 10)
    part: dict = {"n": n, "d": d, "k": k}
    for tool in ("hubness_fast", "full_matrix_numpy"):
        part[tool] = run_worker("mp", tool, str(n), str(d), str(k))
        print("mp", tool, part[tool], flush=True)
    ours, full = part["hubness_fast"], part["full_matrix_numpy"]
    if "seconds" in ours and "seconds" in full:
        part["time_ratio"] = full["seconds"] / ours["seconds"]
        part["memory_ratio"] = full["peak_above_inputs_mb"] / ours["peak_above_inputs_mb"]
    return part


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", nargs="+")
    ap.add_argument("--only", choices=["graph", "mp"], help="rerun one part, updating the report at --out")
    args = ap.parse_args(argv)
    if args.worker:
        kind, tool, *rest = args.worker
        sizes = [int(v) for v in rest]
        print(json.dumps(graph_job(tool, *sizes) if kind == "graph" else mp_job(tool, *sizes)))
        return 0
    if args.only:
        out = Path(args.out or "benchmarks/results/graph-latest.json")
        report = json.loads(out.read_text())
        report[args.only] = (graph_part if args.only == "graph" else mp_part)(args.quick)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"updated {out}")
        return 0
    from hubness_fast.bench.userbench import machine

    report: dict = {"date": datetime.date.today().isoformat(), "machine": machine(THREADS), "threads": THREADS, "k": K}
    report["graph"] = graph_part(args.quick)
    report["mp"] = mp_part(args.quick)
    out = Path(args.out or f"benchmarks/results/graph-{report['date']}{'-quick' if args.quick else ''}.json")
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def rows_of(path: str) -> list[set[int]]:
    """Each row's set of neighbour ids of a saved CSR graph (rows may differ in length)."""
    z = np.load(path)
    ind, ptr = z["indices"], z["indptr"]
    return [set(ind[ptr[r]:ptr[r + 1]].tolist()) for r in range(len(ptr) - 1)]


def graph_part(quick: bool) -> list:
    rows = []
    for n, d in [(5000, 64)] if quick else [(50_000, 128), (20_000, 512)]:
        row: dict = {"n": n, "d": d}
        for tool in ("hubness_fast", "sklearn", "pynndescent", "faiss"):
            row[tool] = run_worker("graph", tool, str(n), str(d))
            print(n, d, tool, row[tool], flush=True)
        exact = rows_of(f"/tmp/graph-hubness_fast-{n}-{d}.npz")
        for tool in ("sklearn", "pynndescent", "faiss"):
            if "seconds" in row[tool]:
                other = rows_of(f"/tmp/graph-{tool}-{n}-{d}.npz")
                hit = sum(len(a & b) for a, b in zip(exact, other))
                row[tool]["recall_vs_exact"] = hit / sum(len(a) for a in exact)
                row[tool]["time_ratio_vs_hubness_fast"] = row[tool]["seconds"] / row["hubness_fast"]["seconds"]
        rows.append(row)
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
