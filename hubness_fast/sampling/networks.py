"""Load the generator a user names: a network pickle, a torch.save'd module, or module:attr.

Unpickling runs code from the file: NVIDIA's pickles embed their source, and a
whole ``torch.save``d module is loaded with ``weights_only=False``. Load only
files you trust; nothing but the named file is loaded.
"""
from __future__ import annotations

import importlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from .._inputs import as_path

NVIDIA_MODULES = ("torch_utils", "dnnlib")
FILE_SUFFIXES = (".pkl", ".pt", ".pth", ".ckpt")  # a spec ending so names a file, even with a ':' in it
PICKLE_KEYS = ("G_ema", "G")  # NVIDIA's training snapshots hold G, D and G_ema: the EMA generator is the one to sample


class NetworkError(ValueError):
    """The network could not be loaded; the message says why and what to do."""


def _from_container(obj: Any, source: str | Path) -> Any:
    if isinstance(obj, dict):
        for key in PICKLE_KEYS:
            if key in obj:
                return obj[key]
        keys = sorted(map(str, obj))[:8]
        weights = [k for k in keys if isinstance(obj.get(k), dict)]  # rosinality's {"g", "d", "g_ema", "args"}
        if weights:
            raise NetworkError(f"{source} holds weights, not a network (keys: {keys}; {weights[0]!r} is a "
                               f"state_dict): build the generator in Python, load_state_dict(checkpoint["
                               f"{('g_ema' if 'g_ema' in weights else weights[0])!r}]) and pass module:factory()")
        raise NetworkError(f"{source} holds a dict without a generator (keys: {keys}); "
                           f"expected one of {list(PICKLE_KEYS)}")
    return obj


def _missing_module_message(exc: ModuleNotFoundError, path: str | Path) -> str:
    name = (exc.name or "").split(".")[0]
    if name in NVIDIA_MODULES:
        return (f"{path} is an NVIDIA network pickle: unpickling it needs NVIDIA's '{name}' package. Put a clone "
                f"of stylegan2-ada-pytorch or stylegan3 on PYTHONPATH (PYTHONPATH=/path/to/stylegan3 hubness-fast "
                f"...)")
    return (f"unpickling {path} needs the module '{exc.name}', which is not importable: run from the folder that "
            f"holds it, or put that folder on PYTHONPATH (PYTHONPATH=/path/to/code hubness-fast ...)")


def import_from_cwd() -> None:
    """Put the current folder first on the import path, as ``python -m`` does, so that the classes
    a pickle or a ``module:attr`` spec names are found there whatever started the process."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def load_pickle(path: str | Path) -> Any:
    """A network pickle (NVIDIA's: the ``G_ema`` entry is returned); its classes may live in the
    current folder (:func:`import_from_cwd`)."""
    import_from_cwd()
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f)
    except ModuleNotFoundError as exc:
        raise NetworkError(_missing_module_message(exc, path)) from exc
    except (pickle.UnpicklingError, EOFError) as exc:
        raise NetworkError(f"{path} is not a readable pickle: {exc}") from exc
    return _from_container(obj, path)


def load_torch(path: str | Path) -> Any:
    """A ``torch.save``d module (or a dict holding ``G_ema`` / ``G``); weights_only=False runs the file's code.
    Its classes may live in the current folder (:func:`import_from_cwd`)."""
    import torch

    import_from_cwd()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise NetworkError(_missing_module_message(exc, path)) from exc
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise NetworkError(f"{path} is not a readable torch file: {exc}") from exc
    obj = _from_container(obj, path)
    if isinstance(obj, dict):
        raise NetworkError(f"{path} holds a state_dict, not a module: build the model in Python and pass "
                           f"module:factory()")
    return obj


def load_attr(spec: str) -> Any:
    """'module:attr' (an object) or 'module:factory()' (called with no arguments), importing from
    the current directory first, as ``python -m`` does."""
    build = spec.endswith("()")
    mod_name, _, attr = spec[:-2 if build else None].partition(":")
    if not mod_name or not attr:
        raise NetworkError(f"expected a file, module:attr or module:factory(), got {spec!r}")
    import_from_cwd()
    obj: Any
    try:
        obj = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise NetworkError(f"cannot load {spec!r}: {exc}") from exc
    return obj() if build else obj


def load_network(spec: str) -> Any:
    """A generator from a file (.pkl: a pickle; .pt / .pth / other: torch.load) or module:attr."""
    path = as_path(spec)
    if path.is_file():
        return load_pickle(path) if path.suffix == ".pkl" else load_torch(path)
    if path.is_dir():
        raise NetworkError(f"{path} is a folder: name the network file in it (a .pkl or .pt file)")
    if ":" in spec and path.suffix.lower() not in FILE_SUFFIXES:
        return load_attr(spec)
    if path.suffix.lower() in FILE_SUFFIXES or "/" in spec or os.sep in spec:
        raise NetworkError(f"{path} not found (no such file)")
    raise NetworkError(f"{spec!r} is neither a file nor module:attr (nor module:factory())")
