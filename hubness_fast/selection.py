"""Instance selection for GANs (DeVries, Drozdzal and Taylor, NeurIPS 2020).

Score each embedding by a density estimate and keep the densest part of every
class, as the reference implementation does.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import as_matrix
from ._types import Array


def _gaussian_loglik(x: np.ndarray) -> np.ndarray:
    """Log-likelihood under one full-covariance Gaussian fitted to x
    (biased covariance + 1e-5 I, as the reference)."""
    mu = x.mean(0)
    cov = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1]) + 1e-5 * np.eye(x.shape[1])
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mu).T)
    logdet = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * (x.shape[1] * np.log(2 * np.pi) + logdet + (z * z).sum(0))


def _ppca_loglik(x: np.ndarray, variance: float, reference_components: bool) -> np.ndarray:
    """Probabilistic PCA log-likelihood (Tipping and Bishop), the model of
    scikit-learn's PCA.score_samples: q components keep `variance` of the total,
    the rest is isotropic noise sigma^2 = mean of the discarded eigenvalues."""
    n, d = x.shape
    mu = x.mean(0)
    xc = x - mu
    eig, vec = np.linalg.eigh(xc.T @ xc / max(n - 1, 1))
    eig, vec = np.clip(eig[::-1], 0, None), vec[:, ::-1]
    ratio = np.cumsum(eig) / eig.sum()
    q = int(np.searchsorted(ratio, variance - 1e-12) + 1)  # first q whose cumulative share reaches `variance`
    if reference_components:
        q -= 1  # the reference keeps one component fewer
    q = min(max(q, 1), d - 1) if d > 1 else 1
    noise = eig[q:].mean() if q < d else 0.0
    noise = max(noise, 1e-12 * max(eig[0], 1e-300))  # a rank-deficient tail would make the model singular
    # C = W W^T + noise I with W W^T = V_q (L_q - noise) V_q^T: eigenvalues L_q, then noise.
    lam = np.concatenate([np.maximum(eig[:q], noise), np.full(d - q, noise)])
    proj = xc @ vec
    maha = (proj**2 / lam).sum(1)
    return -0.5 * (d * np.log(2 * np.pi) + np.log(lam).sum() + maha)


def instance_scores(embeddings: Array, *, method: str = "gaussian", k: int = 5, variance: float = 0.95,
                    reference_components: bool = False,
                    n_threads=None, progress=False):
    """Density score of every embedding (higher = more typical).

    method:
      - "gaussian": log-likelihood under one full-covariance Gaussian
        (biased covariance + 1e-5 I);
      - "ppca": probabilistic PCA log-likelihood, with the fewest components
        whose explained variance reaches ``variance`` (0.95). The reference
        code keeps one component fewer; ``reference_components=True`` does too;
      - "knn": minus the Euclidean distance to the k-th nearest neighbour (self
        excluded), exact, from the native engine.
    Returns float64 [N].
    """
    x = np.asarray(as_matrix(embeddings, "embeddings"), dtype=np.float64)
    if method == "gaussian":
        return _gaussian_loglik(x)
    if method == "ppca":
        if not 0 < variance <= 1:
            raise ValueError(f"variance must be in (0, 1], got {variance}")
        return _ppca_loglik(x, variance, reference_components)
    if method == "knn":
        from .knn import kth_neighbor_distance

        return -kth_neighbor_distance(x, k, n_threads=n_threads, progress=progress)
    raise ValueError(f"method must be 'gaussian', 'ppca' or 'knn', got {method!r}")


def select_instances(embeddings: Array, labels: Array | None = None, *, retention: float = 50,
                     method: str = "gaussian", **score_kwargs: Any) -> np.ndarray:
    """Indices (sorted, int64) of the instances to keep: per class, the scores
    strictly above the (100 - retention)th percentile of that class's scores,
    as the reference implementation does (so ties at the threshold are dropped).
    ``labels=None`` treats the data as one class."""
    x = as_matrix(embeddings, "embeddings")
    if not 0 < retention <= 100:
        raise ValueError(f"retention is a percentage in (0, 100], got {retention}")
    labels = np.zeros(x.shape[0], dtype=np.int64) if labels is None else np.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have one entry per embedding ({x.shape[0]}), got shape {labels.shape}")
    keep = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        if idx.size < 2:
            raise ValueError(f"class {cls!r} has {idx.size} sample; each class needs at least two")
        scores = instance_scores(x[idx], method=method, **score_kwargs)
        keep.append(idx[scores > np.percentile(scores, 100 - retention)])
    return np.sort(np.concatenate(keep)).astype(np.int64)
