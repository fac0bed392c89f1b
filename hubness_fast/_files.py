"""Files the package writes and reads for the user: output folders and files checked before any work
(without leaving a folder behind when the work is refused), files replaced whole or not at all
(written through a temporary name), and .npy files read with one clear error for each way they can
be unreadable.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._inputs import as_path


def writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Create the output folder ``path`` (expanded) now, before any work, or say why it cannot be written."""
    folder = as_path(path)
    _not_a_file(folder, what)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to the {what} {folder}: permission denied")
    return folder


def _not_a_file(folder: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"the {what} {folder} is a file: name a folder (it is created if needed)")


def listing(names: list[str], shown: int = 3) -> str:
    """The first few of ``names`` and how many more: 'a.png, b.png, c.png and 4 more'."""
    rest = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {rest} more" if rest > 0 else "")


def creatable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """The output folder ``path`` (expanded), checked before any work without creating it: an existing
    folder must be writable; else its nearest existing parent must be a writable folder. The work
    creates it (:func:`writable_dir`) once its settings hold, so a refused run leaves no empty folder."""
    folder = as_path(path)
    _not_a_file(folder, what)
    if folder.exists():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"cannot write to the {what} {folder}: permission denied")
        return folder
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot create the {what} {folder}: {parent} is a file")
    try:  # a folder made and removed at once: access() says yes to root where mkdir fails (/proc, read-only mounts)
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".hubness-fast-probe-"))
    except OSError as exc:
        raise ValueError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None
    return folder


def writable_file(path: str | os.PathLike[str], what: str, suffix: str | None = None) -> Path:
    """The output file ``path`` (expanded, ``suffix`` appended when it has another), checked before any
    work: its folder must exist and be writable, and the path must not be a folder."""
    file = as_path(path)
    if file.is_dir():
        raise ValueError(f"cannot write the {what} {file}: it is a folder (name a file in it)")
    if suffix is not None and file.suffix != suffix:
        file = file.with_name(file.name + suffix)
    folder = file.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write the {what} {file}: the folder {folder} does not exist")
    if file.is_dir():
        raise ValueError(f"cannot write the {what} {file}: it is a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise ValueError(f"cannot write the {what} {file}: permission denied")
    try:  # a file made and removed at once, where atomic_write makes its own: access() says yes to root in /proc
        fd, probe = tempfile.mkstemp(dir=Path(os.path.realpath(file)).parent, prefix=".hubness-fast-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"cannot write the {what} {file}: {exc.strerror or exc}") from None
    return file


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file


def load_npy(path: Path, what: str) -> np.ndarray:
    """A numeric .npy file, memory-mapped; a ValueError that names ``what`` and the path otherwise
    (missing, a folder, no .npy header, Python objects, a damaged header), never numpy's hint to
    load it with allow_pickle."""
    if not path.is_file():
        raise ValueError(f"{what} {path} not found" if not path.exists() else f"{what} {path} is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(NPY_MAGIC))
        if head != NPY_MAGIC:
            raise ValueError(f"{what} {path} is not a readable .npy file (no .npy header; save arrays with np.save)")
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        text = str(exc)
        if text.startswith(f"{what} {path}"):
            raise
        if "pickle" in text.lower() or "object" in text.lower():  # refuse, never suggest unpickling
            raise ValueError(f"{what} {path} holds Python objects, not a numeric array: save it with np.save(path, "
                             f"array.astype(np.float32))") from None
        if "length is greater than file size" in text:  # the header is whole, the data is not
            raise ValueError(f"{what} {path} is cut short: its header describes more data than the file holds (an "
                             f"interrupted copy or download?)") from None
        raise ValueError(f"{what} {path} is not a readable .npy file (a damaged or truncated header)") from None
    except OSError as exc:
        raise ValueError(f"{what} {path} is not a readable .npy file ({exc.strerror or 'unreadable'})") from None


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through a temporary file in its folder, fsync'd, then renamed over it: a reader (or
    a later run) sees the old file or the whole new one, never part of one, and a failed write (a full
    disk, Ctrl-C) leaves the old file as it was. ``write`` receives the open binary file. As a plain
    ``open`` would, it writes through a symbolic link (the link stays, its target is replaced), keeps an
    existing file's permissions and gives a new one 0666 less the umask (not the temporary file's 0600)."""
    target = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if target.exists():
                os.fchmod(f.fileno(), target.stat().st_mode & 0o7777)
            else:
                plain_permissions(f.fileno())
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plain_permissions(fd: int) -> None:
    """Give an open file (a temporary one, created 0600) the permissions a plain ``open`` gives: 0666
    less the process's umask (read from /proc where it is there: setting it to read it races with
    other threads creating files)."""
    mask = None
    try:
        with open("/proc/self/status") as status:
            mask = next((int(line.split()[1], 8) for line in status if line.startswith("Umask:")), None)
    except OSError:
        pass
    if mask is None:
        mask = os.umask(0o022)
        os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
