"""`hubness-fast sample` end to end: network pickles, torch.save'd modules, module:factory(),
the output folder (PNGs in row order, grid.png, latents.npz), exit codes; memory when streaming."""
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hubness_fast.generators import to_uint8
from hubness_fast.sampling.images import decode_png
from recompute import read_png
from standins import StyleGANStandIn

TESTS = Path(__file__).resolve().parents[1]  # tests/: the stand-ins and oracles


def cli(*args, cwd, pythonpath=(TESTS,)):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, pythonpath)))
    return subprocess.run([sys.executable, "-m", "hubness_fast.cli", "sample", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


def one_line_error(r):
    lines = [line for line in r.stderr.strip().splitlines() if line.strip() and "%|" not in line]
    return r.returncode == 2 and len(lines) == 1 and lines[0].startswith("hubness-fast: error:")


def check_folder(outdir, G, n, c_dim=0):
    """PNG files 000000.png.. in row order, equal to the model's own render of latents.npz."""
    names = sorted(p.name for p in outdir.glob("[0-9]*.png"))
    assert names == [f"{i:06d}.png" for i in range(n)]
    assert (outdir / "grid.png").stat().st_size > 0
    lat = np.load(outdir / "latents.npz")
    c = torch.nn.functional.one_hot(torch.from_numpy(lat["labels"]), c_dim).float() if c_dim else torch.zeros(n, 0)
    with torch.no_grad():
        own = to_uint8(G(torch.from_numpy(lat["z"]), c, noise_mode="const")).numpy()
    for i, name in enumerate(names):
        img = read_png(outdir / name)  # PIL, not the package's decoder
        img = img[:, :, None] if img.ndim == 2 else img
        np.testing.assert_array_equal(img, own[i].transpose(1, 2, 0))
    grid = read_png(outdir / "grid.png")
    assert grid.shape[0] >= own.shape[2] and grid.shape[1] >= own.shape[3] and grid.std() > 0
    np.testing.assert_array_equal(decode_png((outdir / "grid.png").read_bytes()), grid)  # the two decoders agree
    return lat


@pytest.fixture
def nvidia_pickle(tmp_path):
    """A network pickle laid out as NVIDIA's (dict with G, D, G_ema), whose classes live in a
    package named torch_utils, as their pickles need."""
    pkg = tmp_path / "nvidia_repo" / "torch_utils"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "networks_standin.py").write_text("from standins import StyleGANStandIn\n\n"
                                             "class Generator(StyleGANStandIn):\n    pass\n")
    sys.path.insert(0, str(pkg.parent))
    try:
        from torch_utils.networks_standin import Generator

        G = Generator(seed=1)
        path = tmp_path / "network-snapshot.pkl"
        with open(path, "wb") as f:
            pickle.dump({"G": Generator(seed=2), "D": None, "G_ema": G}, f)
    finally:
        sys.path.remove(str(pkg.parent))
        for name in [m for m in sys.modules if m.startswith("torch_utils")]:
            del sys.modules[name]
    return path, pkg.parent, G


def test_network_pickle_takes_g_ema_and_writes_the_models_own_render(tmp_path, nvidia_pickle):
    path, repo, G = nvidia_pickle
    out = tmp_path / "out"
    r = cli("--network", str(path), "--n", "12", "--outdir", str(out), "--pool-size", "400", "--threshold", "7",
            "--batch-size", "5", "--quiet", cwd=tmp_path, pythonpath=(repo, TESTS))
    assert r.returncode == 0, r.stderr
    lat = check_folder(out, G, 12)
    assert set(lat.files) == {"z", "w", "hub_values"} and lat["w"].shape == (12, G.w_dim)
    assert np.all(lat["hub_values"] >= 7)
    # the same seed gives the same files
    r2 = cli("--network", str(path), "--n", "12", "--outdir", str(tmp_path / "again"), "--pool-size", "400",
             "--threshold", "7", "--quiet", cwd=tmp_path, pythonpath=(repo, TESTS))
    assert r2.returncode == 0 and (tmp_path / "again" / "000011.png").read_bytes() == (out / "000011.png").read_bytes()


def test_network_pickle_without_nvidias_code_says_what_to_do(tmp_path, nvidia_pickle):
    path, _, _ = nvidia_pickle
    r = cli("--network", str(path), "--n", "3", "--outdir", str(tmp_path / "o"), cwd=tmp_path)
    assert one_line_error(r) and "torch_utils" in r.stderr and "PYTHONPATH" in r.stderr


def test_torch_saved_module_random_method(tmp_path):
    G = StyleGANStandIn(seed=3)
    torch.save(G, tmp_path / "g.pt")
    r = cli("--network", str(tmp_path / "g.pt"), "--n", "7", "--outdir", str(tmp_path / "o"), "--method", "random",
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lat = check_folder(tmp_path / "o", G, 7)
    assert set(lat.files) == {"z", "w"}


def test_module_factory_from_the_current_directory_conditional(tmp_path):
    (tmp_path / "mynet.py").write_text(textwrap.dedent("""
        from standins import StyleGANStandIn

        def build():
            return StyleGANStandIn(c_dim=3, seed=4)

        class Broken(StyleGANStandIn):
            def forward(self, *args, **kwargs):
                raise RuntimeError("the generator broke\\nover two lines")

        def broken():
            return Broken()
    """))
    r = cli("--network", "mynet:build()", "--n", "9", "--outdir", str(tmp_path / "o"), "--class", "uniform",
            "--method", "truncation", "--psi", "0.5", "--space", "z", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lat = np.load(tmp_path / "o" / "latents.npz")
    assert set(lat.files) == {"z", "labels"} and lat["labels"].shape == (9,)
    G = StyleGANStandIn(c_dim=3, seed=4)
    c = torch.nn.functional.one_hot(torch.from_numpy(lat["labels"]), 3).float()
    with torch.no_grad():
        own = to_uint8(G(torch.from_numpy(lat["z"]), c, noise_mode="const")).numpy()
    np.testing.assert_array_equal(read_png(tmp_path / "o" / "000004.png"), own[4].transpose(1, 2, 0))
    # failures: one line, exit code 2; --debug shows the traceback
    r = cli("--network", "mynet:broken()", "--n", "3", "--outdir", "x", "--method", "random", "--space", "z",
            cwd=tmp_path)
    assert one_line_error(r) and "the generator broke over two lines" in r.stderr
    r = cli("--network", "mynet:broken()", "--n", "3", "--outdir", "x", "--method", "random", "--space", "z",
            "--debug", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr
    for bad in (["--method", "best"], ["--class", "7"], ["--truncation", "0.5"], ["--n", "0"]):
        r = cli("--network", "mynet:build()", "--n", "3", "--outdir", "x", *bad, cwd=tmp_path)
        assert one_line_error(r), (bad, r.stderr)
    r = cli("--network", "mynet:nothing", "--n", "3", "--outdir", "x", cwd=tmp_path)
    assert one_line_error(r) and "nothing" in r.stderr


def test_help_names_the_pickle_risk():
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "sample", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "runs code from the file" in " ".join(r.stdout.split())


PEAK = """
import resource, sys
sys.path.insert(0, {tests!r})
from standins import StyleGANStandIn
from hubness_fast.sampling import sample
G = StyleGANStandIn(img_resolution=128, img_channels=3)
out = sample(G, {n}, "random", outdir={outdir!r}, batch_size=50, progress=False)
assert out.images is None
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_streaming_to_a_folder_does_not_grow_the_peak_with_n(tmp_path):
    peaks = {}
    for n in (200, 2000):
        code = PEAK.format(tests=str(TESTS), n=n, outdir=str(tmp_path / str(n)))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        peaks[n] = int(r.stdout.split()[-1]) / 1024  # MiB
    assert len(list((tmp_path / "2000").glob("[0-9]*.png"))) == 2000
    # holding 1 800 more images would add 1800 * 3 * 128 * 128 * 4 bytes = 338 MiB (88 MiB as uint8)
    assert peaks[2000] - peaks[200] < 30, peaks
