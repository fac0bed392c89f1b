"""Stand-ins for the CUDA module's kernels: their contracts written in numpy, so the
host half of the GPU paths (dispatch, certification of candidate lists, the ball
pass's wiring) runs and is tested without a GPU.

A stand-in is an instance (``install(monkeypatch, FakeCuda())``) that records every
kernel call in ``calls``: a test asserts the stand-in ran, so that a silent
fallback to the CPU fails it.
"""
import numpy as np

METRICS = ["sqeuclidean", "euclidean", "inner_product", "cosine"]


def install(monkeypatch, fake):
    """Puts `fake` where hubness_fast looks for the CUDA module, with a device visible."""
    from hubness_fast import _native

    monkeypatch.setattr(_native, "cuda", fake)
    monkeypatch.setattr(_native, "HAS_CUDA", True)
    return fake


def fp32_keys(x, q, metric):
    """What the GPU tiles compute: fp32 dot products with fp32 offsets."""
    x = x.astype(np.float32)
    q = x if q is None else q.astype(np.float32)
    nx, nq = (x.astype(np.float64) ** 2).sum(1), (q.astype(np.float64) ** 2).sum(1)
    dot = q @ x.T
    if metric in ("sqeuclidean", "euclidean"):
        return (nq[:, None].astype(np.float32) + nx[None, :].astype(np.float32)) - np.float32(2) * dot
    if metric == "inner_product":
        return -dot
    s = (1 / np.sqrt(nq)).astype(np.float32)[:, None] * (1 / np.sqrt(nx)).astype(np.float32)[None, :]
    return np.float32(1) - s * dot


def _best(keys, cap):
    """The cap best (key, id) of each row, padded with (inf, -1)."""
    keys = keys.astype(np.float32)
    idx = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.lexsort((idx, keys), axis=1)[:, :cap]
    k = np.take_along_axis(keys, order, 1)
    return k, np.where(np.isfinite(k), order, -1).astype(np.int64)


def candidates(x, queries, metric, exclude_self, cap, k=None):
    """The tile passes' contract: the cap best fp32 (key, id) per row, padded with (inf, -1)."""
    keys = fp32_keys(x, queries, metric).astype(np.float32)
    if exclude_self:
        np.fill_diagonal(keys, np.inf)
    return _best(keys, cap)


class FakeCuda:
    """_cuda.knn_host's contract: candidate lists (``lists``, by default the ideal ones above),
    certified by the real CPU certification. Records each call in ``calls``."""

    def __init__(self, lists=None):
        self.lists = lists or candidates
        self.calls = []

    def device_count(self):
        return 1

    def knn_host(self, x, queries, k, metric, exclude_self, n_threads, simd, chunk_rows, device, progress,
                 want_distances):
        from hubness_fast import _native

        self.calls.append(("knn_host", k, metric))
        self_join = queries is None
        n_cand = x.shape[0] - 1 if (self_join and exclude_self) else x.shape[0]
        cap = _native.cpu.candidate_cap(k, n_cand)
        keys, ids = self.lists(x, queries, metric, self_join and exclude_self, cap, k)
        return _native.cpu.certify(x, queries, k, metric, exclude_self, n_threads, simd, keys, ids, want_distances)


class FakeBallsCuda(FakeCuda):
    """The ball kernel's contract in numpy (float64, by explicit differences)."""

    def balls(self, a, a_radius2, b, b_radius2, inclusive, device, progress):
        self.calls.append(("balls", len(a), len(b)))
        d2 = ((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1)
        cmp = np.less_equal if inclusive else np.less
        out_a = {"in_count": np.zeros(len(a), np.int64), "own_count": np.zeros(len(a), np.int64),
                 "min_radius2": np.full(len(a), np.inf)}
        out_b = {"in_count": np.zeros(len(b), np.int64), "own_count": np.zeros(len(b), np.int64),
                 "min_radius2": np.full(len(b), np.inf)}
        if a_radius2 is not None:
            inside = cmp(d2, a_radius2[:, None])
            out_a["own_count"] = inside.sum(1)
            out_b["in_count"] = inside.sum(0)
            out_b["min_radius2"] = np.where(inside, a_radius2[:, None], np.inf).min(0)
        if b_radius2 is not None:
            inside = cmp(d2, b_radius2[None, :])
            out_b["own_count"] = inside.sum(0)
            out_a["in_count"] = inside.sum(1)
            out_a["min_radius2"] = np.where(inside, b_radius2[None, :], np.inf).min(1)
        return out_a, out_b
