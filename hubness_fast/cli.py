"""The `hubness-fast` command: demo, hubs, bench."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _demo(args) -> int:
    if not args.engine:
        try:
            from .demo import run_demo
        except ImportError as exc:
            _fail(f"the sampling demo needs torch, scikit-learn and matplotlib ({exc}); or run with --engine")
        run_demo(out_dir=args.out, n=args.n or 2000, pool_size=args.pool_size, k=args.k, threshold=args.threshold,
                 top=args.top, seed=args.seed)
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


def _load_generator(spec: str):
    """'module:attr' names a generator (module or callable); 'module:attr()' calls attr to build it."""
    import importlib

    build = spec.endswith("()")
    mod_name, _, attr = spec[:-2 if build else None].partition(":")
    if not mod_name or not attr:
        _fail(f"--generator must look like module:attr or module:factory(), got {spec!r}")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        _fail(f"cannot load generator {spec!r}: {exc}")
    return obj() if build else obj


def _sample(args) -> int:
    from .sampling import HubnessSampler, RandomSampler, TruncationSampler

    G = _load_generator(args.generator)
    try:
        if args.method == "hubs":
            sampler = HubnessSampler(args.latent_dim, k=args.k, threshold=args.threshold, top=args.top,
                                     pool_size=args.pool_size, seed=args.seed, progress=True)
        elif args.method == "random":
            sampler = RandomSampler(args.latent_dim, seed=args.seed)
        else:
            sampler = TruncationSampler(args.latent_dim, psi=args.psi, seed=args.seed)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        images = sampler.sample(G, args.n, batch_size=args.batch_size)
    except ValueError as exc:
        _fail(str(exc))
    np.save(out / "samples.npy", images.cpu().numpy())
    if getattr(sampler, "stats", None):
        print(f"acceptance rate {sampler.stats['acceptance_rate']:.2%} over {sampler.stats['pools']} pools "
              f"in {sampler.stats['seconds']:.1f} s")
    print(f"wrote {args.n} samples to {out / 'samples.npy'}")
    return 0


def _bench(args) -> int:
    try:
        if args.gpu:
            from benchmarks.gpu_bench import main as gpu_main

            gpu_main(args.rest)
            return 0
        from benchmarks.runner import main as bench_main
    except ImportError:
        _fail("the benchmark runners live in the source tree: run them from a checkout (python -m benchmarks)")
    return bench_main(args.rest)


def _fail(msg: str):
    print(f"hubness-fast: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        _fail(message)


def main(argv=None) -> int:
    parser = _Parser(prog="hubness-fast", description="Exact k-NN, hub counts and hub sampling.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="hub sampling on the bundled digits GAN (--engine: hub counts only)")
    p.add_argument("--engine", action="store_true", help="only time hub counts of Gaussian latents")
    p.add_argument("--n", type=int, default=None, help="samples per method (2000) / latents with --engine (100000)")
    p.add_argument("--dim", type=int, default=512, help="latent dimension with --engine (default 512)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point (default 5)")
    p.add_argument("--threshold", type=int, default=50, help="hub value to keep (default 50)")
    p.add_argument("--top", type=float, default=None, help="keep this top fraction of each pool instead")
    p.add_argument("--pool-size", type=int, default=10_000)
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=_demo)

    p = sub.add_parser("sample", help="generate samples with hub (or random / truncated) latents")
    p.add_argument("--generator", required=True, help="module:attr, or module:factory() to build it")
    p.add_argument("--latent-dim", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True, help="output folder (samples.npy)")
    p.add_argument("--method", choices=["hubs", "random", "truncation"], default="hubs")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threshold", type=int, default=50)
    p.add_argument("--top", type=float, default=None)
    p.add_argument("--pool-size", type=int, default=10_000)
    p.add_argument("--psi", type=float, default=0.7, help="truncation strength (method truncation)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=_sample)

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


if __name__ == "__main__":
    sys.exit(main())
