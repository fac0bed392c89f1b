"""hubness_fast.reduction against scikit-hubness's definitions, and the edge cases.

The scikit-hubness side is written here from its definitions (its newest ``MutualProximity``,
``LocalScaling``, ``DisSimLocal`` and ``Hubness``), row by row in float64, on k-NN graphs held as
(distances, indices) rows: "with self" is the graph its README pipeline builds with scikit-learn's
``KNeighborsTransformer`` (the fitted points' rows start with the point itself at 0; queries' rows
hold n + 1 fitted points), "without self" is the lists this package works on. Nothing here imports
scikit-hubness or reuses the package's code.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scipy import integrate  # noqa: E402
from sklearn.neighbors import kneighbors_graph  # noqa: E402

from hubness_fast.reduction import CSLS, DisSimLocal, Hubness, LocalScaling, MutualProximity  # noqa: E402
from oracles import brute_knn  # noqa: E402

N_NEIGHBORS = 12


@pytest.fixture(scope="module")
def graphs():
    r = np.random.default_rng(19)
    x, q = r.standard_normal((150, 8)), r.standard_normal((40, 8))
    n = N_NEIGHBORS
    fit_self = brute_knn(x, n + 1, metric="euclidean", exclude_self=False)
    assert np.array_equal(fit_self[1][:, 0], np.arange(len(x)))     # no ties at 0: self comes first
    return SimpleNamespace(
        x=x, q=q,
        fit=brute_knn(x, n, metric="euclidean"),                      # this package's fit lists
        query=brute_knn(x, n + 1, queries=q, metric="euclidean"),     # scikit-learn's query rows (n + 1)
        query_n=brute_knn(x, n, queries=q, metric="euclidean"),
        fit_self=fit_self)


# ---- scikit-hubness, written from its definitions -------------------------------------------------

def norm_sf(v, mean, sd):
    """Normal survival function; a zero deviation is scipy's invalid scale: NaN."""
    if sd == 0:
        return math.nan
    return 0.5 * math.erfc((v - mean) / (sd * math.sqrt(2.0)))


def skh_mp_normal(fit_graph, query_graph):
    """1 - SF(d; mean, sd of the query row) * SF(d; mean, sd of the fitted point's whole row)."""
    fd, _ = fit_graph
    mu = [float(np.mean(row)) for row in fd]
    sd = [float(np.std(row)) for row in fd]
    out = []
    for d, i in zip(*query_graph):
        m, s = float(np.mean(d)), float(np.std(d))
        out.append([1.0 - norm_sf(v, m, s) * norm_sf(v, mu[j], sd[j]) for v, j in zip(d, i)])
    return np.array(out)


def skh_mp_empiric(fit_graph, query_graph):
    """Counts over the listed objects only: j after y in x's row or only in y's row, and j beyond
    d(x, y) in y's row or only in x's row; 0 when d(x, y) reaches y's last distance; / n_indexed."""
    fd, fi = fit_graph
    n = len(fd)
    out = []
    for d, i in zip(*query_graph):
        row = []
        lx = set(i.tolist())
        for pos, (dxy, y) in enumerate(zip(d, i)):
            ly = set(fi[y].tolist())
            far_x = set(i[pos + 1:].tolist()) | (ly - lx)
            if not far_x or dxy >= fd[y, -1]:
                row.append(1.0)
                continue
            far_y = {j for j, dyj in zip(fi[y], fd[y]) if dyj > dxy} | (lx - ly)
            row.append(1.0 - len(far_x & far_y) / n)
        out.append(row)
    return np.array(out)


def skh_local_scaling(fit_graph, query_graph, k, method):
    """Every row read as if its first entry were the point itself: fitted scale from entries 1..k,
    query scale from entries 0..k; "standard" as 1 + d^2 / (r_x r_y)."""
    fd, _ = fit_graph
    if method == "standard":
        r_fit = fd[:, k]
    else:
        r_fit = fd[:, 1:k + 1].mean(axis=1)
    out = []
    for d, i in zip(*query_graph):
        if method == "standard":
            r = d[k]
            out.append([1.0 + v * v / (r * r_fit[j]) for v, j in zip(d, i)])
        else:
            r = d[:k + 1].mean()
            out.append([v / math.sqrt(r * r_fit[j]) for v, j in zip(d, i)])
    return np.array(out)


def skh_dis_sim_local(fit_graph, x, query_graph, q, k, squared=True):
    """Graphs of squared Euclidean distances. Fitted centroids from each fitted row's first k
    entries; a query's centroid the mean of those centroids over its first k entries; all values of
    the call shifted up by their minimum when it is negative."""
    _, fi = fit_graph
    centroid = np.array([x[row[:k]].mean(axis=0) for row in fi])
    spread = ((x - centroid) ** 2).sum(axis=1)
    d, i = query_graph
    vals = np.empty(d.shape)
    for r in range(len(d)):
        c = centroid[i[r, :k]].mean(axis=0)
        vals[r] = d[r] - ((q[r] - c) ** 2).sum() - spread[i[r]]
    low = min(vals.min(), 0.0)
    vals = vals - low
    return vals if squared else np.sqrt(vals)


def truncnorm_third_moment(a):
    """E[Z^3] for Z standard normal truncated below at a, by quadrature."""
    def pdf(z):
        return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    num = integrate.quad(lambda z: z ** 3 * pdf(z), a, math.inf)[0]
    return num / (0.5 * math.erfc(a / math.sqrt(2.0)))


def skh_measures(neigh_ind, n_indexed, k, hub_size=2.0):
    """scikit-hubness's Hubness.score on a graph of k columns (its rows as given, self or not)."""
    c = np.bincount(neigh_ind.ravel(), minlength=n_indexed).astype(float)
    n_rows = neigh_ind.shape[0]
    mean = c.mean()
    m2, m3 = ((c - mean) ** 2).mean(), ((c - mean) ** 3).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = m3 / m2 ** 1.5
        sd1 = c.std(ddof=1)
        a = -mean / sd1
    hubs = np.flatnonzero(c >= hub_size * k)
    return {
        "k_skewness": skew,
        "k_skewness_truncnorm": truncnorm_third_moment(a) if np.isfinite(a) else math.nan,
        "robinhood": 0.5 * np.abs(c - mean).sum() / c.sum(),
        "gini": np.abs(c[:, None] - c[None, :]).sum() / (2 * len(c) * c.sum()),
        "atkinson": 1.0 - np.mean(np.sqrt(c)) ** 2 / mean,
        "antihub_occurrence": np.mean(c == 0),
        "hub_occurrence": c[hubs].sum() / k / n_indexed,       # its code: n_indexed, not the queries
        "groupie_ratio": c.max() / n_rows / k,                 # its code: / (n_rows k)
        "hubs": hubs,
        "antihubs": np.flatnonzero(c == 0),
    }


# ---- comparing rows by index ----------------------------------------------------------------------

def by_index(values, ind, n_fit):
    """Rows of values laid out over the fitted points (NaN where a point is not listed)."""
    full = np.full((len(ind), n_fit), np.nan)
    np.put_along_axis(full, ind, values, axis=1)
    return full


def assert_same_values(ours, theirs_vals, theirs_ind, n_fit, rtol=1e-10, atol=1e-13, self_rows=False):
    """Our (values, indices) hold scikit-hubness's values at the same points (its self entry, when
    self_rows, is no neighbour here and is left out)."""
    sec, ind = ours
    theirs = by_index(theirs_vals, theirs_ind, n_fit)
    if self_rows:
        assert np.isnan(np.diagonal(by_index(sec, ind, n_fit))).all()   # never ourselves
        np.fill_diagonal(theirs, np.nan)
    want = np.take_along_axis(theirs, ind, axis=1)
    assert not np.isnan(want).any()
    np.testing.assert_allclose(sec, want, rtol=rtol, atol=atol)


def rank_order(values, ind):
    """Indices of each row in increasing value order (no ties in these sets)."""
    return np.take_along_axis(ind, np.argsort(values, axis=1, kind="stable"), axis=1)


def drop_self(order):
    return np.array([[j for j in row if j != r] for r, row in enumerate(order)])


# ---- mutual proximity -----------------------------------------------------------------------------

def test_mp_normal_equals_skhubness_on_lists_without_self(graphs):
    g, n_fit = graphs, len(graphs.x)
    mp = MutualProximity().fit(*g.fit)
    want_fit = skh_mp_normal(g.fit, g.fit)
    assert_same_values(mp.transform(*g.fit), want_fit, g.fit[1], n_fit)
    assert_same_values(mp.transform(*g.query_n), skh_mp_normal(g.fit, g.query_n), g.query_n[1], n_fit)


def test_mp_normal_compat_equals_skhubness_with_self(graphs):
    g, n_fit = graphs, len(graphs.x)
    mp = MutualProximity(compat="skhubness").fit(*g.fit)
    want_fit = skh_mp_normal(g.fit_self, g.fit_self)
    assert_same_values(mp.transform(*g.fit), want_fit, g.fit_self[1], n_fit, self_rows=True)
    assert_same_values(mp.transform(*g.query), skh_mp_normal(g.fit_self, g.query), g.query[1], n_fit)
    # the self zero changes the numbers a lot: the default (the paper's other objects) is not that
    plain = MutualProximity().fit(*g.fit).transform(*g.fit)
    theirs = np.take_along_axis(by_index(want_fit, g.fit_self[1], n_fit), plain[1], axis=1)
    assert np.abs(plain[0] - theirs).max() > 0.05


@pytest.mark.parametrize("with_self", [True, False])
def test_mp_empiric_compat_equals_skhubness(graphs, with_self):
    g, n_fit = graphs, len(graphs.x)
    fit_graph = g.fit_self if with_self else g.fit
    query_graph = g.query if with_self else g.query_n
    mp = MutualProximity("empiric", compat="skhubness").fit(*g.fit)
    assert_same_values(mp.transform(*g.fit), skh_mp_empiric(fit_graph, fit_graph), fit_graph[1], n_fit,
                       self_rows=with_self)
    ours_q = mp.transform(*query_graph)
    assert_same_values(ours_q, skh_mp_empiric(fit_graph, query_graph), query_graph[1], n_fit)
    # the default also counts the unlisted objects it can decide: never a larger distance
    plain = MutualProximity("empiric").fit(*g.fit).transform(*query_graph)
    compat_at_plain = np.take_along_axis(by_index(*ours_q, n_fit), plain[1], axis=1)
    assert np.all(plain[0] <= compat_at_plain + 1e-15) and np.any(plain[0] < compat_at_plain)


# ---- local scaling and NICDM ----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["standard", "nicdm"])
@pytest.mark.parametrize("k", [1, 5])
def test_local_scaling_compat_equals_skhubness_with_self(graphs, method, k):
    g, n_fit = graphs, len(graphs.x)
    red = LocalScaling(k=k, method=method, compat="skhubness").fit(*g.fit)
    want_fit = skh_local_scaling(g.fit_self, g.fit_self, k, method)
    want_q = skh_local_scaling(g.fit_self, g.query, k, method)
    assert_same_values(red.transform(*g.fit), want_fit, g.fit_self[1], n_fit, self_rows=True)
    assert_same_values(red.transform(*g.query), want_q, g.query[1], n_fit)

    # the papers' scales here: the same order in every row, other values
    plain = LocalScaling(k=k, method=method).fit(*g.fit)
    fit_plain, q_plain = plain.transform(*g.fit), plain.transform(*g.query)
    np.testing.assert_array_equal(fit_plain[1], drop_self(rank_order(want_fit, g.fit_self[1])))
    np.testing.assert_array_equal(q_plain[1], rank_order(want_q, g.query[1]))
    if method == "nicdm":   # fitted points: scikit-hubness averages their 0 in, sqrt((k+1)/k) on every value
        assert_same_values((fit_plain[0] * math.sqrt((k + 1) / k), fit_plain[1]), want_fit, g.fit_self[1],
                           n_fit, self_rows=True)
    theirs_q = np.take_along_axis(by_index(want_q, g.query[1], n_fit), q_plain[1], axis=1)
    compat_q = red.transform(*g.query)
    assert np.abs(np.take_along_axis(by_index(*compat_q, n_fit), q_plain[1], axis=1) / theirs_q - 1).max() < 1e-12
    if method == "nicdm":
        assert np.abs(q_plain[0] / theirs_q - 1).max() > 1e-3     # queries: another scale


@pytest.mark.parametrize("k", [1, 5])
def test_local_scaling_without_self_ranks_as_k_plus_one(graphs, k):
    """scikit-hubness's LS(k) on lists without the self entry scales by the (k + 1)-th neighbour."""
    g = graphs
    theirs_fit = skh_local_scaling(g.fit, g.fit, k, "standard")
    theirs_q = skh_local_scaling(g.fit, g.query_n, k, "standard")
    ours = LocalScaling(k=k + 1).fit(*g.fit)
    np.testing.assert_array_equal(ours.transform(*g.fit)[1], rank_order(theirs_fit, g.fit[1]))
    np.testing.assert_array_equal(ours.transform(*g.query_n)[1], rank_order(theirs_q, g.query_n[1]))


def test_local_scaling_compat_needs_k_plus_one_query_entries(graphs):
    red = LocalScaling(k=N_NEIGHBORS, compat="skhubness").fit(*graphs.fit)
    with pytest.raises(ValueError, match=r"k \+ 1 = 13"):
        red.transform(*graphs.query_n)
    red.transform(*graphs.query)   # n + 1 entries: fine
    with pytest.raises(ValueError, match="compat"):
        LocalScaling(compat="sklearn").fit(*graphs.fit)
    with pytest.raises(ValueError, match="compat"):
        MutualProximity(compat=True).fit(*graphs.fit)


# ---- DisSimLocal ----------------------------------------------------------------------------------

def test_dis_sim_local_ranks_as_skhubness_without_self(graphs):
    """Its values differ from the paper's by a constant per row (the query's centroid term and the
    call's shift): the same order in every row."""
    g, n_fit, k = graphs, len(graphs.x), 4
    fit = brute_knn(g.x, N_NEIGHBORS, metric="sqeuclidean")
    query = brute_knn(g.x, N_NEIGHBORS, queries=g.q, metric="sqeuclidean")
    dsl = DisSimLocal(k=k).fit(*fit, X=g.x)
    for lists, v in [(fit, g.x), (query, g.q)]:
        theirs = skh_dis_sim_local(fit, g.x, lists, v, k)
        sec, ind = dsl.transform(*lists, X=v)
        gap = sec - np.take_along_axis(by_index(theirs, lists[1], n_fit), ind, axis=1)
        np.testing.assert_allclose(gap, gap[:, :1] * np.ones_like(gap), rtol=0, atol=1e-9)
        assert np.ptp(gap[:, 0]) > 1e-3    # ... a different constant in each row
        np.testing.assert_array_equal(ind, rank_order(theirs, lists[1]))


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("k", [1, 4])
def test_dis_sim_local_compat_equals_skhubness_with_self(graphs, squared, k):
    g, n_fit, n = graphs, len(graphs.x), N_NEIGHBORS
    fit_self = brute_knn(g.x, n + 1, metric="sqeuclidean", exclude_self=False)
    fit, query = (fit_self[0][:, 1:], fit_self[1][:, 1:]), brute_knn(g.x, n + 1, queries=g.q, metric="sqeuclidean")
    dsl = DisSimLocal(k=k, squared=squared, compat="skhubness").fit(*fit, X=g.x)
    # compared as squares: the call's smallest value is shifted to about 0, where a square root turns
    # float64 rounding of 1e-15 into 4e-8
    sq = (lambda r: (r[0] if squared else r[0] ** 2, r[1]))  # noqa: E731
    assert_same_values(sq(dsl.transform(*fit, X=g.x)),
                       sq((skh_dis_sim_local(fit_self, g.x, fit_self, g.x, k, squared), None))[0],
                       fit_self[1], n_fit, rtol=1e-9, atol=1e-9, self_rows=True)
    want = skh_dis_sim_local(fit_self, g.x, query, g.q, k, squared)
    assert_same_values(sq(dsl.transform(*query, X=g.q)), sq((want, None))[0], query[1], n_fit, rtol=1e-9, atol=1e-9)
    if k > 1:   # the centroid holding the point itself changes the order in some rows
        plain = DisSimLocal(k=k).fit(*fit, X=g.x).transform(*query, X=g.q)[1]
        assert not np.array_equal(plain, rank_order(want, query[1]))


# ---- Hubness measures -----------------------------------------------------------------------------

NUMBERS = ("k_skewness", "k_skewness_truncnorm", "robinhood", "gini", "atkinson", "antihub_occurrence")


def test_hubness_include_self_equals_skhubness_on_the_fitted_points(graphs):
    x, k = graphs.x, 6
    graph = kneighbors_graph(x, k, mode="distance", include_self=True)   # what scikit-hubness builds
    theirs = skh_measures(graph.indices.reshape(len(x), k), len(x), k, hub_size=1.5)
    ours = Hubness(k=k, include_self=True, hub_size=1.5, return_value="all").fit(x).score()
    for name in NUMBERS + ("hub_occurrence",):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-10, atol=1e-14, err_msg=name)
    for name in ("hubs", "antihubs"):
        np.testing.assert_array_equal(ours[name], theirs[name])
    assert ours["groupie_ratio"] == pytest.approx(theirs["groupie_ratio"] * k, rel=1e-12)


def test_hubness_of_queries_against_skhubness(graphs):
    x, q, k = graphs.x, graphs.q, 6
    ind = brute_knn(x, k, queries=q)[1]
    theirs = skh_measures(ind, len(x), k, hub_size=0.5)   # 240 slots over 150 points: hubs from N_k >= 3
    ours = Hubness(k=k, hub_size=0.5, return_value="all").fit(x).score(q)
    for name in NUMBERS:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-10, atol=1e-14, err_msg=name)
    for name in ("hubs", "antihubs"):
        np.testing.assert_array_equal(ours[name], theirs[name])
    # the share of the queries' k slots, and of the queries; scikit-hubness divides by n_fitted k, n_queries k
    assert ours["hub_occurrence"] == pytest.approx(theirs["hub_occurrence"] * len(x) / len(q), rel=1e-12)
    assert ours["groupie_ratio"] == pytest.approx(theirs["groupie_ratio"] * k, rel=1e-12)
    assert ours["hub_occurrence"] > 0


# ---- edge cases -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seven_equal():
    r = np.random.default_rng(23)
    x = r.standard_normal((60, 8))
    x[10:17] = x[10]      # 7 identical rows
    return x


@pytest.mark.parametrize("include_self, lost", [(True, [15, 16]), (False, [16])])
def test_duplicate_group_larger_than_k_has_antihubs(seven_equal, include_self, lost):
    """k = 5: a point of 7 equal ones may miss its own list (self sits at 0 among 6 others at 0,
    taken by index), so antihubs exist with or without self; scikit-learn's graph has them too."""
    x, k = seven_equal, 5
    h = Hubness(k=k, include_self=include_self, return_value="all").fit(x)
    counts = np.bincount(brute_knn(x, k, exclude_self=not include_self)[1].ravel(), minlength=len(x))
    np.testing.assert_array_equal(h.k_occurrence(), counts)
    antihubs = h.score()["antihubs"]
    np.testing.assert_array_equal(antihubs[(antihubs >= 10) & (antihubs < 17)], lost)
    assert h.score()["antihub_occurrence"] == np.mean(counts == 0) > 0
    sk = np.asarray(kneighbors_graph(x, k, include_self=include_self).sum(axis=0)).ravel()
    assert sk.sum() == counts.sum() == len(x) * k
    assert np.any(sk[10:17] == 0)       # scikit-learn's ties leave group members out as well


def test_mp_normal_with_all_distances_equal():
    """A list of equal distances is a point mass: SF 1 below, 1/2 at, 0 above (scikit-hubness: NaN)."""
    ind = np.array([[(p + 1) % 4, (p + 2) % 4] for p in range(4)])
    fit = (np.full((4, 2), 0.3), ind)
    query = (np.array([[0.1, 0.3, 0.5]]), np.array([[1, 2, 3]]))
    sd = math.sqrt(0.08 / 3)                            # the query's own list: mean 0.3
    phi = 0.5 * math.erfc(-(0.2 / sd) / math.sqrt(2))   # P(N(0.3, sd) > 0.1)
    sec, ind_out = MutualProximity().fit(*fit).transform(*query)
    np.testing.assert_array_equal(ind_out, [[1, 2, 3]])
    np.testing.assert_allclose(sec, [[1 - phi * 1.0, 1 - 0.5 * 0.5, 1 - (1 - phi) * 0.0]], rtol=1e-14)
    assert np.isnan(skh_mp_normal(fit, query)).all()
    # a query whose own list is flat too: 1/2 * 1/2 at the shared value
    sec, _ = MutualProximity().fit(*fit).transform([[0.3, 0.3]], [[0, 1]])
    np.testing.assert_array_equal(sec, [[0.75, 0.75]])
    # compat: the self zero joins the fitted statistics, so only exact duplicates (all 0) are flat
    zeros = (np.zeros((4, 2)), ind)
    query = (np.array([[0.0, 0.0, 0.5]]), np.array([[1, 2, 3]]))
    m, sd = 1 / 6, math.sqrt((2 / 36 + (1 / 3) ** 2) / 3)
    sf = [0.5 * math.erfc((v - m) / (sd * math.sqrt(2))) for v in (0.0, 0.5)]
    sec, _ = MutualProximity(compat="skhubness").fit(*zeros).transform(*query)
    np.testing.assert_allclose(sec, [[1 - sf[0] * 0.5, 1 - sf[0] * 0.5, 1.0]], rtol=1e-14)
    assert np.isnan(skh_mp_normal((np.zeros((4, 3)), None), query)).all()


def test_constant_counts_have_no_hubness():
    """12 points on a circle, k = 2: every N_k is 2. k_skewness (and the truncated-normal moment,
    whose truncation point goes to -inf) are 0 here, 0 / 0 = NaN in scikit-hubness."""
    t = 2 * np.pi * np.arange(12) / 12
    x = np.stack([np.cos(t), np.sin(t)], axis=1)
    h = Hubness(k=2, return_value="all").fit(x)
    np.testing.assert_array_equal(h.k_occurrence(), np.full(12, 2))
    got = h.score()
    for name in ("k_skewness", "k_skewness_truncnorm", "robinhood", "gini", "antihub_occurrence", "hub_occurrence"):
        assert got[name] == 0.0, name
    assert got["atkinson"] == pytest.approx(0.0, abs=1e-15)
    assert got["groupie_ratio"] == 1 / 6
    theirs = skh_measures(brute_knn(x, 2)[1], 12, 2)
    assert math.isnan(theirs["k_skewness"]) and math.isnan(theirs["k_skewness_truncnorm"])


def test_csls_ties_go_by_primary_then_index():
    """Equal CSLS: the more similar (nearer) point first, then the smaller index."""
    # r(y) for y = 0..3 from the fit lists (k = 1): 0.75, 0.25, 0.75, 0.25
    fit = (np.array([[0.75], [0.25], [0.75], [0.25]]), np.array([[1], [0], [3], [2]]))
    sims = np.array([[0.75, 0.75, 0.5, 0.5]])    # 2s - r(y): 0.75, 0.75, 0.75, 0.75
    for order in ([[2, 0, 3, 1]], [[0, 2, 1, 3]]):
        s, i = CSLS(k=1, values="similarity").fit(*fit).transform(sims, np.array(order))
        np.testing.assert_array_equal(s, [[0.0] * 4])     # 2 s - r(x) - r(y), r(x) = 0.75
        np.testing.assert_array_equal(i, [[0, 2, 1, 3]])
    dists = np.array([[0.25, 0.25, 0.5, 0.5]])   # the same on distances (1 - s): r = 0.25, 0.75
    fit_d = (1.0 - fit[0], fit[1])
    d, i = CSLS(k=1).fit(*fit_d).transform(dists, np.array([[2, 0, 3, 1]]))
    np.testing.assert_array_equal(d, [[0.0] * 4])
    np.testing.assert_array_equal(i, [[0, 2, 1, 3]])
