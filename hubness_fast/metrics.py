"""k-NN evaluation metrics for generative models, exact and in bounded memory.

Every metric compares float64 squared Euclidean distances with float64 squared
radii (the distance from a point to its k-th nearest neighbour in its own set,
self excluded by index). Three native passes at most: a self-join per set for
the radii and one pass over the real x fake pairs for every containment test.

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
one (hubness_fast._dispatch.NOT_YET_RUN_ON_A_GPU). Same values either way.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._dispatch import describe, run
from ._inputs import as_matrix
from ._types import Array, Device, Progress, Threads
from .balls import ball_pass


def _pair(real, fake):
    r = as_matrix(real, "real")
    f = as_matrix(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real features have {r.shape[1]} dimensions but fake features have {f.shape[1]}")
    if r.dtype != f.dtype:  # one dtype for the engine; float64 keeps both exact
        r, f = r.astype(np.float64), f.astype(np.float64)
    return r, f


def kth_radius2(x: Array, k: int, n_threads: Threads = None, progress: Progress = False,
                device: Device = "auto") -> np.ndarray:
    """Squared distance (float64) from each point to its k-th neighbour, self excluded."""
    p = describe(x, k, metric="sqeuclidean", exclude_self=True, device=device, n_threads=n_threads,
                 progress=progress, desc="radii")
    return np.ascontiguousarray(run(p, ids=False, distances=True).distances[:, -1])


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


def precision_recall(real: Array, fake: Array, *, k: int = 3, inclusive: bool = True, n_threads: Threads = None,
                     progress: Progress = False, device: Device = "auto") -> PrecisionRecall:
    """Improved precision and recall (Kynkaenniemi et al., NeurIPS 2019).

    precision: fraction of fake samples inside at least one real ball; recall:
    fraction of real samples inside at least one fake ball. A ball's radius is
    its centre's distance to the k-th nearest neighbour of its own set (self
    excluded). ``inclusive=True`` (the paper's d <= r) is the default.
    Returns PrecisionRecall(precision, recall), floats (unpacks as a tuple).
    """
    r, f = _pair(real, fake)
    rr2, fr2 = kth_radius2(r, k, n_threads, progress, device), kth_radius2(f, k, n_threads, progress, device)
    sf, sr = ball_pass(f, fr2, r, rr2, inclusive=inclusive, n_threads=n_threads, progress=progress, device=device)
    return PrecisionRecall(float(np.mean(sf["in_count"] > 0)), float(np.mean(sr["in_count"] > 0)))


def density_coverage(real: Array, fake: Array, *, k: int = 5, inclusive: bool = False, n_threads: Threads = None,
                     progress: Progress = False, device: Device = "auto") -> DensityCoverage:
    """Density and coverage (Naeem et al., ICML 2020), matching the prdc package.

    density = sum over fakes of the number of real balls containing them / (k M);
    coverage = fraction of real balls that contain at least one fake. Strict
    ``d < r`` by default, as prdc: for constant data every radius is 0 and both
    are 0 (``inclusive=True`` counts the boundary). Returns DensityCoverage(density, coverage).
    """
    r, f = _pair(real, fake)
    rr2 = kth_radius2(r, k, n_threads, progress, device)
    sf, sr = ball_pass(f, None, r, rr2, inclusive=inclusive, n_threads=n_threads, progress=progress, device=device)
    # (1/k) * mean: prdc's order of operations, so that values agree to the last bit
    return DensityCoverage(float((1.0 / k) * sf["in_count"].mean()), float(np.mean(sr["own_count"] > 0)))


def prdc(real: Array, fake: Array, *, k: int = 5, n_threads: Threads = None, progress: Progress = False,
         device: Device = "auto") -> dict[str, float]:
    """precision, recall, density and coverage exactly as the prdc package
    defines them (one k for all four, strict d < r), in one containment pass.

    Returns a dict with keys "precision", "recall", "density", "coverage", the
    prdc package's own return type, so that code written for it runs unchanged.
    """
    r, f = _pair(real, fake)
    rr2, fr2 = kth_radius2(r, k, n_threads, progress, device), kth_radius2(f, k, n_threads, progress, device)
    sf, sr = ball_pass(f, fr2, r, rr2, inclusive=False, n_threads=n_threads, progress=progress, device=device)
    return {
        "precision": float(np.mean(sf["in_count"] > 0)),
        "recall": float(np.mean(sr["in_count"] > 0)),
        "density": float((1.0 / k) * sf["in_count"].mean()),
        "coverage": float(np.mean(sr["own_count"] > 0)),
    }


class RarityResult(NamedTuple):
    scores: np.ndarray       # float64 [M]
    ranking: np.ndarray      # int64: fake indices, rarest first (ties: smaller index)
    in_manifold: np.ndarray  # bool [M]: inside at least one real ball


def rarity_score(real: Array, fake: Array, *, k: int = 3, out_of_manifold: str = "exclude", n_threads: Threads = None,
                 progress: Progress = False, device: Device = "auto") -> RarityResult:
    """Rarity score (Han et al., 2022): for each fake, the smallest radius among
    the real balls that contain it (strict d < r; radius = distance to the k-th
    real neighbour). A larger score is a rarer sample.

    out_of_manifold: fakes inside no real ball
      - "exclude" (reference code): score 0, left out of the ranking;
      - "last": score 0, ranked after every in-manifold fake;
      - "nan": score NaN, left out of the ranking.
    """
    if out_of_manifold not in ("exclude", "last", "nan"):
        raise ValueError(f"out_of_manifold must be 'exclude', 'last' or 'nan', got {out_of_manifold!r}")
    r, f = _pair(real, fake)
    rr2 = kth_radius2(r, k, n_threads, progress, device)
    sf, _ = ball_pass(f, None, r, rr2, inclusive=False, n_threads=n_threads, progress=progress, device=device)
    inside = sf["in_count"] > 0
    scores = np.where(inside, np.sqrt(np.where(inside, sf["min_radius2"], 0.0)), 0.0)
    idx = np.flatnonzero(inside)
    ranking = idx[np.lexsort((idx, -scores[idx]))]
    if out_of_manifold == "last":
        ranking = np.concatenate([ranking, np.flatnonzero(~inside)])
    elif out_of_manifold == "nan":
        scores[~inside] = np.nan
    return RarityResult(scores, ranking.astype(np.int64), inside)


REALISM_BLOCK = 2048  # fake rows per block of the realism pass: 2048 x n_real float64 distances at a time


def realism_score(real: Array, fake: Array, *, k: int = 3, clamp_to_percentile: float | None = 50,
                  n_threads: Threads = None, progress: Progress = False, device: Device = "auto") -> np.ndarray:
    """Realism score (Kynkaenniemi et al., NeurIPS 2019, Eq. 3) of each fake sample:
    max over real samples i of r_i / ||fake - real_i||, r_i = distance from real i to
    its k-th real neighbour (self excluded). As in their release, the real balls with
    the largest radii are left out first: only those with r_i at or below the
    ``clamp_to_percentile`` percentile of the radii count (None keeps all). A score
    above 1 means the fake lies inside a kept real ball. Returns float64 [M].

    Exact float64 distances, ``REALISM_BLOCK`` fakes at a time against the kept real
    samples (O(M x N) work: meant for evaluation-sized sets).
    """
    r, f = _pair(real, fake)
    radius = np.sqrt(kth_radius2(r, k, n_threads, progress, device))
    if clamp_to_percentile is not None:
        if not 0 < clamp_to_percentile <= 100:
            raise ValueError(f"clamp_to_percentile must be in (0, 100] or None, got {clamp_to_percentile}")
        keep = radius <= np.percentile(radius, clamp_to_percentile)
        r, radius = r[keep], radius[keep]
    r64 = np.asarray(r, np.float64)
    out = np.empty(f.shape[0])
    for s in range(0, f.shape[0], REALISM_BLOCK):
        fb = np.asarray(f[s:s + REALISM_BLOCK], np.float64)
        d2 = (fb * fb).sum(1)[:, None] - 2 * fb @ r64.T + (r64 * r64).sum(1)[None]
        d = np.sqrt(np.clip(d2, 0, None))  # the expansion can round a tiny distance below zero
        with np.errstate(divide="ignore"):
            out[s:s + REALISM_BLOCK] = (radius[None] / d).max(1)  # a fake equal to a real centre scores inf
    return out


def _mean_cov(x):
    x = np.asarray(as_matrix(x, "features"), dtype=np.float64)
    if x.shape[0] < 2:
        raise ValueError("at least two samples are needed for a covariance")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(real: Array, fake: Array) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID when
    the features are Inception pool features): |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).
    Covariances are unbiased (n - 1), as pytorch-fid."""
    return frechet_distance_from_stats(*_mean_cov(real), *_mean_cov(fake))


def frechet_distance_from_stats(mu1: Array, sigma1: Array, mu2: Array, sigma2: Array) -> float:
    """Frechet distance from (mean, covariance) pairs.

    tr((S1 S2)^(1/2)) is computed as the sum of the square roots of the
    eigenvalues of S1^(1/2) S2 S1^(1/2), a symmetric positive semi-definite
    matrix: no complex parts and no ill-conditioned non-symmetric square root
    (the failure mode of scipy.linalg.sqrtm on near-singular covariances).
    Tiny negative eigenvalues from rounding are clipped to 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or Inf")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
