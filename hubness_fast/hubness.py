"""Hub counts: the k-occurrence N_k of every point."""
from __future__ import annotations

import numpy as np

from ._backend import run_knn, to_output


def hub_counts(x, k, *, queries=None, include_self=False, metric="sqeuclidean", n_threads=None, progress=False):
    """k-occurrence N_k: how often each database point is among the k nearest
    neighbours of the queries (the other points of ``x`` by default).

    include_self : bool
        Self-join only. False (default, as a re-implementation should): a point
        never counts itself, and the counts sum to N * k. True reproduces the
        notebook of Liang et al. (ICML 2022), where each point is its own
        nearest neighbour, so its value is 1 + N_{k-1} (self sits at distance 0
        like any candidate; an exact duplicate with a smaller index comes first).

    Returns int64 (N,) (torch in, torch out). Other arguments as in
    :func:`hubness_fast.knn`. The neighbour sets are exact (see knn); no
    distances are returned, which saves the float64 recomputation wherever
    the fp32 bound already settles a row.
    """
    if queries is not None and include_self:
        raise ValueError("include_self applies only to a self-join (queries=None)")
    ids, _, _, db, _ = run_knn(
        x, k, queries=queries, metric=metric, exclude_self=None if queries is not None else not include_self,
        n_threads=n_threads, progress=progress, want_distances=False, desc="hub counts",
    )
    counts = np.bincount(ids.ravel(), minlength=db.shape[0]).astype(np.int64)
    return to_output(counts, x)
