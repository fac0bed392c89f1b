"""PyTorch, imported on first use (the engine and the metrics run without it), and what every
torch-facing layer shares: the image shape check, NVIDIA's float-to-uint8 image rule and a
module run in eval mode under no_grad."""
from __future__ import annotations

import contextlib
import dis
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._warn import warn_user

if TYPE_CHECKING:
    import torch as torch_module

# Images per generator or detector call, wherever the caller does not say: one figure for the Python
# calls and the command line, because a generator rendered with batch statistics (pytorch_GAN_zoo's
# DCGAN, any batch-norm net in train mode) draws different images at another batch size.
BATCH_SIZE = 64


def torch() -> ModuleType:
    """The torch module, or an ImportError that says how to get it."""
    try:
        import torch as module
    except ImportError as exc:
        raise ImportError("this needs PyTorch: pip install torch") from exc
    return module


CHANNELS = {1: "grey", 3: "RGB", 4: "RGBA"}


def check_image_shape(shape: tuple[int, ...], what: str, channels: tuple[int, ...] = (1, 3)) -> None:
    """[N, C, H, W] with C in ``channels`` (detectors read grey or RGB; PNG files also hold RGBA)."""
    if len(shape) != 4:
        hint = " (one grey batch? add a channel axis: x[:, None])" if len(shape) == 3 else ""
        raise ValueError(f"{what} must be [N, C, H, W], got shape {shape}{hint}")
    if shape[1] not in channels:
        if shape[3] in channels:
            hint = "; for [N, H, W, C] images use x.transpose(0, 3, 1, 2) (torch: x.permute(0, 3, 1, 2))"
        elif shape[1] == 4:
            hint = "; for RGBA drop the alpha channel: x[:, :3]"
        else:
            hint = ""
        allowed = " or ".join(f"{c} ({CHANNELS[c]})" for c in channels)
        raise ValueError(f"{what} must have {allowed} channels, got shape {shape}{hint}")
    if 0 in shape:
        raise ValueError(f"{what} are empty (shape {shape})")


# |x| above this is no [-1, 1] image: an unclamped generator overshoots 1 a little, 0..255 floats go far beyond
FLOAT_IMAGE_LIMIT = 2.0
UNIT_RANGE_MIN_VALUES = 64  # fewer values than this may lack a negative one by chance


def to_uint8(images: torch_module.Tensor) -> torch_module.Tensor:
    """Images as uint8: uint8 ones as they are; float ones, about [-1, 1], as NVIDIA's scripts
    convert them, (x * 127.5 + 128).clamp(0, 255), computed in float32 at least (half
    precision would round 255 x coarsely).

    A float batch that is likely in another range gets a UserWarning saying how to fix it: no
    negative value (likely [0, 1], which the conversion washes out) or a value beyond
    ``FLOAT_IMAGE_LIMIT`` in magnitude (likely 0..255, which it saturates)."""
    t = torch()
    if images.dtype == t.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 (0..255) or float (about [-1, 1]), got {images.dtype}")
    if images.dtype not in (t.float32, t.float64):
        images = images.float()
    _warn_if_out_of_range(images)
    return (images * 127.5 + 128).clamp(0, 255).to(dtype=t.uint8)


def _warn_if_out_of_range(images: torch_module.Tensor) -> None:
    if images.numel() == 0:
        return
    low, high = (float(v) for v in torch().aminmax(images))
    if max(-low, high) > FLOAT_IMAGE_LIMIT:
        warn_user(f"float images reach beyond +-{FLOAT_IMAGE_LIMIT:g}, far outside [-1, 1]: if they are "
                  f"0..255, the conversion to uint8 (for images in about [-1, 1], as NVIDIA's) saturates them; "
                  f"pass uint8 images, or rescale to [-1, 1] (x / 127.5 - 1)")
        # (one text for every batch: Python shows a repeated warning once)
    elif low >= 0 and images.numel() >= UNIT_RANGE_MIN_VALUES:
        warn_user("the images have no negative values: if they lie in [0, 1], the conversion to uint8 (for "
                  "images in about [-1, 1], as NVIDIA's) washes them out; rescale them to [-1, 1] (2 * x - 1; "
                  "for a generator, lambda z: 2 * G(z) - 1) or pass uint8 images")


def globals_read(code: Any) -> list[str]:
    """The names a code object reads as globals (LOAD_GLOBAL / LOAD_NAME, not attribute names),
    with those of the comprehensions and lambdas defined inside it."""
    names = [ins.argval for ins in dis.get_instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")]
    for const in code.co_consts:
        if inspect.iscode(const):
            names += globals_read(const)
    return list(dict.fromkeys(names))


def networks_of(fn: Any, depth: int = 3) -> list[Any]:
    """The torch modules a call of ``fn`` runs: fn itself (or a bound method's module), else the
    modules a plain function or lambda closes over or reads as globals that are modules (a script's
    ``lambda b: model(b)`` with ``model`` defined at its top level, also inside a comprehension), or
    a callable object (or a bound method's object) holds as attributes, also through the functions,
    lambdas, bound methods and objects found there (``depth`` levels: a wrapper around a user's
    lambda). A module reached through a global object's attribute (``trainer.G``) is not found."""
    t = torch()
    owner = getattr(fn, "__self__", fn)
    if isinstance(owner, t.nn.Module):
        return [owner]
    found: list[Any] = []
    if inspect.isfunction(fn):
        values = []
        for cell in fn.__closure__ or ():
            try:
                values.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
        for name in globals_read(fn.__code__):  # a global that is a module itself; objects are not walked
            value = fn.__globals__.get(name)
            if isinstance(value, t.nn.Module) and not any(value is v for v in values):
                values.append(value)
    elif not isinstance(owner, type) and not inspect.isroutine(owner) and hasattr(owner, "__dict__"):
        values = list(vars(owner).values())  # a class instance used as an extractor: the modules it holds
    else:
        values = []
    for value in values:
        inner = [value] if isinstance(value, t.nn.Module) else \
            networks_of(value, depth - 1) if depth > 1 and callable(value) else []
        found.extend(m for m in inner if not any(m is f for f in found))
    return found


@contextlib.contextmanager
def evaluating(module: Any) -> Iterator[None]:
    """no_grad, and eval mode for the torch modules a call of ``module`` runs (:func:`networks_of`;
    their modes are restored afterwards)."""
    t = torch()
    # every submodule's own flag, restored as it was: m.train() would also set a frozen submodule training
    nets = networks_of(module)
    modes = [(sub, sub.training) for m in nets for sub in m.modules()]
    for m in nets:
        m.eval()
    try:
        with t.no_grad():
            yield
    finally:
        for sub, was_training in modes:
            sub.training = was_training
