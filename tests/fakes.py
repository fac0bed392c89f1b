"""Stand-ins for the CUDA module's kernels: their contracts written in numpy, so the
host half of the GPU paths (dispatch, certification of candidate lists, the ball
pass's wiring) runs and is tested without a GPU."""
import numpy as np

METRICS = ["sqeuclidean", "euclidean", "inner_product", "cosine"]


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


def candidates(x, queries, metric, exclude_self, cap):
    """The tile passes' contract: the cap best fp32 (key, id) per row, padded with (inf, -1)."""
    keys = fp32_keys(x, queries, metric).astype(np.float32)
    if exclude_self:
        np.fill_diagonal(keys, np.inf)
    idx = np.broadcast_to(np.arange(x.shape[0]), keys.shape)
    order = np.lexsort((idx, keys), axis=1)[:, :cap]
    k = np.take_along_axis(keys, order, 1)
    return k, np.where(np.isfinite(k), order, -1).astype(np.int64)


class FakeCuda:
    """_cuda.knn_host's contract: the candidates above, certified by the real CPU certification."""

    calls = 0

    @staticmethod
    def device_count():
        return 1

    @classmethod
    def knn_host(cls, x, queries, k, metric, exclude_self, n_threads, simd, chunk_rows, device, progress,
                 want_distances):
        from hubness_fast import _native

        cls.calls += 1
        self_join = queries is None
        n_cand = x.shape[0] - 1 if (self_join and exclude_self) else x.shape[0]
        keys, ids = candidates(x, queries, metric, self_join and exclude_self, _native.cpu.candidate_cap(k, n_cand))
        return _native.cpu.certify(x, queries, k, metric, exclude_self, n_threads, simd, keys, ids, want_distances)


class FakeBallsCuda(FakeCuda):
    """The ball kernel's contract in numpy (float64, by explicit differences)."""

    @staticmethod
    def balls(a, a_radius2, b, b_radius2, inclusive, device, progress):
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
