"""A compact DCGAN-style generator and a small classifier for scikit-learn's
8x8 digits (1 797 images), the stand-ins for StyleGAN and Inception that the
demo runs on. Weights live next to this file; train_digits.py rebuilds them.

Images are 1 x 8 x 8 in [-1, 1] (pixel / 8 - 1). The classifier's 64-d
penultimate layer is the feature space for FID / precision / recall, the way
LeNet features stand in for Inception on MNIST.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._torch import torch as _torch

if TYPE_CHECKING:
    import torch
    from torch import Tensor

HERE = Path(__file__).resolve().parent
GENERATOR_WEIGHTS = HERE / "digits_generator.pt"
CLASSIFIER_WEIGHTS = HERE / "digits_classifier.pt"
LATENT_DIM = 64


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """(images float32 [1797, 1, 8, 8] in [-1, 1], labels int64 [1797])."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images.astype(np.float32) / 8.0 - 1.0)[:, None], d.target.astype(np.int64)


def _build() -> tuple[type[torch.nn.Module], type[torch.nn.Module], type[torch.nn.Module]]:
    torch = _torch()
    nn = torch.nn

    class DigitsGenerator(nn.Module):  # type: ignore[name-defined]  # nn: torch.nn, imported on first use
        """z [B, 64] ~ N(0, I) -> image [B, 1, 8, 8] in [-1, 1]."""

        def __init__(self, latent_dim: int = LATENT_DIM) -> None:
            super().__init__()
            self.latent_dim = latent_dim
            self.fc = nn.Sequential(nn.Linear(latent_dim, 128 * 2 * 2), nn.BatchNorm1d(512), nn.ReLU())
            self.net = nn.Sequential(
                nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),  # 2x2 -> 4x4
                nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),                         # 4x4 -> 8x8
            )

        def forward(self, z: Tensor) -> Tensor:
            return self.net(self.fc(z).view(-1, 128, 2, 2))

    class DigitsDiscriminator(nn.Module):  # type: ignore[name-defined]  # nn: torch.nn, imported on first use
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),                        # 8x8 -> 4x4
                nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),  # 4x4 -> 2x2
                nn.Flatten(), nn.Linear(128 * 2 * 2, 1),
            )

        def forward(self, x: Tensor) -> Tensor:
            return self.net(x).squeeze(1)

    class DigitsClassifier(nn.Module):  # type: ignore[name-defined]  # nn: torch.nn, imported on first use
        """image -> logits [B, 10]; features() gives the 64-d penultimate layer."""

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8 -> 4x4
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
                nn.Flatten(), nn.Linear(256, 64), nn.ReLU(),
            )
            self.head = nn.Linear(64, 10)

        def features(self, x: Tensor) -> Tensor:
            return self.body(x)

        def forward(self, x: Tensor) -> Tensor:
            return self.head(self.body(x))

    return DigitsGenerator, DigitsDiscriminator, DigitsClassifier


_NAMES = ("DigitsGenerator", "DigitsDiscriminator", "DigitsClassifier")
_CLASSES: tuple[type[torch.nn.Module], type[torch.nn.Module], type[torch.nn.Module]] | None = None


def model_classes() -> tuple[type[torch.nn.Module], type[torch.nn.Module], type[torch.nn.Module]]:
    """(DigitsGenerator, DigitsDiscriminator, DigitsClassifier), built on first use (they need torch)."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _build()
    return _CLASSES


# the classes are built on first use, so importing this module needs no torch
def __getattr__(name: str) -> type[torch.nn.Module]:
    if name in _NAMES:
        return model_classes()[_NAMES.index(name)]
    raise AttributeError(name)


def load_generator(path: str | Path = GENERATOR_WEIGHTS) -> torch.nn.Module:
    """The bundled generator in eval mode (CPU)."""
    torch = _torch()
    g = model_classes()[0]()
    g.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return g.eval()


def load_classifier(path: str | Path = CLASSIFIER_WEIGHTS) -> torch.nn.Module:
    """The bundled digits classifier in eval mode (CPU)."""
    torch = _torch()
    c = model_classes()[2]()
    c.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return c.eval()
