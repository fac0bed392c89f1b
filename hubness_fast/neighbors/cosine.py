"""Cosine neighbours as the scikit-learn layer reports them.

The engine's cosine is 1 - <a, b> / (|a| |b|) in float64; this layer reports it as scikit-learn
does: clipped at 0, identical rows at exactly 0 (:func:`_as_scikit`), each row's k points smallest
by those values, then by index. Rows of zeros, whose cosine is undefined and which the engine
refuses, are at distance 1 from every point but themselves, as scikit-learn's ``cosine_distances``
puts them (1 - 0): the engine runs on the rows with a direction and the zero rows are merged in.
"""
from __future__ import annotations

from typing import Any

from .._types import Device

import numpy as np

from ._sklearn import require_sklearn
from .._inputs import as_matrix, check_k, to_numpy
from ..engine import describe, run
from ..engine.radius import RadiusNeighbors, radius_neighbors, sort_pairs
from ..engine.refused import check_values

require_sklearn()  # scipy comes with it
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402

# Cosine distances at most this small are checked for identical rows: 1 - cos of a row with itself
# rounds to a few units of 2^-53 whatever its length (its norm and its dot product are one sum), and
# far below this only near-duplicates lie.
IDENTICAL_CHECK = 1e-9
# Row elements compared at a time while looking for identical rows (32 MiB of float64 a side).
CHUNK_ELEMENTS = 1 << 22
# Near pairs held at a time while the rows with many identical or parallel points are listed again
# (a group of g such rows has g^2 pairs).
NEAR_PAIRS = 1 << 18


def cosine_knn(x: Any, k: int, threads: int | None, device: Device, queries: Any = None,
               exclude_self: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(float64 distances, int64 indices) [rows, k] of the cosine k-NN of ``queries`` (default: x
    itself, each point left out of its own list unless ``exclude_self`` is False) among the rows of
    x, as this layer reports them (see the module). k must not exceed the points available."""
    self_join = queries is None
    fit, rows, zero_fit, zero_row = _split(x, queries)
    if not zero_fit.any() and not zero_row.any():
        return _lists(fit, k, threads, device, None if self_join else rows, exclude_self)
    skip_self = self_join and exclude_self is not False
    k = check_k(k, len(fit) - skip_self, "the fitted points" + (", each but itself" if skip_self else ""))
    d, i = np.empty((len(rows), k)), np.empty((len(rows), k), np.int64)
    live, zeros = np.flatnonzero(~zero_fit), np.flatnonzero(zero_fit)
    asked = np.flatnonzero(~zero_row)  # rows with a direction: in a self-join, `live` itself
    if asked.size:
        # their nearest points with a direction, merged with the first zero points, all at 1
        k_live = min(k, live.size - skip_self)
        near0 = zeros[:k]
        parts = [(np.ones((asked.size, near0.size)), np.broadcast_to(near0, (asked.size, near0.size)))]
        if k_live > 0:
            ld, li = _lists(fit[live], k_live, threads, device, None if self_join else rows[asked], exclude_self)
            parts.append((ld, live[li]))
        cd, ci = np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)
        order = np.lexsort((ci, cd), axis=1)[:, :k]
        d[asked], i[asked] = np.take_along_axis(cd, order, axis=1), np.take_along_axis(ci, order, axis=1)
    lone = np.flatnonzero(zero_row)
    if lone.size:
        # every fitted point at 1, by index; in a self-join the row itself left out, or first at 0
        first = int(self_join and not skip_self)
        j = np.arange(k - first)[None, :]
        i[lone, first:] = j + (j >= lone[:, None]) if self_join else j
        d[lone, first:] = 1.0
        if first:
            i[lone, 0], d[lone, 0] = lone, 0.0
    return d, i


def cosine_radius(x: np.ndarray, radius: Any, queries: np.ndarray | None, threads: int | None,
                  device: Device, themselves: bool = False) -> RadiusNeighbors:
    """The fitted points of x within ``radius`` (inclusive) of each query (default: x itself, each
    point left out of its own list), by the distances :func:`cosine_knn` reports; zero rows at 1.
    themselves: the queries are x's rows, each its own neighbour at 0 (a zero row too)."""
    self_join = queries is None
    x, rows, zero_fit, zero_row = _split(x, queries)
    if not zero_fit.any() and not zero_row.any():
        return _within(x, radius, queries, threads, device)
    live, asked = np.flatnonzero(~zero_fit), np.flatnonzero(~zero_row)
    if live.size and asked.size:
        res = _within(x[live], radius, None if self_join else rows[asked], threads, device)
        owner, dist, ids = asked[res.owners()], np.asarray(res.distances, np.float64), live[res.indices]
    else:  # no pair of rows with a direction: the radius checked as radius_neighbors checks it
        radius_neighbors(np.ones((1, 1)), radius, metric="cosine")
        owner, dist, ids = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    lone = np.flatnonzero(zero_row)
    if float(radius) >= 1:  # every pair with a zero row, at 1; in a self-join not a row with itself
        zeros = np.flatnonzero(zero_fit)
        a, b = np.repeat(asked, zeros.size), np.tile(zeros, asked.size)  # rows with a direction x zero points
        c, e = np.repeat(lone, len(x)), np.tile(np.arange(len(x)), lone.size)  # zero rows x every point
        keep = c != e if (self_join or themselves) else np.ones(c.size, bool)
        owner = np.concatenate([owner, a, c[keep]])
        ids = np.concatenate([ids, b, e[keep]])
        dist = np.concatenate([dist, np.ones(a.size + int(keep.sum()))])
    if themselves:  # a zero row is its own neighbour at 0, as a row with a direction is
        owner, ids, dist = np.concatenate([owner, lone]), np.concatenate([ids, lone]), np.concatenate(
            [dist, np.zeros(lone.size)])
    order = np.lexsort((ids, dist, owner))
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=len(rows)), out=indptr[1:])
    return RadiusNeighbors(indptr, ids[order], dist[order])


def _split(x: Any, queries: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fitted rows, query rows, which fitted rows are zeros, which query rows are), every row
    checked first as the engine checks it but for being zero, so that a refusal names the row of
    the caller's array (the engine sees only the rows with a direction)."""
    self_join = queries is None
    fit_name = "x" if self_join else "x (database)"
    fit = as_matrix(x, fit_name)
    rows = fit if self_join else as_matrix(queries, "queries")
    if rows.shape[1] != fit.shape[1]:
        raise ValueError(f"queries have {rows.shape[1]} features but x has {fit.shape[1]}")
    zero_fit = ~np.any(fit, axis=1)  # -0.0 is a zero too; a NaN is not
    zero_row = zero_fit if self_join else ~np.any(rows, axis=1)
    sides = [(fit, zero_fit, fit_name)] + ([] if self_join else [(rows, zero_row, "queries")])
    for side, zero, name in sides:
        if zero.any():
            probe = side.copy()
            probe[zero] = 1  # a direction, for the check only
            check_values(probe, "cosine", name)
    return fit, rows, zero_fit, zero_row


def _lists(fit: np.ndarray, k: int, threads: int | None, device: Device, queries: np.ndarray | None,
           exclude_self: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """The engine's cosine lists of rows with a direction, as this layer reports them."""
    p = describe(fit, k, queries=queries, metric="cosine", exclude_self=exclude_self, device=device, n_threads=threads)
    r = run(p, ids=True, distances=True)
    d, i = np.asarray(r.distances, np.float64), np.asarray(r.ids)
    return _reported(d, i, fit, queries, exclude_self is not False and queries is None, threads, device)


def _within(x: np.ndarray, radius: Any, queries: np.ndarray | None, threads: int | None,
            device: Device) -> RadiusNeighbors:
    """The engine's radius pairs of rows with a direction, as :func:`_as_scikit` reports them: a pair
    taken to 0 may lie just above the radius, so the pass looks IDENTICAL_CHECK further."""
    real = isinstance(radius, (int, float, np.integer, np.floating)) and not isinstance(radius, bool) and radius >= 0
    res = radius_neighbors(x, float(radius) + IDENTICAL_CHECK if real else radius, queries=queries, metric="cosine",
                           n_threads=threads, device=device)  # refuses a bad radius
    d, i = _as_scikit(np.asarray(res.distances, np.float64), res.indices, res.owners(), x, queries)
    return RadiusNeighbors(res.indptr, i, d).within(radius)


def _reported(d: np.ndarray, i: np.ndarray, x: Any, queries: Any, self_excluded: bool, threads: int | None,
                  device: Any) -> tuple[np.ndarray, np.ndarray]:
    """The engine's k-NN lists (raw 1 - cos, sorted by it) as each row's k fitted points smallest by
    (reported distance, index), the distances reported as :func:`_as_scikit` reports them.
    Reporting moves only values at most IDENTICAL_CHECK (to 0), so a row whose k-th raw value is above
    it already holds every point it may move; a row whose k-th is not may have more such points than
    k, so all of them are taken from the radius search (the same raw values) and the k best kept.

    Memory: such rows are grouped by the points their lists share (:func:`_groups`); one row of each
    group is listed first (about one pair per fitted point in all: groups share no near point), and
    its count sizes the chunks of the others' rows, about NEAR_PAIRS pairs each, not the square of a
    group's size."""
    m, k = i.shape
    if m == 0 or k == 0:
        return d, i
    d, i = _as_scikit(d.ravel(), i.ravel(), np.repeat(np.arange(m), k), x, queries)
    d, i = d.reshape(m, k), i.reshape(m, k)
    deep = np.flatnonzero(d[:, -1] <= IDENTICAL_CHECK)
    if deep.size == 0:
        return d, i
    fit = to_numpy(x)
    listed = fit if queries is None else to_numpy(queries)
    group = _groups(deep, i[deep], len(fit), queries is None)
    order = np.argsort(group, kind="stable")
    deep, group = deep[order], group[order]
    first = np.r_[True, group[1:] != group[:-1]]
    sizes = np.diff(np.r_[np.flatnonzero(first), deep.size])
    found = _near_lists(fit, listed, deep[first], k, self_excluded, threads, device, d, i)
    rest, counts = deep[~first], np.repeat(found, sizes - 1)  # each row: the count of its group's first
    ends = np.cumsum(counts)
    start = 0
    while start < rest.size:
        done = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, done + NEAR_PAIRS, side="right")))
        _near_lists(fit, listed, rest[start:stop], k, self_excluded, threads, device, d, i)
        start = stop
    return d, i


def _groups(rows: np.ndarray, lists: np.ndarray, n_fit: int, self_join: bool) -> np.ndarray:
    """A group label for each of ``rows``: the connected components of the graph linking each row to
    the fitted points its list holds (a row of a self-join is its own fitted point)."""
    nodes = rows if self_join else n_fit + np.arange(len(rows))
    k = lists.shape[1]
    size = n_fit + (0 if self_join else len(rows))
    graph = sp.csr_matrix((np.ones(lists.size, np.int8), (np.repeat(nodes, k), lists.ravel())), shape=(size, size))
    return connected_components(graph, directed=True, connection="weak")[1][nodes]


def _near_lists(fit: np.ndarray, listed: np.ndarray, part: np.ndarray, k: int, self_excluded: bool,
                threads: int | None, device: Any, d: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Rows ``part`` of (d, i) set to their k best near points (at most IDENTICAL_CHECK) by (reported
    distance, index); returns how many near points each row has."""
    rows = listed[part]
    res = radius_neighbors(fit, IDENTICAL_CHECK, queries=rows, metric="cosine", n_threads=threads, device=device)
    owner = res.owners()
    keep = res.indices != part[owner] if self_excluded else np.ones(len(owner), bool)
    owner, near_i, near_d = owner[keep], res.indices[keep], res.distances[keep]
    near_d, near_i = _as_scikit(near_d, near_i, owner, fit, rows)
    counts = np.bincount(owner, minlength=len(part))
    if np.any(counts < k):  # the engine listed k of them
        raise RuntimeError("the radius search found fewer near points than the k-NN lists hold")
    take = np.searchsorted(owner, np.arange(len(part)))[:, None] + np.arange(k)
    d[part], i[part] = near_d[take], near_i[take]
    return counts


def _as_scikit(d: np.ndarray, i: np.ndarray, owner: np.ndarray, x: Any,
                      queries: Any) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances of pairs (owner row, fitted point i, distance d), listed by owner, as this
    layer reports them: 1 - cos rounds to -2e-16 for parallel rows, which is taken as 0 (scikit-learn
    clips it; estimators that take a precomputed graph refuse negative entries), and a row identical
    value for value to the fitted point it lists (itself, or an exact duplicate) is at exactly 0, the
    cosine distance of identical rows, not at the unit of rounding the float64 1 - cos leaves there
    (scikit-learn zeroes a point's own distance only; UMAP reads the first distance above 0 as a
    scale). The pairs are then sorted again by (owner, distance, index)."""
    d = np.maximum(d, 0.0) + 0.0  # + 0.0: no -0.0
    near = np.flatnonzero(d <= IDENTICAL_CHECK)
    if near.size == 0:
        return d, i
    fit = to_numpy(x)
    rows = fit if queries is None else to_numpy(queries)
    step = max(1, CHUNK_ELEMENTS // max(1, fit.shape[1]))
    for s in range(0, len(near), step):
        part = near[s:s + step]
        same = np.all(rows[owner[part]] == fit[i[part]], axis=1)
        d[part[same]] = 0.0
    return sort_pairs(owner, d, i)
