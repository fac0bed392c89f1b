"""Exact k nearest neighbours: knn() and kth_neighbor_distance()."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._dispatch import describe, run
from .._inputs import to_output
from .._types import Array, Device, Metric, Precision, Progress, Threads


class Neighbors(NamedTuple):
    """What knn returns; unpacks as ``dist, idx = knn(x, k)``."""

    distances: Any  # float32 (M, k)
    indices: Any    # int64 (M, k)


def knn(x: Array, k: int, *, queries: Array | None = None, metric: Metric = "sqeuclidean",
        exclude_self: bool | None = None, n_threads: Threads = None, progress: Progress = False,
        device: Device = "auto", precision: Precision = "auto") -> Neighbors:
    """Exact k nearest neighbours, without ever forming a distance matrix.

    Parameters
    ----------
    x : array (N, D)
        The database: numpy (any real dtype or order; float32/float64
        C-contiguous arrays and ``np.memmap`` are used in place), a torch
        tensor (CPU: zero-copy; CUDA: computed on its GPU and stream, in
        place), or a cupy array (any ``__cuda_array_interface__`` object).
    k : int
        Neighbours per query, 1 <= k <= N - 1 for a self-join (N with
        ``exclude_self=False``), 1 <= k <= N with ``queries``.
    queries : array (M, D), optional
        Search these against ``x``. Default: a self-join (queries = x), which
        computes each pair of points once.
    metric : {"sqeuclidean", "euclidean", "inner_product", "cosine"}
        ``inner_product`` ranks largest first and returns the inner products;
        ``cosine`` returns 1 - cosine similarity (zero rows are rejected).
    exclude_self : bool, optional
        Self-join only (default True): point i is never its own neighbour.
        Exclusion is by index: an exact duplicate at another index is a
        neighbour at distance 0. With False, i is a candidate like any other.
    n_threads : int, optional
        OpenMP threads (default: all cores).
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(done, total)`` tiles on the calling thread
        (its return value is ignored; an exception it raises stops the run and propagates).
    device : {"auto", "cpu", "cuda"}
        "auto" (default): GPU arrays run on their GPU; host arrays run on the
        GPU when one is present and the problem is large enough to pay for
        the transfers (hubness_fast.engine._dispatch.MIN_GPU_WORK multiply-adds),
        else on the CPU. "cuda" sends host arrays to the GPU in chunks through pinned
        memory (N may exceed GPU memory; the float64 certification runs on
        the host). "cpu" computes on the host, copying GPU arrays there.
    precision : {"auto", "exact", "tensor"}
        GPU arrays only (host arrays refuse "tensor"): how the GPU forms its candidates. "exact"
        multiplies in fp32 on the CUDA cores, "tensor" in tf32 on the tensor cores with a
        rigorous bound on its error; "auto" (default) takes "tensor" where the GPU has it
        (sm_80+). Either way the certification below makes the result exact (docs/gpu.md).

    Returns
    -------
    Neighbors(distances float32 (M, k), indices int64 (M, k))
        Each row sorted by (distance, index): ties go to the smaller index.
        numpy in, numpy out; torch in, torch out; cupy in, cupy out (on
        the input's device).

    Exactness: candidates come from an fp32 tiled pass; each row's boundary
    is certified with a rigorous fp32 rounding bound and, where the bound
    cannot separate candidates, recomputed in float64 (falling back to a
    float64 scan of the row). The indices equal a float64 brute force of the
    same data, and the distances are its float64 values rounded to float32.
    """
    p = describe(x, k, queries=queries, metric=metric, exclude_self=exclude_self, device=device,
                 precision=precision, n_threads=n_threads, progress=progress)
    r = run(p, ids=True, distances=True)
    if p.on_gpu:
        dist = r.distances.float() if hasattr(r.distances, "float") else r.distances.astype("float32")
        return Neighbors(dist, r.ids)
    return Neighbors(to_output(r.distances.astype(np.float32), x), to_output(r.ids, x))


def kth_neighbor_distance(x: Array, k: int, *, queries: Array | None = None, metric: Metric = "euclidean",
                          exclude_self: bool | None = None, n_threads: Threads = None, progress: Progress = False,
                          device: Device = "auto", precision: Precision = "auto") -> Array:
    """Distance from each point to its k-th nearest neighbour (self excluded by index).

    The radius of the k-NN manifold metrics (improved precision/recall, density,
    coverage, rarity). ``metric`` defaults to "euclidean" because those radii
    are Euclidean distances. Returns float64 (N,) from the float64 check:
    exact, not rounded to float32. Other arguments as in :func:`knn`.
    """
    p = describe(x, k, queries=queries, metric=metric, exclude_self=exclude_self, device=device,
                 precision=precision, n_threads=n_threads, progress=progress, desc="k-th neighbour")
    dist = run(p, ids=False, distances=True).distances
    if p.on_gpu:
        return dist[:, -1].contiguous() if hasattr(dist, "contiguous") else dist[:, -1].copy()
    return to_output(np.ascontiguousarray(dist[:, -1]), x)
