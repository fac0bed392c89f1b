"""The same two jobs done by each peer: self-join hub counts, and a cross k-NN search.

Every function returns hub counts (int64 [N]) or the k-NN lists (indices [N, k], self excluded) for a
self-join, or the indices [M, k] for a search, so a runner can check each one against a float64 brute
force (hubness_fast.oracle). Peers are
imported when called: ``hubness-fast bench --data`` skips those not installed;
the repository's benchmarks/ use the same functions.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..engine.hubness import hub_counts
from ..engine.knn import knn


def _drop_self(ids: np.ndarray, k: int) -> np.ndarray:
    """Rows of k+1 neighbours (self included by the peer) -> k neighbours without self."""
    n = ids.shape[0]
    own = ids == np.arange(n)[:, None]
    keep = ~own
    keep[~own.any(1), k] = False  # self not found (a duplicate at distance 0 won): drop the farthest
    return ids[keep].reshape(n, k)


# ---- self-join: k-NN lists (self excluded), and hub counts as their tally ----------------
def hubness_fast_self_knn(x, k, threads):
    return knn(x, k, n_threads=threads).indices


def hubness_fast_hubs(x, k, threads):
    return hub_counts(x, k, n_threads=threads)


def faiss_self_knn(x, k, threads):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    _, ids = index.search(x, k + 1)
    return _drop_self(ids, k)


def torch_self_knn(x, k, threads, block=4096):
    import torch

    torch.set_num_threads(threads)
    t = torch.from_numpy(x)
    sq = (t * t).sum(1)
    out = []
    with torch.no_grad():
        for s in range(0, len(t), block):
            q = t[s:s + block]
            d = sq[s:s + block, None] + sq[None, :] - 2.0 * (q @ t.T)
            d[torch.arange(len(q)), torch.arange(s, s + len(q))] = float("inf")
            out.append(torch.topk(d, k, dim=1, largest=False).indices.numpy())
    return np.concatenate(out)


def _numpy_block_knn(x, k, block, select):
    """Rows of the full distance matrix, `block` at a time, reduced by select(d, k)."""
    sq = (x * x).sum(1)
    out = []
    for s in range(0, len(x), block):
        d = sq[s:s + block, None] + sq[None, :] - 2.0 * (x[s:s + block] @ x.T)
        d[np.arange(len(d)), np.arange(s, s + len(d))] = np.inf
        out.append(select(d, k))
    return np.concatenate(out)


def numpy_naive_self_knn(x, k, threads):
    """The seed notebooks' approach: 1000-row blocks of the distance matrix, fully argsorted."""
    return _numpy_block_knn(x, k, 1000, lambda d, k: np.argsort(d, axis=1)[:, :k])


def numpy_argpartition_self_knn(x, k, threads):
    return _numpy_block_knn(x, k, 2048, lambda d, k: np.argpartition(d, k, axis=1)[:, :k])


def sklearn_self_knn(x, k, threads):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=threads).fit(x)
    return nn.kneighbors(return_distance=False)  # X=None: self excluded


def tally(ids: np.ndarray, n: int) -> np.ndarray:
    """Hub counts (int64 [n]) of k-NN lists: how often each point is listed."""
    return np.bincount(np.asarray(ids).ravel(), minlength=n).astype(np.int64)


def faiss_hubs(x, k, threads):
    return tally(faiss_self_knn(x, k, threads), len(x))


def torch_hubs(x, k, threads):
    return tally(torch_self_knn(x, k, threads), len(x))


def numpy_naive_hubs(x, k, threads):
    return tally(numpy_naive_self_knn(x, k, threads), len(x))


def numpy_argpartition_hubs(x, k, threads):
    return tally(numpy_argpartition_self_knn(x, k, threads), len(x))


def sklearn_hubs(x, k, threads):
    return tally(sklearn_self_knn(x, k, threads), len(x))


# The k-NN lists each peer computes, its hub counts being their tally; hubness_fast's hub_counts never
# forms the lists, so its entry here is a separate knn call.
SELF_JOIN_LISTS = {
    "hubness_fast": hubness_fast_self_knn,
    "faiss-cpu": faiss_self_knn,
    "torch": torch_self_knn,
    "numpy-naive": numpy_naive_self_knn,
    "numpy-argpartition": numpy_argpartition_self_knn,
    "sklearn-brute": sklearn_self_knn,
}
SELF_JOIN = {
    "hubness_fast": hubness_fast_hubs,
    "faiss-cpu": faiss_hubs,
    "torch": torch_hubs,
    "numpy-naive": numpy_naive_hubs,
    "numpy-argpartition": numpy_argpartition_hubs,
    "sklearn-brute": sklearn_hubs,
}


# ---- cross search (queries vs database) -----------------------------------------------
def hubness_fast_search(q, x, k, threads):
    return knn(x, k, queries=q, n_threads=threads)[1]


def faiss_search(q, x, k, threads):
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return index.search(q, k)[1]


def torch_search(q, x, k, threads, block=4096):
    import torch

    torch.set_num_threads(threads)
    tq, tx = torch.from_numpy(q), torch.from_numpy(x)
    sqx = (tx * tx).sum(1)
    out = []
    with torch.no_grad():
        for s in range(0, len(tq), block):
            b = tq[s:s + block]
            d = (b * b).sum(1)[:, None] + sqx[None, :] - 2.0 * (b @ tx.T)
            out.append(torch.topk(d, k, dim=1, largest=False).indices.numpy())
    return np.concatenate(out)


def sklearn_search(q, x, k, threads):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=threads).fit(x)
    return nn.kneighbors(q, return_distance=False)


def numpy_search(q, x, k, threads, block=2048):
    sq = (x * x).sum(1)
    out = []
    for s in range(0, len(q), block):
        b = q[s:s + block]
        d = (b * b).sum(1)[:, None] + sq[None, :] - 2.0 * (b @ x.T)
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        out.append(np.take_along_axis(part, np.argsort(np.take_along_axis(d, part, 1), axis=1), 1))
    return np.concatenate(out)


CROSS = {"hubness_fast": hubness_fast_search, "faiss-cpu": faiss_search, "torch": torch_search,
         "sklearn-brute": sklearn_search, "numpy-argpartition": numpy_search}
# the module each peer imports and the distribution that installs it (a peer whose module is missing is skipped)
NEEDS = {"faiss-cpu": "faiss", "torch": "torch", "sklearn-brute": "sklearn"}
PIP = {"faiss-cpu": "faiss-cpu", "torch": "torch", "sklearn-brute": "scikit-learn"}


def missing(peer: str) -> str | None:
    """Why ``peer`` cannot run here (its module is not installed: what to pip install), or None."""
    module = NEEDS.get(peer)
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return f"not installed (pip install {PIP[peer]})"
SLOW = {"numpy-naive", "numpy-argpartition", "sklearn-brute"}  # measured once per case by default
