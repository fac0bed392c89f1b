"""Which query rows are fitted points: an exact row lookup by value, without a sorted copy of the data.

Rows are hashed to 64 bits (kept sorted with their order: 16 bytes a fitted row); a query's candidates
are the fitted rows with its hash, and each is checked value for value, so a hash collision costs a
comparison, never a wrong answer.
"""
from __future__ import annotations

import numpy as np

# Largest temporary, in array elements, that one block of rows may allocate while hashing.
CHUNK_ELEMENTS = 1 << 22
# Odd multipliers of the row hash, one per feature (a fixed seed: the hash is a pure function of the row).
_MULTIPLIERS = np.random.default_rng(0x5EED).integers(1, 1 << 63, size=1 << 16, dtype=np.uint64) | np.uint64(1)


def _words(block: np.ndarray) -> np.ndarray:
    """The bits of each value as unsigned integers; -0.0 + 0.0 is +0.0, so equal values have equal bits."""
    b = block + block.dtype.type(0)
    return b.view(np.uint32 if b.dtype == np.float32 else np.uint64).astype(np.uint64, copy=False)


def row_hashes(x: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's values (float32 or float64, C order), by row blocks."""
    n, dim = x.shape
    mult = _MULTIPLIERS[np.arange(dim) % len(_MULTIPLIERS)]
    out = np.empty(n, np.uint64)
    step = max(1, CHUNK_ELEMENTS // max(1, dim))
    for s in range(0, n, step):
        h = (_words(x[s:s + step]) * mult).sum(axis=1, dtype=np.uint64)  # wraps modulo 2^64, as meant
        h ^= h >> np.uint64(31)  # one mixing step: the low bits then depend on every word
        out[s:s + step] = h * np.uint64(0x9E3779B97F4A7C15)
    return out


class RowIndex:
    """The fitted rows, found by value: ``find(fit_x, q)`` gives, for each query row, the lowest index
    of a fitted row equal to it value for value (-0.0 equal to 0.0), or -1 where none is."""

    def __init__(self, fit_x: np.ndarray) -> None:
        h = row_hashes(fit_x)
        self.order = np.argsort(h, kind="stable")  # equal hashes in index order: the first match is the lowest
        self.hashes = h[self.order]

    def find(self, fit_x: np.ndarray, q: np.ndarray) -> np.ndarray:
        n = len(self.hashes)
        found = np.full(len(q), -1, np.int64)
        if n == 0 or len(q) == 0:
            return found
        qh = row_hashes(q)
        pos = np.searchsorted(self.hashes, qh)
        todo = np.arange(len(q))
        while todo.size:  # one step along each query's run of equal hashes (collisions only go past one)
            p = pos[todo]
            live = p < n
            todo, p = todo[live], p[live]
            live = self.hashes[p] == qh[todo]
            todo, p = todo[live], p[live]
            cand = self.order[p]
            same = np.all(fit_x[cand] == q[todo], axis=1)
            found[todo[same]] = cand[same]
            todo = todo[~same]
            pos[todo] += 1
        return found
