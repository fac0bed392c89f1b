"""Progress reports: the engine's (done, total) callback to a tqdm bar, a user callable, or
nothing; and plain bars for Python loops (sampling pools, rendering)."""
from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Adapts the engine's (done, total) callback to a tqdm bar, a user callable, or nothing."""

    def __init__(self, progress, desc: str):
        self._user = progress if callable(progress) else None
        self._enabled = bool(progress) and self._user is None
        self._desc = desc
        self._bar: Any = None

    @property
    def callback(self):
        return self if (self._user or self._enabled) else None

    def __call__(self, done: int, total: int) -> None:
        if self._user is not None:
            self._user(done, total)
            return
        if self._bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is optional: fall back to a one-line counter
                tqdm = TextBar
            self._bar = tqdm(total=total, desc=self._desc, unit="tile")
        self._bar.update(done - self._bar.n)

    def close(self, completed: bool) -> None:
        if self._bar is not None:
            if completed:
                self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()


class TextBar:
    def __init__(self, total, desc, unit):
        self.total, self.n, self.desc = total, 0, desc

    def update(self, delta):
        self.n += delta
        sys.stderr.write(f"\r{self.desc}: {100.0 * self.n / max(self.total, 1):5.1f}%")

    def close(self):
        sys.stderr.write("\n")


def bar(progress, total: int, desc: str, unit: str):
    """A tqdm bar when ``progress`` is true and tqdm is installed, else None."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=unit)
