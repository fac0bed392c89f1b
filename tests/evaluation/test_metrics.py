"""Evaluation metrics against the reference formulas on float64 matrices."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import metrics
from hubness_fast.evaluation.manifold import Manifold
from oracles import brute_hub_counts, brute_prdc, brute_rarity


@pytest.fixture
def features(rng):
    real = rng.standard_normal((500, 24))
    fake = rng.standard_normal((450, 24)) * 1.2 + 0.3
    return real, fake


def test_prdc_matches_reference_formulas(features):
    real, fake = features
    got = metrics.prdc(real, fake, k=5)
    want = brute_prdc(real, fake, 5)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_precision_recall_inclusive_default(features):
    real, fake = features
    p, r = metrics.precision_recall(real, fake)
    want = brute_prdc(real, fake, 3, inclusive=True)
    assert (p, r) == pytest.approx((want["precision"], want["recall"]), abs=1e-12)


def test_density_coverage(features):
    real, fake = features
    d, c = metrics.density_coverage(real, fake, k=5)
    want = brute_prdc(real, fake, 5)
    assert (d, c) == pytest.approx((want["density"], want["coverage"]), abs=1e-12)


def test_matches_prdc_package_when_installed(features):
    prdc_pkg = pytest.importorskip("prdc")
    real, fake = features
    want = prdc_pkg.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    got = metrics.prdc(real, fake, k=5)
    assert got == {key: float(v) for key, v in want.items()}  # identical, to the last bit


def test_constant_features_strict_and_inclusive():
    real = np.ones((50, 4))
    fake = np.ones((40, 4))
    d, c = metrics.density_coverage(real, fake)  # prdc: every radius 0, strict < finds nothing
    assert (d, c) == (0.0, 0.0)
    d, c = metrics.density_coverage(real, fake, inclusive=True)
    assert (d, c) == (40 * 50 / (5 * 40), 1.0)
    assert metrics.precision_recall(real, fake) == (1.0, 1.0)
    assert metrics.prdc(real, fake)["precision"] == 0.0


def test_duplicates_and_ties():
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(6)), -1).reshape(-1, 2).astype(np.float64)
    real = np.concatenate([grid, grid[:10]])
    fake = grid + np.array([1.0, 0.0])  # on the lattice: fakes on the balls' edges, where < and <= part
    assert brute_prdc(real, fake, 3) != brute_prdc(real, fake, 3, inclusive=True)
    for inclusive in (False, True):
        want = brute_prdc(real, fake, 3, inclusive=inclusive)
        p, r = metrics.precision_recall(real, fake, k=3, inclusive=inclusive)
        assert (p, r) == pytest.approx((want["precision"], want["recall"]), abs=1e-12)
        d, c = metrics.density_coverage(real, fake, k=3, inclusive=inclusive)
        assert (d, c) == pytest.approx((want["density"], want["coverage"]), abs=1e-12)


def test_rarity_score(features):
    real, fake = features
    res = metrics.rarity_score(real, fake, k=3)
    want, inside = brute_rarity(real, fake, 3)
    np.testing.assert_allclose(res.scores, want, rtol=1e-12)
    np.testing.assert_array_equal(res.in_manifold, inside)
    assert set(res.ranking) == set(np.flatnonzero(inside))
    assert np.all(np.diff(res.scores[res.ranking]) <= 0)  # rarest first
    last = metrics.rarity_score(real, fake, k=3, out_of_manifold="last")
    assert len(last.ranking) == len(fake) and set(last.ranking[-(~inside).sum():]) == set(np.flatnonzero(~inside))
    nan = metrics.rarity_score(real, fake, k=3, out_of_manifold="nan")
    assert np.all(np.isnan(nan.scores[~inside]))
    with pytest.raises(ValueError, match="out_of_manifold"):
        metrics.rarity_score(real, fake, out_of_manifold="drop")


def test_frechet_distance_against_scipy_sqrtm(rng):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 8))
    b = rng.standard_normal((300, 8)) * 0.7 + 0.2
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2).real
    want = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert metrics.frechet_distance(a, b) == pytest.approx(want, rel=1e-8)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # one-dimensional Gaussians: (m1 - m2)^2 + (s1 - s2)^2
    assert metrics.frechet_distance_from_stats([0.0], [[4.0]], [1.0], [[9.0]]) == pytest.approx(1 + 1)


@pytest.mark.parametrize("args, message", [
    ((np.zeros(3), -np.eye(3), np.zeros(3), np.eye(3)), r"sigma1 has a negative eigenvalue \(-1\)"),
    ((np.zeros(2), np.eye(2), np.zeros(2), [[1.0, 0.5], [0.0, 1.0]]), "sigma2 is not symmetric"),
    ((np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0))), "d >= 1"),
    ((np.zeros((3, 3)), np.eye(3), np.zeros(3), np.eye(3)), r"means \[d\] and covariances \[d, d\]"),
    ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), r"mu2 \(4,\)"),
])
def test_frechet_distance_from_stats_refuses_what_is_no_covariance(args, message):
    # -I gave 0.0 (its eigenvalues clipped to 0) and a non-symmetric matrix was symmetrised, without a word
    with pytest.raises(ValueError, match=message):
        metrics.frechet_distance_from_stats(*args)


def test_frechet_distance_from_stats_takes_covariances_kept_in_float32(rng):
    a, b = rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64)), rng.standard_normal((400, 64))
    s1, s2 = (np.cov(x, rowvar=False).astype(np.float32) for x in (a, b))  # rounding: asymmetry about 1e-7
    s1 = s1.copy()
    s1[0, 1] *= np.float32(1 + 2**-20)
    want = metrics.frechet_distance(a, b)
    got = metrics.frechet_distance_from_stats(a.mean(0), s1, b.mean(0), s2)
    assert got == pytest.approx(want, rel=1e-5)


def test_frechet_distance_singular_covariance(rng):
    a = np.zeros((100, 5))
    a[:, 0] = rng.standard_normal(100)  # rank one
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-10)


def test_hubness_stats_formulas(rng):
    x = rng.standard_normal((400, 30))
    counts = brute_hub_counts(x, 10)
    st = hf.hubness_stats(x, k=10)
    c = counts.astype(float)
    s = np.sort(c)
    n = len(c)
    gini_pairs = np.abs(c[:, None] - c[None, :]).sum() / (2 * n * n * c.mean())  # the O(N^2) definition
    assert st["gini"] == pytest.approx(gini_pairs, rel=1e-12)
    assert st["robinhood"] == pytest.approx(0.5 * np.abs(c - 10).sum() / c.sum(), rel=1e-12)
    assert st["k_skewness"] == pytest.approx(((c - c.mean()) ** 3).mean() / c.std() ** 3, rel=1e-12)
    assert st["atkinson"] == pytest.approx(1 - np.mean(np.sqrt(c)) ** 2 / c.mean(), rel=1e-12)
    assert st["antihub_occurrence"] == np.mean(c == 0)
    assert st["hub_occurrence"] == pytest.approx(c[c >= 20].sum() / (n * 10))
    assert st["groupie_ratio"] == s[-1] / n
    assert hf.hubness_stats(counts=counts, k=10) == st


def test_hubness_stats_hand_computed():
    st = hf.hubness_stats(counts=np.array([0, 0, 4, 4]), k=2)
    assert st["antihub_occurrence"] == 0.5
    assert st["hub_occurrence"] == 1.0 and st["groupie_ratio"] == 1.0
    assert st["robinhood"] == pytest.approx(0.5)
    assert st["gini"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="either"):
        hf.hubness_stats()


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k must be an integer >= 1"), ({"k": -1}, "k must be an integer >= 1"),
    ({"k": 2.5}, "k must be an integer >= 1"), ({"k": 2, "hub_size": -1}, "hub_size must be a positive"),
    ({"k": 2, "hub_size": float("nan")}, "hub_size must be a positive"), ({"k": 2, "hub_size": "2"}, "hub_size"),
])
def test_hubness_stats_refuses_meaningless_k_and_hub_size(kwargs, match):
    counts = np.array([0, 0, 4, 4])
    with pytest.raises(ValueError, match=match):
        hf.hubness_stats(counts=counts, **kwargs)
    assert hf.hubness_stats(counts=counts, k=2, hub_size=1.5)["hub_occurrence"] == 1.0  # 4 >= 3


def test_hubness_stats_takes_the_data_or_the_counts_not_both(rng):
    x = rng.standard_normal((30, 3))
    with pytest.raises(ValueError, match="not both"):
        hf.hubness_stats(x, 5, counts=np.array([0, 0, 10]))


def realism_by_differences(real, fake, k):
    """max_i r_i / d(fake, real_i), every real ball kept, from float64 differences."""
    def d2(a, b):
        diff = a[:, None, :] - b[None, :, :]
        return (diff * diff).sum(axis=2)
    rr = d2(real, real)
    np.fill_diagonal(rr, np.inf)
    r = np.sqrt(np.sort(rr, axis=1)[:, k - 1])
    with np.errstate(divide="ignore"):
        return (r[None] / np.sqrt(d2(fake, real))).max(axis=1)


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_realism_uses_exact_float64_distances(offset):
    rng = np.random.default_rng(4)
    real = rng.standard_normal((300, 8)) + offset
    fake = np.concatenate([rng.standard_normal((100, 8)) + offset, real[:50]])  # 50 fakes on real centres
    got = metrics.realism_score(real, fake, clamp_to_percentile=None)
    want = realism_by_differences(real, fake, 3)
    assert np.isinf(got[100:]).all() and np.isinf(want[100:]).all()
    np.testing.assert_allclose(got[:100], want[:100], rtol=1e-13)


def test_realism_where_zero_rows_meet_a_zero_radius():
    # five real rows of zeros have radius 0; a fake row of zeros is at 0 from them: 0 / 0 there must not
    # hide the other reals' ratios
    rng = np.random.default_rng(0)
    real = rng.standard_normal((40, 4))
    real[:5] = 0
    fake = np.vstack([np.zeros((1, 4)), rng.standard_normal((3, 4))])
    got = metrics.realism_score(real, fake, clamp_to_percentile=None)
    with np.errstate(invalid="ignore"):
        want = np.nan_to_num(realism_by_differences_with_nan(real, fake, 3), nan=0.0)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert got[0] > 0


def realism_by_differences_with_nan(real, fake, k):
    """max over reals of r_i / d, with 0 / 0 taken as no ratio (NaN, skipped by nanmax)."""
    rr = ((real[:, None] - real[None]) ** 2).sum(-1)
    np.fill_diagonal(rr, np.inf)
    r = np.sqrt(np.sort(rr, axis=1)[:, k - 1])
    d = np.sqrt(((fake[:, None] - real[None]) ** 2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nanmax(r[None] / d, axis=1)


@pytest.mark.parametrize("side", ["real", "fake"])
def test_too_large_values_name_their_set(features, side):
    real, fake = features
    big = (real if side == "real" else fake).copy()
    big[17] *= 1e19
    args = (big, fake) if side == "real" else (real, big)
    with pytest.raises(ValueError, match=f"^{side} row 17 has a squared norm above 1e36"):
        metrics.prdc(*args)
    metrics.rarity_score(*args, metric="cosine")  # rows scaled to unit norm first: no such limit


def test_frechet_distance_of_a_set_to_itself_is_zero(rng):
    x = rng.standard_normal((200, 5))
    assert metrics.frechet_distance(x, x) == 0.0


def test_cosine_refuses_the_rows_the_engines_cosine_refuses(rng):
    # rows at 1e-160 kept underflowed squares (a "unit" row of norm 0.9998) and from about 1e-162 were called
    # "all zeros"; rows beyond the float64 range became zeros. The engine's limits and messages apply.
    real, fake = rng.standard_normal((60, 8)), rng.standard_normal((50, 8))
    ref = Manifold(real, k=3, metric="cosine")
    np.testing.assert_allclose(ref.realism(fake * 1e-100), ref.realism(fake), rtol=1e-12)
    for scale, message in ((1e-160, "fake row 3 has a squared norm below 2\\^-969"),
                           (1e-170, "fake row 3 has a squared norm below 2\\^-969"),
                           (1e200, "fake has a squared norm beyond the float64 range \\(first at row 3\\)")):
        bad = fake.copy()
        bad[3] *= scale
        with pytest.raises(ValueError, match=message):
            ref.realism(bad)
        with pytest.raises(ValueError, match=message.replace("fake", "x")):
            hf.knn(bad, 3, metric="cosine")  # the same words as the k-NN engine's
    zero = fake.copy()
    zero[5] = 0
    with pytest.raises(ValueError, match="fake row 5 is all zeros"):
        ref.realism(zero)


def test_a_float_k_is_a_value_error(rng):
    real, fake = rng.standard_normal((40, 4)), rng.standard_normal((40, 4))
    for call in (lambda: metrics.density_coverage(real, fake, k=2.0), lambda: metrics.rarity_score(real, fake, k=2.0),
                 lambda: metrics.realism_score(real, fake, k=2.0), lambda: Manifold(real, k=2.0)):
        with pytest.raises(ValueError, match="k must be an integer >= 1, got 2.0"):
            call()


def test_too_few_samples_name_the_set(rng):
    real, fake = rng.standard_normal((40, 4)), rng.standard_normal((40, 4))
    with pytest.raises(ValueError, match="fake samples other than the point itself; fake has 4"):
        Manifold(real, k=(3, 5)).evaluate(fake[:4])
    with pytest.raises(ValueError, match="real samples other than the point itself; real has 3"):
        metrics.density_coverage(real[:3], fake, k=3)


def test_bad_rows_are_named_by_set_before_any_pass(rng, monkeypatch):
    from hubness_fast.evaluation import metrics as metrics_module

    real, fake = rng.standard_normal((40, 4)), rng.standard_normal((40, 4))
    fake[2, 1] = np.nan
    monkeypatch.setattr(metrics_module, "_hubs_and_radii", lambda *a, **k: pytest.fail("a pass ran"))
    with pytest.raises(ValueError, match=r"fake contains NaN or Inf \(first at row 2\)"):
        metrics.efficient_precision_recall(real, fake)
    with pytest.raises(ValueError, match=r"fake contains NaN or Inf \(first at row 2\)"):
        metrics.frechet_distance(real, fake)
    with pytest.raises(ValueError, match="real features have 4 dimensions but fake features have 3"):
        metrics.frechet_distance(real, np.nan_to_num(fake)[:, :3])


def test_k_may_be_given_by_position_after_the_data_as_prdc_takes_it(features):
    real, fake = features
    prdc_pkg = pytest.importorskip("prdc")
    assert metrics.prdc(real, fake, 4) == {key: float(v) for key, v in prdc_pkg.compute_prdc(real, fake, 4).items()}
    want = brute_prdc(real, fake, 4, inclusive=True)
    assert tuple(metrics.precision_recall(real, fake, 4)) == pytest.approx((want["precision"], want["recall"]),
                                                                           abs=1e-12)
    for fn in (metrics.density_coverage, metrics.rarity_score, metrics.efficient_precision_recall):
        assert repr(fn(real, fake, 4)) == repr(fn(real, fake, k=4))
    np.testing.assert_array_equal(metrics.realism_score(real, fake, 4), metrics.realism_score(real, fake, k=4))
    x = real.astype(np.float32)
    assert hf.hubness_stats(x, 4) == hf.hubness_stats(x, k=4) != hf.hubness_stats(x, k=5)
    with pytest.raises(TypeError):
        metrics.prdc(real, fake, 4, None)  # the rest stays keyword-only


def test_the_shortcuts_take_cosine_as_the_manifold_does(rng):
    """Cosine containment is Euclidean containment of unit rows (|a - b|^2 = 2 (1 - cos)): the oracle
    normalises, then applies prdc's formulas."""
    real, fake = rng.standard_normal((300, 8)) + 0.5, rng.standard_normal((250, 8)) * 1.2 + 0.3
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (real, fake)]
    want = brute_prdc(*unit, 5)
    assert metrics.prdc(real, fake, 5, metric="cosine") == pytest.approx(want, abs=1e-12)
    dc = metrics.density_coverage(real, fake, 5, metric="cosine")
    assert (dc.density, dc.coverage) == pytest.approx((want["density"], want["coverage"]), abs=1e-12)
    pr = metrics.precision_recall(real, fake, 3, metric="cosine")
    inclusive = brute_prdc(*unit, 3, inclusive=True)
    assert tuple(pr) == pytest.approx((inclusive["precision"], inclusive["recall"]), abs=1e-12)
    assert tuple(pr) != tuple(metrics.precision_recall(real, fake, 3))  # the metric reached the balls


def test_hubness_stats_counts_with_the_metric_asked(rng):
    x = rng.standard_normal((400, 6)) * np.r_[5.0, np.ones(5)] + 2.0
    cos = hf.hubness_stats(x, 5, metric="cosine", device="cpu")
    assert cos == hf.hubness_stats(counts=brute_hub_counts(x, 5, metric="cosine"), k=5)
    assert cos != hf.hubness_stats(x, 5)
