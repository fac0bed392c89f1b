"""k-NN evaluation metrics for generative models, exact and in bounded memory.

Every metric compares float64 squared Euclidean distances with float64 squared
radii (the distance from a point to its k-th nearest neighbour in its own set,
self excluded by index). Three native passes at most: a self-join per set for
the radii and one pass over the real x fake pairs for every containment test.
These functions are one-call shortcuts over :class:`hubness_fast.manifold.Manifold`,
which fits the real set once and evaluates many fake sets (every metric in one pass).

| metric | reference | k | comparison | radius of |
| --- | --- | --- | --- | --- |
| precision / recall | Kynkaenniemi et al. 2019 | 3 | d <= r (inclusive) | real / fake sets |
| density / coverage | Naeem et al. 2020 (prdc) | 5 | d < r (strict) | real set |
| prdc() (all four as the prdc package) | prdc 0.2 | 5 | d < r (strict) | both |
| rarity score | Han et al. 2022 | 3 | d < r (strict) | real set |
| realism score | Kynkaenniemi et al. 2019 | 3 | r / d, half of the balls | real set |

device ("auto", "cpu", "cuda") on every metric: where the radii and the
containment pass run. The radii follow hubness_fast.knn's rule; the
containment pass runs on the GPU only with "cuda" until its kernel has run on
one (hubness_fast.engine._dispatch.NOT_YET_RUN_ON_A_GPU). Same values either way.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..engine import describe, run
from .._inputs import as_matrix, check_int, check_k
from .._types import Array, Device, Progress, Threads
from ..engine.balls import ball_pass
from .manifold import Manifold, RarityResult, checked_features, radii2, rarity_from_containment

__all__ = ["kth_radius2", "PrecisionRecall", "DensityCoverage", "precision_recall", "density_coverage", "prdc",
           "RarityResult", "rarity_score", "realism_score", "EfficientPrecisionRecall", "efficient_precision_recall",
           "frechet_distance", "frechet_distance_from_stats"]


def kth_radius2(x: Array, k: int, *, n_threads: Threads = None, progress: Progress = False,
                device: Device = "auto") -> np.ndarray:
    """Squared distance (float64) from each point to its k-th neighbour, self excluded."""
    return radii2(as_matrix(x, "x"), [k], n_threads=n_threads, progress=progress, device=device)[k]


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


def _pair(real: Array, fake: Array, k: int, fake_balls: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both sets validated before any pass: 2-D, finite, the same width, enough fakes for fake balls."""
    r, f = checked_features(real, "real"), checked_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real features have {r.shape[1]} dimensions but fake features have {f.shape[1]}")
    if fake_balls:
        check_k(k, f.shape[0] - 1, f"fake samples other than the point itself; fake has {f.shape[0]}")
    return r, f


def _manifold(real: Array, fake: Array, k: int, n_threads: Threads, progress: Progress, device: Device,
              fake_balls: bool = True, metric: str = "euclidean") -> tuple[Manifold, np.ndarray]:
    r, f = _pair(real, fake, k, fake_balls)
    return Manifold(r, k, metric=metric, n_threads=n_threads, progress=progress, device=device), f


def precision_recall(real: Array, fake: Array, k: int = 3, *, inclusive: bool = True, metric: str = "euclidean",
                     n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> PrecisionRecall:
    """Improved precision and recall (Kynkaenniemi et al., NeurIPS 2019).

    precision: fraction of fake samples inside at least one real ball; recall:
    fraction of real samples inside at least one fake ball. A ball's radius is
    its centre's distance to the k-th nearest neighbour of its own set (self
    excluded). ``inclusive=True`` (the paper's d <= r) is the default. ``metric="cosine"``:
    cosine distances, as :class:`~hubness_fast.Manifold` (``metric`` in the other shortcuts too).
    Returns PrecisionRecall(precision, recall), floats (unpacks as a tuple).
    A one-call shortcut over :class:`hubness_fast.Manifold` (same values).
    """
    m, f = _manifold(real, fake, k, n_threads, progress, device, metric=metric)
    c = m.containment(f, [(k, inclusive)])
    return PrecisionRecall(float(np.mean(c.fake.in_count[:, 0] > 0)), float(np.mean(c.real.in_count[:, 0] > 0)))


def density_coverage(real: Array, fake: Array, k: int = 5, *, inclusive: bool = False, metric: str = "euclidean",
                     n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> DensityCoverage:
    """Density and coverage (Naeem et al., ICML 2020), matching the prdc package.

    density = sum over fakes of the number of real balls containing them / (k M);
    coverage = fraction of real balls that contain at least one fake. Strict
    ``d < r`` by default, as prdc: for constant data every radius is 0 and both
    are 0 (``inclusive=True`` counts the boundary). Returns DensityCoverage(density, coverage).
    A one-call shortcut over :class:`hubness_fast.Manifold` (same values).
    """
    m, f = _manifold(real, fake, k, n_threads, progress, device, fake_balls=False, metric=metric)
    c = m.containment(f, [(k, inclusive)], fake_balls=False)
    # (1/k) * mean: prdc's order of operations, so that values agree to the last bit
    return DensityCoverage(float((1.0 / k) * c.fake.in_count[:, 0].mean()),
                           float(np.mean(c.real.own_count[:, 0] > 0)))


def prdc(real: Array, fake: Array, k: int = 5, *, metric: str = "euclidean", n_threads: Threads = None,
         progress: Progress = False, device: Device = "auto") -> dict[str, float]:
    """precision, recall, density and coverage exactly as the prdc package
    defines them (one k for all four, strict d < r), in one containment pass.

    Returns a dict with keys "precision", "recall", "density", "coverage", the
    prdc package's own return type, so that code written for it runs unchanged.
    """
    m, f = _manifold(real, fake, k, n_threads, progress, device, metric=metric)
    c = m.containment(f, [(k, False)])
    return {
        "precision": float(np.mean(c.fake.in_count[:, 0] > 0)),
        "recall": float(np.mean(c.real.in_count[:, 0] > 0)),
        "density": float((1.0 / k) * c.fake.in_count[:, 0].mean()),
        "coverage": float(np.mean(c.real.own_count[:, 0] > 0)),
    }


def rarity_score(real: Array, fake: Array, k: int = 3, *, out_of_manifold: str = "exclude", metric: str = "euclidean",
                 n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> RarityResult:
    """Rarity score (Han et al., 2022): for each fake, the smallest radius among
    the real balls that contain it (strict d < r; radius = distance to the k-th
    real neighbour). A larger score is a rarer sample. ``metric="cosine"``: cosine
    distances (the reference's ``cossim``), see :mod:`hubness_fast.manifold`.

    out_of_manifold: fakes inside no real ball
      - "exclude" (reference code): score 0, left out of the ranking;
      - "last": score 0, ranked after every in-manifold fake;
      - "nan": score NaN, left out of the ranking.
    """
    if out_of_manifold not in ("exclude", "last", "nan"):
        raise ValueError(f"out_of_manifold must be 'exclude', 'last' or 'nan', got {out_of_manifold!r}")
    m, f = _manifold(real, fake, k, n_threads, progress, device, fake_balls=False, metric=metric)
    return rarity_from_containment(m.containment(f, [(k, False)], fake_balls=False), k, metric, out_of_manifold)


def realism_score(real: Array, fake: Array, k: int = 3, *, clamp_to_percentile: float | None = 50,
                  n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> np.ndarray:
    """Realism score (Kynkaenniemi et al., NeurIPS 2019, Eq. 3) of each fake sample:
    max over real samples i of r_i / ||fake - real_i||, r_i = distance from real i to
    its k-th real neighbour (self excluded). As in their release, the real balls with
    the largest radii are left out first: only those with r_i at or below the
    ``clamp_to_percentile`` percentile of the radii count (None keeps all). A score
    above 1 means the fake lies inside a kept real ball. Returns float64 [M].
    This is the paper's ratio of distances; NVIDIA's released code computes it on squared
    distances, r_i^2 / (d^2 + 1e-5): the square of this score up to that 1e-5 (square
    these values to compare; above 1 means the same either way).

    Exact float64 distances, blocks of fakes against the kept real samples (O(M x N)
    work: meant for evaluation-sized sets). A shortcut over :meth:`Manifold.realism`.
    """
    if clamp_to_percentile is not None and not 0 < clamp_to_percentile <= 100:
        raise ValueError(f"clamp_to_percentile must be in (0, 100] or None, got {clamp_to_percentile}")
    m, f = _manifold(real, fake, k, n_threads, progress, device, fake_balls=False)
    return m.realism(f, k=k, clamp_to_percentile=clamp_to_percentile)


class EfficientPrecisionRecall(NamedTuple):
    precision: float
    recall: float
    real_hubs: int   # how many real samples were kept as hubs
    fake_hubs: int   # how many fake samples were kept as hubs


def _hubs_and_radii(x: np.ndarray, k: int, hub_k: int, n_threads: Threads, progress: Progress, device: Device,
                    desc: str) -> tuple[np.ndarray, np.ndarray]:
    """Hub values as the eP&R authors count them (occurrences in each sample's hub_k + 1 nearest, itself
    included: ``hub_counts(x, hub_k + 1, include_self=True)``) and squared k-th neighbour radii (self
    excluded), both from one k-NN pass with max(k, hub_k + 1) neighbours, self excluded.

    A sample's own list holds itself (distance 0) and its hub_k nearest others, unless hub_k + 1 exact
    duplicates of smaller index come first (ties go by index): then those hub_k + 1 and not itself."""
    n, lists = x.shape[0], hub_k + 1
    p = describe(x, max(k, min(lists, n - 1)), metric="sqeuclidean", exclude_self=True, device=device,
                 n_threads=n_threads, progress=progress, desc=desc)
    r = run(p, ids=True, distances=True)
    ids, dist = np.asarray(r.ids), np.asarray(r.distances)
    if lists == n:  # every sample's list is the whole set: each sample is in all n lists
        return np.full(n, n, np.int64), np.ascontiguousarray(dist[:, k - 1])
    first = ids[:, :lists]
    out = np.all((first < np.arange(n)[:, None]) & (dist[:, :lists] == 0), axis=1)
    for i in np.flatnonzero(out):  # a float32 zero could hide a difference below its range: compare the rows
        out[i] = all(np.array_equal(x[i], x[j]) for j in first[i])
    hubs = np.bincount(ids[~out, :hub_k].ravel(), minlength=n) + np.bincount(first[out].ravel(), minlength=n)
    return hubs + ~out, np.ascontiguousarray(dist[:, k - 1])


def efficient_precision_recall(real: Array, fake: Array, k: int = 3, *, hub_k: int = 3, level: int = 3,
                               inclusive: bool = False, n_threads: Threads = None, progress: Progress = False,
                               device: Device = "auto") -> EfficientPrecisionRecall:
    """Efficient precision and recall with hubness-aware sampling (eP&R; Liang, Wu, Lai and Qin,
    ICML 2024).

    Definition used here, the authors' code's (``Byronliang8/Hubness_Precision_Recall``): in each
    set, a sample's hub value is how often it occurs in the lists of each sample's ``hub_k + 1``
    nearest, itself included (its own list among them: 1 + N_hub_k; ties by index); the samples
    whose hub value exceeds ``level`` are that set's hubs (their k = 3 and hubsK = 3: ``hub_k`` and
    ``level``). Each hub keeps the radius of its ``k``-th nearest other sample in the whole set.
    Precision is the share of fake hubs strictly inside (d < r, as their code; ``inclusive=True``:
    d <= r, as improved precision/recall) at least one real hub's ball, recall the share of real
    hubs inside at least one fake hub's ball. Only hubs meet in the containment pass, which is
    where the saving comes from; the radii need one k-NN pass per set, as the full metric does.
    """
    k, hub_k = check_int(k, "k"), check_int(hub_k, "hub_k")
    level = check_int(level, "level", minimum=0)
    r, f = _pair(real, fake, k, fake_balls=True)  # no fit: the hub pass below gives the radii
    check_k(k, r.shape[0] - 1, f"real samples other than the point itself; real has {r.shape[0]}")
    for name, x in (("real", r), ("fake", f)):
        if hub_k + 1 > x.shape[0]:
            raise ValueError(f"hub_k={hub_k} lists each sample with its {hub_k} nearest others: the {name} set needs "
                             f"at least {hub_k + 1} samples, it has {x.shape[0]}")
    if r.dtype != f.dtype:
        r, f = r.astype(np.float64), f.astype(np.float64)
    hr, rr2 = _hubs_and_radii(r, k, hub_k, n_threads, progress, device, "real hubs")
    hf, fr2 = _hubs_and_radii(f, k, hub_k, n_threads, progress, device, "fake hubs")
    keep_r, keep_f = np.flatnonzero(hr > level), np.flatnonzero(hf > level)
    if keep_r.size == 0 or keep_f.size == 0:
        raise ValueError(f"no {'real' if keep_r.size == 0 else 'fake'} sample has a hub value above level={level} "
                         f"(hub_k={hub_k}); lower the level")
    sf, sr = ball_pass(np.ascontiguousarray(f[keep_f]), fr2[keep_f], np.ascontiguousarray(r[keep_r]), rr2[keep_r],
                       inclusive=inclusive, n_threads=n_threads, progress=progress, device=device)
    return EfficientPrecisionRecall(float(np.mean(sf.in_count > 0)), float(np.mean(sr.in_count > 0)),
                                    int(keep_r.size), int(keep_f.size))


def _mean_cov(x: Array, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(checked_features(x, name), dtype=np.float64)
    if x.shape[0] < 2:
        raise ValueError(f"at least two samples are needed for a covariance; {name} has {x.shape[0]}")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(real: Array, fake: Array) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID when
    the features are Inception pool features): |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).
    Covariances are unbiased (n - 1), as pytorch-fid."""
    real_stats, fake_stats = _mean_cov(real, "real"), _mean_cov(fake, "fake")
    if real_stats[0].shape != fake_stats[0].shape:
        raise ValueError(f"real features have {real_stats[0].shape[0]} dimensions but fake features have "
                         f"{fake_stats[0].shape[0]}")
    return frechet_distance_from_stats(*real_stats, *fake_stats)


COVARIANCE_RTOL = 1e-5  # asymmetry and negative eigenvalues a covariance may have from rounding, relative


def _covariance(s: np.ndarray, name: str) -> np.ndarray:
    """A covariance symmetric up to rounding, made exactly symmetric; refused otherwise."""
    gap = float(np.abs(s - s.T).max())
    if gap > COVARIANCE_RTOL * float(np.abs(s).max()):
        raise ValueError(f"{name} is not symmetric (largest |S - S^T| {gap:.3g}): not a covariance matrix")
    return (s + s.T) / 2


def _check_semidefinite(eigenvalues: np.ndarray, s: np.ndarray, name: str) -> None:
    """Eigenvalues (ascending) of a covariance: none below minus rounding."""
    if eigenvalues[0] < -COVARIANCE_RTOL * max(float(np.abs(s).max()), float(eigenvalues[-1])):
        raise ValueError(f"{name} has a negative eigenvalue ({eigenvalues[0]:.3g}): not a covariance matrix")


def frechet_distance_from_stats(mu1: Array, sigma1: Array, mu2: Array, sigma2: Array) -> float:
    """Frechet distance from (mean, covariance) pairs.

    tr((S1 S2)^(1/2)) is computed as the sum of the square roots of the
    eigenvalues of S1^(1/2) S2 S1^(1/2), a symmetric positive semi-definite
    matrix: no complex parts and no ill-conditioned non-symmetric square root
    (the failure mode of scipy.linalg.sqrtm on near-singular covariances).
    Tiny negative eigenvalues from rounding are clipped to 0. A covariance must be symmetric and
    positive semi-definite up to rounding (relative 1e-5 of its largest entry / eigenvalue, room
    for statistics kept in float32); anything else is refused, not symmetrised or clipped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if d < 1 or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"expected means [d] and covariances [d, d] with d >= 1, got mu1 {mu1.shape}, sigma1 "
                         f"{s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or Inf")
    w, v = np.linalg.eigh(_covariance(s1, "sigma1"))
    _check_semidefinite(w, s1, "sigma1")
    _check_semidefinite(np.linalg.eigvalsh(_covariance(s2, "sigma2")), s2, "sigma2")
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    # The distance is >= 0 (a squared Wasserstein-2 distance); rounding can leave about -1e-15 on equal inputs.
    return max(0.0, float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt))
