"""Progress reports: the engine's (done, total) callback to a tqdm bar, a user callable, or
nothing; and plain bars for Python loops (sampling pools, rendering).

On a terminal a bar redraws itself in place; written to a file or a pipe (a CI log, a
batch job's output) every redraw is a new line, so there a bar updates at most once
every OFF_TERMINAL_INTERVAL seconds.
"""
from __future__ import annotations

import sys
from typing import Any

OFF_TERMINAL_INTERVAL = 10.0  # seconds between two redraws when stderr is not a terminal


def _on_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _tqdm(total: int, desc: str, unit: str) -> Any:
    """A tqdm bar (or a TextBar without tqdm), throttled off a terminal."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: fall back to a one-line counter
        return TextBar(total, desc, unit)
    if _on_terminal():
        return tqdm(total=total, desc=desc, unit=unit)
    return tqdm(total=total, desc=desc, unit=unit, mininterval=OFF_TERMINAL_INTERVAL,
                maxinterval=OFF_TERMINAL_INTERVAL)


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
            self._bar = _tqdm(total, self._desc, "tile")
        self._bar.update(done - self._bar.n)

    def close(self, completed: bool) -> None:
        if self._bar is not None:
            if completed:
                self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()


class TextBar:
    """A percentage on one line when tqdm is missing (off a terminal: only the last value, at close)."""

    def __init__(self, total, desc, unit):
        self.total, self.n, self.desc = total, 0, desc
        self._live = _on_terminal()

    def update(self, delta):
        self.n += delta
        if self._live:
            sys.stderr.write(f"\r{self.desc}: {100.0 * self.n / max(self.total, 1):5.1f}%")

    def set_description(self, desc):
        self.desc = desc

    def close(self):
        if not self._live:
            sys.stderr.write(f"{self.desc}: {100.0 * self.n / max(self.total, 1):5.1f}%")
        sys.stderr.write("\n")


def bar(progress, total: int, desc: str, unit: str):
    """A bar over ``total`` items when ``progress`` is true, else None."""
    return _tqdm(total, desc, unit) if progress else None
