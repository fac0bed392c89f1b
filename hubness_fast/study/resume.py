"""What a study has done so far, kept in its output folder, so that the same study cut off (Ctrl-C,
a crash, a full disk) goes on from its last finished step instead of starting over.

The steps are the study's units of work: each method at each seed (its metrics, and for the first
seed the latents the distance figure reads), each point of the two curves, and the probe pool (its
hub values and quality scores). Each step is written whole when it ends (temporary name, then
rename) into ``<outdir>/.study-progress/``, its arrays before its record, so a step whose record is
there is complete. Beside them, ``key.json`` holds what makes two runs the same study: its
settings, a hash of the real features, and the features (and quality scores) of the two probe
images, which tell the generator and the detector apart. A run whose key differs starts over; the
folder is removed once table.json is written.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write

PROGRESS = ".study-progress"
KEY = "key.json"


def _normal(obj: Any) -> Any:
    """``obj`` as JSON gives it back (tuples as lists), so that a key compares with the stored one."""
    return json.loads(json.dumps(obj))


def _write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1, allow_nan=True).encode()
    atomic_write(path, lambda f: f.write(text))


def has_progress(folder: Path) -> bool:
    """A study's kept steps are in ``folder``."""
    return (folder / PROGRESS / KEY).is_file()


class StudyLog:
    """The kept steps of one study (see the module docstring); ``resumed``: how many were found."""

    def __init__(self, out: Path, key: dict[str, Any]) -> None:
        self.dir = out / PROGRESS
        key = _normal(key)
        try:
            stored = json.loads((self.dir / KEY).read_text())
        except (OSError, ValueError):
            stored = None
        if stored != key and self.dir.exists():
            shutil.rmtree(self.dir)  # another study's steps (other settings, data or models): of no use
        self.dir.mkdir(exist_ok=True)
        if stored != key:
            _write_json(self.dir / KEY, key)
        self.resumed = sum(1 for p in self.dir.glob("*.json") if p.name != KEY)

    def _path(self, step: str, suffix: str) -> Path:
        return self.dir / f"{step.replace(' ', '_')}{suffix}"

    def get(self, step: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The record and arrays of a finished step, or None (not done, or its files unreadable)."""
        try:
            record = json.loads(self._path(step, ".json").read_text())
            arrays: dict[str, np.ndarray] = {}
            if record.pop("_arrays", False):
                with np.load(self._path(step, ".npz"), allow_pickle=False) as saved:
                    arrays = {name: saved[name] for name in saved.files}
        except (OSError, ValueError, EOFError):
            return None
        return record, arrays

    def put(self, step: str, record: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        """Keep a finished step: its arrays, then its record (which marks it finished)."""
        if arrays:
            atomic_write(self._path(step, ".npz"), lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
        _write_json(self._path(step, ".json"), {**record, "_arrays": bool(arrays)})

    def close(self) -> None:
        """The study is written: its steps are no longer needed."""
        shutil.rmtree(self.dir, ignore_errors=True)
