"""A generator's samples as an image source for the evaluation layer's ``features()``: the
sampler chooses the n latents (numpy, small), then each batch is rendered, handed over and
dropped, so memory holds one batch of images, never n."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._inputs import check_int
from .._torch import check_image_shape
from ..evaluation.features import ImageSource, images_to_uint8
from .generators import as_generator
from .render import render
from .samplers import LatentSampler, RandomSampler

if TYPE_CHECKING:
    import torch


class GeneratorImages(ImageSource):
    """n images of ``G`` (anything :func:`~hubness_fast.generators.as_generator` takes, or a plain
    ``G(z)``) with latents from ``sampler`` (default ``RandomSampler(space=<the family's>,
    seed=0)``, the generator's prior); ``classes`` for conditional models, as in
    ``LatentSampler.latents``. A sampler draws from its own random generator: a second source
    with the same sampler object gets new latents, once the first was rendered in full (one cut
    off hands its latents out again: :meth:`LatentSampler.release`)."""

    def __init__(self, G: Any, n: int | None, sampler: LatentSampler | None = None, classes: Any = None) -> None:
        if n is None:
            raise ValueError("a generator source needs n= (how many images to render)")
        self.n = check_int(n, "n")
        if sampler is not None and not isinstance(sampler, LatentSampler):
            raise ValueError(f"sampler must be a sampler of hubness_fast.sampling (RandomSampler, HubnessSampler, "
                             f"TruncationSampler...), got {type(sampler).__name__}")
        self.gen = sampler.adapter(G) if sampler is not None else as_generator(G)
        self.sampler = sampler if sampler is not None else RandomSampler(space=self.gen.default_space, seed=0)
        self.classes = classes

    def batches(self, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        return self.batches_from(0, batch_size, device)

    def batches_from(self, start: int, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        """All n latents are drawn (the same n as a run from 0: the sampler's draws do not depend on
        where rendering starts); the images start.. are rendered."""
        latents = self.sampler.latents(self.gen, self.n, self.classes)
        cutoff = getattr(self.sampler, "cutoff", None)  # TruncationSampler's truncation_cutoff
        try:
            for s in range(start, self.n, batch_size):
                part = latents.rows(s, s + batch_size)
                images = render(self.gen, part, self.sampler.space, batch_size=batch_size, truncation_cutoff=cutoff)
                check_image_shape(tuple(int(d) for d in images.shape), "the generator's images")
                yield images_to_uint8(images, s).to(device)  # converted where rendered, as NVIDIA's code does
        except BaseException:  # an error, Ctrl-C, or a consumer that stopped early (GeneratorExit)
            self.sampler.release()
            raise
        self.sampler.commit()  # every latent rendered (a bank's rows count as used only now)

    def digest(self) -> None:
        return None  # a network and a sampler have no content hash: the caller names them with cache_key=
