"""The GPU half of the dispatch (hubness_fast._cuda).

Device arrays — torch CUDA tensors and any object with
``__cuda_array_interface__`` (cupy, numba, ...) — are read in place on their
device and on the caller's current stream; results come back as arrays of the
same kind on the same device, and hub counts are reduced on the device.
Host arrays given to the GPU are streamed through pinned memory in chunks, so
N may exceed GPU memory; their candidates are certified by the CPU module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _backend

# Below this many multiply-adds the GPU's start-up and transfers cost more than
# they save: device="auto" keeps such host-array problems on the CPU.
MIN_GPU_WORK = 2 ** 33

# The device-side float64 certification holds a row's candidates in shared
# memory (16 bytes each, 96 KiB): longer lists are certified by the CPU module.
DEVICE_MAX_CAP = 6144


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
    keep: object       # the array read (kept alive for the call)


def is_device_array(x) -> bool:
    if _backend.is_torch(x):
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
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()  # float16/bfloat16 and small integers: exact in float32
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
    return _torch_matrix(x, name) if _backend.is_torch(x) else _cai_matrix(x, name)


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


def knn_device(x, queries, k, metric, exclude_self, *, want_ids, want_dist, want_counts, progress=False,
               desc="k-NN", precision="auto"):
    """Exact k-NN of device arrays on their GPU. Returns (ids, dist float64, counts, info), unasked ones None."""
    if not (_backend.HAS_CUDA and _backend._cuda.device_count() > 0):
        raise ValueError("x is a GPU array but " + ("no CUDA device is visible" if _backend.HAS_CUDA else
                         "this build has no CUDA module (nvcc was not found at install time)") +
                         "; pass device='cpu' to compute on the host")
    code = _backend.check_metric(metric)
    prec = _backend.check_precision(precision, True)
    xm = device_matrix(x, "x")
    qm = None
    if queries is not None:
        if not is_device_array(queries):
            raise ValueError("queries must be on the GPU too when x is a GPU array")
        qm = device_matrix(queries, "queries")
        if qm.device != xm.device:
            raise ValueError(f"queries are on cuda:{qm.device} but x is on cuda:{xm.device}; put both on one device")
        if qm.d != xm.d:
            raise ValueError(f"queries have {qm.d} features but x has {xm.d}; both need the same number of columns")
        if qm.f64 != xm.f64:  # one dtype per run: the database's
            qm = device_matrix(queries.to(xm.keep.dtype) if qm.kind == "torch" else qm.keep.astype(xm.keep.dtype),
                               "queries")
        if exclude_self:
            raise ValueError("exclude_self applies only to a self-join (queries=None)")
        n_cand, what = xm.n, "the number of database points"
        exclude_self = False
    else:
        exclude_self = True if exclude_self is None else bool(exclude_self)
        n_cand = xm.n - 1 if exclude_self else xm.n
        what = "N - 1 for a self-join excluding self" if exclude_self else "N"
    k = _backend.check_k(k, n_cand, what)
    if k + 16 > DEVICE_MAX_CAP:  # very large k: candidates on the GPU, certification on the host
        return _large_k(x, queries, k, metric, exclude_self, want_ids, want_dist, want_counts, progress, desc)
    rows = qm.n if qm is not None else xm.n
    ids = _empty(xm, (rows, k), "int64") if want_ids else None
    dist = _empty(xm, (rows, k), "float64") if want_dist else None
    counts = _empty(xm, (xm.n,), "int64", zero=True) if want_counts else None
    bar = _backend.Progress(progress, desc)
    completed = False
    try:
        info = _backend._cuda.knn_device(
            xm.ptr, xm.n, xm.d, xm.ld, xm.f64, qm.ptr if qm else 0, qm.n if qm else 0, qm.ld if qm else 0, k, code,
            exclude_self, _ptr(ids), _ptr(dist), _ptr(counts), prec, xm.stream, xm.device, bar.callback)
        completed = True
    finally:
        bar.close(completed)
    return ids, dist, counts, info


def _large_k(x, queries, k, metric, exclude_self, want_ids, want_dist, want_counts, progress, desc):
    """k beyond the device certification: the host path (lists on the GPU, float64 on the CPU), results moved back."""
    ids, dist, info, db, _ = _backend.run_knn(x, k, queries=queries, metric=metric, exclude_self=exclude_self,
                                              n_threads=None, progress=progress, want_distances=want_dist,
                                              desc=desc, device="cuda")
    counts = np.bincount(ids.ravel(), minlength=db.shape[0]).astype(np.int64) if want_counts else None
    back = [None if a is None else _backend.to_output(np.ascontiguousarray(a), x)
            for a in (ids if want_ids else None, dist, counts)]
    return (*back, info)


def candidates_host(db: np.ndarray, q, metric: str, exclude_self: bool, cap: int, progress=False, desc="k-NN",
                    chunk_rows: int = 0):
    """fp32 candidate lists of host arrays computed on the GPU, streamed in chunks."""
    x32 = db if db.dtype == np.float32 else None
    if x32 is None:
        x32 = np.empty(db.shape, np.float32)
        for s in range(0, db.shape[0], 65536):
            x32[s:s + 65536] = db[s:s + 65536]
    q32 = None if q is None else np.ascontiguousarray(q, dtype=np.float32)
    bar = _backend.Progress(progress, desc)
    completed = False
    try:
        keys, ids = _backend._cuda.candidates_host(x32, q32, _backend.check_metric(metric), bool(exclude_self), cap,
                                                  int(chunk_rows), 0, bar.callback)
        completed = True
    finally:
        bar.close(completed)
    return keys, ids
