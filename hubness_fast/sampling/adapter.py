"""The interface between the samplers and a generator, and what every adapter shares.

:class:`GeneratorAdapter` is all a sampler asks of a model: draw latents from its prior, map them
to W, render them, move the model. The families people bring have adapters of their own
(:mod:`.generators` for NVIDIA's, BigGAN's, the GAN zoo's and rosinality's networks,
:mod:`.callables` for any ``G(z)``); two more here serve samplers that draw latents without a
whole generator: :class:`MappingAdapter` (a mapping alone, the ``mapping=`` argument) and
:class:`PriorAdapter` (a prior of a given size). Also here: the priors (:func:`draw_prior`), the
device and dtype of a model, torch's wrappers taken off (:func:`unwrap`), and the images of one
generator call (:func:`image_batch`).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._torch import evaluating, networks_of
from .._torch import torch as _torch
from .._types import Array

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

__all__ = ["GeneratorAdapter", "MappingAdapter", "PriorAdapter", "draw_prior", "image_batch", "unwrap",
           "module_device", "module_dtype", "PRIORS"]

PRIORS = ("normal", "truncnorm")


def draw_prior(prior: str | Callable[..., Any], rng: np.random.Generator, n: int, dim: int,
               scale: float = 1.0) -> np.ndarray:
    """n latents float32 [n, dim] from ``prior``: "normal" (N(0, I)), "truncnorm"
    (N(0, I) truncated to [-2, 2] per coordinate, BigGAN's prior), or a callable
    ``prior(rng, n, dim)``; multiplied by ``scale``."""
    if callable(prior):
        z = np.asarray(prior(rng, n, dim), dtype=np.float32)
        if z.shape != (n, dim):
            raise ValueError(f"the prior returned shape {z.shape}, expected ({n}, {dim})")
    elif prior == "normal":
        z = rng.standard_normal((n, dim), dtype=np.float32)
    elif prior == "truncnorm":
        z = rng.standard_normal((n, dim), dtype=np.float32)
        bad = np.abs(z) > 2
        while bad.any():  # redraw the coordinates outside [-2, 2]: exactly the truncated normal
            z[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32)
            bad = np.abs(z) > 2
    else:
        raise ValueError(f"prior must be one of {PRIORS} or a callable (rng, n, dim) -> array, got {prior!r}")
    return z * np.float32(scale) if scale != 1 else z


def _tensors_of(obj: Any) -> Iterator[Any]:
    """The parameters, then the buffers, of a module (or of a bound method's module, or of the modules
    a function or lambda such as ``lambda z: 2 * G(z) - 1`` closes over: :func:`networks_of`)."""
    owner = getattr(obj, "__self__", obj)
    modules = [owner] if callable(getattr(owner, "parameters", None)) else networks_of(obj)
    for module in modules:
        for attr in ("parameters", "buffers"):
            fn = getattr(module, attr, None)
            if callable(fn):
                yield from fn()


def module_device(obj: Any) -> torch.device:
    """The device of a module's (or a bound method's module's) first parameter or buffer; CPU otherwise."""
    for p in _tensors_of(obj):
        return p.device
    return _torch().device("cpu")


def module_dtype(obj: Any) -> torch.dtype:
    """The dtype of a module's (or a bound method's module's) first floating parameter or buffer;
    float32 otherwise."""
    for p in _tensors_of(obj):
        if p.is_floating_point():
            return p.dtype
    return _torch().float32


WRAPPERS = ("DataParallel", "DistributedDataParallel")  # torch's wrappers that hide a network's attributes


def unwrap(G: Any) -> Any:
    """The network inside torch's ``DataParallel`` / ``DistributedDataParallel`` (they do not
    pass on attributes such as ``mapping`` or ``z_dim``); anything else as it is."""
    while type(G).__name__ in WRAPPERS and hasattr(G, "module"):
        G = G.module
    return G


IMAGE_KEYS = ("img", "image", "images")  # the entry taken from a generator's dict output


def image_batch(out: Any) -> torch.Tensor:
    """The images of one generator call: the tensor itself, the first tensor of a tuple or list
    (rosinality's ``(img, latents)``), or the one tensor of a dict (its "img" / "image" /
    "images" entry when it holds several)."""
    if hasattr(out, "detach"):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            if hasattr(item, "detach"):
                return item
        raise ValueError(f"the generator returned a {type(out).__name__} without a tensor in it; it must return "
                         f"images [N, C, H, W]")
    if isinstance(out, dict):
        tensors = {key: v for key, v in out.items() if hasattr(v, "detach")}
        named = [key for key in IMAGE_KEYS if key in tensors]
        if len(tensors) == 1 or named:
            return tensors[named[0]] if named else next(iter(tensors.values()))
        raise ValueError(f"the generator returned a dict with entries {sorted(map(str, out))}: cannot tell which "
                         f"holds the images; wrap it, e.g. lambda z: G(z)[KEY]")
    raise ValueError(f"the generator returned a {type(out).__name__}; it must return images [N, C, H, W] as a "
                     f"torch tensor")


class GeneratorAdapter:
    """What a sampler needs from a generator. Subclass it for a family not covered here.

    Attributes
    ----------
    family : str            a name for messages ("stylegan", "biggan", "callable")
    z_dim : int             latent size the prior draws
    c_dim : int             number of classes (0: unconditional)
    w_dim : int or None     size of the intermediate space W (None: no W)
    num_ws : int or None    layers of the ws ``map`` returns and ``render_w`` takes (W families)
    default_space : str     "w" or "z": where hubs are counted unless told
    device                  the torch device the model runs on

    Methods
    -------
    draw(rng, n, prior=None) -> float32 numpy [n, z_dim] from the family's prior (or ``prior``);
                            inherited: override it only for a prior of the family's own
    map(z, c)               -> ws tensor [n, num_ws, w_dim] (W families only)
    render_w(ws, c)         -> images [n, C, H, W] from ws (W families only)
    render_z(z, c)          -> images [n, C, H, W] from z
    to(device)              moves the model (the sampler's ``device=``)
    w_avg()                 -> tensor [w_dim], the tracked mean of W (W families only)

    ``z`` and ``ws`` are float32 tensors on ``device``; ``c`` is None for
    unconditional models, else a one-hot float32 tensor [n, c_dim]. The adapters
    below hand them to the model in its own floating dtype (:meth:`cast`: a model
    in half precision or float64 gets its latents so).
    """

    family = "custom"
    z_dim: int
    c_dim: int = 0
    w_dim: int | None = None
    num_ws: int | None = None
    default_space = "z"
    prior: str | Callable[..., Any] = "normal"
    prior_scale = 1.0
    module: Any = None
    truncated_by_trick = False  # set on the adapter truncation_trick returns

    @property
    def spaces(self) -> tuple[str, ...]:
        return ("z", "w") if self.w_dim else ("z",)

    @property
    def device(self) -> torch.device:
        return module_device(self.module) if self.module is not None else _torch().device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The model's floating dtype (its first floating parameter's; float32 without one)."""
        return module_dtype(self.module) if self.module is not None else _torch().float32

    def cast(self, x: Any) -> Any:
        """A floating tensor (latents, ws, one-hot labels) in the model's dtype; anything else as it is."""
        if x is None or not hasattr(x, "is_floating_point") or not x.is_floating_point():
            return x
        dtype = self.dtype
        return x if x.dtype == dtype else x.to(dtype)

    def to(self, device: Any) -> None:
        """Move the model to ``device`` ("cpu", "cuda", ...): a function's or lambda's networks too."""
        if self.module is None:
            return
        for module in [self.module] if hasattr(self.module, "to") else networks_of(self.module):
            module.to(device)

    def draw(self, rng: np.random.Generator, n: int, prior: str | Callable[..., Any] | None = None) -> np.ndarray:
        """n latents from the family's prior, or from ``prior`` when given; either way times the
        family's ``prior_scale`` (BigGAN's truncation), which belongs to the model, not the prior."""
        return draw_prior(self.prior if prior is None else prior, rng, n, self.z_dim, self.prior_scale)

    def truncation_trick(self, psi: float) -> GeneratorAdapter | None:
        """The adapter that renders this model truncated at ``psi`` by the family's own rule, for a
        family whose truncation is not a move of the latents toward their mean (BigGAN's scales the
        prior and goes to G as well); None: the sampler's x' = avg + psi (x - avg) applies."""
        return None

    def truncate(self, avg: np.ndarray, x: np.ndarray, psi: float) -> np.ndarray:
        """The truncation trick's avg + psi (x - avg) on float32 rows, rounded as the family's own code
        rounds it: torch's ``lerp``, NVIDIA's ``w_avg.lerp(x, psi)`` (numpy's formula without torch)."""
        try:
            import torch
        except ImportError:
            return (avg + np.float32(psi) * (x - avg)).astype(np.float32)
        return torch.from_numpy(avg).lerp(torch.from_numpy(x), psi).numpy()

    def map(self, z: Array, c: torch.Tensor | None) -> Array:
        raise ValueError(f"the {self.family} generator has no W space; use space='z'")

    def w_avg(self) -> Array:
        raise ValueError(f"the {self.family} generator has no tracked W average")

    def render_w(self, ws: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        raise ValueError(f"the {self.family} generator has no W space; use space='z'")

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def one_hot(self, labels: npt.ArrayLike, device: torch.device | str | None = None) -> torch.Tensor | None:
        """labels int [n] -> one-hot float32 tensor [n, c_dim] (None when unconditional)."""
        torch = _torch()
        if self.c_dim == 0:
            return None
        lab = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        return torch.nn.functional.one_hot(lab, self.c_dim).to(torch.float32).to(device or self.device)


class MappingAdapter(GeneratorAdapter):
    """A mapping callable alone (a sampler's ``mapping=``, e.g. NVIDIA's ``G.mapping``): z -> ws.

    NVIDIA's MappingNetwork (it has ``c_dim``) is called as ``mapping(z, c)``, any other
    callable as ``mapping(z)``; both get torch tensors on the mapping's device (numpy
    when torch is not installed). A 2-D result [N, w_dim] is taken as ws with one row.
    Rendering is left to the generator given to the sampler."""

    family = "mapping"

    def __init__(self, mapping: Any, z_dim: int, prior: str | Callable[..., Any]) -> None:
        self.mapping, self.z_dim, self.prior = mapping, z_dim, prior
        self.c_dim = int(getattr(mapping, "c_dim", 0) or 0)
        self.module = mapping
        self.w_dim = int(getattr(mapping, "w_dim", 0) or 0) or None
        self.takes_c = hasattr(mapping, "c_dim")  # NVIDIA's MappingNetwork.forward(z, c, ...)

    def map(self, z: Array, c: torch.Tensor | None) -> Array:
        try:
            import torch  # noqa: F401
        except ImportError:  # latents only, without torch: the mapping gets numpy
            out = self.mapping(z)
        else:
            if isinstance(z, np.ndarray):
                z = torch.from_numpy(z).to(self.device)
            z = self.cast(z)
            with evaluating(self.mapping):
                if self.takes_c:
                    c = c if c is not None else torch.zeros(len(z), 0, device=z.device)
                    out = self.mapping(z, c)
                else:
                    out = self.mapping(z)
        if not hasattr(out, "detach"):
            out = np.asarray(out, dtype=np.float32)
        if out.ndim == 2:
            out = out[:, None]
        if out.ndim != 3 or out.shape[0] != len(z):
            raise ValueError(f"the mapping returned shape {list(out.shape)} for {len(z)} latents; expected "
                             f"[N, w_dim] or [N, num_ws, w_dim]")
        return out

    def w_avg(self) -> Array:
        avg = getattr(self.mapping, "w_avg", None)
        if avg is None:
            raise ValueError("the mapping has no w_avg; pass average= to the truncation sampler")
        return avg


class PriorAdapter(GeneratorAdapter):
    """Latents with no generator: a prior in Z of a given size."""

    family = "prior"

    def __init__(self, z_dim: int, prior: str | Callable[..., Any]) -> None:
        self.z_dim, self.prior = z_dim, prior
