"""Independent float64 brute-force oracles (numpy only, no shared code with the package)."""
import numpy as np


def exact_keys(x, queries=None, metric="sqeuclidean"):
    """Full float64 key matrix (smaller = nearer), computed row block by row block."""
    X = np.asarray(x, dtype=np.float64)
    Q = X if queries is None else np.asarray(queries, dtype=np.float64)
    out = np.empty((Q.shape[0], X.shape[0]))
    for s in range(0, Q.shape[0], 64):
        q = Q[s:s + 64]
        if metric in ("sqeuclidean", "euclidean"):
            out[s:s + 64] = ((q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        elif metric == "inner_product":
            out[s:s + 64] = -(q @ X.T)
        else:
            # the documented formula, 1 - <x,y> / (|x| |y|), in this evaluation order
            norms = np.sqrt((q * q).sum(1))[:, None] * np.sqrt((X * X).sum(1))[None, :]
            out[s:s + 64] = 1.0 - (q @ X.T) / norms
    return out


def brute_knn(x, k, queries=None, metric="sqeuclidean", exclude_self=True):
    """(distances float64, indices) sorted by (distance, index), as the package documents."""
    keys = exact_keys(x, queries, metric)
    if queries is None and exclude_self:
        np.fill_diagonal(keys, np.inf)
    idx = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.lexsort((idx, keys), axis=1)[:, :k]
    d = np.take_along_axis(keys, order, axis=1)
    if metric == "euclidean":
        d = np.sqrt(d)
    elif metric == "inner_product":
        d = -d
    return d, order


def brute_hub_counts(x, k, include_self=False, metric="sqeuclidean"):
    _, order = brute_knn(x, k, metric=metric, exclude_self=not include_self)
    return np.bincount(order.ravel(), minlength=len(x))
