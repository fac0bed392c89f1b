"""Input kinds (memmap, torch, dtypes, orders), bad input, progress and interrupts."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast.engine import _native
from hubness_fast.engine.radius import radius_neighbors
from oracles import brute_knn


def test_memmap_input_used_in_place(tmp_path, rng):
    x = rng.standard_normal((1000, 20)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    d, i = hf.knn(mm, 5)
    np.testing.assert_array_equal(i, brute_knn(x, 5)[1])
    raw = np.memmap(tmp_path / "raw.f64", dtype=np.float64, mode="w+", shape=(600, 8))
    raw[:] = rng.standard_normal((600, 8))
    raw.flush()
    want = np.bincount(brute_knn(np.asarray(raw), 3)[1].ravel(), minlength=600)
    np.testing.assert_array_equal(hf.hub_counts(raw, 3), want)


def test_no_copy_for_float32_c_contiguous(rng):
    from hubness_fast._inputs import as_matrix

    x = rng.standard_normal((10, 4)).astype(np.float32)
    assert as_matrix(x, "x") is x
    f = np.asfortranarray(x)
    assert as_matrix(f, "x").flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.int64, np.uint8])
def test_other_numeric_dtypes(rng, dtype):
    x = (rng.standard_normal((300, 6)) * 10).astype(dtype)
    np.testing.assert_array_equal(hf.knn(x, 4)[1], brute_knn(x.astype(np.float64), 4)[1])


def test_non_contiguous_and_fortran_order(rng):
    x = rng.standard_normal((400, 20))
    np.testing.assert_array_equal(hf.knn(x[:, ::2], 3)[1], brute_knn(x[:, ::2], 3)[1])
    np.testing.assert_array_equal(hf.knn(np.asfortranarray(x), 3)[1], brute_knn(x, 3)[1])


def test_torch_input_zero_copy_and_output_type():
    torch = pytest.importorskip("torch")
    t = torch.randn(300, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d, i = hf.knn(t, 4)
    assert isinstance(d, torch.Tensor) and d.dtype == torch.float32 and i.dtype == torch.int64
    np.testing.assert_array_equal(i.numpy(), brute_knn(t.numpy(), 4)[1])
    half = t.to(torch.bfloat16)
    assert hf.knn(half, 2)[1].shape == (300, 2)


def test_self_flags_are_booleans(rng):
    """A string flag ('no') would count as True: refused, as k=True is."""
    import hubness_fast.dask as hfd

    x = rng.standard_normal((30, 3))
    for call in (lambda: hf.knn(x, 2, exclude_self="no"), lambda: hf.hub_counts(x, 2, include_self="no"),
                 lambda: hf.kth_neighbor_distance(x, 2, exclude_self=1),
                 lambda: hfd.hub_counts(x, 2, include_self="yes")):
        with pytest.raises(ValueError, match=r"_self must be True or False, got"):
            call()
    np.testing.assert_array_equal(hf.knn(x, 2, exclude_self=np.bool_(True))[1], hf.knn(x, 2)[1])


def test_k_by_position_and_every_other_argument_by_keyword(rng):
    """docs/usage.md: in the engine's functions and metrics.*, only k follows the data by position."""
    from hubness_fast import metrics

    x = rng.standard_normal((30, 3))
    for fn in (hf.knn, hf.hub_counts, hf.kth_neighbor_distance, metrics.kth_radius2, metrics.precision_recall):
        args = (x, x, 3, 1) if fn is metrics.precision_recall else (x, 3, 1)
        with pytest.raises(TypeError, match="positional argument"):
            fn(*args)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_torch_integers_beyond_float32_are_exact(dtype):
    """Integers above 2**24 are not float32 numbers: torch ones go to float64 as numpy ones do."""
    torch = pytest.importorskip("torch")
    base = 2**24 if dtype == "int32" else 2**40
    x = np.array([[base + 3], [base], [base + 2]], dtype=dtype)
    t = torch.from_numpy(x)
    want_d, want_i = brute_knn(x.astype(np.float64), 1)
    d, i = hf.knn(t, 1)
    np.testing.assert_array_equal(i.numpy(), want_i)  # [[2], [2], [0]]
    np.testing.assert_array_equal(d.numpy(), want_d)  # 1, 4, 1 (float32 rounding gives 0 or 4)
    np.testing.assert_array_equal(hf.hub_counts(t, 1).numpy(), hf.hub_counts(x, 1))
    r = radius_neighbors(t, 1.0)  # 0 and 2 are 1 apart; float32 puts them at 0 or 4
    np.testing.assert_array_equal(r.indptr, [0, 1, 1, 2])
    np.testing.assert_array_equal(r.indices, [2, 0])
    q = torch.from_numpy(np.array([[base + 3]], dtype=dtype))
    np.testing.assert_array_equal(hf.knn(x[:2].astype(np.float64), 1, queries=q)[1], [[0]])


@pytest.mark.parametrize(
    "x, k, kw, match",
    [
        (np.zeros(10), 2, {}, "must be 2-D"),
        (np.zeros((0, 3)), 1, {}, "empty"),
        (np.zeros((5, 0)), 1, {}, "empty"),
        (np.ones((10, 3)), 0, {}, "between 1 and 9"),
        (np.ones((10, 3)), 10, {}, "between 1 and 9"),
        (np.ones((10, 3)), 11, {"exclude_self": False}, "between 1 and 10"),
        (np.ones((10, 3)), 2.5, {}, "integer"),
        (np.ones((10, 3)), True, {}, "integer"),
        (np.ones((10, 3)), 3, {"queries": np.ones((4, 2))}, "4 features|2 features"),
        (np.ones((10, 3)), 11, {"queries": np.ones((4, 3))}, "between 1 and 10"),
        (np.array([["a", "b"], ["c", "d"]]), 1, {}, "not a real number"),
        (np.ones((4, 2), dtype=complex), 1, {}, "not a real number"),
        (np.ones((10, 3)), 3, {"metric": "manhattan"}, "metric must be one of"),
        (np.ones((10, 3)), 3, {"n_threads": 0}, "n_threads"),
        (np.zeros((10, 3)), 3, {"metric": "cosine"}, "all zeros"),
        (np.full((10, 3), 1e30), 3, {}, "too large"),
    ],
)
def test_bad_input_raises_value_error(x, k, kw, match):
    with pytest.raises(ValueError, match=match):
        hf.knn(x, k, **kw)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_names_first_row(bad, rng):
    x = rng.standard_normal((50, 4))
    x[31, 2] = bad
    x[40, 0] = bad
    with pytest.raises(ValueError, match="row 31"):
        hf.knn(x, 3)
    q = rng.standard_normal((5, 4))
    q[2, 1] = bad
    with pytest.raises(ValueError, match="queries contains NaN or Inf .*row 2"):
        hf.knn(rng.standard_normal((50, 4)), 3, queries=q)


def test_exclude_self_with_queries_is_rejected(rng):
    with pytest.raises(ValueError, match="self-join"):
        hf.knn(rng.standard_normal((20, 3)), 2, queries=rng.standard_normal((5, 3)), exclude_self=True)
    with pytest.raises(ValueError, match="self-join"):
        hf.hub_counts(rng.standard_normal((20, 3)), 2, queries=rng.standard_normal((5, 3)), include_self=True)


def test_progress_callback_sees_all_tiles(rng):
    seen = []
    x = rng.standard_normal((4000, 300)).astype(np.float32)  # 7 blocks: 28 block pairs
    hf.hub_counts(x, 5, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (28, 28) and all(t == 28 for _, t in seen)
    done = [d for d, _ in seen]
    assert done[0] >= 0 and done == sorted(done)  # never backwards, and every pair counted by the end


@pytest.mark.parametrize("queries", [False, True])
def test_radius_progress_counts_the_block_pairs(rng, queries):
    # 2 000 points: 4 blocks; a self-join visits the 10 pairs with J >= I, a search all 4 x 4.
    from hubness_fast.engine.radius import radius_neighbors

    seen = []
    x = rng.standard_normal((2000, 8)).astype(np.float32)
    radius_neighbors(x, 1.5, queries=x[::-1].copy() if queries else None,
                     progress=lambda done, total: seen.append((done, total)))
    total = 16 if queries else 10
    assert seen[-1] == (total, total) and all(t == total and 0 <= d <= total for d, t in seen)


def test_error_in_progress_callback_propagates(rng):
    x = rng.standard_normal((6000, 400)).astype(np.float32)

    def boom(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        hf.hub_counts(x, 5, progress=boom)


def seconds_to_stop(setup, call, wait):
    """Seconds a subprocess takes to raise KeyboardInterrupt from ``call`` when Ctrl-C comes ``wait``
    seconds after it started (None: it finished instead)."""
    script = textwrap.dedent(f"""
        import sys, numpy as np, hubness_fast as hf
        {setup}
        print("ready", flush=True)
        try:
            {call}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(0)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(wait)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    return time.perf_counter() - sent if "interrupted" in out else None


def test_ctrl_c_stops_a_long_run_quickly():
    took = seconds_to_stop("x = np.random.default_rng(0).standard_normal((120000, 256), dtype=np.float32)",
                           "hf.hub_counts(x, 5)", wait=1.0)
    assert took is not None and took < 3.0


def test_ctrl_c_stops_the_certification_too():
    # on 0/1 rows nearly every row ties at its k-th key after the tile pass and takes a wider fp32 pass
    # of its own (then, for a few, the float64 scan): that phase polls for Ctrl-C as well (the scan ran to
    # its end before). The signal comes 0.5 s after the tile pass reports its end, so it lands in that
    # phase, which takes seconds here (about 7 s on 2 cores; polls come every 0.1 s)
    script = textwrap.dedent("""
        import os, signal, sys, threading, time, numpy as np, hubness_fast as hf
        g = np.random.default_rng(0).integers(0, 2, (100000, 32)).astype(np.float32)
        sent = []
        def interrupt():
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        def progress(done, total):
            if done == total and not sent:
                threading.Timer(0.5, interrupt).start()
        try:
            with hf.engine_stats() as stats:
                hf.knn(g, 10, progress=progress)
        except KeyboardInterrupt:
            print("interrupted", time.perf_counter() - sent[0], flush=True)
            sys.exit(0)
        print("finished", stats.totals(), flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout.split()
    assert out[0] == "interrupted", out
    assert float(out[1]) < 1.5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_forked_after_threaded_work_runs_on_one_thread_instead_of_hanging():
    # GNU libgomp: a team cannot start in a child forked after the parent started one (DataLoader workers,
    # multiprocessing's "fork"); the child hung for ever on its first call
    script = textwrap.dedent("""
        import os, warnings, numpy as np, hubness_fast as hf
        x = np.random.default_rng(0).standard_normal((3000, 32), dtype=np.float32)
        ref = hf.knn(x, 5, n_threads=2).indices
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                same = np.array_equal(hf.knn(x, 5, n_threads=2).indices, ref)
                same &= np.array_equal(hf.hub_counts(x, 5), np.bincount(ref.ravel(), minlength=len(x)))
            told = any("forked after its parent ran OpenMP threads" in str(w.message) for w in seen)
            os._exit(0 if same and told and len(seen) == 1 else 1)
        print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
        print("parent", np.array_equal(hf.knn(x, 5, n_threads=2).indices, ref), flush=True)  # unaffected
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["child", "0", "parent", "True"], r.stdout + r.stderr


# ---- paths typed by a user: ~ and environment variables ------------------------------------------

def test_every_path_argument_expands_home_and_variables(tmp_path, monkeypatch, rng):
    torch = pytest.importorskip("torch")
    from hubness_fast import Manifold
    from hubness_fast.features import features
    from hubness_fast.sampling import sample
    from standins import PlainGenerator

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CACHE_ROOT", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    real = rng.standard_normal((200, 8)).astype(np.float32)
    m = Manifold.cached(real, (3,), cache_dir="~/.cache/hubness-fast")
    saved = list((tmp_path / "home" / ".cache" / "hubness-fast").glob("manifold-*.npz"))
    assert len(saved) == 1
    assert Manifold.load("~/.cache/hubness-fast/" + saved[0].name, real).radius2[3].tolist() == m.radius2[3].tolist()
    assert m.save("$CACHE_ROOT/m.npz") == tmp_path / "cache" / "m.npz"
    (tmp_path / "cache").mkdir(exist_ok=True)
    images = torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8)
    extractor = lambda x: x.flatten(1).float()  # noqa: E731
    extractor.cache_key = "flat"
    features(images, extractor, cache_dir="${CACHE_ROOT}/features", progress=False)
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 1
    out = sample(PlainGenerator(), 4, "random", z_dim=12, outdir="~/samples", progress=False)
    assert out.outdir == tmp_path / "home" / "samples" and (out.outdir / "latents.npz").is_file()
    assert not (tmp_path / "~").exists() and not any(p.name.startswith("$") for p in tmp_path.iterdir())


def test_output_folder_that_cannot_be_created_fails_before_any_work(rng):
    torch = pytest.importorskip("torch")
    from hubness_fast.sampling import sample

    calls = []

    def G(z):
        calls.append(len(z))
        return torch.zeros(len(z), 1, 4, 4)

    with pytest.raises(ValueError, match="cannot create the output folder /proc/nope"):
        sample(G, 4, "random", z_dim=3, outdir="/proc/nope/x", progress=False)
    assert calls == []


def test_progress_off_a_terminal_is_throttled(tmp_path):
    # 200 slow batches (about 2 s in all) with stderr to a pipe: an unthrottled bar redraws ~20
    # times (every 0.1 s); off a terminal it redraws at most every 10 s, so once or twice in all.
    script = textwrap.dedent("""
        import time
        import numpy as np
        from hubness_fast.features import features

        def slow(x):
            time.sleep(0.01)
            return x.reshape(len(x), -1).float()

        features(np.zeros((200, 1, 4, 4), np.uint8), slow, batch_size=1, progress=True)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    redraws = r.stderr.count("\r") + r.stderr.count("\n")
    assert "200/200" in r.stderr and redraws <= 4, r.stderr


# ---- bad input fails before the engine is touched -------------------------------------------------

class Tripwire:
    """Stands in for the native modules: any use is a test failure."""

    def __getattr__(self, name):
        raise AssertionError(f"native {name} reached with bad input")


@pytest.fixture
def tripwire(monkeypatch):
    from hubness_fast import _native
    monkeypatch.setattr(_native, "cpu", Tripwire())
    monkeypatch.setattr(_native, "cuda", Tripwire(), raising=False)


def bad_calls():
    from hubness_fast import Manifold, metrics
    from hubness_fast.neighbors import NearestNeighbors
    from hubness_fast.engine.radius import radius_neighbors
    x = np.random.default_rng(0).standard_normal((50, 4))
    return {
        "k zero": lambda: hf.knn(x, 0),
        "k too large": lambda: hf.knn(x, 50),
        "k not an integer": lambda: hf.knn(x, 2.5),
        "k a bool": lambda: hf.hub_counts(x, True),
        "unknown metric": lambda: hf.knn(x, 3, metric="manhattan"),
        "3-D input": lambda: hf.knn(x[None], 3),
        "1-D input": lambda: hf.hub_counts(x[0], 3),
        "strings": lambda: hf.knn(np.array([["a", "b"], ["c", "d"]]), 1),
        "ragged list": lambda: hf.knn([[1.0, 2.0], [3.0]], 1),
        "empty": lambda: hf.knn(np.empty((0, 4)), 1),
        "queries of another width": lambda: hf.knn(x, 3, queries=x[:, :3]),
        "threads zero": lambda: hf.knn(x, 3, n_threads=0),
        "unknown device": lambda: hf.knn(x, 3, device="tpu"),
        "unknown precision": lambda: hf.knn(x, 3, precision="fast"),
        "kth distance k zero": lambda: hf.kth_neighbor_distance(x, 0),
        "balls of another width": lambda: hf.ball_query(x, x[:, :3], np.ones(50)),
        "radii of another length": lambda: hf.ball_query(x, x, np.ones(49)),
        "prdc widths differ": lambda: metrics.prdc(x, x[:, :3]),
        "prdc k zero": lambda: metrics.prdc(x, x, k=0),
        "prdc too few fakes for their balls": lambda: metrics.prdc(x, x[:4], k=5),
        "precision/recall widths differ": lambda: metrics.precision_recall(x, x[:, :2]),
        "density/coverage widths differ": lambda: metrics.density_coverage(x, x[:, :2]),
        "rarity widths differ": lambda: metrics.rarity_score(x, x[:, :2]),
        "realism widths differ": lambda: metrics.realism_score(x, x[:, :2]),
        "eP&R widths differ": lambda: metrics.efficient_precision_recall(x, x[:, :2]),
        "eP&R too few fakes": lambda: metrics.efficient_precision_recall(x, x[:3]),
        "manifold k zero": lambda: Manifold(x, k=0),
        "radius negative": lambda: radius_neighbors(x, -1.0),
        "radius a one-element list": lambda: radius_neighbors(x, [1.0]),
        "radius NaN in a 0-d array": lambda: radius_neighbors(x, np.array(np.nan)),
        "radius a bool": lambda: radius_neighbors(x, True),
        "radius x with NaN": lambda: radius_neighbors(np.vstack([x, np.full((1, 4), np.nan)]), 1.0),
        "hubness_stats k zero": lambda: hf.hubness_stats(counts=np.array([1, 2, 3]), k=0),
        "estimator k zero": lambda: NearestNeighbors(n_neighbors=0).fit(x).kneighbors(x),
    }


@pytest.mark.parametrize("case", sorted(bad_calls()))
def test_bad_input_raises_before_any_native_call(tripwire, case):
    with pytest.raises(ValueError):
        bad_calls()[case]()


def test_one_sample_has_no_neighbour_to_find():
    """It said "k must be between 1 and 0"; the data is what is short, not k."""
    with pytest.raises(ValueError, match=r"^no k works here: N - 1 for a self-join excluding self is 0"):
        hf.knn(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="no k works here"):
        hf.hub_counts(np.ones((1, 3)), 2)


def test_radius_neighbors_names_its_own_arguments_and_takes_a_0d_radius(rng):
    """The native pass names its inputs by their role ("queries", "centres"); radius_neighbors' own
    messages name x and queries as the caller passed them, and a numpy 0-d radius is one number."""
    from hubness_fast.engine.radius import radius_neighbors

    x = rng.standard_normal((20, 3))
    bad = np.vstack([x, [[np.nan, 0, 0]]])
    with pytest.raises(ValueError, match=r"^x contains NaN or Inf \(first at row 20\)"):
        radius_neighbors(bad, 1.0)
    with pytest.raises(ValueError, match=r"^queries contains NaN or Inf \(first at row 20\)"):
        radius_neighbors(x, 1.0, queries=bad)
    with pytest.raises(ValueError, match=r"^x row 0 has a squared norm above 1e36"):
        radius_neighbors(x.astype(np.float32) * 1e20, 1.0)
    with pytest.raises(ValueError, match=r"^x has values too large for float32 arithmetic \(first at row 1\)"):
        radius_neighbors(np.vstack([x[:1], [[1e300, 1e300, 0]]]), 1.0)
    zero_d = radius_neighbors(x, np.array(1.5))
    plain = radius_neighbors(x, 1.5)
    np.testing.assert_array_equal(zero_d.indices, plain.indices)
    np.testing.assert_array_equal(radius_neighbors(x, np.float32(1.5)).indptr,
                                  radius_neighbors(x, float(np.float32(1.5))).indptr)


def test_non_finite_values_stop_before_any_work(rng):
    x = rng.standard_normal((3000, 16))
    x[2100, 3] = np.nan
    seen = []
    with pytest.raises(ValueError, match="NaN or Inf.*row 2100"):
        hf.hub_counts(x, 5, progress=lambda done, total: seen.append(done))
    assert seen == []


# ---- progress bars reach their total ---------------------------------------------------------------

def test_engine_reports_its_total_as_the_last_step(rng):
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    seen = []
    hf.hub_counts(x, 5, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len({t for _, t in seen}) == 1


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_bar_ends_at_100_percent_with_and_without_tqdm(rng, monkeypatch, capsys, with_tqdm):
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails: the text counter
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    c = hf.hub_counts(x, 5, progress=True)
    err = capsys.readouterr().err
    assert "100" in err.strip().splitlines()[-1], err
    assert ("it/s" in err or "tile" in err) if with_tqdm else "100.0%" in err
    np.testing.assert_array_equal(c, np.bincount(brute_knn(x, 5)[1].ravel(), minlength=3000))


def test_sparse_and_pandas_inputs(rng):
    sparse = pytest.importorskip("scipy.sparse")
    pd = pytest.importorskip("pandas")
    x = rng.standard_normal((60, 5))
    with pytest.raises(ValueError, match=r"scipy sparse matrix \(csr_matrix, shape \(60, 5\)\).*x.toarray\(\)"):
        hf.knn(sparse.csr_matrix(x), 3)
    frame = pd.DataFrame(x).astype("Float64")  # pandas' nullable floats: an object array to numpy
    ids = hf.knn(frame, 3).indices
    np.testing.assert_array_equal(ids, brute_knn(x, 3)[1])
    frame.iloc[9, 4] = pd.NA
    frame.iloc[7, 2] = pd.NA
    with pytest.raises(ValueError, match="missing values .* the first at row 7, column 2 \\(<NA>\\)"):
        hf.knn(frame, 3)
    named = frame.rename(columns=lambda c: f"f{c}")
    with pytest.raises(ValueError, match="the first at row 7, column 'f2'"):
        hf.hub_counts(named, 3)
    plain = pd.DataFrame(x, columns=[f"f{c}" for c in range(5)])  # float64 columns: NaN is pandas' missing value
    plain.iloc[8, 3], plain.iloc[5, 1] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"NaN / Inf\) at row 5, column 'f1' \(inf\)"):
        hf.knn(plain, 3)
    mixed = plain.astype(object)
    mixed.iloc[5, 1], mixed.iloc[3, 2] = 1.0, None  # an object column's None
    with pytest.raises(ValueError, match=r"at row 3, column 'f2' \(nan\)"):
        hf.knn(mixed, 3)


def test_cosine_rows_whose_squares_underflow_are_not_called_zeros(rng):
    x = rng.standard_normal((20, 4))
    x[6] *= 1e-170  # every square underflows to 0 in float64, yet the row is not zeros
    with pytest.raises(ValueError, match="row 6 has a squared norm below 2\\^-969"):
        hf.knn(x, 3, metric="cosine", device="cpu")
    x[6] = 0
    with pytest.raises(ValueError, match="row 6 is all zeros"):
        hf.knn(x, 3, metric="cosine", device="cpu")


def test_an_empty_simd_setting_means_auto(monkeypatch, rng):
    x = rng.standard_normal((40, 6)).astype(np.float32)
    monkeypatch.setenv("HUBNESS_FAST_SIMD", "")
    np.testing.assert_array_equal(hf.knn(x, 3).indices, brute_knn(x, 3)[1])
    assert _native.simd_level() == "auto"
