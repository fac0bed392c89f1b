"""One way into the engine: a problem described once, one dispatcher, one result type.

:func:`describe` coerces and validates the inputs of a k-NN problem once (host
or device arrays, queries, k, metric, the self rule, device, precision,
threads, progress); :func:`run` sends it to one of three paths and returns a
:class:`KnnResult`:

- ``cpu``: the CPU engine (fp32 tiles, float64 certification);
- ``device``: arrays already on a GPU, computed there (certified on the device;
  k beyond the device certification goes to the next path and back);
- ``host_on_gpu``: host arrays streamed to the GPU for fp32 candidate lists,
  certified in float64 on the CPU (one native call, ``_cuda.knn_host``).

:func:`run_pair` (the Dask runner's block pairs) and :func:`balls` (the
containment pass of the metrics) follow the same device policy.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _native, exactness
from .._inputs import (DeviceMatrix, as_matrix, check_device, check_flag, check_k, check_metric, check_precision,
                      check_threads, device_matrix, is_device_array, to_output)
from .._progress import Progress

# Below this many multiply-adds the GPU's start-up and transfers cost more than
# they save: device="auto" keeps such host-array problems on the CPU.
MIN_GPU_WORK = 2 ** 33

# The device-side float64 certification holds a row's candidates in shared
# memory (16 bytes each, 96 KiB): longer lists are certified by the CPU module.
DEVICE_MAX_CAP = 6144

# GPU code written but not yet run on a GPU (the one place that says so; the
# CUDA engine last ran on an H100 on 2026-11-23, 23 GPU tests):
# - the ball pass of the metrics ("balls" below): device="auto" never picks it, device="cuda" opts in;
# - the warp-cooperative fold, behind HUBNESS_FAST_CUDA_FOLD=warp (off unless set);
# - GPU arrays with k beyond DEVICE_MAX_CAP (certified on the host, see _device_via_host);
# - the restructured native layer (one Matrix / KnnStats / BallSide type, the host-data path
#   assembled in C++ as _cuda.knn_host): compiled here, its host half tested through tests/fakes.py.
# - the device arrays' refusal of float64 cosine rows with |x|^2 below 2^-969 (the preparation
#   kernel's flag; the host-array path refuses them before its first CUDA call, tested without a GPU).
NOT_YET_RUN_ON_A_GPU = frozenset({"balls"})


class Problem(NamedTuple):
    """A validated k-NN problem. ``db``/``q`` are host arrays or :class:`DeviceMatrix`."""

    x: Any                 # the caller's database (results are returned in its kind)
    queries: Any           # the caller's queries, or None
    db: Any
    q: Any
    k: int
    metric: str
    exclude_self: bool        # self-join only; False for a search
    device: str
    precision: str
    threads: int
    progress: Any
    desc: str
    on_gpu: bool              # device arrays computed on their GPU

    @property
    def self_join(self) -> bool:
        return self.q is None

    @property
    def rows(self) -> int:
        return _rows(self.db if self.q is None else self.q)

    @property
    def n(self) -> int:
        return _rows(self.db)


class KnnResult(NamedTuple):
    """ids int64 [rows, k], distances float64 [rows, k], counts int64 [n] (None where not asked for),
    as host numpy arrays, or device arrays for a device problem; stats from the engine."""

    ids: Any
    distances: Any
    counts: Any
    stats: dict


def _rows(m) -> int:
    return m.n if isinstance(m, DeviceMatrix) else m.shape[0]


def _cols(m) -> int:
    return m.d if isinstance(m, DeviceMatrix) else m.shape[1]


def use_gpu(device: str, work: float | None = None, op: str = "knn") -> bool:
    """device: "cpu", "cuda" (required: ValueError without a GPU), or "auto" (the GPU when one is
    present, the kernel has run on a GPU, and the work is large enough to pay for the transfers)."""
    check_device(device)
    if device == "cpu":
        return False
    if device == "cuda":
        if not _native.gpu_available():
            raise ValueError("device='cuda' needs the CUDA module and a GPU: " + _native.no_gpu_reason())
        return True
    return op not in NOT_YET_RUN_ON_A_GPU and _native.gpu_available() and (work is None or work >= MIN_GPU_WORK)


def describe(x, k, *, queries=None, metric="sqeuclidean", exclude_self=None, device="auto", precision="auto",
             n_threads=None, progress=False, desc="k-NN") -> Problem:
    """Validate a k-NN problem once. Device arrays stay on their GPU unless device="cpu"."""
    check_device(device)
    check_metric(metric)
    exclude_self = None if exclude_self is None else check_flag(exclude_self, "exclude_self")
    threads = _native.threads(check_threads(n_threads))
    on_gpu = device != "cpu" and is_device_array(x)
    check_precision(precision, on_gpu)
    if on_gpu:
        if not _native.gpu_available():
            raise ValueError(f"x is a GPU array but {_native.no_gpu_reason()}; pass device='cpu' to compute on the "
                             f"host")
        db: Any = device_matrix(x, "x")
        q: Any = None
        if queries is not None:
            if not is_device_array(queries):
                raise ValueError("queries must be on the GPU too when x is a GPU array")
            q = device_matrix(queries, "queries")
            if q.device != db.device:
                raise ValueError(f"queries are on cuda:{q.device} but x is on cuda:{db.device}; put both on one "
                                 f"device")
    else:
        db, q = as_matrix(x, "x"), None
        if queries is not None:
            q = as_matrix(queries, "queries")
    if q is not None:
        if _cols(q) != _cols(db):
            raise ValueError(f"queries have {_cols(q)} features but x has {_cols(db)}; both need the same number "
                             f"of columns")
        q = _same_dtype(q, db, queries)
        if exclude_self:
            raise ValueError("exclude_self applies only to a self-join (queries=None)")
        exclude_self = False
        n_cand, what = _rows(db), "the number of database points"
    else:
        exclude_self = True if exclude_self is None else bool(exclude_self)
        n_cand = _rows(db) - 1 if exclude_self else _rows(db)
        what = "N - 1 for a self-join excluding self" if exclude_self else "N"
    k = check_k(k, n_cand, what)
    return Problem(x, queries, db, q, k, metric, exclude_self, device, precision, threads, progress, desc, on_gpu)


def _same_dtype(q, db, queries):
    """One dtype per run: the database's (it is usually the larger)."""
    if isinstance(db, DeviceMatrix):
        if q.f64 == db.f64:
            return q
        return device_matrix(queries.to(db.keep.dtype) if q.kind == "torch" else q.keep.astype(db.keep.dtype),
                             "queries")
    return q if q.dtype == db.dtype else np.ascontiguousarray(q, dtype=db.dtype)


def run(p: Problem, *, ids=True, distances=False, counts=False) -> KnnResult:
    """Solve a described problem on the path its arrays and device call for."""
    if p.on_gpu:
        if p.k + 16 > DEVICE_MAX_CAP:  # very large k: candidates on the GPU, certification on the host
            return _device_via_host(p, ids, distances, counts)
        result = _run_device(p, ids, distances, counts)
        exactness.record(result.stats, "cuda")
        return result
    work = float(p.rows) * p.n * _cols(p.db) * (0.5 if p.self_join else 1.0)
    on_gpu = use_gpu(p.device, work)
    got_ids, dist, stats = (_run_host_on_gpu if on_gpu else _run_cpu)(p, distances)
    exactness.record(stats, "cuda" if on_gpu else "cpu")
    cnt = np.bincount(got_ids.ravel(), minlength=p.n).astype(np.int64) if counts else None
    return KnnResult(got_ids if ids else None, dist if distances else None, cnt, stats)


def _with_bar(progress, desc: str, fn):
    """fn(callback) under a progress bar that is closed whatever happens (completed only on success)."""
    bar = Progress(progress, desc)
    done = False
    try:
        out = fn(bar.callback)
        done = True
    finally:
        bar.close(done)
    return out


def _progress_call(p: Problem, fn):
    return _with_bar(p.progress, p.desc, fn)


def _run_cpu(p: Problem, distances: bool):
    return _progress_call(p, lambda cb: _native.cpu.knn(p.db, p.q, p.k, p.metric, p.exclude_self,
                                                         p.threads, _native.simd_level(), cb, distances))


def _run_host_on_gpu(p: Problem, distances: bool):
    """fp32 candidate lists on the GPU (host data streamed in chunks), certified in float64 on the CPU."""
    got_ids, dist, stats = _progress_call(
        p, lambda cb: _native.cuda.knn_host(p.db, p.q, p.k, p.metric, p.exclude_self, p.threads, _native.simd_level(),
                                           _native.gpu_chunk_rows(), 0, cb, distances))
    # the certification names its lists "external"; the candidate pass that made them is the GPU's fp32 one
    return got_ids, dist, {**stats, "kernels": "cuda-fp32"} if isinstance(stats, dict) else stats


def _empty(m: DeviceMatrix, shape, dtype: str, zero=False):
    if m.kind == "torch":
        import torch

        make = torch.zeros if zero else torch.empty
        return make(shape, dtype=getattr(torch, dtype), device=m.keep.device)
    import cupy

    with cupy.cuda.Device(m.device):
        return (cupy.zeros if zero else cupy.empty)(shape, dtype=dtype)


def _ptr(a) -> int:
    return 0 if a is None else (a.data_ptr() if hasattr(a, "data_ptr") else a.data.ptr)


def _run_device(p: Problem, ids: bool, distances: bool, counts: bool) -> KnnResult:
    xm, qm = p.db, p.q
    out_ids = _empty(xm, (p.rows, p.k), "int64") if ids else None
    out_dist = _empty(xm, (p.rows, p.k), "float64") if distances else None
    out_counts = _empty(xm, (xm.n,), "int64", zero=True) if counts else None
    stats = _progress_call(p, lambda cb: _native.cuda.knn_device(
        xm.ptr, xm.n, xm.d, xm.ld, xm.f64, qm.ptr if qm else 0, qm.n if qm else 0, qm.ld if qm else 0, p.k,
        p.metric, p.exclude_self, _ptr(out_ids), _ptr(out_dist), _ptr(out_counts), p.precision, xm.stream,
        xm.device, cb))
    return KnnResult(out_ids, out_dist, out_counts, stats)


def _device_via_host(p: Problem, ids: bool, distances: bool, counts: bool) -> KnnResult:
    """k beyond the device certification: the host path (lists on the GPU, float64 on the CPU), results moved back."""
    host = describe(p.x, p.k, queries=p.queries, metric=p.metric, exclude_self=p.exclude_self if p.self_join
                    else None, device="cuda", n_threads=p.threads or None, progress=p.progress, desc=p.desc)
    r = run(host, ids=True, distances=distances, counts=counts)
    back = [None if a is None else to_output(np.ascontiguousarray(a), p.x)
            for a in (r.ids if ids else None, r.distances, r.counts)]
    return KnnResult(back[0], back[1], back[2], r.stats)


def run_pair(a: np.ndarray, b: np.ndarray, k: int, metric: str, threads: int, device: str):
    """Both searches of a block pair (a's k nearest in b and b's in a) for the Dask runner.

    Returns (ids_a, dist_a, ids_b, dist_b), float64 distances. On the GPU these are two
    searches; on the CPU one native pass computes each tile once for both directions.
    """
    if use_gpu(device, 2.0 * a.shape[0] * b.shape[0] * a.shape[1]):
        ra = run(describe(b, min(k, b.shape[0]), queries=a, metric=metric, device="cuda", n_threads=threads or None),
                 distances=True)
        rb = run(describe(a, min(k, a.shape[0]), queries=b, metric=metric, device="cuda", n_threads=threads or None),
                 distances=True)
        return ra.ids, ra.distances, rb.ids, rb.distances
    return _native.cpu.knn_pair(a, b, k, check_metric(metric), _native.threads(threads), _native.simd_level(), None)


def balls(a, a_radius2, b, b_radius2, *, inclusive: list[bool], n_threads=None, progress=False, desc="balls",
          device="auto"):
    """One containment pass over all pairs of a x b for every layer of balls (see
    hubness_fast.balls.ball_pass); outputs [n, layers]. The GPU kernel takes one
    layer per call: several layers there are several passes."""
    if use_gpu(device, float(a.shape[0]) * b.shape[0] * a.shape[1] * len(inclusive), op="balls"):
        return _with_bar(progress, desc, lambda cb: _balls_gpu_by_layer(a, a_radius2, b, b_radius2, inclusive, cb))
    return _with_bar(progress, desc, lambda cb: _native.cpu.balls(a, a_radius2, b, b_radius2, inclusive,
                                                                  _native.threads(check_threads(n_threads)),
                                                                  _native.simd_level(), cb))


def radius_pairs(q: np.ndarray, radius2: float, db: np.ndarray, *, same_set: bool, n_threads=None, progress=False,
                 desc: str = "radius") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CPU engine's radius pass (inclusive): CSR (indptr, indices, float64 squared distances) of the
    pairs within radius2, rows sorted by (distance, index); same_set leaves each point out of its own row."""
    return _with_bar(progress, desc, lambda cb: _native.cpu.radius_pairs(q, radius2, db, True, same_set,
                                                                         _native.threads(check_threads(n_threads)),
                                                                         _native.simd_level(), cb))


def radius_cosine_pairs(q: np.ndarray, radius2: float, db: np.ndarray, *, same_set: bool, q_rows: np.ndarray,
                        q_norm: np.ndarray, db_rows: np.ndarray, db_norm: np.ndarray, radius: float, n_threads=None,
                        progress=False, desc: str = "radius") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CPU engine's cosine radius pass: the pass of :func:`radius_pairs` on q and db (the rows divided
    by their norms, radius2 widened), each listed pair valued by the float64 cosine of q_rows and db_rows
    (the certification's key, bit for bit), rows sorted by (value, index) and cut at value <= radius."""
    return _with_bar(progress, desc, lambda cb: _native.cpu.radius_cosine_pairs(
        q, radius2, db, same_set, q_rows, np.ascontiguousarray(q_norm, np.float64), db_rows,
        np.ascontiguousarray(db_norm, np.float64), radius, _native.threads(check_threads(n_threads)),
        _native.simd_level(), cb))


def pair_cosines(a: np.ndarray, a_norm: np.ndarray, b: np.ndarray, b_norm: np.ndarray, rows: np.ndarray,
                 cols: np.ndarray, n_threads=None) -> np.ndarray:
    """The CPU engine's float64 cosine 1 - <a_i, b_j> / (|a_i| |b_j|) of each listed pair (rows[p], cols[p]),
    the dot product summed in feature order (the certification's key, bit for bit), the norms given."""
    return _native.cpu.pair_cosines(a, np.ascontiguousarray(a_norm, np.float64), b,
                                    np.ascontiguousarray(b_norm, np.float64), np.ascontiguousarray(rows, np.int64),
                                    np.ascontiguousarray(cols, np.int64), _native.threads(check_threads(n_threads)))


def _balls_gpu_by_layer(a, a_radius2, b, b_radius2, inclusive, callback):
    layers = len(inclusive)

    def layer(r2, j):
        return None if r2 is None else np.ascontiguousarray(np.reshape(r2, (len(r2), layers))[:, j])

    parts = [_native.cuda.balls(a, layer(a_radius2, j), b, layer(b_radius2, j), inclusive[j], 0, callback)
             for j in range(layers)]
    return tuple({key: np.concatenate([np.reshape(p[side][key], (-1, 1)) for p in parts], axis=1)
                  for key in parts[0][side]} for side in (0, 1))
