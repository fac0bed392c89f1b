"""Ball queries: which balls (centre, radius) contain each query point."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence, cast

import numpy as np

from . import _dispatch
from .._inputs import as_matrix, check_flag, check_radii, check_squared_radii, to_numpy
from .._types import Array, Device, Progress, Threads


class BallQueryResult(NamedTuple):
    count: np.ndarray  # type: ignore[assignment]  # int64 [M]: balls containing each query (shadows tuple.count)
    min_radius: np.ndarray  # float64 [M]: smallest radius among them (inf if none)
    nearest: Optional[np.ndarray]  # int64 [M]: nearest centre (ties: smaller index), if asked for


class BallCounts(NamedTuple):
    """One side of a ball pass, per point (and per layer: [n, L] with layers, else [n])."""

    in_count: np.ndarray  # int64: balls of the other set containing the point
    min_radius2: np.ndarray  # float64: smallest squared radius among them (inf if none)
    own_count: np.ndarray  # int64: points of the other set inside the point's own ball


def _radii(r2: Any, n: int, layers: int | None, name: str) -> np.ndarray:
    """Squared radii [n] (one layer; [n, 1] taken too) or [n, layers], checked."""
    r = to_numpy(r2)
    if layers is None and r.shape == (n, 1):
        r = r.reshape(n)
    return check_squared_radii(r, (n,) if layers is None else (n, layers), name)


def ball_pass(a: np.ndarray, a_radius2: np.ndarray | None, b: np.ndarray, b_radius2: np.ndarray | None, *,
              inclusive: bool | Sequence[bool], n_threads: Threads = None, progress: Progress = False,
              desc: str = "balls", device: Device = "auto") -> tuple[BallCounts, BallCounts]:
    """One native pass over all pairs of a x b. Radii are squared (float64) or None.

    Returns the :class:`BallCounts` of a and of b.

    Layers: with ``inclusive`` a sequence of L flags, the radii are [n, L] (one
    ball per point and layer; layer l of a meets layer l of b only, with its own
    boundary rule) and every output is [n, L]: L containment tests from one pass
    over the pairs. With a single bool, radii and outputs are [n].
    device: "cpu", "cuda" (the GPU kernel, same results; both sets must fit in
    GPU memory) or "auto" (the CPU until the GPU kernel has run on a GPU; see
    hubness_fast.engine._dispatch.NOT_YET_RUN_ON_A_GPU).
    """
    single = not isinstance(inclusive, Sequence) or isinstance(inclusive, str)  # a string is no list of flags
    given: Sequence[Any] = [inclusive] if single else cast(Sequence[Any], inclusive)
    flags = [check_flag(f, "inclusive") for f in given]
    if not flags:
        raise ValueError("inclusive needs one flag per layer (at least one)")
    a, b = as_matrix(a, "a"), as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has {a.shape[1]} features but b has {b.shape[1]}")
    if a.dtype != b.dtype:  # one dtype for the engine; float64 holds both exactly
        a, b = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    a_radius2, b_radius2 = (None if r2 is None else _radii(r2, x.shape[0], None if single else len(flags), name)
                            for r2, x, name in ((a_radius2, a, "a_radius2"), (b_radius2, b, "b_radius2")))
    out = _dispatch.balls(a, a_radius2, b, b_radius2, inclusive=flags, n_threads=n_threads, progress=progress,
                          desc=desc, device=device)
    shape = (-1,) if single else (-1, len(flags))
    a_side, b_side = (BallCounts(**{f: np.reshape(side[f], shape) for f in ("in_count", "min_radius2", "own_count")})
                      for side in out)
    return a_side, b_side


_FLOAT64_MAX = float(np.finfo(np.float64).max)


def squared_radii(radii: np.ndarray, inclusive: bool) -> np.ndarray:
    """The squared radius s of each ball (float64 radii >= 0) for which a squared distance d2 passes
    the pass's test (d2 <= s inclusive, d2 < s strict) exactly when its float64 distance sqrt(d2)
    passes it against the radius itself (sqrt(d2) <= r, or < r).

    r * r alone is not that: it rounds, so sqrt(3) ** 2 = 2.9999999999999996 would leave a point at
    squared distance 3 outside the inclusive ball of radius sqrt(3), its own k-th neighbour distance.
    Since sqrt is monotone and correctly rounded, inclusive needs the largest s with sqrt(s) <= r and
    strict the smallest s with sqrt(s) >= r; both are found from r * r in a step or two of one ulp.
    A radius beyond sqrt(float64 max) holds every finite squared distance (largest finite s, or inf)."""
    r = np.asarray(radii, np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # at 0 and the top of the range
        return _squared_radii(r, r * r, inclusive)


def _squared_radii(r: np.ndarray, s: np.ndarray, inclusive: bool) -> np.ndarray:
    if inclusive:
        s = np.minimum(s, _FLOAT64_MAX)
        while (over := np.sqrt(s) > r).any():
            s[over] = np.nextafter(s[over], -np.inf)
        while (fits := (s < _FLOAT64_MAX) & (np.sqrt(np.nextafter(s, np.inf)) <= r)).any():
            s[fits] = np.nextafter(s[fits], np.inf)
    else:
        while (short := np.sqrt(s) < r).any():
            s[short] = np.nextafter(s[short], np.inf)
        while (early := (s > 0) & (np.sqrt(np.nextafter(s, -np.inf)) >= r)).any():
            s[early] = np.nextafter(s[early], -np.inf)
    return s


def ball_query(queries: Array, centres: Array, radii: Array, *, inclusive: bool = False, return_nearest: bool = False,
               n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> BallQueryResult:
    """For each query point: how many balls contain it, the smallest radius among
    them, and (``return_nearest=True``) the index of the nearest centre.

    radii: one per centre, or one number for every ball. A query q is inside ball j when its
    float64 distance sqrt(|q - c_j|^2) < radii[j] (``inclusive=True``: <=), the squared
    distance summed in float64 (queries first take the centres' dtype, as knn's queries take
    the database's): so a ball whose radius is its centre's k-th neighbour distance
    (:func:`kth_neighbor_distance`) holds that neighbour when inclusive, as
    :func:`radius_neighbors` would list it. The fp32 tiled pass re-checks every pair near a
    ball boundary in float64, so the answer is exact. No distance matrix is
    formed: memory is O(M + N) plus per-thread tiles. The nearest centre comes
    from a second, exact 1-NN pass.

    Returns numpy arrays whatever the input (torch tensors included): ``count`` int64 [M],
    ``min_radius`` float64 [M], ``nearest`` int64 [M] or None.
    """
    c = as_matrix(centres, "centres")
    q = as_matrix(queries, "queries")
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features but centres have {c.shape[1]}")
    if q.dtype != c.dtype:
        q = np.ascontiguousarray(q, dtype=c.dtype)
    inclusive, return_nearest = check_flag(inclusive, "inclusive"), check_flag(return_nearest, "return_nearest")
    r = check_radii(radii, c.shape[0])
    r2 = squared_radii(r, inclusive)
    sq, _ = ball_pass(q, None, c, r2, inclusive=inclusive, n_threads=n_threads, progress=progress, device=device)
    nearest = None
    if return_nearest:
        from .knn import knn

        nearest = knn(c, 1, queries=q, n_threads=n_threads, device=device)[1][:, 0]
    return BallQueryResult(sq.in_count, _radius_of(q, c, sq.in_count, sq.min_radius2, r2, r, inclusive, n_threads),
                           nearest)


def _radius_of(q: np.ndarray, c: np.ndarray, count: np.ndarray, min_r2: np.ndarray, r2: np.ndarray, r: np.ndarray,
               inclusive: bool, n_threads: Threads) -> np.ndarray:
    """The radius of the smallest ball holding each query (inf where none does), read back from its
    squared radius. Distinct radii share one squared radius only at the ends of the float64 range:
    beyond sqrt(float64 max) every such ball holds every query (the engine refuses rows whose squared
    norms pass 1e36), so the smallest radius is right; below about 1e-154 the balls of one squared
    radius hold different queries, so those queries are decided again on the exact pairs of their
    group (a near-duplicate pass: the pairs within such radii are few)."""
    keys, which = np.unique(r2, return_inverse=True)
    which = which.ravel()
    smallest, largest = np.full(len(keys), np.inf), np.full(len(keys), -np.inf)
    np.minimum.at(smallest, which, r)
    np.maximum.at(largest, which, r)
    out = np.full(len(count), np.inf)
    held = np.flatnonzero(count > 0)
    group = np.searchsorted(keys, min_r2[held])
    out[held] = smallest[group]
    for g in np.flatnonzero((smallest < largest) & (keys < _FLOAT64_MAX)):
        rows = held[group == g]
        test = keys[g] if inclusive else float(np.nextafter(keys[g], -np.inf))  # d2 < s: d2 <= the float below
        if rows.size == 0 or test < 0:
            continue
        cols = np.flatnonzero(which == g)
        indptr, idx, _ = _dispatch.radius_pairs(np.ascontiguousarray(q[rows]), test, np.ascontiguousarray(c[cols]),
                                                same_set=False, n_threads=n_threads)
        best = np.full(rows.size, np.inf)
        np.minimum.at(best, np.repeat(np.arange(rows.size), np.diff(indptr)), r[cols][idx])
        out[rows] = best
    return out
