"""The `hubness-fast` command: demo, hubs, sample, study, bench (argparse only).

Every failure is one line on stderr and exit code 2 (``--debug`` shows the traceback);
output paths are checked before any work; messages name the command's flags.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np

from ._files import atomic_write, creatable_dir, file_sha256, load_npy, writable_file
from ._inputs import as_path
from ._torch import BATCH_SIZE
from ._version import __version__

BUNDLED = "bundled"  # --detector bundled: the LeNet that ships with the package, on MNIST digits
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: the status a shell reports for a tool that a closed pipe ended
SIGTERM_EXIT = 143  # 128 + SIGTERM

# Flags that set a generator family's options, and the family each applies to.
GENERATOR_FLAGS = {"noise_mode": "stylegan", "truncation": "biggan", "z_dim": "callable", "latent_shape": "callable",
                   "c_dim": "callable", "label_format": "callable", "label_arg": "callable"}
# Library messages name Python keywords; on the command line they become the flags that set them.
KEYWORD_FLAGS = {"z_dim": "--z-dim", "latent_dim": "--z-dim", "top": "--top", "threshold": "--threshold",
                 "pool_size": "--pool-size", "k": "--k", "batch_size": "--batch-size", "psi": "--psi",
                 "truncation": "--truncation", "noise_mode": "--noise-mode", "classes": "--class", "n": "--n",
                 "seeds": "--seeds", "include_self": "--include-self", "c_dim": "--c-dim",
                 "latent_shape": "--z-shape", "label_format": "--label-format", "label_arg": "--label-arg",
                 "cls": "--class", "class": "--class", "offset": "--offset", "k_dc": "--k-dc", "hub_k": "--hub-k",
                 "n_threads": "--threads", "n_boot": "--n-boot", "device": "--device"}
_KEYWORD = re.compile(r"\b(" + "|".join(KEYWORD_FLAGS) + r")=([^\s,;)]*)")
# "pool_size must be ...": a keyword named as the subject of a rule: the keywords that are no English word
# (not "top", "threshold", "truncation", "n", "k", ...: "BigGAN's truncation must" is about the model)
_SUBJECT = re.compile(r"(?<![\w'-])(" + "|".join(k for k in KEYWORD_FLAGS if "_" in k or k in ("psi", "offset"))
                      + r") must\b")
_K_SUBJECT = re.compile(r"^k must\b")  # "k must be ..." as the whole message's subject: the command's --k
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def flags_for_keywords(message: str, offered: Any = None) -> str:
    """'use top=0.01, threshold=59' -> 'use --top 0.01, --threshold 59'; 'pass z_dim=' -> 'pass --z-dim N'.

    With ``offered`` (the flags of the command that failed), a comma-separated piece of advice naming a
    flag the command lacks is left out: `demo` has no --top, so "use top=0.01" is no advice there."""
    def swap(m: re.Match[str]) -> str:
        value, end = m.group(2), ""
        if value.endswith("."):  # the sentence's full stop, not part of the value
            value, end = value[:-1], "."
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":  # device='cuda': --device cuda
            value = value[1:-1]
        return f"{KEYWORD_FLAGS[m.group(1)]} {value or 'N'}{end}"

    message = _KEYWORD.sub(swap, message)
    message = _SUBJECT.sub(lambda m: m.group(0) if offered is not None and KEYWORD_FLAGS[m.group(1)] not in offered
                           else f"{KEYWORD_FLAGS[m.group(1)]} must", message)  # a flag the command has, only
    if offered is not None and "--k" in offered:
        message = _K_SUBJECT.sub("--k must", message)
    if offered is None:
        return message
    sentences = []
    for sentence in re.split(r"(?<=[.;])\s+", message):
        clauses = sentence.split(", ")
        kept = [c for c in clauses if all(f in offered for f in _FLAG.findall(c))]
        if kept and len(kept) < len(clauses):
            if clauses[-1] not in kept and clauses[-1][-1:] in ".;" and kept[-1][-1:] not in ".;":
                kept[-1] += clauses[-1][-1]  # the dropped last clause ended the sentence
            verb = re.match(r"(\w+ )--", clauses[0])
            if clauses[0] not in kept and verb and kept[0].startswith("--"):
                kept[0] = verb.group(1) + kept[0]  # "use --top 0.01, --threshold 59": "use --threshold 59"
            sentence = ", ".join(kept)
        sentences.append(sentence)
    return " ".join(sentences)


def _fail(msg: Any) -> NoReturn:
    msg = " ".join(str(msg).split())  # one line, whatever the exception's text
    print(f"hubness-fast: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


# ---- inputs -----------------------------------------------------------------------------------

def _network(spec: str) -> Any:
    from .sampling.networks import load_network

    G = load_network(spec)
    if ":" in spec and not spec.endswith("()") and _is_factory(G):
        _fail(f"--network {spec} names a function that takes no arguments, so it cannot be G(z): to call it and "
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


def _adapter(args: argparse.Namespace) -> tuple[Any, str]:
    from .sampling.generators import as_generator, detect_family

    G = _network(args.network)
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
            _fail(f"{KEYWORD_FLAGS[flag]} applies to {fam} generators; this network is {family}")
        options[flag] = value
    return options


# what to pip install for a module the command needs and does not find (the package's optional dependencies)
INSTALL = {"torch": "torch", "sklearn": "'scikit-learn>=1.6'", "matplotlib": "matplotlib", "mlxtend": "mlxtend",
           "PIL": "Pillow", "scipy": "scipy", "tqdm": "tqdm", "faiss": "faiss-cpu", "zarr": "zarr",
           "dask": "'dask[array,distributed]'", "distributed": "'dask[array,distributed]'"}


def missing_dependency(exc: BaseException) -> str | None:
    """'this needs X, which is not installed: pip install Y' for an error caused by a missing optional
    dependency (the error itself or one it was raised from), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        # a module not found, not a name missing from one that is there (a too old version says so itself)
        name = (getattr(seen, "name", None) or "").split(".")[0] if isinstance(seen, ModuleNotFoundError) else ""
        if name in INSTALL:
            return f"this needs {name}, which is not installed: pip install {INSTALL[name]}"
        seen = seen.__cause__ or seen.__context__
    return None


def _require(module: str) -> None:
    """Stop before any work (or any folder is made) when a command's dependency is missing."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        _fail(missing_dependency(exc) or str(exc))


def _device(name: str) -> str:
    if name == "cpu":
        return name
    try:
        import torch
    except ImportError:  # nothing here runs on a GPU without torch
        if name == "cuda":
            _fail("--device cuda needs torch, which is not installed: pip install torch")
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        _fail("--device cuda: torch sees no GPU here (use --device cpu, or auto)")
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _parse_classes(text: str | None) -> Any:
    if text is None or text == "uniform":
        return text
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        _fail(f"--class takes a class index, a comma-separated list of them, or 'uniform'; got {text!r}")
    return values[0] if len(values) == 1 else values


def _detector(spec: str, flag: str, device: str) -> Callable[..., Any]:
    """--detector / --quality: 'bundled', a TorchScript file (NVIDIA's detectors), a torch.save'd
    module, or module:attr; each then goes through features.as_extractor, the one detector path."""
    from .evaluation.features import TorchScriptDetector, as_extractor
    from .sampling.networks import load_attr, load_torch

    if spec == BUNDLED:
        from .models.mnist import MnistDetector

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
            _fail(f"{flag} {spec!r} is not callable")
        return as_extractor(_moved(obj, device))
    _fail(f"{flag} {path} not found" if path.suffix or "/" in spec else
          f"{flag} {spec!r} is neither a file, module:attr, nor '{BUNDLED}'")


def _moved(detector: Any, device: str) -> Any:
    """A torch module moved to ``device``, where the images will be; any other callable as it is."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(detector, torch.nn.Module):
        return detector.to(device)
    return detector


def _quality_label(spec: str) -> str:
    """The name of a --quality score on the study's figure: the file's or attribute's name."""
    if spec == BUNDLED:
        return "classifier confidence"
    name = spec.rsplit(":", 1)[1] if ":" in spec and not as_path(spec).is_file() else as_path(spec).stem
    return name.removesuffix("()") or "quality"


# ---- commands ---------------------------------------------------------------------------------

def _demo(args: argparse.Namespace) -> int:
    if not args.engine:
        for flag in ("dim", "threads"):
            if getattr(args, flag) is not None:
                _fail(f"--{flag} applies to --engine only")
        for module in ("torch", "matplotlib", "mlxtend"):
            _require(module)  # the sampling demo's; --engine needs none of them
        from .study.demo import run_demo
        from .study.run import K_PR, check_study_folder

        _at_least(("--n", 500 if args.n is None else args.n, K_PR + 1), ("--seeds", args.seeds, 2),
                  ("--seed", args.seed, 0))
        check_study_folder(creatable_dir(args.out, "output folder"))
        run_demo(out_dir=args.out, n=500 if args.n is None else args.n, seeds=args.seeds, pool_size=args.pool_size,
                 k=args.k, threshold=args.threshold, include_self=args.include_self, seed=args.seed,
                 progress=not args.quiet)
        return 0
    from . import hub_counts

    sampling_only = _given(args, ("seeds", "threshold", "pool_size", "out"))
    if sampling_only:
        _fail(f"{', '.join(_flag(d) for d in sampling_only)} applies to the sampling demo, not --engine")
    n = 100_000 if args.n is None else args.n
    dim = 512 if args.dim is None else args.dim
    threads = () if args.threads is None else (("--threads", args.threads, 1),)
    _at_least(("--n", n, 2), ("--dim", dim, 1), *threads)
    rng = np.random.default_rng(args.seed)
    print(f"Sampling {n:,} Gaussian latents of dimension {dim} (seed {args.seed})")
    z = rng.standard_normal((n, dim), dtype=np.float32)
    t0 = time.perf_counter()
    counts = hub_counts(z, k=args.k, include_self=args.include_self, progress=not args.quiet, n_threads=args.threads)
    secs = time.perf_counter() - t0
    _summarize(counts, args.k)
    print(f"Exact self-join hub counts of {n:,} x {dim} (k={args.k}) in {secs:.1f} s")
    return 0


def _at_least(*rules: tuple[str, int, int]) -> None:
    """Refuse, before any work, a flag's value below its least (flag, value, least)."""
    for flag, value, least in rules:
        if value < least:
            _fail(f"{flag} must be an integer >= {least}, got {value}")


def _summarize(counts: np.ndarray, k: int) -> None:
    n = counts.size
    q = np.percentile(counts, [50, 90, 99, 99.9])
    mean, std = counts.mean(), counts.std()
    skew = float(((counts - mean) ** 3).mean() / std**3) if std > 0 else 0.0
    print(f"hub values N_{k}: sum {counts.sum():,} (= N*k), mean {mean:.2f}, max {counts.max()}, "
          f"median {q[0]:.0f}, p90 {q[1]:.0f}, p99 {q[2]:.0f}, p99.9 {q[3]:.0f}")
    print(f"skewness {skew:.2f}; hubs (N_k >= {2 * k}, twice the mean: scikit-hubness's hub_size=2; not the "
          f"sampler's threshold) {np.mean(counts >= 2 * k):.2%}; antihubs (N_k = 0) {np.mean(counts == 0):.2%} "
          f"of {n:,} points")


def _hubs(args: argparse.Namespace) -> int:
    from . import hub_counts

    if args.threads is not None:
        _at_least(("--threads", args.threads, 1))  # the library's message offers None, which no flag takes
    out = writable_file(args.out, "output file", ".npy")  # before any work
    latents = as_path(args.latents)
    if out.exists() and latents.exists() and out.samefile(latents):
        _fail(f"--out {out} is the latents file itself: name another file for the counts")
    x = load_npy(latents, "the latents file")
    try:
        counts = hub_counts(x, k=args.k, include_self=args.include_self, metric=args.metric, n_threads=args.threads,
                            progress=not args.quiet, device=args.device)
    except ValueError as exc:  # the engine calls its data x: here it is the file
        raise ValueError(re.sub(r"^x\b", f"the latents file {latents}", str(exc))) from exc
    try:
        atomic_write(out, lambda f: np.save(f, counts))  # a failed write leaves an earlier file whole
    except OSError as exc:
        _fail(f"cannot write the output file {out} (nothing was changed there): {exc.strerror or exc}")
    if not args.quiet:
        _summarize(counts, args.k)
    print(f"wrote {out}")
    return 0


HUB_FLAGS = ("k", "threshold", "top", "pool_size", "include_self")
TRUNCATION_FLAGS = ("psi", "truncation_cutoff")
EVAL_SAMPLER_FLAGS = ("hub_k", "threshold", "top", "pool_size", "include_self", *TRUNCATION_FLAGS)
BANK_FIXED = ("space", *HUB_FLAGS, "seed")  # how a bank's latents were chosen: `sample --bank` takes them from it


def _given(args: argparse.Namespace, dests: Any) -> list[str]:
    """Those of ``dests`` that the command line set to something other than the option's default."""
    parser = args.command_parser
    return [d for d in dests if getattr(args, d) != parser.get_default(d)]


def _flag(dest: str) -> str:
    return KEYWORD_FLAGS.get(dest, "--" + dest.replace("_", "-"))


def _method_settings(args: argparse.Namespace, flags: Any = None) -> dict[str, Any]:
    """The sampler's settings for --method, refusing flags that belong to another method."""
    flags = (*HUB_FLAGS, *TRUNCATION_FLAGS) if flags is None else flags
    given = {f: getattr(args, f) for f in flags if getattr(args, f) is not None}
    owner = {f: "truncation" if f in TRUNCATION_FLAGS else "hubs" for f in given}
    for flag in given:
        if owner[flag] != args.method:
            _fail(f"--{flag.replace('_', '-')} applies to --method {owner[flag]}; this run uses --method {args.method}")
    return given


def _sample(args: argparse.Namespace) -> int:
    _require("torch")
    from .sampling.samplers import sample

    if args.bank is not None:
        return _sample_bank(args)
    if args.offset is not None:
        _fail("--offset applies to --bank (the bank's row to start at)")
    settings = _method_settings(args)
    outdir = _sample_folder(args.outdir)
    gen, family = _adapter(args)
    out = sample(gen, args.n, args.method, space=args.space, classes=_parse_classes(args.classes),
                 batch_size=args.batch_size, output="uint8", outdir=outdir, device=_device(args.device),
                 seed=args.seed, progress=not args.quiet, **settings)
    where = (args.space or gen.default_space).upper()
    extra = ""
    if out.hub_values is not None:
        extra = f"; hub values {int(out.hub_values.min())}..{int(out.hub_values.max())}"
    print(f"{args.n} images ({args.method}, {family}, {where} space{extra}) -> {out.outdir}/ "
          f"(000000.png..., grid.png, latents.npz)")
    return 0


def _sample_folder(path: str) -> Path:
    """The output folder of `sample`, made and checked before any work: new, empty, or a sample run's."""
    from .sampling.images import check_sample_folder

    outdir = creatable_dir(path, "output folder")
    check_sample_folder(outdir)
    return outdir


def _sample_bank(args: argparse.Namespace) -> int:
    from .sampling.mining import open_bank, sample_bank

    if args.method != "hubs":
        _fail(f"--bank renders mined hub latents: --method {args.method} does not apply")
    for dest in TRUNCATION_FLAGS:
        if getattr(args, dest) is not None:
            _fail(f"{_flag(dest)} applies to --method truncation; --bank renders mined hub latents")
    bank = open_bank(args.bank)  # before any work: a missing or unfinished bank says so
    _check_bank_flags(args, bank.settings)
    if args.offset is None and not os.access(bank.path, os.W_OK | os.X_OK):  # before the network is loaded
        _fail(f"cannot write to the bank {bank.path}: the next unused rows are counted in it; a bank that cannot "
              f"be written serves rows by --offset N, which neither takes its lock nor moves its cursor")
    outdir = _sample_folder(args.outdir)
    gen, family = _adapter(args)
    out = sample_bank(gen, bank, args.n, offset=args.offset, classes=_parse_classes(args.classes),
                      batch_size=args.batch_size, output="uint8", outdir=outdir, device=_device(args.device),
                      network=args.network, progress=not args.quiet)
    values = np.asarray(out.hub_values)
    print(f"{args.n} images from the bank {bank.path} ({family}, {bank.settings['space'].upper()} space; hub values "
          f"{int(values.min())}..{int(values.max())}) -> {out.outdir}/")
    return 0


def _check_bank_flags(args: argparse.Namespace, settings: dict[str, Any]) -> None:
    """`sample --bank`: a flag that says how latents are chosen is refused unless it equals the bank's
    own setting (the bank fixed it when it was mined)."""
    rule = "top" if settings["top"] is not None else "threshold"  # the one of the two the bank kept by
    for dest in _given(args, BANK_FIXED):
        value = getattr(args, dest)
        mined_as = rule if dest in ("threshold", "top") else dest
        if dest == mined_as and value == settings[dest]:
            continue
        mined = ("hub values that do not count self (no --include-self)" if mined_as == "include_self" else
                 f"{_flag(mined_as)} {settings[mined_as]}")
        shown = _flag(dest) if dest == "include_self" else f"{_flag(dest)} {value}"
        _fail(f"the bank {args.bank} was mined with {mined}: drop {shown} (a bank fixes how its latents were "
              f"chosen; mine another bank for {shown})")


def _mine(args: argparse.Namespace) -> int:
    from .sampling.mining import mine, status

    if args.status is not None:
        others = _given(args, [d for d in vars(args) if d not in ("command", "func", "command_parser", "status",
                                                                  "quiet", "debug")])
        if others:
            _fail(f"--status only reports what a bank holds: drop {', '.join(_flag(d) for d in others)}")
        print(status(args.status))
        return 0
    if args.n is None or args.outdir is None:
        _fail("--n and --outdir are required (or --status BANK)")
    if args.network is None and args.z_dim is None:
        _fail("--network NETWORK, or --z-dim D to mine latents of N(0, I) without a network")
    if args.network is None and _given(args, ["device"]):
        _fail("--device says where the generator runs, and without --network there is none (hub values are "
              "counted on a GPU when one is present and the pool is large)")
    cls = None
    if args.classes is not None:
        try:
            cls = int(args.classes)
        except ValueError:
            _fail(f"--class takes one class index when mining: a bank holds one class (mine each class into a bank "
                  f"of its own); got {args.classes!r}")
    gen = _adapter(args)[0] if args.network is not None else None
    if gen is not None and gen.c_dim and cls is None:
        _fail(f"the network is conditional ({gen.c_dim} classes): mine one class into each bank, --class C")
    if cls is not None and (gen is None or not gen.c_dim):
        _fail("--class applies to a conditional network")
    if cls is not None and gen is not None and not 0 <= cls < gen.c_dim:
        _fail(f"--class {cls} is outside 0..{gen.c_dim - 1}")
    creatable_dir(args.outdir, "bank folder")  # before any mining, and after every check that needs the network
    client = None
    if args.scheduler is not None:
        from distributed import Client

        client = Client(args.scheduler)
    r = mine(gen, args.n, args.outdir, space=args.space, k=5 if args.k is None else args.k,
             threshold=args.threshold if args.threshold is not None else 50, top=args.top,
             pool_size=10_000 if args.pool_size is None else args.pool_size, include_self=bool(args.include_self),
             cls=cls, seed=args.seed,
             z_dim=args.z_dim if gen is None else None, device=None if gen is None else _device(args.device),
             workers=args.workers, client=client,
             network=args.network, progress=not args.quiet)
    print(f"{r.rows} latents in {r.path}/ from {r.pools} pools ({r.computed} mined now, acceptance "
          f"{r.acceptance_rate:.4f}); hub values {r.hub_values['min']:g}..{r.hub_values['max']:g}, median "
          f"{r.hub_values['median']:g}; {r.seconds:.1f} s")
    return 0


def _study(args: argparse.Namespace) -> int:
    for module in ("torch", "matplotlib"):
        _require(module)
    from .study.run import K_PR, MAX_SEEDS, check_real_features, check_study_folder, run_study

    if args.real is None and args.detector != BUNDLED:
        _fail(f"--real (features of held-out real images, .npy) is required unless --detector {BUNDLED}")
    # before the network is loaded
    _at_least(("--n", args.n, K_PR + 1), ("--seeds", args.seeds, 2), ("--seed", args.seed, 0))
    if args.seeds > MAX_SEEDS:
        _fail(f"--seeds must be at most {MAX_SEEDS}, got {args.seeds}")
    outdir = creatable_dir(args.outdir, "output folder")  # before any work
    check_study_folder(outdir)
    if args.quality_label and not args.quality:
        _fail("--quality-label names the scores of --quality: give --quality too")
    device = _device(args.device)
    detector = _detector(args.detector, "--detector", device)
    quality = _detector(args.quality, "--quality", device) if args.quality else None
    if args.real is not None:
        from .evaluation import scorecard

        read = scorecard.read_side(args.real, detector, what="real", batch_size=args.batch_size, device=device,
                                   progress=not args.quiet)
        if not isinstance(read, np.ndarray):
            _fail(f"--real {args.real} is a fitted reference (.npz); the study takes real features (.npy) or images")
        real = check_real_features(read)
    else:
        from .models.mnist import held_out_features

        real = held_out_features(detector)  # type: ignore[arg-type]  # the bundled detector, as built above
    gen, _ = _adapter(args)
    if gen.module is not None and hasattr(gen.module, "to"):
        gen.module.to(device)
    run_study(gen, detector, real, outdir, n=args.n, seeds=args.seeds, seed=args.seed, k=args.k,
              threshold=args.threshold, pool_size=args.pool_size, include_self=args.include_self, quality=quality,
              quality_label=args.quality_label or _quality_label(args.quality or ""),
              classes=_parse_classes(args.classes), batch_size=args.batch_size, verbose=True,
              progress=not args.quiet, device=device)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import scorecard
    from .features import features
    from .sampling.samplers import make_sampler

    chosen = scorecard.parse_metrics(args.metrics)
    if args.fake is not None and args.network is not None:
        _fail("give the fake set as --fake (a folder, an .npy) or as --network NETWORK --n N, not both")
    if args.fake is None and args.network is None:
        _fail("give the fake set: --fake (a folder, an .npy) or --network NETWORK --n N")
    if args.network is not None and args.n is None:
        _fail("--network needs --n (how many images to generate)")
    if args.fake is not None:
        ignored = _given(args, ["n", "method", "truncation", "classes", "noise_mode", "z_dim", "latent_shape",
                                "c_dim", "label_format", "label_arg", "family", "space", *EVAL_SAMPLER_FLAGS])
        if ignored:
            _fail(f"{', '.join(_flag(d) for d in ignored)} set how --network generates the fake set; --fake gives "
                  f"it as it is: drop {'it' if len(ignored) == 1 else 'them'}")
    json_out = writable_file(args.json, "--json", ".json") if args.json else None
    device = _device(args.device)
    detector = _detector(args.detector, "--detector", device) if args.detector else None
    read = {"detector": detector, "batch_size": args.batch_size, "device": device, "cache_dir": args.cache_dir,
            "progress": not args.quiet}
    real = scorecard.read_side(args.real, what="real", **read)
    if args.network is not None:
        if detector is None:
            _fail("--network needs --detector (the generator's images become features through it)")
        gen, _ = _adapter(args)
        gen.to(device)
        settings = _method_settings(args, EVAL_SAMPLER_FLAGS)
        if "hub_k" in settings:
            settings["k"] = settings.pop("hub_k")
        try:
            sampler = make_sampler(args.method, space=args.space or gen.default_space, seed=args.seed,
                                   progress=not args.quiet, **settings)
            fake: Any = features(gen, detector, n=args.n, sampler=sampler, classes=_parse_classes(args.classes),
                                 batch_size=args.batch_size, device=device, progress=not args.quiet)
        except ValueError as exc:  # the sampler's k is --hub-k here; --k is the metrics'
            raise ValueError(re.sub(r"^k must\b", "hub_k must", re.sub(r"\bk=", "hub_k=", str(exc)))) from exc
    else:
        fake = scorecard.read_side(args.fake, what="fake", **read)
    assert isinstance(fake, np.ndarray)  # read_side gives a Manifold for the real side only
    values = scorecard.evaluate(real, fake, chosen, k=args.k, k_dc=args.k_dc, n_boot=args.n_boot, seed=args.seed,
                                progress=not args.quiet)
    print(scorecard.table(values))
    if json_out is not None:
        n_real = len(real.features) if not isinstance(real, np.ndarray) else len(real)
        report = json.dumps({"metrics": values, "k": args.k, "k_dc": args.k_dc, "n_real": n_real,
                             "n_fake": len(fake), "n_boot": args.n_boot, "seed": args.seed,
                             "interval": "95 % percentile bootstrap" if args.n_boot else None,
                             "real": str(args.real), "fake": str(args.fake or args.network),
                             "detector": args.detector}, indent=2)
        atomic_write(json_out, lambda f: f.write(report.encode()))
        print(f"wrote {json_out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    """--data: the installed runner on the user's file; else the project's runners, which live in the
    source tree (benchmarks/), not in the installed package: run them there."""
    import subprocess

    if args.data is not None:
        from .bench import userbench

        if args.gpu:
            _fail("--data runs the CPU tools on your file; --gpu runs the project's GPU runner from a checkout: "
                  "give one of them")
        return userbench.main(["--data", str(args.data), *args.rest, *(["--help"] if args.help else [])])
    if args.help:
        args.command_parser.print_help()
        return 0

    if not (Path.cwd() / "benchmarks" / "__main__.py").is_file():
        _fail("the benchmark runners live in the source tree: run this from a checkout (python -m benchmarks)")
    module = "benchmarks.gpu_bench" if args.gpu else "benchmarks"
    return subprocess.call([sys.executable, "-m", module, *args.rest])


# ---- parser -----------------------------------------------------------------------------------

class _Help(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help unless its text already states the default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "default" not in text and action.option_strings and not unset:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", _Help)
        super().__init__(*a, **kw)

    def error(self, message: str) -> NoReturn:  # one line, exit code 2
        _fail(message)


def _generator_flags(p: argparse.ArgumentParser, one_class: bool = False,
                     device_help: str = "where the generator runs (auto: CUDA when torch sees a GPU)",
                     seed_also: str = "") -> None:
    """The flags `sample` and `study` share: classes, family options, batching, device, seed, output
    (`mine`, one_class, renders no image: no --noise-mode nor --batch-size)."""
    p.add_argument("--class", dest="classes", default=None, metavar="C",
                   help="conditional models: the one class index the bank holds (default: none; required when the "
                        "model is conditional)" if one_class else
                   "conditional models: a class, a comma-separated list, or 'uniform' (default: none; "
                   "required when the model is conditional)")
    p.add_argument("--truncation", type=float, default=None, help="BigGAN's truncation in (0, 1] (default 1)")
    if not one_class:
        p.add_argument("--noise-mode", choices=["const", "random", "none"], default=None,
                       help="StyleGAN noise (default const: a seed fixes the images)")
    p.add_argument("--z-dim", "--latent-dim", dest="z_dim", type=int, default=None,
                   help="latent size of a plain G(z) (default: G.z_dim, else read from G's first layer)")
    p.add_argument("--z-shape", dest="latent_shape", default=None, metavar="SHAPE",
                   help="shape of one latent as a plain G(z) takes it, e.g. 100,1,1 (default: [z_dim, 1, 1] when "
                        "G's first layer is a convolution, else [z_dim])")
    p.add_argument("--c-dim", type=int, default=None,
                   help="number of classes of a conditional G(z, y) (default: unconditional)")
    p.add_argument("--label-format", choices=["onehot", "index"], default=None,
                   help="labels of a conditional G(z, y): one-hot float [N, c_dim] or int [N] (default onehot)")
    p.add_argument("--label-arg", default=None, metavar="NAME",
                   help="pass the labels of a conditional G(z, y) as this keyword (default: second positional)")
    p.add_argument("--family", choices=["stylegan", "biggan", "gan_zoo", "rosinality", "callable"], default=None,
                   help="adapter to use (default: detected)")
    if one_class:
        p.set_defaults(noise_mode=None, batch_size=BATCH_SIZE)
    else:
        p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="images per generator and detector call")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help=device_help)
    p.add_argument("--seed", type=int, default=0,
                   help="random seed: the same seed gives the same latents" + ("" if one_class else " and images")
                   + seed_also)
    p.add_argument("--quiet", action="store_true", help="no progress bars (results are still printed)")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")


def _hub_flags(p: argparse.ArgumentParser, applies: str = "") -> None:
    p.add_argument("--k", type=int, default=None, help=f"neighbours per latent{applies} (default 5)")
    p.add_argument("--pool-size", type=int, default=None, help=f"latents per pool{applies} (default 10000)")
    p.add_argument("--include-self", action="store_true", default=None,
                   help=f"count each latent as its own neighbour, as the paper's notebook does{applies} "
                        f"(default: not counted)")
    prefix = f"{applies[2:]}: " if applies else ""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=int, default=None,
                       help=f"{prefix}keep latents whose hub value is >= this (default 50)")
    group.add_argument("--top", type=float, default=None,
                       help=f"{prefix}keep this top fraction of each pool instead of a threshold (ties at the "
                            "cut are kept; default: the threshold)")


def _parser() -> _Parser:
    parser = _Parser(prog="hubness-fast", description="Exact k-NN, hub counts and hub sampling.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="the paper's study on the bundled StyleGAN-shaped MNIST model (--engine: "
                                    "hub counts only)")
    p.add_argument("--engine", action="store_true", help="only time hub counts of Gaussian latents")
    p.add_argument("--n", type=int, default=None,
                   help="images per method and seed (default 500); latents with --engine (default 100000)")
    p.add_argument("--seeds", type=int, default=5, help="independent seeds per method")
    p.add_argument("--dim", type=int, default=None, help="latent dimension, with --engine only (default 512)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point")
    p.add_argument("--threshold", type=int, default=50, help="hub value a latent needs to be kept")
    p.add_argument("--include-self", action="store_true",
                   help="count each latent as its own neighbour, as the paper's notebook does (default: not counted)")
    p.add_argument("--pool-size", type=int, default=10_000, help="latents per pool")
    p.add_argument("--out", "--outdir", dest="out", type=as_path, default=as_path("demo_out"), help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=int, default=None, help="CPU threads, with --engine only (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (results are still printed)")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    p.set_defaults(func=_demo, command_parser=p)

    p = sub.add_parser(
        "sample", help="generate images with hub (or random / truncated) latents from a network",
        description="Generate images with the hubness prior (Liang et al., ICML 2022) or a baseline. NETWORK is "
                    "a network pickle (.pkl; NVIDIA's: G_ema is taken, and their torch_utils/dnnlib must be on "
                    "PYTHONPATH), a torch.save'd module (.pt), or module:attr / module:factory() importable from "
                    "the current directory. Loading a pickle or a whole module runs code from the file: load only "
                    "files you trust. DIR receives 000000.png... (sorted names follow the rows of latents.npz), "
                    "grid.png and latents.npz (z; w in W space; labels; hub_values).")
    p.add_argument("--network", "--generator", dest="network", required=True, metavar="NETWORK",
                   help="the generator (see above)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--outdir", "--out", dest="outdir", type=as_path, required=True, metavar="DIR",
                   help="output folder, created if needed")
    p.add_argument("--method", choices=["hubs", "random", "truncation"], default="hubs", help="how latents are chosen")
    p.add_argument("--space", choices=["z", "w"], default=None, help="latent space (default: w for StyleGAN, else z)")
    _hub_flags(p, ", --method hubs")
    p.add_argument("--psi", type=float, default=None, help="--method truncation: truncation strength (default 0.7)")
    p.add_argument("--truncation-cutoff", type=int, default=None, metavar="L",
                   help="--method truncation in W: truncate only the first L layers' ws, as NVIDIA's "
                        "truncation_cutoff (default: every layer)")
    p.add_argument("--bank", default=None, metavar="BANK",
                   help="render latents mined by `hubness-fast mine` instead of drawing pools: the next N unused "
                        "rows (default: none)")
    p.add_argument("--offset", type=int, default=None, help="--bank: start at this row instead (default: the next "
                                                               "unused row)")
    _generator_flags(p)
    p.set_defaults(func=_sample, command_parser=p)
    p = sub.add_parser(
        "mine", help="mine hub latents once into a bank (resumable, deterministic); --status BANK says what it holds",
        description="Mine N hub latents of a network into the bank DIR: pool i is drawn from a seed of (seed, class, "
                    "i) alone, so the bank is the same for any number of workers or interruptions. Each pool is "
                    "committed atomically with a checksum; running the same command again resumes. Without "
                    "--network, --z-dim D mines latents of N(0, I). --device says where the generator runs (it "
                    "maps W pools there); hub values are counted where the pool is. A bank holds one --class of a "
                    "conditional model. `hubness-fast sample --bank DIR` renders them.")
    p.add_argument("--network", "--generator", dest="network", default=None, metavar="NETWORK",
                   help="the generator, as for `sample` (default: none, with --z-dim)")
    p.add_argument("--n", type=int, default=None, help="latents to mine (default: none; required unless --status)")
    p.add_argument("--outdir", "--out", dest="outdir", type=as_path, default=None, metavar="BANK",
                   help="the bank folder, created if needed (default: none; required unless --status)")
    p.add_argument("--status", type=as_path, default=None, metavar="BANK",
                   help="print what a bank holds, and stop (default: mine)")
    p.add_argument("--space", choices=["z", "w"], default=None, help="latent space (default: w for StyleGAN, else z)")
    _hub_flags(p)
    p.add_argument("--workers", type=int, default=1, help="pools mined at once in local processes (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a Dask scheduler: pools become tasks on its workers (default: local)")
    _generator_flags(p, one_class=True)
    p.set_defaults(func=_mine, command_parser=p)

    p = sub.add_parser(
        "study", help="does the hubness prior help this generator? the paper's table, curves and figures",
        description="Samples with hubs (W and Z), random and truncation, over several seeds, and scores them "
                    "against real features: FD, precision/recall (k=3), density/coverage (k=5) with spreads, the "
                    "hub-vs-truncation precision-recall curves, hub value against quality, distance to the mean. "
                    "The detector receives uint8 [B, C, H, W] images (0..255), as NVIDIA's metric detectors do. "
                    "On the bundled MNIST model: --network 'hubness_fast.models:load_mnist_generator()' "
                    "--detector bundled (the bundled LeNet; --real defaults to the held-out digits). "
                    "Loading a pickle or a whole module runs code from the file: load only files you trust.")
    p.add_argument("--network", "--generator", dest="network", required=True, metavar="NETWORK",
                   help="the generator, as for `sample`")
    p.add_argument("--real", type=str, default=None, metavar="REAL",
                   help="held-out real images: a folder of images, an .npy of images [N, C, H, W] (both go "
                        "through --detector), or their features [N, D] by the same detector (default: the "
                        "held-out MNIST digits with --detector bundled; required otherwise)")
    p.add_argument("--detector", required=True, metavar="DETECTOR",
                   help="images -> features: NVIDIA's TorchScript detector file (e.g. inception-2015-12-05.pt), a "
                        "torch.save'd module, module:attr, or 'bundled' (the bundled MNIST LeNet)")
    p.add_argument("--quality", default=None,
                   help="uint8 images -> one score per image, e.g. a classifier's confidence; 'bundled': the "
                        "bundled LeNet's confidence (default: realism score only)")
    p.add_argument("--quality-label", default=None, metavar="NAME",
                   help="the --quality score's name on the figure (default: the file's or attribute's name)")
    p.add_argument("--outdir", "--out", dest="outdir", type=as_path, required=True, metavar="DIR",
                   help="output folder, created if needed")
    p.add_argument("--n", type=int, default=1000, help="images per method and seed")
    p.add_argument("--seeds", type=int, default=5, help="independent seeds per method")
    p.add_argument("--k", type=int, default=5, help="neighbours per latent for hub values")
    p.add_argument("--threshold", type=int, default=50, help="hub value a latent needs to be kept")
    p.add_argument("--pool-size", type=int, default=10_000, help="latents per pool")
    p.add_argument("--include-self", action="store_true",
                   help="count each latent as its own neighbour, as the paper's notebook does (default: not counted)")
    _generator_flags(p, device_help="where the generator runs and a detector file (.pt) is loaded (auto: CUDA when "
                                    "torch sees a GPU)")
    p.set_defaults(func=_study, command_parser=p)

    p = sub.add_parser("hubs", help="hub counts of the latents in a .npy file")
    p.add_argument("latents", help=".npy file with an (N, D) array (memory-mapped, never loaded whole)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point")
    p.add_argument("--out", required=True, help="output .npy file for the int64 counts ('.npy' is appended when "
                                                "the name has another ending)")
    p.add_argument("--metric", default="sqeuclidean", choices=["sqeuclidean", "euclidean", "inner_product", "cosine"],
                   help="distance between latents")
    p.add_argument("--include-self", action="store_true",
                   help="count each point as its own neighbour, as the paper's notebook does (default: not counted)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: the GPU when one is present and the job is large; the file is streamed to it in "
                        "chunks (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    p.set_defaults(func=_hubs, command_parser=p)

    p = sub.add_parser("eval", help="k-NN metrics and FD of a fake set against a real one (features or images)")
    p.add_argument("--real", required=True, help="real side: a folder of images, an .npy of features [N, F] or "
                                                 "images [N, C, H, W], or a fitted reference saved by Manifold.save "
                                                 "(.npz)")
    p.add_argument("--fake", default=None, help="fake side: a folder of images or an .npy (as --real); or use "
                                                "--network (default: none)")
    p.add_argument("--network", "--generator", dest="network", default=None, metavar="NETWORK",
                   help="generate the fake side: a network as for `sample` (default: none)")
    p.add_argument("--n", type=int, default=None, help="images to generate with --network (default: none)")
    p.add_argument("--method", default="random", choices=["hubs", "random", "truncation"],
                   help="how --network's latents are chosen (default: random, the usual FID set)")
    p.add_argument("--space", choices=["z", "w"], default=None,
                   help="--network: latent space of hubs and truncation (default: w for StyleGAN, else z)")
    p.add_argument("--hub-k", type=int, default=None, dest="hub_k",
                   help="--method hubs: neighbours per latent for hub values (default 5; --k is the metrics' k)")
    p.add_argument("--pool-size", type=int, default=None, help="--method hubs: latents per pool (default 10000)")
    p.add_argument("--include-self", action="store_true", default=None,
                   help="--method hubs: count each latent as its own neighbour (default: not counted)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=int, default=None,
                       help="--method hubs: keep latents whose hub value is >= this (default 50)")
    group.add_argument("--top", type=float, default=None,
                       help="--method hubs: keep this top fraction of each pool instead of a threshold (ties at "
                            "the cut are kept; default: the threshold)")
    p.add_argument("--psi", type=float, default=None, help="--method truncation: truncation strength (default 0.7)")
    p.add_argument("--truncation-cutoff", type=int, default=None, metavar="L",
                   help="--method truncation in W: truncate only the first L layers' ws (default: every layer)")
    p.add_argument("--detector", default=None,
                   help="turns images into features: a TorchScript file (NVIDIA's inception-2015-12-05.pt, vgg16.pt), "
                        f"module:attr, or '{BUNDLED}' (the MNIST LeNet); needed when a side is images (default: none)")
    p.add_argument("--metrics", default=",".join(scorecard_defaults()),
                   help="comma-separated: fid, pr (precision, recall, F1), dc (density, coverage), prdc, rarity, "
                        "realism, eprc")
    p.add_argument("--k", type=int, default=3, help="k of precision/recall, rarity, realism and eP&R")
    p.add_argument("--k-dc", type=int, default=5, help="k of density/coverage and prdc")
    p.add_argument("--n-boot", type=int, default=0, help="bootstrap resamples for intervals (0: none)")
    p.add_argument("--cache-dir", type=as_path, default=None,
                   help="keep image features by content hash: ten checkpoints extract the real features once "
                        "(default: no cache)")
    p.add_argument("--json", type=as_path, default=None, help="also write the values to this JSON file (default: none)")
    _generator_flags(p, device_help="where the generator runs, a detector file (.pt) is loaded and image batches "
                                    "go to the detector (auto: CUDA when torch sees a GPU)",
                     seed_also=", and the same bootstrap resamples (--n-boot)")
    p.set_defaults(func=_eval, command_parser=p)

    p = sub.add_parser("bench", help="benchmark against faiss, torch, numpy, scikit-learn (python -m benchmarks); "
                                     "every other argument goes to the runner (e.g. --quick, --cases 0)",
                       add_help=False)
    p.add_argument("-h", "--help", action="store_true",
                   help="show this help and exit; with --data, the installed runner's options")
    p.add_argument("--data", type=as_path, default=None,
                   help="benchmark on this .npy instead (installed runner: --queries, --k, --peers, --rounds, "
                        "--threads, --json; `hubness-fast bench --data X --help` lists them; default: the "
                        "project's runner)")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU runner instead (python -m benchmarks.gpu_bench: torch, cupy, KeOps)")
    p.set_defaults(func=_bench, command_parser=p)
    return parser


def scorecard_defaults() -> tuple[str, ...]:
    from .evaluation.scorecard import DEFAULT_METRICS

    return DEFAULT_METRICS


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        args.rest = rest  # the runner parses its own options
    elif rest:
        _fail(f"unrecognized arguments: {' '.join(rest)}")
    started = time.time()
    restore = _stop_on_sigterm()
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside this handler
        return code
    except BrokenPipeError as exc:
        if not _stdout_is_broken():  # another pipe (a worker's, a socket's): an error like any other
            return _report(exc, args)
        # stdout was closed early (`hubness-fast mine --status B | head -1`): stop quietly, as Unix tools
        # do; stdout goes to /dev/null so that the interpreter's last flush does not report it again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except KeyboardInterrupt as exc:
        stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"hubness-fast: {stopped}{_kept(args, started)}", file=sys.stderr)
        return SIGTERM_EXIT if isinstance(exc, Terminated) else 130
    except SystemExit:
        raise
    except Exception as exc:
        return _report(exc, args)
    finally:
        restore()


class Terminated(KeyboardInterrupt):
    """SIGTERM (a job's time limit, ``timeout``, ``docker stop``), raised where Ctrl-C would be, so that a
    command cut off that way saves what Ctrl-C saves."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated


def _stop_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into :class:`Terminated` while a command runs; returns what puts the handler it
    replaced back (nothing to do outside the main thread, where signals cannot be handled)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:
        return lambda: None
    return lambda: _set_sigterm(previous if previous is not None else signal.SIG_DFL)


def _set_sigterm(handler: Any) -> None:
    signal.signal(signal.SIGTERM, handler)


def _kept(args: argparse.Namespace, started: float) -> str:
    """What an interrupted command that started at ``started`` (time.time()) kept, for the commands
    that go on where they stopped."""
    if args.command == "mine" and getattr(args, "outdir", None) is not None and args.status is None:
        return f"; the pools mined so far are in {args.outdir}: the same command again goes on from them"
    folder = args.outdir if args.command == "study" else args.out if args.command == "demo" and not args.engine \
        else None
    if folder is not None:
        from .study.resume import has_progress

        if has_progress(folder):  # a step or more finished (none: the folder was removed, nothing to say)
            return (f"; the study's finished steps are kept in {folder}: the same command again goes on from "
                    f"them")
    if args.command == "eval" and getattr(args, "cache_dir", None) is not None and _saved_since(args.cache_dir,
                                                                                                    started):
        return (f"; the features extracted so far are kept in {args.cache_dir}: the same command again goes on "
                f"from them")
    return ""


def _saved_since(cache_dir: Path, started: float) -> bool:
    """Whether features were saved in ``cache_dir`` since ``started``: the rows of a cut-off extraction
    (a generator's fake set and an extractor without a cache key are not cached)."""
    try:
        return any(p.stat().st_mtime >= started - 1 for p in Path(cache_dir).glob("*.partial/*.npy"))
    except OSError:
        return False


def _report(exc: Exception, args: argparse.Namespace) -> NoReturn:
    """One line on stderr, exit 2; --debug shows the traceback."""
    if getattr(args, "debug", False):
        raise exc
    missing = missing_dependency(exc)
    if missing is not None:
        _fail(missing)
    if not isinstance(exc, ValueError):
        _fail(f"{type(exc).__name__}: {exc}")
    parser = getattr(args, "command_parser", None)
    if args.command == "bench":  # the runner parses its own flags (not in this parser), and its messages name them
        _fail(exc)
    _fail(flags_for_keywords(str(exc), None if parser is None else set(_FLAG.findall(parser.format_usage()))))


def _stdout_is_broken() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no file descriptor (a captured stdout), or no poll
        return False


if __name__ == "__main__":
    sys.exit(main())
