"""The study (table with spreads, P-R curves, poster figures) on a stand-in generator, its pieces
on hand-computed cases, and the bundled MNIST model and demo."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from hubness_fast import metrics
from hubness_fast.study import above_envelope, compare_to_random, run_study
from standins import StyleGANStandIn

TESTS = Path(__file__).resolve().parent
FILES = ("table.json", "pr_curve.png", "hub_vs_quality.png", "distance_to_mean.png", "hub_histogram.png")


def projector(d_in, d_out=8, seed=0):
    w = torch.from_numpy(np.random.default_rng(seed).standard_normal((d_in, d_out)).astype(np.float32))
    return lambda images: images.flatten(1) @ w


def test_study_on_a_stand_in_writes_every_file_with_independent_seeds(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1)
    extractor = projector(64)
    with torch.no_grad():
        real = extractor(G(torch.randn(200, G.z_dim), None, noise_mode="const") * 0.9).numpy()
    report = run_study(G, extractor, real, tmp_path, n=60, seeds=3, k=5, threshold=6, pool_size=300,
                       curve_tops=(0.05, 0.3), curve_psis=(0.3, 1.0), quality=lambda x: x.mean((1, 2, 3)),
                       grid_size=16, verbose=False)
    for name in FILES + ("grid_hubs_W.png", "grid_hubs_Z.png", "grid_random.png", "grid_truncation_0.7.png",
                         "grid_truncation_0.3.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert set(report["table"]) == {"hubs W", "hubs Z", "random", "truncation 0.7", "truncation 0.3"}
    seeds = [r["seed"] for runs in report["runs"].values() for r in runs]
    assert len(seeds) == len(set(seeds)) == 15  # every (method, repetition) has its own seed
    for runs in report["runs"].values():  # independent seeds give different samples, so different metrics
        assert len({r["FD"] for r in runs}) == 3
    fd = [r["FD"] for r in report["runs"]["random"]]
    assert report["table"]["random"]["FD"]["mean"] == pytest.approx(np.mean(fd))
    assert report["table"]["random"]["FD"]["std"] == pytest.approx(np.std(fd, ddof=1))
    assert json.loads((tmp_path / "table.json").read_text())["claim"] == report["claim"]
    assert {"hub_vs_quality", "distance_to_mean", "hub_values", "pr_curve"} <= set(report)
    assert set(report["hub_vs_quality"]) == {"realism score", "quality"}
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
        "def features(x):\n    return x.flatten(1) @ W\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import studynet

        with torch.no_grad():
            real = studynet.features(studynet.build()(torch.randn(150, 32), None, noise_mode="const")).numpy()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("studynet", None)
    np.save(tmp_path / "real.npy", real)
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "study", "--network", "studynet:build()",
                        "--real", "real.npy", "--detector", "studynet:features", "--outdir", "out", "--n", "40",
                        "--seeds", "2", "--pool-size", "200", "--threshold", "5", "--quiet", "--device", "cpu"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    for name in FILES:
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "study", "--network", "studynet:build()",
                        "--real", "missing.npy", "--detector", "studynet:features", "--outdir", "out"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 2 and "missing.npy" in r.stderr
