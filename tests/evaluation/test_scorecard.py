"""hubness_fast.evaluation.scorecard (what `hubness-fast eval` prints and writes): each value and its
bootstrap bounds describe one statistic, against numpy float64 formulas; every value is valid JSON."""
import json

import numpy as np

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
