"""The hubness-fast command, through a subprocess."""
import subprocess
import sys

import numpy as np
import pytest

from oracles import brute_hub_counts


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "hubness_fast.cli", *args], capture_output=True, text=True, **kw)


def test_hubs_writes_exact_counts(tmp_path):
    x = np.random.default_rng(0).standard_normal((400, 12)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", str(tmp_path / "z.npy"), "--k", "4", "--out", str(tmp_path / "c.npy"), "--quiet")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), brute_hub_counts(x, 4))


@pytest.mark.parametrize("args", [
    ["hubs", "missing.npy", "--out", "c.npy"],
    ["hubs", "--k", "3"],
    ["sample", "--generator", "no_such_module:G", "--latent-dim", "4", "--n", "3", "--out", "x"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = [l for l in r.stderr.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("hubness-fast: error:")


def test_hubs_device_choice(tmp_path):
    import hubness_fast as hf
    from hubness_fast import _native

    x = np.random.default_rng(1).standard_normal((300, 6)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", str(tmp_path / "z.npy"), "--k", "3", "--out", str(tmp_path / "c.npy"), "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), brute_hub_counts(x, 3))
    r = cli("hubs", str(tmp_path / "z.npy"), "--out", str(tmp_path / "d.npy"), "--quiet", "--device", "cuda")
    if hf.HAS_CUDA and _native.cuda.device_count() > 0:
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), brute_hub_counts(x, 5))
    else:
        assert r.returncode == 2 and "device='cuda'" in r.stderr


def test_help_on_each_command():
    for cmd in ("demo", "hubs", "sample", "bench"):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout


def test_sample_with_bundled_generator(tmp_path):
    pytest.importorskip("torch")
    r = cli("sample", "--generator", "hubness_fast.models:load_generator()", "--latent-dim", "64", "--n", "20",
            "--out", str(tmp_path), "--top", "0.05", "--pool-size", "500", "--quiet")
    assert r.returncode == 0, r.stderr
    lat = np.load(tmp_path / "latents.npz")
    assert lat["z"].shape == (20, 64) and lat["hub_values"].shape == (20,)
    assert len(list(tmp_path.glob("0000*.png"))) == 20
