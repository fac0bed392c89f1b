"""One evaluation of a fake set against a real one, as ``hubness-fast eval`` prints and writes it.

A side is features (an array or a ``.npy`` of [N, F]), images (a folder, or an ``.npy`` of
[N, C, H, W]) turned into features by the detector, or, for the real side, a fitted
reference saved with :meth:`Manifold.save` (``.npz``). The numbers are those of the Python
API on the same features: :meth:`Manifold.evaluate`, :func:`metrics.frechet_distance`,
:func:`metrics.efficient_precision_recall`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .._files import load_npy
from .._inputs import as_path, check_int
from .._torch import BATCH_SIZE
from .features import features
from .manifold import Manifold, checked_features

METRICS = ("fid", "pr", "dc", "prdc", "rarity", "realism", "eprc")
DEFAULT_METRICS = ("fid", "pr", "dc")


def parse_metrics(text: str) -> tuple[str, ...]:
    """"fid,pr" -> ("fid", "pr"); unknown names refused with the list."""
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        raise ValueError(f"metrics must be a comma-separated list of {', '.join(METRICS)}; got {text!r}")
    return names


def read_side(spec: str | Path, detector: Any, *, what: str, batch_size: int = BATCH_SIZE, device: str = "cpu",
              cache_dir: str | Path | None = None, progress: bool = True) -> np.ndarray | Manifold:
    """Features [N, F] of a side given as a path (see the module docstring); a saved reference
    (``.npz``) comes back as the fitted :class:`Manifold`."""
    path = as_path(spec)
    if not path.exists():
        raise ValueError(f"{what} {path} not found")
    if path.suffix == ".npz":
        if what != "real":
            raise ValueError(f"a fitted reference (.npz) is for the real side, not the {what} one")
        try:
            with np.load(path, allow_pickle=False) as z:
                holds = set(z.files)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{what} {path} is not a readable .npz file ({exc})") from None
        if not {"k", "radius2", "metric", "hash"} <= holds:
            raise ValueError(f"{what} {path} is not a fitted reference (Manifold.save writes k, radius2, metric and "
                             f"hash; it holds {', '.join(sorted(holds)) or 'nothing'})")
        if not holds & {"raw_features", "features", "features_path"}:
            raise ValueError(f"{what} {path} is a reference saved without its features (include_features=False), "
                             f"which FD and the k-NN metrics need: give the real features themselves (.npy) as "
                             f"--real, or save the reference with include_features=True")
        return Manifold.load(path)
    if path.is_file():
        if path.suffix != ".npy":
            raise ValueError(f"{what} {path} is neither a folder of images, a .npy nor a fitted reference (.npz)")
        data = load_npy(path, what)
        if data.ndim == 2:
            return np.asarray(data)
        if data.ndim != 4:
            raise ValueError(f"{what} {path} holds shape {data.shape}: features [N, F] or images [N, C, H, W]")
        source: Any = np.asarray(data)
    else:
        source = path
    if detector is None:
        raise ValueError(f"{what} {path} holds images: give a detector to turn them into features (--detector "
                         f"on the command line)")
    return features(source, detector, batch_size=batch_size, device=device, cache_dir=cache_dir, progress=progress)


def _mean(values: np.ndarray) -> float | None:
    """The mean, or None (null in JSON) for no values."""
    return float(np.mean(values)) if values.size else None


KNN_K = {"pr", "rarity", "realism"}  # metrics that use k (the manifold's radii); eprc uses k without them
KNN_K_DC = {"dc", "prdc"}           # metrics that use k_dc
FAKE_BALLS = {"pr", "prdc", "eprc"}  # metrics that need the fake set's own radii (their recalls)


def _check_sizes(name: str, n: int, ks: dict[str, int]) -> None:
    """Every k-th neighbour radius needs more than k samples in the set (itself excluded)."""
    for flag, kk in ks.items():
        if n <= kk:
            raise ValueError(f"the {name} set has {n} samples: {flag}={kk} needs at least {kk + 1} (a k-th "
                             f"neighbour other than the sample itself); lower {flag}= or add samples")


def evaluate(real: np.ndarray | Manifold, fake: np.ndarray, chosen: tuple[str, ...] = DEFAULT_METRICS, *,
             k: int = 3, k_dc: int = 5, n_boot: int = 0, seed: int = 0,
             progress: bool = False) -> dict[str, float | None]:
    """The chosen metrics of ``fake`` against ``real``: {name: value}, with ``name_low`` /
    ``name_high`` bootstrap bounds for the k-NN metrics when ``n_boot`` > 0.

    FD is computed on the features as given on both sides; the k-NN metrics (eP&R included) in the
    reference's metric (a cosine :class:`Manifold` compares unit rows of both sides). Only the
    radii the chosen metrics need are fitted: k for pr, rarity and realism, k_dc for dc and prdc,
    none for fid alone.

    Every value is finite or None (undefined; null in JSON), and each bound describes the same
    statistic as its value: ``rarity_mean`` is the mean rarity score of the fakes inside the real
    manifold (Han et al. score no other fake), ``rarity_in_manifold`` their share; ``realism_mean``
    the mean of the finite realism scores, ``realism_inf`` the number of fakes that score infinity
    (each equal to a kept real sample: copies of training data). ``progress``: bars over the
    neighbour passes (the real radii, the fakes' containment). Bounds are 95 % percentile
    bootstrap intervals."""
    chosen_set = set(chosen)
    fake = checked_features(fake, "fake")
    sizes: dict[str, int] = {}
    if chosen_set & (KNN_K | {"eprc"}):
        sizes["k"] = k = check_int(k, "k")  # each under its own name (a k_dc of 0 was "k must")
    if chosen_set & KNN_K_DC:
        sizes["k_dc"] = k_dc = check_int(k_dc, "k_dc")
    # the fakes need more than k samples only for their own radii, which only the recalls use (dc, rarity
    # and realism use the reals'); with a recall, the fitted reference takes them for both k
    _check_sizes("fake", fake.shape[0], sizes if chosen_set & FAKE_BALLS else {})
    fitted = sorted({kk for kk, used in ((k, KNN_K), (k_dc, KNN_K_DC)) if chosen_set & used})
    if isinstance(real, Manifold):
        missing = [kk for kk in fitted if kk not in real.k]
        if missing:
            raise ValueError(f"the fitted reference has radii for k = {list(real.k)}, not for {missing} (as "
                             f"k= / k_dc= ask): fit and save it with those k, or choose k= / k_dc= among them")
        real_raw, dim = real.raw, real.features.shape[1]
    else:
        real_raw = checked_features(real, "real")
        dim = real_raw.shape[1]
        _check_sizes("real", real_raw.shape[0], sizes)
    if fake.shape[1] != dim:
        raise ValueError(f"real features have {dim} dimensions but fake features have {fake.shape[1]}: both sides "
                         f"need features from the same detector")
    out: dict[str, float | None] = {}
    if "fid" in chosen_set:
        if real_raw is None:
            raise ValueError("this cosine reference holds only unit-normalised real features, on which FD means "
                             "nothing: save it again (Manifold.save now keeps the features as given) or give "
                             "the real features themselves")
        out["fid"] = metrics.frechet_distance(real_raw, fake)
    manifold = real if isinstance(real, Manifold) else Manifold(real_raw, fitted, progress=progress) if fitted \
        else None
    if manifold is not None and chosen_set & (KNN_K | KNN_K_DC):
        # a k the chosen metrics do not use is replaced by one fitted: its values are not reported
        k_pr = k if chosen_set & KNN_K else k_dc
        k_ball = k_dc if chosen_set & KNN_K_DC else k
        with _progress_of(manifold, progress):
            ev = manifold.evaluate(fake, k_pr=k_pr, k_dc=k_ball, k_rarity=k_pr, realism="realism" in chosen_set,
                                   k_realism=k_pr, n_boot=n_boot, seed=seed, recall=bool(chosen_set & FAKE_BALLS))
        picked = {"pr": ("precision", "recall", "f_score"), "dc": ("density", "coverage")}
        for group, names in picked.items():
            if group in chosen_set:
                out.update({name: float(getattr(ev, name)) for name in names})
        if "prdc" in chosen_set:
            out.update({f"prdc_{name}": float(v) for name, v in ev.prdc.items()})
        if "rarity" in chosen_set:  # the statistic Manifold.evaluate's interval resamples
            out["rarity_mean"] = _mean(ev.rarity.scores[ev.rarity.in_manifold])
            out["rarity_in_manifold"] = float(np.mean(ev.rarity.in_manifold))
        if "realism" in chosen_set and ev.realism is not None:
            finite = np.isfinite(ev.realism)
            out["realism_mean"] = _mean(ev.realism[finite])
            out["realism_inf"] = int(np.count_nonzero(~finite))
        for name, (low, high) in (ev.intervals or {}).items():
            if name in out:
                out[f"{name}_low"], out[f"{name}_high"] = (float(low), float(high)) if out[name] is not None \
                    else (None, None)
    if "eprc" in chosen_set:
        # in the reference's metric: unit rows of both sides for a cosine one
        e = metrics.efficient_precision_recall(manifold.features, manifold.prepare_fake(fake), k=k) \
            if manifold is not None else metrics.efficient_precision_recall(real_raw, fake, k=k)
        out["eprc_precision"], out["eprc_recall"] = e.precision, e.recall
    return out


@contextlib.contextmanager
def _progress_of(manifold: Manifold, progress: bool) -> Iterator[None]:
    """Bars on a reference's containment pass for one call; the caller's own setting given back."""
    kept = manifold.progress
    manifold.progress = kept or progress
    try:
        yield
    finally:
        manifold.progress = kept


def table(values: dict[str, float | None]) -> str:
    """One metric a line (4 significant digits; "nan" for an undefined value), its 95 % bootstrap
    interval beside it when there is one."""
    def fmt(value: float | None) -> str:
        return f"{float('nan') if value is None else value:.4g}"

    names = [name for name in values if not name.endswith(("_low", "_high"))
             or name.rsplit("_", 1)[0] not in values]
    width = max(map(len, names)) if names else 0
    lines = []
    for name in names:
        line = f"{name:<{width}}  {fmt(values[name])}"
        if f"{name}_low" in values:
            line = f"{line:<{width + 12}}[{fmt(values[f'{name}_low'])}, {fmt(values[f'{name}_high'])}]  95 % bootstrap"
        lines.append(line)
    return "\n".join(lines)
