"""The study (table with spreads, P-R curves, poster figures) on a stand-in generator, its pieces
on hand-computed cases, and the bundled MNIST model and demo."""
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from hubness_fast import metrics
from hubness_fast.generators import to_uint8
from hubness_fast.study.run import above_envelope, compare_to_random, run_study
from clirun import run
from recompute import check_rows_independently, read_png
from standins import StyleGANStandIn

TESTS = Path(__file__).resolve().parents[1]  # tests/: the stand-ins and oracles
FILES = ("table.json", "pr_curve.png", "hub_vs_quality.png", "distance_to_mean.png", "hub_histogram.png")


def study_cli(*args, cwd=None):
    """``hubness-fast study ARGS`` in this process (tests/clirun.py), the test stand-ins importable."""
    return run(["study", *args], cwd=cwd)


SMALL_RUN = ("--outdir", "out", "--n", "40", "--seeds", "2", "--pool-size", "200", "--threshold", "5", "--quiet",
             "--device", "cpu")


def projector(d_in, d_out=8, seed=0):
    w = torch.from_numpy(np.random.default_rng(seed).standard_normal((d_in, d_out)).astype(np.float32))
    return lambda images: images.flatten(1).float() @ w  # a detector's input: uint8 images


def stand_in_with_real():
    """An 8 x 8 grey stand-in, a projection detector, and real features of 200 of its own images."""
    G = StyleGANStandIn(img_resolution=8, img_channels=1)
    extractor = projector(64)
    with torch.no_grad():
        real = extractor(to_uint8(G(torch.randn(200, G.z_dim), None, noise_mode="const") * 0.9)).numpy()
    return G, extractor, real


def test_study_on_a_stand_in_writes_every_file_with_independent_seeds(tmp_path):
    G, extractor, real = stand_in_with_real()
    report = run_study(G, extractor, real, tmp_path, n=60, seeds=3, k=5, threshold=6, pool_size=300,
                       curve_tops=(0.05, 0.3), curve_psis=(0.3, 1.0), quality=lambda x: x.float().mean((1, 2, 3)),
                       grid_size=16, verbose=False)
    for name in FILES[1:] + ("grid_hubs_W.png", "grid_hubs_Z.png", "grid_random.png", "grid_truncation_0.7.png",
                             "grid_truncation_0.3.png"):
        img = read_png(tmp_path / name)
        assert img.ndim == 3 and min(img.shape[:2]) >= 32 and img.std() > 0, name  # a picture, not a blank
    check_rows_independently(report, G, extractor, real, 60, dict(k=5, threshold=6, pool_size=300))
    assert set(report["table"]) == {"hubs W", "hubs Z", "random", "truncation 0.7", "truncation 0.3"}
    seeds = [r["seed"] for runs in report["runs"].values() for r in runs]
    assert len(seeds) == len(set(seeds)) == 15  # every (method, repetition) has its own seed
    for runs in report["runs"].values():  # independent seeds give different samples, so different metrics
        assert len({r["FD"] for r in runs}) == 3
    fd = [r["FD"] for r in report["runs"]["random"]]
    assert report["table"]["random"]["FD"]["mean"] == pytest.approx(np.mean(fd))
    assert report["table"]["random"]["FD"]["std"] == pytest.approx(np.std(fd, ddof=1))
    assert json.loads((tmp_path / "table.json").read_text())["claim"] == report["claim"]
    assert report["machine"]["cpu"] and report["machine"]["kernel_level"]  # the file names where it ran
    assert {"hub_vs_quality", "distance_to_mean", "hub_values", "pr_curve"} <= set(report)
    assert set(report["hub_vs_quality"]) == {"realism score", "quality"}
    assert "natural log" in report["hub_vs_quality_scales"]["realism score"]  # the table says what it holds
    assert report["claim"]["rule"].startswith("the hub curve is above the truncation curve when more than half")
    # truncation towards w_avg pulls latents to the centre: a smaller distance to the mean than random
    assert report["distance_to_mean"]["truncation 0.3"]["mean"] < report["distance_to_mean"]["random"]["mean"]


def test_compare_to_random_uses_both_spreads():
    def row(fd, fd_s, p, p_s):
        r = {m: {"mean": 0.5, "std": 0.0} for m in ("recall", "density", "coverage")}
        r.update(FD={"mean": fd, "std": fd_s}, precision={"mean": p, "std": p_s})
        return r

    table = {"random": row(10.0, 1.0, 0.6, 0.01), "a": row(7.0, 1.0, 0.65, 0.01), "b": row(8.5, 1.0, 0.61, 0.01)}
    comp = compare_to_random(table)
    assert comp["a"]["FD"]["verdict"] == "better" and comp["a"]["precision"]["verdict"] == "better"  # 3 > 2, .05 > .02
    assert comp["b"]["FD"]["verdict"] == "within spread" and comp["b"]["precision"]["verdict"] == "within spread"
    assert comp["a"]["FD"]["difference"] == -3.0


def test_above_envelope_compares_at_equal_or_better_precision():
    trunc = [(0.6, 0.5), (0.8, 0.3), (1.0, 0.1)]
    # (0.7, 0.45): rivals with precision >= 0.7 reach recall 0.3 -> above; (0.9, 0.05): rival 0.1 -> not;
    # (0.5, 0.45): rivals reach 0.5 -> not; (1.1, 0.0): no rival at that precision -> above
    share, comparable, comparable_above = above_envelope([(0.7, 0.45), (0.9, 0.05), (0.5, 0.45), (1.1, 0.0)], trunc)
    assert (share, comparable, comparable_above) == (0.5, 3, 1)


def test_realism_score_against_its_formula():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((60, 4)), rng.standard_normal((25, 4))
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    np.fill_diagonal(d_rr, np.inf)
    radius = np.sort(d_rr, 1)[:, 2]  # k = 3, self excluded
    keep = radius <= np.percentile(radius, 50)
    d = np.linalg.norm(fake[:, None] - real[None, keep], axis=2)
    np.testing.assert_allclose(metrics.realism_score(real, fake, k=3), (radius[keep] / d).max(1), rtol=1e-10)
    all_balls = (radius / np.linalg.norm(fake[:, None] - real[None], axis=2)).max(1)
    np.testing.assert_allclose(metrics.realism_score(real, fake, k=3, clamp_to_percentile=None), all_balls, rtol=1e-10)


def test_study_cli_end_to_end(tmp_path):
    (tmp_path / "studynet.py").write_text(
        "import numpy as np, torch\nfrom standins import StyleGANStandIn\n"
        "def build():\n    return StyleGANStandIn(img_resolution=8, img_channels=1)\n"
        "W = torch.from_numpy(np.random.default_rng(0).standard_normal((64, 6)).astype(np.float32))\n"
        "def features(x):\n    return x.flatten(1).float() @ W\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import studynet

        with torch.no_grad():
            real = studynet.features(to_uint8(studynet.build()(torch.randn(150, 32), None, noise_mode="const"))).numpy()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("studynet", None)
    np.save(tmp_path / "real.npy", real)
    r = study_cli("--network", "studynet:build()", "--real", "real.npy", "--detector", "studynet:features",
                  *SMALL_RUN, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in FILES:
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    r = study_cli("--network", "studynet:build()", "--real", "missing.npy", "--detector", "studynet:features",
                  "--outdir", "out", cwd=tmp_path)
    assert r.returncode == 2 and "missing.npy" in r.stderr


# ---- the detector path: NVIDIA-style TorchScript detectors, as the README's own example uses them ----

def _script_detector(tmp_path):
    from standins import TinyDetector, save_scripted

    path = tmp_path / "detector.pt"
    save_scripted(TinyDetector(), path)
    return path


def _real_through(detector_path, G, n=150):
    """Real features as a user computes them: uint8 images through the TorchScript file."""
    from hubness_fast.features import features

    with torch.no_grad():
        images = to_uint8(G(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(1)), None,
                            noise_mode="const"))
    return features(images, str(detector_path), progress=False)


def test_study_with_a_torchscript_detector_gives_it_uint8_rgb_and_takes_features(tmp_path):
    # The stand-in asserts uint8 [B, 3, H, W] and returns 16 features only with return_features=True
    # (10 class probabilities otherwise), as NVIDIA's files do; the generator is grey, 16 x 16.
    G = StyleGANStandIn(img_resolution=16, img_channels=1)
    path = _script_detector(tmp_path)
    real = _real_through(path, G)
    assert real.shape == (150, 16)
    report = run_study(G, str(path), real, tmp_path / "out", n=60, seeds=2, k=5, threshold=6, pool_size=300,
                       curve_tops=(0.05, 0.3), curve_psis=(0.3, 1.0), grid_size=16, verbose=False, progress=False)
    # Same generator, same detector: the random method must land near the real features, not at zero.
    assert report["table"]["random"]["precision"]["mean"] > 0.5
    assert report["table"]["random"]["recall"]["mean"] > 0.5
    fd = [r["FD"] for r in report["runs"]["random"]]
    assert len(set(fd)) == 2  # features vary with the seed

    # A module the user loaded with torch.jit.load goes through the same path (return_features honoured).
    with warnings.catch_warnings():  # torch 2.13 deprecates jit.load; NVIDIA's detectors are TorchScript
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning)
        loaded = torch.jit.load(str(path))
    again = run_study(G, loaded, real, tmp_path / "out2", n=60, seeds=2, k=5, threshold=6, pool_size=300,
                      curve_tops=(0.05, 0.3), curve_psis=(0.3, 1.0), grid_size=16, verbose=False, progress=False)
    assert again["table"] == report["table"]


def test_study_cli_with_a_torchscript_detector_file(tmp_path):
    (tmp_path / "tsnet.py").write_text("from standins import StyleGANStandIn\n"
                                       "def build():\n    return StyleGANStandIn(img_resolution=16, img_channels=1)\n")
    path = _script_detector(tmp_path)
    np.save(tmp_path / "real.npy", _real_through(path, StyleGANStandIn(img_resolution=16, img_channels=1)))
    r = study_cli("--network", "tsnet:build()", "--real", "real.npy", "--detector", "detector.pt", *SMALL_RUN,
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "table.json").read_text())
    assert report["table"]["random"]["precision"]["mean"] > 0.5
    assert "method" in r.stdout and "random" in r.stdout  # --quiet hides progress, not the table
    assert "study" not in r.stderr  # ... and no progress bar


def test_study_cli_takes_real_images_as_eval_does(tmp_path):
    # a folder of real PNGs goes through --detector: the same table as its features given as an .npy
    from hubness_fast.features import features
    from hubness_fast.sampling.images import write_png

    (tmp_path / "tsnet.py").write_text("from standins import StyleGANStandIn\n"
                                       "def build():\n    return StyleGANStandIn(img_resolution=16, img_channels=1)\n")
    path = _script_detector(tmp_path)
    G = StyleGANStandIn(img_resolution=16, img_channels=1)
    with torch.no_grad():
        images = to_uint8(G(torch.randn(120, G.z_dim, generator=torch.Generator().manual_seed(1)), None,
                            noise_mode="const"))
    (tmp_path / "real").mkdir()
    for i, img in enumerate(images.numpy()):
        write_png(tmp_path / "real" / f"{i:04d}.png", img[0])  # grey: [H, W]
    np.save(tmp_path / "real.npy", features(tmp_path / "real", str(path), progress=False))
    tables = []
    for real in ("real", "real.npy"):
        r = study_cli("--network", "tsnet:build()", "--real", real, "--detector", "detector.pt", *SMALL_RUN,
                      cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        tables.append(json.loads((tmp_path / "out" / "table.json").read_text())["table"])
    assert tables[0] == tables[1]


def test_a_failing_detector_is_reported_in_one_readable_line(tmp_path):
    # A detector whose assertion fails (it wants 3 channels at 8 x 8 from 4 x 4 blocks: 6 x 6 is not divisible)
    (tmp_path / "tsnet6.py").write_text("from standins import StyleGANStandIn\n"
                                        "def build():\n    return StyleGANStandIn(img_resolution=6, img_channels=3)\n")

    class Strict(torch.nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            assert x.shape[2] == 299, "expects 299 x 299 images"
            return x.float().flatten(1)

    from standins import save_scripted

    save_scripted(Strict(), tmp_path / "strict.pt")
    np.save(tmp_path / "real.npy", np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32))
    r = study_cli("--network", "tsnet6:build()", "--real", "real.npy", "--detector", "strict.pt", "--outdir", "out",
                  "--n", "20", "--seeds", "2", "--pool-size", "100", "--threshold", "3", "--quiet", "--device", "cpu",
                  cwd=tmp_path)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    # the two images that check the feature dimension, before any method
    assert "expects 299 x 299 images" in lines[0] and "uint8" in lines[0] and "(2, 3, 6, 6)" in lines[0]
    assert len(lines[0]) < 400  # the detector's own error, not TorchScript's whole serialized traceback


def test_the_detector_and_quality_get_their_images_on_the_study_device(tmp_path):
    # as features(device=) and `eval --device` hand them over: a detector on a GPU gets GPU images
    G = StyleGANStandIn(img_resolution=8, img_channels=1)
    seen, rng = set(), np.random.default_rng(1)

    def on_meta(images):  # a meta tensor has a shape but no values: answer with features of our own
        seen.add(images.device.type)
        return rng.standard_normal((len(images), 4)).astype(np.float32)
    real = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    run_study(G, on_meta, real, tmp_path, n=20, seeds=2, pool_size=100, threshold=3, curve_tops=(0.3,),
              curve_psis=(0.5,), quality=lambda x: on_meta(x)[:, 0], verbose=False, progress=False, device="meta")
    assert seen == {"meta"}


def test_a_detector_in_train_mode_inside_a_users_lambda_runs_in_eval_mode(tmp_path):
    # the study's device hand-over wraps the detector: the module inside the user's lambda is still found
    G = StyleGANStandIn(img_resolution=8, img_channels=1)
    modes = []

    class Recording(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.from_numpy(np.random.default_rng(0).standard_normal((64, 4))
                                                         .astype(np.float32)))

        def forward(self, x):
            modes.append(self.training)
            return x.flatten(1).float() @ self.w
    net = Recording().train()
    extractor = (lambda images: net(images))  # noqa: E731  the user's own wrapper
    with torch.no_grad():
        real = net(to_uint8(G(torch.randn(100, G.z_dim), None, noise_mode="const"))).numpy()
    modes.clear()
    run_study(G, extractor, real, tmp_path, n=20, seeds=2, pool_size=100, threshold=3, curve_tops=(0.3,),
              curve_psis=(0.5,), verbose=False, progress=False)
    assert modes and not any(modes) and net.training  # eval mode for every call, its own mode given back


def test_constant_features_stop_the_study(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1)
    real = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="same features to all 30 images of hubs W"):
        run_study(G, lambda x: torch.zeros(len(x), 4), real, tmp_path, n=30, seeds=2, pool_size=100, threshold=3,
                  verbose=False, progress=False)
    with pytest.raises(ValueError, match="same features to all 100 real images"):
        run_study(G, projector(64), np.ones((100, 4), np.float32), tmp_path, n=30, seeds=2, verbose=False,
                  progress=False)
    assert not (tmp_path / "table.json").exists()  # no verdict was written


def test_study_cli_on_the_bundled_model_with_the_bundled_detector(tmp_path):
    r = study_cli("--network", "hubness_fast.models:load_mnist_generator()", "--detector", "bundled", "--quality",
                  "bundled", "--outdir", str(tmp_path / "out"), "--n", "40", "--seeds", "2", "--pool-size", "300",
                  "--threshold", "4", "--quiet")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "table.json").read_text())
    assert report["settings"]["real_samples"] == 1000  # the held-out digits
    assert set(report["hub_vs_quality"]) == {"realism score", "classifier confidence"}  # --quality bundled, named
    assert report["table"]["random"]["precision"]["mean"] > 0.5
    r = study_cli("--network", "hubness_fast.models:load_mnist_generator()", "--detector", "x:y", "--outdir",
                  str(tmp_path / "o2"))
    assert r.returncode == 2 and "--real" in r.stderr and "required unless --detector bundled" in r.stderr


def test_bundled_detector_matches_the_classifier_on_the_digits_own_pixels():
    from hubness_fast.models.mnist import MnistDetector, held_out_features, load_mnist, load_mnist_classifier

    images, _ = load_mnist("test")
    with torch.no_grad():
        direct = load_mnist_classifier().features(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(held_out_features(), direct, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        MnistDetector()(torch.from_numpy(images[:2]))


def test_bundled_detector_takes_nvidias_return_features_keyword():
    # NVIDIA's metrics code calls detector(images, return_features=True); False gives class probabilities
    from hubness_fast.models.mnist import MnistDetector, load_mnist, load_mnist_classifier

    images, _ = load_mnist("test")
    u8 = torch.from_numpy(np.rint((images[:16].astype(np.float64) + 1.0) * 127.5).astype(np.uint8))
    det = MnistDetector()
    torch.testing.assert_close(det(u8, return_features=True), det(u8), rtol=0, atol=0)
    with torch.no_grad():
        logits = load_mnist_classifier()(u8.float() / 127.5 - 1.0)
    probs = det(u8, return_features=False)
    torch.testing.assert_close(probs, torch.softmax(logits, 1))
    torch.testing.assert_close(det.confidence(u8), probs.max(1).values, rtol=0, atol=0)
    with pytest.raises(TypeError, match="return_features must be True or False"):
        det(u8, return_features="yes")


def table_report(fd_random, fd_hubs):
    """A study report around two FD rows (mean, std), the other columns fixed: what print_table reads."""
    row = {m: {"mean": 0.5, "std": 0.01} for m in ("precision", "recall", "density", "coverage")}
    table = {"random": dict(row, FD={"mean": fd_random[0], "std": fd_random[1]}),
             "hubs W": dict(row, FD={"mean": fd_hubs[0], "std": fd_hubs[1]})}
    return {"table": table, "compared_to_random": compare_to_random(table),
            "pr_curve": {"hubs": [{}] * 4, "truncation": [{}] * 5},
            "claim": {"hub_points_above_truncation": 0.5, "truncation_points_above_hubs": 0.2,
                      "hub_points_with_a_truncation_rival": 3, "of_those_above": 1,
                      "hub_curve_above_truncation": False, "hubs_beat_random_precision": False,
                      "hubs_beat_random_FD": True, "holds": False}}


def test_printed_table_uses_significant_digits_for_small_fd(capsys):
    from hubness_fast.study.run import print_table

    print_table(table_report((0.000123456, 0.0000211), (0.0000987, 0.00001)))
    out = capsys.readouterr().out
    assert "0.0001235 ± 2.1e-05" in out and "9.87e-05 ± 1e-05" in out and "0.000 ±" not in out
    assert "2 of the 4 hub points" in out and "1 of the 5 truncation points" in out
    assert "1 of the hub points lie at a precision no truncation point reaches" in out
    assert out.count("method") == 1


@pytest.mark.parametrize("a, b", [
    (np.arange(1000) % 50, np.arange(1000) % 7 == 0),                 # heavy ties on both sides
    (np.repeat(np.arange(10), 100), (np.arange(1000) % 7 == 0) * 1.0),
    (np.array([3, 1, 4, 1, 5, 9, 2, 6]), np.array([2.7, 1.8, 2.8, 1.8, 4.5, 9.0, 4.5, 1.0])),
])
def test_spearman_uses_average_ranks_as_scipy(a, b):
    from scipy import stats

    from hubness_fast.study.run import _pearson, _spearman

    np.testing.assert_allclose(_spearman(a, b), stats.spearmanr(a, b).statistic, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_pearson(a * 1.0, b * 1.0), stats.pearsonr(a, b * 1.0).statistic, rtol=1e-12)


def test_a_constant_quality_gives_null_correlations_in_valid_json(tmp_path):
    G, extractor, real = stand_in_with_real()
    report = run_study(G, extractor, real, tmp_path, n=30, seeds=2, k=5, threshold=6, pool_size=200,
                       curve_tops=(0.3,), curve_psis=(1.0,), quality=lambda x: torch.ones(len(x)), grid_size=4,
                       verbose=False)

    def reject(name):
        raise ValueError(f"{name} in table.json")

    saved = json.loads((tmp_path / "table.json").read_text(), parse_constant=reject)
    for d in (report["hub_vs_quality"]["quality"], saved["hub_vs_quality"]["quality"]):
        assert d["spearman"] is None and d["pearson"] is None


def test_a_rerun_removes_the_grids_of_methods_it_lacks_and_keeps_other_files(tmp_path):
    G, extractor, real = stand_in_with_real()
    run_study(G, extractor, real, tmp_path, n=30, seeds=2, k=5, threshold=6, pool_size=200, curve_tops=(0.3,),
              curve_psis=(1.0,), grid_size=4, verbose=False, psis=(0.5,))
    assert (tmp_path / "grid_truncation_0.5.png").exists()
    (tmp_path / "notes.txt").write_bytes(b"the user's")
    report = run_study(G, extractor, real, tmp_path, n=30, seeds=2, seed=1, k=5, threshold=6, pool_size=200,
                       curve_tops=(0.3,), curve_psis=(1.0,), grid_size=4, verbose=False)
    assert not (tmp_path / "grid_truncation_0.5.png").exists() and (tmp_path / "grid_truncation_0.7.png").exists()
    assert (tmp_path / "notes.txt").read_bytes() == b"the user's"
    assert not (tmp_path / ".hubness-fast-study-unfinished").exists()
    # seed 1 draws from its own range: no run shares a seed with a study of seed 0 (they once overlapped)
    assert report["settings"]["seed"] == 1
    assert all(1_000_000 <= r["seed"] < 2_000_000 for runs in report["runs"].values() for r in runs)


def recording(extractor, seen):
    def detector(images):
        seen.append(len(images))
        return extractor(images)
    return detector


def test_a_folder_of_other_files_is_refused_before_any_work(tmp_path):
    """A study replaces its files and removes grids of methods it lacks: a folder it did not write
    (no table.json of a study) is refused, nothing in it touched, before any image is rendered."""
    G, extractor, real = stand_in_with_real()
    (tmp_path / "grid_final_paper.png").write_bytes(b"the user's figure")
    (tmp_path / "table.json").write_text('{"mine": 1}')
    seen = []
    with pytest.raises(ValueError, match="holds files and is not a study's folder .*grid_final_paper.png, table.json"):
        run_study(G, recording(extractor, seen), real, tmp_path, n=30, seeds=2, pool_size=200, threshold=6,
                  verbose=False, progress=False)
    assert seen == [] and (tmp_path / "grid_final_paper.png").read_bytes() == b"the user's figure"
    assert (tmp_path / "table.json").read_text() == '{"mine": 1}'
    r = study_cli("--network", "standins:StyleGANStandIn(img_resolution=8, img_channels=1)", "--detector", "bundled",
                  "--outdir", str(tmp_path), "--quiet")
    assert r.returncode == 2 and "is not a study's folder" in r.stderr
    assert (tmp_path / "table.json").read_text() == '{"mine": 1}'


@pytest.mark.parametrize("bad, match", [
    ("nan", r"real contains NaN or Inf \(first at row 7\)"),
    ("few", r"the real features have 5 rows: density and coverage \(k = 5\) need at least 6"),
])
def test_bad_real_features_stop_the_study_before_any_image_and_leave_no_folder(tmp_path, bad, match):
    G, extractor, real = stand_in_with_real()
    if bad == "nan":
        real[7, 1] = np.nan
    else:
        real = real[:5]
    seen, out = [], tmp_path / "new"
    with pytest.raises(ValueError, match=match):
        run_study(G, recording(extractor, seen), real, out, n=30, seeds=2, pool_size=200, threshold=6,
                  verbose=False, progress=False)
    assert seen == [] and not out.exists()
    np.save(tmp_path / "real.npy", real)
    r = study_cli("--network", "no_such_module:build()", "--real", "real.npy", "--detector", "bundled",
                  "--outdir", "out", cwd=tmp_path)  # refused before the network is looked for
    assert r.returncode == 2 and re.search(match, r.stderr) and not (tmp_path / "out").exists(), r.stderr


def test_study_sizes_are_refused_by_their_own_names(tmp_path, capsys):
    """n below 4 used to fail after the first method ran, with a message about --k (precision's k = 3)."""
    G, extractor, real = stand_in_with_real()
    for kwargs, match in ((dict(n=3), "n must be an integer of at least 4"), (dict(seeds=1), "seeds must be"),
                          (dict(seeds=1001), "seeds must be an integer from 2 .* to 1000"),
                          (dict(seed=-1), "seed must be an integer >= 0")):
        with pytest.raises(ValueError, match=match):
            run_study(G, extractor, real, tmp_path / "o", **{"n": 30, "seeds": 2, **kwargs}, verbose=False)
    from hubness_fast import cli

    for args, says in ((("--n", "3"), "--n must be an integer >= 4, got 3"),
                       (("--seed", "-2"), "--seed must be an integer >= 0"),
                       (("--quality-label", "sharpness"), "--quality-label names the scores of --quality")):
        with pytest.raises(SystemExit) as stop:  # before the network is looked for
            cli.main(["study", "--network", "no_such_module:build()", "--detector", "bundled", "--outdir",
                      str(tmp_path / "o"), *args])
        assert stop.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_quality_giving_the_wrong_number_of_scores_is_refused_on_two_images(tmp_path):
    G, extractor, real = stand_in_with_real()
    seen = []
    with pytest.raises(ValueError, match="quality returned 4 scores for 2 images"):
        run_study(G, recording(extractor, seen), real, tmp_path / "o", n=30, seeds=2, pool_size=200, threshold=6,
                  quality=lambda x: torch.zeros(2 * len(x)), verbose=False, progress=False)
    assert seen == [2] and not (tmp_path / "o").exists()  # the probe pair only, no method run


def test_a_study_cut_off_while_writing_is_marked_unfinished_and_can_be_rerun(tmp_path, monkeypatch):
    """The files are written after the table's data: while they are, the folder is marked and holds no
    table.json, so figures of one run never sit beside the table of another; the same folder is
    taken again. A study that fails before writing leaves no folder it created."""
    from hubness_fast.study import figures

    G, extractor, real = stand_in_with_real()
    small = dict(n=30, seeds=2, k=5, threshold=6, pool_size=200, curve_tops=(0.3,), curve_psis=(1.0,), grid_size=4,
                 verbose=False, progress=False)
    run_study(G, extractor, real, tmp_path, **small)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(figures, "hub_histogram", full_disk)
    with pytest.raises(OSError):
        run_study(G, extractor, real, tmp_path, **{**small, "seed": 3})
    assert (tmp_path / ".hubness-fast-study-unfinished").exists() and not (tmp_path / "table.json").exists()
    monkeypatch.undo()
    with pytest.warns(UserWarning, match=r"another study \(the settings differ \(seed\)\)"):  # seed 3's steps
        again = run_study(G, extractor, real, tmp_path, **small)
    assert json.loads((tmp_path / "table.json").read_text())["claim"] == again["claim"]
    assert json.loads((tmp_path / "table.json").read_text())["settings"]["seed"] == 0
    assert not (tmp_path / ".hubness-fast-study-unfinished").exists()


def counting(extractor, calls, fail_at=None, exc=KeyboardInterrupt):
    def detector(images):
        calls.append(len(images))
        if fail_at is not None and len(calls) == fail_at:
            raise exc("cut off")
        return extractor(images)
    return detector


SAME_STUDY = ("table", "runs", "compared_to_random", "pr_curve", "hub_values", "hub_vs_quality", "distance_to_mean",
              "claim", "settings")


def test_a_cut_off_study_goes_on_from_its_kept_steps(tmp_path):
    """Ctrl-C mid-study keeps every finished step in .study-progress; the same study again renders and
    scores only what is left and writes the table, figures and grids an uninterrupted run writes."""
    G, extractor, real = stand_in_with_real()
    small = dict(n=30, seeds=2, k=5, threshold=6, pool_size=200, curve_tops=(0.3,), curve_psis=(1.0,), grid_size=4,
                 quality=lambda x: x.float().mean((1, 2, 3)), verbose=False, progress=False)
    full_calls = []
    whole = run_study(G, counting(extractor, full_calls), real, tmp_path / "whole", **small)
    calls = []
    with pytest.raises(KeyboardInterrupt):
        run_study(G, counting(extractor, calls, fail_at=6), real, tmp_path / "cut", **small)
    kept = sorted(p.name for p in (tmp_path / "cut" / ".study-progress").iterdir())
    assert "run_0_0.json" in kept and "run_0_0.npz" in kept and "grid_hubs_W.png" in kept and "key.json" in kept
    assert not (tmp_path / "cut" / "table.json").exists()
    again = []
    resumed = run_study(G, counting(extractor, again), real, tmp_path / "cut", **small)
    assert len(again) < len(full_calls) - 3  # the finished steps were not rendered or scored again
    for part in SAME_STUDY:
        assert resumed[part] == whole[part], part
    for name in ("grid_hubs_W.png", "grid_random.png", "hub_histogram.png", "pr_curve.png"):
        np.testing.assert_array_equal(read_png(tmp_path / "cut" / name), read_png(tmp_path / "whole" / name))
    assert not (tmp_path / "cut" / ".study-progress").exists()  # gone once the table is written


def test_steps_of_another_study_are_not_reused(tmp_path):
    """Other settings (or data, or models) give another key: the kept steps are dropped, not mixed in."""
    G, extractor, real = stand_in_with_real()
    small = dict(n=30, seeds=2, k=5, threshold=6, pool_size=200, curve_tops=(0.3,), curve_psis=(1.0,), grid_size=4,
                 verbose=False, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_study(G, counting(extractor, [], fail_at=5), real, tmp_path, **small)
    assert (tmp_path / ".study-progress" / "run_0_0.json").exists()
    calls = []
    with pytest.warns(UserWarning, match=r"steps kept in .* are of another study \(the real features differ\): "
                                         r"starting over"):
        other = run_study(G, counting(extractor, calls), real[::-1].copy(), tmp_path, **small)
    fresh_calls = []
    fresh = run_study(G, counting(extractor, fresh_calls), real[::-1].copy(), tmp_path / "fresh", **small)
    assert len(calls) == len(fresh_calls) and other["runs"] == fresh["runs"]


def test_resume_takes_numpy_settings_and_a_detector_with_noise_in_its_last_bits(tmp_path):
    """A detector whose features vary in their last bits from run to run (a GPU's kernels, noise) is the
    same study: its probe features are compared to a relative 1e-4, not hashed. numpy integers are
    settings like any (the key once failed to be written as JSON, leaving an empty folder)."""
    G, extractor, real = stand_in_with_real()
    noise = np.random.default_rng(5)

    def noisy(images):
        out = extractor(images)
        return out * (1 + 1e-7 * torch.from_numpy(noise.standard_normal(out.shape).astype(np.float32)))

    small = dict(n=np.int64(30), seeds=np.int64(2), k=np.int64(5), threshold=np.int64(6), pool_size=np.int64(200),
                 curve_tops=(np.float32(0.3),), curve_psis=(1.0,), grid_size=4, verbose=False, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_study(G, counting(noisy, [], fail_at=5), real, tmp_path, **small)
    again = []
    report = run_study(G, counting(noisy, again), real, tmp_path, **small)
    full = []
    run_study(G, counting(noisy, full), real, tmp_path / "full", **small)
    assert len(again) == len(full) - 3 and report["settings"]["n"] == 30


def test_a_study_folder_keeps_a_users_grid_and_a_bare_progress_folder_is_a_studys(tmp_path):
    """Only the grids an earlier study listed in its table.json are removed; a folder holding nothing but
    an empty .study-progress (a run cut off while creating it) is taken, not refused."""
    from hubness_fast.study.run import check_study_folder

    G, extractor, real = stand_in_with_real()
    small = dict(n=30, seeds=2, k=5, threshold=6, pool_size=200, curve_tops=(0.3,), curve_psis=(1.0,), grid_size=4,
                 verbose=False, progress=False)
    run_study(G, extractor, real, tmp_path, psis=(0.5,), **small)
    (tmp_path / "grid_my_own.png").write_bytes(b"the user's")
    report = run_study(G, extractor, real, tmp_path, **small)
    assert not (tmp_path / "grid_truncation_0.5.png").exists() and (tmp_path / "grid_my_own.png").exists()
    assert report["grids"] == ["grid_hubs_W.png", "grid_hubs_Z.png", "grid_random.png", "grid_truncation_0.7.png",
                               "grid_truncation_0.3.png"]
    (tmp_path / "bare" / ".study-progress").mkdir(parents=True)
    check_study_folder(tmp_path / "bare")


def test_study_log_keys_compare_whole_class_arrays(tmp_path):
    """repr() elides arrays past 1 000 elements: two class lists differing in the middle were one study."""
    from hubness_fast.study.resume import StudyLog

    classes = np.arange(2000) % 7
    key = {"settings": {"classes": classes.tolist()}, "real": "h", "probe": [1.0, 2.0]}
    log = StudyLog(tmp_path, key)
    log.put("run 0 0", {"FD": 1.0})
    assert StudyLog(tmp_path, key).get("run 0 0") == ({"FD": 1.0}, {})
    other = classes.copy()
    other[1000] += 1
    with pytest.warns(UserWarning, match=r"the settings differ \(classes\)"):
        assert StudyLog(tmp_path, {**key, "settings": {"classes": other.tolist()}}).get("run 0 0") is None


def test_a_study_that_fails_before_its_first_step_leaves_no_folder(tmp_path):
    G, extractor, real = stand_in_with_real()
    with pytest.raises(RuntimeError, match="cut off"):
        run_study(G, counting(extractor, [], fail_at=2, exc=RuntimeError), real, tmp_path / "fresh", n=30, seeds=2,
                  threshold=6, pool_size=200, verbose=False, progress=False)
    assert not (tmp_path / "fresh").exists()


def test_figures_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from hubness_fast.study import figures

    path = tmp_path / "hub_histogram.png"
    figures.hub_histogram(path, np.arange(50) % 7, 5, 5, 50)
    before = path.read_bytes()

    def half_written(self, f, **kwargs):
        f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_written)
    with pytest.raises(OSError):
        figures.hub_histogram(path, np.arange(50) % 3, 5, 5, 50)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["hub_histogram.png"]


def test_a_wrong_feature_dimension_stops_the_study_before_any_method_runs(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1)
    seen = []
    extractor = projector(64)

    def recording(images):
        seen.append(len(images))
        return extractor(images)

    with pytest.raises(ValueError, match="real features have 4 dimensions but the detector gives 8"):
        run_study(G, recording, np.random.default_rng(0).standard_normal((50, 4)), tmp_path, n=30, seeds=2,
                  pool_size=200, threshold=6, verbose=False)
    assert seen == [2]  # two probe images, no method sampled


def test_printed_table_stays_aligned_for_large_fd(capsys):
    from hubness_fast.study.run import print_table

    print_table(table_report((91160.0, 100.0), (51160.0, 11000.0)))
    lines = capsys.readouterr().out.splitlines()[:3]
    assert "5.116e+04 ± 1.1e+04 +" in lines[2]
    assert len({len(line) for line in lines}) == 1  # header and rows end at the same column
    plus_minus = [[i for i, ch in enumerate(line) if ch == "±"] for line in lines[1:]]
    assert plus_minus[0][1:] == plus_minus[1][1:]  # the columns after FD line up row to row
