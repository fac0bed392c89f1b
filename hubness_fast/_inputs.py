"""Input coercion and validation, once, for every public function.

Python coerces and validates; the native engine takes pointers and sizes. Host
data: numpy arrays (and np.memmap) that already are float32/float64 C-contiguous
are passed without a copy; torch CPU tensors are viewed zero-copy. Device data:
torch CUDA tensors and ``__cuda_array_interface__`` objects (cupy, ...) are
described in place (:class:`DeviceMatrix`). Results go back as the input's kind
(:func:`to_output`).
"""
from __future__ import annotations

import numbers
import os
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("sqeuclidean", "euclidean", "inner_product", "cosine")  # the bindings parse these names
PRECISIONS = ("auto", "exact", "tensor")
DEVICES = ("cpu", "cuda", "auto")


def is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def as_matrix(x, name: str) -> np.ndarray:
    """Return `x` as a C-contiguous float32/float64 2-D array, copying only if needed."""
    if is_torch(x):
        x = x.detach().cpu()  # a GPU tensor computed on the host (device="cpu") is copied once
        if x.dtype == _torch_dtype("bfloat16"):  # numpy has no bfloat16: float32 holds each value exactly
            x = x.float()
        x = x.contiguous().numpy()  # other dtypes as numpy's: int32 and int64 go to float64 below, not float32
    elif hasattr(x, "__cuda_array_interface__"):  # cupy & co. with device="cpu"
        import cupy

        x = cupy.asnumpy(x)
    elif not isinstance(x, np.ndarray):
        if hasattr(x, "tocsr") and hasattr(x, "nnz"):  # scipy.sparse: the engine is dense
            raise ValueError(f"{name} is a scipy sparse matrix ({type(x).__name__}, shape {x.shape}); the engine "
                             f"computes on dense rows: pass {name}.toarray() (or reduce the features first, "
                             f"e.g. TruncatedSVD)")
        columns = getattr(x, "columns", None)  # a DataFrame's, to name a bad cell by
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists, objects numpy cannot hold
            raise ValueError(f"{name} must be a 2-D numeric array: {exc}") from None
        if x.dtype == object and hasattr(x, "shape") and x.ndim == 2:  # pandas' nullable Float64 / Int64 columns
            try:
                x = x.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name} holds missing values (pd.NA / None) or non-numbers, the first "
                                 f"{_first_non_number(x, columns)}; drop or impute them, then pass float32 or "
                                 f"float64 data") from None
        if columns is not None and x.dtype.kind == "f":  # a DataFrame's NaN (pandas' missing value): name its cell
            _refuse_a_missing_cell(x, columns, name)
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
    return np.ascontiguousarray(x, dtype=engine_dtype(x.dtype))


def _refuse_a_missing_cell(x: np.ndarray, columns: Any, name: str) -> None:
    bad = ~np.isfinite(x)
    if x.ndim == 2 and bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])  # the first in row order
        raise ValueError(f"{name} holds a missing value or an infinity (NaN / Inf) at row {row}, column "
                         f"{columns[col]!r} ({x[row, col]}); drop or impute it, then pass float32 or float64 data")


def engine_dtype(dtype: Any) -> np.dtype:
    """The dtype the engine computes a real dtype in: float32 and float64 as they are; float16 and small
    integers fit float32 exactly; wider integers go to float64."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    return np.dtype(np.float32 if dtype.itemsize <= 2 else np.float64)


def _first_non_number(x: np.ndarray, columns: Any) -> str:
    """'at row 3, column "b" (<NA>)': the first cell (in row order) that float() refuses."""
    for (row, col), value in np.ndenumerate(x):
        try:
            float(value)
        except (TypeError, ValueError):
            named = repr(columns[col]) if columns is not None else str(col)  # a DataFrame's label
            return f"at row {row}, column {named} ({value!r})"
    return "one numpy cannot convert"  # float() takes every cell but the array cast does not: not met in practice


def to_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """``x`` as numpy: arrays as they are (no copy when the dtype matches), torch tensors on any
    device copied to the host."""
    if is_torch(x):
        x = x.detach().cpu()
        if x.dtype == _torch_dtype("bfloat16"):  # numpy has no bfloat16: float32 holds each value exactly
            x = x.float()
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


def _torch_dtype(name):
    import torch

    return getattr(torch, name)


def check_k(k, n_candidates: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = operator.index(k)
    if n_candidates < 1:
        raise ValueError(f"no k works here: {what} is {n_candidates}, so there is no candidate neighbour (k = {k} "
                         f"asked); the data needs more samples")
    if not 1 <= k <= n_candidates:
        raise ValueError(f"k must be between 1 and {n_candidates} ({what}), got {k}")
    return k


def as_path(path: str | os.PathLike[str]) -> Path:
    """A path the user typed: ``~`` and environment variables ($HOME, ${XDG_CACHE_HOME}) expanded."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"expected a path (str or os.PathLike), got {type(path).__name__}")
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))


def _scalar(value):
    """A 0-d numpy array or torch tensor as its Python value; anything else as it is."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def check_flag(value, name: str) -> bool:
    """True or False: bools (numpy's, and 0-d bool arrays and tensors). A string such as 'no' would
    otherwise count as True; it is refused, as are None and numbers (k=True is refused alike)."""
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def is_real(value) -> bool:
    """A real number (numpy's, 0-d arrays and tensors too), not a bool or a string: what a range check
    may compare."""
    value = _scalar(value)
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_seed(seed, name: str = "seed") -> int | None:
    """None or an integer >= 0 (numpy's rule for a seed; 0-d arrays and tensors too), not a bool."""
    seed = _scalar(seed)
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name} must be an integer >= 0 or None, got {seed!r}")
    return int(seed)


def check_int(value, name: str, minimum: int = 1) -> int:
    """An integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (taskset, Slurm, a container's cpuset), as
    OpenMP and joblib count them; every core where the platform has no mask."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def n_jobs_to_threads(n_jobs) -> int | None:
    """scikit-learn's n_jobs as the engine's n_threads: None the default, -1 every usable core, -2 all but
    one, k > 0 k."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or int(n_jobs) == 0:
        raise ValueError(f"n_jobs must be None, a positive integer or a negative one (-1: all cores), got {n_jobs!r}")
    n = int(n_jobs)
    return n if n > 0 else max(1, usable_cpus() + 1 + n)


def check_choice(value: Any, choices: Any, name: str) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError naming them all."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_metric(metric: str, metrics: Any = METRICS) -> str:
    return check_choice(metric, metrics, "metric")


def check_threads(n_threads) -> int:
    if n_threads is None:
        return 0
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    return int(n_threads)




def check_precision(precision: str, on_gpu_arrays: bool) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if precision == "tensor" and not on_gpu_arrays:
        raise ValueError("precision='tensor' applies to GPU arrays (torch CUDA tensors, cupy arrays); "
                         "host arrays run the fp32 kernels: use precision='auto' or 'exact'")
    return precision


def check_device(device: str) -> None:
    if device not in DEVICES:
        hint = (" (a torch device: its .type; a GPU array runs on its own GPU)"
                if str(device).startswith(("cpu", "cuda")) else "")
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto'{hint}, got {device!r}")


def check_radii(radii, n: int, name: str = "radii") -> np.ndarray:
    """Ball radii as float64 [n], finite and non-negative; one number is every centre's radius.
    Numbers only: a string or a bool ("1.0", True) is refused, not converted."""
    raw = to_numpy(radii)
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numbers, got {raw.dtype} ({type(radii).__name__})")
    r = raw.astype(np.float64, copy=False)
    if r.ndim == 0:
        r = np.full(n, float(r))
    if r.ndim != 1 or r.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one value per centre ({n}), got shape {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return r


def check_squared_radii(r2, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Squared ball radii as C-contiguous float64 of ``shape``: numbers >= 0, never NaN (+inf is a ball
    holding every point: a radius beyond sqrt(float64 max) squares to it)."""
    r = to_numpy(r2)
    if r.dtype.kind not in "iuf" or r.shape != shape:
        raise ValueError(f"{name} must be numbers of shape {shape}, got {r.dtype} {r.shape}")
    r = np.ascontiguousarray(r, np.float64)
    if np.isnan(r).any() or (r < 0).any():
        raise ValueError(f"{name} must be non-negative numbers (first bad one at index "
                         f"{int(np.flatnonzero(~(r >= 0))[0])} of the flattened array)")
    return r


@dataclass
class DeviceMatrix:
    ptr: int
    n: int
    d: int
    ld: int
    f64: bool
    device: int
    stream: int
    kind: str          # "torch" or "cupy"
    keep: Any          # the array read (kept alive for the call)


def is_device_array(x) -> bool:
    if is_torch(x):
        return x.device.type == "cuda"
    return hasattr(x, "__cuda_array_interface__")


def _torch_matrix(x, name: str) -> DeviceMatrix:
    import torch

    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); pass at least one row and one feature")
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"{name} has dtype {x.dtype}, which is not a real number type; pass float32 or float64 data")
    x = x.detach()
    if x.dtype not in (torch.float32, torch.float64):  # as engine_dtype: float16/bfloat16 and integers of
        # 1 or 2 bytes are exact in float32, wider integers need float64
        x = x.double() if not x.dtype.is_floating_point and x.element_size() > 2 else x.float()
    if x.stride(1) != 1 or x.stride(0) < x.shape[1]:
        x = x.contiguous()
    stream = torch.cuda.current_stream(x.device).cuda_stream
    return DeviceMatrix(x.data_ptr(), x.shape[0], x.shape[1], x.stride(0), x.dtype == torch.float64,
                        x.device.index or 0, stream, "torch", x)


def _cai_matrix(x, name: str) -> DeviceMatrix:
    try:
        import cupy
    except ImportError:  # pragma: no cover - an interface object without cupy
        raise ValueError(f"{name} exposes __cuda_array_interface__ but cupy is not installed to read it") from None
    a = cupy.asarray(x)  # no copy for a device array
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); pass at least one row and one feature")
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} has dtype {a.dtype}, which is not a real number type; pass float32 or float64 data")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32 if a.dtype.itemsize <= 2 else np.float64)
    item = a.dtype.itemsize
    if a.strides[1] != item or a.strides[0] % item or a.strides[0] // item < a.shape[1]:
        a = cupy.ascontiguousarray(a)
    stream = cupy.cuda.get_current_stream().ptr
    return DeviceMatrix(a.data.ptr, a.shape[0], a.shape[1], a.strides[0] // item, a.dtype == np.float64,
                        a.device.id, stream, "cupy", a)


def device_matrix(x, name: str) -> DeviceMatrix:
    return _torch_matrix(x, name) if is_torch(x) else _cai_matrix(x, name)


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
