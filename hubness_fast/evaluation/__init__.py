"""Evaluation of generative models on the engine: the fitted reference (:class:`Manifold`) and its
k-NN metrics, Frechet distance, image features with NVIDIA's detectors, instance selection and
the one-call scorecard behind ``hubness-fast eval``. Imports the engine and the shared helpers."""
from . import manifold, metrics, selection
from .manifold import Manifold

__all__ = ["Manifold", "manifold", "metrics", "selection"]
