"""Stand-ins for the CUDA module's kernels: their contracts written in numpy, so the
host half of the GPU paths (dispatch, certification of candidate lists, the ball
pass's wiring) runs and is tested without a GPU.

A stand-in is an instance (``install(monkeypatch, FakeCuda())``) that records every
kernel call in ``calls``: a test asserts the stand-in ran, so that a silent
fallback to the CPU fails it. ``FakeCuda(lists=...)`` hands the certification
other candidate lists than the ideal ones (reordered, wrong within the rounding
bound, truncated, holding wrong ids) to test what it repairs and what it refuses.
"""
import numpy as np

from oracles import exact_keys

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


def key_bounds(x, q, metric):
    """The certification's bound on |fp32 key - float64 key| of every pair (csrc/cpu/knn_cpu.cpp, step 2):
    (D + 16) u, padded by 5 %, times |q|^2 + |x|^2 (euclidean family), |q| |x| (inner product) or 1 (cosine)."""
    x64 = np.asarray(x, np.float64)
    q64 = x64 if q is None else np.asarray(q, np.float64)
    scale = (x64.shape[1] + 16) * 2.0 ** -24 * 1.05
    nq, nx = (q64 * q64).sum(1), (x64 * x64).sum(1)
    if metric in ("sqeuclidean", "euclidean"):
        return scale * (nq[:, None] + nx[None, :])
    if metric == "inner_product":
        return scale * np.sqrt(nq)[:, None] * np.sqrt(nx)[None, :]
    return np.full((len(q64), len(x64)), scale)


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


def within_bound(x, queries, metric, exclude_self, cap, k):
    """Lists that honour the contract at its edge: every key 0.8 of the bound off its float64
    value, the true k nearest pushed away and every other point pulled in. On near-ties the
    fp32 k best are then the wrong points, and true neighbours fall past the list's end."""
    exact = exact_keys(x, queries, metric)
    if exclude_self:
        np.fill_diagonal(exact, np.inf)
    bound = key_bounds(x, queries, metric)
    rank = np.argsort(np.argsort(exact, axis=1, kind="stable"), axis=1, kind="stable")
    keys = (exact + np.where(rank < k, 0.8, -0.8) * bound).astype(np.float32)
    finite = np.isfinite(exact)
    if not (np.abs(keys[finite] - exact[finite]) <= bound[finite]).all():
        raise AssertionError("the stand-in broke the bound it is meant to honour")
    return _best(keys, cap)


def shuffled(lists, seed=0):
    """`lists` with each row's entries (padding included) in a random order."""
    def make(x, queries, metric, exclude_self, cap, k):
        keys, ids = lists(x, queries, metric, exclude_self, cap, k)
        perm = np.random.default_rng(seed).permuted(np.broadcast_to(np.arange(cap), ids.shape), axis=1)
        return np.take_along_axis(keys, perm, 1), np.take_along_axis(ids, perm, 1)
    return make


def truncated(keep, lists=candidates):
    """`lists` cut to their first `keep` entries, the rest padded as if no other point existed."""
    def make(x, queries, metric, exclude_self, cap, k):
        keys, ids = lists(x, queries, metric, exclude_self, cap, k)
        n = keep(k) if callable(keep) else keep
        keys, ids = keys.copy(), ids.copy()
        keys[:, n:], ids[:, n:] = np.inf, -1
        return keys, ids
    return make


def with_self(x, queries, metric, exclude_self, cap, k):
    """A self-join's lists with each point's own id first at key 0 (a kernel that forgot the diagonal)."""
    keys, ids = candidates(x, queries, metric, exclude_self, cap)
    keys, ids = np.roll(keys, 1, axis=1), np.roll(ids, 1, axis=1)
    keys[:, 0], ids[:, 0] = 0, np.arange(len(ids))
    return keys, ids


def with_duplicates(x, queries, metric, exclude_self, cap, k):
    """Lists whose best entry appears twice (a fold that pushed one pair twice)."""
    keys, ids = candidates(x, queries, metric, exclude_self, cap)
    keys, ids = np.roll(keys, 1, axis=1), np.roll(ids, 1, axis=1)
    keys[:, 0], ids[:, 0] = keys[:, 1], ids[:, 1]
    return keys, ids


def out_of_range(x, queries, metric, exclude_self, cap, k):
    """Lists holding an id past the database's end."""
    keys, ids = candidates(x, queries, metric, exclude_self, cap)
    ids[0, -1] = x.shape[0]
    return keys, ids


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


def sqdist_sequential(a, b):
    """Squared distances of every pair in float64, summed feature by feature (the CPU's exact_sqdist)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    acc = np.zeros((len(a), len(b)))
    for c in range(a.shape[1]):
        diff = a[:, None, c] - b[None, :, c]
        acc = acc + diff * diff
    return acc


class FakeBallsCuda(FakeCuda):
    """The ball kernel's contract (csrc/cuda/balls_cuda.cu): exact counts, the host certifies
    nothing. As the kernel does, fp32 keys decide each pair against a radius unless they lie
    within the rounding bound of it; those pairs are re-checked in float64 and counted in
    ``rechecked``. ``recheck=False`` is a kernel that skips the re-check (not the contract:
    tests use it to show that their boundary cases tell it apart)."""

    def __init__(self, recheck=True):
        super().__init__()
        self.recheck = recheck
        self.rechecked = 0

    def balls(self, a, a_radius2, b, b_radius2, inclusive, device, progress):
        self.calls.append(("balls", len(a), len(b)))
        key = fp32_keys(b, a, "sqeuclidean").astype(np.float64)  # [len(a), len(b)]
        bound = key_bounds(b, a, "sqeuclidean") + 1e-30
        d2 = sqdist_sequential(a, b)
        cmp = np.less_equal if inclusive else np.less

        def inside(r2):
            if not self.recheck:
                return cmp(key, r2)
            sure_in = cmp(key + bound, r2)
            sure_out = (key - bound > r2) if inclusive else (key - bound >= r2)
            unsure = ~sure_in & ~sure_out
            self.rechecked += int(unsure.sum())
            return sure_in | (unsure & cmp(d2, r2))

        out_a = {"in_count": np.zeros(len(a), np.int64), "own_count": np.zeros(len(a), np.int64),
                 "min_radius2": np.full(len(a), np.inf)}
        out_b = {"in_count": np.zeros(len(b), np.int64), "own_count": np.zeros(len(b), np.int64),
                 "min_radius2": np.full(len(b), np.inf)}
        if a_radius2 is not None:
            inside_a = inside(a_radius2[:, None])
            out_a["own_count"] = inside_a.sum(1)
            out_b["in_count"] = inside_a.sum(0)
            out_b["min_radius2"] = np.where(inside_a, a_radius2[:, None], np.inf).min(0)
        if b_radius2 is not None:
            inside_b = inside(b_radius2[None, :])
            out_b["own_count"] = inside_b.sum(0)
            out_a["in_count"] = inside_b.sum(1)
            out_a["min_radius2"] = np.where(inside_b, b_radius2[None, :], np.inf).min(1)
        return out_a, out_b
