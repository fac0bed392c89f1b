"""hubness_fast.oracle: the float64 check every benchmark side is held to, against tests/oracles.py."""
import numpy as np
import pytest

from hubness_fast.bench import oracle, peers

from oracles import brute_hub_counts, brute_knn


def tied_points():
    """Integer points on a small grid, each one twice: every row ties, at distance 0 and beyond."""
    grid = np.array([(a, b) for a in range(6) for b in range(5)], dtype=np.float32)
    return np.concatenate([grid, grid])


def test_every_row_matches_the_independent_brute_force():
    x = np.random.default_rng(0).standard_normal((300, 7)).astype(np.float32)
    truth = oracle.float64_neighbours(x, 5)
    _, ids = brute_knn(x, 5)
    assert not oracle.wrong_rows(truth, ids).any()
    assert oracle.wrong_counts(truth, brute_hub_counts(x, 5)) == 0
    low, high = oracle.count_range(truth)
    assert (low == high).all()  # no ties in continuous data: one valid answer


def test_search_rows_and_a_wrong_row():
    rng = np.random.default_rng(1)
    x, q = rng.standard_normal((400, 9)).astype(np.float32), rng.standard_normal((50, 9)).astype(np.float32)
    rows = oracle.sample_rows(len(q), 20, seed=3)
    truth = oracle.float64_neighbours(x, 4, rows=rows, queries=q)
    _, ids = brute_knn(x, 4, queries=q)
    assert not oracle.wrong_rows(truth, ids[rows]).any()
    bad = ids[rows].copy()
    bad[0, 0] = bad[0, 1]  # a duplicate id
    bad[1, 3] = next(j for j in range(400) if j not in ids[rows[1]])  # a farther point
    assert oracle.wrong_rows(truth, bad).tolist() == [True, True] + [False] * 18


def test_ties_admit_every_valid_answer_and_only_those():
    x = tied_points()
    n, k = len(x), 4
    truth = oracle.float64_neighbours(x, k)
    _, low_ids = brute_knn(x, k)  # ties broken by the lower index
    # the same distances, ties broken by the higher index: another valid answer
    d = ((x[:, None, :].astype(np.float64) - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    high_ids = np.lexsort((-np.arange(n)[None].repeat(n, 0), d), axis=1)[:, :k]
    assert (np.sort(low_ids, 1) != np.sort(high_ids, 1)).any()  # the tie-break matters here
    for ids in (low_ids, high_ids):
        assert not oracle.wrong_rows(truth, ids).any()
        assert oracle.wrong_counts(truth, peers.tally(ids, n)) == 0
    low, high = oracle.count_range(truth)
    assert (low < high).any()
    counts = peers.tally(low_ids, n)
    counts[np.argmax(high)] = high.max() + 1  # more than any valid answer gives
    assert oracle.wrong_counts(truth, counts) == 1


def test_a_full_tie_must_be_listed_whole():
    x = np.array([[0.0], [1.0], [-1.0], [5.0]], dtype=np.float32)  # from 0: two points at 1, then 5
    truth = oracle.float64_neighbours(x, 2, rows=np.array([0]))
    assert oracle.wrong_rows(truth, np.array([[1, 2]])).tolist() == [False]
    assert oracle.wrong_rows(truth, np.array([[1, 3]])).tolist() == [True]
    low, _ = oracle.count_range(oracle.float64_neighbours(x, 2))
    assert low[1] >= 1 and low[2] >= 1  # row 0 lists both


def test_sampled_truth_has_no_counts():
    x = tied_points()
    with pytest.raises(ValueError, match="every row"):
        oracle.count_range(oracle.float64_neighbours(x, 3, rows=oracle.sample_rows(len(x), 10)))
    with pytest.raises(ValueError, match="k must be"):
        oracle.float64_neighbours(x, len(x))
