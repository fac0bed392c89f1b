"""What a study has done so far, kept in its output folder, so that the same study cut off (Ctrl-C,
a crash, a full disk) goes on from its last finished step instead of starting over.

The steps are the study's units of work: each method at each seed (its metrics, and for the first
seed the latents the distance figure reads and its grid of images), each point of the two curves,
and the probe pool (its hub values and quality scores). Each step is written whole when it ends
(temporary name, then rename) into ``<outdir>/.study-progress/``, its arrays before its record, so a
step whose record is there is complete. Beside them, ``key.json`` holds what makes two runs the same
study: its settings, a hash of the real features, and the features (and quality scores) of the two
probe images, which tell the generator and the detector apart (compared to a relative 1e-4, so a
GPU's or a noisy model's last bits do not make it another study). A run whose key differs starts over
and says why; the folder is removed once table.json is written.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._files import atomic_write
from .._warn import warn_user

PROGRESS = ".study-progress"
KEY = "key.json"
PROBE_RTOL = 1e-4  # the probe images' features and scores of two runs of one study agree to this


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists, for JSON."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not a setting a study can record")


def _normal(obj: Any) -> Any:
    """``obj`` as JSON gives it back (tuples as lists, numpy values as Python's)."""
    return json.loads(json.dumps(obj, default=_plain))


def _write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1, default=_plain).encode()
    atomic_write(path, lambda f: f.write(text))


def has_progress(folder: Path) -> bool:
    """At least one finished step of a study is kept in ``folder``."""
    return any(p.name != KEY for p in (folder / PROGRESS).glob("*.json"))


def _differs(stored: Any, key: dict[str, Any]) -> str | None:
    """Why a stored key is another study's (None: the same study)."""
    if not isinstance(stored, dict) or set(stored) != set(key):
        return "they are missing or of another version"
    if stored["settings"] != key["settings"]:
        changed = sorted(name for name in set(stored["settings"]) | set(key["settings"])
                         if stored["settings"].get(name) != key["settings"].get(name))
        return f"the settings differ ({', '.join(changed)})"
    if stored["real"] != key["real"]:
        return "the real features differ"
    a, b = (np.asarray(k["probe"], np.float64) for k in (stored, key))
    if a.shape != b.shape or not np.allclose(a, b, rtol=PROBE_RTOL, atol=PROBE_RTOL * float(np.abs(b).max(initial=0))):
        return "the generator, the detector or the quality function gives other values on the two probe images"
    return None


class StudyLog:
    """The kept steps of one study (see the module docstring); ``resumed``: how many were found."""

    def __init__(self, out: Path, key: dict[str, Any]) -> None:
        self.dir = out / PROGRESS
        key = _normal(key)
        try:
            stored = json.loads((self.dir / KEY).read_text())
        except (OSError, ValueError):
            stored = None
        why = _differs(stored, key)
        if why is not None and self.dir.exists():
            if has_progress(out):
                warn_user(f"the steps kept in {self.dir} are of another study ({why}): starting over")
            shutil.rmtree(self.dir)
        self.dir.mkdir(exist_ok=True)
        if why is not None:
            _write_json(self.dir / KEY, key)
        self.resumed = sum(1 for p in self.dir.glob("*.json") if p.name != KEY)

    def _path(self, step: str, suffix: str) -> Path:
        return self.dir / f"{step.replace(' ', '_')}{suffix}"

    def file(self, name: str) -> Path:
        """Where a step keeps a file of its own (a grid of images), beside its record."""
        return self.dir / name

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

    def get_or(self, step: str, compute: Callable[[], tuple[dict[str, Any], dict[str, np.ndarray]]],
               redo: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """A finished step's record and arrays, computed and kept first if it is not finished (or
        ``redo``: a file of its own is gone)."""
        kept = None if redo else self.get(step)
        if kept is None:
            kept = compute()
            self.put(step, *kept)
        return kept

    def discard_if_empty(self) -> bool:
        """Remove the folder when no step finished (True); a run cut off before its first step has
        nothing to keep."""
        if has_progress(self.dir.parent):
            return False
        shutil.rmtree(self.dir, ignore_errors=True)
        return True

    def close(self) -> None:
        """The study is written: its steps are no longer needed."""
        shutil.rmtree(self.dir, ignore_errors=True)
