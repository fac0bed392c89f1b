"""A smoke run of the demo on a tiny configuration, and the bundled models."""
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")


def test_demo_tiny(tmp_path):
    from hubness_fast.demo import run_demo

    table = run_demo(out_dir=tmp_path, n=150, pool_size=800, top=0.05, verbose=False)
    assert set(table) == {"hubs", "random", "truncation 0.7", "truncation 0.3"}
    for row in table.values():
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and 0 <= row["coverage"] <= 1
        assert row["FD"] >= 0 and row["density"] >= 0
    for name in ("grid_hubs.png", "grid_random.png", "grid_truncation_0.3.png", "grid_truncation_0.7.png",
                 "hub_histogram.png", "hub_vs_quality.png", "table.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "table.json").read_text())["hubs"]["precision"] == table["hubs"]["precision"]


def test_bundled_models_load_and_classify():
    import torch

    from hubness_fast.models import load_classifier, load_digits_images, load_generator

    images, labels = load_digits_images()
    clf = load_classifier()
    with torch.no_grad():
        acc = (clf(torch.from_numpy(images)).argmax(1).numpy() == labels).mean()
        fakes = load_generator()(torch.randn(16, 64))
    assert acc > 0.95  # trained on 1 500 of these 1 797 images
    assert fakes.shape == (16, 1, 8, 8) and float(fakes.abs().max()) <= 1.0
