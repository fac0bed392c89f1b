"""NearestNeighbors, kneighbors_graph and radius_neighbors_graph against scikit-learn's brute force,
and the exact radius pass against a float64 oracle on adversarial data."""
import numpy as np
import pytest

sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
from sklearn.utils.estimator_checks import parametrize_with_checks

from hubness_fast import hub_counts
from hubness_fast.neighbors import NearestNeighbors, kneighbors_graph, radius_neighbors_graph
from hubness_fast.engine.radius import radius_neighbors

RNG = np.random.default_rng(0)
X = RNG.standard_normal((600, 16))           # continuous: no ties
Q = RNG.standard_normal((90, 16))


def ref(**kw):
    return sklearn_neighbors.NearestNeighbors(algorithm="brute", **kw).fit(X)


@parametrize_with_checks([NearestNeighbors()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("metric", ["minkowski", "euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("queries", [None, Q])
def test_kneighbors_equal_scikit_learn(metric, queries):
    ours = NearestNeighbors(n_neighbors=7, metric=metric).fit(X)
    d, i = ours.kneighbors(queries)
    rd, ri = ref(n_neighbors=7, metric=metric).kneighbors(queries)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-9, atol=1e-12)
    for mode in ("connectivity", "distance"):
        g, rg = ours.kneighbors_graph(queries, mode=mode), ref(n_neighbors=7, metric=metric).kneighbors_graph(
            queries, mode=mode)
        assert g.shape == rg.shape and abs(g - rg).max() < 1e-9


@pytest.mark.parametrize("metric, radius", [("euclidean", 4.2), ("sqeuclidean", 17.0), ("cosine", 0.45)])
@pytest.mark.parametrize("queries", [None, Q])
def test_radius_neighbors_equal_scikit_learn(metric, radius, queries):
    ours = NearestNeighbors(radius=radius, metric=metric).fit(X)
    d, i = ours.radius_neighbors(queries)
    rd, ri = ref(radius=radius, metric=metric).radius_neighbors(queries, sort_results=True)
    assert sum(map(len, i)) > len(i)  # several neighbours per query on average
    for a, b, da, db in zip(i, ri, d, rd):
        np.testing.assert_array_equal(a, b)  # same sets, same (distance) order
        np.testing.assert_allclose(da, db, rtol=1e-9, atol=1e-12)
    for mode in ("connectivity", "distance"):
        g = ours.radius_neighbors_graph(queries, mode=mode)
        rg = ref(radius=radius, metric=metric).radius_neighbors_graph(queries, mode=mode)
        assert g.shape == rg.shape and (g != 0).sum() == (rg != 0).sum() and abs(g - rg).max() < 1e-9


@pytest.mark.parametrize("include_self", [False, True])
def test_module_functions_equal_scikit_learn(include_self):
    g = kneighbors_graph(X, 5, mode="distance", include_self=include_self)
    rg = sklearn_neighbors.kneighbors_graph(X, 5, mode="distance", include_self=include_self)
    assert g.nnz == rg.nnz == 600 * 5  # self at distance 0 stored, as theirs
    # scikit-learn's self distances come from |x|^2 - 2 x.x + |x|^2 (up to 2e-7 here); ours are exactly 0
    assert abs(g - rg).max() < (1e-6 if include_self else 1e-9)
    assert not include_self or np.all(g.diagonal() == 0)
    c = kneighbors_graph(X, 5, include_self=include_self)
    rc = sklearn_neighbors.kneighbors_graph(X, 5, include_self=include_self)
    assert (c != rc).nnz == 0
    # the paper notebook's hub values: column sums of the graph with each point counting itself
    np.testing.assert_array_equal(np.asarray(c.sum(axis=0)).ravel(),
                                  hub_counts(X.astype(np.float32), 5, include_self=include_self))
    r = radius_neighbors_graph(X, 4.2, mode="distance", include_self=include_self)
    rr = sklearn_neighbors.radius_neighbors_graph(X, 4.2, mode="distance", include_self=include_self)
    assert abs(r - rr).max() < (1e-6 if include_self else 1e-9) and r.nnz == rr.nnz


def oracle_radius(x, q, r, exclude_self):
    """Float64 brute force: (distance, index)-sorted lists of points with |q - x| <= r."""
    d = np.sqrt(((q.astype(np.float64)[:, None] - x.astype(np.float64)[None]) ** 2).sum(-1))
    out = []
    for i, row in enumerate(d):
        ids = np.flatnonzero(row <= r)
        if exclude_self:
            ids = ids[ids != i]
        out.append(ids[np.lexsort((ids, row[ids]))])
    return out


def adversarial_radius_case(case):
    """Data and radius with many pairs at or near the radius; 1 200-1 300 points: three 576-row blocks, so the
    self-join's off-diagonal block pairs (each pair visited once, listed both ways) are exercised."""
    rng = np.random.default_rng(1)
    if case == "grid":            # integer grid: many points exactly at the radius
        return rng.integers(-3, 4, (1300, 3)).astype(np.float32), 2.0
    if case == "duplicates":      # groups of identical rows, larger than any k
        return np.repeat(rng.standard_normal((40, 5)), 30, axis=0).astype(np.float32), 0.8
    if case == "large_norms":     # far-off cluster: cancellation in |x|^2 - 2 x.y + |y|^2
        return (1e4 + rng.standard_normal((1200, 8)) * 1e-2).astype(np.float32), 0.03
    # a radius whose square is not a float64: sqrt(5), reached by many pairs
    return rng.integers(-4, 5, (1200, 4)).astype(np.float32), float(np.sqrt(5.0))


@pytest.mark.parametrize("case", ["grid", "duplicates", "large_norms", "boundary"])
def test_radius_pass_is_exact_on_adversarial_data(case, simd):
    x, r = adversarial_radius_case(case)
    for q, exclude in ((None, True), (x[:50], False)):
        res = radius_neighbors(x, r, queries=q)
        qq = x if q is None else q
        want = oracle_radius(x, qq, r, exclude)
        for i, w in enumerate(want):
            np.testing.assert_array_equal(res.indices[res.indptr[i]:res.indptr[i + 1]], w)
            exact = np.sqrt(((qq[i].astype(np.float64) - x[w].astype(np.float64)) ** 2).sum(-1))
            np.testing.assert_allclose(res.distances[res.indptr[i]:res.indptr[i + 1]], exact, rtol=1e-15, atol=0)
    assert res.indptr[-1] > 0


@pytest.mark.parametrize("case", ["grid", "large_norms"])
def test_gpu_route_gives_the_cpu_route_answer(case):
    # The two-pass route a GPU takes (ball counts, then k-NN with k = the count), run here on the CPU engine,
    # lists the same pairs in the same order as the one-pass CPU route.
    from hubness_fast.engine.radius import _two_passes
    x, r = adversarial_radius_case(case)
    one = radius_neighbors(x, r, metric="sqeuclidean")
    two = _two_passes(x, r, x, True, None, "cpu")
    np.testing.assert_array_equal(one.indptr, two[0])
    np.testing.assert_array_equal(one.indices, two[1])
    np.testing.assert_allclose(one.distances, two[2], rtol=1e-15, atol=0)


def test_zero_radius_and_no_neighbours():
    res = radius_neighbors(X, 0.0)
    assert res.indptr[-1] == 0 and len(res.indptr) == len(X) + 1
    nn = NearestNeighbors(radius=0.1).fit(X)
    d, i = nn.radius_neighbors(Q)
    assert all(len(a) == 0 for a in i) and d.dtype == object


def test_inputs_scikit_learn_takes():
    pd = pytest.importorskip("pandas")
    torch = pytest.importorskip("torch")
    x32 = X.astype(np.float32)
    want = NearestNeighbors(n_neighbors=4).fit(x32).kneighbors()
    for data in (pd.DataFrame(x32), torch.from_numpy(x32)):
        got = NearestNeighbors(n_neighbors=4).fit(data).kneighbors()
        np.testing.assert_array_equal(got[1], want[1])
        assert got[0].dtype == np.float64  # scikit-learn's distance dtype, float32 data included


def test_memmap_input(tmp_path):
    m = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=X.shape)
    m[:] = X
    np.testing.assert_array_equal(NearestNeighbors(n_neighbors=3).fit(m).kneighbors()[1],
                                  ref(n_neighbors=3).kneighbors()[1])


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "manhattan"}, "metric must be one of"),
    ({"metric": "minkowski", "p": 1}, "p=2 only"),
    ({"n_neighbors": 0}, "n_neighbors"),
    ({"device": "tpu"}, "device"),
    ({"metric": "minkowski", "p": "2"}, "p=2 only, got p='2'"),
    ({"metric_params": {"w": 1}}, "metric_params are not used"),
])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NearestNeighbors(**kwargs).fit(X)


def test_bad_queries_are_refused():
    nn = NearestNeighbors(n_neighbors=3).fit(X)
    with pytest.raises(ValueError, match="features"):
        nn.kneighbors(Q[:, :5])
    with pytest.raises(ValueError, match="n_neighbors <= n_samples_fit - 1 = 599"):
        nn.kneighbors(n_neighbors=600)
    with pytest.raises(ValueError, match="radius"):
        nn.radius_neighbors(Q, radius=-1.0)
    with pytest.raises(ValueError, match="metric_params"):
        kneighbors_graph(X, 3, metric_params={"w": 1})


def test_distance_dtypes_are_scikit_learns():
    from sklearn import neighbors as skn

    from hubness_fast.neighbors import KNeighborsTransformer

    x32 = X[:200].astype(np.float32)
    a, b = NearestNeighbors(n_neighbors=3).fit(x32), skn.NearestNeighbors(n_neighbors=3).fit(x32)
    assert a.kneighbors()[0].dtype == b.kneighbors()[0].dtype
    assert a.kneighbors(x32)[0].dtype == b.kneighbors(x32)[0].dtype
    assert a.kneighbors_graph(mode="distance").dtype == b.kneighbors_graph(mode="distance").dtype
    assert a.radius_neighbors_graph(radius=3, mode="distance").dtype == \
        b.radius_neighbors_graph(radius=3, mode="distance").dtype
    assert a.radius_neighbors(radius=3)[0][0].dtype == b.radius_neighbors(radius=3)[0][0].dtype
    for hubness in (None, "mp"):
        assert KNeighborsTransformer(hubness=hubness).fit_transform(x32).dtype == \
            skn.KNeighborsTransformer().fit_transform(x32).dtype


def test_infinite_radius_lists_every_point_as_scikit_learn(rng):
    from sklearn import neighbors as skn

    x, q = rng.standard_normal((60, 4)), rng.standard_normal((7, 4))
    ours = NearestNeighbors(radius=np.inf).fit(x)
    theirs = skn.NearestNeighbors(radius=np.inf, algorithm="brute").fit(x)
    for queries in (None, q):
        d, i = ours.radius_neighbors(queries)
        sd, si = theirs.radius_neighbors(queries, sort_results=True)
        assert len(i) == len(si)
        for a, b, c, e in zip(i, si, d, sd):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(c, e, rtol=1e-12)
        g, sg = ours.radius_neighbors_graph(queries, mode="distance"), theirs.radius_neighbors_graph(queries,
                                                                                                      mode="distance")
        np.testing.assert_allclose(g.toarray(), sg.toarray(), rtol=1e-12)
    assert NearestNeighbors(radius=np.inf).fit(x[:1]).radius_neighbors()[1][0].size == 0


def test_cosine_radius_refuses_rows_whose_norms_overflow(rng):
    x = rng.standard_normal((30, 4))
    x[6] *= 1e200  # |x|^2 overflows: normalised, the row would be zeros, at distance 0.5 from everything
    with pytest.raises(ValueError, match=r"x has a squared norm beyond the float64 range \(first at row 6\)"):
        radius_neighbors(x, 0.5, metric="cosine")
    with pytest.raises(ValueError, match=r"queries has a squared norm beyond the float64 range \(first at row 6\)"):
        radius_neighbors(rng.standard_normal((30, 4)), 0.5, metric="cosine", queries=x)
    x[6] /= 1e200
    big = radius_neighbors(x * 1e150, 0.5, metric="cosine")  # |x|^2 near 1e300: cosine does not depend on scale
    small = radius_neighbors(x, 0.5, metric="cosine")
    np.testing.assert_array_equal(big.indptr, small.indptr)
    np.testing.assert_array_equal(big.indices, small.indices)


@pytest.mark.parametrize("metric, radius", [("cosine", 2.5), ("cosine", 1e308), ("euclidean", 1e200),
                                            ("euclidean", 1e308)])
def test_radius_beyond_every_distance_finds_every_pair(rng, metric, radius):
    x = rng.standard_normal((25, 3))
    got = radius_neighbors(x, radius, metric=metric)
    assert np.all(np.diff(got.indptr) == 24)
    theirs = sklearn_neighbors.NearestNeighbors(radius=radius, metric=metric, algorithm="brute").fit(x)
    ref_d, _ = theirs.radius_neighbors(sort_results=True)
    order = [np.argsort(got.distances[s:e], kind="stable") for s, e in zip(got.indptr[:-1], got.indptr[1:])]
    np.testing.assert_allclose(np.concatenate([got.distances[s:e][o] for (s, e), o in
                                               zip(zip(got.indptr[:-1], got.indptr[1:]), order)]),
                               np.concatenate(ref_d), rtol=1e-9, atol=1e-12)


def test_cosine_radius_refuses_the_rows_knn_refuses(rng):
    x = rng.standard_normal((30, 3))
    small = x.copy()
    small[4] = np.array([1.0, 3.0, 7.0]) * 1e-158  # |x|^2 about 6e-315: float64 cosine would underflow
    with pytest.raises(ValueError, match="row 4 has a squared norm below 2\\^-969"):
        radius_neighbors(small, 0.1, metric="cosine")
    zero = x.copy()
    zero[9] = 0
    with pytest.raises(ValueError, match="row 9 is all zeros"):
        radius_neighbors(zero, 0.1, metric="cosine")
    with pytest.raises(ValueError, match="row 4 has a squared norm below"):  # the same rule as knn
        NearestNeighbors(n_neighbors=3, metric="cosine").fit(small).kneighbors()


def cosine_radius_oracle(x, r, queries=None):
    """Per query, (indices, distances) with the k-NN engine's cosine <= r: exact_keys, the float64
    1 - <a, b> / (|a| |b|) summed left to right, each point left out of its own row in a self-join."""
    from oracles import exact_keys

    keys = exact_keys(x, queries, "cosine")
    if queries is None:
        np.fill_diagonal(keys, np.inf)
    out = []
    for row in keys:
        inside = np.flatnonzero(row <= r)
        order = np.lexsort((inside, row[inside]))
        out.append((inside[order], row[inside[order]]))
    return out


def assert_radius_equals(got, expected):
    assert len(got.indptr) == len(expected) + 1
    for i, (ind, dist) in enumerate(expected):
        row = slice(got.indptr[i], got.indptr[i + 1])
        np.testing.assert_array_equal(got.indices[row], ind)
        np.testing.assert_array_equal(got.distances[row], dist)  # to the bit


def cosine_rows(rng):
    from oracles import sequential_dot

    x = rng.standard_normal((300, 24)) * np.exp(rng.uniform(-30, 30, (300, 1)))  # norms from 1e-13 to 1e13
    own = 1.0 - sequential_dot(x, x, pairs=True) / np.sqrt(sequential_dot(x, x, pairs=True)) ** 2
    x[2] = x[int(np.flatnonzero(own > 0)[0])]  # a row whose 1 - cos with itself rounds above 0
    x[7] = x[2] * 2.0 ** 40  # parallel rows: 1 - cos rounds near 0, either side
    x[8] = x[2] * 3.0
    x[9] = x[2]  # an exact duplicate: raw above the parallel rows, reported at 0 among them
    x[10:14] = x[2] * np.array([5.0, 0.5, 7.0, 2.0 ** -30])[:, None]  # more parallel rows than k = 3
    x[20:30] = np.round(rng.uniform(-3, 3, (10, 24)))  # an integer grid
    return x


def test_cosine_radius_is_the_knn_engines_cosine_to_the_bit(rng):
    # one definition for a pair in knn and radius_neighbors: 1 - <a,b> / (|a| |b|) summed left to right;
    # a radius equal to a distance includes it, one ulp below excludes it
    from oracles import exact_keys

    from hubness_fast import knn

    x = cosine_rows(rng)
    keys = exact_keys(x, None, "cosine")
    np.fill_diagonal(keys, np.inf)
    at = float(keys[0, 5])
    quantile = float(np.quantile(keys[np.isfinite(keys)], 0.02))
    for r in (at, float(np.nextafter(at, -np.inf)), quantile, 0.0, float(keys[keys > 0].min()), 1.9999):
        assert_radius_equals(radius_neighbors(x, r, metric="cosine"), cosine_radius_oracle(x, r))
    q = np.concatenate([x[[2, 7, 21]], rng.standard_normal((6, 24))])
    assert_radius_equals(radius_neighbors(x, quantile, metric="cosine", queries=q),
                         cosine_radius_oracle(x, quantile, queries=q))
    f32 = x[:100].astype(np.float32) / np.abs(x[:100]).max(axis=1, keepdims=True).astype(np.float32)
    assert_radius_equals(radius_neighbors(f32, 0.3, metric="cosine"), cosine_radius_oracle(f32, 0.3))
    res = knn(x, 4, metric="cosine")  # the values knn reports (as float32) are the ones radius_neighbors decides on
    within = radius_neighbors(x, float(res.distances[:, 3].max()) * (1 + 1e-6), metric="cosine")
    for i in range(len(x)):
        row = slice(within.indptr[i], within.indptr[i + 1])
        listed = dict(zip(within.indices[row].tolist(), within.distances[row].tolist()))
        assert all(np.float32(listed[j]) == d for j, d in zip(res.indices[i], res.distances[i]))  # knn's float32


def test_nearest_neighbors_radius_and_kneighbors_agree_on_cosine(rng):
    # a neighbour kneighbors reports at distance d is within radius d (clipped at 0, identical rows at 0)
    x = cosine_rows(rng)
    nn = NearestNeighbors(metric="cosine").fit(x)
    d, i = nn.kneighbors(n_neighbors=3)
    for r in (0.0, float(d[0, 1]), float(d[:, 2].max())):
        dr, ir = nn.radius_neighbors(radius=r)
        for row in range(len(x)):
            inside = d[row] <= r
            reported = dict(zip(ir[row].tolist(), dr[row].tolist()))
            assert all(reported[j] == v for j, v in zip(i[row][inside].tolist(), d[row][inside].tolist()))
            assert np.all(dr[row] <= r) and np.all(dr[row] >= 0)
            assert np.all(np.diff(dr[row]) >= 0)
            if len(ir[row]) >= 3:  # and the other way: kneighbors lists the radius list's first three
                np.testing.assert_array_equal(i[row], ir[row][:3])
                np.testing.assert_array_equal(d[row], dr[row][:3])
    assert 9 in ir[2] and dr[2][list(ir[2]).index(9)] == 0.0  # the duplicate, at radius 0


def test_the_gpu_routes_distances_are_summed_as_the_cpu_pass_sums_them(rng):
    # the GPU route recomputes the listed pairs' distances; run here on the CPU, it must give the CPU
    # pass's float64 values (summed left to right), not numpy's einsum order
    from hubness_fast.engine import radius as radius_module

    x = rng.standard_normal((400, 37)) * 1e3 + 5e4
    r2 = float(np.quantile(((x[:50, None] - x[None, :300]) ** 2).sum(-1), 0.05))
    cpu = radius_module.radius_neighbors(x, r2, metric="sqeuclidean", device="cpu")
    indptr, indices, sq = radius_module._two_passes(x, r2, x, True, None, "cpu")
    np.testing.assert_array_equal(indptr, cpu.indptr)
    for s, e in zip(indptr[:-1], indptr[1:]):  # the same sets; the k-NN pass may order ties otherwise
        a, b = np.lexsort((indices[s:e], sq[s:e])), np.lexsort((cpu.indices[s:e], cpu.distances[s:e]))
        np.testing.assert_array_equal(indices[s:e][a], cpu.indices[s:e][b])
        np.testing.assert_array_equal(sq[s:e][a], cpu.distances[s:e][b])


def test_the_cpu_pass_and_the_gpu_route_give_one_cosine_radius_result(rng):
    # the CPU pass values, sorts and cuts the pairs natively; the GPU route (run here on the CPU) does it
    # in Python from the same candidates: both must hand back the same lists, to the bit
    from hubness_fast.engine import radius as radius_module

    x = cosine_rows(rng)
    q = np.concatenate([x[[2, 7, 9, 21]], rng.standard_normal((5, 24))])
    for queries, r in ((None, 0.0), (None, 0.05), (None, 1.0), (q, 0.3)):
        cpu = radius_neighbors(x, r, metric="cosine", queries=queries, device="cpu")
        rows = x if queries is None else q
        unit, sq = radius_module._unit_rows(x, "x")
        q_unit, q_sq = (unit, sq) if queries is None else radius_module._unit_rows(q, "queries")
        r2 = 2 * min(r + radius_module.cosine_slack(x.shape[1]), 4.0)
        indptr, indices, _ = radius_module._two_passes(q_unit, r2, unit, queries is None, None, "cpu")
        gpu = radius_module._cosine_within(x, sq, rows, q_sq, r, indptr, indices, None)
        for got, want in zip(cpu, gpu):
            np.testing.assert_array_equal(got, want)


def test_the_native_cosine_pass_refuses_rows_that_do_not_match_its_pass(rng):
    from hubness_fast import _cpu

    x = rng.standard_normal((20, 6))
    norms = np.linalg.norm(x, axis=1)
    unit = x / norms[:, None]
    call = dict(a=unit, radius2=1.0, b=unit, same_set=True, a_rows=x, a_norm=norms, b_rows=x, b_norm=norms,
                radius=0.5, n_threads=1, simd="auto", progress=None)
    indptr, _, values = _cpu.radius_cosine_pairs(**call)
    assert indptr[-1] > 0 and values.max() <= 0.5
    for change, message in ((dict(a_rows=x[:10], a_norm=norms[:10]), "shaped as the pass's rows"),
                            (dict(a_rows=x.astype(np.float32)), "one dtype"),
                            (dict(a_norm=norms[:5]), "one norm per row"),
                            (dict(a_norm=norms.copy()), "same_set needs one set of cosine rows"),
                            (dict(radius=np.inf), "finite radius")):
        with pytest.raises(ValueError, match=message):
            _cpu.radius_cosine_pairs(**{**call, **change})


def test_sort_pairs_sorts_each_group_by_value_then_index(rng):
    from hubness_fast.engine.radius import sort_pairs

    owner = np.sort(rng.integers(0, 40, 600))
    values = rng.integers(0, 5, 600).astype(np.float64)  # many ties: the index decides
    indices = rng.permutation(600)
    order = np.lexsort((indices, values, owner))
    got_v, got_i = sort_pairs(owner, values, indices)
    np.testing.assert_array_equal(got_v, values[order])
    np.testing.assert_array_equal(got_i, indices[order])
    again = sort_pairs(owner, got_v, got_i)  # in order already: unchanged
    np.testing.assert_array_equal(again[1], got_i)


def test_pair_cosines_is_the_oracles_cosine_and_checks_its_indices(rng):
    from oracles import exact_keys, sequential_dot

    from hubness_fast.engine import _dispatch

    x = cosine_rows(rng)
    rows, cols = rng.integers(0, len(x), 5000), rng.integers(0, len(x), 5000)  # above the one-thread size
    norms = np.sqrt(sequential_dot(x, x, pairs=True))
    got = _dispatch.pair_cosines(x, norms, x, norms, rows, cols)
    np.testing.assert_array_equal(got, exact_keys(x, None, "cosine")[rows, cols])
    for bad in (len(x), -1):
        with pytest.raises(ValueError, match="a pair index is out of range"):
            _dispatch.pair_cosines(x, norms, x, norms, np.array([0]), np.array([bad]))


def test_metric_params_and_effective_metric_params_as_scikit_learn():
    from sklearn.base import clone

    for params in (None, {}):
        nn = NearestNeighbors(n_neighbors=3, metric_params=params).fit(X)
        assert nn.get_params()["metric_params"] == params and clone(nn).metric_params == params
        assert nn.effective_metric_params_ == ref(n_neighbors=3, metric_params=params).effective_metric_params_ == {}
        np.testing.assert_array_equal(nn.kneighbors()[1], ref(n_neighbors=3).kneighbors()[1])
    from hubness_fast.neighbors import KNeighborsTransformer
    assert KNeighborsTransformer().fit(X).effective_metric_params_ == {}


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_include_self_auto_is_scikit_learns(mode):
    for ours, theirs, size in ((kneighbors_graph, sklearn_neighbors.kneighbors_graph, 5),
                               (radius_neighbors_graph, sklearn_neighbors.radius_neighbors_graph, 4.2)):
        g, rg = ours(X, size, mode=mode, include_self="auto"), theirs(X, size, mode=mode, include_self="auto")
        assert g.nnz == rg.nnz and abs(g - rg).max() < 1e-6
        assert np.count_nonzero(g.diagonal()) == (600 if mode == "connectivity" else 0)
        with pytest.raises(ValueError, match="include_self must be True, False or 'auto', got 'yes'"):
            ours(X, size, mode=mode, include_self="yes")


def test_graph_functions_take_a_fitted_estimator_as_scikit_learn():
    nn = NearestNeighbors(n_neighbors=2, radius=0.5).fit(X)
    for include_self in (False, True):
        g = kneighbors_graph(nn, 4, mode="distance", include_self=include_self)
        rg = sklearn_neighbors.kneighbors_graph(ref(), 4, mode="distance", include_self=include_self)
        assert g.nnz == rg.nnz == 600 * 4 and abs(g - rg).max() < 1e-6
        r = radius_neighbors_graph(nn, 4.2, include_self=include_self)
        rr = sklearn_neighbors.radius_neighbors_graph(ref(), 4.2, include_self=include_self)
        assert (r != rr).nnz == 0
    with pytest.raises(ValueError, match="has metric='minkowski', but metric='cosine' was asked for"):
        kneighbors_graph(nn, 4, metric="cosine")
    with pytest.raises(ValueError, match="NearestNeighbors"):
        kneighbors_graph(ref(), 4)  # scikit-learn's own: its data is not ours to read
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        radius_neighbors_graph(NearestNeighbors(), 1.0)


def reported_cosine(x, queries=None, exclude_self=True):
    """The cosine this layer reports for every pair, from the float64 oracle: 1 - cos clipped at 0,
    identical rows with a direction at 0, and any pair with a row of zeros at 1, as scikit-learn's
    cosine_distances puts it; in a self-join a point's own entry is left out (inf) or at 0."""
    from oracles import exact_keys

    q = x if queries is None else queries
    zx, zq = ~np.any(x, axis=1), ~np.any(q, axis=1)
    keys = np.ones((len(q), len(x)))
    keys[np.ix_(~zq, ~zx)] = np.maximum(exact_keys(x[~zx], q[~zq], "cosine"), 0.0)
    keys[np.all(q[:, None, :] == x[None, :, :], axis=2) & ~zq[:, None] & ~zx[None, :]] = 0.0
    if queries is None:
        np.fill_diagonal(keys, np.inf if exclude_self else 0.0)
    return keys


def smallest(keys, k):
    idx = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.lexsort((idx, keys), axis=1)[:, :k]
    return np.take_along_axis(keys, order, axis=1), order


def rows_with_zeros(rng, n=60, zeros=(0, 7, 8, 31)):
    x = rng.standard_normal((n, 5))
    x[list(zeros)] = 0.0
    x[8] = -0.0  # a zero too
    x[20] = x[21]  # identical rows with a direction: at 0
    x[40] = 3 * x[41]
    return x


@pytest.mark.parametrize("k", [1, 5, 58, 59])  # up to every other point: the zero rows enter every list
def test_cosine_rows_of_zeros_are_at_one_from_everything_as_scikit_learn(rng, k):
    # scikit-learn's cosine puts a row of zeros at 1 - 0 = 1 from every point; the engine refuses such
    # rows (their cosine is undefined), so this layer runs it on the rows with a direction and merges
    x = rows_with_zeros(rng)
    q = np.concatenate([rng.standard_normal((6, 5)), np.zeros((2, 5)), x[20:21]])
    nn = NearestNeighbors(metric="cosine").fit(x)
    sk = sklearn_neighbors.NearestNeighbors(metric="cosine", algorithm="brute").fit(x)
    for queries, exclude_self in ((None, True), (q, None)):
        d, i = nn.kneighbors(queries, min(k, len(x) - (queries is None)))
        od, oi = smallest(reported_cosine(x, queries), d.shape[1])
        np.testing.assert_array_equal(i, oi)
        np.testing.assert_allclose(d, od, rtol=0, atol=1e-15)
        rd, _ = sk.kneighbors(queries, d.shape[1])  # ties at 1 in any order: the distances agree
        np.testing.assert_allclose(d, rd, rtol=1e-9, atol=1e-9)
    zero_row = 7
    assert set(nn.kneighbors(None, 3)[1][zero_row]) == {0, 1, 2}  # every point at 1: the lowest indices


def test_cosine_transformer_with_rows_of_zeros_equals_the_oracle(rng):
    from hubness_fast.neighbors import KNeighborsTransformer

    x = rows_with_zeros(rng)
    g = KNeighborsTransformer(n_neighbors=6, metric="cosine", mode="distance").fit_transform(x)
    od, oi = smallest(reported_cosine(x, exclude_self=False), 7)  # itself first, at 0
    np.testing.assert_array_equal(g.indices.reshape(len(x), 7), oi)
    np.testing.assert_allclose(g.data.reshape(len(x), 7), od, rtol=0, atol=1e-15)
    sk = sklearn_neighbors.KNeighborsTransformer(n_neighbors=6, metric="cosine", mode="distance").fit(x)
    assert sk.transform(x).shape == g.shape


@pytest.mark.parametrize("radius", [0.4, 0.999, 1.0, 1.5])
def test_cosine_radius_with_rows_of_zeros_equals_the_oracle(rng, radius):
    x = rows_with_zeros(rng)
    q = np.concatenate([rng.standard_normal((6, 5)), np.zeros((2, 5))])
    nn = NearestNeighbors(metric="cosine", radius=radius).fit(x)
    sk = sklearn_neighbors.NearestNeighbors(metric="cosine", algorithm="brute", radius=radius).fit(x)
    for queries in (None, q):
        d, i = nn.radius_neighbors(queries)
        keys = reported_cosine(x, queries)
        rd, ri = sk.radius_neighbors(queries)
        for row, (got_i, got_d, sk_i) in enumerate(zip(i, d, ri)):
            want = np.flatnonzero(keys[row] <= radius)
            want = want[np.lexsort((want, keys[row, want]))]
            np.testing.assert_array_equal(got_i, want)
            np.testing.assert_allclose(got_d, keys[row, want], rtol=0, atol=1e-15)
            assert set(got_i) == set(sk_i), row
        g = nn.radius_neighbors_graph(queries, mode="distance")
        assert g.nnz == sum(map(len, i))


def test_cosine_every_row_zero_or_one_direction(rng):
    x = np.zeros((5, 3))
    nn = NearestNeighbors(metric="cosine").fit(x)
    d, i = nn.kneighbors(None, 4)
    np.testing.assert_array_equal(i, [[1, 2, 3, 4], [0, 2, 3, 4], [0, 1, 3, 4], [0, 1, 2, 4], [0, 1, 2, 3]])
    assert np.all(d == 1)
    assert [len(a) for a in nn.radius_neighbors(None, 0.5)[1]] == [0] * 5
    assert [len(a) for a in nn.radius_neighbors(None, 1.0)[1]] == [4] * 5
    x[2] = [1.0, 2.0, 3.0]  # one row with a direction: no other point to pair it with
    d, i = NearestNeighbors(metric="cosine").fit(x).kneighbors(None, 2)
    np.testing.assert_array_equal(i[2], [0, 1])
    np.testing.assert_array_equal(i[0], [1, 2])
    with pytest.raises(ValueError, match="radius must be a finite number >= 0"):
        NearestNeighbors(metric="cosine").fit(np.zeros((3, 2))).radius_neighbors(None, -1.0)


def test_unsorted_radius_lists_without_distances_as_scikit_learn():
    nn = NearestNeighbors(radius=4.0).fit(X)
    with pytest.raises(ValueError, match="return_distance must be True if sort_results is True"):
        nn.radius_neighbors(Q[:3], return_distance=False, sort_results=True)
    with pytest.raises(ValueError, match="return_distance must be True if sort_results is True"):
        ref(radius=4.0).radius_neighbors(Q[:3], return_distance=False, sort_results=True)
    ids = nn.radius_neighbors(Q[:3], return_distance=False)
    _, sorted_ids = nn.radius_neighbors(Q[:3], sort_results=True)
    for a, b in zip(ids, sorted_ids):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("include_self", [True, False])
def test_graph_functions_put_a_zero_row_first_in_its_own_cosine_row(include_self):
    # include_self passes the fitted array as the queries: a zero row at 1 from itself came last of
    # its ties, after lower indices (scikit-learn zeroes the diagonal when X is the fitted array)
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    g = kneighbors_graph(x, 2, mode="distance", metric="cosine", include_self=include_self)
    rg = sklearn_neighbors.kneighbors_graph(x, 2, mode="distance", metric="cosine", include_self=include_self)
    np.testing.assert_allclose(g.toarray(), rg.toarray(), rtol=0, atol=1e-15)
    row3 = g.getrow(3)
    own = ([3, 0], [0.0, 1.0]) if include_self else ([0, 1], [1.0, 1.0])
    assert (row3.indices.tolist(), row3.data.tolist()) == own
    for radius in (0.5, 1.0):
        r = radius_neighbors_graph(x, radius, mode="distance", metric="cosine", include_self=include_self)
        rr = sklearn_neighbors.radius_neighbors_graph(x, radius, mode="distance", metric="cosine",
                                                      include_self=include_self)
        np.testing.assert_allclose(r.toarray(), rr.toarray(), rtol=0, atol=1e-15)
        assert (r != 0).sum() == (rr != 0).sum()
    nn = NearestNeighbors(metric="cosine").fit(x)
    assert nn.kneighbors(x, 2)[1][3].tolist() == [3, 0]  # the fitted array itself: each point its own first
    assert nn.kneighbors(x.copy(), 2)[1][3].tolist() == [3, 0]
    assert [a.tolist() for a in nn.radius_neighbors(x, 0.5)[1]] == [[0, 2], [1, 2], [2, 0, 1], [3]]  # 1 - 1/sqrt 2
    assert nn.radius_neighbors(x, np.inf)[1][3].tolist() == [3, 0, 1, 2]


def test_cosine_with_zero_rows_refuses_what_the_engine_refuses_naming_the_callers_row():
    # with zero rows the engine sees only the rows with a direction: its refusals named rows of that
    # subset, and rows it never saw (every row zero but a NaN one) went unchecked
    from hubness_fast.neighbors import umap_knn

    x = RNG.standard_normal((8, 3))
    x[1] = 0.0
    x[4] = 1e-300  # a squared norm below what cosine takes
    with pytest.raises(ValueError, match="x row 4 "):
        NearestNeighbors(metric="cosine").fit(x).kneighbors()
    with pytest.raises(ValueError, match="queries row 4 "):
        NearestNeighbors(metric="cosine").fit(RNG.standard_normal((8, 3))).kneighbors(x)
    with pytest.raises(ValueError, match=r"x \(database\) row 4 "):
        NearestNeighbors(metric="cosine", radius=0.5).fit(x).radius_neighbors(RNG.standard_normal((2, 3)))
    for bad, says in ((np.array([[0.0, 0.0], [np.nan, 0.0], [0.0, 0.0]]), "contains NaN or Inf .first at row 1"),
                      (np.array([[0.0, 0.0], [np.inf, 1.0], [0.0, 0.0]]), "contains NaN or Inf .first at row 1"),
                      (np.zeros((10, 0)), "is empty"), (np.zeros(4), "must be 2-D"),
                      (np.zeros((4, 2), bool), "not a real number type")):
        with pytest.raises(ValueError, match=says):
            umap_knn(bad, 2, metric="cosine")
    with pytest.raises(ValueError, match="n_neighbors counts the point itself, so it can be at most the 3 rows"):
        umap_knn(np.zeros((3, 2)), 4, metric="cosine")
    from hubness_fast.neighbors.cosine import cosine_knn
    with pytest.raises(ValueError, match=r"k must be between 1 and 2 \(the fitted points, each but itself\)"):
        cosine_knn(np.zeros((3, 2)), 3, None, "cpu")
