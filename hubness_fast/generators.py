"""Duck-typed adapters between the samplers and the generators people have.

The samplers talk to every generator through one small interface,
:class:`GeneratorAdapter`; three implementations cover the common families
and a user can write a fourth:

- :class:`StyleGANAdapter`: NVIDIA's StyleGAN2-ADA / StyleGAN3 networks (``G_ema``
  of their pickles) and anything with the same interface: ``z_dim, c_dim,
  w_dim, num_ws``; ``mapping(z, c, truncation_psi=1, truncation_cutoff=None)``
  -> ws ``[N, num_ws, w_dim]``; ``mapping.w_avg``; ``synthesis(ws,
  noise_mode=..., force_fp32=...)``. Hubs are counted in W on ``ws[:, 0]``, as
  the paper's notebook did, and images rendered with ``noise_mode='const'`` by
  default, so a seed fixes the images.
- :class:`BigGANAdapter`: ``pytorch_pretrained_biggan.BigGAN`` (``G(z,
  class_vector, truncation)``; z from a normal truncated to [-2, 2], times
  ``truncation``).
- :class:`CallableAdapter`: any ``G(z, **kwargs)`` with a chosen prior.

Two more serve samplers that draw latents without a whole generator:
:class:`MappingAdapter` (a mapping alone, the ``mapping=`` argument) and
:class:`PriorAdapter` (a prior of a given size).

Nothing here imports NVIDIA's code or a BigGAN package: families are recognised
by their attributes (:func:`as_generator`). Every model call runs under
``torch.no_grad()`` with the module in eval mode (its mode is restored after),
so sampling never updates a tracked ``w_avg`` or batch-norm statistics.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._inputs import check_int
from ._types import Array

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

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


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images to uint8 as NVIDIA's scripts do: (x * 127.5 + 128).clamp(0, 255)."""
    return (images * 127.5 + 128).clamp(0, 255).to(dtype=_torch().uint8)


def _torch() -> ModuleType:
    try:
        import torch
    except ImportError as exc:
        raise ImportError("sampling with a generator needs PyTorch: pip install torch") from exc
    return torch


def module_device(obj: Any) -> torch.device:
    """The device of a module's (or a bound method's module's) first parameter or buffer; CPU otherwise."""
    torch = _torch()
    owner = getattr(obj, "__self__", obj)
    for attr in ("parameters", "buffers"):
        fn = getattr(owner, attr, None)
        if callable(fn):
            for p in fn():
                return p.device
    return torch.device("cpu")


@contextlib.contextmanager
def evaluating(module: Any) -> Iterator[None]:
    """no_grad, and eval mode for a torch module (restored afterwards)."""
    torch = _torch()
    owner = getattr(module, "__self__", module)
    was_training = isinstance(owner, torch.nn.Module) and owner.training
    if was_training:
        owner.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            owner.train()


class GeneratorAdapter:
    """What a sampler needs from a generator. Subclass it for a family not covered here.

    Attributes
    ----------
    family : str            a name for messages ("stylegan", "biggan", "callable")
    z_dim : int             latent size the prior draws
    c_dim : int             number of classes (0: unconditional)
    w_dim : int or None     size of the intermediate space W (None: no W)
    default_space : str     "w" or "z": where hubs are counted unless told
    device                  the torch device the model runs on

    Methods
    -------
    draw(rng, n)            -> float32 numpy [n, z_dim] from the family's prior
    map(z, c)               -> ws tensor [n, num_ws, w_dim] (W families only)
    render_w(ws, c)         -> images [n, C, H, W] from ws (W families only)
    render_z(z, c)          -> images [n, C, H, W] from z
    w_avg()                 -> tensor [w_dim], the tracked mean of W (W families only)

    ``z`` and ``ws`` are float32 tensors on ``device``; ``c`` is None for
    unconditional models, else a one-hot float32 tensor [n, c_dim].
    """

    family = "custom"
    z_dim: int
    c_dim: int = 0
    w_dim: int | None = None
    default_space = "z"
    prior: str | Callable[..., Any] = "normal"
    prior_scale = 1.0
    module: Any = None

    @property
    def spaces(self) -> tuple[str, ...]:
        return ("z", "w") if self.w_dim else ("z",)

    @property
    def device(self) -> torch.device:
        return module_device(self.module) if self.module is not None else _torch().device("cpu")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return draw_prior(self.prior, rng, n, self.z_dim, self.prior_scale)

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


class StyleGANAdapter(GeneratorAdapter):
    """NVIDIA StyleGAN2-ADA / StyleGAN3 generator (``G_ema``) or a network with the same interface.

    noise_mode : "const" (default: a seed fixes the images), "random" or "none";
        passed to ``synthesis``.
    force_fp32 : passed to ``synthesis`` (NVIDIA's networks run fp16 layers on GPUs otherwise).
    """

    family = "stylegan"
    default_space = "w"

    def __init__(self, G: Any, noise_mode: str = "const", force_fp32: bool = False) -> None:
        for attr in ("z_dim", "c_dim", "w_dim", "num_ws", "mapping", "synthesis"):
            if not hasattr(G, attr):
                raise ValueError(f"a StyleGAN generator needs G.{attr} (NVIDIA's StyleGAN2-ADA / StyleGAN3 interface)")
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        self.module = G
        self.z_dim, self.c_dim, self.w_dim = int(G.z_dim), int(G.c_dim), int(G.w_dim)
        self.num_ws = int(G.num_ws)
        self.noise_mode, self.force_fp32 = noise_mode, bool(force_fp32)

    def _c(self, c: torch.Tensor | None, n: int) -> torch.Tensor:
        # NVIDIA's own scripts pass a [n, 0] label tensor to unconditional networks.
        return c if c is not None else _torch().zeros(n, 0, device=self.device)

    def map(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            ws = self.module.mapping(z, self._c(c, len(z)))
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"G.mapping returned shape {list(ws.shape)}, expected [N, {self.num_ws}, {self.w_dim}]")
        return ws

    def w_avg(self) -> torch.Tensor:
        avg = getattr(self.module.mapping, "w_avg", None)
        if avg is None:
            raise ValueError("G.mapping has no w_avg; pass the average to the truncation sampler")
        return avg

    def render_w(self, ws: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module.synthesis(ws, noise_mode=self.noise_mode, force_fp32=self.force_fp32)

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module(z, self._c(c, len(z)), noise_mode=self.noise_mode, force_fp32=self.force_fp32)


class BigGANAdapter(GeneratorAdapter):
    """``pytorch_pretrained_biggan.BigGAN``: ``G(z, class_vector, truncation)``.

    truncation : in (0, 1]; the prior is a normal truncated to [-2, 2] times
        ``truncation`` (as the package's ``truncated_noise_sample``) and the same
        value goes to G (its batch-norm statistics depend on it).
    """

    family = "biggan"
    prior = "truncnorm"

    def __init__(self, G: Any, truncation: float = 1.0) -> None:
        config = getattr(G, "config", None)
        if config is None or not hasattr(config, "z_dim") or not hasattr(config, "num_classes"):
            raise ValueError("a BigGAN generator needs G.config.z_dim and G.config.num_classes")
        if not 0 < truncation <= 1:
            raise ValueError(f"BigGAN's truncation must be in (0, 1], got {truncation}")
        self.module, self.truncation = G, float(truncation)
        self.z_dim, self.c_dim = int(config.z_dim), int(config.num_classes)
        self.prior_scale = self.truncation

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module(z, c, self.truncation)


class CallableAdapter(GeneratorAdapter):
    """Any generator called as ``G(z, **kwargs)`` (ProGAN, a DCGAN, the bundled models...).

    z_dim : latent size; read from ``G.z_dim`` or ``G.latent_dim`` when not given.
    prior : "normal" (default), "truncnorm", or a callable ``(rng, n, dim) -> array``.
    kwargs : extra keyword arguments passed to every call of G.
    """

    family = "callable"

    def __init__(self, G: Any, z_dim: int | None = None, prior: str | Callable[..., Any] = "normal",
                 **kwargs: Any) -> None:
        if not callable(G):
            raise ValueError(f"the generator must be callable as G(z), got {type(G).__name__}")
        z_dim = z_dim if z_dim is not None else getattr(G, "z_dim", getattr(G, "latent_dim", None))
        if z_dim is None:
            raise ValueError("cannot tell the generator's latent size (it has no z_dim attribute): give it as "
                             "z_dim=")
        if not callable(prior) and prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS} or a callable (rng, n, dim) -> array, got {prior!r}")
        self.module, self.z_dim, self.prior, self.kwargs = G, check_int(z_dim, "z_dim"), prior, kwargs

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if c is not None:
            raise ValueError("a plain G(z) generator takes no class labels")
        with evaluating(self.module):
            return self.module(z, **self.kwargs)


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


FAMILIES = {"stylegan": StyleGANAdapter, "biggan": BigGANAdapter, "callable": CallableAdapter}


def detect_family(G: Any) -> str:
    """"stylegan", "biggan" or "callable", from the object's attributes; ValueError if none fits."""
    if isinstance(G, GeneratorAdapter):
        return G.family
    if all(hasattr(G, a) for a in ("mapping", "synthesis", "z_dim", "c_dim", "w_dim", "num_ws")):
        return "stylegan"
    config = getattr(G, "config", None)
    if config is not None and hasattr(config, "num_classes") and hasattr(config, "z_dim") and callable(G):
        return "biggan"
    if callable(G):
        return "callable"
    raise ValueError(f"{type(G).__name__} matches no generator family: expected a StyleGAN network (z_dim, c_dim, "
                     f"w_dim, num_ws, mapping, synthesis), a BigGAN (config.z_dim, config.num_classes) or a callable "
                     f"G(z); or wrap it in a GeneratorAdapter")


def as_generator(G: Any, family: str | None = None, **options: Any) -> GeneratorAdapter:
    """Wrap G in the adapter of its family (auto-detected unless ``family`` is given).

    options go to the adapter: ``noise_mode``, ``force_fp32`` (StyleGAN);
    ``truncation`` (BigGAN); ``z_dim``, ``prior`` and G's keyword arguments
    (callable). An adapter is returned as it is (options then must be empty).
    """
    if isinstance(G, GeneratorAdapter):
        if options:
            raise ValueError(f"options {sorted(options)} apply when wrapping a model, not to an adapter")
        return G
    family = family or detect_family(G)
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    cls: Callable = FAMILIES[family]
    try:
        return cls(G, **options)
    except TypeError as exc:
        raise ValueError(f"bad options for the {family} adapter: {exc}") from None
