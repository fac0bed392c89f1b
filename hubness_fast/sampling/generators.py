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
- :class:`CallableAdapter`: any ``G(z, **kwargs)`` with a chosen prior: DCGAN-style
  generators (the latent size and shape read from the first layer and confirmed by a trial
  call: ``[N, z_dim, 1, 1]`` for a transposed convolution), and conditional ``G(z, y)`` with ``c_dim=``.
- :class:`GANZooAdapter`: the models of facebookresearch/pytorch_GAN_zoo (PGAN,
  DCGAN, StyleGAN), rendered with ``model.test(z, getAvG=True)``; hubs in Z.
- :class:`RosinalityAdapter`: rosinality's stylegan2-pytorch ``Generator``; hubs in
  W through ``g.style(z)``, rendered with ``g([ws], input_is_latent=True)``.

Two more serve samplers that draw latents without a whole generator:
:class:`MappingAdapter` (a mapping alone, the ``mapping=`` argument) and
:class:`PriorAdapter` (a prior of a given size).

Nothing here imports NVIDIA's, BigGAN's, GAN zoo's or rosinality's code: families are recognised
by their attributes (:func:`as_generator`). Every model call runs under
``torch.no_grad()`` with the module in eval mode (its mode is restored after),
so sampling never updates a tracked ``w_avg`` or batch-norm statistics.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._inputs import check_choice, check_int
from .._torch import evaluating, networks_of, to_uint8  # noqa: F401  (to_uint8: hubness_fast.generators.to_uint8)
from .._torch import torch as _torch
from .._types import Array

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

__all__ = ["as_generator", "detect_family", "draw_prior", "image_batch", "GeneratorAdapter", "StyleGANAdapter",
           "BigGANAdapter", "CallableAdapter", "GANZooAdapter", "RosinalityAdapter", "MappingAdapter", "PriorAdapter",
           "LabelsMissing", "to_uint8"]

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


class StyleGANAdapter(GeneratorAdapter):
    """NVIDIA StyleGAN2-ADA / StyleGAN3 generator (``G_ema``) or a network with the same interface.

    noise_mode : "const" (default: a seed fixes the images), "random" or "none";
        passed to ``synthesis``.
    force_fp32 : passed to ``synthesis``. False (NVIDIA's default): their fp16 layers compute in half
        precision (StyleGAN3's code on GPUs only, StyleGAN2-ADA's on any device); the paper's notebook
        renders with True.
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
            ws = self.module.mapping(self.cast(z), self.cast(self._c(c, len(z))))
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            hint = ""
            if ws.ndim == 2 and ws.shape[1] == self.w_dim:  # one w per latent: NVIDIA's mapping repeats it
                hint = (f" (NVIDIA's mapping broadcasts each w to the {self.num_ws} layers: a mapping that returns "
                        f"[N, w_dim] needs a wrapper returning w[:, None].repeat(1, {self.num_ws}, 1))")
            raise ValueError(f"G.mapping returned shape {list(ws.shape)}, expected [N, {self.num_ws}, "
                             f"{self.w_dim}]{hint}")
        return ws

    def w_avg(self) -> torch.Tensor:
        avg = getattr(self.module.mapping, "w_avg", None)
        if avg is None:
            raise ValueError("G.mapping has no w_avg; pass the average to the truncation sampler")
        return avg

    def render_w(self, ws: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module.synthesis(self.cast(ws), noise_mode=self.noise_mode, force_fp32=self.force_fp32)

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module(self.cast(z), self.cast(self._c(c, len(z))), noise_mode=self.noise_mode,
                               force_fp32=self.force_fp32)


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
            return self.module(self.cast(z), self.cast(c), self.truncation)

    def truncation_trick(self, psi: float) -> GeneratorAdapter | None:
        """BigGAN's own trick: latents of the truncated normal times psi, and psi to G (psi = 1: none,
        whatever truncation the adapter has)."""
        if psi == 1.0:
            return None
        if self.truncation != 1.0:
            raise ValueError(f"BigGAN's truncation is set twice: truncation={self.truncation:g} (the generator's "
                             f"option, --truncation) and psi={psi:g} (method 'truncation'); the trick is one "
                             f"value: pass truncation=psi with method 'random' or 'hubs', or psi alone")
        if not 0 < psi <= 1:
            raise ValueError(f"BigGAN's truncation must be in (0, 1], got psi={psi}")
        trick = BigGANAdapter(self.module, truncation=psi)
        trick.truncated_by_trick = True
        return trick


LABEL_FORMATS = ("onehot", "index", "onehot-1x1")  # [N, c_dim] float, [N] int64, [N, c_dim, 1, 1] float
LATENT_LAYERS = ("Linear", "Conv2d", "ConvTranspose2d")  # layers a generator's latent goes into first


def first_layer(G: Any, c_dim: int = 0) -> Any:
    """The first ``Linear`` / ``Conv2d`` / ``ConvTranspose2d`` of a torch module, in registration
    order (None for anything else). Embeddings are skipped, and for a conditional model
    (``c_dim`` > 0) so is a layer taking exactly ``c_dim`` inputs (a label branch)."""
    modules = getattr(G, "modules", None)
    if not callable(modules):
        return None
    for layer in modules():
        if layer_kind(layer) in LATENT_LAYERS:
            if c_dim and layer_inputs(layer) == c_dim:
                continue
            return layer
    return None


def layer_kind(layer: Any) -> str:
    """A layer's class name, also through TorchScript (``original_name`` of a scripted or traced module)."""
    return getattr(layer, "original_name", None) or type(layer).__name__


def layer_inputs(layer: Any) -> int:
    """Inputs of a Linear (in_features) or a convolution (in_channels); a traced module, which keeps
    neither, is read from its weight ([out, in] / [out, in, ...] / transposed [in, out, ...])."""
    size = getattr(layer, "in_features", getattr(layer, "in_channels", None))
    if size is None:
        weight = getattr(layer, "weight", None)
        if weight is None or weight.ndim < 2:
            return 0
        size = weight.shape[0] if layer_kind(layer) == "ConvTranspose2d" else weight.shape[1]
    return int(size)


def is_conv(layer: Any) -> bool:
    return layer is not None and layer_kind(layer) != "Linear"


def embeds_labels(G: Any, c_dim: int) -> bool:
    """Whether G has an ``Embedding`` of exactly ``c_dim`` rows: a label embedding, which takes class indices."""
    modules = getattr(G, "modules", None)
    if not c_dim or not callable(modules):
        return False
    for layer in modules():
        if layer_kind(layer) == "Embedding":
            rows = getattr(layer, "num_embeddings", None)
            weight = getattr(layer, "weight", None)
            if rows is None and weight is not None:
                rows = weight.shape[0]
            if rows == c_dim:
                return True
    return False


class LabelsMissing(ValueError):
    """A G called as G(z) wants a second argument: a conditional model sampled without c_dim=."""


CLASS_COUNTS = ("c_dim", "n_classes", "num_classes", "n_class")  # attributes a conditional G may state its classes in
LATENT_SIZES = ("z_dim", "latent_dim", "nz")  # attributes a G(z) may state its latent size in


class CallableAdapter(GeneratorAdapter):
    """Any generator called as ``G(z, **kwargs)`` or, conditional, ``G(z, y, **kwargs)``.

    z_dim : latent size; read from ``G.z_dim`` or ``G.latent_dim``, else from G's
        first layer (``ConvTranspose2d`` / ``Conv2d`` in_channels, ``Linear``
        in_features: the DCGAN tutorial's generator and its descendants), confirmed
        by one trial call on two latents. A size that disagrees with that layer is
        tried the same way and refused if G does not run on it.
    latent_shape : the shape of one latent as G takes it, e.g. ``(100, 1, 1)``.
        Default: ``(z_dim, 1, 1)`` when the first layer is a convolution, else
        ``(z_dim,)``. Latents are drawn, counted and saved 2-D ``[N, z_dim]`` whatever the shape.
    prior : "normal" (default), "truncnorm", or a callable ``(rng, n, dim) -> array``.
    c_dim : number of classes of a conditional ``G(z, y)`` (0: unconditional). The
        labels go to G as its second positional argument, or as the keyword
        ``label_arg`` when given, formatted by ``label_format``: "onehot" (float32
        ``[N, c_dim]``, default), "index" (int64 ``[N]``) or "onehot-1x1" (float32
        ``[N, c_dim, 1, 1]``, for a label branch that is a transposed convolution, as
        in two-branch conditional DCGANs). If the first layer takes z and the one-hot
        label together (``z_dim + c_dim`` inputs) and no size is given, the latent size
        is found by one trial call on two latents. Without ``label_format`` the one-hot
        labels are tried [N, c_dim] first, then [N, c_dim, 1, 1], in that trial.
    kwargs : extra keyword arguments passed to every call of G.
    """

    family = "callable"

    def __init__(self, G: Any, z_dim: int | None = None, prior: str | Callable[..., Any] = "normal", *,
                 latent_shape: Any = None, c_dim: int = 0, label_format: str | None = None,
                 label_arg: str | None = None, **kwargs: Any) -> None:
        if not callable(G):
            raise ValueError(f"the generator must be callable as G(z), got {type(G).__name__}")
        if not callable(prior) and prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS} or a callable (rng, n, dim) -> array, got {prior!r}")
        if label_format is not None:
            check_choice(label_format, LABEL_FORMATS, "label_format")
        if label_arg is not None and not (isinstance(label_arg, str) and label_arg.isidentifier()):
            raise ValueError(f"label_arg must be the name of G's label argument, got {label_arg!r}")
        self.module, self.prior, self.kwargs = G, prior, kwargs
        self.c_dim = check_int(c_dim, "c_dim", minimum=0)
        for name in CLASS_COUNTS:
            stated = getattr(G, name, None)
            if self.c_dim and isinstance(stated, (int, np.integer)) and not isinstance(stated, bool) \
                    and stated != self.c_dim:
                raise ValueError(f"c_dim={self.c_dim} disagrees with the generator's {name} = {stated}")
        self.label_layout_free = label_format is None and self.c_dim > 0  # one-hot: 2-D or 1x1, by trial
        if label_format is None:
            label_format = "index" if embeds_labels(G, self.c_dim) else "onehot"
        self.label_format, self.label_arg = label_format, label_arg
        self.label_layout_free &= label_format == "onehot"
        self.layer = first_layer(G, self.c_dim)
        known = z_dim if z_dim is not None else next(
            (getattr(G, a) for a in LATENT_SIZES if getattr(G, a, None) is not None), None)
        self.trial_error = ""
        if latent_shape is not None:
            self.latent_shape = _latent_shape(latent_shape)
            self.z_dim = int(np.prod(self.latent_shape))
            if known is not None and check_int(known, "z_dim") != self.z_dim:
                raise ValueError(f"latent_shape={self.latent_shape} holds {self.z_dim} values but z_dim={known}")
            if self.label_layout_free:
                self._runs(self.z_dim, shapes=(self.latent_shape,))  # which way the labels go
                self.latent_shape = _latent_shape(latent_shape)
            return
        self.z_dim, self.latent_shape = self._size(known)

    def _size(self, known: Any) -> tuple[int, tuple[int, ...]]:
        """The latent size and shape: given, or read from the first layer, and tried on G (one call on
        two latents) wherever the first registered layer does not confirm it: that layer may not be
        where z goes (a layer registered before the input layer, a wrapper holding a discriminator)."""
        inputs = None if self.layer is None else layer_inputs(self.layer)
        where = "" if self.layer is None else f" its first registered layer, {self.layer}, takes {inputs} inputs"
        if known is not None:
            size = check_int(known, "z_dim")
            if inputs is None or inputs in ((size,) if not self.c_dim else (size, size + self.c_dim)):
                ran = self._runs(size) if self.label_layout_free else None  # which way the labels go
                return size, ran or self._shape(size)
            shape = self._runs(size)
            if shape is None:
                raise ValueError(f"z_dim={size} disagrees with the generator:{where}, and G did not run on latents "
                                 f"of {size} values ({self.trial_error}); give latent_shape= if G reshapes z itself")
            return size, shape
        if inputs is None:
            raise ValueError("cannot tell the generator's latent size (it has no z_dim attribute and no Linear or "
                             "convolution layer to read it from): give it as z_dim=")
        sizes = [inputs] + ([inputs - self.c_dim] if self.c_dim and inputs > self.c_dim else [])
        for size in sizes:
            shape = self._runs(size)
            if shape is not None:
                return size, shape
        tried = " nor ".join(str(s) for s in sizes)
        raise ValueError(f"cannot tell the generator's latent size:{where}, but G did not run on latents of "
                         f"{'neither ' if len(sizes) > 1 else ''}{tried} values ({self.trial_error}): give it as "
                         f"z_dim= (or latent_shape=)")

    def _shape(self, size: int) -> tuple[int, ...]:
        """A latent's shape as G takes it, by its first layer: [z_dim, 1, 1] into a convolution."""
        return (size, 1, 1) if is_conv(self.layer) else (size,)

    def _runs(self, size: int, shapes: tuple[tuple[int, ...], ...] | None = None) -> tuple[int, ...] | None:
        """One trial call of G on two latents of ``size`` (class 0), shaped as its first layer says
        and, failing that, the other way (one-hot labels of no stated layout: [N, c_dim], then
        [N, c_dim, 1, 1]): the shape it ran with, the labels' layout kept, or None (the error kept
        in ``trial_error``). The trial leaves torch's random state as it was."""
        torch = _torch()
        device = self.device
        layouts = ("onehot", "onehot-1x1") if self.label_layout_free else (self.label_format,)
        for shape in dict.fromkeys(shapes or (self._shape(size), (size,), (size, 1, 1))):
            for layout in layouts:
                self.z_dim, self.latent_shape, self.label_format = size, shape, layout
                z = torch.zeros(2, size, device=device)
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    try:
                        self.render_z(z, self.one_hot([0, 0]) if self.c_dim else None)
                    except LabelsMissing:
                        return shape  # G wants labels it was not told of: the size stands, the call says why later
                    except (RuntimeError, ValueError, TypeError) as exc:
                        if layout == layouts[0]:  # the error of the usual layout says most
                            self.trial_error = " ".join(str(exc).split())[:200]
                        continue
                return shape
        self.label_format = layouts[0]
        return None

    def labels_for(self, c: torch.Tensor) -> torch.Tensor:
        """One-hot labels [N, c_dim] in the format G takes."""
        if self.label_format == "index":
            return c.argmax(1)
        labels = self.cast(c)
        return labels[:, :, None, None] if self.label_format == "onehot-1x1" else labels

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if c is not None and not self.c_dim:
            raise ValueError("a plain G(z) generator takes no class labels")
        if c is None and self.c_dim:
            raise ValueError(f"this generator is conditional ({self.c_dim} classes): pass classes=")
        z = self.cast(z.reshape((len(z),) + self.latent_shape))
        args: tuple[Any, ...] = (z,)
        kwargs = dict(self.kwargs)
        if c is not None:
            if self.label_arg is None:
                args += (self.labels_for(c),)
            else:
                kwargs[self.label_arg] = self.labels_for(c)
        with evaluating(self.module):
            try:
                return self.module(*args, **kwargs)
            except TypeError as exc:
                if self.c_dim or "required positional argument" not in str(exc):
                    raise
                raise LabelsMissing(f"G(z) failed: {exc}. A conditional G(z, y) is sampled with its number of "
                                    f"classes as c_dim= and classes=") from None


def _latent_shape(shape: Any) -> tuple[int, ...]:
    """(100, 1, 1), [100, 1, 1] or "100,1,1" -> (100, 1, 1); positive sizes only."""
    if isinstance(shape, str):
        try:
            shape = [int(v) for v in shape.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"latent_shape must be sizes like 100,1,1; got {shape!r}") from None
    dims = tuple(check_int(v, "latent_shape", minimum=1) for v in np.atleast_1d(np.asarray(shape, dtype=object)))
    if not dims:
        raise ValueError("latent_shape is empty")
    return dims


class GANZooAdapter(GeneratorAdapter):
    """A model of facebookresearch/pytorch_GAN_zoo (``torch.hub.load(..., "PGAN" | "DCGAN" |
    "StyleGAN")``): ``model.config.noiseVectorDim``, ``buildNoiseData``, ``test``, ``getOriginalG``.

    z is drawn from N(0, I) as ``buildNoiseData`` does and rendered with ``model.test(z,
    getAvG=True, toCPU=True)`` (the averaged generator, ``netG`` when a model has none), in
    the network's own mode, as the zoo renders (it never puts its networks in eval mode; its
    averaging copies parameters, not batch-norm statistics, so a DCGAN's averaged generator
    renders well only with batch statistics, which makes an image depend on its batch); the
    buffers a render changes (batch-norm statistics, StyleGAN's ``mean_w``) are put back
    afterwards, and torch's random stream, from which the zoo's StyleGAN draws its noise, is
    seeded from each batch's latents, so a seed and a batch size fix the images. Hubs are
    counted in Z, as the paper did for ProGAN. Models trained with attributes
    (``config.categoryVectorDim`` > 0) append label codes of their own criterion to z and are
    refused. Networks the zoo wrapped in ``nn.DataParallel`` (its default on a GPU machine) render
    through the module they wrap, on the one device the model is on: the wrapper fails on any other
    device and splits a batch across GPUs, whose batch statistics would then depend on their number.
    """

    family = "gan_zoo"

    def __init__(self, G: Any) -> None:
        config = getattr(G, "config", None)
        noise = getattr(config, "noiseVectorDim", None)
        if noise is None:
            raise ValueError("a pytorch_GAN_zoo model needs model.config.noiseVectorDim")
        categories = int(getattr(config, "categoryVectorDim", 0) or 0)
        if categories:
            raise ValueError(f"this pytorch_GAN_zoo model was trained with attributes (config.categoryVectorDim = "
                             f"{categories}): its label codes come from its own classification "
                             f"criterion, which is not supported; sample an unconditional model")
        self.model, self.z_dim = G, check_int(int(noise), "config.noiseVectorDim")
        self.use_average = getattr(G, "avgG", None) is not None
        self.module = G.avgG if self.use_average else G.netG  # the network test() calls

    def to(self, device: Any) -> None:
        """Both networks and the model's own ``device``, which ``test`` moves z to."""
        for net in (self.model.netG, getattr(self.model, "avgG", None)):
            if net is not None:
                net.to(device)
        self.model.device = _torch().device(device)

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if c is not None:
            raise ValueError("this pytorch_GAN_zoo model is unconditional: it takes no classes")
        torch = _torch()
        kept = _buffers(self.module)
        devices = [self.device] if self.device.type == "cuda" else []
        wrapped = {name: net for name in ("netG", "avgG")
                   if isinstance(net := getattr(self.model, name, None), torch.nn.DataParallel)}
        try:
            for name, net in wrapped.items():
                setattr(self.model, name, net.module)  # test() calls the network itself, unsplit
            with torch.no_grad(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(zlib.crc32(z.detach().cpu().numpy().tobytes()))
                return self.model.test(self.cast(z), getAvG=self.use_average, toCPU=True)
        finally:
            for name, net in wrapped.items():
                setattr(self.model, name, net)
            with torch.no_grad():
                for owner, name, tensor, values in kept:
                    tensor.copy_(values)
                    setattr(owner, name, tensor)  # also where forward rebound it (self.mean_w = ...)


def _buffers(module: Any) -> list[tuple[Any, str, Any, Any]]:
    """(owner, name, tensor, a copy of its values) for every buffer of a torch module."""
    if not hasattr(module, "named_modules"):
        return []
    return [(owner, name, tensor, tensor.detach().clone()) for _, owner in module.named_modules()
            for name, tensor in owner.named_buffers(recurse=False) if tensor is not None]


class RosinalityAdapter(GeneratorAdapter):
    """rosinality's stylegan2-pytorch ``Generator(size, style_dim, n_mlp)``: ``style_dim``,
    ``n_latent``, ``style`` (the mapping), ``mean_latent``, ``forward(styles, ...)``.

    Hubs are counted in W (``g.style(z)``) by default, as for NVIDIA's networks; ws
    broadcast w to the ``n_latent`` layers and images are rendered with ``g([ws],
    input_is_latent=True, randomize_noise=False)[0]`` (Z space: ``g([z], ...)``), so
    the network's fixed noise buffers make a seed fix the images.

    randomize_noise : passed to G (default False).
    mean_samples : latents averaged by ``g.mean_latent`` for the truncation trick
        (default 4096, as rosinality's scripts), drawn under a fixed torch seed so the
        average is the same on every call.
    """

    family = "rosinality"
    default_space = "w"

    def __init__(self, G: Any, randomize_noise: bool = False, mean_samples: int = 4096) -> None:
        for attr in ("style_dim", "n_latent", "style", "mean_latent"):
            if not hasattr(G, attr):
                raise ValueError(f"a rosinality StyleGAN2 generator needs g.{attr}")
        self.module, self.randomize_noise = G, bool(randomize_noise)
        self.z_dim = self.w_dim = int(G.style_dim)
        self.num_ws = int(G.n_latent)
        self.mean_samples = check_int(mean_samples, "mean_samples")
        self._w_avg: torch.Tensor | None = None

    def map(self, z: Array, c: torch.Tensor | None) -> Array:
        with evaluating(self.module):
            w = self.module.style(self.cast(z))
        if w.ndim != 2 or w.shape[1] != self.w_dim:
            raise ValueError(f"g.style returned shape {list(w.shape)}, expected [N, {self.w_dim}]")
        return w[:, None].repeat(1, self.num_ws, 1)

    def w_avg(self) -> torch.Tensor:
        if self._w_avg is None:
            torch = _torch()
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), evaluating(self.module):
                torch.manual_seed(0)
                self._w_avg = self.module.mean_latent(self.mean_samples).reshape(-1)
        return self._w_avg

    def truncate(self, avg: np.ndarray, x: np.ndarray, psi: float) -> np.ndarray:
        """rosinality's ``truncation_latent + truncation * (style - truncation_latent)``, in float32."""
        torch = _torch()
        avg_t, x_t = torch.from_numpy(avg), torch.from_numpy(x)
        return (avg_t + psi * (x_t - avg_t)).numpy()

    def render_w(self, ws: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module([self.cast(ws)], input_is_latent=True, randomize_noise=self.randomize_noise)[0]

    def render_z(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        with evaluating(self.module):
            return self.module([self.cast(z)], randomize_noise=self.randomize_noise)[0]


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


FAMILIES = {"stylegan": StyleGANAdapter, "biggan": BigGANAdapter, "gan_zoo": GANZooAdapter,
            "rosinality": RosinalityAdapter, "callable": CallableAdapter}
# How each family is recognised, in the order tried (the first match wins).
SIGNATURES = {"stylegan": ("mapping", "synthesis", "z_dim", "c_dim", "w_dim", "num_ws"),
              "gan_zoo": ("buildNoiseData", "test", "getOriginalG"),
              "rosinality": ("style", "n_latent", "mean_latent", "style_dim")}


def detect_family(G: Any) -> str:
    """"stylegan", "biggan", "gan_zoo", "rosinality" or "callable", from the object's
    attributes; ValueError if none fits."""
    if isinstance(G, GeneratorAdapter):
        return G.family
    G = unwrap(G)
    for family in ("stylegan", "gan_zoo", "rosinality"):
        if all(hasattr(G, a) for a in SIGNATURES[family]):
            return family
    config = getattr(G, "config", None)
    if config is not None and hasattr(config, "num_classes") and hasattr(config, "z_dim") and callable(G):
        return "biggan"
    if callable(G):
        return "callable"
    raise ValueError(f"{type(G).__name__} matches no generator family: expected a StyleGAN network (z_dim, c_dim, "
                     f"w_dim, num_ws, mapping, synthesis), a BigGAN (config.z_dim, config.num_classes), a "
                     f"pytorch_GAN_zoo model (buildNoiseData, test), a rosinality StyleGAN2 (style, n_latent, "
                     f"mean_latent) or a callable G(z); or wrap it in a GeneratorAdapter")


def as_generator(G: Any, family: str | None = None, **options: Any) -> GeneratorAdapter:
    """Wrap G in the adapter of its family (auto-detected unless ``family`` is given).

    options go to the adapter: ``noise_mode``, ``force_fp32`` (StyleGAN);
    ``truncation`` (BigGAN); ``randomize_noise``, ``mean_samples`` (rosinality);
    ``z_dim``, ``latent_shape``, ``prior``, ``c_dim``, ``label_format``,
    ``label_arg`` and G's keyword arguments (callable). An adapter is returned as it is (options then must be empty).
    """
    if isinstance(G, GeneratorAdapter):
        if options:
            raise ValueError(f"options {sorted(options)} apply when wrapping a model, not to an adapter")
        return G
    G = unwrap(G)
    family = family or detect_family(G)
    check_choice(family, sorted(FAMILIES), "family")
    cls: Callable = FAMILIES[family]
    try:
        return cls(G, **options)
    except TypeError as exc:
        raise ValueError(f"bad options for the {family} adapter: {exc}") from None
