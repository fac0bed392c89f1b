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
try:  # built only when nvcc was found at build time
    from . import _cuda  # noqa: F401

    HAS_CUDA = True
except ImportError:
    HAS_CUDA = False

METRICS = {"sqeuclidean": 0, "euclidean": 1, "inner_product": 2, "cosine": 3}


def is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def as_matrix(x, name: str) -> np.ndarray:
    """Return `x` as a C-contiguous float32/float64 2-D array, copying only if needed."""
    if is_torch(x):
        if x.device.type != "cpu":
            raise ValueError(
                f"{name} is a torch tensor on {x.device}; this build has only the CPU engine: "
                "move it with .cpu() (the CUDA backend is not built)"
            )
        x = x.detach()
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


def run_knn(x, k, *, queries, metric, exclude_self, n_threads, progress, want_distances, desc="k-NN"):
    """Validate everything, then run the native engine. Returns (ids, distances or None, info, db, q)."""
    simd = simd_level()
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
