"""What a sampler's draw is made of: the chosen latents (:class:`Latents`), the images with them
(:class:`Samples`, what :func:`~hubness_fast.sampling.sample` returns), and ``latents.npz``
(:func:`save_latents`), from which the images can be rendered again."""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._files import atomic_write


class Latents(NamedTuple):
    """The latents a sampler chose (numpy, row i renders image i).

    z : float32 [n, z_dim]   as drawn from the prior (Z-space truncation: after truncation; the z given to G)
    w : float32 [n, w_dim]   W space only: the w given to synthesis (ws[:, 0], after truncation); else None
    labels : int64 [n]       conditional models only; else None
    hub_values : int64 [n]   hub sampling only: each latent's value within its pool; else None
    w_tail : float32 [n, w_dim] or None   truncation with a cutoff only: the untruncated w of the
                             layers from the cutoff on
    """

    z: np.ndarray
    w: np.ndarray | None = None
    labels: np.ndarray | None = None
    hub_values: np.ndarray | None = None
    w_tail: np.ndarray | None = None

    def rows(self, start: int, stop: int) -> "Latents":
        """Latents start..stop-1 (every field that is set, sliced alike)."""
        z, w, labels, hubs, tail = (None if f is None else f[start:stop] for f in self)
        assert z is not None
        return Latents(z, w, labels, hubs, tail)


class Samples(NamedTuple):
    """What ``sample`` returns.

    images : torch tensor [n, C, H, W] on the CPU (float in about [-1, 1], or uint8), or None
        when the images were streamed to a folder
    z, w, labels, hub_values : as in :class:`Latents`
    outdir : the folder written to, or None
    """

    images: Any
    z: np.ndarray
    w: np.ndarray | None
    labels: np.ndarray | None
    hub_values: np.ndarray | None
    outdir: Path | None = None


def save_latents(path: str | Path, latents: Latents, truncation: float | None = None) -> None:
    """latents.npz: z (N, z_dim); w (N, w_dim) in W space; w_tail (N, w_dim), the untruncated w of
    the layers from ``truncation_cutoff`` on, when there is a cutoff; labels (N,) for conditional
    models; hub_values (N,) for hub sampling; truncation (a scalar) for BigGAN, the value its G
    was called with (``G(z, one_hot(labels), truncation)`` renders the images again). Written whole
    or not at all (:func:`~hubness_fast._inputs.atomic_write`); ``.npz`` is appended to another name,
    as numpy does."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {"z": latents.z}
    for name in ("w", "w_tail", "labels", "hub_values"):
        if getattr(latents, name) is not None:
            arrays[name] = getattr(latents, name)
    if truncation is not None:
        arrays["truncation"] = np.float64(truncation)  # type: ignore[assignment]
    atomic_write(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]  # numpy's stub: **kwds as a flag
