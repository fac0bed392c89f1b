"""The command line's inputs made into objects, each refused in one line when it is wrong: a
network spec into a generator adapter, --device, --class, a detector spec into an extractor, and
which of a command's flags were given."""
from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any, Callable

from .._files import file_sha256
from .._inputs import as_path
from .messages import KEYWORD_FLAGS, fail


BUNDLED = "bundled"  # --detector bundled: the LeNet that ships with the package, on MNIST digits


# Flags that set a generator family's options, and the family each applies to.
GENERATOR_FLAGS = {"noise_mode": "stylegan", "force_fp32": "stylegan", "truncation": "biggan", "z_dim": "callable",
                   "latent_shape": "callable", "c_dim": "callable", "label_format": "callable", "label_arg": "callable"}


def open_network(spec: str) -> Any:
    from ..sampling.networks import load_network

    G = load_network(spec)
    if ":" in spec and not spec.endswith("()") and _is_factory(G):
        fail(f"--network {spec} names a function that takes no arguments, so it cannot be G(z): to call it and "
             f"use the network it returns, write {spec}()")
    return G


def _is_factory(obj: Any) -> bool:
    """A plain function or class with no required parameter: a factory, not a G(z)."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return False
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def adapter(args: argparse.Namespace) -> tuple[Any, str]:
    from ..sampling.generators import as_generator, detect_family

    G = open_network(args.network)
    family = args.family or detect_family(G)
    return as_generator(G, family, **_generator_options(family, args)), family


def _generator_options(family: str, args: argparse.Namespace) -> dict[str, Any]:
    """Family-specific flags, refused where they do not apply."""
    options = {}
    for flag, fam in GENERATOR_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if family != fam:
            fail(f"{KEYWORD_FLAGS[flag]} applies to {fam} generators; this network is {family}")
        options[flag] = value
    return options


def pick_device(name: str) -> str:
    if name == "cpu":
        return name
    try:
        import torch
    except ImportError:  # nothing here runs on a GPU without torch
        if name == "cuda":
            fail("--device cuda needs torch, which is not installed: pip install torch")
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        fail("--device cuda: torch sees no GPU here (use --device cpu, or auto)")
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def parse_classes(text: str | None) -> Any:
    if text is None or text == "uniform":
        return text
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        fail(f"--class takes a class index, a comma-separated list of them, or 'uniform'; got {text!r}")
    return values[0] if len(values) == 1 else values


def load_detector(spec: str, flag: str, device: str) -> Callable[..., Any]:
    """--detector / --quality: 'bundled', a TorchScript file (NVIDIA's detectors), a torch.save'd
    module, or module:attr; each then goes through features.as_extractor, the one detector path."""
    from ..evaluation.features import TorchScriptDetector, as_extractor
    from ..sampling.networks import load_attr, load_torch

    if spec == BUNDLED:
        from ..models.mnist import MnistDetector

        detector = MnistDetector()
        return detector if flag == "--detector" else detector.confidence
    path = as_path(spec)
    if path.is_file():
        try:
            return TorchScriptDetector(path, device)
        except ValueError:  # not TorchScript: a whole module saved with torch.save, cached by its file's hash
            module = _moved(load_torch(path), device)
            if getattr(module, "cache_key", None) is None:
                module.cache_key = f"file-sha256:{file_sha256(path)}"
            return as_extractor(module)
    if ":" in spec and path.suffix.lower() not in (".pt", ".pth"):
        obj = load_attr(spec)
        if not callable(obj):
            fail(f"{flag} {spec!r} is not callable")
        return as_extractor(_moved(obj, device))
    fail(f"{flag} {path} not found" if path.suffix or "/" in spec else
         f"{flag} {spec!r} is neither a file, module:attr, nor '{BUNDLED}'")


def _moved(detector: Any, device: str) -> Any:
    """A torch module moved to ``device``, where the images will be; any other callable as it is."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(detector, torch.nn.Module):
        return detector.to(device)
    return detector


def quality_label(spec: str) -> str:
    """The name of a --quality score on the study's figure: the file's or attribute's name."""
    if spec == BUNDLED:
        return "classifier confidence"
    name = spec.rsplit(":", 1)[1] if ":" in spec and not as_path(spec).is_file() else as_path(spec).stem
    return name.removesuffix("()") or "quality"


def at_least(*rules: tuple[str, int, int]) -> None:
    """Refuse, before any work, a flag's value below its least (flag, value, least)."""
    for flag, value, least in rules:
        if value < least:
            fail(f"{flag} must be an integer >= {least}, got {value}")


HUB_FLAGS = ("k", "threshold", "top", "pool_size", "include_self")

TRUNCATION_FLAGS = ("psi", "truncation_cutoff")

EVAL_SAMPLER_FLAGS = ("hub_k", "threshold", "top", "pool_size", "include_self", *TRUNCATION_FLAGS)

BANK_FIXED = ("space", *HUB_FLAGS, "seed")  # how a bank's latents were chosen: `sample --bank` takes them from it


def given_flags(args: argparse.Namespace, dests: Any) -> list[str]:
    """Those of ``dests`` that the command line set to something other than the option's default."""
    parser = args.command_parser
    return [d for d in dests if getattr(args, d) != parser.get_default(d)]


def flag_name(dest: str) -> str:
    return KEYWORD_FLAGS.get(dest, "--" + dest.replace("_", "-"))


def method_settings(args: argparse.Namespace, flags: Any = None) -> dict[str, Any]:
    """The sampler's settings for --method, refusing flags that belong to another method."""
    flags = (*HUB_FLAGS, *TRUNCATION_FLAGS) if flags is None else flags
    given = {f: getattr(args, f) for f in flags if getattr(args, f) is not None}
    owner = {f: "truncation" if f in TRUNCATION_FLAGS else "hubs" for f in given}
    for flag in given:
        if owner[flag] != args.method:
            fail(f"--{flag.replace('_', '-')} applies to --method {owner[flag]}; this run uses --method {args.method}")
    return given
