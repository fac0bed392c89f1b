"""GAN latent sampling with the hubness prior: adapters for the generator families, network
loading, the samplers and rendering, PNG folders, and a generator's samples as an image source.
Imports the engine, the shared helpers and (for :class:`GeneratorImages` only) the evaluation
layer's public ``ImageSource``: a generator's images are one more source of features.

    from hubness_fast.sampling import sample
    out = sample(G, 1000, method="hubs")
"""
from . import generators, images, networks
from .generators import GeneratorAdapter, as_generator, detect_family
from .latents import Latents, Samples, save_latents
from .methods import make_sampler, sample
from .render import render
from .samplers import HubnessSampler, LatentSampler, RandomSampler, TruncationSampler, resolve_labels
from .sources import GeneratorImages

__all__ = ["sample", "make_sampler", "render", "save_latents", "resolve_labels", "HubnessSampler", "RandomSampler",
           "TruncationSampler", "LatentSampler", "Latents", "Samples", "GeneratorImages", "GeneratorAdapter",
           "as_generator", "detect_family", "generators", "images", "networks"]
