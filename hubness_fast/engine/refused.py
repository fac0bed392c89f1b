"""The rows the native engine refuses, checked in Python where a pass is written in Python (the
cosine radius search) or where the engine would name a row of a block rather than of the data (the
Dask runner): the engine's own limits and messages (csrc/common/bound.h, exported by _cpu)."""
from __future__ import annotations

import numpy as np

from . import _native

# Row elements squared at a time while summing norms (32 MiB of float64).
CHUNK_ELEMENTS = 1 << 22
LANES = 8  # the engine's interleaved partial sums of |x|^2 (csrc/cpu/side.h, squared_norm)


def ordered_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """<a_i, b_i> of each pair of rows in float64, summed over the features left to right without fused
    multiply-add (the engine's cosine sums): the products laid out feature-major, then added one
    feature after the other (an explicit loop: numpy's own reductions sum pairwise wherever the summed
    axis is contiguous, as it is for a single row), in blocks of rows that stay in cache."""
    out = np.zeros(len(a))
    step = max(1, CHUNK_ELEMENTS // max(1, a.shape[1]))
    with np.errstate(over="ignore"):
        for s in range(0, len(a), step):
            prod = np.ascontiguousarray(np.multiply(a[s:s + step], b[s:s + step], dtype=np.float64).T)
            acc = out[s:s + step]
            for column in prod:
                acc += column
    return out


def squared_norms(x: np.ndarray, metric: str) -> np.ndarray:
    """|x|^2 of each row in float64, summed as the engine sums it before it decides what to refuse: in
    feature order for cosine; for the other metrics over 8 interleaved lanes (lane l takes the
    features l, l + 8, ... in order) combined pairwise, so a row at a limit is refused by both or
    neither."""
    if metric == "cosine":
        return ordered_dots(x, x)
    lanes = np.zeros((len(x), LANES))
    for lane in range(min(LANES, x.shape[1])):
        cols = x[:, lane::LANES]
        lanes[:, lane] = ordered_dots(cols, cols)
    width = LANES // 2
    while width:
        lanes[:, :width] += lanes[:, width:2 * width]
        width //= 2
    return lanes[:, 0]


def check_rows(x: np.ndarray, sq: np.ndarray, metric: str, name: str, offset: int = 0) -> None:
    """Refuse, naming row ``offset + i`` of ``name``, what the engine refuses given the float64
    squared norms ``sq`` of the rows of ``x``: a squared norm above 1e36 (float32 arithmetic) but for
    cosine, whose fast pass reads rows divided by their norms; for cosine, a squared norm beyond the
    float64 range, and rows of zeros or below 2^-969."""
    if metric != "cosine":
        bad = np.flatnonzero(sq > _native.cpu.MAX_SQUARED_NORM)
        if bad.size:
            raise ValueError(f"{name} row {offset + int(bad[0])}{_native.cpu.HUGE_ROW}")
        return
    bad = np.flatnonzero(~np.isfinite(sq))
    if bad.size:
        raise ValueError(f"{name} has a squared norm beyond the float64 range (first at row "
                         f"{offset + int(bad[0])}); rescale the data")
    bad = np.flatnonzero(sq < _native.cpu.COSINE_MIN_SQUARED_NORM)
    if bad.size:
        i = int(bad[0])
        defect = _native.cpu.COSINE_TINY_ROW if np.any(x[i]) else _native.cpu.COSINE_ZERO_ROW
        raise ValueError(f"{name} row {offset + i}{defect}")


def check_values(x: np.ndarray, metric: str, name: str) -> None:
    """Refuse, naming the first such row of ``name``, the rows the engine refuses before it runs:
    NaN or Inf values, squares beyond the float64 range, then what :func:`check_rows` refuses. For
    the passes whose native code names its inputs by their role in the pass (the ball pass's
    "queries" and "centres"), not by the caller's argument."""
    with np.errstate(over="ignore", invalid="ignore"):
        sq = squared_norms(x, metric)
    bad = np.flatnonzero(~np.isfinite(sq))
    if bad.size:
        i = int(bad[0])
        if not np.isfinite(x[i]).all():
            raise ValueError(f"{name} contains NaN or Inf (first at row {i}); drop or impute those rows")
        raise ValueError(f"{name} has values too large for float32 arithmetic (first at row {i}); rescale the data")
    check_rows(x, sq, metric, name)
