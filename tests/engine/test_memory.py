"""The memory claims: inputs read in place where the README says so, and bounded peak memory of the
engine on a memmap and of a fitted-reference evaluation (measured in a fresh process: ru_maxrss,
generous margins, no timing)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import _native

MiB = 2 ** 20


class NativeSpy:
    """Stands in for the native CPU module: records the arrays each call receives, then forwards."""

    def __init__(self, real):
        self._real, self.calls = real, []

    def __getattr__(self, name):
        fn = getattr(self._real, name)
        if not callable(fn):
            return fn

        def record(*args, **kw):
            self.calls.append((name, [a for a in args if isinstance(a, np.ndarray)]))
            return fn(*args, **kw)
        return record


@pytest.fixture
def spy(monkeypatch):
    s = NativeSpy(_native.cpu)
    monkeypatch.setattr(_native, "cpu", s)
    return s


def passed_in_place(spy, x):
    arrays = [a for name, args in spy.calls if name == "knn" for a in args]
    assert arrays, "the engine was not called"
    return any(np.shares_memory(a, x) for a in arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_contiguous_float_arrays_are_not_copied(spy, rng, dtype):
    x = rng.standard_normal((300, 8)).astype(dtype)
    hf.knn(x, 3)
    assert passed_in_place(spy, x)


def test_memmap_is_read_in_place(spy, rng, tmp_path):
    np.save(tmp_path / "x.npy", rng.standard_normal((300, 8)).astype(np.float32))
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    q = rng.standard_normal((20, 8)).astype(np.float32)
    hf.knn(x, 3, queries=q)
    assert passed_in_place(spy, x) and passed_in_place(spy, q)


def test_torch_cpu_tensor_is_viewed_zero_copy(spy, rng):
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(rng.standard_normal((300, 8)).astype(np.float32))
    d, i = hf.knn(t, 3)
    assert passed_in_place(spy, t.numpy())
    assert isinstance(d, torch.Tensor) and isinstance(i, torch.Tensor)


def test_other_layouts_are_copied_once_and_give_the_same_answer(spy, rng):
    x = rng.standard_normal((300, 8)).astype(np.float32)
    want = hf.knn(x, 3)
    spy.calls.clear()
    fortran = np.asfortranarray(x)
    got = hf.knn(fortran, 3)
    assert not passed_in_place(spy, fortran)
    np.testing.assert_array_equal(got[1], want[1])
    spy.calls.clear()
    half = x.astype(np.float16)
    got = hf.knn(half, 3)
    assert spy.calls[0][1][0].dtype == np.float32  # float16 widened exactly to float32
    np.testing.assert_array_equal(got[1], hf.knn(half.astype(np.float32), 3)[1])


# ---- peak memory, in a fresh process -------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import hubness_fast as hf
    from hubness_fast import Manifold

    job, path = sys.argv[1], sys.argv[2]
    x = np.load(path, mmap_mode="r")
    q = np.random.default_rng(0).standard_normal((500, x.shape[1])).astype(np.float32)
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = peak()
    with hf.engine_stats() as stats:
        if job == "search":
            hf.knn(x, 10, queries=q)
        else:
            Manifold(x, k=(3, 5)).evaluate(q)  # every metric, realism included
    print(json.dumps({"above_inputs": peak() - before - x.nbytes, "inputs": x.nbytes,
                      "levels": sorted(stats.levels)}))
""")


def peak_above_inputs(tmp_path, job, x, level=None):
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, HUBNESS_FAST_SIMD=level) if level else None
    out = subprocess.run([sys.executable, "-c", PROBE, job, str(tmp_path / "x.npy")], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def levels():
    # the default level, and one without the bf16 copies the amx level makes (README: Semantics)
    return sorted({hf.SIMD_LEVELS[-1] if hf.SIMD_LEVELS else "generic", "generic"})


@pytest.mark.parametrize("level", levels())
def test_search_of_a_memmap_needs_no_copy_of_it(tmp_path, level):
    # 400 000 x 64 float32 = 98 MiB database: a copy, or any n x n buffer, breaks the bound
    x = np.random.default_rng(1).standard_normal((400_000, 64)).astype(np.float32)
    r = peak_above_inputs(tmp_path, "search", x, level)
    allowed = 32 * MiB + (1.5 * r["inputs"] if "amx" in r["levels"] else 0)  # bf16 hi/mid/lo: 6 bytes a value
    assert r["above_inputs"] < allowed, r


def test_fitted_reference_evaluation_memory_does_not_grow_with_the_sets(tmp_path):
    # fit + every metric (realism included) on 60 000 x 32 reals: the realism pass once held
    # 2 048 x n_real float64 blocks (about 1.4 GB here); now about 8 MiB blocks
    x = np.random.default_rng(2).standard_normal((60_000, 32)).astype(np.float32)
    r = peak_above_inputs(tmp_path, "manifold", x)
    allowed = 64 * MiB + (1.5 * r["inputs"] if "amx" in r["levels"] else 0)
    assert r["above_inputs"] < allowed, r
