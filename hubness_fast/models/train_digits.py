"""Train the bundled digits models: python -m hubness_fast.models.train_digits

A DCGAN (non-saturating loss, Adam 2e-4, betas (0.5, 0.999), batch 64) on all
1 797 images of scikit-learn's digits, and a small CNN classifier (Adam 1e-3)
on 1 500 of them, validated on the other 297. Seeded; a few CPU minutes. The
weights are written next to this file (or to --out).
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING


from .digits import CLASSIFIER_WEIGHTS, GENERATOR_WEIGHTS, LATENT_DIM, load_digits_images, model_classes

if TYPE_CHECKING:
    import numpy as np
    import torch


def train_classifier(torch: ModuleType, images: np.ndarray, labels: np.ndarray, epochs: int,
                     seed: int) -> tuple[torch.nn.Module, float]:
    torch.manual_seed(seed)
    clf = model_classes()[2]()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, val = perm[:1500], perm[1500:]
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    for _ in range(epochs):
        clf.train()
        for idx in train[torch.randperm(len(train))].split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(clf(x[idx]), y[idx]).backward()
            opt.step()
    clf.eval()
    with torch.no_grad():
        acc = (clf(x[val]).argmax(1) == y[val]).float().mean().item()
    return clf, acc


def train_gan(torch: ModuleType, images: np.ndarray, iterations: int, seed: int,
              log_every: int = 500) -> torch.nn.Module:
    torch.manual_seed(seed)
    G, D = model_classes()[0](), model_classes()[1]()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    x = torch.from_numpy(images)
    batch = 64
    for it in range(1, iterations + 1):
        real = x[torch.randint(0, len(x), (batch,))]
        fake = G(torch.randn(batch, LATENT_DIM))
        opt_d.zero_grad()
        loss_d = bce(D(real), torch.ones(batch)) + bce(D(fake.detach()), torch.zeros(batch))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(D(fake), torch.ones(batch))  # non-saturating generator loss
        loss_g.backward()
        opt_g.step()
        if it % log_every == 0:
            print(f"  iteration {it}/{iterations}: loss D {loss_d.item():.3f}, loss G {loss_g.item():.3f}", flush=True)
    return G.eval()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hubness_fast.models.train_digits", description=__doc__)
    ap.add_argument("--iterations", type=int, default=6000, help="GAN iterations (default 6000)")
    ap.add_argument("--epochs", type=int, default=30, help="classifier epochs (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for the weights (default: the package)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    images, labels = load_digits_images()
    t0 = time.perf_counter()
    clf, acc = train_classifier(torch, images, labels, args.epochs, args.seed)
    print(f"classifier: validation accuracy {acc:.3f} ({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    G = train_gan(torch, images, args.iterations, args.seed)
    print(f"generator: {args.iterations} iterations ({time.perf_counter() - t0:.0f} s)")
    gen_path = args.out / GENERATOR_WEIGHTS.name if args.out else GENERATOR_WEIGHTS
    clf_path = args.out / CLASSIFIER_WEIGHTS.name if args.out else CLASSIFIER_WEIGHTS
    gen_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(G.state_dict(), gen_path)
    torch.save(clf.state_dict(), clf_path)
    print(f"wrote {gen_path} and {clf_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
