"""The Dask runner: equality with the single-machine engine, fault tolerance, inputs, errors."""
import os
import signal
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import hubness_fast as hf  # noqa: E402
import hubness_fast.dask as hfd  # noqa: E402
from oracles import brute_hub_counts, brute_knn  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
        with distributed.Client(cl) as c:
            yield c


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cosine", "inner_product"])
def test_equals_single_machine_with_uneven_chunks(client, metric):
    x = np.random.default_rng(1).standard_normal((2300, 20)).astype(np.float32)
    dx = da.from_array(x, chunks=((700, 1, 999, 600), 20))  # uneven, with a one-row block
    d, i = hfd.knn(dx, 6, metric=metric, client=client)
    d0, i0 = hf.knn(x, 6, metric=metric)
    np.testing.assert_array_equal(i, i0)
    np.testing.assert_array_equal(d, d0)
    np.testing.assert_array_equal(hfd.hub_counts(dx, 6, metric=metric, client=client),
                                  hf.hub_counts(x, 6, metric=metric))


@pytest.mark.parametrize("chunks", [(1, 2), (2, 1), (1, 1, 1)])
def test_euclidean_ties_of_the_root_follow_the_squares_across_blocks(client, chunks):
    # d(0,1)^2 and d(0,2)^2 are adjacent float64 values with one square root: the engine ranks by the
    # squares (row 2 first), and a merge of the roots across blocks put row 1 first (found by fuzzing)
    a = float.fromhex("0x1.93e5939a08ceap-6")
    x = np.array([[3 * a, -a, -a, 0.0], [2 * a, -a, -2 * a, 0.0], [3 * a, -a, 0.0, -a]])
    sq = ((x[0] - x[1:]) ** 2).sum(1)
    assert sq[0] != sq[1] and np.sqrt(sq[0]) == np.sqrt(sq[1])  # the case itself
    dx = da.from_array(x, chunks=(chunks, 4))
    d, i = hfd.knn(dx, 2, metric="euclidean", client=client)
    d0, i0 = hf.knn(x, 2, metric="euclidean")
    np.testing.assert_array_equal(i, i0)
    np.testing.assert_array_equal(i0, brute_knn(x, 2, metric="euclidean")[1])
    np.testing.assert_array_equal(d, d0)
    np.testing.assert_array_equal(hfd.hub_counts(dx, 1, metric="euclidean", client=client),
                                  hf.hub_counts(x, 1, metric="euclidean"))


def test_duplicates_and_ties(client):
    g = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(6)), -1).reshape(-1, 3).astype(np.float64)
    x = np.concatenate([g, g[::5]])  # grid ties plus exact duplicates across blocks
    dx = da.from_array(x, chunks=(137, 3))
    np.testing.assert_array_equal(hfd.knn(dx, 7, client=client)[1], hf.knn(x, 7)[1])
    np.testing.assert_array_equal(hfd.hub_counts(dx, 7, client=client), hf.hub_counts(x, 7))


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cosine"])
def test_include_self_equals_the_engines(client, metric):
    # the paper's notebook counts each point as its own neighbour; duplicates straddle the blocks, so a
    # point's twin with a smaller index (in another block) comes before it
    g = np.stack(np.meshgrid(np.arange(1, 8), np.arange(1, 8), np.arange(1, 5)), -1).reshape(-1, 3).astype(np.float64)
    x = np.concatenate([g, g[::3]])
    dx = da.from_array(x, chunks=((1, 90, 57, len(x) - 148), 3))  # uneven, with a one-row block
    for k in (1, 5):
        d, i = hfd.knn(dx, k, metric=metric, client=client, include_self=True)
        d0, i0 = hf.knn(x, k, metric=metric, exclude_self=False)
        np.testing.assert_array_equal(i, i0)
        np.testing.assert_array_equal(d, d0)
        np.testing.assert_array_equal(hfd.hub_counts(dx, k, metric=metric, client=client, include_self=True),
                                      hf.hub_counts(x, k, metric=metric, include_self=True))
    assert hfd.knn(dx, len(x), client=client, include_self=True)[1].shape == (len(x), len(x))  # k = N with self
    with pytest.raises(ValueError, match="N for a self-join including self"):
        hfd.knn(dx, len(x) + 1, client=client, include_self=True)


def test_npy_memmap_and_zarr_inputs(client, tmp_path):
    x = np.random.default_rng(2).standard_normal((1500, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    dx = hfd.from_npy(tmp_path / "x.npy", chunk_rows=400)
    assert dx.chunks[0] == (400, 400, 400, 300)
    np.testing.assert_array_equal(hfd.hub_counts(dx, 5, client=client), hf.hub_counts(x, 5))
    zarr = pytest.importorskip("zarr")
    z = zarr.open(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(500, 16), dtype="f4")
    z[:] = x
    np.testing.assert_array_equal(hfd.hub_counts(da.from_zarr(str(tmp_path / "x.zarr")), 5, client=client),
                                  hf.hub_counts(x, 5))


def test_worker_killed_mid_run_gives_identical_counts(client, tmp_path):
    x = np.random.default_rng(3).standard_normal((24000, 512)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    dx = hfd.from_npy(tmp_path / "x.npy", chunk_rows=800)  # 30 blocks: 465 pair tasks
    expected = hf.hub_counts(x, 5)
    out, errors = [], []

    def work():
        try:
            out.append(hfd.hub_counts(dx, 5, client=client))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    time.sleep(1.5)  # the run takes several seconds on two workers
    assert t.is_alive(), "the run finished before a worker could be killed"
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)  # the nanny restarts it; its tasks are recomputed elsewhere
    t.join(timeout=300)
    assert not errors, errors
    np.testing.assert_array_equal(out[0], expected)
    client.wait_for_workers(2, timeout=60)


def test_bad_input(client):
    x = np.random.default_rng(4).standard_normal((300, 8))
    with pytest.raises(ValueError, match="feature axis"):
        hfd.hub_counts(da.from_array(x, chunks=(100, 4)), 3, client=client)
    x[250, 2] = np.nan
    with pytest.raises(ValueError, match="row 250"):
        hfd.hub_counts(da.from_array(x, chunks=(100, 8)), 3, client=client)
    with pytest.raises(ValueError, match="between 1 and 299"):
        hfd.hub_counts(da.from_array(np.ones((300, 2)), chunks=(100, 2)), 300, client=client)
    with pytest.raises(ValueError, match="x must be 2-D .*got 1-D"):  # it said dask's "Chunks do not add up"
        hfd.hub_counts(np.ones(300), 3, client=client)
    with pytest.raises(ValueError, match="x is empty"):
        hfd.hub_counts(da.zeros((0, 4), chunks=(10, 4)), 3, client=client)


def test_from_npy_reads_the_same_file_from_any_folder(client, tmp_path, monkeypatch):
    x = np.random.default_rng(3).standard_normal((90, 5)).astype(np.float32)
    np.save(tmp_path / "latents.npy", x)
    monkeypatch.chdir(tmp_path)
    lazy = hfd.from_npy("latents.npy", chunk_rows=40)  # relative: the workers run in another folder
    monkeypatch.chdir(tmp_path.parent)
    np.testing.assert_array_equal(hfd.hub_counts(lazy, 4, client=client), hf.hub_counts(x, 4))
    monkeypatch.setenv("LATENTS_DIR", str(tmp_path))
    np.testing.assert_array_equal(hfd.from_npy("$LATENTS_DIR/latents.npy").compute(), x)
    np.save(tmp_path / "empty.npy", np.zeros((0, 5), np.float32))
    with pytest.raises(ValueError, match="holds no rows"):
        hfd.from_npy(tmp_path / "empty.npy")


@pytest.mark.parametrize("metric, row, value, says", [
    ("cosine", 177, 0.0, "is all zeros"),
    ("cosine", 177, 1e-160, "squared norm below 2\\^-969"),
    ("cosine", 177, 1e200, "squared norm beyond the float64 range"),
    ("sqeuclidean", 177, 1e19, "squared norm above 1e36"),
])
def test_refused_rows_are_named_by_their_global_index(client, metric, row, value, says):
    # the engine names a row of the block it sees ("a row 77"); the runner names the row of x
    x = np.random.default_rng(6).standard_normal((300, 4))
    x[row] = value
    for fn in (hfd.hub_counts, hfd.knn):
        with pytest.raises(ValueError, match=f"row {row}"):
            fn(da.from_array(x, chunks=(100, 4)), 3, metric=metric, client=client)
        with pytest.raises(ValueError, match=says):
            fn(da.from_array(x, chunks=(100, 4)), 3, metric=metric, client=client)


def test_unknown_or_false_chunk_sizes_are_refused(client):
    x = da.from_array(np.random.default_rng(7).standard_normal((300, 4)), chunks=(100, 4))
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        hfd.hub_counts(x[x[:, 0] > 0], 3, client=client)  # boolean indexing: sizes unknown
    short = da.concatenate([x[:100], x[100:200].map_blocks(lambda b: b[:90], dtype=x.dtype), x[200:]])
    with pytest.raises(ValueError,
                       match="block at row 100 holds 90 x 4 float64 values where the array declares 100 x 4"):
        hfd.hub_counts(short, 3, client=client)  # the metadata says 100 rows: the results would be shifted


def test_blocks_of_another_width_or_dtype_than_declared_are_named(client):
    """A block built by hand (da.from_delayed) can hold another width or dtype than the array declares:
    refused naming the block, not by the engine's pair check, nor silently run in the block's dtype."""
    import dask

    x = np.random.default_rng(9).standard_normal((200, 6))
    good = da.from_array(x[:100], chunks=(100, 6))
    narrow = da.from_delayed(dask.delayed(lambda: x[100:, :5])(), shape=(100, 6), dtype=x.dtype)
    with pytest.raises(ValueError, match=r"block at row 100 holds 100 x 5 float64 values where the array declares "
                                         r"100 x 6 float64"):
        hfd.hub_counts(da.concatenate([good, narrow]), 3, client=client)
    mixed = da.from_delayed(dask.delayed(lambda: x[100:])(), shape=(100, 6), dtype=np.float32)
    with pytest.raises(ValueError, match=r"block at row 100 holds 100 x 6 float64 values where the array declares "
                                         r"100 x 6 float32"):
        hfd.hub_counts(da.concatenate([good.astype(np.float32), mixed]), 3, client=client)


def test_arguments_checked_before_any_task(client, monkeypatch):
    """n_threads, progress and client are checked before a graph is built: no task runs, and the
    messages name the argument (n_threads=0 once ran; a callable progress was taken for True)."""
    x = da.from_array(np.random.default_rng(3).standard_normal((200, 4)), chunks=(100, 4))
    built = []
    monkeypatch.setattr(hfd, "_graph", lambda *a, **kw: built.append(a))
    for bad in (0, -1, "a", 1.5):
        with pytest.raises(ValueError, match="n_threads must be a positive integer or None"):
            hfd.hub_counts(x, 3, n_threads=bad, client=client)
    with pytest.raises(TypeError, match="progress is True or False here"):
        hfd.hub_counts(x, 3, progress=lambda done, total: None, client=client)
    with pytest.raises(TypeError, match="client must be a distributed.Client, a scheduler address or a cluster"):
        hfd.hub_counts(x, 3, client=42)
    assert built == []


def test_client_given_as_an_address_or_a_cluster(client):
    """A scheduler address or a cluster object gets a client of its own for the call, closed after
    it; the cluster keeps running."""
    x = np.random.default_rng(2).standard_normal((300, 4))
    dx = da.from_array(x, chunks=(100, 4))
    want = hf.hub_counts(x, 3)
    np.testing.assert_array_equal(hfd.hub_counts(dx, 3, client=client.scheduler.address), want)
    np.testing.assert_array_equal(hfd.hub_counts(dx, 3, client=client.cluster), want)
    assert client.status == "running" and len(client.nthreads()) == 2


def test_threads_per_task_never_oversubscribe_the_workers():
    from hubness_fast.engine.dask import _threads_per_task

    assert _threads_per_task([2], 8) == 1          # 36 tasks on 2 threads: one each
    assert _threads_per_task([4, 4], 1) == 4       # one task: the smallest worker's threads
    assert _threads_per_task([16, 4], 2) == 4      # 3 tasks on 20 threads: 6 each, at most 4
    assert _threads_per_task([8, 8], 3) == 2       # 6 tasks on 16 threads
    assert _threads_per_task([], 5) == 1           # an adaptive cluster with no worker yet


def test_hub_counts_with_many_blocks_and_sparse_occurrences(client):
    # 40 blocks: each block's counts travel as its distinct ids, summed to the exact dense counts
    x = np.random.default_rng(8).standard_normal((400, 3))
    x[200:210] = x[5]  # a hub of duplicates, counted across many blocks
    np.testing.assert_array_equal(hfd.hub_counts(da.from_array(x, chunks=(10, 3)), 4, client=client),
                                  brute_hub_counts(x, 4))


def test_progress_prints_dashboard_link(client, capsys):
    x = np.random.default_rng(5).standard_normal((600, 4))
    hfd.hub_counts(da.from_array(x, chunks=(200, 4)), 3, client=client, progress=True)
    assert "Dask dashboard:" in capsys.readouterr().out


def test_default_local_cluster():
    x = np.random.default_rng(6).standard_normal((500, 5))
    np.testing.assert_array_equal(hfd.hub_counts(x, 4, chunk_rows=200), hf.hub_counts(x, 4))


def test_tasks_route_to_a_gpu_worker(monkeypatch, rng):
    """On a worker whose hubness_fast sees a GPU the tasks take the CUDA path
    (here the numpy stand-in of the kernels) with the same result."""
    from fakes import FakeCuda, install

    fake = install(monkeypatch, FakeCuda())
    x = rng.standard_normal((700, 9))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as c:
        got = hfd.hub_counts(x, 4, client=c, chunk_rows=300, device="cuda")
        d, i = hfd.knn(x, 4, client=c, chunk_rows=300, device="cuda", metric="cosine")
    assert len(fake.calls) == 3 + 2 * 3 + 3 + 2 * 3  # 3 diagonal and 3 pair tasks (two searches each), twice
    assert {name for name, _, _ in fake.calls} == {"knn_host"}
    np.testing.assert_array_equal(got, brute_hub_counts(x, 4))
    np.testing.assert_array_equal(i, brute_knn(x, 4, metric="cosine")[1])
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as c:
        with pytest.raises(ValueError, match="device must be"):
            hfd.hub_counts(x, 4, client=c, device="gpu")


@pytest.mark.parametrize("chunk_rows", [0, -5, 2.5])
def test_bad_chunk_rows_is_named(tmp_path, chunk_rows):
    np.save(tmp_path / "x.npy", np.zeros((10, 3)))
    with pytest.raises(ValueError, match="chunk_rows"):
        hfd.from_npy(tmp_path / "x.npy", chunk_rows=chunk_rows)
    with pytest.raises(ValueError, match="chunk_rows"):
        hfd.knn(np.zeros((10, 3)), 2, chunk_rows=chunk_rows)


def lane_norm(row):
    """The engine's |x|^2 of the euclidean family (side.h): 8 interleaved lanes, combined pairwise."""
    acc = [0.0] * 8
    for c, v in enumerate(row.tolist()):
        acc[c % 8] += v * v
    for w in (4, 2, 1):
        for lane in range(w):
            acc[lane] += acc[lane + w]
    return acc[0]


def ordered_norm(row):
    total = 0.0
    for v in row.tolist():
        total += v * v
    return total


def rows_at_the_limit(rng, limit, norm, count=400):
    """Rows scaled so that their squared norm lands on the limit, to the last bits (half just over)."""
    out = []
    for _ in range(count):
        y = rng.standard_normal(int(rng.integers(3, 40)))
        for _ in range(3):
            y = y * np.sqrt(limit / norm(y))
        out.append(y)
    return out


@pytest.mark.parametrize("metric, limit, norm", [("sqeuclidean", 1e36, lane_norm),
                                                 ("cosine", 2.0 ** -969, ordered_norm)])
def test_rows_at_the_refusal_limit_are_refused_as_the_engine_refuses_them(client, rng, metric, limit, norm):
    # the runner checks rows before the engine (to name rows of x); it must sum |x|^2 as the engine
    # does, or a row a unit of rounding from the limit is refused by one and not the other
    from hubness_fast.engine.refused import squared_norms

    rows = rows_at_the_limit(rng, limit, norm)
    for y in rows:
        assert squared_norms(y[None], metric)[0] == norm(y)  # bit for bit
    straddling = [y for y in rows if (norm(y) > limit) != (float(np.einsum("i,i", y, y)) > limit)
                  or (norm(y) < limit) != (float(np.einsum("i,i", y, y)) < limit)]
    assert straddling  # rows where numpy's own order of summation would decide otherwise
    for y in straddling[:6]:
        x = np.random.default_rng(1).standard_normal((40, len(y)))
        x[25] = y
        try:
            hf.knn(x, 3, metric=metric, device="cpu")
            engine = None
        except ValueError as e:
            engine = str(e)
        try:
            hfd.knn(da.from_array(x, chunks=(20, len(y))), 3, metric=metric, client=client)
            runner = None
        except ValueError as e:
            runner = str(e)
        assert (engine is None) == (runner is None), (engine, runner)
        assert runner is None or "row 25" in runner
