"""hubness_fast.neighbors against scikit-learn's own brute-force transformer and its estimator checks."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
import scipy.sparse as sp  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.neighbors import KNeighborsTransformer as SkTransformer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from hubness_fast.neighbors import KNeighborsTransformer, umap_knn
from hubness_fast.neighbors.estimators import n_jobs_to_threads  # noqa: E402
from oracles import brute_knn  # noqa: E402

# Checks this estimator fails on purpose, with the reason (scikit-learn's expected_failed_checks).
EXPECTED_FAILED_CHECKS: dict = {}


@parametrize_with_checks([KNeighborsTransformer(), KNeighborsTransformer(mode="connectivity", n_neighbors=3)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture
def x(rng):
    return rng.standard_normal((300, 12))


class ExactSkTransformer(SkTransformer):
    """scikit-learn's brute-force transformer with its Euclidean distances recomputed by explicit
    differences in float64. From 1.9 on, scikit-learn keeps the rounding of the expansion
    ||x||^2 - 2 x.y + ||y||^2 in float64 too (a point's distance to itself comes out as 6e-8), which an
    exact engine does not have; its neighbour order is kept as it is, so an order that differs from
    the exact one still shows."""

    def fit(self, X, y=None):
        self.exact_x_ = np.asarray(X, dtype=np.float64)
        return super().fit(X, y)

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        result = super().kneighbors(X, n_neighbors, return_distance)
        if not return_distance or self.effective_metric_ not in ("euclidean", "sqeuclidean"):
            return result
        _, ind = result
        q = self.exact_x_ if X is None else np.asarray(X, dtype=np.float64)
        d = ((q[:, None, :] - self.exact_x_[ind]) ** 2).sum(axis=2)
        return (np.sqrt(d) if self.effective_metric_ == "euclidean" else d), ind


def sk(mode="distance", n_neighbors=5, metric="euclidean", **kwargs):
    return ExactSkTransformer(mode=mode, n_neighbors=n_neighbors, metric=metric, algorithm="brute", **kwargs)


def assert_same_graph(a, b, rtol=1e-12):
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    assert a.shape == b.shape and a.format == b.format == "csr"
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_graph_equals_sklearn_without_ties(x, mode, metric):
    ours = KNeighborsTransformer(mode=mode, n_neighbors=7, metric=metric)
    theirs = sk(mode, 7, metric)
    assert_same_graph(ours.fit_transform(x), theirs.fit_transform(x))
    q = x[:40] + 0.01
    assert_same_graph(ours.transform(q), theirs.transform(q))
    assert_same_graph(ours.kneighbors_graph(mode=mode), theirs.kneighbors_graph(mode=mode))
    d, i = ours.kneighbors()
    sd, si = theirs.kneighbors()
    np.testing.assert_array_equal(i, si)
    np.testing.assert_allclose(d, sd, rtol=1e-12, atol=1e-12)


def test_distance_mode_layout(x):
    g = KNeighborsTransformer(n_neighbors=5).fit_transform(x)
    assert g.shape == (300, 300) and g.nnz == 300 * 6
    rows = [g.data[g.indptr[r]:g.indptr[r + 1]] for r in range(300)]
    assert all(np.all(np.diff(r) >= 0) for r in rows)   # sorted by distance
    np.testing.assert_array_equal(g.indices[g.indptr[:-1]], np.arange(300))  # self first, stored as an explicit 0
    assert np.all(g.data[g.indptr[:-1]] == 0)
    d, i = brute_knn(x, 5, metric="euclidean")
    np.testing.assert_array_equal(g.indices.reshape(300, 6)[:, 1:], i)


def test_ties_ordered_by_index(rng):
    x = rng.integers(0, 3, size=(200, 3)).astype(np.float64)  # many equal distances and duplicates
    t = KNeighborsTransformer(n_neighbors=6).fit(x)
    d, i = t.kneighbors()
    od, oi = brute_knn(x, 6, metric="euclidean")
    np.testing.assert_array_equal(i, oi)
    np.testing.assert_allclose(d, od, rtol=1e-15)


def test_protocol_and_params(x, rng):
    t = KNeighborsTransformer(n_neighbors=4, n_jobs=-1)
    assert clone(t).get_params() == t.get_params()
    t.set_params(n_neighbors=3)
    assert t.n_neighbors == 3
    t.fit(x)
    assert t.n_features_in_ == 12 and t.n_samples_fit_ == 300
    assert len(t.get_feature_names_out()) == 300
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(x, columns=[f"f{j}" for j in range(12)])
    t.fit(df)
    assert list(t.feature_names_in_) == list(df.columns)
    assert n_jobs_to_threads(None) is None and n_jobs_to_threads(3) == 3 and n_jobs_to_threads(-1) >= 1


def test_bad_input(x):
    with pytest.raises(ValueError, match="metric"):
        KNeighborsTransformer(metric="inner_product").fit(x)
    with pytest.raises(ValueError, match="mode"):
        KNeighborsTransformer(mode="weights").fit(x)
    with pytest.raises(ValueError, match="n_neighbors"):
        KNeighborsTransformer(n_neighbors=0).fit(x)
    t = KNeighborsTransformer(n_neighbors=5).fit(x[:5])
    with pytest.raises(ValueError, match="n_samples_fit - 1"):
        t.kneighbors()
    with pytest.raises(ValueError, match="features"):
        t.transform(x[:3, :5])


def embed_pair(estimator_factory, x):
    """The same estimator on our graph and on scikit-learn's brute-force graph."""
    ours = make_pipeline(KNeighborsTransformer(n_neighbors=10), estimator_factory())
    theirs = make_pipeline(sk("distance", 10), estimator_factory())
    return ours, theirs


def test_tsne_isomap_spectral_in_a_pipeline(x):
    from sklearn.manifold import TSNE, Isomap, SpectralEmbedding

    for factory in (lambda: TSNE(metric="precomputed", init="random", perplexity=3, max_iter=250, random_state=0),
                    lambda: Isomap(metric="precomputed", n_neighbors=10),
                    lambda: SpectralEmbedding(affinity="precomputed_nearest_neighbors", n_neighbors=10,
                                              random_state=0)):
        ours, theirs = embed_pair(factory, x)
        np.testing.assert_allclose(ours.fit_transform(x), theirs.fit_transform(x), rtol=1e-7, atol=1e-7)


def test_dbscan_hdbscan_classifier_in_a_pipeline(x, rng):
    from sklearn.cluster import DBSCAN, HDBSCAN
    from sklearn.datasets import make_blobs
    from sklearn.neighbors import KNeighborsClassifier

    blobs, _ = make_blobs(300, n_features=12, centers=3, cluster_std=1.5, center_box=(-3, 3), random_state=0)

    ours, theirs = embed_pair(lambda: DBSCAN(metric="precomputed", eps=5.0, min_samples=4), blobs)
    got = ours.fit_predict(blobs)
    np.testing.assert_array_equal(got, theirs.fit_predict(blobs))
    assert len(set(got) - {-1}) >= 2  # a non-trivial clustering
    # HDBSCAN asks for a symmetric matrix, which no k-NN graph is (scikit-learn's own neither):
    # both graphs symmetrized the same way, by the larger of the two directions
    from sklearn.preprocessing import FunctionTransformer

    sym = FunctionTransformer(lambda g: g.maximum(g.T).tocsr(), accept_sparse=True)
    labels = [make_pipeline(t, sym, HDBSCAN(metric="precomputed", min_samples=4, copy=True)).fit_predict(blobs)
              for t in (KNeighborsTransformer(n_neighbors=10), sk("distance", 10))]
    np.testing.assert_array_equal(labels[0], labels[1])
    assert len(set(labels[0]) - {-1}) >= 2
    y = (x[:, 0] > 0).astype(int)
    ours, theirs = embed_pair(lambda: KNeighborsClassifier(n_neighbors=10, metric="precomputed"), x)
    q = rng.standard_normal((50, 12))
    np.testing.assert_array_equal(ours.fit(x, y).predict(q), theirs.fit(x, y).predict(q))
    np.testing.assert_allclose(ours.predict_proba(q), theirs.predict_proba(q))


def test_umap_layout(x):
    ids, dists = umap_knn(x, 8)
    assert ids.shape == dists.shape == (300, 8) and dists.dtype == np.float32
    np.testing.assert_array_equal(ids[:, 0], np.arange(300))
    assert np.all(dists[:, 0] == 0)
    d, i = brute_knn(x, 7, metric="euclidean")
    np.testing.assert_array_equal(ids[:, 1:], i)
    np.testing.assert_array_equal(dists[:, 1:], d.astype(np.float32))
    with pytest.raises(ValueError, match="n_neighbors"):
        umap_knn(x, 1)


@pytest.mark.parametrize("name, params", [(name, {}) for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl", "csls"]]
                         + [(name, {"compat": "skhubness"}) for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl"]])
def test_hubness_reduction_graph_is_the_reduction_of_the_candidates(x, rng, name, params):
    from hubness_fast.reduction import make_reduction

    t = KNeighborsTransformer(n_neighbors=5, hubness=name, hubness_params=params, n_candidates=20).fit(x)
    red = make_reduction(name, **params)
    d, i = brute_knn(x, 20, metric="euclidean")  # float64 candidates
    red.fit(d, i, x if red.needs_vectors else None)
    sec, ind = red.transform(d, i, x if red.needs_vectors else None)
    got_d, got_i = t.kneighbors()
    np.testing.assert_array_equal(got_i, ind[:, :5])
    np.testing.assert_allclose(got_d, sec[:, :5], rtol=1e-9, atol=1e-12)
    g = t.fit_transform(x)  # the fitted points as queries: self first at 0, then the 5 re-ranked
    np.testing.assert_array_equal(g.indices.reshape(300, 6)[:, 0], np.arange(300))
    np.testing.assert_array_equal(g.indices.reshape(300, 6)[:, 1:], ind[:, :5])
    q = rng.standard_normal((30, 12))
    dq, iq = brute_knn(x, 20, queries=q, metric="euclidean")
    sq, indq = red.transform(dq, iq, q if red.needs_vectors else None)
    np.testing.assert_array_equal(t.kneighbors(q)[1], indq[:, :5])


def test_hubness_reduced_classifier_lowers_hubness(rng):
    from sklearn.neighbors import KNeighborsClassifier

    from hubness_fast.reduction import Hubness

    x = rng.standard_normal((800, 50))
    y = (x[:, 0] > 0).astype(int)
    plain = KNeighborsTransformer(n_neighbors=10, mode="connectivity").fit(x).kneighbors_graph()
    reduced = KNeighborsTransformer(n_neighbors=10, mode="connectivity", hubness="mp").fit(x).kneighbors_graph()

    def skew(g):
        counts = np.bincount(g.indices, minlength=800).astype(float)
        return ((counts - counts.mean()) ** 3).mean() / counts.std() ** 3

    assert skew(reduced) < 0.6 * skew(plain)
    assert Hubness(k=10).fit(x).score() == pytest.approx(skew(plain), rel=1e-9)
    for alias in ("l2", "minkowski"):  # scikit-learn's names, as the other estimators take them
        assert Hubness(k=10, metric=alias).fit(x).score() == Hubness(k=10).fit(x).score()
    with pytest.raises(ValueError, match="metric"):
        Hubness(k=10, metric="manhattan").fit(x).score()
    clf = make_pipeline(KNeighborsTransformer(n_neighbors=10, hubness="mp"),
                        KNeighborsClassifier(n_neighbors=10, metric="precomputed"))
    q = rng.standard_normal((50, 50))
    proba = clf.fit(x, y).predict_proba(q)
    assert proba.shape == (50, 2) and np.allclose(proba.sum(1), 1)


def test_readme_tsne_snippet_runs_at_the_default_perplexity(rng):
    # TSNE wants 3 * perplexity + 1 = 91 neighbours per row besides the self entry (README).
    from sklearn.manifold import TSNE

    X = rng.standard_normal((200, 8)).astype(np.float32)
    emb = make_pipeline(KNeighborsTransformer(n_neighbors=91),
                        TSNE(metric="precomputed", init="random", max_iter=250, random_state=0)).fit_transform(X)
    assert emb.shape == (200, 2) and np.isfinite(emb).all()
    with pytest.raises(ValueError, match="92 neighbors per samples are required"):
        make_pipeline(KNeighborsTransformer(n_neighbors=90),
                      TSNE(metric="precomputed", init="random", max_iter=250)).fit_transform(X)


def test_which_reductions_a_precomputed_classifier_takes(rng):
    # README: mp, ls, nicdm give values >= 0 and work in KNeighborsClassifier(metric="precomputed");
    # dsl and csls give negative values, which scikit-learn refuses.
    from sklearn.neighbors import KNeighborsClassifier

    X = rng.standard_normal((300, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    for name in ("mp", "ls", "nicdm"):
        graph = KNeighborsTransformer(n_neighbors=10, hubness=name).fit_transform(X)
        assert graph.data.min() >= 0, name
        clf = make_pipeline(KNeighborsTransformer(n_neighbors=10, hubness=name),
                            KNeighborsClassifier(n_neighbors=10, metric="precomputed")).fit(X, y)
        assert clf.score(X, y) > 0.7, name
    for name in ("dsl", "csls"):
        graph = KNeighborsTransformer(n_neighbors=10, hubness=name).fit_transform(X)
        assert graph.data.min() < 0, name
        with pytest.raises(ValueError, match="Negative values in data passed to precomputed distance matrix"):
            make_pipeline(KNeighborsTransformer(n_neighbors=10, hubness=name),
                          KNeighborsClassifier(n_neighbors=10, metric="precomputed")).fit(X, y).predict(X)


ROW_WISE = [(name, {}) for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl", "csls"]] \
    + [(name, {"compat": "skhubness"}) for name in ["mp", "mp_empiric", "ls", "nicdm"]]


@pytest.mark.parametrize("name, params", ROW_WISE)
def test_hubness_transform_of_a_row_does_not_depend_on_the_other_rows(rng, name, params):
    x = rng.standard_normal((200, 8))
    x[150] = x[20]  # an exact duplicate: both are fitted point 20, the lower index
    both = np.concatenate([x, rng.standard_normal((20, 8))])  # fitted rows, then new queries
    t = KNeighborsTransformer(n_neighbors=5, hubness=name, hubness_params=params).fit(x)
    full = t.transform(both).toarray()
    idx = rng.permutation(len(both))[:70]
    np.testing.assert_array_equal(t.transform(both[idx]).toarray(), full[idx])        # subset, shuffled
    np.testing.assert_array_equal(t.transform(x[::-1]).toarray(), full[:200][::-1])   # reordered
    np.testing.assert_array_equal(t.transform(x.copy()).toarray(), full[:200])        # a copy
    np.testing.assert_array_equal(t.fit_transform(x).toarray(), full[:200])
    np.testing.assert_array_equal(full[150], full[20])
    g = t.transform(x[:100])  # fitted rows: themselves first at 0, then their re-ranked fit lists
    np.testing.assert_array_equal(g.indices.reshape(100, 6)[:, 0], np.arange(100))
    np.testing.assert_array_equal(g.indices.reshape(100, 6)[:, 1:], t.kneighbors()[1][:100])


def test_hubness_transform_takes_negative_zero_as_the_fitted_point(rng):
    x = rng.standard_normal((100, 4))
    x[3, 1] = 0.0
    t = KNeighborsTransformer(n_neighbors=5, hubness="mp").fit(x)
    q = x[3:4].copy()
    q[0, 1] = -0.0
    np.testing.assert_array_equal(t.transform(q).toarray(), t.transform(x[3:4]).toarray())


@parametrize_with_checks([KNeighborsTransformer(hubness=name) for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl"]]
                         + [KNeighborsTransformer(hubness="csls", hubness_params={"k": 5})],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks_with_hubness_reduction(estimator, check):
    check(estimator)


def test_umap_knn_names_the_n_neighbors_passed(rng):
    with pytest.raises(ValueError, match="at most the 30 rows of X, got n_neighbors = 31"):
        umap_knn(rng.standard_normal((30, 4)), 31)
    ids, _ = umap_knn(rng.standard_normal((30, 4)), 30)  # self plus every other point
    assert ids.shape == (30, 30)
    with pytest.raises(ValueError, match="at most the 30 rows of X, got n_neighbors = 31"):  # a list: said "k ... 30"
        umap_knn(rng.standard_normal((30, 4)).tolist(), 31)


@pytest.mark.parametrize("hubness, k", [("ls", 5), ("csls", 10)])  # their default k
def test_a_reduction_whose_k_the_fitted_points_cannot_give_says_so(rng, hubness, k):
    # "k=10 is larger than the 7 neighbours per row of the fit lists: compute at least k neighbours" named
    # nothing the user set
    X = rng.standard_normal((k - 1, 3))
    with pytest.raises(ValueError, match=rf"hubness='{hubness}' scales by each fitted point's {k}-th nearest "
                                         rf"neighbour, but {k - 1} fitted points give each only {k - 2} others"):
        KNeighborsTransformer(n_neighbors=2, hubness=hubness).fit(X)
    graph = KNeighborsTransformer(n_neighbors=2, hubness=hubness, hubness_params={"k": k - 2}).fit_transform(X)
    assert graph.shape == (k - 1, k - 1)


def test_hubness_params_must_be_a_dict(rng):
    with pytest.raises(ValueError, match=r"hubness_params must be a dict .*got list \[\('k', 5\)\]"):
        KNeighborsTransformer(hubness="ls", hubness_params=[("k", 5)]).fit(rng.standard_normal((30, 3)))


def test_transformer_takes_scikit_learns_arguments(rng):
    X = rng.standard_normal((120, 6))
    theirs = sk(n_neighbors=7, metric="minkowski", p=2).fit_transform(X)
    for kwargs in ({"metric": "minkowski", "p": 2, "algorithm": "ball_tree", "leaf_size": 10},
                   {"metric": "l2"}, {"metric": "euclidean", "metric_params": None}):
        ours = KNeighborsTransformer(n_neighbors=7, **kwargs).fit_transform(X)
        np.testing.assert_array_equal(ours.indices, theirs.indices)
        np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-12, atol=1e-12)
        assert clone(KNeighborsTransformer(**kwargs)).get_params()["metric"] == kwargs["metric"]
    with pytest.raises(ValueError, match="p=2 only, got p=1"):
        KNeighborsTransformer(metric="minkowski", p=1).fit(X)
    with pytest.raises(ValueError, match="metric_params"):
        KNeighborsTransformer(metric_params={"w": 1}).fit(X)
    with pytest.raises(ValueError, match="inner_product"):
        KNeighborsTransformer(metric="inner_product").fit(X)


@pytest.mark.parametrize("n_candidates", [None, 5])  # 5 = n_neighbors: distance mode's rows hold 6
@pytest.mark.parametrize("name", ["mp", "mp_empiric", "ls", "nicdm", "dsl", "csls"])
def test_a_rows_neighbours_do_not_depend_on_how_many_are_asked_for(rng, name, n_candidates):
    x = rng.standard_normal((300, 10))
    q = rng.standard_normal((60, 10))
    params = {"k": 3} if name in ("ls", "nicdm", "dsl", "csls") and n_candidates else {}
    kw = {"hubness": name, "hubness_params": params, "n_candidates": n_candidates}
    t = KNeighborsTransformer(n_neighbors=5, **kw).fit(x)
    d6, i6 = t.kneighbors(q, 6)
    d5, i5 = t.kneighbors(q, 5)
    np.testing.assert_array_equal(i5, i6[:, :5])
    np.testing.assert_array_equal(d5, d6[:, :5])
    # distance mode asks for n_neighbors + 1 per row, connectivity for n_neighbors: the same ranking
    dist = KNeighborsTransformer(n_neighbors=5, mode="distance", **kw).fit(x).transform(q)
    conn = KNeighborsTransformer(n_neighbors=5, mode="connectivity", **kw).fit(x).transform(q)
    np.testing.assert_array_equal(dist.indices.reshape(60, 6), i6)
    np.testing.assert_array_equal(dist.data.reshape(60, 6), d6)
    np.testing.assert_array_equal(conn.indices.reshape(60, 5), i5)


def test_new_queries_may_use_every_fitted_point_as_a_candidate(rng):
    from hubness_fast.reduction import make_reduction

    x = rng.standard_normal((40, 5))
    q = rng.standard_normal((7, 5))
    t = KNeighborsTransformer(n_neighbors=4, hubness="mp", n_candidates=40).fit(x)
    red = make_reduction("mp")
    red.fit(*brute_knn(x, 39, metric="euclidean"))  # a fitted point's others: all of them
    sec, ind = red.transform(*brute_knn(x, 40, queries=q, metric="euclidean"))  # a query's: all 40
    got_d, got_i = t.kneighbors(q)
    np.testing.assert_array_equal(got_i, ind[:, :4])
    np.testing.assert_allclose(got_d, sec[:, :4], rtol=1e-12)


def test_the_candidates_cover_the_reductions_own_k(rng):
    x = rng.standard_normal((120, 6))
    t = KNeighborsTransformer(n_neighbors=2, hubness="ls", hubness_params={"k": 15}).fit(x)
    assert t._fit_lists[1].shape[1] == 16 and t.kneighbors(x[:3] + 0.01)[1].shape == (3, 2)
    with pytest.raises(ValueError, match="n_candidates = 12 is fewer than the LocalScaling reduction's k = 15 plus"):
        KNeighborsTransformer(n_neighbors=2, hubness="ls", hubness_params={"k": 15}, n_candidates=12).fit(x)
    skh = KNeighborsTransformer(n_neighbors=2, hubness="ls", hubness_params={"k": 15, "compat": "skhubness"}).fit(x)
    assert skh.kneighbors(x[:3] + 0.01)[1].shape == (3, 2)  # its scale reads a query's entry k + 1


@pytest.mark.parametrize("name", ["ls", "nicdm", "mp"])
def test_cosine_reductions_take_parallel_rows(rng, name):
    # 1 - cos of parallel rows rounds to -2.2e-16 here: local scaling and NICDM refused the lists
    from hubness_fast import knn
    from hubness_fast.reduction import make_reduction

    x = rng.standard_normal((60, 5))
    x[10], x[11], x[12] = x[3] * 3, x[3] * 0.1, x[3] * 7
    assert knn(x, 3, metric="cosine").distances.min() < 0  # the case itself
    t = KNeighborsTransformer(n_neighbors=4, metric="cosine", hubness=name, n_candidates=20).fit(x)
    red = make_reduction(name)
    d, i = brute_knn(x, 20, metric="cosine")
    red.fit(np.maximum(d, 0), i)  # the lists, clipped at 0 as scikit-learn clips cosine distances
    sec, ind = red.transform(np.maximum(d, 0), i)
    got_d, got_i = t.kneighbors()
    np.testing.assert_array_equal(got_i, ind[:, :4])
    np.testing.assert_allclose(got_d, sec[:, :4], rtol=1e-12, atol=1e-15)


def scikit_cosine_oracle(x, k, queries=None, exclude_self=True):
    """Each row's k points smallest by the cosine this layer reports: the float64 oracle's 1 - cos of
    every pair, clipped at 0 and 0 between identical rows, then by index (the k chosen by these values,
    not by the raw ones)."""
    from oracles import exact_keys

    q = x if queries is None else queries
    keys = np.maximum(exact_keys(x, queries, "cosine"), 0.0)
    keys[np.all(q[:, None, :] == x[None, :, :], axis=2)] = 0.0
    if queries is None and exclude_self:
        np.fill_diagonal(keys, np.inf)
    idx = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.lexsort((idx, keys), axis=1)[:, :k]
    return np.take_along_axis(keys, order, axis=1), order


def cosine_adversarial(rng):
    x = rng.standard_normal((120, 9))
    x[50:58] = x[5]  # exact duplicates: 1 - cos of a row with itself rounds to +-2.2e-16
    x[60], x[61], x[62] = x[7] * 3, x[7] * 0.25, x[7] * 1e3  # parallel rows: 1 - cos rounds below 0
    x[70:76] = x[8] * np.array([5.0, 7.0, 0.1, 3.0, 0.5, 9.0])[:, None]  # more parallel copies than k of some
    x[76] = x[8]
    return x


@pytest.mark.parametrize("n", [1, 3, 11])  # 1 and 3: rows with more points at 0 than their list holds
def test_cosine_graph_has_no_negative_entries_and_identical_rows_at_zero(rng, n):
    # scikit-learn's estimators refuse a precomputed graph with a negative entry, and UMAP reads a
    # point's first distance above 0 as its scale: a point's own entry and its duplicates' are exact zeros,
    # and each row lists its points smallest by these values (itself always among them)
    from hubness_fast import knn

    x = cosine_adversarial(rng)
    raw = knn(x, 12, metric="cosine", exclude_self=False).distances
    assert raw.min() < 0 and np.any((raw > 0) & (raw < 1e-15))  # the case itself, in the engine's values
    t = KNeighborsTransformer(n_neighbors=n, metric="cosine")
    graph = t.fit_transform(x).tocsr()
    d, i = scikit_cosine_oracle(x, n + 1, exclude_self=False)
    expected = np.zeros((len(x), len(x)))
    np.put_along_axis(expected, i, d, axis=1)
    np.testing.assert_array_equal(graph.toarray(), expected)
    # the stored entries themselves, in order (a missing entry would also read 0 above)
    np.testing.assert_array_equal(graph.indices.reshape(len(x), n + 1), i)
    np.testing.assert_array_equal(graph.data.reshape(len(x), n + 1), d)
    assert all(r in i[r] for r in range(len(x)) if d[r, -1] > 0)  # itself listed, unless zeros fill the row
    assert graph.data.min() == 0
    gd, gi = t.kneighbors()  # each point left out by index: its duplicates still at 0
    od, oi = scikit_cosine_oracle(x, n)
    np.testing.assert_array_equal(gi, oi)
    np.testing.assert_array_equal(gd, od)
    q = np.concatenate([x[[5, 7, 8, 60]], rng.standard_normal((5, 9))])
    qd, qi = t.kneighbors(q, n)
    od, oi = scikit_cosine_oracle(x, n, queries=q)
    np.testing.assert_array_equal(qi, oi)
    np.testing.assert_array_equal(qd, od)
    ids, dists = umap_knn(x, 12, metric="cosine")
    assert np.all(dists[50:58, :8] == 0) and np.all(dists >= 0)


@pytest.mark.parametrize("budget", [1, 40, 1 << 18])
def test_cosine_groups_of_identical_and_parallel_rows_are_listed_in_bounded_chunks(rng, monkeypatch, budget):
    # a group of g rows at cosine 0 of each other has g^2 near pairs: listing every group's rows at once
    # took 0.9 GiB at 40 000 rows with one group of 4 000; the rows now go in chunks of about `budget`
    # pairs (one row of each group first, whose count sizes the chunks), the lists the oracle's
    from hubness_fast.engine import radius
    from hubness_fast.neighbors import cosine

    x = rng.standard_normal((400, 6))
    direction = rng.integers(0, 3, 150)
    x[:150] = rng.standard_normal((3, 6))[direction] * rng.uniform(0.5, 2.0, (150, 1))  # 3 groups of parallel rows
    x[150:190] = x[7]  # and exact duplicates of one of them
    x[200:230] = x[201]  # a group of its own
    perm = rng.permutation(len(x))  # the groups' rows interleaved
    x = x[perm]
    calls = []

    def spy(*args, **kw):
        res = radius.radius_neighbors(*args, **kw)
        calls.append(len(res.indices))
        return res

    monkeypatch.setattr(cosine, "NEAR_PAIRS", budget)
    monkeypatch.setattr(cosine, "radius_neighbors", spy)
    t = KNeighborsTransformer(n_neighbors=4, metric="cosine").fit(x)
    gd, gi = t.kneighbors()
    od, oi = scikit_cosine_oracle(x, 4)
    np.testing.assert_array_equal(gi, oi)
    np.testing.assert_array_equal(gd, od)
    q = np.concatenate([x[:20], rng.standard_normal((5, 6))])
    qd, qi = t.kneighbors(q, 4)
    od, oi = scikit_cosine_oracle(x, 4, queries=q)
    np.testing.assert_array_equal(qi, oi)
    np.testing.assert_array_equal(qd, od)
    keys, _ = scikit_cosine_oracle(x, len(x), exclude_self=False)
    largest = int((keys <= cosine.IDENTICAL_CHECK).sum(axis=1).max())  # the most near points of a row
    # each call: the groups' first rows (a pair or two per point), or a chunk past the budget by one row
    assert calls and max(calls) <= max(2 * len(x), budget + largest)
    assert 2 * len(x) < largest ** 2 // 2  # listing a whole group's rows at once breaks the bound


def test_cosine_graph_feeds_precomputed_estimators(rng):
    from sklearn.cluster import DBSCAN
    from sklearn.manifold import TSNE, Isomap

    x = cosine_adversarial(rng)
    for est in (TSNE(metric="precomputed", init="random", perplexity=3, max_iter=250, random_state=0),
                Isomap(metric="precomputed", n_neighbors=10), DBSCAN(metric="precomputed", eps=0.3)):
        make_pipeline(KNeighborsTransformer(n_neighbors=10, metric="cosine"), est).fit(x)


def test_parameters_changed_after_fit_wait_for_the_next_fit(x):
    # scikit-learn's estimators answer with the metric they were fitted with until fitted again; the
    # reduction's statistics are the fit's too, so a changed metric must not mix into its query lists
    from sklearn.neighbors import NearestNeighbors as SkNearestNeighbors

    from hubness_fast.neighbors import NearestNeighbors

    q = x[:20] + 0.01
    for ours, theirs in ((KNeighborsTransformer(n_neighbors=5), sk("distance", 5)),
                         (NearestNeighbors(n_neighbors=5), SkNearestNeighbors(n_neighbors=5, algorithm="brute"))):
        ours.fit(x), theirs.fit(x)
        before = ours.kneighbors(q)
        ours.set_params(metric="cosine"), theirs.set_params(metric="cosine")
        after = ours.kneighbors(q)
        np.testing.assert_array_equal(after[1], before[1])
        np.testing.assert_array_equal(after[1], theirs.kneighbors(q)[1])
        np.testing.assert_array_equal(ours.fit(x).kneighbors(q)[1], theirs.fit(x).kneighbors(q)[1])
    t = KNeighborsTransformer(n_neighbors=5, hubness="mp").fit(x)
    mp = t.transform(q).toarray()
    t.set_params(metric="cosine")
    np.testing.assert_array_equal(t.transform(q).toarray(), mp)


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_n_jobs_minus_one_counts_the_cpus_this_process_may_use():
    # under taskset or a Slurm/cgroup cpuset, -1 means the cores the process may run on, not the machine's
    import os

    mask = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(mask)})
        assert n_jobs_to_threads(-1) == 1 and n_jobs_to_threads(-2) == 1
    finally:
        os.sched_setaffinity(0, mask)
    assert n_jobs_to_threads(-1) == len(mask)
