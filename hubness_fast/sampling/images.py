"""Images to disk: PNG files (8-bit grey or RGB, written with zlib, no imaging
library needed), image grids, and a folder writer for streamed samples."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .._inputs import to_numpy
from .._files import listing
from .._samples import GRID, LATENTS, UNFINISHED, is_image_name, is_sample_folder
from .._types import Array


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray) -> bytes:
    """uint8 [H, W] (grey), [H, W, 3] (RGB) or [H, W, 4] (RGBA) -> PNG bytes."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        color = 0
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        color = 2 if image.shape[2] == 3 else 6
    else:
        raise ValueError(f"a PNG image is [H, W], [H, W, 3] or [H, W, 4], got shape {image.shape}")
    h, w = image.shape[:2]
    rows = np.ascontiguousarray(image).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def decode_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_png` for the files it writes (8-bit, unfiltered rows)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, b"", (0, 0, 0, 0, 0, 0, 0)
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if header[0] == 0:
        raise ValueError("PNG without an IHDR chunk")
    w, h, depth, color = header[:4]
    channels = {0: 1, 2: 3, 6: 4}[color]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    if depth != 8 or np.any(rows[:, 0]):
        raise ValueError("only 8-bit PNGs with unfiltered rows are read here")
    img = rows[:, 1:].reshape(h, w, channels)
    return img[:, :, 0] if channels == 1 else img


def to_hwc(image: Array) -> np.ndarray:
    """A uint8 [C, H, W] tensor or array -> numpy [H, W, C]."""
    arr = to_numpy(image)  # CUDA tensors too
    if arr.ndim != 3:
        raise ValueError(f"an image is [C, H, W], got shape {arr.shape}")
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


def grid(images: np.ndarray, columns: int | None = None, pad: int = 2, scale: int = 1) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 image with the N tiles in rows of ``columns`` (white padding),
    each pixel repeated ``scale`` times in both directions."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i, im in enumerate(images):
        r, col = divmod(i, columns)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = im
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
    return out


def write_png(path: str | Path, image: np.ndarray) -> None:
    Path(path).write_bytes(encode_png(image))


def check_sample_folder(folder: Path) -> None:
    """Refuse an output folder that holds files but was not written by a sample run (see
    :class:`FolderWriter`); a folder that does not exist yet is fine."""
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if others and not is_sample_folder(folder):
        raise ValueError(f"the output folder {folder} holds files and is not a sample folder of this version (no "
                         f"latents.npz, no mark of an unfinished run; it holds {listing(others)}): write the samples "
                         "to a new or empty folder (nothing in this one is overwritten)")


class FolderWriter:
    """Writes images one batch at a time as ``000000.png, 000001.png, ...`` (zero-padded
    so that sorted names follow the row order), keeps the first ``grid_size`` for
    ``grid.png`` and holds nothing else.

    The folder must be new, empty, or one a sample run wrote (``hubness_fast._samples``): a
    folder of other files is refused, so that nothing of the user's is overwritten or removed.
    From its first image the run marks the folder unfinished and removes its ``latents.npz``; a run
    that completes removes the numbered PNGs an earlier, longer run left past its own, and
    :meth:`finish` (after the caller wrote ``latents.npz``) removes the mark."""

    def __init__(self, outdir: str | Path, n: int, grid_size: int = 64) -> None:
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        check_sample_folder(self.outdir)
        self.width = max(6, len(str(n - 1)))
        self.count, self.grid_size = 0, grid_size
        self.tiles: list[np.ndarray] = []

    def name(self, i: int) -> str:
        return f"{i:0{self.width}d}.png"

    def add(self, batch_uint8: Array) -> None:
        if self.count == 0:  # the folder changes from here: marked until the run is complete
            (self.outdir / UNFINISHED).write_text("a sample run is writing this folder; it is finished when this "
                                                  "file is gone and latents.npz is here\n")
            (self.outdir / LATENTS).unlink(missing_ok=True)
        for image in batch_uint8:
            hwc = to_hwc(image)
            write_png(self.outdir / self.name(self.count), hwc)
            if len(self.tiles) < self.grid_size:
                self.tiles.append(hwc)
            self.count += 1

    def close(self, complete: bool = True) -> None:
        """The grid of the images written; a complete run also removes the PNGs an earlier, longer
        run left. A run that wrote no image has changed nothing."""
        if self.count == 0:
            return
        if self.tiles:
            write_png(self.outdir / GRID, grid(np.stack(self.tiles)))
        if complete:
            for path in self.outdir.glob("*.png"):
                # not one of this run's names: past its count, or written at another width
                if is_image_name(path.name) and (int(path.stem) >= self.count or
                                                 path.name != self.name(int(path.stem))):
                    path.unlink()

    def finish(self) -> None:
        """The run is complete and its latents.npz written: the folder is no longer unfinished."""
        (self.outdir / UNFINISHED).unlink(missing_ok=True)
