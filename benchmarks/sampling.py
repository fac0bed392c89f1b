"""Hub sampling throughput and its cost per generated image.

    python -m benchmarks.sampling [--pools 3] [--rounds 3] [--out FILE]

1. Hub latents per second, pool 10 000, k = 5, t = 50, 512-d, in Z and in W
   (an 8-layer 512-wide StyleGAN-shaped mapping with random weights), against
   the paper notebook's procedure in the same run: the pool's k-NN graph with
   scikit-learn's brute-force NearestNeighbors, column sums, self counted. Both
   count self here (include_self=True) so that they keep the same latents, and
   the runner checks that they do.
2. What a user decides on: the cost of hub sampling per generated image
   relative to the generator's own time, i.e. (time to choose n hub latents -
   time to draw n random ones) / time to render n images, on the bundled MNIST
   model and on a StyleGAN2-shaped stand-in at 256 x 256 (modulated 3 x 3
   convolutions from 4 x 4 to 256 x 256, 256 channels up to 32 x 32, halving
   after; about 13 GFLOP per image), batch 32, n = --pools pools' worth of hub
   latents (a pool's cost is shared by the latents it yields).

Medians over --rounds; ratios are computed within the run.
"""
from __future__ import annotations

import argparse
import datetime
import math
import platform
import statistics
import time

import numpy as np

from .report import write_report

POOL, K, T, DIM = 10_000, 5, 50, 512


def mapping_network(torch, dim=DIM, layers=8, seed=0):
    """StyleGAN's mapping shape: normalize z, `layers` leaky-ReLU linear layers of width dim."""
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(dim, dim, generator=g) / math.sqrt(dim) for _ in range(layers)]

    class Mapping(torch.nn.Module):
        z_dim, c_dim, w_dim, num_ws = dim, 0, dim, 1

        def forward(self, z, c=None):
            x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
            for w in weights:
                x = torch.nn.functional.leaky_relu(x @ w, 0.2) * math.sqrt(2)
            return x.unsqueeze(1)

    return Mapping().eval()


def notebook_hub_latents(n, seed, mapping, torch):
    """The notebook's loop: pool -> (map) -> sklearn brute k-NN graph (self included) -> column sums -> keep >= t."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    kept, total = [], 0
    while total < n:
        z = rng.standard_normal((POOL, DIM), dtype=np.float32)
        if mapping is not None:
            with torch.no_grad():
                x = mapping(torch.from_numpy(z))[:, 0].numpy()
        else:
            x = z
        graph = NearestNeighbors(n_neighbors=K, algorithm="brute").fit(x).kneighbors_graph(x)
        values = np.asarray(graph.sum(0)).ravel()
        kept.append(x[values >= T])
        total += len(kept[-1])
    return np.concatenate(kept)[:n]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def throughput(args, torch):
    from hubness_fast.sampling import HubnessSampler

    rows = []
    for space in ("z", "w"):
        mapping = mapping_network(torch) if space == "w" else None
        probe = HubnessSampler(DIM, k=K, threshold=T, pool_size=POOL, include_self=True, seed=0, mapping=mapping)
        probe.sample_latents(1)
        n = max(1, int(probe.stats["kept"] * args.pools))  # about --pools pools' worth
        ours, theirs = [], []
        for r in range(args.rounds):
            s = HubnessSampler(DIM, k=K, threshold=T, pool_size=POOL, include_self=True, seed=r, mapping=mapping)
            t1, a = timed(lambda: s.sample_latents(n))
            t2, b = timed(lambda: notebook_hub_latents(n, r, mapping, torch))
            ours.append(t1)
            theirs.append(t2)
            same = bool(a.shape == b.shape and np.array_equal(a, b))
        rate = s.stats["acceptance_rate"]
        row = {"space": space, "n": n, "acceptance_rate": rate, "hubness_fast_s": statistics.median(ours),
               "notebook_s": statistics.median(theirs), "same_latents": same}
        row["hubness_fast_latents_per_s"] = n / row["hubness_fast_s"]
        row["notebook_latents_per_s"] = n / row["notebook_s"]
        row["ratio"] = row["notebook_s"] / row["hubness_fast_s"]
        rows.append(row)
        print(f"{space.upper()} space: {n} hub latents (acceptance {rate:.2%}): hubness_fast "
              f"{row['hubness_fast_latents_per_s']:.0f}/s, notebook {row['notebook_latents_per_s']:.0f}/s, "
              f"ratio {row['ratio']:.2f}x, same latents: {same}")
    return rows


def stylegan2_shaped(torch, resolution=256, w_dim=DIM, seed=0):
    """A StyleGAN2-shaped generator with random weights (mapping, modulated convolutions,
    const input, noise), with NVIDIA's interface, for timing."""
    from torch.nn import functional as F

    g = torch.Generator().manual_seed(seed)
    chans = {4: 256, 8: 256, 16: 256, 32: 256, 64: 128, 128: 64, 256: 32}
    res_list = [r for r in chans if r <= resolution]

    class Synthesis(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.const = torch.randn(chans[4], 4, 4, generator=g)
            self.convs = []
            prev = chans[4]
            for r in res_list:
                for _ in range(2 if r > 4 else 1):
                    self.convs.append((r, torch.randn(chans[r], prev, 3, 3, generator=g) / math.sqrt(prev * 9),
                                       torch.randn(prev, w_dim, generator=g) / math.sqrt(w_dim)))
                    prev = chans[r]
            self.to_rgb = torch.randn(3, prev, 1, 1, generator=g) / math.sqrt(prev)
            self.num_ws = len(self.convs) + 1

        def forward(self, ws, noise_mode="const", force_fp32=False):
            assert ws.ndim == 3 and ws.shape[1] == self.num_ws
            x = self.const.expand(ws.shape[0], -1, -1, -1)
            for i, (r, weight, affine) in enumerate(self.convs):
                if x.shape[-1] < r:
                    x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
                s = ws[:, i] @ affine.T + 1                                   # styles [N, in]
                x = F.conv2d(x * s[:, :, None, None], weight, padding=1)
                d = ((weight.square().sum((2, 3))[None] * s.square()[:, None]).sum(2) + 1e-8).rsqrt()
                x = F.leaky_relu(x * d[:, :, None, None], 0.2)
            return torch.tanh(F.conv2d(x, self.to_rgb))

    class Generator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.synthesis = Synthesis()
            self.num_ws = self.synthesis.num_ws
            self.z_dim = self.w_dim = w_dim
            self.c_dim, self.img_resolution, self.img_channels = 0, resolution, 3
            base = mapping_network(torch, w_dim)

            class Mapping(torch.nn.Module):
                z_dim, c_dim = w_dim, 0
                w_avg = torch.zeros(w_dim)

                def forward(self_m, z, c, truncation_psi=1, truncation_cutoff=None):
                    return base(z)[:, :1].repeat(1, self.num_ws, 1)

            self.mapping = Mapping()

        def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, **kw):
            return self.synthesis(self.mapping(z, c), **kw)

    return Generator().eval()


def overhead(args, torch):
    from hubness_fast.sampling import HubnessSampler, RandomSampler, render

    models = {"stylegan2-shaped 256x256 (W 512, 8-layer mapping)": stylegan2_shaped(torch)}
    try:
        from hubness_fast.models import load_mnist_generator

        models["bundled MNIST StyleGAN (W 128)"] = load_mnist_generator()
    except (ImportError, FileNotFoundError) as exc:
        print(f"bundled MNIST model skipped: {exc}")
    rows = []
    for name, G in models.items():
        probe = HubnessSampler(k=K, threshold=T, pool_size=POOL, space="w", seed=0)
        probe.latents(G, 1)
        n = max(1, int(probe.stats["kept"] * args.pools))  # about --pools pools' worth: the cost per image amortized
        choose_hub, choose_rand, rend = [], [], []
        for r in range(args.rounds):
            hubs = HubnessSampler(k=K, threshold=T, pool_size=POOL, space="w", seed=r)
            t_h, lat = timed(lambda: hubs.latents(G, n))
            if hubs.stats["kept"] == 0:
                raise SystemExit(f"{name}: no hub latents")
            t_r, rl = timed(lambda: RandomSampler(space="w", seed=r).latents(G, n))
            t_g, _ = timed(lambda: render(G, rl, "w", batch_size=32))
            choose_hub.append(t_h), choose_rand.append(t_r), rend.append(t_g)
        row = {"model": name, "n": n, "acceptance_rate": hubs.stats["acceptance_rate"],
               "choose_hubs_s": statistics.median(choose_hub), "choose_random_s": statistics.median(choose_rand),
               "render_s": statistics.median(rend)}
        row["hub_overhead_per_image"] = (row["choose_hubs_s"] - row["choose_random_s"]) / row["render_s"]
        rows.append(row)
        print(f"{name}: hub latents cost {row['hub_overhead_per_image']:.1%} of the generator's time per image "
              f"(acceptance {row['acceptance_rate']:.2%}, {n} images, batch 32)")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sampling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pools", type=float, default=3, help="latents to sample, in pools' worth (default 3)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch

    report = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
              "torch_threads": torch.get_num_threads(), "pool_size": POOL, "k": K, "threshold": T, "dim": DIM,
              "throughput": throughput(args, torch), "overhead": overhead(args, torch)}
    write_report(report, args.out, "sampling")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
