"""Hub counts: the k-occurrence N_k of every point."""
from __future__ import annotations

import numpy as np

from ._dispatch import describe, run
from .._inputs import check_flag, check_int, to_numpy, to_output
from .._types import Array, Device, Metric, Precision, Progress, Threads


def hub_counts(x: Array, k: int, *, queries: Array | None = None, include_self: bool = False,
               metric: Metric = "sqeuclidean", n_threads: Threads = None, progress: Progress = False,
               device: Device = "auto", precision: Precision = "auto") -> Array:
    """k-occurrence N_k: how often each database point is among the k nearest
    neighbours of the queries (the other points of ``x`` by default).

    include_self : bool
        Self-join only. False (default, as a re-implementation should): a point
        never counts itself, and the counts sum to N * k. True reproduces the
        notebook of Liang et al. (ICML 2022), where each point is its own
        nearest neighbour, so its value is 1 + N_{k-1} (self sits at distance 0
        like any candidate; an exact duplicate with a smaller index comes first).

    Returns int64 (N,) (torch in, torch out; cupy in, cupy out). For GPU
    arrays the counts are reduced on the device: no neighbour index array is
    formed or copied to the host. Other arguments as in
    :func:`hubness_fast.knn`. The neighbour sets are exact (see knn); no
    distances are returned, which saves the float64 recomputation wherever
    the fp32 bound already settles a row.
    """
    include_self = check_flag(include_self, "include_self")
    if queries is not None and include_self:
        raise ValueError("include_self applies only to a self-join (queries=None)")
    p = describe(x, k, queries=queries, metric=metric, exclude_self=None if queries is not None else not include_self,
                 device=device, precision=precision, n_threads=n_threads, progress=progress, desc="hub counts")
    counts = run(p, ids=False, counts=True).counts
    return counts if p.on_gpu else to_output(counts, x)


def hubness_stats(x: Array | None = None, k: int = 5, *, counts: Array | None = None, hub_size: float = 2.0,
                  metric: Metric = "sqeuclidean", n_threads: Threads = None, progress: Progress = False,
                  device: Device = "auto") -> dict[str, float]:
    """Hubness statistics of the k-occurrence distribution (self excluded).

    Give the data ``x`` (hub counts are computed exactly, with ``k`` neighbours,
    default 5 as :func:`hub_counts`' own; ``neighbors.Hubness`` defaults to 10, as
    scikit-hubness) or precomputed ``counts`` (N_k of
    every point; then ``k`` must be the k they were counted with: it sets the hub
    size ``hub_size * k``). ``metric``, ``device``: as :func:`hub_counts` counts x (cosine for
    embeddings, say). Returns a dict:

    - k_skewness: skewness of N_k (population moments, as scipy.stats.skew); 0 for
      constant counts (0 / 0 there; scikit-hubness returns NaN);
    - robinhood: Robin Hood index, sum |N_k - mean| / (2 sum N_k);
    - gini: Gini index, from the sorted counts in O(N log N);
    - atkinson: Atkinson index with epsilon = 0.5, 1 - mean(sqrt N_k)^2 / mean(N_k);
    - hub_occurrence: share of all k-NN slots taken by hubs (N_k >= hub_size * k);
    - antihub_occurrence: share of points with N_k == 0;
    - groupie_ratio: share of points whose k-NN list holds the largest hub
      (each list holds a point at most once, so it is max N_k / N).

    scikit-hubness counts each point as its own neighbour in its current code,
    so its antihub occurrence is 0 (unless more than k points coincide) and its
    other values differ from these; its hubs are N_k >= 2k in its code (its
    docstring says >), as here. hubness_fast.neighbors.Hubness(include_self=True)
    reproduces its numbers except groupie_ratio, which its code divides by k
    once more (see Hubness).
    """
    k = check_int(k, "k")
    if isinstance(hub_size, bool) or not isinstance(hub_size, (int, float, np.integer, np.floating)) \
            or not np.isfinite(hub_size) or hub_size <= 0:
        raise ValueError(f"hub_size must be a positive number (hubs are the points with N_k >= hub_size * k), "
                         f"got {hub_size!r}")
    if counts is None:
        if x is None:
            raise ValueError("give either the data x or the k-occurrence counts")
        counts = hub_counts(x, k, metric=metric, n_threads=n_threads, progress=progress, device=device)
    elif x is not None:
        raise ValueError("give either the data x or the k-occurrence counts, not both (the counts would be "
                         "described and x ignored)")
    counts = to_numpy(counts)  # CUDA tensors too
    if counts.ndim != 1 or counts.size < 2 or counts.dtype.kind not in "iu" or np.any(counts < 0):
        raise ValueError("counts must be a 1-D array of at least two non-negative integers")
    c = counts.astype(np.float64)
    n, total = c.size, c.sum()
    if total == 0:
        raise ValueError("counts sum to 0: there is no k-NN graph to describe")
    mean, std = c.mean(), c.std()
    sorted_c = np.sort(c)
    ranks = np.arange(1, n + 1)
    hubs = c >= hub_size * k
    return {
        "k_skewness": float(((c - mean) ** 3).mean() / std**3) if std > 0 else 0.0,
        "robinhood": float(np.abs(c - mean).sum() / (2.0 * total)),
        "gini": float(((2 * ranks - n - 1) * sorted_c).sum() / (n * total)),
        "atkinson": float(1.0 - np.sqrt(c).mean() ** 2 / mean),
        "hub_occurrence": float(c[hubs].sum() / total),
        "antihub_occurrence": float(np.mean(c == 0)),
        "groupie_ratio": float(c.max() / n),
    }
