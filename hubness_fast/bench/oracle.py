"""A float64 brute force apart from the engine: which rows of a k-NN answer, and which hub counts, are right.

    truth = float64_neighbours(x, k, rows=sample_rows(len(x), 200, seed=0))   # a self-join, sampled rows
    wrong_rows(truth, ids[truth.rows])      # bool per checked row
    truth = float64_neighbours(x, k)        # every row (n*n*d multiply-adds: see FULL_BUDGET)
    wrong_counts(truth, counts)             # points whose hub count no valid answer gives

Distances are squared Euclidean, computed in float64 from the float32 inputs. A tie at the k-th
distance makes more than one answer right: a row's list is right when it holds k distinct ids, every
point strictly nearer than the k-th distance, and otherwise only points at that distance. A point's
hub count is right when it lies between the rows that must list it and the rows that may.
Used by ``python -m benchmarks`` and ``hubness-fast bench --data`` to check every tool alike.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

FULL_BUDGET = 2e10  # n*m*d multiply-adds up to which a runner checks every row (float64 GEMM, seconds)
SAMPLE_ROWS = 200  # rows checked where the budget is exceeded
BLOCK_ROWS = 256  # query rows per float64 distance block (256 x 50 000 x 8 bytes = 100 MB)
# The GEMM form |q|^2 + |x|^2 - 2 q.x rounds by about d * eps64 * (|q|^2 + |x|^2); candidates within this
# relative margin of the k-th are recomputed as explicit differences, so ties are decided on those.
MARGIN = 1e-9


class Float64Neighbours(NamedTuple):
    """The float64 answer for some query rows: per row, who must be listed and who may be."""

    rows: np.ndarray  # [r] int64, the query rows checked
    kth: np.ndarray  # [r] float64, the k-th smallest squared distance
    nearer: list[np.ndarray]  # per row, the ids strictly nearer than the k-th: every one must be listed
    tied: list[np.ndarray]  # per row, the ids at the k-th distance: any k - len(nearer) of them
    k: int
    n: int  # points in the database


def sample_rows(n: int, size: int = SAMPLE_ROWS, *, seed: int = 0) -> np.ndarray:
    """`size` distinct rows of `n` (all of them, in order, when size >= n)."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def float64_neighbours(x: np.ndarray, k: int, *, rows: Optional[np.ndarray] = None,
                       queries: Optional[np.ndarray] = None) -> Float64Neighbours:
    """The float64 k nearest neighbours of `rows` of `queries` in `x` (every row when rows is None).

    Without `queries` it is a self-join: row i's own point is excluded (a duplicate of it is not).
    """
    x64 = np.asarray(x, dtype=np.float64)
    q64 = x64 if queries is None else np.asarray(queries, dtype=np.float64)
    if not 1 <= k <= len(x64) - (queries is None):
        raise ValueError(f"k must be in 1..{len(x64) - (queries is None)}, got {k}")
    rows = np.arange(len(q64)) if rows is None else np.asarray(rows, dtype=np.int64)
    sq_x = (x64 * x64).sum(1)
    kth = np.empty(len(rows))
    nearer: list[np.ndarray] = []
    tied: list[np.ndarray] = []
    for s in range(0, len(rows), BLOCK_ROWS):
        block = rows[s:s + BLOCK_ROWS]
        q = q64[block]
        sq_q = (q * q).sum(1)
        approx = sq_q[:, None] + sq_x[None, :] - 2.0 * (q @ x64.T)
        if queries is None:
            approx[np.arange(len(block)), block] = np.inf
        approx_kth = np.partition(approx, k - 1, axis=1)[:, k - 1]
        slack = MARGIN * (sq_q + sq_x.max()) + 1e-300
        for i, r in enumerate(block):
            cand = np.flatnonzero(approx[i] <= approx_kth[i] + slack[i])
            exact = ((x64[cand] - q[i]) ** 2).sum(1)  # explicit differences decide ties
            kd = np.partition(exact, k - 1)[k - 1]
            kth[s + i] = kd
            nearer.append(cand[exact < kd])
            tied.append(cand[exact == kd])
    return Float64Neighbours(rows, kth, nearer, tied, k, len(x64))


def wrong_rows(truth: Float64Neighbours, ids: np.ndarray) -> np.ndarray:
    """Per checked row, whether `ids` (the lists of truth.rows, [r, k]) is not a valid k-NN list."""
    ids = np.asarray(ids)
    if ids.shape != (len(truth.rows), truth.k):
        raise ValueError(f"ids must be [{len(truth.rows)}, {truth.k}] (the checked rows' lists), got {ids.shape}")
    bad = np.zeros(len(truth.rows), dtype=bool)
    for i, row in enumerate(ids):
        got = set(row.tolist())
        allowed = set(truth.nearer[i].tolist()) | set(truth.tied[i].tolist())
        bad[i] = len(got) != truth.k or not got <= allowed or not set(truth.nearer[i].tolist()) <= got
    return bad


def count_range(truth: Float64Neighbours) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest hub count of each point over all valid answers (truth must hold every row)."""
    if len(truth.rows) != truth.n:
        raise ValueError(f"hub counts need every row checked ({len(truth.rows)} of {truth.n} were)")
    low = np.bincount(np.concatenate([*truth.nearer, np.empty(0, np.int64)]), minlength=truth.n)
    high = low + np.bincount(np.concatenate([*truth.tied, np.empty(0, np.int64)]), minlength=truth.n)
    # a row whose tied ids fill all its remaining places lists every one of them
    for i, (near, tie) in enumerate(zip(truth.nearer, truth.tied)):
        if len(near) + len(tie) == truth.k:
            low[tie] += 1
    return low, high


def wrong_counts(truth: Float64Neighbours, counts: np.ndarray) -> int:
    """Points whose hub count lies outside every valid answer's (exact equality where nothing ties)."""
    counts = np.asarray(counts)
    if counts.shape != (truth.n,):
        raise ValueError(f"counts must be [{truth.n}], got {counts.shape}")
    low, high = count_range(truth)
    return int(np.sum((counts < low) | (counts > high)))


def oracle_mismatches(x: np.ndarray, q: Optional[np.ndarray], k: int, ids: np.ndarray, *,
                      size: int = SAMPLE_ROWS, seed: int = 0) -> int:
    """Rows, of a sample of `size`, where `ids` (every query row's list, [M, k]) is not a valid float64 answer."""
    rows = sample_rows(len(x if q is None else q), size, seed=seed)
    truth = float64_neighbours(x, k, rows=rows, queries=q)
    return int(wrong_rows(truth, np.asarray(ids)[rows]).sum())
