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


def sq_dists(a, b):
    """Full float64 squared Euclidean distance matrix by explicit differences."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.stack([((row[None, :] - b) ** 2).sum(-1) for row in a])


def kth_radius2(x, k):
    d = sq_dists(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def brute_prdc(real, fake, k, inclusive=False):
    """The prdc package's four formulas on full float64 matrices (squared distances)."""
    rr, fr = kth_radius2(real, k), kth_radius2(fake, k)
    d = sq_dists(real, fake)  # [n_real, n_fake]
    lt = np.less_equal if inclusive else np.less
    in_real = lt(d, rr[:, None])  # fake j inside real ball i
    in_fake = lt(d, fr[None, :])  # real i inside fake ball j
    return {
        "precision": in_real.any(0).mean(),
        "recall": in_fake.any(1).mean(),
        "density": in_real.sum(0).mean() / k,
        "coverage": in_real.any(1).mean(),
    }


def brute_rarity(real, fake, k):
    rr = kth_radius2(real, k)
    d = sq_dists(real, fake)
    inside = d < rr[:, None]
    scores = np.where(inside, np.sqrt(rr)[:, None], np.inf).min(0)
    return np.where(np.isfinite(scores), scores, 0.0), inside.any(0)
