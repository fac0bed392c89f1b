"""What exactness cost, in the open: which kernels ran and how many rows needed float64 work.

    with hubness_fast.engine_stats() as stats:
        hubness_fast.hub_counts(x, 5)
    stats.levels          # {"amx"}: the candidate pass that ran: generic, avx2, avx512, amx;
                          # cuda-fp32 (host data on a GPU), cuda-tf32 / cuda-fp32 (device data)
    stats.totals()        # rows, rows_certified, rows_recomputed, rows_scanned, rows_widened
    stats.calls           # one dict per engine call, with its device

Every k-NN call of the engine (knn, hub_counts, kth_neighbor_distance, the metrics' radii, the
scikit-learn estimators, the sampler's pools) made inside the block is recorded. A row is
*certified* when its fp32 / bf16 / tf32 candidate list provably holds the exact answer as it
stands, *recomputed* when its boundary was redone in float64, *widened* when that did not settle it
and a wider candidate pass of its own did (fp32, on the GPU and the CPU), *scanned* when it
took a float64 pass over every point. Blocks may nest; each
sees the calls made while it was open, by any thread of the process (a block open in one thread also
records another thread's calls, as it records those of a local Dask worker thread).
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

COUNTS = ("rows", "rows_certified", "rows_recomputed", "rows_scanned", "rows_widened")

_lock = threading.Lock()
_open: list[EngineStats] = []


class EngineStats:
    """The engine calls made while an :func:`engine_stats` block was open."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @property
    def levels(self) -> set[str]:
        """The kernel levels the calls ran on."""
        return {str(c["kernels"]) for c in self.calls if "kernels" in c}

    def totals(self) -> dict[str, int]:
        """Row counts summed over the calls."""
        return {name: sum(int(c.get(name, 0)) for c in self.calls) for name in COUNTS}

    def __repr__(self) -> str:
        return f"EngineStats({len(self.calls)} calls, levels {sorted(self.levels)}, {self.totals()})"


@contextlib.contextmanager
def engine_stats() -> Iterator[EngineStats]:
    """Collect the engine's statistics for the calls made inside the block (see the module docstring)."""
    stats = EngineStats()
    with _lock:
        _open.append(stats)
    try:
        yield stats
    finally:
        with _lock:
            _open.remove(stats)


def record(stats: Any, device: str) -> None:
    """Called by the dispatcher after each engine call with the native stats dict."""
    if not _open or not isinstance(stats, dict):
        return
    entry = {**stats, "device": device}
    with _lock:
        for collector in _open:
            collector.calls.append(dict(entry))
