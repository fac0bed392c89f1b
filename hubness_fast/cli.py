"""The `hubness-fast` command: demo, hubs, bench."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn
import time

import numpy as np


def _demo(args) -> int:
    if not args.engine:
        try:
            from .demo import run_demo
        except ImportError as exc:
            _fail(f"the sampling demo needs torch, matplotlib and mlxtend ({exc}); or run with --engine")
        run_demo(out_dir=args.out, n=args.n or 500, seeds=args.seeds, pool_size=args.pool_size, k=args.k,
                 threshold=args.threshold, include_self=args.include_self, seed=args.seed)
        return 0
    from . import hub_counts

    args.n = args.n or 100_000

    rng = np.random.default_rng(args.seed)
    print(f"Sampling {args.n:,} Gaussian latents of dimension {args.dim} (seed {args.seed})")
    z = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    t0 = time.perf_counter()
    counts = hub_counts(z, args.k, progress=True, n_threads=args.threads)
    secs = time.perf_counter() - t0
    _summarize(counts, args.k)
    print(f"Exact self-join hub counts of {args.n:,} x {args.dim} (k={args.k}) in {secs:.1f} s")
    return 0


def _summarize(counts: np.ndarray, k: int) -> None:
    n = counts.size
    q = np.percentile(counts, [50, 90, 99, 99.9])
    mean, std = counts.mean(), counts.std()
    skew = float(((counts - mean) ** 3).mean() / std**3) if std > 0 else 0.0
    print(f"hub values N_{k}: sum {counts.sum():,} (= N*k), mean {mean:.2f}, max {counts.max()}, "
          f"median {q[0]:.0f}, p90 {q[1]:.0f}, p99 {q[2]:.0f}, p99.9 {q[3]:.0f}")
    print(f"skewness {skew:.2f}; hubs (N_k >= {2 * k}) {np.mean(counts >= 2 * k):.2%}; "
          f"antihubs (N_k = 0) {np.mean(counts == 0):.2%} of {n:,} points")


def _hubs(args) -> int:
    from . import hub_counts

    try:
        x = np.load(args.latents, mmap_mode="r")
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {args.latents}: {exc}")
    try:
        counts = hub_counts(x, args.k, include_self=args.include_self, metric=args.metric,
                            n_threads=args.threads, progress=not args.quiet, device=args.device)
    except ValueError as exc:
        _fail(str(exc))
    np.save(args.out, counts)
    if not args.quiet:
        _summarize(counts, args.k)
        print(f"wrote {args.out}")
    return 0


def _parse_classes(text):
    if text is None or text == "uniform":
        return text
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        _fail(f"--class takes a class index, a comma-separated list of them, or 'uniform'; got {text!r}")
    return values[0] if len(values) == 1 else values


def _generator_options(family, args):
    """Family-specific flags, refused where they do not apply."""
    options = {}
    for flag, key, fam in (("noise_mode", "noise_mode", "stylegan"), ("truncation", "truncation", "biggan"),
                           ("z_dim", "z_dim", "callable")):
        value = getattr(args, flag)
        if value is None:
            continue
        if family != fam:
            _fail(f"--{flag.replace('_', '-')} applies to {fam} generators; this network is {family}")
        options[key] = value
    return options


def _device(name):
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sample(args) -> int:
    from .generators import as_generator, detect_family
    from .networks import load_network
    from .sampling import sample

    G = load_network(args.network)
    family = args.family or detect_family(G)
    gen = as_generator(G, family, **_generator_options(family, args))
    device = _device(args.device)
    settings = {"k": args.k, "threshold": args.threshold, "top": args.top, "pool_size": args.pool_size,
                "include_self": args.include_self} if args.method == "hubs" else {}
    if args.method == "truncation":
        settings = {"psi": args.psi}
    out = sample(gen, args.n, args.method, space=args.space, classes=_parse_classes(args.classes),
                 batch_size=args.batch_size, output="uint8", outdir=args.outdir, device=device, seed=args.seed,
                 progress=not args.quiet, **settings)
    if not args.quiet:
        where = (args.space or gen.default_space).upper()
        extra = ""
        if out.hub_values is not None:
            extra = f"; hub values {int(out.hub_values.min())}..{int(out.hub_values.max())}"
        print(f"{args.n} images ({args.method}, {family}, {where} space{extra}) -> {out.outdir}/ "
              f"(000000.png..., grid.png, latents.npz)")
    return 0


def _load_callable(spec, what):
    """A TorchScript file, a torch.save'd module, or module:attr (module:factory() builds it)."""
    from pathlib import Path

    from .networks import load_attr, load_torch

    if Path(spec).is_file():
        import torch

        try:
            return torch.jit.load(spec, map_location="cpu")
        except (RuntimeError, ValueError):
            return load_torch(spec)
    if ":" in spec:
        obj = load_attr(spec)
        if not callable(obj):
            _fail(f"{what} {spec!r} is not callable")
        return obj
    _fail(f"{what} {spec!r} is neither a file nor module:attr")


def _study(args) -> int:
    from .generators import as_generator, detect_family
    from .networks import load_network
    from .study import run_study

    G = load_network(args.network)
    family = args.family or detect_family(G)
    gen = as_generator(G, family, **_generator_options(family, args))
    if gen.module is not None and hasattr(gen.module, "to"):
        gen.module.to(_device(args.device))
    detector = _load_callable(args.detector, "--detector")
    quality = _load_callable(args.quality, "--quality") if args.quality else None
    try:
        real = np.load(args.real, mmap_mode="r")
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {args.real}: {exc}")
    run_study(gen, detector, np.asarray(real), args.outdir, n=args.n, seeds=args.seeds, seed=args.seed, k=args.k,
              threshold=args.threshold, pool_size=args.pool_size, include_self=args.include_self, quality=quality,
              classes=_parse_classes(args.classes), batch_size=args.batch_size, verbose=not args.quiet)
    return 0


def _bench(args) -> int:
    """The runners live in the source tree (benchmarks/), not in the installed package: run them there."""
    import subprocess
    from pathlib import Path

    if not (Path.cwd() / "benchmarks" / "__main__.py").is_file():
        _fail("the benchmark runners live in the source tree: run this from a checkout (python -m benchmarks)")
    module = "benchmarks.gpu_bench" if args.gpu else "benchmarks"
    return subprocess.call([sys.executable, "-m", module, *args.rest])


def _fail(msg: str) -> NoReturn:
    msg = " ".join(str(msg).split())  # one line, whatever the exception's text
    print(f"hubness-fast: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def _generator_flags(p, batch_size):
    """The flags `sample` and `study` share: classes, family options, batching, device, seed, output."""
    p.add_argument("--class", dest="classes", default=None, metavar="C",
                   help="conditional models: a class, a comma-separated list, or 'uniform'")
    p.add_argument("--truncation", type=float, default=None, help="BigGAN's truncation in (0, 1] (default 1)")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default=None,
                   help="StyleGAN noise (default const: a seed fixes the images)")
    p.add_argument("--z-dim", "--latent-dim", dest="z_dim", type=int, default=None,
                   help="latent size of a plain G(z) without a z_dim attribute")
    p.add_argument("--family", choices=["stylegan", "biggan", "callable"], default=None,
                   help="adapter to use (default: detected)")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"images per call (default {batch_size})")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the generator runs (auto: CUDA when torch sees a GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        _fail(message)


def main(argv=None) -> int:
    parser = _Parser(prog="hubness-fast", description="Exact k-NN, hub counts and hub sampling.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="the paper's study on the bundled StyleGAN-shaped MNIST model (--engine: "
                                    "hub counts only)")
    p.add_argument("--engine", action="store_true", help="only time hub counts of Gaussian latents")
    p.add_argument("--n", type=int, default=None, help="images per method and seed (500) / latents with --engine "
                                                        "(100000)")
    p.add_argument("--seeds", type=int, default=5, help="independent seeds per method (default 5)")
    p.add_argument("--dim", type=int, default=512, help="latent dimension with --engine (default 512)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point (default 5)")
    p.add_argument("--threshold", type=int, default=50, help="hub value to keep (default 50)")
    p.add_argument("--include-self", action="store_true", help="count each latent as its own neighbour (notebook)")
    p.add_argument("--pool-size", type=int, default=10_000)
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "sample", help="generate images with hub (or random / truncated) latents from a network",
        description="Generate images with the hubness prior (Liang et al., ICML 2022) or a baseline. NETWORK is "
                    "a network pickle (.pkl; NVIDIA's: G_ema is taken, and their torch_utils/dnnlib must be on "
                    "PYTHONPATH), a torch.save'd module (.pt), or module:attr / module:factory() importable from "
                    "the current directory. Loading a pickle or a whole module runs code from the file: load only "
                    "files you trust. DIR receives 000000.png... (sorted names follow the rows of latents.npz), "
                    "grid.png and latents.npz (z; w in W space; labels; hub_values).")
    p.add_argument("--network", "--generator", dest="network", required=True, metavar="NETWORK")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--outdir", "--out", dest="outdir", required=True, metavar="DIR")
    p.add_argument("--method", choices=["hubs", "random", "truncation"], default="hubs")
    p.add_argument("--space", choices=["z", "w"], default=None, help="default: w for StyleGAN, else z")
    p.add_argument("--k", type=int, default=5)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=int, default=50, help="keep hub value >= this (default 50)")
    group.add_argument("--top", type=float, default=None, help="keep this top fraction of each pool instead")
    p.add_argument("--pool-size", type=int, default=10_000)
    p.add_argument("--include-self", action="store_true", help="count each latent as its own neighbour (notebook)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation strength (--method truncation)")
    _generator_flags(p, batch_size=32)
    p.set_defaults(func=_sample)

    p = sub.add_parser(
        "study", help="does the hubness prior help this generator? the paper's table, curves and figures",
        description="Samples with hubs (W and Z), random and truncation, over several seeds, and scores them "
                    "against real features: FD, precision/recall (k=3), density/coverage (k=5) with spreads, the "
                    "hub-vs-truncation precision-recall curves, hub value against quality, distance to the mean. "
                    "Loading a pickle or a whole module runs code from the file: load only files you trust.")
    p.add_argument("--network", required=True, metavar="NETWORK", help="as for `sample`")
    p.add_argument("--real", required=True, metavar="FEATURES.npy", help="features of held-out real images [N, D]")
    p.add_argument("--detector", required=True, metavar="DETECTOR",
                   help="images -> features: a TorchScript file, a torch.save'd module, or module:attr; it receives "
                        "the generator's float images (about [-1, 1])")
    p.add_argument("--quality", default=None, help="optional images -> per-image score (e.g. classifier confidence)")
    p.add_argument("--outdir", required=True, metavar="DIR")
    p.add_argument("--n", type=int, default=1000, help="images per method and seed (default 1000)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threshold", type=int, default=50)
    p.add_argument("--pool-size", type=int, default=10_000)
    p.add_argument("--include-self", action="store_true")
    _generator_flags(p, batch_size=256)
    p.set_defaults(func=_study)

    p = sub.add_parser("hubs", help="hub counts of the latents in a .npy file")
    p.add_argument("latents", help=".npy file with an (N, D) array (memory-mapped, never loaded whole)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--out", required=True, help="output .npy file for the int64 counts")
    p.add_argument("--metric", default="sqeuclidean", choices=["sqeuclidean", "euclidean", "inner_product", "cosine"])
    p.add_argument("--include-self", action="store_true", help="count each point as its own neighbour (paper notebook)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: the GPU when one is present and the job is large (default); the file is streamed "
                        "to it in chunks")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_hubs)

    p = sub.add_parser("bench", help="benchmark against faiss, torch, numpy, scikit-learn (python -m benchmarks)")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU runner instead (python -m benchmarks.gpu_bench: torch, cupy, KeOps)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the runner (see --help there)")
    p.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("hubness-fast: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # one line on stderr, exit 2; --debug shows the traceback
        if getattr(args, "debug", False):
            raise
        _fail(f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc))


if __name__ == "__main__":
    sys.exit(main())
