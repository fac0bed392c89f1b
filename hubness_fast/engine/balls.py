"""Ball queries: which balls (centre, radius) contain each query point."""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np

from . import _dispatch
from .._inputs import as_matrix, check_radii
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
    hubness_fast._dispatch.NOT_YET_RUN_ON_A_GPU).
    """
    single = not isinstance(inclusive, Sequence)
    flags = [bool(inclusive)] if not isinstance(inclusive, Sequence) else [bool(f) for f in inclusive]
    if not flags:
        raise ValueError("inclusive needs one flag per layer (at least one)")
    out = _dispatch.balls(a, a_radius2, b, b_radius2, inclusive=flags, n_threads=n_threads, progress=progress,
                          desc=desc, device=device)
    shape = (-1,) if single else (-1, len(flags))
    a_side, b_side = (BallCounts(**{f: np.reshape(side[f], shape) for f in ("in_count", "min_radius2", "own_count")})
                      for side in out)
    return a_side, b_side


def ball_query(queries: Array, centres: Array, radii: Array, *, inclusive: bool = False, return_nearest: bool = False,
               n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> BallQueryResult:
    """For each query point: how many balls contain it, the smallest radius among
    them, and (``return_nearest=True``) the index of the nearest centre.

    radii: one per centre, or one number for every ball. A query q is inside ball j when
    |q - c_j|^2 < radii[j]^2 (``inclusive=True``:
    <=), both sides in float64 (queries first take the centres' dtype, as knn's queries take
    the database's); the fp32 tiled pass re-checks every pair near a
    ball boundary in float64, so the answer is exact. No distance matrix is
    formed: memory is O(M + N) plus per-thread tiles. The nearest centre comes
    from a second, exact 1-NN pass.
    """
    c = as_matrix(centres, "centres")
    q = as_matrix(queries, "queries")
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features but centres have {c.shape[1]}")
    if q.dtype != c.dtype:
        q = np.ascontiguousarray(q, dtype=c.dtype)
    r = check_radii(radii, c.shape[0])
    sq, _ = ball_pass(q, None, c, r * r, inclusive=inclusive, n_threads=n_threads, progress=progress, device=device)
    nearest = None
    if return_nearest:
        from .knn import knn

        nearest = knn(c, 1, queries=q, n_threads=n_threads, device=device)[1][:, 0]
    return BallQueryResult(sq.in_count, np.sqrt(sq.min_radius2), nearest)
