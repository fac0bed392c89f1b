"""Rows of a long computation kept on disk as they are done, so that a run cut off (Ctrl-C, a
crash, a job's time limit) resumes where it stopped instead of starting over.

``features(cache_dir=)`` keeps an extraction's features here, beside the cache file they will
become: ``<key>.partial/<start>-<stop>.npy``, one file per stretch of rows, each written
atomically (a reader never sees half a file). The stretches are read back in order from row 0;
the first one that does not fit (a gap, another width or type, a file that cannot be read) ends
what is kept, and it and those after it are removed with a warning.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np

from .._files import atomic_write
from .._warn import warn_user

SAVE_EVERY_S = 60.0  # seconds of work between two saves: the most a cut-off run loses (and one save at the end)
_PART = re.compile(r"(\d+)-(\d+)\.npy")


class PartialRows:
    """The rows 0..n-1 of a result, saved in stretches to ``folder`` as they come.

    ``load()`` returns the rows earlier runs saved; ``add(rows)`` appends the next rows (saved once
    ``every_s`` seconds, default SAVE_EVERY_S, have passed since the last save); ``flush()`` saves
    what is pending (call it in a ``finally``: a run cut off keeps its rows); ``discard()`` removes
    the folder once the whole result is stored elsewhere."""

    def __init__(self, folder: Path, n: int, every_s: float | None = None) -> None:
        self.folder, self.n = Path(folder), int(n)
        self.every_s = SAVE_EVERY_S if every_s is None else float(every_s)
        self.start = 0  # the first row not yet on disk
        self.pending: list[np.ndarray] = []
        self.last_save = time.monotonic()

    def load(self) -> np.ndarray | None:
        """The rows saved so far, from row 0 (None when there are none); ``start`` is then their count."""
        parts = []
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                m = _PART.fullmatch(p.name)
                if m:
                    parts.append((int(m.group(1)), int(m.group(2)), p))
        parts.sort()
        kept: list[np.ndarray] = []
        for i, (start, stop, path) in enumerate(parts):
            rows = self._read(start, stop, path, kept)
            if isinstance(rows, str):
                warn_user(f"the saved rows {path} {rows}: computing rows {start}.. again")
                for _, _, stale in parts[i:]:
                    stale.unlink(missing_ok=True)
                break
            kept.append(rows)
            self.start = stop
        return np.concatenate(kept) if kept else None

    def _read(self, start: int, stop: int, path: Path, kept: list[np.ndarray]) -> np.ndarray | str:
        """The stretch ``path`` (rows start..stop-1), or why it cannot follow ``kept``."""
        if start != self.start:
            return f"start at row {start}, not at row {self.start}"
        if not start < stop <= self.n:
            return f"end at row {stop - 1}, not inside the {self.n} rows"
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            return f"cannot be read ({exc})"
        if rows.ndim != 2 or rows.shape[0] != stop - start or rows.dtype.kind != "f":
            return f"hold {rows.dtype} of shape {rows.shape}, not {stop - start} rows of numbers"
        if kept and (rows.shape[1], rows.dtype) != (kept[0].shape[1], kept[0].dtype):
            return f"hold {rows.shape[1]} {rows.dtype} columns, {kept[0].shape[1]} {kept[0].dtype} before"
        return rows

    def add(self, rows: np.ndarray) -> None:
        """Append the next rows; save them (with those pending) when ``every_s`` has passed."""
        self.pending.append(rows)
        if time.monotonic() - self.last_save >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Save the pending rows as one stretch (nothing to do when none are pending)."""
        if not self.pending:
            return
        chunk = np.concatenate(self.pending)
        stop = self.start + len(chunk)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / f"{self.start:010d}-{stop:010d}.npy", lambda f: np.save(f, chunk))
        self.start, self.pending, self.last_save = stop, [], time.monotonic()

    def discard(self) -> None:
        """Remove the saved rows (the whole result is stored: they are no longer needed)."""
        self.pending = []
        shutil.rmtree(self.folder, ignore_errors=True)
