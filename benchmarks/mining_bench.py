"""Mining hub latents: hubness_fast's pools against the paper notebook's procedure, workers, the
cost of sampling from a bank, and the miner's memory. Ratios from the same run, medians.

    python -m benchmarks.mining_bench [--rounds 3] [--out benchmarks/results/mining-<date>.json]

1. Pools of 10 000 latents, k = 5, t = 50, in Z (512-d N(0, I)) and in W (an 8-layer 512-wide
   mapping, StyleGAN's layout): seconds per pool (draw, map, count, keep) with hubness_fast (the
   miner's draw, ``pool_rng``: the engine's counter-based stream on every core), and with the notebook's procedure (one
   random stream; scikit-learn's brute-force ``kneighbors_graph`` with the point itself, column sums,
   on the same latents as ours); mined latents per second are kept latents over that time.
2. ``mine`` of the same Z bank with 1 and with 2 local worker processes (each process runs the
   engine on every core, so on 2 cores this measures overhead, not scaling).
3. The bundled MNIST model: rendering 1 000 images from a bank against random sampling (both
   render with the same generator); the bank's cost per image over the generator's.
4. Peak memory of ``mine`` (its own process) for banks of 5 000, 50 000 and 1 000 000 latents (Z,
   512-d, top 5 % of pools of 10 000): it should not grow with n.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import report


def mapping_8x512(seed: int = 0):
    import torch

    torch.manual_seed(seed)
    layers = []
    for _ in range(8):
        layers += [torch.nn.Linear(512, 512), torch.nn.LeakyReLU(0.2)]
    return torch.nn.Sequential(*layers).eval()


def pool_times(space: str, rounds: int) -> dict:
    import torch
    from sklearn.neighbors import kneighbors_graph

    import hubness_fast as hf
    from hubness_fast.sampling.mining import pool_rng

    mapping = mapping_8x512() if space == "w" else None
    # one pool first, not timed: a miner runs many pools, so the libraries' first-call set-up
    # (torch's and the engine's thread pools, the AMX tile permission) is not a pool's cost
    warm = pool_rng(rounds, None, 0).standard_normal((10_000, 512), dtype=np.float32)
    with torch.no_grad():
        warm = mapping(torch.from_numpy(warm)).numpy() if mapping is not None else warm
    hf.hub_counts(warm, 5, include_self=True)
    kneighbors_graph(warm, 5, include_self=True, n_jobs=-1)
    ours, notebook, kept, agree = [], [], [], True
    draws, maps, counts, notebook_draws = [], [], [], []
    for r in range(rounds):
        # the notebook draws its pool from one random stream; the miner's draw (pool_rng) fills blocks
        # of rows on every core. Both then map and count the miner's pool, so the counts compare.
        t0 = time.perf_counter()
        np.random.default_rng(r).standard_normal((10_000, 512), dtype=np.float32)
        t_draw_notebook = time.perf_counter() - t0
        t0 = time.perf_counter()
        z = pool_rng(r, None, 0).standard_normal((10_000, 512), dtype=np.float32)
        t1 = time.perf_counter()
        with torch.no_grad():
            rows = mapping(torch.from_numpy(z)).numpy() if mapping is not None else z
        t_map = time.perf_counter() - t1
        draws.append(t1 - t0)
        maps.append(t_map)
        t0 = time.perf_counter()
        values = hf.hub_counts(rows, 5, include_self=True)  # the notebook counts the point itself
        keep = np.flatnonzero(values >= 50)
        counts.append(time.perf_counter() - t0)
        ours.append(draws[-1] + t_map + counts[-1])
        notebook_draws.append(t_draw_notebook)
        t0 = time.perf_counter()
        g = kneighbors_graph(rows, 5, include_self=True, n_jobs=-1)
        nb = np.asarray(g.sum(axis=0)).ravel()
        nb_keep = np.flatnonzero(nb >= 50)
        notebook.append(t_draw_notebook + t_map + time.perf_counter() - t0)
        kept.append(int(keep.size))
        agree &= bool(np.array_equal(values, nb.astype(np.int64)) and np.array_equal(keep, nb_keep))
    med = statistics.median

    def per_s(ts: list[float]) -> float:
        return sum(kept) / sum(ts)
    return {"space": space, "pool": 10_000, "k": 5, "threshold": 50, "rounds": rounds, "kept_per_pool": kept,
            "hubness_fast_s_per_pool": med(ours), "notebook_s_per_pool": med(notebook),
            "speedup": med(notebook) / med(ours), "hubness_fast_latents_per_s": per_s(ours),
            "notebook_latents_per_s": per_s(notebook), "same_counts_and_kept": agree,
            # Both sides map the same pool: with a count that took no time at all the ratio would
            # still be at most this (Amdahl's bound of the draw and the map).
            "draw_s": med(draws), "notebook_draw_s": med(notebook_draws), "map_s": med(maps),
            "count_s": med(counts), "ratio_with_a_free_count": med(notebook) / (med(draws) + med(maps))}


def workers(n_pools: int) -> dict:
    """1 and 2 local workers on the same bank, and the cost model for W workers: each pool costs a
    worker t_pool seconds and the writer t_write; W workers mine min(W / t_pool, 1 / t_write) pools a
    second, as long as the machine has cores for them."""
    from hubness_fast.sampling.mining import mine

    out: dict = {"pools": n_pools}
    with tempfile.TemporaryDirectory() as tmp:
        for w in (1, 2):
            # a fixed number of pools: n at top 1 % of 10 000 is 100 latents a pool
            r = mine(None, 100 * n_pools, Path(tmp) / f"w{w}", z_dim=512, k=5, top=0.01, pool_size=10_000,
                     workers=w, progress=False)
            out[f"workers_{w}_s"] = r.seconds
            if w == 1:
                t_write = r.writer_seconds / r.computed
                t_pool = (r.seconds - r.writer_seconds) / r.computed
                out["cost_model"] = {"t_pool_s": t_pool, "t_write_s": t_write,
                                     "pools_per_s_per_worker": 1 / t_pool, "writer_share": t_write / t_pool,
                                     "writer_limit_pools_per_s": 1 / t_write,
                                     "workers_before_the_writer_limits": t_pool / t_write}
        out["same_bank"] = (Path(tmp) / "w1" / "z.npy").read_bytes() == (Path(tmp) / "w2" / "z.npy").read_bytes()
    out["ratio_2_to_1"] = out["workers_2_s"] / out["workers_1_s"]
    return out


def bank_sampling(rounds: int) -> dict:
    import torch

    from hubness_fast.models import load_mnist_generator
    from hubness_fast.sampling import RandomSampler
    from hubness_fast.sampling.mining import mine, open_bank, sample_bank

    torch.set_num_threads(2)
    G = load_mnist_generator()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        mine(G, 1000 * rounds, Path(tmp) / "b", space="w", k=5, top=0.05, pool_size=10_000, progress=False)
        mined_s = time.perf_counter() - t0
        bank = open_bank(Path(tmp) / "b")
        rand, banked = [], []
        for r in range(rounds):
            t0 = time.perf_counter()
            RandomSampler(space="w", seed=r).sample(G, 1000, 64, progress=False)
            rand.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sample_bank(G, bank, 1000, batch_size=64)
            banked.append(time.perf_counter() - t0)
    med = statistics.median
    return {"model": "bundled MNIST StyleGAN-shaped", "images": 1000, "random_s": med(rand), "bank_s": med(banked),
            "bank_overhead_fraction": med(banked) / med(rand) - 1, "mining_s_for_the_bank": mined_s,
            "note": "bank at top 5 % of pools of 10 000 (t = 50 keeps 2-3 a pool on this model)"}


WORKER = r"""
import json, sys, tempfile
from pathlib import Path
from benchmarks.report import peak_mb
from hubness_fast.sampling.mining import mine
n = int(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    mine(None, n, Path(tmp) / "b", z_dim=512, k=5, top=0.05, pool_size=10_000, progress=False)
print(json.dumps({"n": n, "peak_mb": peak_mb()}))
"""


def memory(sizes: tuple[int, ...]) -> list[dict]:
    import json
    import subprocess

    runs = []
    for n in sizes:
        res = subprocess.run([sys.executable, "-c", WORKER, str(n)], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent.parent)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mining_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="JSON file (default build/benchmarks/mining-<date>.json)")
    ap.add_argument("--memory-sizes", type=int, nargs="+", default=[5_000, 50_000, 1_000_000],
                    help="bank sizes whose peak memory is measured (default 5 000, 50 000, 1 000 000)")
    args = ap.parse_args(argv)
    from hubness_fast.bench.userbench import machine

    rep: dict = {"machine": machine(2)}
    for space in ("z", "w"):
        rep[f"pools_{space}"] = row = pool_times(space, args.rounds)
        print(f"{space.upper()}: {row['hubness_fast_s_per_pool']:.3f} s a pool against the notebook's "
              f"{row['notebook_s_per_pool']:.3f} s: {row['speedup']:.1f}x; kept {row['kept_per_pool']}; "
              f"same counts {row['same_counts_and_kept']}; draw {row['draw_s']:.3f} s (the notebook's "
              f"{row['notebook_draw_s']:.3f} s), map {row['map_s']:.3f} s, "
              f"count {row['count_s']:.3f} s: a free count would give {row['ratio_with_a_free_count']:.1f}x")
    rep["workers"] = w = workers(6)
    cm = w["cost_model"]
    print(f"mine, 6 pools: 2 workers / 1 worker {w['ratio_2_to_1']:.2f} (same bank {w['same_bank']}); a pool costs a "
          f"worker {cm['t_pool_s']:.3f} s and the writer {cm['t_write_s']:.4f} s ({100 * cm['writer_share']:.1f} %): "
          f"about {cm['workers_before_the_writer_limits']:.0f} workers before the writer limits")
    rep["bank_sampling"] = b = bank_sampling(args.rounds)
    print(f"MNIST, 1 000 images: from a bank {b['bank_s']:.3f} s against random {b['random_s']:.3f} s: "
          f"{100 * b['bank_overhead_fraction']:+.1f} %")
    rep["memory"] = m = memory(tuple(args.memory_sizes))
    print("mine peak memory: " + ", ".join(f"n = {r['n']}: {r['peak_mb']:.0f} MiB" for r in m))
    report.write_report(rep, args.out, "mining")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
