"""Native ball queries against the float64 brute force."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast.engine import radius_neighbors
from hubness_fast.engine.balls import ball_pass
from oracles import kth_radius2, sq_dists


@pytest.mark.parametrize("inclusive", [False, True])
def test_ball_query_matches_oracle(simd, rng, inclusive):
    c = rng.standard_normal((700, 13))
    q = rng.standard_normal((650, 13))
    radii = rng.uniform(2.0, 5.0, 700)
    d = sq_dists(q, c)
    radii[::7] = np.sqrt(d[np.arange(0, 700, 7) % 650, ::7].diagonal())  # some queries exactly on a boundary
    res = hf.ball_query(q, c, radii, inclusive=inclusive, return_nearest=True)
    dist = np.sqrt(d)  # the documented test: the float64 distance against the radius
    inside = (dist <= radii) if inclusive else (dist < radii)
    if inclusive:
        assert inside.sum() > (dist < radii).sum()  # the boundary cases are there
    np.testing.assert_array_equal(res.count, inside.sum(1))
    expect_min = np.where(inside, radii[None, :], np.inf).min(1)
    np.testing.assert_array_equal(res.min_radius, expect_min)
    np.testing.assert_array_equal(res.nearest, np.argmin(d, axis=1))


def test_boundary_points_exact_for_both_strictness_settings():
    # Integer points at exactly the radius: strict excludes them, inclusive keeps them.
    c = np.array([[0.0, 0.0], [10.0, 0.0]])
    q = np.array([[3.0, 4.0], [10.0, 5.0], [0.0, 4.999999], [20.0, 20.0]])
    radii = np.array([5.0, 5.0])
    strict = hf.ball_query(q, c, radii)
    incl = hf.ball_query(q, c, radii, inclusive=True)
    np.testing.assert_array_equal(strict.count, [0, 0, 1, 0])
    np.testing.assert_array_equal(incl.count, [1, 1, 1, 0])
    assert np.isinf(strict.min_radius[0]) and incl.min_radius[0] == 5.0


def test_inclusive_ball_of_the_kth_neighbour_distance_holds_that_neighbour(simd, rng):
    """sqrt(3) ** 2 rounds to 2.9999999999999996 in float64: a ball tested as |q - c|^2 <= r * r left out
    the point whose distance is its radius. The test is on the float64 distance itself, as in
    radius_neighbors, so each centre's inclusive ball of radius kth_neighbor_distance holds its k
    nearest, and the strict one holds fewer when the k-th is not tied."""
    x = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    r = hf.kth_neighbor_distance(x, 1)
    assert r[0] * r[0] < 3.0  # the rounding this is about
    assert hf.ball_query(x, x, r, inclusive=True).count.tolist() == [2, 2]
    assert hf.ball_query(x, x, r).count.tolist() == [1, 1]
    grid = np.stack(np.meshgrid(*[np.arange(6.0)] * 3), -1).reshape(-1, 3)
    x = np.vstack([grid, grid[::5] + rng.uniform(-0.3, 0.3, (len(grid[::5]), 3))])
    k = 4
    r = hf.kth_neighbor_distance(x, k)
    dist = np.sqrt(sq_dists(x, x))
    incl = hf.ball_query(x, x, r, inclusive=True)
    strict = hf.ball_query(x, x, r)
    np.testing.assert_array_equal(incl.count, (dist <= r[None, :]).sum(1))
    np.testing.assert_array_equal(strict.count, (dist < r[None, :]).sum(1))
    held = (dist <= r[:, None]).sum(1)  # points in each centre's own ball: itself and at least k others
    assert held.min() >= k + 1
    radius = radius_neighbors(x, r[0])
    assert radius.indptr[1] == (dist[0] <= r[0]).sum() - 1  # the same test (itself left out)
    assert (hf.ball_query(x[:1], x, np.full(len(x), r[0]), inclusive=True).count == radius.indptr[1] + 1).all()


def test_ball_query_radii_at_the_ends_of_float64(rng):
    """Radii whose squares overflow hold every point, and the smallest of them is reported (one of
    several that map to the same squared radius); a radius whose square underflows still holds a
    point at float64 distance 0 (strictly too: 0 < r). No numpy warnings either way."""
    q, c = rng.standard_normal((5, 2)), rng.standard_normal((3, 2))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for inclusive in (False, True):
            res = hf.ball_query(q, c, [1e300, 1e200, 2e200], inclusive=inclusive)
            assert res.count.tolist() == [3] * 5 and res.min_radius.tolist() == [1e200] * 5
            res = hf.ball_query(q, c, [1e300, 1.0, 1e250], inclusive=inclusive)
            within = np.sqrt(sq_dists(q, c[1:2]))[:, 0]
            held = (within <= 1.0) if inclusive else (within < 1.0)
            assert res.count.tolist() == (2 + held).tolist()
            np.testing.assert_array_equal(res.min_radius, np.where(held, 1.0, 1e250))
        tiny = hf.ball_query([[0.0], [1e-150]], [[0.0]], 1e-200, inclusive=True)
        assert tiny.count.tolist() == [1, 0] and tiny.min_radius.tolist() == [1e-200, np.inf]
        assert hf.ball_query([[0.0], [1e-150]], [[0.0]], 1e-200).count.tolist() == [1, 0]  # 0 < 1e-200
        assert hf.ball_query([[0.0]], [[0.0]], 0.0, inclusive=True).count.tolist() == [1]
        assert hf.ball_query([[0.0]], [[0.0]], 0.0).count.tolist() == [0]
        # radii below ~1e-154 square to one float64 value: the smallest ball holding each query is found again
        # on its exact pairs, not taken as the smallest radius of that square (1e-200 here: a ball at 0)
        cc, radii = np.array([[0.0], [1.0], [1.0], [2.0]]), np.array([1e-200, 3e-200, 2e-200, 0.0])
        qq = np.array([[1.0], [0.0], [2.0], [5.0]])
        for inclusive in (False, True):
            res = hf.ball_query(qq, cc, radii, inclusive=inclusive)
            dist = np.abs(qq - cc.T)
            inside = (dist <= radii) if inclusive else (dist < radii)
            np.testing.assert_array_equal(res.count, inside.sum(1))
            np.testing.assert_array_equal(res.min_radius, np.where(inside, radii, np.inf).min(1))
            assert res.min_radius[0] == 2e-200


def test_squared_radii_match_the_distance_test():
    """Each squared radius is the exact threshold: one ulp further would change the test, checked at
    squares of sums that round (sqrt(n) for integers n, random radii) and at the ends of the range."""
    from hubness_fast.engine.balls import squared_radii

    r = np.concatenate([np.sqrt(np.arange(1, 2000.0)), np.random.default_rng(3).uniform(0, 10, 2000),
                        [0.0, 5e-324, 1e-200, 1e-160, 1e154, 1.4e154, 1e300]])
    with np.errstate(all="ignore"):
        incl, strict = squared_radii(r, True), squared_radii(r, False)
        assert np.all(np.sqrt(incl) <= r)
        up = np.nextafter(incl, np.inf)
        assert np.all((np.sqrt(up) > r) | (incl == np.finfo(np.float64).max))
        assert np.all((np.sqrt(strict) >= r) | (strict == np.inf))
        down = np.nextafter(strict, -np.inf)
        assert np.all((np.sqrt(down) < r) | (strict == 0))
    n = np.arange(1, 2000.0)
    assert np.all(squared_radii(np.sqrt(n), True) >= n)  # integer squared distances at sqrt(n): inside


def test_both_directions_in_one_pass(rng):
    a, b = rng.standard_normal((300, 6)), rng.standard_normal((420, 6))
    ra2, rb2 = rng.uniform(1, 6, 300), rng.uniform(1, 6, 420)
    sa, sb = ball_pass(a, ra2, b, rb2, inclusive=False)
    d = sq_dists(a, b)
    in_b = d < rb2[None, :]  # a_i inside ball of b_j
    in_a = d < ra2[:, None]  # b_j inside ball of a_i
    np.testing.assert_array_equal(sa.in_count, in_b.sum(1))
    np.testing.assert_array_equal(sb.own_count, in_b.sum(0))
    np.testing.assert_array_equal(sb.in_count, in_a.sum(0))
    np.testing.assert_array_equal(sa.own_count, in_a.sum(1))
    np.testing.assert_array_equal(sb.min_radius2, np.where(in_a, ra2[:, None], np.inf).min(0))


def test_ball_query_bad_input(rng):
    c = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="one value per centre"):
        hf.ball_query(c, c, np.ones(9))
    with pytest.raises(ValueError, match="non-negative"):
        hf.ball_query(c, c, -np.ones(10))
    with pytest.raises(ValueError, match="features"):
        hf.ball_query(rng.standard_normal((4, 2)), c, np.ones(10))


def test_gpu_ball_contract_rechecks_the_boundary_in_float64(monkeypatch):
    """device="cuda" through the ball kernel's numpy contract (tests/fakes.py): exact counts, since
    the host certifies nothing. Points exactly on a radius with fp32 keys several units off (squared
    norms near 3e7 > 2^24) are re-checked in float64 and agree with the CPU pass; a kernel that
    skipped the re-check would not, so these cases catch one on a GPU (test_cuda.py)."""
    from fakes import FakeBallsCuda, install
    from hubness_fast.metrics import kth_radius2

    grid = np.stack(np.meshgrid(np.arange(7), np.arange(7), np.arange(5)), -1).reshape(-1, 3).astype(np.float64)
    a, b = grid + 3000.0, np.ascontiguousarray(grid[::-1] + [3001.0, 3000.0, 3000.0])
    ra, rb = kth_radius2(a, 3, device="cpu"), kth_radius2(b, 3, device="cpu")
    for inclusive in (False, True):
        cpu = ball_pass(a, ra, b, rb, inclusive=inclusive, device="cpu")
        kernel = install(monkeypatch, FakeBallsCuda())
        gpu = ball_pass(a, ra, b, rb, inclusive=inclusive, device="cuda")
        assert kernel.calls == [("balls", len(a), len(b))] and kernel.rechecked > 0
        skipping = install(monkeypatch, FakeBallsCuda(recheck=False))
        fp32_only = ball_pass(a, ra, b, rb, inclusive=inclusive, device="cuda")
        assert skipping.calls == [("balls", len(a), len(b))]
        differs = False
        for side_c, side_g, side_f in zip(cpu, gpu, fp32_only):
            for key in ("in_count", "own_count", "min_radius2"):
                np.testing.assert_array_equal(getattr(side_g, key), getattr(side_c, key),
                                              err_msg=f"{key} inclusive={inclusive}")
                differs |= not np.array_equal(getattr(side_f, key), getattr(side_c, key))
        assert differs, "the boundary cases do not tell a kernel without the float64 re-check apart"


def test_ball_query_takes_one_radius_for_every_ball(rng):
    q, c = rng.standard_normal((80, 3)), rng.standard_normal((30, 3))
    one = hf.ball_query(q, c, 1.1, inclusive=True)
    d2 = sq_dists(q, c)
    np.testing.assert_array_equal(one.count, (d2 <= 1.1 ** 2).sum(1))
    each = hf.ball_query(q, c, np.full(30, 1.1), inclusive=True)
    np.testing.assert_array_equal(one.count, each.count)
    with pytest.raises(ValueError, match="finite and non-negative"):
        hf.ball_query(q, c, -1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_balls_whose_squared_radii_are_fp32_subnormals(simd, rng, dtype):
    # squared distances near 1e-44 are fp32 subnormals: their rounding is absolute, not relative, and
    # the quick rejection once dropped pairs inside such balls without the float64 check
    c = np.array([[1.3324398427833257e-22, 2.2438625753052625e-24]])
    q = np.array([[2.0395990993288524e-22, 1.8035755337071213e-22]])
    r = 1.9165744024950428e-22  # |q - c|^2 = 3.67252e-44 < r^2 = 3.67326e-44
    assert hf.ball_query(q, c, r).count.tolist() == [1]
    from hubness_fast.neighbors import NearestNeighbors

    found = NearestNeighbors(radius=r).fit(np.vstack([c, q])).radius_neighbors()[1]
    assert [list(row) for row in found] == [[1], [0]]
    for scale in (1e-22, 1e-19):  # many pairs at such scales, against the float64 brute force
        cc = (rng.standard_normal((200, 3)) * scale).astype(dtype)
        qq = (rng.standard_normal((150, 3)) * scale).astype(dtype)
        radii = rng.uniform(0.5, 2.0, 200) * scale
        d = sq_dists(qq, cc)
        for inclusive in (False, True):
            got = hf.ball_query(qq, cc, radii, inclusive=inclusive).count
            want = ((d <= radii ** 2) if inclusive else (d < radii ** 2)).sum(1)
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("call", [
    lambda x: ball_pass(x, None, x, np.ones(len(x)), inclusive="no"),
    lambda x: ball_pass(x, None, x, np.ones((len(x), 2)), inclusive=[True, "no"]),
    lambda x: hf.ball_query(x, x, 1.0, inclusive="no"),
    lambda x: hf.ball_query(x, x, 1.0, return_nearest="no"),
])
def test_flags_must_be_bools_not_strings(rng, call):
    # bool("no") is True: a string read as a flag would silently pick the other boundary rule
    with pytest.raises(ValueError, match=r"(inclusive|return_nearest) must be True or False, got 'no'"):
        call(rng.standard_normal((20, 3)).astype(np.float32))


@pytest.mark.parametrize("a_r2, message", [
    (np.full(20, np.nan), r"a_radius2 must be non-negative numbers \(first bad one at index 0"),
    (-np.ones(20), "a_radius2 must be non-negative numbers"),
    (np.ones(19), r"a_radius2 must be numbers of shape \(20,\), got float64 \(19,\)"),
    (np.ones((20, 2)), r"a_radius2 must be numbers of shape \(20,\)"),
    (np.array(["1.0"] * 20), "a_radius2 must be numbers"),
])
def test_ball_pass_checks_its_squared_radii(rng, a_r2, message):
    # NaN radii made every ball empty (precision 0) and a wrong length failed inside the native code
    x = rng.standard_normal((20, 3))
    with pytest.raises(ValueError, match=message):
        ball_pass(x, a_r2, x, None, inclusive=False)


def test_ball_pass_takes_infinite_squared_radii(rng):
    # a radius beyond sqrt(float64 max) squares to inf: a ball holding every point
    x = rng.standard_normal((20, 3))
    sa, sb = ball_pass(x, np.full(20, np.inf), x, None, inclusive=False)
    np.testing.assert_array_equal(sa.own_count, np.full(20, 20))


@pytest.mark.parametrize("radii", ["1.0", True, np.array([True] * 10)])
def test_ball_query_radii_must_be_numbers(rng, radii):
    x = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="radii must be numbers"):
        hf.ball_query(x, x, radii)


def test_ball_pass_takes_lists_and_mixed_dtypes_and_names_a_width_mismatch(rng):
    # lists raised AttributeError; mismatched widths were reported as "must be a C-contiguous 2-D ... array"
    a, b = rng.standard_normal((15, 3)), rng.standard_normal((12, 3))
    r2 = kth_radius2(b, 3)
    want = (sq_dists(a, b) < r2[None]).sum(1)
    got, _ = ball_pass(a.tolist(), None, b.astype(np.float32).astype(np.float64), r2, inclusive=False)
    np.testing.assert_array_equal(got.in_count, want)
    b32 = b.astype(np.float32)
    got32, _ = ball_pass(a, None, b32, r2, inclusive=False)  # float64 a, float32 b: compared in float64
    np.testing.assert_array_equal(got32.in_count, (sq_dists(a, b32.astype(np.float64)) < r2[None]).sum(1))
    with pytest.raises(ValueError, match="a has 3 features but b has 4"):
        ball_pass(a, None, rng.standard_normal((12, 4)), None, inclusive=False)



def test_flags_radii_and_layouts_users_pass_are_taken(rng):
    # numpy and 0-d bools are flags (numbers are not, as everywhere in the engine); one layer's squared
    # radii may come as a column [n, 1]
    x = rng.standard_normal((20, 3))
    r2 = kth_radius2(x, 3)
    want, _ = ball_pass(x, None, x, r2, inclusive=True)
    for flag in (np.bool_(True), np.array(True)):
        got, _ = ball_pass(x, None, x, r2[:, None], inclusive=flag)
        np.testing.assert_array_equal(got.in_count, want.in_count)
    for number in (1, 2):
        with pytest.raises(ValueError, match=f"inclusive must be True or False, got {number}"):
            ball_pass(x, None, x, r2, inclusive=number)
