"""Exact radius neighbours: every point within a distance, with memory of the output's size.

On the CPU, one native pass over the pairs, no distance matrix: the ball pass's keys (fp32
tiles, or bf16x3 on AMX) reject the pairs that are certainly outside, the pairs near the
radius are decided in float64 (``|q - x|^2 <= r^2``, exactly), and the pairs inside are
listed and sorted per query by their float64 distance (a self-join visits each pair once
and lists it both ways). On a GPU, two passes: the ball pass counts each query's points
within the radius, then an exact k-NN pass with k = that count hands back exactly those
points (any point outside is strictly farther than every point inside); queries are
grouped by count (powers of two) so each group's pass asks for about the neighbours it
needs, and distances are recomputed in float64 from the rows. Cosine runs either pass on the
rows divided by their norms, with the radius widened a little, and decides each candidate on
the k-NN engine's own float64 cosine of the rows as given (on the CPU inside the native pass,
which sorts and cuts each query's list by it).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _dispatch
from .balls import ball_pass, squared_radii
from .refused import check_rows, check_values, ordered_dots, squared_norms
from .knn import knn
from .._inputs import as_matrix, check_device, check_metric, check_threads
from .._types import Array, Device, Progress, Threads

RADIUS_METRICS = ("euclidean", "sqeuclidean", "cosine")
CHUNK_ELEMENTS = 1 << 22  # float64 distance recomputation: row elements gathered at a time (32 MiB a side)


class RadiusNeighbors(NamedTuple):
    """Query i's neighbours are ``indices[indptr[i]:indptr[i + 1]]`` (CSR layout), sorted by
    (distance, index), with their float64 ``distances``."""

    indptr: np.ndarray     # int64 [M + 1]
    indices: np.ndarray    # int64 [nnz]
    distances: np.ndarray  # float64 [nnz]

    def owners(self) -> np.ndarray:
        """The query of each listed pair: the CSR rows, expanded."""
        return np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))

    def within(self, radius: float) -> RadiusNeighbors:
        """The pairs at distance <= radius, in their order."""
        keep = self.distances <= radius
        indptr = np.zeros(len(self.indptr), np.int64)
        np.cumsum(np.bincount(self.owners()[keep], minlength=len(indptr) - 1), out=indptr[1:])
        return RadiusNeighbors(indptr, self.indices[keep], self.distances[keep])


def radius_neighbors(x: Array, radius: float, *, queries: Array | None = None, metric: str = "euclidean",
                     n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> RadiusNeighbors:
    """All points of ``x`` within ``radius`` of each query (inclusive: distance <= radius).

    x : (N, D) the database. queries : (M, D); default x itself, each point left out of
    its own list by index (a duplicate at another index is a neighbour at distance 0).
    metric : "euclidean" (default), "sqeuclidean" (radius is then a squared distance) or
        "cosine": the k-NN engine's cosine, 1 - <a, b> / (|a| |b|) in float64 with the dot
        product and the squared norms summed over the features left to right, so that
        ``knn`` and ``radius_neighbors`` give a pair one value (it can round below 0 for
        parallel rows). Zero rows are refused. Its candidates come from the ball pass on the
        rows divided by their norms, with the radius widened by a bound on how far the two
        float64 forms of one distance can differ (:func:`cosine_slack`); each is then
        decided on its own value.
    progress : True shows a tqdm bar of the pass over the block pairs; a callable receives
        ``(done, total)`` block pairs.
    Returns :class:`RadiusNeighbors` of numpy arrays whatever the input (torch tensors
    included). Memory beyond the inputs is O(M + output).
    """
    check_metric(metric, RADIUS_METRICS)
    check_device(device)
    check_threads(n_threads)
    r = _one_number(radius)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    db = as_matrix(x, "x")
    self_join = queries is None
    q = db if self_join else as_matrix(queries, "queries")
    if q.shape[1] != db.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features but x has {db.shape[1]}")
    if q.dtype != db.dtype:
        q = q.astype(db.dtype)  # as knn casts its queries
    if metric != "cosine":  # the native pass would name x "centres" and a self-join's x "queries"
        check_values(db, metric, "x")
        if not self_join:
            check_values(q, metric, "queries")
    if metric == "cosine":
        db_rows, q_rows = db, q  # as given: the pairs' values come from them (q is db in a self-join)
        db, db_sq = _unit_rows(db, "x")
        q, q_sq = (db, db_sq) if self_join else _unit_rows(q, "queries")
    # every cosine distance is at most 2 (|a - b|^2 / 2 <= 2 on unit rows, up to rounding): a larger
    # radius means every point, and 2 r must stay finite
    if metric == "euclidean":
        r2 = float(squared_radii(np.array([r]), inclusive=True)[0])
    else:
        r2 = r if metric == "sqeuclidean" else 2 * min(r + cosine_slack(db.shape[1]), 4.0)
    if _dispatch.use_gpu(device, float(len(q)) * len(db) * db.shape[1], op="balls"):
        indptr, indices, sq = _two_passes(q, r2, db, self_join, n_threads, device, progress)
        if metric == "cosine":
            return _cosine_within(db_rows, db_sq, q_rows, q_sq, r, indptr, indices, n_threads)
    elif metric == "cosine":  # the pairs valued, sorted and cut by the native pass itself
        db_norm = np.sqrt(db_sq)
        return RadiusNeighbors(*_dispatch.radius_cosine_pairs(
            q, r2, db, same_set=self_join, q_rows=q_rows, q_norm=db_norm if self_join else np.sqrt(q_sq),
            db_rows=db_rows, db_norm=db_norm, radius=r, n_threads=n_threads, progress=progress))
    else:
        indptr, indices, sq = _dispatch.radius_pairs(q, r2, db, same_set=self_join, n_threads=n_threads,
                                                     progress=progress)
    return RadiusNeighbors(indptr, indices, np.sqrt(sq) if metric == "euclidean" else sq)


def _one_number(radius: Any) -> float:
    """The radius as a float, NaN (refused) for anything but one real number (a 0-d array is one)."""
    kind = np.asarray(radius).dtype.kind if np.ndim(radius) == 0 else ""
    return float(radius) if kind and kind in "iuf" and not isinstance(radius, bool) else np.nan


def cosine_slack(dim: int) -> float:
    """A bound on |d1 - d2| for one pair's two float64 cosine forms, d1 = |u - v|^2 / 2 on the rows
    divided by their norms (u = a / |a|) and d2 = 1 - <a, b> / (|a| |b|), each summed over ``dim``
    features. To first order in u = 2^-53, d2 lies within (2 dim + 6) u of the true 1 - cos (the dot
    product, the norms, the division and the subtraction) and d1 within (4 dim + 8) u (the norms'
    common scale error times |u - v|^2 <= 4, the sum, each component's rounding); rows whose |x|^2
    is below 2^-969 are refused, so underflow adds no more than dim 2^-106. So |d1 - d2| is at most
    (6 dim + 14) u, and 16 (dim + 16) u holds with room to spare. It only widens the candidates:
    each is then decided on d2 itself."""
    return 8.0 * (dim + 16) * 2.0 ** -52


def _cosine_within(x: np.ndarray, x_sq: np.ndarray, q: np.ndarray, q_sq: np.ndarray, r: float, indptr: np.ndarray,
                   indices: np.ndarray, n_threads: Threads) -> RadiusNeighbors:
    """The GPU route's cosine: the candidate pairs (CSR) with d = 1 - <q, x> / (|q| |x|) <= r, in float64
    summed left to right (the k-NN engine's cosine, computed by its certification's code), each row
    sorted by (d, index)."""
    owner = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    d = _dispatch.pair_cosines(q, np.sqrt(q_sq), x, np.sqrt(x_sq), owner, indices, n_threads)
    d, indices = sort_pairs(owner, d, indices)
    return RadiusNeighbors(indptr, indices, d).within(r)


def sort_pairs(owner: np.ndarray, values: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs grouped by ``owner`` (non-decreasing), each group sorted by (value, index): (values,
    indices). Only the groups out of that order are sorted, so lists that are nearly in order (as a
    pass's lists are after their values are recomputed) cost a linear check."""
    values, indices = np.array(values, np.float64), np.array(indices, np.int64)
    same = owner[1:] == owner[:-1]
    later, earlier = values[1:], values[:-1]
    wrong = same & ((later < earlier) | ((later == earlier) & (indices[1:] < indices[:-1])))
    if wrong.any():
        sel = np.flatnonzero(np.isin(owner, owner[1:][wrong]))  # every pair of the groups out of order
        order = np.lexsort((indices[sel], values[sel], owner[sel]))
        values[sel], indices[sel] = values[sel][order], indices[sel][order]
    return values, indices


def _two_passes(q: np.ndarray, r2: float, db: np.ndarray, self_join: bool, n_threads: Threads, device: Device,
                progress: Progress = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GPU's route: a ball pass for the counts (the one with a progress bar), then k-NN passes
    grouped by count."""
    mine, _ = ball_pass(q, np.full(len(q), r2), db, None, inclusive=True, n_threads=n_threads, progress=progress,
                        desc="radius", device=device)
    counts = mine.own_count.astype(np.int64) - self_join  # a point is always within its own ball
    indptr = np.zeros(len(q) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int64)
    for rows, k in _groups(counts):
        ids = knn(db, k + self_join, queries=q[rows], metric="sqeuclidean", n_threads=n_threads,
                  device=device).indices
        if self_join:
            ids = _drop_self(ids, rows)
        slot = np.arange(k)
        keep = slot < counts[rows][:, None]
        indices[(indptr[rows][:, None] + slot)[keep]] = ids[:, :k][keep]
    return indptr, indices, _sq_distances(q, db, indptr, indices)


def _unit_rows(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows scaled to unit length in float64, their squared norms); rows of zeros, and rows too small
    for float64 cosine, refused as the k-NN engine refuses them (its limit and messages), as are rows
    whose squared norm overflows float64 (they would all become zeros)."""
    x = np.asarray(x, np.float64)
    sq = squared_norms(x, "cosine")
    check_rows(x, sq, "cosine", name)
    return x / np.sqrt(sq)[:, None], sq


def _groups(counts: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Queries with at least one neighbour, grouped by count in (2^(j-1), 2^j]; k = the group's largest."""
    groups = []
    nonzero = np.flatnonzero(counts)
    if len(nonzero):
        level = np.ceil(np.log2(counts[nonzero])).astype(np.int64)
        for lv in np.unique(level):
            rows = nonzero[level == lv]
            groups.append((rows, int(counts[rows].max())))
    return groups


def _drop_self(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row's k + 1 nearest (itself among them: it is at distance 0, and every point at
    distance 0 is within the radius, so at most k others tie with it) without itself."""
    keep = ids != rows[:, None]
    assert np.all(keep.sum(1) == ids.shape[1] - 1), "a point missing from its own k + 1 nearest"
    return ids[keep].reshape(len(ids), ids.shape[1] - 1)


def _sq_distances(q: np.ndarray, db: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Squared distances of the listed pairs, in float64 from the rows summed left to right (as the
    CPU pass and the k-NN engine sum them), a chunk of pairs at a time."""
    owner = np.repeat(np.arange(len(q)), np.diff(indptr))
    out = np.empty(len(indices))
    step = max(1, CHUNK_ELEMENTS // max(1, q.shape[1]))
    for s in range(0, len(indices), step):
        e = s + step
        diff = q[owner[s:e]].astype(np.float64) - db[indices[s:e]].astype(np.float64)
        out[s:e] = ordered_dots(diff, diff)
    return out
