"""The one-call entry points: :func:`sample` (a generator's images by method name, or from a mined
bank) and :func:`make_sampler` (the sampler of a method, its settings checked against the method).

    from hubness_fast.sampling import sample
    out = sample(G, 1000, method="hubs")
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from .._inputs import check_choice, check_flag, check_int
from .._torch import BATCH_SIZE
from .._types import Device
from .generators import as_generator, detect_family
from .latents import Samples
from .samplers import HubnessSampler, LatentSampler, RandomSampler, TruncationSampler


METHODS = ("hubs", "random", "truncation")
SAMPLER_SETTINGS = ("k", "threshold", "top", "pool_size", "include_self", "max_pools", "psi", "truncation_cutoff",
                    "hub_device", "prior")  # what sample() passes on to make_sampler
SAMPLE_ARGUMENTS = ("space", "classes", "batch_size", "output", "outdir", "device", "seed", "progress", "family",
                    "generator_options", "z_dim", "latent_dim")


def _latent_size(settings: dict[str, Any], options: dict[str, Any]) -> int | None:
    """sample()'s z_dim= / latent_dim= (taken out of ``settings``), agreeing with generator_options' z_dim."""
    given: dict[str, Any] = {name: settings.pop(name) for name in ("z_dim", "latent_dim") if name in settings}
    if "z_dim" in options:
        given["generator_options['z_dim']"] = options["z_dim"]
    values = {check_int(v, name) for name, v in given.items()}
    if len(values) > 1:
        raise ValueError(f"the latent size is given twice with different values: {given}")
    return values.pop() if values else None


METHOD_SETTINGS = {"hubs": ("k", "threshold", "top", "pool_size", "include_self", "max_pools", "hub_device"),
                   "truncation": ("psi", "truncation_cutoff"), "random": ()}


def make_sampler(method: str = "hubs", *, space: str | None = None, seed: int | None = 0, k: int | None = None,
                 threshold: float | None = None, top: float | None = None, pool_size: int | None = None,
                 include_self: bool | None = None, max_pools: int | None = None, psi: float | None = None,
                 truncation_cutoff: int | None = None, hub_device: Device | None = None, prior: Any = None,
                 progress: bool = False, latent_dim: int | None = None) -> LatentSampler:
    """The sampler for ``method`` ("hubs", "random", "truncation") with the given settings; a
    setting left None takes the method's default (k=5, threshold=50, pool_size=10_000,
    include_self=False, max_pools=10_000, hub_device="auto"; psi=0.7), and one given for another
    method is refused."""
    check_choice(method, METHODS, "method")
    given = {"k": k, "threshold": threshold, "top": top, "pool_size": pool_size, "include_self": include_self,
             "max_pools": max_pools, "hub_device": hub_device, "psi": psi, "truncation_cutoff": truncation_cutoff}
    for name, value in given.items():
        if value is not None and name not in METHOD_SETTINGS[method]:
            owner = next(m for m, names in METHOD_SETTINGS.items() if name in names)
            raise ValueError(f"{name}= applies to method='{owner}'; this call samples with method='{method}'")
    if method == "hubs":
        return HubnessSampler(latent_dim, k=5 if k is None else k, threshold=50 if threshold is None else threshold,
                              top=top, pool_size=10_000 if pool_size is None else pool_size,
                              include_self=False if include_self is None else check_flag(include_self, "include_self"),
                              device="auto" if hub_device is None else hub_device,
                              max_pools=10_000 if max_pools is None else max_pools, seed=seed, progress=progress,
                              space=space, prior=prior)
    if method == "random":
        return RandomSampler(latent_dim, seed=seed, space=space, prior=prior, progress=progress)
    return TruncationSampler(latent_dim, psi=0.7 if psi is None else psi, seed=seed,
                             truncation_cutoff=truncation_cutoff, space=space, prior=prior, progress=progress)


def sample(G: Any, n: int, method: str = "hubs", *, space: str | None = None, classes: Any = None,
           batch_size: int = BATCH_SIZE, output: str = "float", outdir: str | Path | None = None, device: Any = None,
           seed: int | None = 0, progress: bool = True, family: str | None = None,
           generator_options: dict[str, Any] | None = None, bank: Any = None, **settings: Any) -> Samples:
    """Sample n images from G with the hubness prior (or a baseline): the one-call entry point.

    G : a StyleGAN2-ADA / StyleGAN3 network (``G_ema``), a BigGAN, any G(z), or a
        :class:`~hubness_fast.generators.GeneratorAdapter`.
    method : "hubs" (default), "random" or "truncation".
    space : "w" or "z"; default the family's ("w" for StyleGAN: hubs on ws[:, 0]).
    settings : the sampler's (k=5, threshold=50, top, pool_size=10_000,
        include_self, max_pools=10_000, psi=0.7, truncation_cutoff, hub_device, prior); see
        :func:`make_sampler`.
    family, generator_options : passed to :func:`~hubness_fast.generators.as_generator`
        (e.g. ``{"noise_mode": "random"}``, ``{"truncation": 0.5}``, ``{"z_dim": 128}``).
        ``z_dim=`` (or its other spelling ``latent_dim=``) may also be given directly: the
        latent size of a plain G(z), checked against G's own where G has one.
    bank : a mined bank (:func:`hubness_fast.sampling.bank.open_bank`): its next n unused latents
        are rendered instead of drawing pools (method and settings do not apply).
    Other arguments as :meth:`LatentSampler.sample`. Returns :class:`Samples`.
    """
    if bank is not None:
        if not callable(getattr(bank, "sampler", None)):
            raise ValueError(f"bank= takes an opened bank, bank=open_bank({str(bank)!r}) "
                             f"(hubness_fast.sampling.mining), or call sample_bank(G, {str(bank)!r}, n)")
        if settings or method != "hubs" or space is not None or seed != 0:
            raise ValueError("bank= renders mined latents: method, space, seed and sampler settings do not apply "
                             "(the bank fixed them when it was mined)")
        return bank.sampler().sample(G, n, batch_size, classes=classes, output=output, outdir=outdir, device=device,
                                     progress=progress)
    options = dict(generator_options or {})
    latent_dim = _latent_size(settings, options)
    known = getattr(G, "z_dim", getattr(G, "latent_dim", None))
    if latent_dim is not None and known is not None and int(known) != latent_dim:
        raise ValueError(f"latent_dim={latent_dim} disagrees with the generator's z_dim={known}")
    if latent_dim is not None and "z_dim" not in options and (family or detect_family(G)) == "callable":
        options["z_dim"] = latent_dim
    unknown = sorted(set(settings) - set(SAMPLER_SETTINGS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], SAMPLER_SETTINGS + SAMPLE_ARGUMENTS, n=1)
        hint = f" (did you mean {close[0]}=?)" if close else ""
        raise TypeError(f"sample() got an unexpected keyword argument {unknown[0]!r}{hint}; its settings are "
                        f"{', '.join(SAMPLER_SETTINGS)}")
    gen = as_generator(G, family, **options)
    sampler = make_sampler(method, space=space or gen.default_space, seed=seed, progress=progress,
                           latent_dim=latent_dim, **settings)
    return sampler.sample(gen, n, batch_size, classes=classes, output=output, outdir=outdir, device=device)
