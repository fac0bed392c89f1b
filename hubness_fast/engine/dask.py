"""Exact k-NN and hub counts on a Dask cluster, for data that outgrows one machine.

The rows of a Dask array are its blocks. The work is one task per unordered
pair of row blocks (the self-join symmetry kept): the diagonal task is a
self-join of one block, an off-diagonal task computes both halves of the pair
in one native pass (each pair of points once). On a worker with a GPU
(dask-cuda or any worker where hubness_fast._cuda sees a device) the tasks
run on it instead: device="auto" sends a task there when its work is large
enough, device="cuda" always (a pair task then runs as two query-vs-block
searches, certified on the worker's CPU). Every task returns exact
partial lists (float64 distances, ties by index); a tree reduction merges the
lists of each block by (distance, index), so the result equals the
single-machine engine exactly. Hub counts are a last reduction of each block's
occurrence counts (sparse: its distinct ids and their counts), made dense at the end.

    import dask.array as da, hubness_fast.dask as hfd
    x = hfd.from_npy("latents.npy", chunk_rows=50_000)   # or da.from_zarr(...)
    counts = hfd.hub_counts(x, k=5)                      # LocalCluster unless a client exists
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._dispatch import describe, run, run_pair
from .refused import check_rows, squared_norms
from .._inputs import (as_matrix, as_path, check_device, check_flag, check_int, check_k, check_metric, check_threads,
                       engine_dtype)
from .._types import Device, Metric, Threads

__all__ = ["knn", "hub_counts", "from_npy"]

FAN_IN = 8  # partial lists merged per reduction task


# ---- inputs -------------------------------------------------------------------------
def _require_dask() -> None:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError("hubness_fast.dask needs dask: pip install 'dask[array,distributed]'") from exc


def _load_rows(path, start, stop):
    return np.ascontiguousarray(np.load(path, mmap_mode="r")[start:stop])


def from_npy(path: str, chunk_rows: int = 100_000) -> Any:
    """A Dask array over a .npy file whose tasks each read their own rows
    (memory-mapped): the file is never loaded whole, nor pickled to workers. The path is made
    absolute here (``~`` and environment variables expanded), so workers started in another
    folder read the same file."""
    _require_dask()
    import dask
    import dask.array as da

    chunk_rows = check_int(chunk_rows, "chunk_rows (rows per task)")
    file = as_path(path).absolute()
    mm = np.load(file, mmap_mode="r")
    if mm.ndim != 2:
        raise ValueError(f"{file} holds a {mm.ndim}-D array; an (N, D) array is needed")
    n = mm.shape[0]
    if n == 0:
        raise ValueError(f"{file} holds no rows")
    parts = [da.from_delayed(dask.delayed(_load_rows)(str(file), s, min(s + chunk_rows, n)),
                             shape=(min(s + chunk_rows, n) - s, mm.shape[1]), dtype=mm.dtype)
             for s in range(0, n, chunk_rows)]
    return da.concatenate(parts, axis=0)


def _as_dask(x, chunk_rows):
    _require_dask()
    import dask.array as da

    if not isinstance(x, da.Array):
        chunk_rows = check_int(chunk_rows, "chunk_rows (rows per task)")
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D (n_samples, n_features), got {x.ndim}-D")
        x = da.from_array(x, chunks=(chunk_rows, -1))
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n_samples, n_features), got {x.ndim}-D")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x is empty (shape {x.shape}): it needs rows and features")
    if len(x.chunks[1]) != 1:
        raise ValueError(f"x has {len(x.chunks[1])} chunks along the feature axis; each task needs whole rows: "
                         "use x.rechunk({1: -1})")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"x has dtype {x.dtype}, which is not a real number type")
    if any(np.isnan(c) for c in x.chunks[0]):
        raise ValueError("x has row blocks of unknown size (as after boolean indexing): call "
                         "x.compute_chunk_sizes() first")
    if any(c == 0 for c in x.chunks[0]):
        x = x.rechunk({0: tuple(c for c in x.chunks[0] if c)})
    return x


# ---- tasks (pure functions of numpy blocks) ---------------------------------------------
def _checked(block, offset, rows, metric="sqeuclidean", width=None, dtype=None):
    """The block as the engine wants it, refusing what the engine refuses, with errors naming
    global rows (the engine would name a row of the block); ``rows``, ``width``, ``dtype``: the
    block's shape and type as the array declares them (a block built by hand, as with
    ``da.from_delayed``, can hold other ones)."""
    b = as_matrix(block, "x")
    declared = (rows, b.shape[1] if width is None else width, b.dtype if dtype is None else np.dtype(dtype))
    if (b.shape[0], b.shape[1], b.dtype) != declared:
        raise ValueError(f"x's block at row {offset} holds {b.shape[0]} x {b.shape[1]} {b.dtype} values where the "
                         f"array declares {declared[0]} x {declared[1]} {declared[2]}; the array's chunks, width "
                         "and dtype must be its blocks' own (the dtype and shape given to da.from_delayed)")
    finite = np.isfinite(b).all(1)
    if not finite.all():
        raise ValueError(f"x contains NaN or Inf (at row {offset + int(np.argmin(finite))}, the first of its "
                         "block; blocks are checked as they run); drop or impute those rows")
    check_rows(b, squared_norms(b, metric), metric, "x", offset)  # summed as the engine sums them
    return b


def _keys(dist, metric):
    return -dist if metric == "inner_product" else dist  # smaller is nearer


def _diag(block, k, metric, threads, offset, device="cpu", include_self=False):
    n = block.shape[0]
    if n < 2 - include_self:
        return np.empty((n, 0)), np.empty((n, 0), np.int64)
    r = run(describe(block, min(k, n - 1 + include_self), metric=metric, exclude_self=not include_self,
                     device=device, n_threads=threads or None), distances=True)
    return _keys(r.distances, metric), r.ids + offset


def _pair(a, b, k, metric, threads, off_a, off_b, device="cpu"):
    ia, da_, ib, db = run_pair(a, b, k, metric, threads, device)
    return (_keys(da_, metric), ia + off_b), (_keys(db, metric), ib + off_a)


def _merge(k, *parts):
    """Exact merge of partial lists: the k smallest (key, id) of each row."""
    keys = np.concatenate([p[0] for p in parts], axis=1)
    ids = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((ids, keys), axis=1)[:, :k]
    return np.take_along_axis(keys, order, 1), np.take_along_axis(ids, order, 1)


def _occurrences(ids):
    """A block's neighbour ids as (distinct ids, how often each occurs): at most the block's k per
    row, where a dense bincount would be N long for every block."""
    return np.unique(ids.ravel(), return_counts=True)


def _add_occurrences(*parts):
    ids, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    counts = np.zeros(len(ids), np.int64)
    np.add.at(counts, inverse, np.concatenate([p[1] for p in parts]))  # integers throughout
    return ids, counts


def _dense(n, part):
    counts = np.zeros(n, np.int64)
    counts[part[0]] = part[1]
    return counts


# ---- graph ----------------------------------------------------------------------------
def _tree(fn, items, *args):
    import dask

    while len(items) > 1:
        items = [dask.delayed(fn)(*args, *items[s:s + FAN_IN]) for s in range(0, len(items), FAN_IN)]
    return items[0]


def _graph(x, k, metric, threads, device="cpu", include_self=False):
    """Delayed final (keys, ids) per row block."""
    import dask

    blocks = x.to_delayed().ravel()
    offsets = np.concatenate([[0], np.cumsum(x.chunks[0])])[:-1]
    checked = [dask.delayed(_checked)(b, int(o), int(m), metric, int(x.shape[1]), engine_dtype(x.dtype))
               for b, o, m in zip(blocks, offsets, x.chunks[0])]
    parts = [[dask.delayed(_diag)(c, k, metric, threads, int(o), device, include_self)]
             for c, o in zip(checked, offsets)]
    for i in range(len(checked)):
        for j in range(i + 1, len(checked)):
            half_i, half_j = dask.delayed(_pair, nout=2)(checked[i], checked[j], k, metric, threads,
                                                         int(offsets[i]), int(offsets[j]), device)
            parts[i].append(half_i)
            parts[j].append(half_j)
    return [_tree(_merge, p, k) for p in parts]


def _client(client):
    """(the client to use, what to close after use): the given client; a client of its own on a given
    scheduler address or cluster object (closed after use, the cluster left running); else the current
    client, or a new LocalCluster (both closed after use)."""
    from distributed import Client, LocalCluster, get_client

    if isinstance(client, Client):
        return client, None
    if isinstance(client, str) or hasattr(client, "scheduler_address"):
        own = Client(client)
        return own, own
    if client is not None:
        raise TypeError(f"client must be a distributed.Client, a scheduler address or a cluster object (as "
                        f"LocalCluster), got {type(client).__name__}")
    try:
        return get_client(), None
    except ValueError:
        cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=":0")
        return Client(cluster), cluster


def _threads_per_task(worker_threads: list[int], blocks: int) -> int:
    """Native threads per task: a worker runs as many tasks at once as it has threads, so one each
    keeps its cores busy without oversubscribing them while there are tasks enough for every
    thread; with fewer tasks (B(B+1)/2 for B row blocks) than threads, each task takes a share of
    them, at most the smallest worker's count. An adaptive cluster may have no worker yet: one."""
    tasks = blocks * (blocks + 1) // 2
    return max(1, min(min(worker_threads, default=1), sum(worker_threads) // tasks))


def _run(x, k, metric, client, threads, progress, want, device, include_self=False):
    import dask

    check_metric(metric)
    check_device(device)
    threads = check_threads(threads) or None
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress is True or False here (the cluster's dashboard link and a bar of its tasks); "
                        f"got {type(progress).__name__}: a callable progress is the single-machine engine's")
    n = x.shape[0]
    k = check_k(k, n, "N for a self-join including self") if include_self else \
        check_k(k, n - 1, "N - 1 for a self-join excluding self")
    client, own = _client(client)
    try:
        if threads is None:
            threads = _threads_per_task(list(client.nthreads().values()), len(x.chunks[0]))
        finals = _graph(x, k, metric, threads, device, include_self)
        if want == "counts":
            occurrences = [dask.delayed(_occurrences)(f[1]) for f in finals]
            target = dask.delayed(_dense)(n, _tree(_add_occurrences, occurrences))
        else:
            target = finals
        futures = client.compute(target)
        if progress:
            from distributed import progress as show

            print(f"Dask dashboard: {client.dashboard_link}")
            show(futures)
        return client.gather(futures)
    finally:
        if own is not None:
            client.close()
            if own is not client:
                own.close()


def knn(x: Any, k: int, *, metric: Metric = "sqeuclidean", client: Any = None, chunk_rows: int = 50_000,
        n_threads: Threads = None, progress: bool = False, device: Device = "auto",
        include_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN self-join (self excluded by index; ``include_self=True`` makes each point a candidate
    of its own list, as ``hubness_fast.knn(x, k, exclude_self=False)``) of a Dask array's rows.

    x: a Dask array chunked along rows only (numpy arrays are wrapped with
    `chunk_rows`). client: a distributed.Client, a scheduler address or a cluster
    object; default the current client or a new LocalCluster. n_threads: native
    threads per task (default: one, or a share of the workers' threads when there
    are fewer tasks than threads, at most the smallest worker's). progress: True
    prints the dashboard link and a bar of the cluster's tasks. device: where each task runs, decided on its worker
    ("auto": the worker's GPU when it has one and the task is large, "cuda",
    "cpu"). Returns (distances float32 [N, k], indices int64 [N, k]), equal to
    hubness_fast.knn(x, k, exclude_self=not include_self) on one machine.
    """
    include_self = check_flag(include_self, "include_self")
    x = _as_dask(x, chunk_rows)
    finals = _run(x, k, _ranking(metric), client, n_threads, progress, "knn", device, include_self)
    keys = np.concatenate([f[0] for f in finals])
    ids = np.concatenate([f[1] for f in finals])
    dist = -keys if metric == "inner_product" else np.sqrt(keys) if metric == "euclidean" else keys
    return dist.astype(np.float32), ids


def hub_counts(x: Any, k: int, *, metric: Metric = "sqeuclidean", client: Any = None, chunk_rows: int = 50_000,
               n_threads: Threads = None, progress: bool = False, device: Device = "auto",
               include_self: bool = False) -> np.ndarray:
    """Exact k-occurrence N_k of a Dask array's rows, int64 [N]; self excluded, or with
    ``include_self=True`` counted as the paper's notebook counts it; equal to
    hubness_fast.hub_counts(x, k, include_self=include_self). See knn for the arguments."""
    include_self = check_flag(include_self, "include_self")
    x = _as_dask(x, chunk_rows)
    return _run(x, k, _ranking(metric), client, n_threads, progress, "counts", device, include_self)


def _ranking(metric: str) -> str:
    """The metric the tasks rank and merge by: euclidean by the float64 squared distance, as the
    engine ranks it (two squares one unit apart in the last place can share a square root, and a
    merge of the roots would order them by index instead)."""
    check_metric(metric)
    return "sqeuclidean" if metric == "euclidean" else metric
