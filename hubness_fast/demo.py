"""The end-to-end demo: hub sampling on the bundled digits GAN.

Samples with the hubness prior, at random and with the truncation trick
(psi = 0.3 and 0.7), evaluates each in the bundled classifier's feature space
(Frechet distance, precision, recall, density, coverage against the 1 797
real digits) and writes to the output folder: an image grid per method, a
histogram of hub values, and hub value against per-sample quality (the
classifier's confidence). Run with `make demo` or `hubness-fast demo`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import metrics
from .models import LATENT_DIM, load_classifier, load_digits_images, load_generator
from .sampling import HubnessSampler, RandomSampler, TruncationSampler


def _features(clf, images, batch=1024):
    import torch

    with torch.no_grad():
        return np.concatenate([clf.features(images[s:s + batch]).numpy() for s in range(0, len(images), batch)])


def _confidence(clf, images):
    import torch

    with torch.no_grad():
        return torch.softmax(clf(images), 1).max(1).values.numpy()


def _save_grid(images, path, rows=10):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = images[: rows * rows, 0].numpy()
    grid = np.ones((rows * 9 + 1, rows * 9 + 1))
    for i, im in enumerate(imgs):
        r, c = divmod(i, rows)
        grid[1 + r * 9:1 + r * 9 + 8, 1 + c * 9:1 + c * 9 + 8] = (im + 1) / 2
    plt.imsave(path, grid, cmap="gray_r", vmin=0, vmax=1)


def run_demo(out_dir="demo_out", n=2000, pool_size=10_000, k=5, threshold=50, top=None, seed=0, verbose=True):
    """Run the demo; returns the table as {method: {metric: value}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    G, clf = load_generator(), load_classifier()
    real_images, _ = load_digits_images()
    real = _features(clf, torch.from_numpy(real_images))

    hubs = HubnessSampler(LATENT_DIM, k=k, threshold=threshold, top=top, pool_size=pool_size, seed=seed)
    samplers = {
        "hubs": hubs,
        "random": RandomSampler(LATENT_DIM, seed=seed + 1),
        "truncation 0.7": TruncationSampler(LATENT_DIM, psi=0.7, seed=seed + 2),
        "truncation 0.3": TruncationSampler(LATENT_DIM, psi=0.3, seed=seed + 3),
    }
    table = {}
    for name, sampler in samplers.items():
        t0 = time.perf_counter()
        images = sampler.sample(G, n).images
        feats = _features(clf, images)
        p, r = metrics.precision_recall(real, feats, k=3)
        d, c = metrics.density_coverage(real, feats, k=5)
        table[name] = {"FD": metrics.frechet_distance(real, feats), "precision": p, "recall": r,
                       "density": d, "coverage": c, "seconds": time.perf_counter() - t0}
        _save_grid(images, out / f"grid_{name.replace(' ', '_')}.png")
    table["hubs"]["acceptance_rate"] = hubs.stats["acceptance_rate"]

    # One pool: hub values, and hub value against the quality of each latent's image.
    pool = hubs.draw_pool()[1]
    values = hubs.hub_values(pool)
    with torch.no_grad():
        quality = _confidence(clf, G(torch.from_numpy(pool)))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values, bins=np.arange(values.max() + 2) - 0.5, log=True)
    ax.set_xlabel(f"hub value N_{k} (pool of {pool_size})")
    ax.set_ylabel("latents")
    fig.tight_layout()
    fig.savefig(out / "hub_histogram.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(values, quality, s=2, alpha=0.3)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    centers = [values[bins == b].mean() for b in range(len(edges) - 1) if np.any(bins == b)]
    means = [quality[bins == b].mean() for b in range(len(edges) - 1) if np.any(bins == b)]
    ax.plot(centers, means, "r-o", label="mean per decile of hub value")
    ax.set_xlabel(f"hub value N_{k}")
    ax.set_ylabel("classifier confidence of the generated digit")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "hub_vs_quality.png", dpi=120)
    plt.close(fig)
    corr = float(np.corrcoef(values, quality)[0, 1])
    table["hubs"]["corr_hub_quality"] = corr
    (out / "table.json").write_text(json.dumps(table, indent=2))
    if verbose:
        rule = f"top {top:.0%}" if top else f"N_{k} >= {threshold}"
        print(f"Bundled digits GAN, {n} samples per method; hubs: {rule} in pools of {pool_size} "
              f"(acceptance {hubs.stats['acceptance_rate']:.2%})")
        print(f"{'method':<16}{'FD':>8}{'precision':>11}{'recall':>8}{'density':>9}{'coverage':>10}")
        for name, row in table.items():
            print(f"{name:<16}{row['FD']:>8.2f}{row['precision']:>11.3f}{row['recall']:>8.3f}"
                  f"{row['density']:>9.3f}{row['coverage']:>10.3f}")
        print(f"correlation of hub value with classifier confidence over one pool: {corr:+.3f}")
        print(f"wrote {out}/ (grids, hub_histogram.png, hub_vs_quality.png, table.json)")
    return table
