"""Instance selection scores and per-class selection."""
import numpy as np
import pytest

from hubness_fast import selection
from oracles import kth_radius2


def test_gaussian_scores_match_scipy(rng):
    stats = pytest.importorskip("scipy.stats")
    x = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    cov = np.cov(x, rowvar=False, bias=True) + 1e-5 * np.eye(6)
    want = stats.multivariate_normal(x.mean(0), cov).logpdf(x)
    np.testing.assert_allclose(selection.instance_scores(x, method="gaussian"), want, rtol=1e-9)


def test_ppca_scores_match_sklearn(rng):
    decomposition = pytest.importorskip("sklearn.decomposition")
    x = rng.standard_normal((400, 12)) * np.linspace(5, 0.1, 12)
    scores = selection.instance_scores(x, method="ppca", variance=0.95)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    q = int(np.argmax(np.cumsum(eig) / eig.sum() >= 0.95)) + 1  # first count reaching 95 %
    want = decomposition.PCA(n_components=q).fit(x).score_samples(x)
    np.testing.assert_allclose(scores, want, rtol=1e-8)
    ref = selection.instance_scores(x, method="ppca", variance=0.95, reference_components=True)
    np.testing.assert_allclose(ref, decomposition.PCA(n_components=q - 1).fit(x).score_samples(x), rtol=1e-8)


def test_knn_scores(rng):
    x = rng.standard_normal((300, 5))
    np.testing.assert_allclose(selection.instance_scores(x, method="knn", k=5), -np.sqrt(kth_radius2(x, 5)), rtol=1e-12)


def test_select_instances_per_class_strictly_above_percentile(rng):
    x = rng.standard_normal((600, 4))
    labels = np.repeat([0, 1, 2], 200)
    keep = selection.select_instances(x, labels, retention=30, method="gaussian")
    for cls in range(3):
        idx = np.flatnonzero(labels == cls)
        s = selection.instance_scores(x[idx], method="gaussian")
        want = idx[s > np.percentile(s, 70)]
        np.testing.assert_array_equal(np.intersect1d(keep, idx), want)
    assert keep.dtype == np.int64 and np.all(np.diff(keep) > 0)


def test_select_instances_drops_ties_at_threshold():
    x = np.ones((10, 3))  # every score equal: nothing is strictly above the percentile
    assert selection.select_instances(x, retention=50, method="knn").size == 0


def test_selection_bad_input(rng):
    x = rng.standard_normal((20, 3))
    with pytest.raises(ValueError, match="method"):
        selection.instance_scores(x, method="kde")
    with pytest.raises(ValueError, match="retention"):
        selection.select_instances(x, retention=0)
    with pytest.raises(ValueError, match="labels"):
        selection.select_instances(x, labels=np.zeros(5))
