"""hubness_fast.evaluation.scorecard (what `hubness-fast eval` prints and writes): each value and its
bootstrap bounds describe one statistic, against numpy float64 formulas; every value is valid JSON."""
import json

import numpy as np
import pytest

from hubness_fast.evaluation import scorecard


def sq_dist(a, b):
    """float64 squared Euclidean distances by explicit differences, [len(a), len(b)]."""
    diff = a.astype(np.float64)[:, None, :] - b.astype(np.float64)[None, :, :]
    return (diff * diff).sum(axis=2)


def radii2(real, k):
    """Squared k-th nearest other real sample distance of every real sample."""
    d2 = sq_dist(real, real)
    np.fill_diagonal(d2, np.inf)
    return np.sort(d2, axis=1)[:, k - 1]


def rarity_oracle(real, fake, k):
    """Han et al.'s rarity of the in-manifold fakes: the smallest radius of a real ball holding it (d < r)."""
    r2 = radii2(real, k)
    inside = sq_dist(fake, real) < r2[None]
    r = np.where(inside, np.sqrt(r2)[None], np.inf).min(axis=1)
    return r[inside.any(axis=1)], inside.any(axis=1)


def realism_oracle(real, fake, k):
    """max_i r_i / d(fake, real_i) over the real balls at or below the median radius."""
    r = np.sqrt(radii2(real, k))
    keep = r <= np.percentile(r, 50)
    with np.errstate(divide="ignore"):
        return (r[keep][None] / np.sqrt(sq_dist(fake, real[keep]))).max(axis=1)


def test_rarity_mean_is_the_in_manifold_mean_its_interval_resamples():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 6))
    fake = rng.standard_normal((250, 6)) * 1.3 + 0.2
    values = scorecard.evaluate(real, fake, ("rarity",), n_boot=200)
    want, inside = rarity_oracle(real, fake, 3)
    assert 0 < inside.mean() < 1  # some fakes outside the manifold, whose score 0 must not count
    np.testing.assert_allclose(values["rarity_mean"], want.mean(), rtol=1e-12)
    assert values["rarity_in_manifold"] == inside.mean()
    assert values["rarity_mean_low"] <= values["rarity_mean"] <= values["rarity_mean_high"]


def test_realism_mean_counts_copies_of_real_samples_apart_and_stays_valid_json():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((300, 8))
    fake = np.concatenate([rng.standard_normal((200, 8)), real[:50]])  # 50 copies of real samples
    values = scorecard.evaluate(real, fake, ("realism", "rarity"), n_boot=100)
    want = realism_oracle(real, fake, 3)
    finite = np.isfinite(want)
    assert values["realism_inf"] == np.count_nonzero(~finite) > 0
    np.testing.assert_allclose(values["realism_mean"], want[finite].mean(), rtol=1e-12)
    assert values["realism_mean_low"] <= values["realism_mean"] <= values["realism_mean_high"]
    json.dumps(values, allow_nan=False)


def test_undefined_values_are_null():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((100, 4))
    values = scorecard.evaluate(real, real[:10] + 100.0, ("rarity",), n_boot=20)  # no fake in the manifold
    assert values["rarity_mean"] is None and values["rarity_mean_low"] is None
    assert values["rarity_in_manifold"] == 0.0
    json.dumps(values, allow_nan=False)
    assert "nan" in scorecard.table(values)


def fd_oracle(a, b):
    """FD by scipy's matrix square root, in float64."""
    import scipy.linalg

    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_saved_cosine_reference_gives_fd_of_raw_features_and_knn_metrics_of_unit_rows(tmp_path):
    from hubness_fast import metrics
    from hubness_fast.evaluation.manifold import Manifold

    rng = np.random.default_rng(2)
    real = rng.standard_normal((300, 12)) * 3 + 1
    fake = rng.standard_normal((250, 12)) * 3 + 1.6
    path = Manifold(real, (3, 5), metric="cosine").save(tmp_path / "cos.npz")
    values = scorecard.evaluate(Manifold.load(path), fake, ("fid", "pr", "eprc"))
    np.testing.assert_allclose(values["fid"], fd_oracle(real, fake), rtol=1e-9)
    ur, uf = unit(real), unit(fake)
    inside = sq_dist(uf, ur) <= radii2(ur, 3)[None]
    assert values["precision"] == inside.any(1).mean()
    assert values["recall"] == (sq_dist(ur, uf) <= radii2(uf, 3)[None]).any(1).mean()
    e = metrics.efficient_precision_recall(ur, uf, k=3)
    assert (values["eprc_precision"], values["eprc_recall"]) == (e.precision, e.recall)


def test_a_reference_holding_only_unit_rows_refuses_fd(tmp_path):
    from hubness_fast.evaluation.manifold import Manifold

    rng = np.random.default_rng(3)
    real = rng.standard_normal((50, 4)) + 1
    m = Manifold(real, 3, metric="cosine")
    np.savez(tmp_path / "old.npz", k=np.array(m.k), radius2=m.radius2[3][:, None], metric=np.array("cosine"),
             hash=np.array(m.hash), features=m.features)  # the layout of files written before raw_features
    old = Manifold.load(tmp_path / "old.npz")
    assert old.raw is None
    with pytest.raises(ValueError, match="unit-normalised"):
        scorecard.evaluate(old, real, ("fid",))
    assert scorecard.evaluate(old, real, ("pr",))["precision"] == 1.0


def test_only_the_radii_the_chosen_metrics_need_are_fitted(monkeypatch):
    from hubness_fast.evaluation import manifold

    fitted = []
    real_radii2 = manifold.radii2
    monkeypatch.setattr(manifold, "radii2", lambda x, ks, **kw: fitted.append(tuple(ks)) or real_radii2(x, ks, **kw))
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((5, 3)), rng.standard_normal((40, 3))
    np.testing.assert_allclose(scorecard.evaluate(real, fake, ("fid",), k_dc=7)["fid"], fd_oracle(real, fake),
                               rtol=1e-9)
    assert fitted == []  # no neighbour search for FD, and 5 real samples are enough
    scorecard.evaluate(real, fake, ("pr",), k=3, k_dc=7)
    assert fitted == [(3,), (3,)]  # the real and the fake radii, k only


@pytest.mark.parametrize("real_n, fake_n, chosen, message", [
    (40, 5, ("prdc",), "the fake set has 5 samples: k_dc=5 needs at least 6"),
    (40, 3, ("dc", "pr"), "the fake set has 3 samples: k=3 needs at least 4"),
    (3, 40, ("pr",), "the real set has 3 samples: k=3 needs at least 4"),
])
def test_too_few_samples_name_the_side_and_the_parameter(real_n, fake_n, chosen, message):
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match=message):
        scorecard.evaluate(rng.standard_normal((real_n, 3)), rng.standard_normal((fake_n, 3)), chosen)


def test_a_few_fakes_are_scored_by_the_metrics_that_need_no_fake_radii():
    """Density, coverage, rarity and realism use only the real balls: 5 fakes at k_dc = 5 were refused
    although density_coverage scores them. The recalls need the fakes' own radii."""
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((60, 4)), rng.standard_normal((5, 4)) * 0.5
    got = scorecard.evaluate(real, fake, ("dc", "rarity", "realism"), n_boot=30)
    inside = sq_dist(real, fake) < radii2(real, 5)[:, None]  # Naeem et al.'s formulas, k = 5, d < r
    assert 0 < inside.sum() and not inside.any(1).all()
    assert got["density"] == pytest.approx(inside.sum() / (5 * len(fake)), rel=1e-12)
    assert got["coverage"] == pytest.approx(inside.any(1).mean(), rel=1e-12)
    rarity, _ = rarity_oracle(real, fake, 3)
    assert got["rarity_mean"] == pytest.approx(rarity.mean(), rel=1e-12)
    realism = realism_oracle(real, fake, 3)
    assert got["realism_mean"] == pytest.approx(realism[np.isfinite(realism)].mean(), rel=1e-12)
    assert got["density_low"] <= got["density"] <= got["density_high"] and "recall" not in got


def test_nan_in_the_fake_features_names_the_side_and_row_before_fd():
    rng = np.random.default_rng(6)
    fake = rng.standard_normal((30, 3))
    fake[7, 1] = np.inf
    with pytest.raises(ValueError, match=r"fake contains NaN or Inf \(first at row 7\)"):
        scorecard.evaluate(rng.standard_normal((30, 3)), fake)


def test_prdc_density_and_coverage_get_the_intervals_of_density_and_coverage():
    rng = np.random.default_rng(7)
    values = scorecard.evaluate(rng.standard_normal((100, 4)), rng.standard_normal((90, 4)), ("dc", "prdc"),
                                n_boot=30)
    for name in ("density", "coverage"):
        assert values[f"prdc_{name}_low"] == values[f"{name}_low"]
        assert values[f"prdc_{name}_high"] == values[f"{name}_high"]


def test_progress_does_not_change_the_callers_reference(rng):
    from hubness_fast.evaluation.manifold import Manifold

    real, fake = rng.standard_normal((200, 4)), rng.standard_normal((150, 4))
    for own in (False, True):
        m = Manifold(real, (3, 5), progress=own)
        scorecard.evaluate(m, fake, ("pr",), progress=True)
        assert m.progress is own
