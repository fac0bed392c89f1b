"""PyTorch, imported on first use (the engine and the metrics run without it), and the two
conversions every torch-facing layer shares: NVIDIA's float-to-uint8 image rule and a module
run in eval mode under no_grad."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch as torch_module


def torch() -> ModuleType:
    """The torch module, or an ImportError that says how to get it."""
    try:
        import torch as module
    except ImportError as exc:
        raise ImportError("this needs PyTorch: pip install torch") from exc
    return module


def to_uint8(images: torch_module.Tensor) -> torch_module.Tensor:
    """[-1, 1] float images to uint8 as NVIDIA's scripts do: (x * 127.5 + 128).clamp(0, 255)."""
    return (images * 127.5 + 128).clamp(0, 255).to(dtype=torch().uint8)


@contextlib.contextmanager
def evaluating(module: Any) -> Iterator[None]:
    """no_grad, and eval mode for a torch module (restored afterwards)."""
    t = torch()
    owner = getattr(module, "__self__", module)
    was_training = isinstance(owner, t.nn.Module) and owner.training
    if was_training:
        owner.eval()
    try:
        with t.no_grad():
            yield
    finally:
        if was_training:
            owner.train()
