"""Features of images, a folder or a generator's samples: the evaluation layer's ``features()``
(:mod:`hubness_fast.evaluation.features`) with the sampling layer's generator source
(:class:`hubness_fast.sampling.GeneratorImages`) joined under one call.

    real = features("data/ffhq", "inception-2015-12-05.pt")
    fake = features(G, "inception-2015-12-05.pt", n=50_000, sampler=HubnessSampler(space="w", seed=0))
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .evaluation.features import (IMAGE_SUFFIXES, DetectorError, Extractor, ImageSource, NotCachedWarning,
                                  TorchScriptDetector, as_extractor, image_files, is_images)
from .evaluation.features import features as _image_features
from .sampling.samplers import LatentSampler
from .sampling.sources import GeneratorImages

__all__ = ["features", "as_extractor", "TorchScriptDetector", "DetectorError", "NotCachedWarning", "ImageSource",
           "GeneratorImages", "IMAGE_SUFFIXES", "image_files"]


def features(source: Any, extractor: Extractor, *, n: int | None = None, sampler: LatentSampler | None = None,
             classes: Any = None, **options: Any) -> np.ndarray:
    """Features [N, F] of images [N, C, H, W], a folder, an ImageSource, or a generator ``G``
    with ``n=`` images (latents from ``sampler``, default the prior; ``classes`` for conditional
    models). ``options``: batch_size, device, progress, cache_dir, cache_key, as
    :func:`hubness_fast.evaluation.features.features` documents them."""
    if isinstance(source, (list, tuple)):
        raise ValueError(f"source must be images [N, C, H, W] (one array or tensor: np.stack or torch.stack the "
                         f"{type(source).__name__} first), a folder, an ImageSource, or a generator with n=; got a "
                         f"{type(source).__name__} of {len(source)}")
    if is_images(source):
        if n is not None or sampler is not None or classes is not None:
            raise ValueError("n=, sampler= and classes= apply to a generator source, not to images or a folder")
    else:
        source = GeneratorImages(source, n, sampler, classes)
    return _image_features(source, extractor, **options)
