"""Input coercion and validation shared by every public function.

Python coerces and validates once; the native engine takes C-contiguous
float32/float64 buffers. numpy arrays (and np.memmap) that already are
float32/float64 C-contiguous are passed without a copy; torch CPU tensors are
viewed zero-copy through ``Tensor.numpy()``.
"""
from __future__ import annotations

import numbers
import operator
import os

import numpy as np

from . import _cpu

HAS_AVX2 = bool(_cpu.HAS_AVX2)
HAS_OPENMP = bool(_cpu.HAS_OPENMP)
try:  # built only when nvcc was found at build time; imports without a GPU
    from . import _cuda

    HAS_CUDA = True
except ImportError:
    _cuda = None
    HAS_CUDA = False

METRICS = {"sqeuclidean": 0, "euclidean": 1, "inner_product": 2, "cosine": 3}


def is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def as_matrix(x, name: str) -> np.ndarray:
    """Return `x` as a C-contiguous float32/float64 2-D array, copying only if needed."""
    if is_torch(x):
        if x.device.type != "cpu" and not HAS_CUDA:
            raise ValueError(
                f"{name} is a torch tensor on {x.device}; this build has only the CPU engine: "
                "move it with .cpu() (the CUDA backend is not built)"
            )
        x = x.detach().cpu()  # the CUDA path certifies on the host: one copy for device tensors
        if x.dtype not in (_torch_dtype("float32"), _torch_dtype("float64")):
            x = x.float()
        x = x.contiguous().numpy()
    elif not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists, objects numpy cannot hold
            raise ValueError(f"{name} must be a 2-D numeric array: {exc}") from None
    kind = x.dtype.kind
    if kind not in "fiu":
        raise ValueError(
            f"{name} has dtype {x.dtype}, which is not a real number type; pass float32 or float64 data"
        )
    if x.ndim != 2:
        hint = " (use x.reshape(-1, 1) for one feature)" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {x.shape}{hint}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); pass at least one row and one feature")
    if x.dtype == np.float32 or x.dtype == np.float64:
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    # float16 and small integers fit float32 exactly; wider integers go to float64.
    target = np.float32 if x.dtype.itemsize <= 2 else np.float64
    return np.ascontiguousarray(x, dtype=target)


def _torch_dtype(name):
    import torch

    return getattr(torch, name)


def check_k(k, n_candidates: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = operator.index(k)
    if not 1 <= k <= n_candidates:
        raise ValueError(f"k must be between 1 and {n_candidates} ({what}), got {k}")
    return k


def check_metric(metric: str) -> int:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    return METRICS[metric]


def check_threads(n_threads) -> int:
    if n_threads is None:
        return 0
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    return int(n_threads)


class Progress:
    """Adapts the engine's (done, total) callback to a tqdm bar, a user callable, or nothing."""

    def __init__(self, progress, desc: str):
        self._user = progress if callable(progress) else None
        self._enabled = bool(progress) and self._user is None
        self._desc = desc
        self._bar = None

    @property
    def callback(self):
        return self if (self._user or self._enabled) else None

    def __call__(self, done: int, total: int) -> None:
        if self._user is not None:
            self._user(done, total)
            return
        if self._bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is optional: fall back to a one-line counter
                tqdm = _TextBar
            self._bar = tqdm(total=total, desc=self._desc, unit="tile")
        self._bar.update(done - self._bar.n)

    def close(self, completed: bool) -> None:
        if self._bar is not None:
            if completed:
                self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()


class _TextBar:
    def __init__(self, total, desc, unit):
        self.total, self.n, self.desc = total, 0, desc

    def update(self, delta):
        import sys

        self.n += delta
        sys.stderr.write(f"\r{self.desc}: {100.0 * self.n / max(self.total, 1):5.1f}%")

    def close(self):
        import sys

        sys.stderr.write("\n")


def simd_level() -> str:
    """HUBNESS_FAST_SIMD=generic|avx2|auto (default auto) picks the kernel set, for tests and comparisons."""
    return os.environ.get("HUBNESS_FAST_SIMD", "auto")


# "auto" picks the GPU only once the CUDA kernel has been verified on one;
# until then it means the CPU and device="cuda" is the explicit opt-in.
CUDA_VERIFIED = False


def use_cuda(device: str) -> bool:
    """device: "cpu" (default), "cuda", or "auto" (the GPU when one is present and verified)."""
    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cpu" or (device == "auto" and not CUDA_VERIFIED):
        return False
    available = HAS_CUDA and _cuda.device_count() > 0
    if device == "cuda" and not available:
        raise ValueError("device='cuda' needs the CUDA module and a GPU: " +
                         ("no CUDA device is visible" if HAS_CUDA else "this build has no CUDA module (nvcc was not found)"))
    return available


def _row_sq_norms(a: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """float64 squared norms, a chunk of rows at a time (no float64 copy of the data)."""
    out = np.empty(a.shape[0])
    for s in range(0, a.shape[0], chunk):
        block = a[s:s + chunk].astype(np.float64)
        if not np.isfinite(block).all():
            row = s + int(np.argmin(np.isfinite(block).all(1)))
            raise ValueError(f"input contains NaN or Inf (first at row {row}); drop or impute those rows")
        out[s:s + chunk] = np.einsum("ij,ij->i", block, block)
    return out


def _cuda_operand(a: np.ndarray, metric: str):
    """fp32 rows and per-row key offsets for the CUDA candidate pass."""
    n2 = _row_sq_norms(a)
    if metric == "cosine":
        if np.any(n2 == 0):
            raise ValueError(f"row {int(np.argmin(n2))} is all zeros: cosine distance is undefined for it")
        scale = 1.0 / np.sqrt(n2)
        rows = np.concatenate([(a[s:s + 65536] * scale[s:s + 65536, None]).astype(np.float32)
                               for s in range(0, a.shape[0], 65536)])
        return rows, np.full(a.shape[0], 0.5, np.float32)
    rows = np.ascontiguousarray(a, dtype=np.float32)
    off = n2.astype(np.float32) if metric in ("sqeuclidean", "euclidean") else np.zeros(a.shape[0], np.float32)
    return rows, off


def _run_cuda(db, q, k, code, metric, exclude_self, threads, simd, want_distances):
    """fp32 candidates on the GPU, certified (or recomputed) in float64 on the host."""
    n_cand = db.shape[0] if q is not None else (db.shape[0] - 1 if exclude_self else db.shape[0])
    cap = _cpu.candidate_cap(k, n_cand)
    x32, x_off = _cuda_operand(db, metric)
    q32, q_off = _cuda_operand(q, metric) if q is not None else (None, None)
    gamma = -2.0 if metric in ("sqeuclidean", "euclidean") else -1.0
    keys, ids = _cuda.candidates(x32, q32, x_off, q_off, gamma, q is None and bool(exclude_self), cap)
    return _cpu.finalize(db, q, k, code, bool(exclude_self), threads, simd, keys, ids, want_distances)


def run_knn(x, k, *, queries, metric, exclude_self, n_threads, progress, want_distances, desc="k-NN",
            device="cpu"):
    """Validate everything, then run the native engine. Returns (ids, distances or None, info, db, q)."""
    simd = simd_level()
    cuda = use_cuda(device)
    db = as_matrix(x, "x")
    code = check_metric(metric)
    threads = check_threads(n_threads)
    q = None
    if queries is not None:
        q = as_matrix(queries, "queries")
        if q.shape[1] != db.shape[1]:
            raise ValueError(
                f"queries have {q.shape[1]} features but x has {db.shape[1]}; both need the same number of columns"
            )
        if q.dtype != db.dtype:  # the engine runs one dtype; the database's wins (it is usually the larger)
            q = np.ascontiguousarray(q, dtype=db.dtype)
        if exclude_self:
            raise ValueError("exclude_self applies only to a self-join (queries=None)")
        n_cand, what = db.shape[0], "the number of database points"
    else:
        exclude_self = True if exclude_self is None else bool(exclude_self)
        n_cand = db.shape[0] - 1 if exclude_self else db.shape[0]
        what = "N - 1 for a self-join excluding self" if exclude_self else "N"
    k = check_k(k, n_cand, what)
    if cuda:
        ids, dist, info = _run_cuda(db, q, k, code, metric, exclude_self, threads, simd, want_distances)
        return ids, dist, info, db, q
    bar = Progress(progress, desc)
    completed = False
    try:
        ids, dist, info = _cpu.knn(db, q, k, code, bool(exclude_self), threads, simd, bar.callback, want_distances)
        completed = True
    finally:
        bar.close(completed)
    return ids, dist, info, db, q


def to_output(arr: np.ndarray, like):
    """torch in, torch out; numpy otherwise."""
    if is_torch(like):
        import torch

        return torch.from_numpy(arr)
    return arr
