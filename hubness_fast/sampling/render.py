"""Rendering chosen latents with a generator: in batches, to the CPU or streamed to a folder of PNG
files with ``latents.npz`` (:func:`render`); W-space latents go through the family's synthesis."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import writable_dir
from .._inputs import as_path, check_choice, check_int, is_torch, to_numpy
from .._progress import bar as progress_bar
from .._samples import LATENTS
from .._torch import BATCH_SIZE, check_image_shape, evaluating, to_uint8
from .adapter import GeneratorAdapter, image_batch
from .generators import as_generator
from .images import FolderWriter
from .latents import Latents, save_latents

if TYPE_CHECKING:
    import torch


def render(G: Any, latents: Latents | Any, space: str, *, batch_size: int = BATCH_SIZE, output: str = "float",
           outdir: str | Path | None = None, progress: bool = False, truncation_cutoff: int | None = None) -> Any:
    """Render chosen latents with G in batches; images to the CPU (or to ``outdir``) batch by batch.

    latents : :class:`Latents` (or what ``sample`` returned), or in Z space the z themselves: an
        array or tensor [n, z_dim] (a conditional G needs ``Latents(z, labels=...)``).

    outdir : a new or empty folder, or one a sample run wrote (a folder of other files is refused);
        it receives ``000000.png...`` in row order, ``grid.png`` and, once every image is written,
        ``latents.npz`` (:func:`save_latents`). Until then it is marked unfinished, and folders read
        as images (``features``, ``hubness-fast eval``) refuse it.

    W space: ws = w broadcast to every layer (the rows from ``truncation_cutoff`` on
    untruncated) and ``synthesis(ws)`` is called; a G without synthesis gets w itself.
    Z space: G(z, c) through its adapter.
    """
    import torch

    check_choice(space, ("z", "w"), "space")
    check_choice(output, ("float", "uint8"), "output")
    batch_size = check_int(batch_size, "batch_size")
    latents = _as_latents(latents, space)
    gen = as_generator(G)
    if gen.c_dim and latents.labels is None:
        raise ValueError(f"this generator is conditional ({gen.c_dim} classes): render takes its labels with "
                         f"the latents, Latents(z, labels=...) (sample() returns them)")
    n = len(latents.z)
    made = outdir is not None and not as_path(outdir).exists()
    writer = FolderWriter(writable_dir(outdir, "output folder"), n) if outdir is not None else None
    held = []
    bar = progress_bar(progress, n, "images", "image")
    complete = False
    try:
        for s in range(0, n, batch_size):
            sl = slice(s, s + batch_size)
            c = None if latents.labels is None else gen.one_hot(latents.labels[sl])
            if space == "w":
                images = _render_w(gen, latents, sl, c, truncation_cutoff)
            else:
                images = gen.render_z(torch.from_numpy(latents.z[sl]).to(gen.device), c)
            images = image_batch(images).detach().to("cpu")
            if s == 0 and writer is not None:
                check_image_shape(tuple(int(d) for d in images.shape), "the generator's images", (1, 3, 4))
            if output == "uint8" or writer is not None:
                as_u8 = to_uint8(images)
                if writer is not None:
                    writer.add(as_u8)
                if output == "uint8":
                    images = as_u8
            if writer is None:
                held.append(images)
            if bar is not None:
                bar.update(len(images))
        complete = True
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close(complete)
            if not complete and made and writer.count == 0:  # a failed first batch leaves no folder it made
                with contextlib.suppress(OSError):
                    writer.outdir.rmdir()
    if writer is not None:
        save_latents(writer.outdir / LATENTS, latents, truncation=getattr(gen, "truncation", None))
        writer.finish()
    return None if writer is not None else torch.cat(held)


def _render_w(gen: Any, latents: Latents, sl: slice, c: torch.Tensor | None, cutoff: int | None) -> torch.Tensor:
    import torch

    w = torch.from_numpy(latents.w[sl]).to(gen.device)  # type: ignore[index]  # W-space latents always carry w
    num_ws = getattr(gen, "num_ws", None)  # StyleGAN families (NVIDIA's, rosinality's), and adapters of W families
    if num_ws is None and type(gen).render_w is not GeneratorAdapter.render_w:
        raise ValueError(f"the {gen.family} adapter renders from W (render_w) but states no num_ws, the number of "
                         f"layers of the ws it takes ([N, num_ws, w_dim]): set num_ws")
    if num_ws is not None:
        ws = w[:, None].repeat(1, num_ws, 1)  # StyleGAN's broadcast: every layer gets w
        if latents.w_tail is not None:
            ws[:, cutoff:] = torch.from_numpy(latents.w_tail[sl]).to(gen.device)[:, None]
        return gen.render_w(ws, c)
    target = getattr(gen.module, "synthesis", gen.module)  # a custom mapping: its G takes w
    with evaluating(gen.module):
        return target(gen.cast(w))


def _as_latents(latents: Any, space: str) -> Any:
    """Latents (or anything with their fields, as ``sample``'s result), or raw z [n, z_dim] in Z space."""
    if hasattr(latents, "z") and hasattr(latents, "labels"):
        return latents
    if isinstance(latents, (str, Path)) or not (is_torch(latents) or hasattr(latents, "__array__")
                                                or isinstance(latents, (list, tuple))):
        raise TypeError(f"latents must be Latents (from sample() or load_latents()) or, in Z space, an array "
                        f"[n, z_dim], got {type(latents).__name__}")
    if space == "w":
        raise ValueError("W-space rendering takes Latents with their w (sample(..., space='w') or "
                         "load_latents()), not a bare array")
    z = to_numpy(latents, np.float32)
    if z.ndim != 2 or not z.size:
        raise ValueError(f"z must be a non-empty array [n, z_dim], got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("z holds NaN or Inf")
    return Latents(np.ascontiguousarray(z))
