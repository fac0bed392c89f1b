"""One evaluation of a fake set against a real one, as ``hubness-fast eval`` prints and writes it.

A side is features (an array or a ``.npy`` of [N, F]), images (a folder, or an ``.npy`` of
[N, C, H, W]) turned into features by the detector, or, for the real side, a fitted
reference saved with :meth:`Manifold.save` (``.npz``). The numbers are those of the Python
API on the same features: :meth:`Manifold.evaluate`, :func:`metrics.frechet_distance`,
:func:`metrics.efficient_precision_recall`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .._inputs import as_path
from .features import features
from .manifold import Manifold

METRICS = ("fid", "pr", "dc", "prdc", "rarity", "realism", "eprc")
DEFAULT_METRICS = ("fid", "pr", "dc")


def parse_metrics(text: str) -> tuple[str, ...]:
    """"fid,pr" -> ("fid", "pr"); unknown names refused with the list."""
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        raise ValueError(f"metrics must be a comma-separated list of {', '.join(METRICS)}; got {text!r}")
    return names


def read_side(spec: str | Path, detector: Any, *, what: str, batch_size: int = 64, device: str = "cpu",
              cache_dir: str | Path | None = None, progress: bool = True) -> np.ndarray | Manifold:
    """Features [N, F] of a side given as a path (see the module docstring); a saved reference
    (``.npz``) comes back as the fitted :class:`Manifold`."""
    path = as_path(spec)
    if not path.exists():
        raise ValueError(f"{what} {path} not found")
    if path.suffix == ".npz":
        if what != "real":
            raise ValueError(f"a fitted reference (.npz) is for the real side, not the {what} one")
        return Manifold.load(path)
    if path.is_file():
        if path.suffix != ".npy":
            raise ValueError(f"{what} {path} is neither a folder of images, a .npy nor a fitted reference (.npz)")
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{what} {path} is not a readable .npy file ({exc})") from None
        if data.ndim == 2:
            return np.asarray(data)
        if data.ndim != 4:
            raise ValueError(f"{what} {path} holds shape {data.shape}: features [N, F] or images [N, C, H, W]")
        source: Any = np.asarray(data)
    else:
        source = path
    if detector is None:
        raise ValueError(f"{what} {path} holds images: give a detector to turn them into features")
    return features(source, detector, batch_size=batch_size, device=device, cache_dir=cache_dir, progress=progress)


def _mean(values: np.ndarray) -> float | None:
    """The mean, or None (null in JSON) for no values."""
    return float(np.mean(values)) if values.size else None


def evaluate(real: np.ndarray | Manifold, fake: np.ndarray, chosen: tuple[str, ...] = DEFAULT_METRICS, *,
             k: int = 3, k_dc: int = 5, n_boot: int = 0, seed: int = 0) -> dict[str, float | None]:
    """The chosen metrics of ``fake`` against ``real``: {name: value}, with ``name_low`` /
    ``name_high`` bootstrap bounds for the k-NN metrics when ``n_boot`` > 0.

    Every value is finite or None (undefined; null in JSON), and each bound describes the same
    statistic as its value: ``rarity_mean`` is the mean rarity score of the fakes inside the real
    manifold (Han et al. score no other fake), ``rarity_in_manifold`` their share; ``realism_mean``
    the mean of the finite realism scores, ``realism_inf`` the number of fakes that score infinity
    (each equal to a kept real sample: copies of training data)."""
    ks = sorted({k, k_dc})
    manifold = real if isinstance(real, Manifold) else Manifold(real, ks)
    missing = [kk for kk in ks if kk not in manifold.k]
    if missing:
        raise ValueError(f"the fitted reference has radii for k = {list(manifold.k)}, not for {missing}")
    out: dict[str, float | None] = {}
    if "fid" in chosen:
        out["fid"] = metrics.frechet_distance(manifold.features, fake)
    knn_metrics = {"pr", "dc", "prdc", "rarity", "realism"} & set(chosen)
    if knn_metrics:
        ev = manifold.evaluate(fake, k_pr=k, k_dc=k_dc, k_rarity=k, realism="realism" in chosen, k_realism=k,
                               n_boot=n_boot, seed=seed)
        picked = {"pr": ("precision", "recall", "f_score"), "dc": ("density", "coverage")}
        for group, names in picked.items():
            if group in chosen:
                out.update({name: float(getattr(ev, name)) for name in names})
        if "prdc" in chosen:
            out.update({f"prdc_{name}": float(v) for name, v in ev.prdc.items()})
        if "rarity" in chosen:  # the statistic Manifold.evaluate's interval resamples
            out["rarity_mean"] = _mean(ev.rarity.scores[ev.rarity.in_manifold])
            out["rarity_in_manifold"] = float(np.mean(ev.rarity.in_manifold))
        if "realism" in chosen and ev.realism is not None:
            finite = np.isfinite(ev.realism)
            out["realism_mean"] = _mean(ev.realism[finite])
            out["realism_inf"] = int(np.count_nonzero(~finite))
        for name, (low, high) in (ev.intervals or {}).items():
            if name in out:
                out[f"{name}_low"], out[f"{name}_high"] = (float(low), float(high)) if out[name] is not None \
                    else (None, None)
    if "eprc" in chosen:
        e = metrics.efficient_precision_recall(manifold.features, fake, k=k)
        out["eprc_precision"], out["eprc_recall"] = e.precision, e.recall
    return out


def table(values: dict[str, float | None]) -> str:
    """Two columns, one metric a line (4 significant digits; "nan" for an undefined value)."""
    width = max(map(len, values)) if values else 0
    return "\n".join(f"{name:<{width}}  {float('nan') if value is None else value:.4g}"
                     for name, value in values.items())
