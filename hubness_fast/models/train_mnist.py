"""Train the bundled MNIST models: python -m hubness_fast.models.train_mnist

1. The LeNet-style classifier (Adam 1e-3, 12 epochs, small random shifts) on the
   4 000 training digits; its accuracy on the 1 000 held-out digits is recorded.
2. The StyleGAN-shaped generator (mnist.py) with a standard recipe: the
   non-saturating logistic loss, lazy R1 on the real images, Adam (lr 0.0025,
   betas (0, 0.99)) for both networks, batch 64, random translations of up to
   2 pixels applied to real and generated images alike before the discriminator
   (DiffAugment's translation, for 4 000 images), and an exponential moving
   average of the generator's weights (half-life 10 000 images) kept as G_ema.

Every --eval-every iterations G_ema draws 1 000 digits (noise_mode='const'),
which are scored against the held-out digits in the classifier's feature space:
Frechet distance, precision and recall (k = 3). Training stops when the FD has
not improved for --patience evaluations (or at --max-minutes) and the best
G_ema is kept. Seeded and CPU-only; the curve goes to mnist_training.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from ..evaluation import metrics
from .mnist import (CLASSIFIER_WEIGHTS, GENERATOR_WEIGHTS, MnistClassifier, MnistDiscriminator,
                    MnistStyleGenerator, load_mnist)

CURVE = Path(__file__).resolve().parent / "mnist_training.json"


def translate(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Shift each image by its own random offset in [-shift, shift]^2, filling with background (-1)."""
    if shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (shift,) * 4, value=-1.0)
    oy = torch.randint(0, 2 * shift + 1, (n, 1), device=x.device) + torch.arange(h, device=x.device)
    ox = torch.randint(0, 2 * shift + 1, (n, 1), device=x.device) + torch.arange(w, device=x.device)
    rows = padded.gather(2, oy[:, None, :, None].expand(-1, x.shape[1], -1, padded.shape[3]))
    return rows.gather(3, ox[:, None, None, :].expand(-1, x.shape[1], h, -1))


def features(clf: MnistClassifier, images: torch.Tensor, batch: int = 500) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([clf.features(images[s:s + batch]).numpy() for s in range(0, len(images), batch)])


def train_classifier(seed: int, epochs: int = 12) -> tuple[MnistClassifier, float]:
    torch.manual_seed(seed)
    x, y = (torch.from_numpy(a) for a in load_mnist("train"))
    xt, yt = (torch.from_numpy(a) for a in load_mnist("test"))
    clf = MnistClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    for _ in range(epochs):
        clf.train()
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            F.cross_entropy(clf(translate(x[idx], 2)), y[idx]).backward()
            opt.step()
    clf.eval()
    with torch.no_grad():
        acc = (clf(xt).argmax(1) == yt).float().mean().item()
    return clf, acc


def evaluate(G: MnistStyleGenerator, clf: MnistClassifier, real_feats: np.ndarray, n: int = 1000,
             seed: int = 123) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        imgs = torch.cat([G(torch.randn(250, G.z_dim, generator=g), None, noise_mode="const") for _ in range(n // 250)])
    fake = features(clf, imgs)
    p, r = metrics.precision_recall(real_feats, fake, k=3)
    return {"FD": metrics.frechet_distance(real_feats, fake), "precision": p, "recall": r}


def train_gan(clf: MnistClassifier, seed: int, batch: int = 64, lr: float = 0.0025, r1_gamma: float = 0.2,
              r1_every: int = 8, shift: int = 2, ema_kimg: float = 10.0, eval_every: int = 500, patience: int = 4,
              max_iterations: int = 40_000, max_minutes: float = 55.0,
              log: Callable[[str], Any] = print) -> tuple[MnistStyleGenerator, list[dict[str, float]]]:
    if max_iterations < eval_every:
        raise ValueError(f"max_iterations ({max_iterations}) must be at least eval_every ({eval_every}): the best "
                         f"generator is chosen among the evaluations")
    torch.manual_seed(seed)
    x = torch.from_numpy(load_mnist("train")[0])
    real_feats = features(clf, torch.from_numpy(load_mnist("test")[0]))
    G, D = MnistStyleGenerator(), MnistDiscriminator()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.99))
    c = r1_every / (r1_every + 1)  # lazy regularisation rescales the D optimizer (StyleGAN2)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr * c, betas=(0.0, 0.99 ** c))
    curve, best, best_state, stale, t0 = [], float("inf"), None, 0, time.perf_counter()
    for it in range(1, max_iterations + 1):
        # Discriminator: softplus(D(fake)) + softplus(-D(real)), R1 every r1_every steps.
        real = x[torch.randint(0, len(x), (batch,))]
        with torch.no_grad():
            fake = G(torch.randn(batch, G.z_dim), None)
        loss_d = F.softplus(D(translate(fake, shift))).mean() + F.softplus(-D(translate(real, shift))).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if it % r1_every == 0:
            real_r = translate(real, shift).detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(D(real_r).sum(), real_r, create_graph=True)
            (grad.square().sum((1, 2, 3)).mean() * (r1_gamma / 2) * r1_every).backward()
        opt_d.step()
        # Generator: non-saturating loss softplus(-D(G(z))); w_avg tracked by the mapping.
        fake = G(torch.randn(batch, G.z_dim), None, update_emas=True)
        loss_g = F.softplus(-D(translate(fake, shift))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # EMA of the generator's weights, with StyleGAN's ramp-up over the first images.
        ema_nimg = min(ema_kimg * 1000, it * batch * 0.05)
        beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), G.parameters()):
                pe.copy_(p.lerp(pe, beta))
            for be, b in zip(G_ema.buffers(), G.buffers()):
                be.copy_(b)
        if it % eval_every == 0:
            row = {"iteration": it, "kimg": it * batch / 1000, "minutes": (time.perf_counter() - t0) / 60,
                   "loss_d": loss_d.item(), "loss_g": loss_g.item(), **evaluate(G_ema, clf, real_feats)}
            curve.append(row)
            log(f"  it {it}: FD {row['FD']:.2f} precision {row['precision']:.3f} recall {row['recall']:.3f} "
                f"(loss D {row['loss_d']:.3f}, G {row['loss_g']:.3f}, {row['minutes']:.1f} min)")
            if row["FD"] < best:
                best, best_state, stale = row["FD"], copy.deepcopy(G_ema.state_dict()), 0
            else:
                stale += 1
            if stale >= patience or row["minutes"] >= max_minutes:
                break
    assert best_state is not None  # at least one evaluation ran (checked above)
    G_ema.load_state_dict(best_state)
    return G_ema, curve


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hubness_fast.models.train_mnist", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--patience", type=int, default=4, help="evaluations without a better FD before stopping")
    ap.add_argument("--max-minutes", type=float, default=55.0)
    ap.add_argument("--out", type=Path, default=None, help="folder for the weights (default: the package)")
    args = ap.parse_args(argv)
    out = args.out or GENERATOR_WEIGHTS.parent
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    clf, acc = train_classifier(args.seed)
    print(f"classifier: held-out accuracy {acc:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    torch.save(clf.state_dict(), out / CLASSIFIER_WEIGHTS.name)
    G_ema, curve = train_gan(clf, args.seed, eval_every=args.eval_every, patience=args.patience,
                             max_minutes=args.max_minutes, log=lambda s: print(s, flush=True))
    best = min(curve, key=lambda r: r["FD"])
    torch.save({"config": G_ema.config, "G_ema": G_ema.state_dict()}, out / GENERATOR_WEIGHTS.name)
    report = {"classifier_heldout_accuracy": acc, "seed": args.seed, "best": best, "curve": curve}
    (out / CURVE.name).write_text(json.dumps(report, indent=2))
    print(f"generator: best FD {best['FD']:.2f} at iteration {best['iteration']} (precision {best['precision']:.3f}, "
          f"recall {best['recall']:.3f}); wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
