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
        x = x.detach().cpu()  # a GPU tensor computed on the host (device="cpu") is copied once
        if x.dtype not in (_torch_dtype("float32"), _torch_dtype("float64")):
            x = x.float()
        x = x.contiguous().numpy()
    elif hasattr(x, "__cuda_array_interface__"):  # cupy & co. with device="cpu"
        import cupy

        x = cupy.asnumpy(x)
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


# "auto" sends host arrays to the GPU only when the kernels have been verified
# on one (this flag) and the problem is large enough to pay for the transfers.
CUDA_VERIFIED = True


def gpu_available() -> bool:
    return HAS_CUDA and _cuda.device_count() > 0


PRECISIONS = {"auto": 0, "exact": 1, "tensor": 2}


def check_precision(precision: str, on_gpu_arrays: bool) -> int:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if precision == "tensor" and not on_gpu_arrays:
        raise ValueError("precision='tensor' applies to GPU arrays (torch CUDA tensors, cupy arrays); "
                         "host arrays run the fp32 kernels: use precision='auto' or 'exact'")
    return PRECISIONS[precision]


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")


def use_cuda(device: str, work: float | None = None) -> bool:
    """device: "cpu", "cuda" (required), or "auto" (the GPU when present and the work is large enough)."""
    check_device(device)
    if device == "cpu":
        return False
    if device == "cuda":
        if not gpu_available():
            raise ValueError("device='cuda' needs the CUDA module and a GPU: " +
                             ("no CUDA device is visible" if HAS_CUDA else
                              "this build has no CUDA module (nvcc was not found)"))
        return True
    from ._gpu import MIN_GPU_WORK

    return CUDA_VERIFIED and gpu_available() and (work is None or work >= MIN_GPU_WORK)


def _run_cuda(db, q, k, code, metric, exclude_self, threads, simd, want_distances, progress, desc):
    """fp32 candidates on the GPU (host data streamed in chunks), certified in float64 by the CPU module."""
    from . import _gpu

    self_join = q is None
    n_cand = db.shape[0] - 1 if (self_join and exclude_self) else db.shape[0]
    cap = _cpu.candidate_cap(k, n_cand)
    chunk = int(os.environ.get("HUBNESS_FAST_GPU_CHUNK_ROWS", "0"))
    keys, ids = _gpu.candidates_host(db, q, metric, self_join and bool(exclude_self), cap, progress, desc,
                                     chunk_rows=chunk)
    return _cpu.finalize(db, q, k, code, bool(exclude_self), threads, simd, keys, ids, want_distances)


def run_knn(x, k, *, queries, metric, exclude_self, n_threads, progress, want_distances, desc="k-NN",
            device="auto"):
    """Validate everything, then run the native engine on host data. Returns (ids, distances or None, info, db, q)."""
    simd = simd_level()
    check_device(device)
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
    rows = q.shape[0] if q is not None else db.shape[0]
    work = float(rows) * db.shape[0] * db.shape[1] * (0.5 if q is None else 1.0)
    if use_cuda(device, work):
        ids, dist, info = _run_cuda(db, q, k, code, metric, exclude_self, threads, simd, want_distances, progress,
                                    desc)
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
    """torch in, torch out (on the input's device); numpy otherwise."""
    if is_torch(like):
        import torch

        out = torch.from_numpy(arr)
        return out if like.device.type == "cpu" else out.to(like.device)
    if hasattr(like, "__cuda_array_interface__"):
        import cupy

        return cupy.asarray(arr)
    return arr
