"""A lock file that names its holder (host, process): taken by creating it exclusively, removed by
its holder, and taken over when the process that holds it has ended on this host. A bank uses
one for its cursor (one render hands out the next rows at a time) and one for mining (one writer).

Taking over a dead holder's lock is itself serialised by an OS lock (``flock``) on a hidden guard
file beside it, and the file is removed only if it still holds the dead holder's token: two
processes that find the same stale lock cannot both take it (the second sees the first's fresh
token, or creates the file first and the other is refused).
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
    HAS_FLOCK = True
except ImportError:  # not on Windows: the takeover is then not serialised
    HAS_FLOCK = False


class LockFile:
    """``acquire()`` returns None once the lock is this object's, else who holds it ('process P on
    host H', or 'a lock file this version cannot read'); ``release()`` removes it if it is ours."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.token = f"{socket.gethostname()} {os.getpid()} {id(self)}"

    def acquire(self) -> str | None:
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                content = _read(self.path)
                holder = describe(content)
                if holder is not None:
                    return holder
                with self._guard():  # the holder has ended: remove its file, unless another took it first
                    if _read(self.path) == content:
                        self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.token + "\n")
            return None

    def release(self) -> None:
        if _read(self.path) == self.token:
            self.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        if not HAS_FLOCK:
            yield
            return
        with open(self.path.with_name(f".{self.path.name}.guard"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def describe(content: str | None) -> str | None:
    """Who holds a lock whose file reads ``content`` ('host pid id'), or None when there is no file
    or its process has ended on this host."""
    if content is None:
        return None
    parts = content.split()
    if len(parts) != 3 or not parts[1].isdigit():
        return "a lock file this version cannot read"
    host, pid = parts[0], int(parts[1])
    here = host == socket.gethostname()
    if here and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # another user's live process
    return "this process" if here and pid == os.getpid() else f"process {pid} on {host}"


def holder(path: Path) -> str | None:
    """Who holds the lock file ``path`` now (None: nobody, or a process that has ended)."""
    return describe(_read(Path(path)))
