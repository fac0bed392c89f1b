"""Instance selection for GANs (DeVries, Drozdzal and Taylor, NeurIPS 2020).

Score each embedding by a density estimate and keep the densest part of every
class, as the reference implementation does.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._inputs import as_matrix, check_flag, check_int, is_real, to_numpy
from .._types import Array


__all__ = ["instance_scores", "select_instances", "METHODS"]


def _check_moments(x: np.ndarray, method: str) -> None:
    """The second moments of x must fit in float64: n d max|x|^2 below its largest value (1.8e308).
    Beyond that the Gaussian scores all came out -inf (nothing selected) and PPCA called the data
    constant."""
    n, d = x.shape
    top = float(np.abs(x).max()) if x.size else 0.0
    if top and top > np.sqrt(np.finfo(np.float64).max / (n * d)):
        raise ValueError(f"method={method!r}: embeddings as large as {top:.3g} overflow float64 in their "
                         f"covariance ({n} x {d} values); scale them down")


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
    """Per-row log-likelihood under scikit-learn's probabilistic PCA model:
    ``PCA(n_components=q, svd_solver="full").fit(x).score_samples(x)``
    (Tipping and Bishop 1999), computed with numpy alone.

    Model, as ``PCA._fit_full`` / ``get_covariance`` / ``score_samples``: with
    the full thin SVD of the centred data, ``xc = U S Vt``, the k = min(n, d)
    explained variances are ``ev = S**2 / (n - 1)``; the noise variance is
    ``sigma2 = mean(ev[q:k])`` (over min(n, d) - q values, not d - q: for n < d
    the d - n directions outside the data's span are not averaged in), and 0
    when q >= k; the covariance is ``Vt[:q].T diag(max(ev[:q] - sigma2, 0))
    Vt[:q] + sigma2 I``, whose eigenvalues are ``ev[:q]`` and then
    ``sigma2`` (d - q times). For the rows of x themselves ``xc @ Vt.T =
    U S`` (they lie in the span of Vt's k rows), so the Mahalanobis term is
    ``sum_{i<q} (U S)_i**2 / ev_i + sum_{q<=i<k} (U S)_i**2 / sigma2``,
    computed without forming the d x d precision matrix.

    q is this package's choice, not ``PCA(n_components=variance)``'s: the
    fewest components whose cumulative explained-variance share reaches
    ``variance`` (``>= variance - 1e-12``; scikit-learn's float
    ``n_components`` takes the first share strictly above it, side="right",
    so the two differ by one component when a share equals ``variance``
    exactly), then clamped to [1, d - 1] (q = 1 when d = 1). With
    ``reference_components=True`` q is one fewer, as the reference code keeps
    (the number of shares below ``variance``), clamped to [0, d - 1]: q = 0,
    where the first component alone reaches ``variance``, is the reference's
    ``PCA(n_components=0)``, one isotropic Gaussian of variance mean(ev).

    A zero noise variance: when q >= min(n, d) (only d = 1 with this q, since
    the centred data has rank <= n - 1) scikit-learn sets sigma2 = 0 and the
    model is the full sample covariance, which is finite if that covariance is
    non-singular: then the scores are the plain Gaussian ones, as
    scikit-learn's. When the discarded directions carry no variance (numerical
    rank of the centred data <= q: n <= q + 1, constant or duplicated columns,
    data on a q-dimensional subspace, constant data), the PPCA covariance is
    singular: scikit-learn returns -inf, raises LinAlgError, or returns values
    driven by rounding (sigma2 ~ 1e-32 ev[0]); here a ValueError is raised
    instead, as it is for constant data and n < 2. "No variance" is
    ``numpy.linalg.matrix_rank``'s rule scaled by the uncentred data (so that
    what centring leaves of a constant column counts as zero): a singular
    value <= max(n, d) * eps * ||x||_F is zero. For finite x the scores are
    always finite (never NaN or inf).
    """
    n, d = x.shape
    if n < 2:
        raise ValueError(f"method='ppca' needs at least two samples, got {n}")
    mu = x.mean(0)
    xc = x - mu
    u, s, _ = np.linalg.svd(xc, full_matrices=False)  # s descending, k = min(n, d) values
    k = s.size
    tol = max(n, d) * np.finfo(np.float64).eps * float(np.linalg.norm(x))  # rounding level of xc's singular values
    if s[0] <= tol:
        raise ValueError("method='ppca' needs data that is not constant: every centred sample is 0")
    ev = s**2 / (n - 1)
    ratio = np.cumsum(ev) / ev.sum()
    q = int(np.searchsorted(ratio, variance - 1e-12) + 1)  # first q whose cumulative share reaches `variance`
    if reference_components:  # the reference keeps one component fewer, none when the first reaches variance
        q = min(q - 1, d - 1)
    else:
        q = min(max(q, 1), d - 1) if d > 1 else 1
    rank = int(np.count_nonzero(s > tol))
    if q < k:
        if rank <= q:
            hint = f"lower `variance` to keep fewer than {rank} components, or " if rank > 1 else ""
            raise ValueError(
                f"method='ppca': the data has numerical rank {rank} <= q = {q} kept components, so the "
                f"discarded directions carry no variance and the PPCA noise variance is 0 (a singular "
                f"model: scikit-learn gives -inf, a LinAlgError or rounding-driven scores here); "
                f"{hint}use method='gaussian' or 'knn'")
        noise = float(ev[q:].mean())
        lam = np.maximum(ev[:q], noise)  # get_covariance's max(ev - sigma2, 0) + sigma2 (a no-op: ev is sorted)
        logdet = float(np.log(lam).sum()) + (d - q) * np.log(noise)
        proj2 = (u * s) ** 2
        maha = (proj2[:, :q] / lam).sum(1) + proj2[:, q:].sum(1) / noise
    else:  # sklearn: noise_variance_ = 0, precision = inv(covariance of the q >= k kept components)
        if q < d or rank < d:
            raise ValueError(
                f"method='ppca': q = {q} >= min(n, d) = {k} components leave a noise variance of 0 and "
                f"the sample covariance (numerical rank {rank}, d = {d}) is singular")
        lam = ev
        logdet = float(np.log(lam).sum())
        maha = ((u * s) ** 2 / lam).sum(1)
    return -0.5 * (d * np.log(2 * np.pi) + logdet + maha)


def _check_finite(x: np.ndarray) -> None:
    """The Gaussian and PPCA fits would give NaN for every score, or fail inside numpy."""
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    if bad.size:
        raise ValueError(f"embeddings contains NaN or Inf (first at row {int(bad[0])}); drop or impute those rows")


METHODS = ("gaussian", "ppca", "knn")


def _unknown(method: str) -> ValueError:
    return ValueError(f"method must be 'gaussian', 'ppca' or 'knn', got {method!r}")


SETTINGS = {"k": "knn", "variance": "ppca", "reference_components": "ppca"}  # each setting's one method


def _settings(method: str, k: int | None, variance: float | None, reference_components: bool | None) -> tuple[
        int, float, bool]:
    """The method's settings with their defaults (k 5, variance 0.95, reference_components False); a
    ValueError for an unknown method, a bad value, or a setting of another method (it would be ignored)."""
    if method not in METHODS:
        raise _unknown(method)
    given = {"k": k, "variance": variance, "reference_components": reference_components}
    other = [name for name, value in given.items() if value is not None and SETTINGS[name] != method]
    if other:
        verb = "applies" if len(other) == 1 else "apply"
        raise ValueError(f"{', '.join(other)} {verb} to method={SETTINGS[other[0]]!r}, not method={method!r}")
    if variance is not None and (not is_real(variance) or not 0 < variance <= 1):
        raise ValueError(f"variance must be in (0, 1], got {variance}")
    if k is not None:
        check_int(k, "k")
    if reference_components is not None:
        check_flag(reference_components, "reference_components")
    return (5 if k is None else k, 0.95 if variance is None else float(variance),
            bool(reference_components))


def instance_scores(embeddings: Array, *, method: str = "gaussian", k: int | None = None,
                    variance: float | None = None, reference_components: bool | None = None,
                    n_threads=None, progress=False):
    """Density score of every embedding (higher = more typical).

    method:
      - "gaussian": log-likelihood under one full-covariance Gaussian
        (biased covariance + 1e-5 I);
      - "ppca": probabilistic PCA log-likelihood, scikit-learn's model:
        ``PCA(n_components=q, svd_solver="full").fit(x).score_samples(x)``
        (numpy only), with q the fewest components whose cumulative explained
        variance reaches ``variance`` (0.95). The reference code keeps one
        component fewer (none when the first alone reaches ``variance``);
        ``reference_components=True`` does too. Raises
        ValueError where the model is singular (data of numerical rank <= q,
        e.g. fewer than q + 2 samples; see ``_ppca_loglik``);
      - "knn": minus the Euclidean distance to the k-th nearest neighbour (self
        excluded; k 5), exact, from the native engine.
    A setting of another method is refused rather than ignored. Returns float64 [N].
    """
    k, variance, reference_components = _settings(method, k, variance, reference_components)
    x = np.asarray(as_matrix(embeddings, "embeddings"), dtype=np.float64)
    _check_finite(x)
    if method in ("gaussian", "ppca"):
        _check_moments(x, method)
    if method == "gaussian":
        return _gaussian_loglik(x)
    if method == "ppca":
        return _ppca_loglik(x, variance, reference_components)
    from ..engine.knn import kth_neighbor_distance

    return -kth_neighbor_distance(x, k, n_threads=n_threads, progress=progress)


def select_instances(embeddings: Array, labels: Array | None = None, *, retention: float = 50,
                     method: str = "gaussian", **score_kwargs: Any) -> np.ndarray:
    """Indices (sorted, int64) of the instances to keep: per class, the scores
    strictly above the (100 - retention)th percentile of that class's scores,
    as the reference implementation does (so ties at the threshold are dropped);
    ``retention=100`` keeps every instance, as the reference returns the data
    unchanged then (the rule would drop each class's lowest score). ``labels=None``
    treats the data as one class. ``score_kwargs`` go to :func:`instance_scores`."""
    x = as_matrix(embeddings, "embeddings")
    _check_finite(x)  # rows named in the whole set, not in their class
    if isinstance(retention, bool) or not isinstance(retention, (int, float, np.integer, np.floating)) \
            or not 0 < retention <= 100:
        raise ValueError(f"retention is a percentage in (0, 100], got {retention!r}")
    labels = np.zeros(x.shape[0], dtype=np.int64) if labels is None else _checked_labels(labels, x.shape[0])
    settings = {name: score_kwargs.pop(name, None) for name in SETTINGS}
    _settings(method, **settings)  # before the classes: an argument's error is no class's
    inspect.signature(instance_scores).bind(x, method=method, **settings, **score_kwargs)  # a misspelt name too
    if retention == 100:
        return np.arange(x.shape[0], dtype=np.int64)
    keep = []
    for cls in np.unique(labels).tolist():  # Python scalars: messages say class 3, not np.int64(3)
        idx = np.flatnonzero(labels == cls)
        if idx.size < 2:
            raise ValueError(f"class {cls!r} has {idx.size} sample; each class needs at least two")
        try:
            scores = instance_scores(x[idx], method=method, **settings, **score_kwargs)
        except ValueError as exc:  # the class's own size, rank or spread: say which class
            raise ValueError(f"class {cls!r} ({idx.size} samples): {exc}") from None
        keep.append(idx[scores > np.percentile(scores, 100 - retention)])
    return np.sort(np.concatenate(keep)).astype(np.int64)


def _checked_labels(labels: Array, n: int) -> np.ndarray:
    """One label per embedding, of one orderable kind (numbers, strings or booleans), none missing."""
    out = to_numpy(labels)
    if out.shape != (n,):
        raise ValueError(f"labels must have one entry per embedding ({n}), got shape {out.shape}")
    if out.dtype.kind == "O":  # a list mixing kinds (None and ints, str and ints): numpy cannot sort it
        kinds = sorted({type(v).__name__ for v in out.tolist()})
        raise ValueError(f"labels mix {', '.join(kinds)}: give one kind of label (class indices or names)")
    if out.dtype.kind not in "biufUS":
        raise ValueError(f"labels must be class indices or names, got dtype {out.dtype}")
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        raise ValueError(f"labels contain NaN or Inf (first at row {int(np.flatnonzero(~np.isfinite(out))[0])}): "
                         "give every embedding a class")
    return out
