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
MODULE_KEYS = ("generator", "netG", "gen")  # other training scripts' dicts of whole modules


class NetworkError(ValueError):
    """The network could not be loaded; the message says why and what to do."""


def _from_container(obj: Any, source: str | Path) -> Any:
    if isinstance(obj, dict):
        for key in PICKLE_KEYS:
            if key in obj:
                return obj[key]
        for key in MODULE_KEYS:
            if callable(obj.get(key)) and not isinstance(obj.get(key), dict):
                return obj[key]
        keys = sorted(map(str, obj))[:8]
        weights = [k for k in sorted(map(str, obj)) if isinstance(obj.get(k), dict) and obj[k]
                   and all(hasattr(v, "shape") for v in obj[k].values())]  # rosinality's {"g", "d", "g_ema", ...}
        if weights:
            raise NetworkError(_weights_message(obj, weights, keys, source))
        raise NetworkError(f"{source} holds a dict without a generator (keys: {keys}); expected a module under "
                           f"one of {list(PICKLE_KEYS + MODULE_KEYS)}")
    return obj


def _weights_message(obj: dict[str, Any], weights: list[str], keys: list[str], source: str | Path) -> str:
    """What to do with a checkpoint of weights: which entry to load, and (a Lightning checkpoint's
    'state_dict') the attribute prefix its keys carry."""
    key = next((k for k in ("g_ema", "state_dict") if k in weights), weights[0])
    prefixes = sorted({name.split(".")[0] for name in obj[key] if "." in name})
    hint = ""
    if key == "state_dict" and prefixes:  # PyTorch Lightning: the LightningModule's weights, by attribute
        hint = (f" (a Lightning checkpoint: its keys start with the module's attributes {prefixes[:4]}; for the "
                f"generator alone, load the entries starting with '{prefixes[0]}.' with that prefix removed, or "
                f"build the LightningModule and load them all)")
    return (f"{source} holds weights, not a network (keys: {keys}; {key!r} is a state_dict): build the "
            f"generator in Python, load_state_dict(checkpoint[{key!r}]){hint} and pass module:factory()")


def _missing_class_message(exc: AttributeError, path: str | Path) -> str:
    return (f"cannot load {path}: a class it was saved with is not found now ({exc}). A module saved from a "
            f"script (its class defined in __main__) loads only where that class can be imported: move the class "
            f"into a module in the current folder and save again, or save its state_dict and pass module:factory()")


def _tensorflow_pickle(path: str | Path, opcodes: int = 10_000) -> bool:
    """Whether the pickle names TensorFlow StyleGAN's classes (dnnlib.tflib) among its first opcodes:
    such a pickle needs converting, whatever is on the import path."""
    import pickletools

    try:
        with open(path, "rb") as f:
            for i, (_, arg, _) in enumerate(pickletools.genops(f)):
                if isinstance(arg, str) and arg.startswith("dnnlib.tflib"):
                    return True
                if i >= opcodes:
                    break
    except (OSError, ValueError):
        return False
    return False


def _missing_module_message(exc: ModuleNotFoundError, path: str | Path) -> str:
    name = (exc.name or "").split(".")[0]
    if (exc.name or "").startswith("dnnlib.tflib") or (name == "dnnlib" and _tensorflow_pickle(path)):
        return (f"{path} is a TensorFlow StyleGAN/StyleGAN2 pickle: convert it to a PyTorch one first with "
                f"NVIDIA's legacy.py (in a clone of stylegan2-ada-pytorch or stylegan3: python legacy.py "
                f"--source={path} --dest=converted.pkl), then pass the converted file with that clone on "
                f"PYTHONPATH")
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
    except AttributeError as exc:
        raise NetworkError(_missing_class_message(exc, path)) from exc
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
    except AttributeError as exc:
        raise NetworkError(_missing_class_message(exc, path)) from exc
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
    if "(" in attr or ")" in attr:  # module:Factory(arg=1): arguments are not parsed (nor evaluated)
        raise NetworkError(f"{spec!r} passes arguments: only module:attr or a call with none, module:factory(), is "
                           f"taken; write a function of your own that builds the generator and name it, as "
                           f"mymodels:build()")
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
