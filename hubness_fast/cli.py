"""The `hubness-fast` command: demo, hubs, bench."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _demo(args) -> int:
    from . import hub_counts

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
                            n_threads=args.threads, progress=not args.quiet)
    except ValueError as exc:
        _fail(str(exc))
    np.save(args.out, counts)
    if not args.quiet:
        _summarize(counts, args.k)
        print(f"wrote {args.out}")
    return 0


def _bench(args) -> int:
    try:
        from benchmarks.runner import main as bench_main
    except ImportError:
        _fail("the benchmark runner lives in the source tree: run it from a checkout (python -m benchmarks)")
    return bench_main(args.rest)


def _fail(msg: str):
    print(f"hubness-fast: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hubness-fast", description="Exact k-NN and hub counts.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="hub counts of Gaussian latents, with timing")
    p.add_argument("--n", type=int, default=100_000, help="number of latents (default 100000)")
    p.add_argument("--dim", type=int, default=512, help="latent dimension (default 512)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=_demo)

    p = sub.add_parser("hubs", help="hub counts of the latents in a .npy file")
    p.add_argument("latents", help=".npy file with an (N, D) array (memory-mapped, never loaded whole)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--out", required=True, help="output .npy file for the int64 counts")
    p.add_argument("--metric", default="sqeuclidean", choices=["sqeuclidean", "euclidean", "inner_product", "cosine"])
    p.add_argument("--include-self", action="store_true", help="count each point as its own neighbour (paper notebook)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_hubs)

    p = sub.add_parser("bench", help="benchmark against faiss, torch, numpy, scikit-learn (python -m benchmarks)")
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
