"""hubness_fast.reduction: each secondary distance against its formula on full float64 matrices, the
re-sorting, the literature's effect on Gaussian data, and the Hubness estimator's measures."""
import statistics
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scipy import stats  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

import hubness_fast as hf  # noqa: E402
from hubness_fast.reduction import (CSLS, HUBNESS_MEASURES, DisSimLocal, Hubness, LocalScaling,  # noqa: E402
                                    MutualProximity, make_reduction)
from oracles import brute_knn, exact_keys  # noqa: E402


# ---- small sets with full matrices ----------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(7)
    x, q = r.standard_normal((120, 6)), r.standard_normal((40, 6))
    D_ff = np.sqrt(exact_keys(x))            # fitted x fitted, Euclidean, diagonal 0
    D_qf = np.sqrt(exact_keys(x, q))         # queries x fitted
    fit = brute_knn(x, 15, metric="euclidean")
    query = brute_knn(x, 15, queries=q, metric="euclidean")
    return SimpleNamespace(x=x, q=q, D_ff=D_ff, D_qf=D_qf, fit=fit, query=query)


def others(D_ff):
    """The fitted matrix with each point's own entry removed (+inf), for self-excluded statistics."""
    D = D_ff.copy()
    np.fill_diagonal(D, np.inf)
    return D


def kth(D, k):
    return np.sort(D, axis=1)[:, k - 1]


def mean_k(D, k):
    return np.sort(D, axis=1)[:, :k].mean(axis=1)


def assert_reduced(result, lists, full, rtol=1e-10, atol=1e-12):
    """result = (secondary, indices) holds the listed candidates, with the formula's values (full:
    the formula on every (row, fitted point) pair), sorted by (secondary, primary distance, index)."""
    sec, ind = result
    d, i = lists
    assert sec.dtype == np.float64 and ind.dtype == np.int64 and sec.shape == ind.shape == i.shape
    np.testing.assert_array_equal(np.sort(ind, axis=1), np.sort(i, axis=1))
    np.testing.assert_allclose(sec, np.take_along_axis(full, ind, axis=1), rtol=rtol, atol=atol)
    prim = np.array([[dict(zip(ir, dr))[j] for j in jr] for ir, dr, jr in zip(i, d, ind)])
    for s, p, j in zip(sec, prim, ind):
        keys = list(zip(s, p, j))
        assert keys == sorted(keys)


def normal_sf(v, mean, std):
    return 1.0 - statistics.NormalDist(mean, std).cdf(v)


def test_mutual_proximity_normal(data):
    D_ff, D_qf, fit, query = data.D_ff, data.D_qf, data.fit, data.query
    Df = others(D_ff)
    mu_f, sd_f = np.sort(Df, 1)[:, :15].mean(1), np.sort(Df, 1)[:, :15].std(1)

    def formula(D, mu, sd):
        return np.array([[1 - normal_sf(D[r, y], mu[r], sd[r]) * normal_sf(D[r, y], mu_f[y], sd_f[y])
                          for y in range(D.shape[1])] for r in range(D.shape[0])])

    mp = MutualProximity().fit(*fit)
    mu_q, sd_q = np.sort(D_qf, 1)[:, :15].mean(1), np.sort(D_qf, 1)[:, :15].std(1)
    assert_reduced(mp.transform(*query), query, formula(D_qf, mu_q, sd_q), rtol=1e-9, atol=1e-12)
    assert_reduced(mp.transform(*fit), fit, formula(Df, mu_f, sd_f), rtol=1e-9, atol=1e-12)


def mp_empiric_formula(D_rows, rows_lists, D_ff, fit_ind, self_rows):
    """The docstring's count, object by object: listed distances are known, an object missing from
    x's list is farther from x, one missing from y's list is farther from y iff d(x, y) < r_y."""
    n = D_ff.shape[0]
    out = np.full(D_rows.shape, np.nan)
    for r, lx in enumerate(rows_lists):
        in_lx = np.zeros(n, bool)
        in_lx[lx] = True
        for y in lx:
            dxy = D_rows[r, y]
            in_ly = np.zeros(n, bool)
            in_ly[fit_ind[y]] = True
            r_y = D_ff[y, fit_ind[y, -1]]
            far_x = np.where(in_lx, D_rows[r] > dxy, True)
            far_y = np.where(in_ly, D_ff[y] > dxy, dxy < r_y)
            counted = far_x & far_y
            counted[y] = False
            if self_rows:
                counted[r] = False
            out[r, y] = 1 - counted.sum() / n
    return out


def test_mutual_proximity_empiric(data):
    D_ff, D_qf, fit, query = data.D_ff, data.D_qf, data.fit, data.query
    mp = MutualProximity("empiric").fit(*fit)
    assert_reduced(mp.transform(*query), query, mp_empiric_formula(D_qf, query[1], D_ff, fit[1], False))
    assert_reduced(mp.transform(*fit), fit, mp_empiric_formula(D_ff, fit[1], D_ff, fit[1], True))


def test_mutual_proximity_empiric_full_lists_is_the_papers_count():
    x = np.random.default_rng(3).standard_normal((40, 4))
    D = np.sqrt(exact_keys(x))
    lists = brute_knn(x, 39, metric="euclidean")
    # Schnitzer et al. eq.: |{j : d(x, j) > d(x, y) and d(y, j) > d(y, x)}| / n over all objects
    paper = np.array([[1 - np.sum((D[a] > D[a, b]) & (D[b] > D[b, a])) / 40 for b in range(40)] for a in range(40)])
    assert_reduced(MutualProximity("empiric").fit_transform(*lists), lists, paper)


@pytest.mark.parametrize("k", [1, 5, 15])
def test_local_scaling(data, k):
    D_ff, D_qf, fit, query = data.D_ff, data.D_qf, data.fit, data.query
    Df = others(D_ff)
    ls = LocalScaling(k=k).fit(*fit)
    s_f, s_q = kth(Df, k), kth(D_qf, k)
    assert_reduced(ls.transform(*query), query, 1 - np.exp(-D_qf**2 / np.outer(s_q, s_f)))
    assert_reduced(ls.transform(*fit), fit, 1 - np.exp(-Df**2 / np.outer(s_f, s_f)))


@pytest.mark.parametrize("k", [1, 5, 15])
def test_nicdm(data, k):
    D_ff, D_qf, fit, query = data.D_ff, data.D_qf, data.fit, data.query
    Df = others(D_ff)
    nicdm = LocalScaling(k=k, method="nicdm").fit(*fit)
    m_f, m_q = mean_k(Df, k), mean_k(D_qf, k)
    assert_reduced(nicdm.transform(*query), query, D_qf / np.sqrt(np.outer(m_q, m_f)))
    assert_reduced(nicdm.fit_transform(*fit), fit, Df / np.sqrt(np.outer(m_f, m_f)))


@pytest.mark.parametrize("squared", [True, False])
def test_dis_sim_local(data, squared):
    x, q, D_ff, D_qf, fit, query = data.x, data.q, data.D_ff, data.D_qf, data.fit, data.query
    k = 4

    def centroids(D):
        near = np.lexsort((np.broadcast_to(np.arange(D.shape[1]), D.shape), D), axis=1)[:, :k]
        return np.stack([x[row].mean(0) for row in near])

    c_f, c_q = centroids(others(D_ff)), centroids(D_qf)
    spread_f, spread_q = ((x - c_f) ** 2).sum(1), ((q - c_q) ** 2).sum(1)

    def formula(v, spread):
        sq = ((v[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        dsl = sq - spread[:, None] - spread_f[None, :]
        return dsl if squared else np.sign(dsl) * np.sqrt(np.abs(dsl))

    dsl = DisSimLocal(k=k, squared=squared).fit(*fit, X=x)
    assert_reduced(dsl.transform(*query, X=q), query, formula(q, spread_q), rtol=1e-9, atol=1e-9)
    assert_reduced(dsl.transform(*fit, X=x), fit, formula(x, spread_f), rtol=1e-9, atol=1e-9)


def test_csls_on_cosine_distances_and_similarities(data):
    x, q = data.x, data.q
    k = 5
    xn, qn = x / np.linalg.norm(x, axis=1, keepdims=True), q / np.linalg.norm(q, axis=1, keepdims=True)
    S_ff, S_qf = xn @ xn.T, qn @ xn.T
    np.fill_diagonal(S_ff, -np.inf)
    r_f = -np.sort(-S_ff, 1)[:, :k].mean(1)        # mean similarity to the k most similar others
    r_q = -np.sort(-S_qf, 1)[:, :k].mean(1)
    csls = 2 * S_qf - r_q[:, None] - r_f[None, :]  # Conneau et al. 2018

    sim_fit = brute_knn(xn, 15, metric="inner_product")
    sim_query = brute_knn(xn, 15, queries=qn, metric="inner_product")
    sim = CSLS(k=k, values="similarity").fit(*sim_fit)
    s, i = sim.transform(*sim_query)
    np.testing.assert_allclose(s, np.take_along_axis(csls, i, 1), rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(s, axis=1) <= 0)          # largest first

    cos_fit, cos_query = brute_knn(x, 15, metric="cosine"), brute_knn(x, 15, queries=q, metric="cosine")
    dist = CSLS(k=k).fit(*cos_fit)
    assert_reduced(dist.transform(*cos_query), cos_query, -csls, rtol=1e-9, atol=1e-12)
    d, j = dist.transform(*cos_query)
    np.testing.assert_array_equal(j, i)             # one ranking, either way
    np.testing.assert_allclose(d, -s, atol=1e-12)


def test_csls_on_euclidean_distances(data):
    D_ff, D_qf, fit, query = data.D_ff, data.D_qf, data.fit, data.query
    r_f, r_q = mean_k(others(D_ff), 10), mean_k(D_qf, 10)
    assert_reduced(CSLS().fit(*fit).transform(*query), query, 2 * D_qf - r_q[:, None] - r_f[None, :])


def test_csls_fit_lists_may_index_another_set():
    """Two domains: the fitted (target) points' lists among the source points; fit reads distances only."""
    r = np.random.default_rng(5)
    src, tgt = r.standard_normal((30, 4)), r.standard_normal((10, 4))
    t_lists = brute_knn(src, 3, queries=tgt, metric="euclidean")   # indices into src (up to 29)
    s_lists = brute_knn(tgt, 4, queries=src, metric="euclidean")   # indices into tgt
    d, i = CSLS(k=3).fit(*t_lists).transform(*s_lists)
    full = 2 * np.sqrt(exact_keys(tgt, src)) - s_lists[0][:, :3].mean(1)[:, None] - t_lists[0].mean(1)[None, :]
    np.testing.assert_allclose(d, np.take_along_axis(full, i, 1), rtol=1e-10)


def test_engine_lists_float32(data):
    """Lists straight from hubness_fast.knn (float32 distances) give the float64 lists' results."""
    x, q, fit, query = data.x, data.q, data.fit, data.query
    f32 = hf.knn(x, 15, metric="euclidean"), hf.knn(x, 15, queries=q, metric="euclidean")
    for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl", "csls"]:
        a = make_reduction(name).fit(*fit, X=x).transform(*query, X=q)
        b = make_reduction(name).fit(*f32[0], X=x).transform(*f32[1], X=q)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)


# ---- re-sorting -----------------------------------------------------------------------------------

def six_points():
    """Six fitted points, each list its two successors at 0.1 and 0.2: every scale is 0.1."""
    ind = np.array([[(p + 1) % 6, (p + 2) % 6] for p in range(6)])
    return np.tile([0.1, 0.2], (6, 1)), ind


def test_ties_fall_back_to_primary_then_index():
    ls = LocalScaling(k=1).fit(*six_points())
    # 1 - exp(-d^2 / (10 * 0.1)) is 1.0 in float64 for all three: the primary order decides
    sec, ind = ls.transform([[10.0, 11.0, 12.0]], [[5, 3, 1]])
    np.testing.assert_array_equal(sec, [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(ind, [[5, 3, 1]])
    # equal primaries too: the index decides
    _, ind = ls.transform([[10.0, 10.0, 10.0]], [[5, 3, 1]])
    np.testing.assert_array_equal(ind, [[1, 3, 5]])
    # equal secondaries from equal scales
    sec, ind = CSLS(k=1).fit(*six_points()).transform([[0.5, 0.5, 0.5, 0.7]], [[4, 0, 2, 1]])
    np.testing.assert_array_equal(ind, [[0, 2, 4, 1]])
    np.testing.assert_allclose(sec, [[0.4, 0.4, 0.4, 0.8]])


def test_reranking_and_return_distance(data):
    fit, query = data.fit, data.query
    ls = LocalScaling().fit(*fit)
    sec, ind = ls.transform(*query)
    assert not np.array_equal(ind, query[1])  # hubness reduction reorders the candidates
    np.testing.assert_array_equal(ls.transform(*query, return_distance=False), ind)
    assert np.all(np.diff(sec, axis=1) >= 0)


def test_zero_scales_keep_duplicates_at_zero():
    d, i = np.zeros((6, 2)), six_points()[1]
    for method, far in [("standard", 1.0), ("nicdm", np.inf)]:
        red = LocalScaling(k=1, method=method).fit(d, i)
        sec, ind = red.transform([[0.0, 0.3]], [[2, 4]])
        np.testing.assert_array_equal(sec, [[0.0, far]])
        np.testing.assert_array_equal(ind, [[2, 4]])
    sec, _ = MutualProximity().fit(d, i).transform([[0.0, 0.0]], [[1, 2]])
    np.testing.assert_array_equal(sec, [[0.75, 0.75]])  # point masses at 0: each survival 1/2


# ---- the literature's effect ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def gaussian():
    x = np.random.default_rng(0).standard_normal((1500, 50))
    return x, hf.knn(x, 50, metric="euclidean", n_threads=2)


def k_skewness(ind, k=10):
    return stats.skew(np.bincount(ind[:, :k].ravel(), minlength=1500))


@pytest.mark.parametrize("name", ["mp", "mp_empiric", "ls", "nicdm", "dsl", "csls"])
def test_reduction_lowers_k_skewness_on_gaussian_data(gaussian, name):
    x, (d, i) = gaussian
    before = k_skewness(i)
    assert before > 2.5
    _, ind = make_reduction(name).fit_transform(d, i, X=x)
    assert k_skewness(ind) < 0.6 * before


# ---- errors and the factory -----------------------------------------------------------------------

def test_bad_lists_raise(data):
    (fd, fi), (qd, qi) = data.fit, data.query
    x = data.x
    with pytest.raises(ValueError, match="one shape"):
        LocalScaling().fit(fd, fi[:, :10])
    with pytest.raises(ValueError, match="2-D"):
        LocalScaling().fit(fd[0], fi[0])
    with pytest.raises(ValueError, match="sorted"):
        LocalScaling().fit(fd[:, ::-1], fi[:, ::-1])
    with pytest.raises(ValueError, match="twice"):
        LocalScaling().fit(fd, np.repeat(fi[:, :1], 15, axis=1))
    with pytest.raises(ValueError, match="integer"):
        LocalScaling().fit(fd, fi.astype(float))
    with pytest.raises(ValueError, match="NaN"):
        LocalScaling().fit(np.where(fd > 1, np.nan, fd), fi)
    with pytest.raises(ValueError, match="negative indices"):
        LocalScaling().fit(fd, -fi - 1)
    with pytest.raises(ValueError, match="self excluded"):
        LocalScaling().fit(*brute_knn(x, 15, metric="euclidean", exclude_self=False))
    with pytest.raises(ValueError, match="only 50 rows"):
        LocalScaling().fit(fd[:50], fi[:50])
    with pytest.raises(ValueError, match="k=20 is larger than the 15"):
        LocalScaling(k=20).fit(fd, fi)
    with pytest.raises(ValueError, match="k=10 is larger than the 5 neighbours per row of the query"):
        CSLS().fit(fd, fi).transform(qd[:, :5], qi[:, :5])
    with pytest.raises(ValueError, match="non-negative"):
        LocalScaling().fit(fd - 5, fi)
    ls = LocalScaling().fit(*brute_knn(x[:100], 15, metric="euclidean"))
    with pytest.raises(ValueError, match="100 points were fitted"):
        ls.transform(qd, qi)


def test_bad_parameters_raise(data):
    x, fit, query = data.x, data.fit, data.query
    with pytest.raises(ValueError, match="method"):
        MutualProximity("gauss").fit(*fit)
    with pytest.raises(ValueError, match="method"):
        LocalScaling(method="ls").fit(*fit)
    with pytest.raises(ValueError, match="k must be"):
        LocalScaling(k=0).fit(*fit)
    with pytest.raises(ValueError, match="values"):
        CSLS(values="cosine").fit(*fit)
    with pytest.raises(ValueError, match="squared"):
        DisSimLocal(squared="yes").fit(*fit, X=x)
    with pytest.raises(NotFittedError):
        LocalScaling().transform(*query)
    ls = LocalScaling().fit(*fit)
    ls.set_params(k=3)
    with pytest.raises(ValueError, match="fit again"):
        ls.transform(*query)


def test_a_parameter_a_reduction_lacks_is_named_with_those_it_has(data):
    from hubness_fast.neighbors import KNeighborsTransformer
    from hubness_fast.reduction import make_reduction

    with pytest.raises(ValueError, match="'mp' \\(MutualProximity\\) takes no parameter 'k'; its parameters: compat"):
        make_reduction("mp", k=5)
    with pytest.raises(ValueError, match="takes no parameter 'k'"):
        KNeighborsTransformer(hubness="mp", hubness_params={"k": 5}).fit(data.x)
    assert make_reduction("ls", k=7).k == 7
    with pytest.raises(ValueError, match="DisSimLocal\\) recomputes squared Euclidean distances"):
        KNeighborsTransformer(hubness="dsl", metric="cosine").fit(data.x)


def test_dis_sim_local_needs_the_vectors(data):
    x, q, fit, query = data.x, data.q, data.fit, data.query
    with pytest.raises(ValueError, match="needs the vectors"):
        DisSimLocal().fit(*fit)
    with pytest.raises(ValueError, match="120 fitted points"):
        DisSimLocal().fit(*fit, X=q)
    dsl = DisSimLocal().fit(*fit, X=x)
    assert dsl.needs_vectors and not LocalScaling.needs_vectors
    with pytest.raises(ValueError, match="needs the vectors"):
        dsl.transform(*query)
    with pytest.raises(ValueError, match="features"):
        dsl.transform(*query, X=q[:, :3])


def test_make_reduction():
    expected = {"mp": (MutualProximity, {"method": "normal"}), "mp_empiric": (MutualProximity, {"method": "empiric"}),
                "ls": (LocalScaling, {"method": "standard", "k": 5}), "nicdm": (LocalScaling, {"method": "nicdm"}),
                "dsl": (DisSimLocal, {"k": 5, "squared": True}), "csls": (CSLS, {"k": 10, "values": "distance"})}
    for name, (cls, params) in expected.items():
        red = make_reduction(name)
        assert type(red) is cls and params.items() <= red.get_params().items()
    assert make_reduction(None) is None
    assert make_reduction("ls", k=7).get_params() == {"k": 7, "method": "standard", "compat": None}
    with pytest.raises(ValueError, match="unknown hubness reduction"):
        make_reduction("snn")
    with pytest.raises(ValueError, match="fixes method"):
        make_reduction("nicdm", method="standard")
    with pytest.raises(ValueError, match="k must be"):
        make_reduction("csls", k=0)
    red = clone(make_reduction("dsl", k=3, squared=False))
    assert red.get_params() == {"k": 3, "squared": False, "compat": None}


# ---- Hubness --------------------------------------------------------------------------------------

def measures_by_hand(counts, k, n_queries, hub_size=2.0):
    c = counts.astype(float)
    n, mean = len(c), c.mean()
    m2, m3 = ((c - mean) ** 2).mean(), ((c - mean) ** 3).mean()
    sd1 = c.std(ddof=1)
    a, b = -mean / sd1, (np.iinfo(np.int64).max - mean) / sd1  # scikit-hubness's truncation points
    hubs = np.flatnonzero(c >= hub_size * k)
    return {
        "k_skewness": m3 / m2 ** 1.5,
        "k_skewness_truncnorm": stats.truncnorm(a, b).moment(3),
        "robinhood": 0.5 * np.abs(c - mean).sum() / c.sum(),
        "gini": np.abs(c[:, None] - c[None, :]).sum() / (2 * n * c.sum()),
        "atkinson": 1 - np.mean(np.sqrt(c)) ** 2 / mean,
        "antihub_occurrence": np.mean(c == 0),
        "hub_occurrence": c[hubs].sum() / (n_queries * k),
        "groupie_ratio": c.max() / n_queries,
        "hubs": hubs,
        "antihubs": np.flatnonzero(c == 0),
    }


@pytest.fixture(scope="module")
def vectors():
    r = np.random.default_rng(11)
    return r.standard_normal((300, 20)), r.standard_normal((80, 20))


def assert_measures(got, want):
    assert list(got) == list(HUBNESS_MEASURES)
    for name in HUBNESS_MEASURES:
        if name in ("hubs", "antihubs"):
            assert got[name].dtype == np.int64
            np.testing.assert_array_equal(got[name], want[name])
        else:
            assert isinstance(got[name], float)
            np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("k", [5, 10])
def test_hubness_measures_of_the_fitted_points(vectors, k):
    x, _ = vectors
    counts = np.bincount(brute_knn(x, k)[1].ravel(), minlength=300)
    h = Hubness(k=k, return_value="all").fit(x)
    np.testing.assert_array_equal(h.k_occurrence(), counts)
    want = measures_by_hand(counts, k, 300)
    assert_measures(h.score(), want)
    for name in HUBNESS_MEASURES:  # each one alone
        one = Hubness(k=k, return_value=name).fit(x).score()
        np.testing.assert_allclose(one, want[name], rtol=1e-10, atol=1e-14)


def test_hubness_measures_of_queries(vectors):
    x, q = vectors
    counts = np.bincount(brute_knn(x, 10, queries=q)[1].ravel(), minlength=300)
    assert_measures(Hubness(return_value="all", metric="sqeuclidean").fit(x).score(q), measures_by_hand(counts, 10, 80))


def test_hubness_include_self_counts_each_point_once_more(vectors):
    """scikit-hubness's current Hubness: a k-wide graph of each point with itself, N_k = 1 + N_{k-1}."""
    x, _ = vectors
    with_self = np.bincount(brute_knn(x, 10, exclude_self=False)[1].ravel(), minlength=300)
    np.testing.assert_array_equal(with_self, 1 + np.bincount(brute_knn(x, 9)[1].ravel(), minlength=300))
    h = Hubness(include_self=True, return_value="all", hub_size=1.5).fit(x)
    assert_measures(h.score(), measures_by_hand(with_self, 10, 300, hub_size=1.5))
    assert h.score()["antihub_occurrence"] == 0.0


def test_hubness_metric_cosine(vectors):
    x, _ = vectors
    counts = np.bincount(brute_knn(x, 10, metric="cosine")[1].ravel(), minlength=300)
    assert Hubness(metric="cosine").fit(x).score() == pytest.approx(measures_by_hand(counts, 10, 300)["k_skewness"])


def test_hubness_bad_parameters_raise(vectors):
    x, q = vectors
    with pytest.raises(ValueError, match="return_value"):
        Hubness(return_value="k_occurence").fit(x)
    with pytest.raises(ValueError, match="metric"):
        Hubness(metric="manhattan").fit(x)
    with pytest.raises(ValueError, match="k must be"):
        Hubness(k=0).fit(x)
    with pytest.raises(ValueError, match="hub_size"):
        Hubness(hub_size=0).fit(x)
    with pytest.raises(ValueError, match="n_jobs"):
        Hubness(n_jobs=0).fit(x)
    with pytest.raises(ValueError, match="device"):
        Hubness(device="tpu").fit(x)
    with pytest.raises(ValueError, match="include_self"):
        Hubness(include_self=True).fit(x).score(q)
    with pytest.raises(ValueError, match="299 candidates"):
        Hubness(k=300).fit(x).score()
    with pytest.raises(ValueError, match="features"):
        Hubness().fit(x).score(q[:, :5])
    with pytest.raises(NotFittedError):
        Hubness().score()
    h = Hubness().fit(x)
    h.set_params(return_value="nope")
    with pytest.raises(ValueError, match="return_value"):
        h.score()


def test_hubness_params_verbatim_and_clone():
    params = {"k": 7, "metric": "cosine", "hub_size": 3, "return_value": "gini", "include_self": True, "n_jobs": -1,
              "device": "cpu"}
    h = Hubness(**params)
    assert h.get_params() == params
    assert clone(h).get_params() == params
    assert Hubness().get_params() == {"k": 10, "metric": "euclidean", "hub_size": 2.0, "return_value": "k_skewness",
                                      "include_self": False, "n_jobs": None, "device": "auto"}
    for red in [MutualProximity("empiric"), LocalScaling(3, "nicdm"), DisSimLocal(2, False), CSLS(4, "similarity")]:
        assert clone(red).get_params() == red.get_params()


@pytest.mark.parametrize("name, params", [(name, {}) for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl", "csls"]]
                         + [(name, {"compat": "skhubness"}) for name in ["mp", "mp_empiric", "ls", "nicdm", "dsl"]])
def test_transform_of_fitted_rows_marked_by_index_equals_the_fit_lists_rows(data, name, params):
    red = make_reduction(name, **params)
    x = data.x if red.needs_vectors else None
    full = red.fit(*data.fit, x).transform(*data.fit, x)
    rows = np.array([7, 3, 3, 100, 0])
    d, i = data.fit[0][rows], data.fit[1][rows]
    sec, ind = red.transform(d, i, None if x is None else x[rows], fitted=rows)
    np.testing.assert_array_equal(ind, full[1][rows])
    if params.get("compat") and name == "dsl":  # its values are shifted by the call's minimum
        np.testing.assert_allclose(np.diff(sec, axis=1), np.diff(full[0][rows], axis=1), atol=1e-12)
    else:
        np.testing.assert_array_equal(sec, full[0][rows])
    mixed = red.transform(np.concatenate([d, data.query[0]]), np.concatenate([i, data.query[1]]),
                          None if x is None else np.concatenate([x[rows], data.q]),
                          fitted=np.concatenate([rows, np.full(len(data.q), -1)]))
    np.testing.assert_array_equal(mixed[1], np.concatenate([full[1][rows], red.transform(*data.query, data.q)[1]]))


def test_transform_refuses_bad_fitted_rows(data):
    red = MutualProximity("empiric").fit(*data.fit)
    with pytest.raises(ValueError, match="one integer per list row"):
        red.transform(*data.fit, fitted=np.arange(3))
    with pytest.raises(ValueError, match="lists j itself"):
        red.transform(*data.query, fitted=data.query[1][:, 0])
    with pytest.raises(ValueError, match="or -1"):
        red.transform(*data.query, fitted=np.full(len(data.q), 120))
