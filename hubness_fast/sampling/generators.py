"""Duck-typed adapters between the samplers and the generators people have.

The samplers talk to every generator through one small interface,
:class:`GeneratorAdapter`; one adapter per family covers the common ones
and a user can subclass it for another:

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
- :class:`CallableAdapter` (in :mod:`.callables`): any ``G(z, **kwargs)`` with a chosen prior:
  DCGAN-style generators and conditional ``G(z, y)`` with ``c_dim=``.
- :class:`GANZooAdapter`: the models of facebookresearch/pytorch_GAN_zoo (PGAN,
  DCGAN, StyleGAN), rendered with ``model.test(z, getAvG=True)``; hubs in Z.
- :class:`RosinalityAdapter`: rosinality's stylegan2-pytorch ``Generator``; hubs in
  W through ``g.style(z)``, rendered with ``g([ws], input_is_latent=True)``.

The interface itself, and the two adapters that serve samplers drawing latents without a whole
generator (:class:`MappingAdapter`, :class:`PriorAdapter`), are in :mod:`.adapter`; this module
re-exports them, so ``hubness_fast.sampling.generators`` stays the one import path of every adapter.

Nothing here imports NVIDIA's, BigGAN's, GAN zoo's or rosinality's code: families are recognised
by their attributes (:func:`as_generator`). Every model call runs under
``torch.no_grad()`` with the module in eval mode (its mode is restored after),
so sampling never updates a tracked ``w_avg`` or batch-norm statistics.
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._inputs import check_choice, check_flag, check_int
from .._torch import evaluating
from .._torch import to_uint8  # noqa: F401  (hubness_fast.generators.to_uint8, as before)
from .._torch import torch as _torch
from .._types import Array
from .adapter import (  # noqa: F401  (re-exported: every name this module had before the split)
    IMAGE_KEYS,
    PRIORS,
    WRAPPERS,
    GeneratorAdapter,
    MappingAdapter,
    PriorAdapter,
    draw_prior,
    image_batch,
    module_device,
    module_dtype,
    unwrap,
)
from .callables import (  # noqa: F401  (re-exported)
    CLASS_COUNTS,
    LABEL_FORMATS,
    LATENT_LAYERS,
    LATENT_SIZES,
    CallableAdapter,
    LabelsMissing,
    embeds_labels,
    first_layer,
    is_conv,
    layer_inputs,
    layer_kind,
)

if TYPE_CHECKING:
    import torch

__all__ = ["as_generator", "detect_family", "draw_prior", "image_batch", "GeneratorAdapter", "StyleGANAdapter",
           "BigGANAdapter", "CallableAdapter", "GANZooAdapter", "RosinalityAdapter", "MappingAdapter", "PriorAdapter",
           "LabelsMissing", "to_uint8"]

class StyleGANAdapter(GeneratorAdapter):
    """NVIDIA StyleGAN2-ADA / StyleGAN3 generator (``G_ema``) or a network with the same interface.

    noise_mode : "const" (default: a seed fixes the images), "random" or "none";
        passed to ``synthesis``.
    force_fp32 : passed to ``synthesis``. False (NVIDIA's default): their fp16 layers compute in half
        precision (StyleGAN3's layers on GPUs only; the StyleGAN2 networks of StyleGAN2-ADA and of the
        stylegan3 repository on any device, the CPU included); the paper's notebook renders with True.
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
        self.noise_mode, self.force_fp32 = noise_mode, check_flag(force_fp32, "force_fp32")

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
    counted in Z, as the paper did for ProGAN. The zoo's StyleGAN truncates inside its generator
    (``phiTruncation``, 0.5 unless its config says otherwise, toward ``mean_w``, which a render in
    training mode first moves toward the batch's mean): its images are truncated already, and the
    truncation sampler's check for models that normalise z (halving z changes no image) cannot
    see that, as z and z / 2 draw different noise. Models trained with attributes
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
        self.module, self.randomize_noise = G, check_flag(randomize_noise, "randomize_noise")
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
