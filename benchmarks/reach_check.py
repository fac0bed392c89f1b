"""How well hubness_fast.sampling.reach judges a threshold from the first pools.

For Gaussian pools of several sizes and dimensions it compares the per-pool yield that Reach
estimates from the first 3 pools with the yield measured over many pools (exact hub counts):
the ratio estimate / measured is what the module's docstring quotes.

    python -m benchmarks.reach_check [--pools 60]
"""
from __future__ import annotations

import argparse

import numpy as np

from hubness_fast import hub_counts
from hubness_fast.sampling.reach import MIN_POOLS, Reach

CASES = [(8, 1000, 5, 19), (8, 1000, 5, 22), (64, 1000, 5, 60), (64, 1000, 5, 100), (512, 1000, 10, 150)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=60, help="pools measured per case (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"{'dim':>4} {'pool':>5} {'k':>3} {'threshold':>9} {'measured':>9} {'estimated':>9} {'ratio':>6}")
    for dim, pool, k, threshold in CASES:
        reach, kept = Reach(threshold), 0
        for i in range(args.pools):
            values = hub_counts(rng.standard_normal((pool, dim), dtype=np.float32), k)
            kept += int((values >= threshold).sum())
            if i < MIN_POOLS:
                reach.add(np.bincount(values))
        measured, estimated = kept / args.pools, reach.per_pool()
        ratio = f"{estimated / measured:.2f}" if measured else "-"
        print(f"{dim:>4} {pool:>5} {k:>3} {threshold:>9} {measured:>9.3f} {estimated:>9.3g} {ratio:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
