"""The float64 certification of candidate lists from another backend (_cuda.knn_host hands it
the GPU's fp32 lists), fed through the GPU host path with deliberately bad lists (tests/fakes.py):
what it is specified to repair gives the float64 brute force exactly, and says so in
engine_stats; ids past the end are refused; short lists, a row's own point and repeated ids
send the row past its list: this CPU's wider fp32 passes, then the float64 scan (csrc/cpu/knn_cpu.cpp,
certify_external, Engine::run_external)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hubness_fast as hf
from fakes import (FakeCuda, candidates, install, out_of_range, shuffled, truncated, with_duplicates, with_self,
                   within_bound)
from oracles import brute_hub_counts, brute_knn

K = 5


def near_ties(metric):
    """Integer data whose float64 keys are exact whatever the order of the sums, with gaps near the
    fp32 rounding bound: a grid off the origin (its squared norms raise the bound to about the
    one-unit gaps), or for cosine clusters of near-parallel rows."""
    if metric == "cosine":
        rng = np.random.default_rng(3)
        directions = rng.integers(1, 4, (12, 3))
        return (100.0 * directions[rng.integers(0, 12, 300)] + rng.integers(-2, 3, (300, 3))).astype(np.float64)
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(6), np.arange(5)), -1).reshape(-1, 3).astype(np.float64)
    return grid + (200.0 if metric == "sqeuclidean" else 300.0)


def check_against_oracle(fake, x, q, metric):
    """knn (self-join and search) and hub counts on the stand-in, each equal to the float64 brute force."""
    with hf.engine_stats() as stats:
        np.testing.assert_array_equal(hf.knn(x, K, metric=metric, device="cuda")[1], brute_knn(x, K, metric=metric)[1])
        np.testing.assert_array_equal(hf.knn(x, K, queries=q, metric=metric, device="cuda")[1],
                                      brute_knn(x, K, queries=q, metric=metric)[1])
        np.testing.assert_array_equal(hf.hub_counts(x, K, metric=metric, device="cuda"),
                                      brute_hub_counts(x, K, metric=metric))
    assert len(fake.calls) == 3 and [c["device"] for c in stats.calls] == ["cuda"] * 3
    return stats.totals()


@pytest.mark.parametrize("metric", ["sqeuclidean", "inner_product", "cosine"])
def test_reordered_lists_are_certified_as_the_ordered_ones(monkeypatch, rng, metric):
    x = near_ties(metric)
    q = x[::7] + 1.0
    ordered = check_against_oracle(install(monkeypatch, FakeCuda()), x, q, metric)
    fake = install(monkeypatch, FakeCuda(shuffled(candidates)))
    assert check_against_oracle(fake, x, q, metric) == ordered


@pytest.mark.parametrize("metric", ["sqeuclidean", "inner_product", "cosine"])
def test_lists_wrong_within_the_bound_are_repaired(monkeypatch, rng, metric):
    """Every key 0.8 of its rounding bound off, the true neighbours pushed out of the fp32 k best and
    past the list's end, the entries shuffled: more rows are recomputed or scanned in float64 than
    with the ideal lists, and the answer is the same."""
    x = near_ties(metric)
    q = x[::7] + 1.0
    ideal = check_against_oracle(install(monkeypatch, FakeCuda()), x, q, metric)
    fake = install(monkeypatch, FakeCuda(shuffled(within_bound, seed=1)))
    wrong = check_against_oracle(fake, x, q, metric)
    assert wrong["rows_recomputed"] > 0
    past = {name: t["rows_scanned"] + t["rows_widened"] for name, t in (("ideal", ideal), ("wrong", wrong))}
    assert wrong["rows_certified"] < ideal["rows_certified"] or past["wrong"] > past["ideal"]


def test_ids_past_the_end_are_refused(monkeypatch, rng):
    fake = install(monkeypatch, FakeCuda(out_of_range))
    with pytest.raises(ValueError, match="candidate index out of range"):
        hf.knn(rng.standard_normal((100, 4)), 3, device="cuda")
    assert len(fake.calls) == 1


# Lists that break the contract (cap entries per row, distinct ids, never the row's own point
# in a self-join excluding it): a row left short (cut, or after its own point and repeated ids
# are dropped) says nothing of the points it left out, so it is solved past its list (a wider pass
# of the CPU's own, or the float64 scan).
def test_truncated_lists_are_caught(monkeypatch):
    """Lists within the bound, cut to their k best: the certification must not take the cut for the end."""
    fake = install(monkeypatch, FakeCuda(truncated(lambda k: k, within_bound)))
    x = near_ties("sqeuclidean")
    stats = check_against_oracle(fake, x, x[::7] + 1.0, "sqeuclidean")
    assert stats["rows_certified"] == 0  # no short row taken for certified
    assert stats["rows_scanned"] + stats["rows_widened"] == stats["rows"] and stats["rows_widened"] > 0


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cosine"])
def test_rows_another_backends_lists_leave_unsettled_take_the_cpus_wider_pass(monkeypatch, rng, metric):
    """0/1 rows, no two equal: the k-th key of many ties with points beyond the ideal lists of k + 3;
    they take the CPU's wider fp32 passes (lists of 32, 128, ...), certified by the same rule, not
    the float64 scan of every point."""
    fake = install(monkeypatch, FakeCuda())
    x = np.unique(rng.integers(0, 2, (700, 16)), axis=0).astype(np.float64)
    x[:, 0] = 1  # no zero row
    stats = check_against_oracle(fake, x, x[::5] + 1.0, metric)
    assert stats["rows_widened"] > 0 and stats["rows_scanned"] < stats["rows_widened"]


def test_own_point_in_a_self_join_list_is_caught(monkeypatch, rng):
    fake = install(monkeypatch, FakeCuda(with_self))
    x = rng.standard_normal((200, 5))
    d, i = hf.knn(x, K, device="cuda")
    np.testing.assert_array_equal(i, brute_knn(x, K)[1])
    assert not (i == np.arange(200)[:, None]).any()
    assert len(fake.calls) == 1


def test_duplicate_ids_are_caught(monkeypatch, rng):
    fake = install(monkeypatch, FakeCuda(with_duplicates))
    x = rng.standard_normal((200, 5))
    np.testing.assert_array_equal(hf.knn(x, K, device="cuda")[1], brute_knn(x, K)[1])
    assert len(fake.calls) == 1


def test_lists_shorter_than_k_are_scanned_exactly():
    """A list shorter than k (once read past its end): the row is scanned, the answer exact."""
    script = """
import numpy as np, pytest, hubness_fast as hf
from fakes import FakeCuda, install, truncated
from oracles import brute_knn
mp = pytest.MonkeyPatch()
fake = install(mp, FakeCuda(truncated(lambda k: k - 2)))
x = np.random.default_rng(0).standard_normal((300, 5))
try:
    got = hf.knn(x, 5, device="cuda")[1]
except ValueError:
    print("refused")
else:
    print("exact" if np.array_equal(got, brute_knn(x, 5)[1]) else "wrong")
"""
    tests = Path(__file__).resolve().parents[1]
    env_path = f"{tests}:{tests.parent}"
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": env_path})
    assert r.returncode == 0 and r.stdout.strip() == "exact", (r.returncode, r.stdout, r.stderr[-500:])
