"""pytest-benchmark suite: pytest benchmarks/ --benchmark-only (not part of `make test`).

Compare groups with --benchmark-group-by=group; ratios belong to one run. Below it, plain tests of the
runner's float64 check on small data (deselected by --benchmark-only)."""
import json
import os

import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast.bench import peers

# Smaller than the runner's cases, so a pytest-benchmark session stays short.
CASES = {"self-10000x512": (10000, 512), "self-20000x64": (20000, 64)}
THREADS = os.cpu_count() or 1


@pytest.fixture(scope="module", params=list(CASES))
def data(request):
    n, d = CASES[request.param]
    return request.param, np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)


@pytest.mark.parametrize("peer", ["hubness_fast", "faiss-cpu", "torch"])
def test_self_join_hub_counts(benchmark, data, peer):
    name, x = data
    if peer == "faiss-cpu":
        pytest.importorskip("faiss")
    if peer == "torch":
        pytest.importorskip("torch")
    benchmark.group = name
    fn = peers.SELF_JOIN[peer]
    counts = benchmark.pedantic(fn, args=(x, 5, THREADS), rounds=3, iterations=1)
    assert counts.sum() == len(x) * 5


# ---- the runner's float64 check (plain tests, small data: they run without --benchmark-only) ----
def wrong_lists(x, k, threads):
    """A peer that lists each row's second neighbour twice (and so misses its k-th)."""
    ids = peers.hubness_fast_self_knn(x, k, threads).copy()
    ids[:, -1] = ids[:, 1]
    return ids


def high_tie_lists(x, k, threads):
    """A valid answer that breaks float64 ties by the higher index (hubness_fast takes the lower)."""
    x64 = x.astype(np.float64)
    d = ((x64[:, None, :] - x64[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.lexsort((-np.arange(len(x))[None].repeat(len(x), 0), d), axis=1)[:, :k]


@pytest.fixture
def quiet_runner(monkeypatch):
    from benchmarks import runner

    monkeypatch.setattr(runner, "SETTLE_S", 0.0)
    monkeypatch.setattr(runner, "peak_sample", lambda threads: 1.0)  # the FMA probe takes seconds
    monkeypatch.setattr(runner, "amx_peak_gflops", lambda threads: None)
    monkeypatch.setitem(peers.SELF_JOIN_LISTS, "wrong", wrong_lists)
    monkeypatch.setitem(peers.SELF_JOIN_LISTS, "high-tie", high_tie_lists)
    monkeypatch.setitem(peers.CROSS, "wrong", lambda q, x, k, t: np.zeros((len(q), k), np.int64))  # point 0, k times
    return runner


@pytest.mark.parametrize("budget", [1e12, 0.0], ids=["every-row", "sampled"])
def test_runner_oracle_blames_the_wrong_peer_only(quiet_runner, budget):
    case = {"kind": "self", "n": 400, "d": 8, "k": 5}
    rows, check = quiet_runner.run_case(case, ["hubness_fast", "wrong", "numpy-argpartition"], 1, 1, 1,
                                        budget=budget, sample=60)
    assert rows["hubness_fast"]["oracle_mismatch"] == 0 and rows["numpy-argpartition"]["oracle_mismatch"] == 0
    assert rows["wrong"]["oracle_mismatch"] > 0
    assert check["rows_checked"] == (400 if budget else 60) and check["unit"] == ("points" if budget else "rows")
    assert check.get("hub_counts_not_tally_of_lists", {"hubness_fast": 0})["hubness_fast"] == 0


def test_runner_oracle_search(quiet_runner):
    case = {"kind": "cross", "n": 300, "m": 80, "d": 6, "k": 4}
    rows, check = quiet_runner.run_case(case, ["hubness_fast", "wrong"], 1, 1, 1, budget=0.0, sample=30)
    assert rows["hubness_fast"]["oracle_mismatch"] == 0 and rows["wrong"]["oracle_mismatch"] == 30
    assert check["rows_checked"] == 30 and len(check["rows"]) == 30


@pytest.mark.parametrize("budget", [1e12, 0.0], ids=["every-row", "sampled"])
def test_runner_oracle_accepts_every_tie_break(quiet_runner, budget):
    grid = np.array([(a, b) for a in range(6) for b in range(5)], dtype=np.float32)
    x = np.concatenate([grid, grid, grid])  # integer points, each three times: ties everywhere
    case = {"kind": "self", "n": len(x), "d": 2, "k": 4}
    rows, _ = quiet_runner.run_case(case, ["hubness_fast", "high-tie"], 1, 1, 1, data=(x, None), budget=budget,
                                    sample=40)
    assert peers.tally(high_tie_lists(x, 4, 1), len(x)).tolist() != peers.hubness_fast_hubs(x, 4, 1).tolist()
    assert rows["hubness_fast"]["oracle_mismatch"] == 0 and rows["high-tie"]["oracle_mismatch"] == 0


def test_runner_json_carries_the_oracle_per_side(quiet_runner, monkeypatch, tmp_path, capsys):
    import json

    monkeypatch.setattr(quiet_runner, "QUICK_CASES", [{"kind": "self", "n": 300, "d": 8, "k": 3},
                                                      {"kind": "cross", "n": 300, "m": 50, "d": 8, "k": 3}])
    out = tmp_path / "run.json"
    assert quiet_runner.main(["--quick", "--rounds", "1", "--threads", "1", "--peers", "wrong",
                              "--oracle-rows", "20", "--oracle-budget", "5e5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["cpu"] and report["machine"]["kernels"]
    self_join, search = report["cases"]
    assert self_join["oracle"]["mode"] == "sampled rows" and search["oracle"]["mode"] == "every row"  # 300*300*8 > 5e5
    for case in (self_join, search):
        assert case["peers"]["hubness_fast"]["oracle_mismatch"] == 0 and case["peers"]["wrong"]["oracle_mismatch"] > 0
    assert "oracle (float64 brute force" in capsys.readouterr().out


def test_runner_names_the_peers_it_skips(quiet_runner, monkeypatch, tmp_path, capsys):
    import json

    monkeypatch.setattr(quiet_runner, "QUICK_CASES", [{"kind": "self", "n": 200, "d": 8, "k": 3}])
    monkeypatch.setitem(peers.NEEDS, "faiss-cpu", "no_such_module_here")  # as without faiss installed
    out = tmp_path / "run.json"
    assert quiet_runner.main(["--quick", "--rounds", "1", "--threads", "1", "--peers", "faiss-cpu",
                              "--out", str(out)]) == 0
    assert "skipped faiss-cpu: not installed (pip install faiss-cpu)" in capsys.readouterr().out
    assert json.loads(out.read_text())["skipped"] == {"faiss-cpu": "not installed (pip install faiss-cpu)"}
    with pytest.raises(SystemExit):  # a misspelt peer is an error, not a silent gap in the table
        quiet_runner.main(["--quick", "--peers", "fiass"])
    assert "unknown peer 'fiass'" in capsys.readouterr().err


def test_every_results_file_names_the_machine(tmp_path):
    from benchmarks.report import write_report
    from hubness_fast.engine import machine_record

    path = write_report({"cases": []}, str(tmp_path / "r.json"), "x")
    assert json.loads(path.read_text())["machine"] == machine_record()


@pytest.mark.skipif("amx" not in hf.SIMD_LEVELS, reason="no AMX here")
def test_runner_names_the_amx_scheme_and_its_limit(quiet_runner, monkeypatch, tmp_path, capsys):
    import json

    monkeypatch.setenv("HUBNESS_FAST_SIMD", "amx")
    monkeypatch.delenv("HUBNESS_FAST_AMX_SCHEME", raising=False)
    monkeypatch.setattr(quiet_runner, "amx_peak_gflops", lambda threads: {"bf16": 1000.0, "int8": 2000.0})
    monkeypatch.setattr(quiet_runner, "QUICK_CASES", [{"kind": "self", "n": 300, "d": 256, "k": 3},
                                                      {"kind": "self", "n": 300, "d": 32, "k": 3}])
    out = tmp_path / "run.json"
    assert quiet_runner.main(["--quick", "--rounds", "1", "--threads", "1", "--peers", "hubness_fast",
                              "--out", str(out)]) == 0
    deep, shallow = json.loads(out.read_text())["cases"]
    assert (deep["amx_scheme"], shallow["amx_scheme"]) == ("int8x4", "bf16x3")
    for case, peak in ((deep, 2000.0), (shallow, 1000.0)):  # each against its own unit's limit
        ours = case["peers"]["hubness_fast"]["median_s"]
        assert case["fraction_of_amx_peak"] == pytest.approx(300**2 * case["d"] / ours / 1e9 / peak)
    printed = capsys.readouterr().out
    assert "scheme int8x4; of the AMX int8 limit" in printed and "(3 bf16 products each)" in printed
