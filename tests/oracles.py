"""Independent float64 brute-force oracles (numpy only, no shared code with the package)."""
import numpy as np


def _row_blocks(n_rows, n_cols):
    step = max(1, (1 << 21) // max(n_cols, 1))
    return range(0, n_rows, step), step


def exact_keys(x, queries=None, metric="sqeuclidean"):
    """Full float64 key matrix (smaller = nearer), in the documented evaluation order.

    Every sum over features runs left to right in float64 (no pairwise or
    blocked summation, no fused multiply-add), as the package documents; for
    cosine, 1 - <x,y> / (|x| |y|) with the norms summed the same way. With any
    other order, cosine keys of near-duplicates (about 1e-14, below the float64
    rounding of the dot product) would not be one well-defined value.
    """
    X = np.asarray(x, dtype=np.float64)
    Q = X if queries is None else np.asarray(queries, dtype=np.float64)
    out = np.empty((Q.shape[0], X.shape[0]))
    starts, step = _row_blocks(Q.shape[0], X.shape[0])
    if metric == "cosine":
        qn, xn = np.sqrt(sequential_dot(Q, Q, pairs=True)), np.sqrt(sequential_dot(X, X, pairs=True))
    for s in starts:
        q = Q[s:s + step]
        if metric in ("sqeuclidean", "euclidean"):
            out[s:s + step] = sequential_sqdist(q, X)
        elif metric == "inner_product":
            out[s:s + step] = -sequential_dot(q, X)
        else:
            out[s:s + step] = 1.0 - sequential_dot(q, X) / (qn[s:s + step, None] * xn[None, :])
    return out


def sequential_dot(a, b, pairs=False):
    """<a_i, b_j> for every i, j (or <a_i, b_i> with pairs=True), summed left to right."""
    acc = np.zeros(len(a) if pairs else (len(a), len(b)))
    for c in range(a.shape[1]):
        acc += a[:, c] * b[:, c] if pairs else np.multiply.outer(a[:, c], b[:, c])
    return acc


def sequential_sqdist(a, b):
    """sum_c (a_ic - b_jc)^2 for every i, j, summed left to right."""
    acc = np.zeros((len(a), len(b)))
    for c in range(a.shape[1]):
        diff = np.subtract.outer(a[:, c], b[:, c])
        acc += diff * diff
    return acc


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
    """Full float64 squared Euclidean distance matrix by explicit differences, summed left to right."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    starts, step = _row_blocks(len(a), len(b))
    return np.concatenate([sequential_sqdist(a[s:s + step], b) for s in starts]) if len(a) else np.empty((0, len(b)))


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
