"""The fitted reference manifold against float64 brute force, the one-call shortcuts and itself."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast import manifold as manifold_mod
from hubness_fast import metrics
from hubness_fast.evaluation.manifold import Manifold
from oracles import brute_prdc, kth_radius2, sq_dists


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.sqrt((x * x).sum(1))[:, None]


def with_ties(rng, n, d, shift=0.0):
    """Integer grid points: many exactly equal distances, and duplicated rows."""
    x = rng.integers(-2, 3, size=(n, d)).astype(np.float64) + shift
    x[n // 2:n // 2 + 10] = x[:10]  # duplicates
    return x


@pytest.fixture(params=["gauss", "ties"])
def sets(request, rng):
    if request.param == "gauss":
        return rng.standard_normal((300, 12)), rng.standard_normal((260, 12)) * 1.2 + 0.2
    # Fakes on the reals' lattice, one step over: many fakes lie exactly on a real ball's edge, where
    # prdc's strict d < r and the inclusive d <= r of improved precision and recall part
    # (test_ties_put_fakes_on_ball_edges).
    return with_ties(rng, 300, 6), with_ties(rng, 260, 6, shift=1.0)


def oracle(real, fake, metric="euclidean"):
    """Every metric of the module's table by its formula on full float64 matrices."""
    if metric == "cosine":
        real, fake = unit(real), unit(fake)
    pr = brute_prdc(real, fake, 3, inclusive=True)
    dc = brute_prdc(real, fake, 5)
    rr3 = kth_radius2(real, 3)
    d = sq_dists(real, fake)
    inside = d < rr3[:, None]
    r2 = np.where(inside, rr3[:, None], np.inf).min(0)
    rarity = np.where(np.isfinite(r2), r2 / 2 if metric == "cosine" else np.sqrt(r2), 0.0)
    radius = np.sqrt(rr3)
    keep = radius <= np.percentile(radius, 50)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rr3[keep, None] / d[keep] if metric == "cosine" else radius[keep, None] / np.sqrt(d[keep])
    realism = np.nan_to_num(ratio, nan=0.0, posinf=np.inf).max(0)
    return pr, dc, rarity, inside.any(0), realism


def test_ties_put_fakes_on_ball_edges(rng):
    # The "ties" sets must tell the strict ball from the inclusive one, or the tests that use them
    # could not see the two swapped.
    real, fake = with_ties(rng, 300, 6), with_ties(rng, 260, 6, shift=1.0)
    for k in (3, 5):
        assert brute_prdc(real, fake, k) != brute_prdc(real, fake, k, inclusive=True)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_evaluate_matches_every_reference_formula(sets, metric):
    real, fake = sets
    if metric == "cosine":
        real, fake = real + 3.0, fake + 3.0  # no zero rows
    ev = Manifold(real, (3, 5), metric=metric).evaluate(fake)
    pr, dc, rarity, in_manifold, realism = oracle(real, fake, metric)
    assert (ev.precision, ev.recall) == pytest.approx((pr["precision"], pr["recall"]), abs=1e-12)
    assert (ev.density, ev.coverage) == pytest.approx((dc["density"], dc["coverage"]), abs=1e-12)
    assert ev.prdc == pytest.approx(dc, abs=1e-12)
    p, r = pr["precision"], pr["recall"]
    assert ev.f_score == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-12)
    np.testing.assert_array_equal(ev.rarity.in_manifold, in_manifold)
    np.testing.assert_allclose(ev.rarity.scores, rarity, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ev.realism, realism, rtol=1e-9)
    assert ev.intervals is None


def test_shortcuts_equal_the_fitted_manifold(sets):
    real, fake = sets
    m = Manifold(real, (3, 5))
    ev = m.evaluate(fake)
    assert tuple(metrics.precision_recall(real, fake)) == (ev.precision, ev.recall)
    assert tuple(metrics.density_coverage(real, fake)) == (ev.density, ev.coverage)
    assert metrics.prdc(real, fake, k=5) == ev.prdc
    rs = metrics.rarity_score(real, fake, k=3)
    np.testing.assert_array_equal(rs.scores, ev.rarity.scores)
    np.testing.assert_array_equal(rs.ranking, ev.rarity.ranking)
    np.testing.assert_array_equal(metrics.realism_score(real, fake), ev.realism)


def test_matches_prdc_package(rng):
    prdc_pkg = pytest.importorskip("prdc")
    real, fake = rng.standard_normal((400, 16)), rng.standard_normal((350, 16)) + 0.3
    want = prdc_pkg.compute_prdc(real, fake, nearest_k=5)
    got = Manifold(real, (3, 5)).evaluate(fake, realism=False).prdc
    assert got == pytest.approx(want, abs=1e-12)


def test_several_k_in_one_pass_equal_one_k_at_a_time(sets):
    real, fake = sets
    m = Manifold(real, (2, 3, 5, 7))
    for k in (2, 3, 5, 7):
        np.testing.assert_array_equal(m.radius2[k], Manifold(real, k).radius2[k])
        np.testing.assert_allclose(m.radius2[k], kth_radius2(real, k), rtol=1e-13)  # numpy sums in another order
    layers = [(3, True), (5, False), (7, True), (2, False)]
    together = m.containment(fake, layers)
    for col, layer in enumerate(layers):
        alone = m.containment(fake, [layer])
        for side in ("fake", "real"):
            for key in ("in_count", "own_count", "min_radius2"):
                np.testing.assert_array_equal(getattr(getattr(together, side), key)[:, col],
                                              getattr(getattr(alone, side), key)[:, 0])


def test_one_knn_pass_for_all_radii(monkeypatch, rng):
    calls = []
    real = rng.standard_normal((200, 8))
    original = manifold_mod.radii2
    monkeypatch.setattr(manifold_mod, "radii2", lambda x, ks, **kw: calls.append(tuple(ks)) or original(x, ks, **kw))
    Manifold(real, (3, 5, 9))
    assert calls == [(3, 5, 9)]


def test_save_load_round_trip(tmp_path, rng):
    real, fake = rng.standard_normal((250, 10)).astype(np.float32), rng.standard_normal((200, 10)).astype(np.float32)
    m = Manifold(real, (3, 5))
    want = m.evaluate(fake)
    for include in (True, False):
        path = m.save(tmp_path / f"m{include}", include_features=include)
        assert path.suffix == ".npz"
        back = Manifold.load(path, None if include else real)
        assert back.k == (3, 5) and back.metric == "euclidean" and back.hash == m.hash
        for k in (3, 5):
            np.testing.assert_array_equal(back.radius2[k], m.radius2[k])
        got = back.evaluate(fake)
        assert (got.precision, got.recall, got.density, got.coverage) == \
            (want.precision, want.recall, want.density, want.coverage)
        np.testing.assert_array_equal(got.realism, want.realism)


def test_load_from_a_memmap_path(tmp_path, rng):
    real = rng.standard_normal((150, 6))
    np.save(tmp_path / "real.npy", real)
    mm = np.load(tmp_path / "real.npy", mmap_mode="r")
    m = Manifold(mm, 3)
    path = m.save(tmp_path / "m.npz", include_features=False)
    back = Manifold.load(path)  # the memmap's file is recorded and re-hashed
    np.testing.assert_array_equal(back.radius2[3], m.radius2[3])
    assert Manifold.load(path, tmp_path / "real.npy").hash == m.hash


def test_evaluate_without_the_fake_balls(rng):
    """recall=False: no fake radii (a set of k or fewer fakes is fine); the recalls are NaN, with no
    intervals, and every other metric equals the full evaluation's."""
    real, fake = rng.standard_normal((200, 5)), rng.standard_normal((120, 5))
    m = Manifold(real, (3, 5))
    full, part = m.evaluate(fake, n_boot=20), m.evaluate(fake, n_boot=20, recall=False)
    assert np.isnan(part.recall) and np.isnan(part.f_score) and np.isnan(part.prdc["recall"])
    for name in ("precision", "density", "coverage"):
        assert getattr(part, name) == getattr(full, name), name
    for name in ("precision", "density", "coverage"):
        assert part.prdc[name] == full.prdc[name], name
    np.testing.assert_array_equal(part.rarity.scores, full.rarity.scores)
    np.testing.assert_array_equal(part.realism, full.realism)
    assert set(full.intervals) - set(part.intervals) == {"recall", "f_score", "prdc_recall"}
    assert all(part.intervals[name] == full.intervals[name] for name in part.intervals)  # the same resamples
    few = m.evaluate(fake[:4], recall=False)  # 4 fakes, k_dc = 5
    assert few.density == metrics.density_coverage(real, fake[:4], k=5).density


def test_a_part_of_a_memmapped_file_is_not_saved_as_its_path(tmp_path, rng):
    """A slice or view of np.load(mmap_mode="r") keeps the file's name: saved as that path, the load
    hashed the whole file and refused it as other features; a raw np.memmap's file is no .npy."""
    np.save(tmp_path / "big.npy", rng.standard_normal((400, 8)))
    whole = np.load(tmp_path / "big.npy", mmap_mode="r")
    raw = np.memmap(tmp_path / "raw.dat", dtype=np.float64, mode="w+", shape=(60, 4))
    raw[:] = rng.standard_normal((60, 4))
    for part in (whole[:200], whole[::2], whole[:, :4], whole[::-1], raw):
        m = Manifold(part, 3)
        with pytest.raises(ValueError, match="map part of .* save with include_features=True"):
            m.save(tmp_path / "m.npz", include_features=False)
        back = Manifold.load(m.save(tmp_path / "m.npz"))  # with the features: a round trip
        np.testing.assert_array_equal(back.radius2[3], m.radius2[3])


@pytest.mark.parametrize("real_dtype", [np.float32, np.float64])
def test_cosine_fakes_compare_alike_whatever_their_dtype(rng, real_dtype):
    """Cosine unit rows are scaled in float64 and kept in the reference's dtype, fakes too: the same
    values given as float32 or float64 give the same metrics, and a fake equal to a kept real row
    scores realism inf either way (a float64 fake against a float32 reference once scored 2e15)."""
    real = rng.integers(-3, 4, (400, 3))
    real = real[(real != 0).any(1)].astype(real_dtype)
    m = Manifold(real, (3, 5), metric="cosine")
    radius = np.sqrt(m.radius2[3])  # a kept ball of radius 0 scores 0 / 0 = 0 (documented), not inf
    copied = np.flatnonzero((radius < np.percentile(radius, 50)) & (radius > 0))[:5]
    fake = rng.integers(-3, 4, (300, 3))
    fake = np.vstack([fake[(fake != 0).any(1)], real[copied]])
    a, b = m.evaluate(fake.astype(np.float32)), m.evaluate(fake.astype(np.float64))
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.realism, b.realism)
    assert len(copied) == 5 and np.all(np.isinf(a.realism[-5:]))
    if real_dtype == np.float64:  # a float32 reference compares float32-rounded unit rows (documented)
        pr, dc, *_ = oracle(real, fake, "cosine")  # float64 unit rows on both sides
        assert (a.precision, a.recall, a.coverage) == (pr["precision"], pr["recall"], dc["coverage"])
        assert a.density == pytest.approx(dc["density"], rel=1e-12)


def test_hash_mismatch_and_missing_features(tmp_path, rng):
    real = rng.standard_normal((120, 5))
    path = Manifold(real, 3).save(tmp_path / "m.npz", include_features=False)
    other = real.copy()
    other[7, 2] += 1e-9
    with pytest.raises(ValueError, match="do not match"):
        Manifold.load(path, other)
    with pytest.raises(ValueError, match="holds no features"):
        Manifold.load(path)


def test_cached_fits_once(tmp_path, monkeypatch, rng):
    real = rng.standard_normal((160, 7))
    calls = []
    original = manifold_mod.radii2
    monkeypatch.setattr(manifold_mod, "radii2", lambda x, ks, **kw: calls.append(1) or original(x, ks, **kw))
    a = Manifold.cached(real, (3, 5), cache_dir=tmp_path)
    b = Manifold.cached(real, (3, 5), cache_dir=tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("manifold-*.npz"))) == 1
    np.testing.assert_array_equal(a.radius2[5], b.radius2[5])
    Manifold.cached(real, (3, 5), metric="cosine", cache_dir=tmp_path)  # another key
    assert len(calls) == 2


def test_bootstrap_intervals_follow_their_definition(rng):
    real, fake = rng.standard_normal((300, 8)), rng.standard_normal((280, 8)) + 0.4
    m = Manifold(real, (3, 5))
    ev = m.evaluate(fake, n_boot=200, seed=3)
    again = m.evaluate(fake, n_boot=200, seed=3)
    assert ev.intervals == again.intervals
    for name in ("precision", "recall", "density", "coverage", "f_score", "prdc_precision", "prdc_recall",
                 "rarity_mean", "realism_mean"):
        lo, hi = ev.intervals[name]
        assert lo <= hi, name
    for name, value in (("precision", ev.precision), ("recall", ev.recall), ("density", ev.density),
                        ("coverage", ev.coverage), ("f_score", ev.f_score)):
        lo, hi = ev.intervals[name]
        assert lo <= value <= hi, name
    # the documented resampling, written out: fakes' indicators for precision, first in the draw order
    c = m.containment(fake, [(3, True)])
    ind = (c.fake.in_count[:, 0] > 0).astype(float)
    g = np.random.default_rng(3)
    boot = [ind[g.integers(0, ind.size, ind.size)].mean() for _ in range(200)]
    assert ev.intervals["precision"] == pytest.approx((np.percentile(boot, 2.5), np.percentile(boot, 97.5)))


def _eprc_hubs(x, k=3, hub_k=3, level=3):
    """The eP&R authors' hubs (Byronliang8/Hubness_Precision_Recall, getFeature.py): each row's
    hub_k + 1 smallest distances, itself included (ties by index here), add 1 to each listed sample;
    hubs have a count above level; a radius is the largest of the k + 1 smallest, itself included."""
    d = sq_dists(x, x)
    idx = np.broadcast_to(np.arange(len(x)), d.shape)
    order = np.lexsort((idx, d), axis=1)
    counts = np.zeros(len(x))
    for row in order[:, :hub_k + 1]:
        counts[row] += 1
    return counts > level, np.sort(d, 1)[:, k]


@pytest.mark.parametrize("inclusive", [False, True])
def test_efficient_precision_recall_matches_the_authors_code(rng, inclusive):
    real, fake = rng.standard_normal((400, 20)), rng.standard_normal((380, 20)) * 1.1 + 0.2
    kw = {} if not inclusive else {"inclusive": True}  # their code's d < r is the default
    got = metrics.efficient_precision_recall(real, fake, **kw)
    hr, rr = _eprc_hubs(real)
    hf_, fr = _eprc_hubs(fake)
    d = sq_dists(real[hr], fake[hf_])
    below = np.less_equal if inclusive else np.less
    precision = below(d, rr[hr][:, None]).any(0).mean()
    recall = below(d, fr[hf_][None, :]).any(1).mean()
    assert (got.precision, got.recall) == pytest.approx((precision, recall), abs=1e-12)
    assert (got.real_hubs, got.fake_hubs) == (hr.sum(), hf_.sum())
    full = metrics.precision_recall(real, fake)
    assert abs(got.precision - full.precision) < 0.5 and abs(got.recall - full.recall) < 0.5
    with pytest.raises(ValueError, match="lower the level"):
        metrics.efficient_precision_recall(real, fake, level=10_000)


def test_efficient_precision_recall_on_duplicates_and_ties():
    """Exact duplicates push a sample out of its own list when hub_k + 1 of smaller index come first;
    a lattice puts many distances exactly on the radii, where d < r and d <= r differ."""
    g = np.random.default_rng(5)
    real = np.vstack([np.repeat(g.integers(0, 4, (30, 3)), 6, axis=0), g.integers(0, 6, (120, 3))]).astype(float)
    fake = np.vstack([np.repeat(g.integers(0, 4, (20, 3)), 5, axis=0), g.integers(0, 6, (150, 3))]).astype(float)
    for hub_k, level in ((3, 3), (2, 1), (5, 4)):
        for inclusive in (False, True):
            got = metrics.efficient_precision_recall(real, fake, k=3, hub_k=hub_k, level=level, inclusive=inclusive)
            hr, rr = _eprc_hubs(real, 3, hub_k, level)
            hf_, fr = _eprc_hubs(fake, 3, hub_k, level)
            np.testing.assert_array_equal(hr, hf.hub_counts(real, hub_k + 1, include_self=True) > level)
            d = sq_dists(real[hr], fake[hf_])
            below = np.less_equal if inclusive else np.less
            want = (below(d, rr[hr][:, None]).any(0).mean(), below(d, fr[hf_][None, :]).any(1).mean())
            assert (got.precision, got.recall) == pytest.approx(want, abs=1e-12), (hub_k, level, inclusive)
            assert (got.real_hubs, got.fake_hubs) == (hr.sum(), hf_.sum())
    with pytest.raises(ValueError, match="hub_k=3 lists each sample with its 3 nearest others: the fake set needs at "
                                         "least 4 samples, it has 3"):
        metrics.efficient_precision_recall(real, fake[:3], k=2)
    # hub_k + 1 samples: each one's list is the whole set, so every sample is a hub (value 4 > 3)
    got = metrics.efficient_precision_recall(real, fake[:4], k=3)
    hr, rr = _eprc_hubs(real)
    assert got.fake_hubs == 4 and got.real_hubs == hr.sum()
    d = sq_dists(real[hr], fake[:4])
    fr = np.sort(sq_dists(fake[:4], fake[:4]), 1)[:, 3]
    assert (got.precision, got.recall) == pytest.approx(((d < rr[hr][:, None]).any(0).mean(),
                                                          (d < fr[None, :]).any(1).mean()), abs=1e-12)


def test_bad_input(rng):
    real = rng.standard_normal((50, 4))
    m = Manifold(real, (3, 5))
    with pytest.raises(ValueError, match="dimensions"):
        m.evaluate(rng.standard_normal((40, 5)))
    with pytest.raises(ValueError, match="k"):
        Manifold(real[:4], 5)  # k larger than the set allows
    with pytest.raises(ValueError, match="k"):
        m.evaluate(rng.standard_normal((4, 4)))  # the fakes' own radii need k = 5 neighbours
    bad = rng.standard_normal((40, 4))
    bad[13, 1] = np.nan
    with pytest.raises(ValueError, match="fake contains NaN or Inf .first at row 13"):
        m.evaluate(bad)
    with pytest.raises(ValueError, match="real contains NaN"):
        Manifold(bad, 3)
    with pytest.raises(ValueError, match="fitted with k"):
        m.evaluate(rng.standard_normal((40, 4)), k_pr=7)
    with pytest.raises(ValueError, match="metric"):
        Manifold(real, 3, metric="sqeuclidean")
    zero = real.copy()
    zero[3] = 0
    with pytest.raises(ValueError, match="all zeros"):
        Manifold(zero, 3, metric="cosine")
    with pytest.raises(ValueError, match="n_boot"):
        m.evaluate(real, n_boot=-1)


def test_top_level_export():
    assert hf.Manifold is Manifold


def _resave(src, dst, **changes):
    entries = dict(np.load(src))
    entries.update(changes)
    for name in [n for n, v in changes.items() if v is None]:
        entries.pop(name)
    np.savez(dst, **entries)
    return dst


def test_a_damaged_or_foreign_file_is_refused_by_name(tmp_path, rng):
    real = rng.standard_normal((120, 5))
    path = Manifold(real, (3, 5)).save(tmp_path / "m")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "noise.npz").write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    np.save(tmp_path / "one.npy", real)
    shifted = dict(np.load(path))["raw_features"] + 1
    cases = {
        tmp_path / "cut.npz": "cannot read the saved manifold .*cut.npz: .*fit and save it again",
        tmp_path / "empty.npz": "cannot read the saved manifold .*empty.npz",
        tmp_path / "noise.npz": "cannot read the saved manifold .*noise.npz",
        tmp_path / "one.npy": "one array \\(a .npy file\\)",
        _resave(path, tmp_path / "nohash.npz", hash=None): "it lacks hash",
        _resave(path, tmp_path / "narrow.npz", radius2=dict(np.load(path))["radius2"][:, :1]):
            "radii have shape \\(120, 1\\) .* k = \\(3, 5\\)",
        _resave(path, tmp_path / "later.npz", format=np.array("hubness_fast.manifold/99")):
            "format 'hubness_fast.manifold/99', which this version does not read",
        _resave(path, tmp_path / "edited.npz", raw_features=shifted): "damaged: its features do not hash",
        _resave(path, tmp_path / "short.npz", raw_features=real[:100]): "damaged: its raw_features have shape",
        tmp_path / "missing.npz": "does not exist",
    }
    for bad, message in cases.items():
        with pytest.raises(ValueError, match=message):
            Manifold.load(bad)
    legacy = _resave(path, tmp_path / "legacy.npz", format=None)  # saved before the format entry: still read
    np.testing.assert_array_equal(Manifold.load(legacy).radius2[5], Manifold.load(path).radius2[5])


def test_save_appends_npz_and_replaces_a_file_whole(tmp_path, rng, monkeypatch):
    real = rng.standard_normal((80, 4))
    m = Manifold(real, 3)
    assert m.save(tmp_path / "ffhq-vgg16-k3.5").name == "ffhq-vgg16-k3.5.npz"
    assert m.save(tmp_path / "b.npz").name == "b.npz"
    before = (tmp_path / "b.npz").read_bytes()

    def cut_off(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", cut_off)
    with pytest.raises(KeyboardInterrupt):
        Manifold(real + 1, 3).save(tmp_path / "b.npz")
    assert (tmp_path / "b.npz").read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "b.npz", "ffhq-vgg16-k3.5.npz"]


def test_cached_refuses_a_file_as_its_folder_before_fitting(tmp_path, rng, monkeypatch):
    # a raw FileExistsError came after the whole fit
    (tmp_path / "cache").write_text("a file")
    monkeypatch.setattr(manifold_mod, "radii2", lambda *a, **k: pytest.fail("fitted before the folder was checked"))
    with pytest.raises(ValueError, match="cache folder"):
        Manifold.cached(rng.standard_normal((30, 3)), 3, cache_dir=tmp_path / "cache")


def test_cached_refits_a_damaged_file_with_a_warning(tmp_path, rng):
    real = rng.standard_normal((160, 7))
    want = Manifold.cached(real, (3, 5), cache_dir=tmp_path)
    (path,) = tmp_path.glob("manifold-*.npz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.warns(UserWarning, match="cannot read the saved manifold .*fitting again and replacing it"):
        got = Manifold.cached(real, (3, 5), cache_dir=tmp_path)
    np.testing.assert_array_equal(got.radius2[5], want.radius2[5])
    np.testing.assert_array_equal(Manifold.load(path, real).radius2[3], want.radius2[3])  # replaced whole


def test_an_unfitted_realism_k_is_refused_before_any_pass(rng, monkeypatch):
    m = Manifold(rng.standard_normal((100, 5)), (3, 5))
    monkeypatch.setattr(m, "_containment", lambda *a, **k: pytest.fail("a pass ran before the check"))
    with pytest.raises(ValueError, match="the realism score needs k=4"):
        m.evaluate(rng.standard_normal((50, 5)), k_realism=4)
    monkeypatch.undo()  # realism=False: k_realism is not used, so not checked
    assert m.evaluate(rng.standard_normal((50, 5)), k_realism=4, realism=False).realism is None


@pytest.mark.parametrize("call", [
    lambda r, f: metrics.precision_recall(r, f, 2, inclusive="no"),
    lambda r, f: metrics.density_coverage(r, f, 2, inclusive="false"),
    lambda r, f: Manifold(r, 3).containment(f, [(3, "no")]),
    lambda r, f: Manifold(r, 3).evaluate(f, recall="no"),
    lambda r, f: Manifold(r, 3).evaluate(f, realism="no"),
])
def test_flags_must_be_bools_not_strings(rng, call):
    # bool("no") is True: precision_recall(..., inclusive="no") gave (1.0, 1.0) where False gives (0.0, 0.0)
    real = np.repeat(rng.standard_normal((10, 4)), 3, axis=0)
    with pytest.raises(ValueError, match=r"(inclusive|recall|realism) must be True or False, got '(no|false)'"):
        call(real, real.copy())


def test_save_refuses_a_string_flag(rng, tmp_path):
    with pytest.raises(ValueError, match="include_features must be True or False"):
        Manifold(rng.standard_normal((30, 4)), 3).save(tmp_path / "m.npz", include_features="no")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("radius2, message", [
    ({3: np.full(60, np.nan)}, r"radius2\[3\] must be non-negative numbers"),
    ({3: -np.ones(60)}, r"radius2\[3\] must be non-negative numbers"),
    ({3: np.ones(59)}, r"radius2\[3\] must be numbers of shape \(60,\)"),
    ({5: np.ones(60)}, r"every k in \[3\], got keys \['5'\]"),
    ({"3": np.ones(60)}, r"every k in \[3\], got keys \['3'\]"),
])
def test_given_radii_are_checked(rng, radius2, message):
    # NaN radii gave precision 0.0 and a wrong length failed later inside the native code
    with pytest.raises(ValueError, match=message):
        Manifold(rng.standard_normal((60, 4)), 3, radius2=radius2)


def test_given_radii_are_the_ones_used(rng):
    real, fake = rng.standard_normal((60, 4)), rng.standard_normal((50, 4))
    given = {3: kth_radius2(real, 3) * 4}  # balls of twice the radius
    ev = Manifold(real, 3, radius2={**given, 5: np.ones(60)}).containment(fake, [(3, False)], fake_balls=False)
    want = (sq_dists(real, fake) < given[3][:, None]).sum(0)
    np.testing.assert_array_equal(ev.fake.in_count[:, 0], want)


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=-1), "seed must be what numpy's default_rng takes .*, got -1"),
    (dict(seed=1.5), "seed must be what numpy's default_rng takes .*, got 1.5"),
    (dict(seed="a"), "seed must be what numpy's default_rng takes .*, got 'a'"),
    (dict(confidence="0.9"), r"confidence must be in \(0, 1\), got 0.9"),
    (dict(clamp_to_percentile="50"), r"clamp_to_percentile must be in \(0, 100\] or None"),
])
def test_evaluate_names_a_bad_seed_or_a_number_given_as_a_string(rng, kwargs, message):
    # numpy's "expected non-negative integer" and Python's "'<' not supported" named nothing
    real = rng.standard_normal((40, 3))
    with pytest.raises(ValueError, match=message):
        Manifold(real, (3, 5)).evaluate(real[:20] + 0.1, n_boot=5, **kwargs)


def test_evaluate_takes_any_seed_numpy_takes(rng):
    real = rng.standard_normal((40, 3))
    m = Manifold(real, (3, 5))
    want = m.evaluate(real[:20] + 0.1, n_boot=5, seed=7).intervals
    for seed in (np.random.default_rng(7), np.random.SeedSequence(7), np.int64(7)):
        assert m.evaluate(real[:20] + 0.1, n_boot=5, seed=seed).intervals == want


def test_containment_needs_a_layer(rng):
    real = rng.standard_normal((40, 3))
    with pytest.raises(ValueError, match="at least one ball layer"):
        Manifold(real, 3).containment(real, [])
