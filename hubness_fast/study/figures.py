"""The study's figures, drawn from its data (:mod:`hubness_fast.study.run` computes it): the
precision-recall curves, hub value against quality, the hub-value histogram, the distance to the
mean of the sampled latents, and image grids. Each writes one PNG (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import atomic_write
from .._torch import to_uint8
from ..sampling.images import grid

if TYPE_CHECKING:
    import torch


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path, dpi: int = 120) -> None:
    """The figure as a PNG at ``path``, replaced whole or not at all."""
    try:
        fig.tight_layout()
        atomic_write(path, lambda f: fig.savefig(f, dpi=dpi, format="png"))
    finally:
        plt.close(fig)


def pr_curve(path: Path, hub_pts: list[dict[str, float]], trunc_pts: list[dict[str, float]],
             random_row: dict[str, dict[str, float]], hub_space: str) -> None:
    """Hubs (top fraction swept) against truncation (psi swept), random as a point with its spread."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot([p["precision"] for p in hub_pts], [p["recall"] for p in hub_pts], "o-",
            label=f"hubs in {hub_space.upper()} (top fraction)")
    for i, p in enumerate(hub_pts):  # hub labels above-left, truncation labels below-right, alternating
        ax.annotate(f"{p['top']:g}", (p["precision"], p["recall"]), fontsize=7, color="C0",
                    textcoords="offset points", xytext=(-14, 5 + 6 * (i % 2)), ha="right")
    ax.plot([p["precision"] for p in trunc_pts], [p["recall"] for p in trunc_pts], "s-", label="truncation (psi)")
    for i, p in enumerate(trunc_pts):
        ax.annotate(f"{p['psi']:g}", (p["precision"], p["recall"]), fontsize=7, color="C1",
                    textcoords="offset points", xytext=(6, -10 - 6 * (i % 2)), ha="left")
    ax.errorbar(random_row["precision"]["mean"], random_row["recall"]["mean"], xerr=random_row["precision"]["std"],
                yerr=random_row["recall"]["std"], fmt="k*", label="random")
    ax.set_xlabel("precision (k = 3)")
    ax.set_ylabel("recall (k = 3)")
    ax.legend()
    _save(plt, fig, path)


def hub_vs_quality(path: Path, values: np.ndarray, scores: dict[str, np.ndarray], deciles: dict[str, dict[str, Any]],
                   k: int, hub_space: str, pool_size: int) -> None:
    """One panel per score: each latent of the probe pool, and the mean per decile of hub value."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(scores), figsize=(5.5 * len(scores), 4), squeeze=False)
    for ax, (label, sc) in zip(axes[0], scores.items()):
        ax.scatter(values, sc, s=2, alpha=0.25)
        d = deciles[label]
        ax.errorbar(d["hub_value"], d["mean"], yerr=d["sem"], fmt="r-o", label="mean per decile of hub value")
        ax.set_xlabel(f"hub value N_{k} ({hub_space.upper()}, pool of {pool_size})")
        ax.set_ylabel("log realism score" if label == "realism score" else label)
        rho = d["spearman"]
        ax.set_title("Spearman rho undefined (a constant score)" if rho is None else f"Spearman rho {rho:+.3f}")
        ax.legend(fontsize=8)
    _save(plt, fig, path)


def hub_histogram(path: Path, values: np.ndarray, threshold: int, k: int, pool_size: int) -> None:
    """The probe pool's hub values (log counts) and the threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values, bins=(np.arange(values.max() + 2) - 0.5).tolist(), log=True)
    ax.axvline(threshold - 0.5, color="r", label=f"t = {threshold}")
    ax.set_xlabel(f"hub value N_{k} (pool of {pool_size})")
    ax.set_ylabel("latents")
    ax.legend()
    _save(plt, fig, path)


def distance_to_mean(path: Path, dists: dict[str, np.ndarray], hub_space: str) -> None:
    """Per method, the distances of its latents to the mean of all sampled latents."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, d in dists.items():
        ax.hist(d, bins=50, alpha=0.5, density=True, label=m)
    ax.set_xlabel(f"distance to the mean of all sampled latents ({hub_space.upper()})")
    ax.set_ylabel("density")
    ax.legend()
    _save(plt, fig, path)


def image_grid(path: Path, images: torch.Tensor, title: str, scale: int) -> None:
    """Images ([-1, 1] floats) tiled in a grid, at ``scale`` pixels per pixel."""
    plt = _pyplot()
    u8 = to_uint8(images).permute(0, 2, 3, 1).numpy()
    tiles = grid(u8, pad=1)
    fig, ax = plt.subplots(figsize=(tiles.shape[1] * scale / 100, tiles.shape[0] * scale / 100 + 0.4))
    ax.imshow(tiles[:, :, 0] if tiles.shape[2] == 1 else tiles, cmap="gray", interpolation="nearest", vmin=0, vmax=255)
    ax.set_title(title)
    ax.axis("off")
    _save(plt, fig, path, dpi=100)
