"""Instance selection scores and per-class selection."""
import numpy as np
import pytest

from hubness_fast import selection
from oracles import kth_radius2


def gaussian_logpdf(x):
    """scipy's log density of each row under the Gaussian fitted to x (maximum likelihood covariance,
    plus 1e-5 on its diagonal as DeVries et al.'s code adds)."""
    stats = pytest.importorskip("scipy.stats")
    cov = np.cov(x, rowvar=False, bias=True) + 1e-5 * np.eye(x.shape[1])
    return stats.multivariate_normal(x.mean(0), cov).logpdf(x)


def test_gaussian_scores_match_scipy(rng):
    x = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    np.testing.assert_allclose(selection.instance_scores(x, method="gaussian"), gaussian_logpdf(x), rtol=1e-9)


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


def _sklearn_pca(x, n_components):
    """scikit-learn's PCA fitted with the full SVD (the solver the package reproduces; for
    300 x 600 the default "auto" would pick the approximate randomized one)."""
    decomposition = pytest.importorskip("sklearn.decomposition")
    return decomposition.PCA(n_components=n_components, svd_solver="full").fit(x)


def _package_q(x, variance, reference_components):
    """The package's component count, from scikit-learn's explained variance ratios: the fewest
    reaching `variance`, clamped to [1, d - 1]; with reference_components one fewer, in [0, d - 1]."""
    ratio = np.cumsum(_sklearn_pca(x, None).explained_variance_ratio_)
    q = int(np.argmax(ratio >= variance - 1e-12)) + 1
    return min(q - 1, x.shape[1] - 1) if reference_components else min(max(q, 1), x.shape[1] - 1)


def _mixed(rng, n, d):
    return rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d) + 2.0


@pytest.mark.parametrize("n, d", [(300, 600), (200, 200), (1000, 50)], ids=["n<d", "n=d", "n>d"])
@pytest.mark.parametrize("reference_components", [False, True])
@pytest.mark.parametrize("variance", [0.5, 0.95])
def test_ppca_equals_sklearn_score_samples(rng, n, d, reference_components, variance):
    # sklearn's noise variance averages explained_variance_[q:] over min(n, d) - q values; for n < d
    # averaging the d - q discarded eigenvalues instead changed about a quarter of the 50 % selections at 300 x 600
    x = _mixed(rng, n, d)
    got = selection.instance_scores(x, method="ppca", variance=variance,
                                    reference_components=reference_components)
    q = _package_q(x, variance, reference_components)
    assert 1 <= q < min(n, d)
    pca = _sklearn_pca(x, q)
    assert pca.noise_variance_ > 0
    np.testing.assert_allclose(got, pca.score_samples(x), rtol=1e-9, atol=0)
    if not reference_components:  # sklearn's float n_components picks the same q here (no share equals `variance`)
        by_share = _sklearn_pca(x, variance)
        assert by_share.n_components_ == q
        np.testing.assert_allclose(got, by_share.score_samples(x), rtol=1e-9, atol=0)


@pytest.mark.parametrize("reference_components", [False, True])
def test_select_instances_ppca_ranks_like_sklearn(rng, reference_components):
    x = _mixed(rng, 600, 600)
    labels = np.repeat([0, 1], 300)  # 300 x 600 per class: n < d
    keep = selection.select_instances(x, labels, retention=50, method="ppca",
                                      reference_components=reference_components)
    want = []
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        q = _package_q(x[idx], 0.95, reference_components)
        s = _sklearn_pca(x[idx], q).score_samples(x[idx])
        want.append(idx[s > np.percentile(s, 50)])
    np.testing.assert_array_equal(keep, np.sort(np.concatenate(want)))


def test_ppca_one_feature_is_sklearns_zero_noise_gaussian(rng):
    # d = 1: q = 1 = min(n, d), sklearn's noise_variance_ is 0 and the model is the sample variance
    x = 3.0 * rng.standard_normal((50, 1)) + 1.0
    got = selection.instance_scores(x, method="ppca")
    pca = _sklearn_pca(x, 1)
    assert pca.noise_variance_ == 0
    np.testing.assert_allclose(got, pca.score_samples(x), rtol=1e-9, atol=0)
    var = x.var(ddof=1)
    np.testing.assert_allclose(got, -0.5 * (np.log(2 * np.pi * var) + (x[:, 0] - x.mean()) ** 2 / var), rtol=1e-12)


def test_ppca_rank_deficient(rng):
    low = rng.standard_normal((50, 2)) @ rng.standard_normal((2, 6)) + 1.0  # rank 2: q = 2 leaves no noise
    with pytest.raises(ValueError, match="rank 2 <= q = 2"):
        selection.instance_scores(low, method="ppca", variance=0.95)
    # one component fewer leaves a positive noise variance (with four zero tail values in its mean)
    got = selection.instance_scores(low, method="ppca", variance=0.95, reference_components=True)
    np.testing.assert_allclose(got, _sklearn_pca(low, 1).score_samples(low), rtol=1e-9, atol=0)
    two = rng.standard_normal((2, 5))  # two samples span one direction: the package's q = 1 leaves no noise,
    with pytest.raises(ValueError, match="rank 1 <= q = 1"):
        selection.instance_scores(two, method="ppca")
    got = selection.instance_scores(two, method="ppca", reference_components=True)  # the reference's q = 0 does
    np.testing.assert_allclose(got, _sklearn_pca(two, 0).score_samples(two), rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="rank 1 <= q = 1"):  # a constant column
        selection.instance_scores(np.c_[rng.standard_normal(20), np.full(20, 3.3)], method="ppca")
    with pytest.raises(ValueError, match="constant"):
        selection.instance_scores(np.full((10, 3), 3.3), method="ppca")
    with pytest.raises(ValueError, match="constant"):
        selection.select_instances(np.ones((10, 3)), method="ppca")
    with pytest.raises(ValueError, match="two samples"):
        selection.instance_scores(np.ones((1, 3)), method="ppca")


def test_knn_scores(rng):
    x = rng.standard_normal((300, 5))
    np.testing.assert_allclose(selection.instance_scores(x, method="knn", k=5), -np.sqrt(kth_radius2(x, 5)), rtol=1e-12)


def test_select_instances_per_class_strictly_above_percentile(rng):
    x = rng.standard_normal((600, 4))
    labels = np.repeat([0, 1, 2], 200)
    keep = selection.select_instances(x, labels, retention=30, method="gaussian")
    for cls in range(3):
        idx = np.flatnonzero(labels == cls)
        s = gaussian_logpdf(x[idx])  # scipy's, fitted to the class alone
        want = idx[s > np.percentile(s, 70)]
        np.testing.assert_array_equal(np.intersect1d(keep, idx), want)
    assert keep.dtype == np.int64 and np.all(np.diff(keep) > 0)


def test_reference_components_keeps_none_where_the_first_reaches_the_variance(rng):
    """The reference counts the shares below 0.95 (0 here) and fits PCA(n_components=0): one isotropic
    Gaussian; the package's own rule keeps one component."""
    x = rng.standard_normal((400, 8)) * np.r_[40.0, np.ones(7)]
    assert _sklearn_pca(x, None).explained_variance_ratio_[0] > 0.95
    got = selection.instance_scores(x, method="ppca", reference_components=True)
    np.testing.assert_allclose(got, _sklearn_pca(x, 0).score_samples(x), rtol=1e-9, atol=0)
    np.testing.assert_allclose(selection.instance_scores(x, method="ppca"), _sklearn_pca(x, 1).score_samples(x),
                               rtol=1e-9, atol=0)
    one = 2.0 * rng.standard_normal((60, 1))  # d = 1: q = 0 as well
    np.testing.assert_allclose(selection.instance_scores(one, method="ppca", reference_components=True),
                               _sklearn_pca(one, 0).score_samples(one), rtol=1e-9, atol=0)


def test_retention_100_keeps_every_instance_as_the_reference():
    """The rule (strictly above the 0th percentile) would drop each class's lowest score; the reference
    returns the data unchanged at 100."""
    x = np.random.default_rng(2).standard_normal((40, 3))
    labels = np.repeat([0, 1], 20)
    for method in ("gaussian", "ppca", "knn"):
        np.testing.assert_array_equal(selection.select_instances(x, labels, retention=100, method=method),
                                      np.arange(40))
    assert selection.select_instances(x, labels, retention=99.9).size < 40


def test_a_setting_of_another_method_is_refused_before_any_class(rng):
    x = rng.standard_normal((20, 3))
    for method, kw, applies in (("gaussian", {"k": 3}, "knn"), ("knn", {"variance": 0.5}, "ppca"),
                                ("gaussian", {"reference_components": True}, "ppca")):
        with pytest.raises(ValueError, match=f"^{next(iter(kw))} applies to method='{applies}', not method='{method}'"):
            selection.select_instances(x, method=method, **kw)
        with pytest.raises(ValueError, match="applies to method"):
            selection.instance_scores(x, method=method, **kw)
    with pytest.raises(ValueError, match="^variance, reference_components apply to method='ppca', not method='knn'"):
        selection.select_instances(x, method="knn", variance=0.5, reference_components=True)
    with pytest.raises(ValueError, match=r"^variance must be in \(0, 1\], got 1.5"):
        selection.select_instances(x, method="ppca", variance=1.5)
    with pytest.raises(ValueError, match=r"^k must be an integer >= 1, got 0"):
        selection.select_instances(x, method="knn", k=0)
    with pytest.raises(ValueError, match="reference_components must be True or False, got 'no'"):
        selection.select_instances(x, method="ppca", reference_components="no")
    for retention in (50, 100):  # nothing is scored at 100, but a misspelt setting is still refused
        with pytest.raises(TypeError, match="unexpected keyword argument 'refrence_components'"):
            selection.select_instances(x, retention=retention, method="ppca", refrence_components=True)


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


@pytest.mark.parametrize("labels, retention, match", [
    (np.r_[np.zeros(18), np.nan, np.nan], 50, r"labels contain NaN or Inf \(first at row 18\)"),
    ([None] * 10 + [1] * 10, 50, "labels mix NoneType, int"),
    (None, "50", "retention is a percentage"),
    (None, True, "retention is a percentage"),
])
def test_selection_refuses_missing_or_mixed_labels_and_a_text_retention(rng, labels, retention, match):
    """NaN labels were each a class of 0 samples ("class nan has 0 sample"); mixed kinds and a text
    retention gave numpy's TypeError."""
    with pytest.raises(ValueError, match=match):
        selection.select_instances(rng.standard_normal((20, 3)), labels, retention=retention)


def test_an_unknown_method_is_no_class_error(rng):
    with pytest.raises(ValueError, match=r"^method must be 'gaussian', 'ppca' or 'knn', got 'bogus'"):
        selection.select_instances(rng.standard_normal((20, 3)), method="bogus")


def test_selection_errors_name_the_class(rng):
    """A class too small for the chosen k (or rank-deficient for ppca) is named, with its own size:
    the engine's message speaks of N, which here is that class's size, not the data's."""
    x = rng.standard_normal((30, 3))
    labels = np.array(["big"] * 25 + ["small"] * 5)
    with pytest.raises(ValueError, match=r"^class 'small' \(5 samples\): k must be between 1 and 4"):
        selection.select_instances(x, labels, method="knn", k=5)
    with pytest.raises(ValueError, match=r"^class 3 has 1 sample"):
        selection.select_instances(x, np.r_[np.zeros(29, int), 3])
    kept = selection.select_instances(x, labels, method="knn", k=4)
    for cls in ("big", "small"):  # each class kept by its own rule
        idx = np.flatnonzero(labels == cls)
        scores = -np.sqrt(kth_radius2(x[idx], 4))  # minus the 4th other point's distance, within the class
        np.testing.assert_array_equal(np.intersect1d(kept, idx), idx[scores > np.percentile(scores, 50)])


@pytest.mark.parametrize("method", ["gaussian", "ppca", "knn"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_embeddings_are_refused_by_name(rng, method, bad):
    # the Gaussian scores were all NaN (nothing selected, no error); PPCA failed inside numpy's SVD
    x = rng.standard_normal((40, 3))
    x[23, 1] = bad
    with pytest.raises(ValueError, match=r"embeddings contains NaN or Inf \(first at row 23\)"):
        selection.instance_scores(x, method=method)
    labels = np.arange(40) % 2
    with pytest.raises(ValueError, match=r"embeddings contains NaN or Inf \(first at row 23\)"):
        selection.select_instances(x, labels, method=method)


@pytest.mark.parametrize("method", ["gaussian", "ppca"])
def test_embeddings_whose_covariance_overflows_are_refused(rng, method):
    # the Gaussian scores were all -inf (nothing selected, numpy warnings only); PPCA called the data constant
    x = rng.standard_normal((50, 4)) * 1e160
    with pytest.raises(ValueError, match=rf"method='{method}': embeddings as large as .* overflow float64"):
        selection.select_instances(x, method=method)
    assert len(selection.select_instances(x / 1e60, method=method)) == 25  # large but within range: half kept


def test_variance_given_as_a_string_is_refused(rng):
    with pytest.raises(ValueError, match=r"variance must be in \(0, 1\], got 0.9"):
        selection.instance_scores(rng.standard_normal((40, 3)), method="ppca", variance="0.9")
