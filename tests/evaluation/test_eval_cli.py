"""`hubness-fast eval`: the values equal the Python API's on the same inputs (features, image folders,
a saved fitted reference, a generator), and bad input is one line with exit code 2."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hubness_fast import metrics
from hubness_fast.features import features
from hubness_fast.sampling.images import write_png
from hubness_fast.evaluation.manifold import Manifold
from clirun import run
from standins import TinyDetector, save_scripted

TESTS = Path(__file__).resolve().parents[1]  # tests/: the stand-ins and oracles
RNG = np.random.default_rng(0)
REAL = RNG.standard_normal((300, 8)).astype(np.float32)
FAKE = (RNG.standard_normal((250, 8)) * 1.2 + 0.3).astype(np.float32)


def cli(*args, cwd):
    return run(["eval", *args, "--quiet"], cwd=cwd)


def api_values(real, fake, k=3, k_dc=5):
    """The same numbers from the metric functions, one call each."""
    p, r = metrics.precision_recall(real, fake, k=k)
    d, c = metrics.density_coverage(real, fake, k=k_dc)
    return {"fid": metrics.frechet_distance(real, fake), "precision": p, "recall": r, "density": d, "coverage": c}


def check(values, want):
    for name, v in want.items():
        assert values[name] == pytest.approx(v, rel=1e-12, abs=1e-12), name


def test_features_on_both_sides(tmp_path):
    np.save(tmp_path / "real.npy", REAL)
    np.save(tmp_path / "fake.npy", FAKE)
    r = cli("--real", "real.npy", "--fake", "fake.npy", "--json", "out.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    check(out["metrics"], api_values(REAL, FAKE))
    assert "precision" in r.stdout and "fid" in r.stdout
    r = cli("--real", "real.npy", "--fake", "fake.npy", "--metrics", "prdc,rarity,realism,eprc", "--k", "4",
            "--json", "more.json", cwd=tmp_path)
    more = json.loads((tmp_path / "more.json").read_text())["metrics"]
    ref = metrics.prdc(REAL, FAKE, k=5)
    assert more["prdc_precision"] == pytest.approx(ref["precision"]) and "fid" not in more
    e = metrics.efficient_precision_recall(REAL, FAKE, k=4)
    assert more["eprc_precision"] == pytest.approx(e.precision) and more["eprc_recall"] == pytest.approx(e.recall)
    want_realism = float(np.mean(metrics.realism_score(REAL, FAKE, k=4)))
    assert more["realism_mean"] == pytest.approx(want_realism)


def test_a_saved_reference_and_bootstrap_bounds(tmp_path):
    Manifold(REAL, (3, 5)).save(tmp_path / "ref.npz")
    np.save(tmp_path / "fake.npy", FAKE)
    r = cli("--real", "ref.npz", "--fake", "fake.npy", "--n-boot", "50", "--json", "o.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "o.json").read_text())
    values = report["metrics"]
    check(values, api_values(REAL, FAKE))
    assert values["precision_low"] <= values["precision"] <= values["precision_high"]
    assert (report["n_real"], report["n_fake"], report["interval"]) == (300, 250, "95 % percentile bootstrap")
    again = Manifold.load(tmp_path / "ref.npz").evaluate(FAKE, n_boot=50, seed=report["seed"])  # reproducible
    assert (values["precision_low"], values["precision_high"]) == tuple(again.intervals["precision"])
    assert report["real"] == "ref.npz" and report["fake"] == "fake.npy" and report["detector"] is None
    line = next(s for s in r.stdout.splitlines() if s.startswith("precision "))  # the bounds beside the value
    assert line.split() == ["precision", f"{values['precision']:.4g}", f"[{values['precision_low']:.4g},",
                            f"{values['precision_high']:.4g}]", "95", "%", "bootstrap"]
    assert not any(s.startswith("precision_low") for s in r.stdout.splitlines())


def test_eval_shows_progress_of_its_neighbour_passes(tmp_path):
    np.save(tmp_path / "real.npy", REAL)
    np.save(tmp_path / "fake.npy", FAKE)
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "eval", "--real", "real.npy", "--fake", "fake.npy"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0 and "containment" in r.stderr  # a bar per pass (tqdm writes to stderr)


def make_folder(path, images):
    path.mkdir()
    for i, img in enumerate(images):
        write_png(path / f"{i:04d}.png", img.transpose(1, 2, 0))


def test_image_folders_through_a_torchscript_detector_with_a_cache(tmp_path):
    save_scripted(TinyDetector(), tmp_path / "det.pt")
    rng = np.random.default_rng(1)
    real = rng.integers(0, 256, (60, 3, 16, 16), dtype=np.uint8)
    fake = np.clip(real[:50].astype(int) + rng.integers(-40, 41, (50, 3, 16, 16)), 0, 255).astype(np.uint8)
    make_folder(tmp_path / "real", real)
    make_folder(tmp_path / "fake", fake)
    r = cli("--real", "real", "--fake", "fake", "--detector", "det.pt", "--cache-dir", "cache", "--json", "o.json",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with torch.no_grad():
        det = TinyDetector()
        fr = det(torch.from_numpy(real), return_features=True).numpy()
        ff = det(torch.from_numpy(fake), return_features=True).numpy()
    np.testing.assert_array_equal(features(tmp_path / "real", str(tmp_path / "det.pt"), progress=False), fr)
    check(json.loads((tmp_path / "o.json").read_text())["metrics"], api_values(fr, ff))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # both sides cached by content
    torch.save(TinyDetector(), tmp_path / "eager.pt")  # a whole module saved with torch.save, not TorchScript
    again = cli("--real", "real", "--fake", "fake", "--detector", "eager.pt", "--cache-dir", "cache2", "--json",
                "o2.json", cwd=tmp_path)
    assert again.returncode == 0 and "not cached" not in again.stderr, again.stderr
    assert json.loads((tmp_path / "o2.json").read_text())["metrics"] == json.loads((tmp_path / "o.json").read_text())[
        "metrics"]
    assert len(list((tmp_path / "cache2").glob("*.npy"))) == 2  # keyed by the file's SHA-256 (it was never cached)


def test_a_generator_as_the_fake_side(tmp_path):
    save_scripted(TinyDetector(), tmp_path / "det.pt")
    np.save(tmp_path / "real.npy", np.random.default_rng(2).standard_normal((80, 16)).astype(np.float32))
    r = cli("--real", "real.npy", "--network", "standins:DCGANGenerator()", "--n", "40", "--detector", "det.pt",
            "--metrics", "pr", "--json", "o.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, str(TESTS))
    from standins import DCGANGenerator
    from hubness_fast.generators import to_uint8
    from hubness_fast.sampling import RandomSampler

    G = DCGANGenerator().eval()
    z = RandomSampler(seed=0, latent_dim=16).sample_latents(40)
    with torch.no_grad():
        ff = TinyDetector()(to_uint8(G(torch.from_numpy(z)[:, :, None, None])), return_features=True).numpy()
    values = json.loads((tmp_path / "o.json").read_text())["metrics"]
    p, rec = metrics.precision_recall(np.load(tmp_path / "real.npy"), ff, k=3)
    assert values["precision"] == pytest.approx(p) and values["recall"] == pytest.approx(rec)


def test_an_unreachable_threshold_names_the_hub_flags_of_eval(tmp_path):
    # the sampler's k is --hub-k in eval (--k is the metrics'); the advice names eval's own flags
    save_scripted(TinyDetector(), tmp_path / "det.pt")
    np.save(tmp_path / "real.npy", np.random.default_rng(2).standard_normal((80, 16)).astype(np.float32))
    r = cli("--real", "real.npy", "--network", "standins:DCGANGenerator()", "--n", "10", "--detector", "det.pt",
            "--method", "hubs", "--hub-k", "4", "--threshold", "55", "--pool-size", "60", "--quiet", cwd=tmp_path)
    assert r.returncode == 2
    assert "(--hub-k 4)" in r.stderr and "--k 4" not in r.stderr
    assert "use --top 0.01, or a larger --pool-size N." in r.stderr


def test_a_generator_scored_with_hub_or_truncation_settings(tmp_path):
    # eval's --method takes the sampler's settings, as sample does: the same latents as the Python sampler
    save_scripted(TinyDetector(), tmp_path / "det.pt")
    np.save(tmp_path / "real.npy", np.random.default_rng(2).standard_normal((80, 16)).astype(np.float32))
    sys.path.insert(0, str(TESTS))
    from standins import DCGANGenerator
    from hubness_fast.generators import to_uint8
    from hubness_fast.sampling import HubnessSampler, TruncationSampler

    G = DCGANGenerator().eval()
    for flags, sampler in ((["--method", "hubs", "--hub-k", "4", "--threshold", "7", "--pool-size", "300"],
                            HubnessSampler(16, k=4, threshold=7, pool_size=300, seed=0)),
                           (["--method", "truncation", "--psi", "0.4"], TruncationSampler(16, psi=0.4, seed=0))):
        r = cli("--real", "real.npy", "--network", "standins:DCGANGenerator()", "--n", "30", "--detector", "det.pt",
                "--metrics", "pr", "--json", "o.json", *flags, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        z = sampler.sample_latents(30)
        with torch.no_grad():
            ff = TinyDetector()(to_uint8(G(torch.from_numpy(z)[:, :, None, None])), return_features=True).numpy()
        p, rec = metrics.precision_recall(np.load(tmp_path / "real.npy"), ff, k=3)
        values = json.loads((tmp_path / "o.json").read_text())["metrics"]
        assert values["precision"] == pytest.approx(p) and values["recall"] == pytest.approx(rec), flags
    r = cli("--real", "real.npy", "--network", "standins:DCGANGenerator()", "--n", "30", "--detector", "det.pt",
            "--psi", "0.4", cwd=tmp_path)
    assert r.returncode == 2 and "--psi applies to --method truncation; this run uses --method random" in r.stderr
    np.save(tmp_path / "fake.npy", FAKE)
    r = cli("--real", "real.npy", "--fake", "fake.npy", "--threshold", "7", cwd=tmp_path)
    assert r.returncode == 2 and "--threshold set how --network generates the fake set" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--real", "real.npy", "--fake", "fake.npy", "--metrics", "fid,kid"], "metrics must be"),
    (["--real", "missing.npy", "--fake", "fake.npy"], "not found"),
    (["--real", "bad.npy", "--fake", "fake.npy"], "not a readable .npy"),
    (["--real", "real.npy", "--fake", "images.npy"], "give a detector"),
    (["--real", "real.npy"], "give the fake set: --fake"),
    (["--real", "real.npy", "--fake", "fake.npy", "--network", "mygans:G()"], "not both"),
    (["--real", "real.npy", "--fake", "fake.npy", "--json", "nodir/o.json"], "--json"),
    (["--real", "real.npy", "--fake", "fake.npy", "--k-dc", "0"], "--k-dc must be an integer >= 1, got 0"),
    (["--real", "real.npy", "--fake", "fake.npy", "--k", "0"], "--k must be an integer >= 1, got 0"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    np.save(tmp_path / "real.npy", REAL)
    np.save(tmp_path / "fake.npy", FAKE)
    np.save(tmp_path / "images.npy", np.zeros((4, 3, 8, 8), np.uint8))
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    r = cli(*args, cwd=tmp_path)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr


def test_a_cosine_reference_gives_fd_of_the_raw_features(tmp_path):
    Manifold(REAL, (3, 5), metric="cosine").save(tmp_path / "cos.npz")
    np.save(tmp_path / "fake.npy", FAKE)
    r = cli("--real", "cos.npz", "--fake", "fake.npy", "--metrics", "fid,pr", "--json", "o.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    values = json.loads((tmp_path / "o.json").read_text())["metrics"]
    assert values["fid"] == pytest.approx(metrics.frechet_distance(REAL, FAKE), rel=1e-12)
    unit = lambda x: x / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)  # noqa: E731
    p, rec = metrics.precision_recall(unit(REAL), unit(FAKE), k=3)
    assert values["precision"] == pytest.approx(p) and values["recall"] == pytest.approx(rec)


def test_a_reference_fitted_for_one_k_serves_the_metrics_that_use_it(tmp_path):
    Manifold(REAL, 3).save(tmp_path / "ref3.npz")
    np.save(tmp_path / "fake.npy", FAKE)
    for chosen in ("fid", "pr"):
        r = cli("--real", "ref3.npz", "--fake", "fake.npy", "--metrics", chosen, cwd=tmp_path)
        assert r.returncode == 0, r.stderr


def test_a_sample_folder_is_read_without_its_grid(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (12, 3, 16, 16), dtype=np.uint8)
    make_folder(tmp_path / "smp", images)
    write_png(tmp_path / "smp" / "grid.png", np.zeros((40, 50, 3), np.uint8))
    np.savez(tmp_path / "smp" / "latents.npz", z=np.zeros((12, 4), np.float32))
    save_scripted(TinyDetector(), tmp_path / "det.pt")
    np.save(tmp_path / "real.npy", rng.standard_normal((40, 16)).astype(np.float32))
    r = cli("--real", "real.npy", "--fake", "smp", "--detector", "det.pt", "--metrics", "fid", "--json", "o.json",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with torch.no_grad():
        ff = TinyDetector()(torch.from_numpy(images), return_features=True).numpy()
    assert json.loads((tmp_path / "o.json").read_text())["metrics"]["fid"] == pytest.approx(
        metrics.frechet_distance(np.load(tmp_path / "real.npy"), ff), rel=1e-12)


def test_rgb_pngs_of_grey_digits_go_through_the_bundled_detector_as_grey(tmp_path):
    from hubness_fast.models.mnist import MnistDetector, load_mnist

    from hubness_fast.generators import to_uint8

    digits = to_uint8(torch.as_tensor(load_mnist("test")[0][:20])).numpy()  # uint8 [20, 1, 28, 28]
    make_folder(tmp_path / "rgb", np.repeat(digits, 3, axis=1))
    det = MnistDetector()
    np.testing.assert_array_equal(features(tmp_path / "rgb", det, progress=False),
                                  features(np.asarray(digits), det, progress=False))
    with pytest.raises(Exception, match=r"\[B, 1, 28, 28\]"):  # real colour is still refused
        features(np.concatenate([digits, digits, digits // 2], axis=1), det, progress=False)


ACCELERATOR_HERE = torch.cuda.is_available()  # (a name the GPU-marker check does not take for a GPU test)


@pytest.mark.skipif(ACCELERATOR_HERE, reason="the message is for a machine without an accelerator")
def test_device_cuda_without_cuda_is_one_clear_line(tmp_path):
    np.save(tmp_path / "real.npy", REAL)
    r = cli("--real", "real.npy", "--fake", "real.npy", "--device", "cuda", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == \
        "hubness-fast: error: --device cuda: torch sees no GPU here (use --device cpu, or auto)"


def test_a_truncated_png_is_named(tmp_path):
    images = np.random.default_rng(4).integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
    make_folder(tmp_path / "trunc", images)
    data = (tmp_path / "trunc" / "0005.png").read_bytes()
    (tmp_path / "trunc" / "0005.png").write_bytes(data[:len(data) // 2])
    save_scripted(TinyDetector(), tmp_path / "det.pt")
    np.save(tmp_path / "real.npy", REAL)
    r = cli("--real", "real.npy", "--fake", "trunc", "--detector", "det.pt", cwd=tmp_path)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "0005.png" in lines[0], r.stderr


@pytest.mark.parametrize("args, message", [
    (["--real", "real.npy", "--fake", "five.npy", "--metrics", "prdc"], "the fake set has 5 samples: --k-dc 5 needs "
                                                                        "at least 6"),
    (["--real", "real.npy", "--fake", "nan.npy"], "fake contains NaN or Inf (first at row 7)"),
    (["--real", "nofeat.npz", "--fake", "fake.npy"], "saved without its features"),
    (["--real", "real.npy", "--fake", "fake.npy", "--n", "5", "--method", "hubs"], "--n, --method set how"),
])
def test_more_bad_input_names_the_side_and_the_flag(tmp_path, args, message):
    np.save(tmp_path / "real.npy", REAL)
    np.save(tmp_path / "fake.npy", FAKE)
    np.save(tmp_path / "five.npy", FAKE[:5])
    nan = FAKE.copy()
    nan[7, 2] = np.inf
    np.save(tmp_path / "nan.npy", nan)
    Manifold(REAL, (3, 5)).save(tmp_path / "nofeat.npz", include_features=False)
    r = cli(*args, cwd=tmp_path)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr


SLOW_DETECTOR = '''
import os, pathlib, time
class Det:
    cache_key = "slow-v1"
    calls = 0
    def __call__(self, images):
        Det.calls += 1
        pathlib.Path("calls").write_text(str(Det.calls))
        if Det.calls == 3 and os.environ.get("SLOW") == "1":
            pathlib.Path("started").write_text("")
            time.sleep(120)
        return images.float().flatten(1)[:, :4]
det = Det()
'''


def test_sigterm_stops_eval_as_ctrl_c_does_and_keeps_the_rows_done(tmp_path):
    # a job's time limit, `timeout` and `docker stop` send SIGTERM: Python's default ended the command
    # at once and the rows of the last minute were lost
    (tmp_path / "slowdet.py").write_text(SLOW_DETECTOR)
    images = np.random.default_rng(4).integers(0, 256, (24, 3, 4, 4), dtype=np.uint8)
    make_folder(tmp_path / "real", images)
    np.save(tmp_path / "fake.npy", FAKE[:, :4])
    args = [sys.executable, "-m", "hubness_fast.cli", "eval", "--real", "real", "--fake", "fake.npy", "--detector",
            "slowdet:det", "--batch-size", "4", "--cache-dir", "cache", "--quiet"]
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{TESTS}", SLOW="1")
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "started").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.terminate()
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "hubness-fast: terminated; the features extracted so far are kept in cache" in err
    (partial,) = (tmp_path / "cache").glob("*.partial")
    assert [p.name for p in partial.iterdir()] == ["0000000000-0000000008.npy"]  # the two batches done
    r = subprocess.run(args[:-1] + ["--json", "o.json"], cwd=tmp_path, env=dict(env, SLOW="0"), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "calls").read_text() == "4"  # images 8..23 only
    want = api_values(images.reshape(24, -1)[:, :4].astype(np.float32), FAKE[:, :4])
    check(json.loads((tmp_path / "o.json").read_text())["metrics"], want)


def test_a_torch_module_detector_is_moved_to_the_device(tmp_path, monkeypatch):
    from hubness_fast.cli import inputs

    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4)), tmp_path / "plain.pt")
    (tmp_path / "attrdet.py").write_text("import torch\ndet = torch.nn.Sequential(torch.nn.Flatten(), "
                                         "torch.nn.Linear(48, 4))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in (str(tmp_path / "plain.pt"), "attrdet:det"):  # "meta" stands in for a GPU here
        det = inputs.load_detector(spec, "--detector", "meta")
        assert next(det.parameters()).device.type == "meta", spec
