"""The rows the native engine refuses, checked in Python where a pass is written in Python (the
cosine radius search) or where the engine would name a row of a block rather than of the data (the
Dask runner): the engine's own limits and messages (csrc/common/bound.h, exported by _cpu)."""
from __future__ import annotations

import numpy as np

from . import _native


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
