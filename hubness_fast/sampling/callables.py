"""The adapter of any generator called as ``G(z)`` or, conditional, ``G(z, y)``: DCGAN-style
networks and the conditional ones built on them.

Nothing is known of such a G but that it can be called, so the latent size and shape are read from
its first layer (a ``Linear``, ``Conv2d`` or ``ConvTranspose2d``, through TorchScript too) or its
``z_dim`` / ``latent_dim`` / ``nz`` attribute, and confirmed by one trial call on two latents; the
labels of a conditional G go to it in the layout it takes (one-hot ``[N, c_dim]`` or
``[N, c_dim, 1, 1]``, or class indices into an ``Embedding``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._inputs import check_choice, check_int
from .._torch import evaluating
from .._torch import torch as _torch
from .adapter import PRIORS, GeneratorAdapter

if TYPE_CHECKING:
    import torch

__all__ = ["CallableAdapter", "LabelsMissing", "first_layer", "layer_kind", "layer_inputs", "embeds_labels"]

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
        self.shape_unconfirmed = False
        if latent_shape is not None:
            self.latent_shape = _latent_shape(latent_shape)
            self.z_dim = int(np.prod(self.latent_shape))
            if known is not None and check_int(known, "z_dim") != self.z_dim:
                raise ValueError(f"latent_shape={self.latent_shape} holds {self.z_dim} values but z_dim={known}")
            ran = None
            if self.label_layout_free:
                ran = self._runs(self.z_dim, shapes=(self.latent_shape,))  # which way the labels go
                self.latent_shape = _latent_shape(latent_shape)
            self.shape_unconfirmed = ran is None  # G has not run on it: the first render names it if it fails
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
                    except (RuntimeError, ValueError, TypeError, AssertionError, IndexError) as exc:
                        # a shape check of G's own (assert x.ndim == 2, x.shape[2]) is a no as well
                        if layout == layouts[0]:  # the error of the usual layout says most
                            self.trial_error = " ".join((str(exc) or type(exc).__name__).split())[:200]
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
                out = self.module(*args, **kwargs)
            except TypeError as exc:
                if self.c_dim or "required positional argument" not in str(exc):
                    raise self._shape_named(exc)
                raise LabelsMissing(f"G(z) failed: {exc}. A conditional G(z, y) is sampled with its number of "
                                    f"classes as c_dim= and classes=") from None
            except (RuntimeError, ValueError) as exc:
                raise self._shape_named(exc)
        self.shape_unconfirmed = False
        return out

    def _shape_named(self, exc: Exception) -> Exception:
        """G's error on its first call with a latent_shape given: a ValueError naming that shape (the
        likely cause); later calls' errors as they are."""
        if not self.shape_unconfirmed:
            return exc
        error = ValueError(f"G did not run on latents of latent_shape={self.latent_shape} (the shape given): "
                           f"{' '.join(str(exc).split())[:300]}")
        error.__cause__ = exc
        return error


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
