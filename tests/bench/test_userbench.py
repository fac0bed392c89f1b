"""`hubness-fast bench --data`: the installed runner on a user's file, its checks able to fail."""
import json
import subprocess
import sys

import numpy as np
import pytest

from hubness_fast import knn
from hubness_fast.bench import oracle, peers, userbench


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "hubness_fast.cli", "bench", *args], capture_output=True, text=True,
                          cwd=cwd)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((700, 12)).astype(np.float32))
    np.save(tmp_path / "q.npy", rng.standard_normal((90, 12)).astype(np.float32))
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    np.save(tmp_path / "one.npy", np.ones((1, 4), np.float32))
    np.save(tmp_path / "empty.npy", np.ones((0, 4), np.float32))
    nan = rng.standard_normal((20, 4))
    nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    return tmp_path


def test_self_join_report_checks_every_tool(files, monkeypatch):
    monkeypatch.setitem(peers.NEEDS, "torch", "no_such_package_here")  # a peer that is not installed
    r = cli("--data", "x.npy", "--k", "4", "--rounds", "2", "--peers", "sklearn-brute,numpy-argpartition,torch",
            "--json", "o.json", cwd=files)
    # the subprocess does not see the monkeypatch: check the skip path in-process below
    assert r.returncode == 0, r.stderr
    rep = json.loads((files / "o.json").read_text())
    assert rep["hubness_fast_vs_float64_rows_wrong"] == 0 and rep["rows_checked_against_float64"] == 200
    assert rep["peers"]["sklearn-brute"]["points_with_other_counts"] == 0
    assert all(rep["peers"][name]["rows_wrong_vs_float64"] == 0  # every side held to float64, ours included
               for name in ("hubness_fast", "sklearn-brute", "numpy-argpartition"))
    assert rep["peers"]["numpy-argpartition"]["rounds"] == 2
    assert rep["kernel_level"] and rep["fma_peak_gflops"] > 0 and "kernel level" in r.stdout
    x = np.load(files / "x.npy")
    report = userbench.run(x, None, 4, ["hubness_fast", "torch", "frobnicate"], 1, 1)
    assert "not installed" in report["skipped"]["torch"] and "unknown peer" in report["skipped"]["frobnicate"]
    monkeypatch.setitem(peers.NEEDS, "sklearn-brute", "no_such_package_here")
    monkeypatch.setitem(peers.NEEDS, "faiss-cpu", "no_such_package_here")
    report = userbench.run(x, None, 4, ["hubness_fast", "sklearn-brute", "faiss-cpu"], 1, 1)
    assert report["skipped"] == {"sklearn-brute": "not installed (pip install scikit-learn)",  # what pip installs
                                 "faiss-cpu": "not installed (pip install faiss-cpu)"}


@pytest.mark.parametrize("queries", [False, True])
def test_each_peer_is_warmed_up_before_the_timed_rounds(monkeypatch, queries):
    # a peer's first call imports its library (about a second for torch or scikit-learn): untimed, on few rows
    x = np.random.default_rng(3).standard_normal((600, 8)).astype(np.float32)
    q = x[:300] + 0.01 if queries else None
    calls = []

    def recording(*args):  # (q, x, k, threads) for a search; (x, k, threads) for a self-join's hub counts
        calls.append(len(args[0]))
        return knn(args[1], args[2], queries=args[0]).indices if queries else peers.hubness_fast_hubs(*args)
    monkeypatch.setitem(peers.CROSS if queries else peers.SELF_JOIN, "recording", recording)
    monkeypatch.setitem(peers.SELF_JOIN_LISTS, "recording", lambda x, k, t: knn(x, k).indices)
    userbench.run(x, q, 4, ["hubness_fast", "recording"], 2, 1)
    assert calls == [userbench.WARM_UP_ROWS, 300 if queries else 600, 300 if queries else 600]


def test_search_report(files):
    r = cli("--data", "x.npy", "--queries", "q.npy", "--k", "3", "--rounds", "1", "--peers", "sklearn-brute",
            "--json", "o.json", cwd=files)
    assert r.returncode == 0, r.stderr
    rep = json.loads((files / "o.json").read_text())
    assert rep["peers"]["sklearn-brute"]["rows_with_other_neighbours"] == 0 and rep["queries"] == [90, 12]
    assert rep["peers"]["sklearn-brute"]["rows_wrong_vs_float64"] == 0


def test_a_wrong_peer_is_blamed_against_float64(monkeypatch):
    """A peer returning wrong lists is counted wrong against float64 itself, hubness_fast not."""
    x = np.random.default_rng(2).standard_normal((400, 8)).astype(np.float32)
    q = x[:60] + 0.01

    def off_by_one(qq, xx, k, threads):
        return (knn(xx, k, queries=qq).indices + 1) % len(xx)
    monkeypatch.setitem(peers.CROSS, "broken", off_by_one)
    monkeypatch.setitem(peers.NEEDS, "broken", "numpy")
    rep = userbench.run(x, q, 4, ["hubness_fast", "broken"], 1, 1)
    assert rep["peers"]["broken"]["rows_wrong_vs_float64"] == 60
    assert rep["peers"]["hubness_fast"]["rows_wrong_vs_float64"] == 0


def test_the_oracle_check_catches_wrong_rows():
    x = np.random.default_rng(1).standard_normal((300, 6)).astype(np.float32)
    ids = knn(x, 5).indices
    assert oracle.oracle_mismatches(x, None, 5, ids) == 0
    wrong = ids.copy()
    wrong[:, 0] = (wrong[:, 0] + 1) % 300  # every row loses its nearest neighbour
    assert oracle.oracle_mismatches(x, None, 5, wrong) == 200


@pytest.mark.parametrize("args, message", [
    (["--data", "bad.npy"], "not a readable .npy"),
    (["--data", "missing.npy"], "not found"),
    (["--data", "x.npy", "--queries", "bad.npy"], "--queries"),
    (["--data", "x.npy", "--k", "0"], "--k must be in 1.."),
    (["--data", "x.npy", "--rounds", "0"], "--rounds must be at least 1, got 0"),
    (["--data", "x.npy", "--threads", "0"], "--threads must be at least 1, got 0"),
    (["--data", "x.npy", "--frobnicate"], "unrecognized arguments"),
    (["--data", "one.npy"], "--data one.npy holds 1 row: a self-join needs at least 2"),
    (["--data", "empty.npy"], "--data empty.npy is empty (shape (0, 4))"),
    (["--data", "nan.npy"], "--data nan.npy contains NaN or Inf, or values beyond float32 (first at row 3)"),
    (["--data", "x.npy", "--gpu"], "--data runs the CPU tools on your file; --gpu runs the project's GPU runner"),
])
def test_bad_input_is_one_line_and_exit_code_2(files, args, message):
    r = cli(*args, cwd=files)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr


def test_a_float64_file_is_said_to_run_as_its_float32_copy(tmp_path):
    """Every tool runs float32; a float64 file whose rows float32 rounding merges was checked on the copy
    without a word. The report names the file's dtype and how many rows the copy changed."""
    rng = np.random.default_rng(1)
    x = 1000 + rng.standard_normal((300, 8)) * 1e-5  # float32 keeps about 1e-4 here: rows merge
    np.save(tmp_path / "off64.npy", x)
    r = cli("--data", "off64.npy", "--rounds", "1", "--peers", "numpy-argpartition", "--json", "o.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    changed = int(np.count_nonzero((x.astype(np.float32) != x).any(1)))
    assert changed > 0 and f"--data is float64: every tool here runs its float32 copy, in which float32 rounding " \
        f"changed {changed} rows" in r.stdout
    rep = json.loads((tmp_path / "o.json").read_text())
    assert rep["data_conversion"] == {"dtype": "float64", "rows_changed_by_float32": changed}
    np.save(tmp_path / "f32.npy", x.astype(np.float32))
    r = cli("--data", "f32.npy", "--rounds", "1", "--peers", "numpy-argpartition", cwd=tmp_path)
    assert r.returncode == 0 and "float32 copy" not in r.stdout


def test_help_names_the_command_as_it_is_typed(files):
    r = cli("--data", "x.npy", "--help", cwd=files)
    assert r.returncode == 0 and r.stdout.startswith("usage: hubness-fast bench [-h] --data DATA"), r.stdout
