"""The end-to-end demo: the paper's study on the bundled StyleGAN-shaped MNIST model.

The generator (hubness_fast.models.mnist, NVIDIA's interface, W 128-d) goes
through the same adapter as a real StyleGAN pickle. Hubs in W (the notebook's
setting: ws[:, 0], k = 5, pool 10 000, t = 50), hubs in Z, random and the
truncation trick in W (psi 0.7 and 0.3), 500 images each, are scored against
the 1 000 held-out MNIST digits in the bundled LeNet's feature space, over 5
seeds, with the precision-recall curves and the poster's two figures
(:func:`hubness_fast.study.run_study`). Run with `make demo` or `hubness-fast demo`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_demo(out_dir: str | Path = "demo_out", n: int = 500, seeds: int = 5, pool_size: int = 10_000, k: int = 5,
             threshold: int = 50, include_self: bool = False, curve_tops: Sequence[float] | None = None,
             curve_psis: Sequence[float] | None = None, seed: int = 0, verbose: bool = True,
             progress: bool = True) -> dict[str, Any]:
    """Run the study on the bundled model; returns the report written to ``out_dir/table.json``.

    The detector is the bundled LeNet (:class:`~hubness_fast.models.mnist.MnistDetector`),
    given uint8 images as NVIDIA's detectors are; the real side is the held-out digits."""
    from .run import CURVE_PSIS, CURVE_TOPS, check_settings, check_study_folder, run_study

    check_settings(n, seeds, seed)  # before the models load (run_study checks them again)
    check_study_folder(out_dir)
    from ..models.mnist import MnistDetector, held_out_features, load_mnist_generator

    G, detector = load_mnist_generator(), MnistDetector()
    real = held_out_features(detector)
    if verbose:
        print(f"Bundled StyleGAN-shaped MNIST generator (W {G.w_dim}-d); {n} images per method and seed, "
              f"{seeds} seeds; real: {len(real)} held-out digits in the LeNet's {real.shape[1]}-d feature space")
    return run_study(G, detector, real, out_dir, n=n, seeds=seeds, seed=seed, k=k, threshold=threshold,
                     pool_size=pool_size, include_self=include_self, quality=detector.confidence,
                     quality_label="classifier confidence",
                     curve_tops=curve_tops or CURVE_TOPS, curve_psis=curve_psis or CURVE_PSIS, verbose=verbose,
                     progress=progress)
