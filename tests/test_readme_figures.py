"""Every results file the README and the docs pages name exists, and the key tables quote what their files hold
(the headline tables in the README, the others on the docs page they moved to)."""
import itertools
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())  # line breaks in prose are spaces
PAGES = {"README.md": README, **{f"docs/{p.name}": p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}}
FLATS = {page: " ".join(text.split()) for page, text in PAGES.items()}
# a results file as the README names it: name-YYYY-MM-DD[-tag].json|.txt|.*, or name-{a,b}-... braces
NAME = re.compile(r"[A-Za-z0-9{},-]*20\d\d-\d\d-\d\d[A-Za-z0-9-]*(?:\.json|\.txt|\.\*|\*)")


def expand(pattern):
    """`metrics-{amx,avx512}-2026-12-06.*` -> the glob patterns it stands for."""
    parts = re.split(r"\{([^}]*)\}", pattern)
    options = [p.split(",") if i % 2 else [p] for i, p in enumerate(parts)]
    return ["".join(choice) for choice in itertools.product(*options)]


def named_files():
    return sorted({m.group() for text in PAGES.values() for m in NAME.finditer(text)})


def test_the_readme_names_results_files():
    assert len(named_files()) >= 20
    assert len({m.group() for m in NAME.finditer(README)}) >= 5  # the headline tables' files


@pytest.mark.parametrize("name", named_files())
def test_every_named_results_file_exists(name):
    for pattern in expand(name.removeprefix("benchmarks/results/")):
        assert list(RESULTS.glob(pattern)), f"the docs name {name}, not in benchmarks/results/"


def load(name):
    return json.loads((RESULTS / name).read_text())


def quoted(text, name, page="README.md"):
    assert text in FLATS[page], f"{page} should quote {text!r} from {name}"
    assert name in FLATS[page], f"{page} should name {name} beside the figure"


def case_medians(name):
    return [(c["peers"]["hubness_fast"]["median_s"], c["speedup_vs_faiss"]) for c in load(name)["cases"]]


@pytest.mark.parametrize("name", ["cpu-amx-int8-2026-12-06.json", "cpu-avx512-2026-12-06.json"])
def test_the_amx_and_avx512_table(name):
    for seconds, speedup in case_medians(name):
        quoted(f"{seconds:.3f} s", name)
        quoted(f"{speedup:.2f}x" if speedup < 10 else f"{speedup:.1f}x", name)


def test_the_cpu_files_quoted_carry_cpu_and_kernel_level():
    for name in ("cpu-amx-int8-2026-12-06.json", "cpu-avx512-2026-12-06.json", "cpu-amx-2026-12-06-final.json"):
        machine = load(name)["machine"]
        assert machine["cpu"] and machine["kernels"], name
    schemes = [case["amx_scheme"] for case in load("cpu-amx-int8-2026-12-06.json")["cases"]]
    assert schemes == ["int8x4", "bf16x3", "int8x4"] and "D=64 the bf16x3 one" in FLAT


@pytest.mark.parametrize("index, label", [(0, "self-join N=20 000, D=512, k=5"), (1, "self-join N=50 000, D=64, k=5")])
def test_the_avx2_peer_table(index, label):
    name = "cpu-2026-11-23.json"
    row = " | ".join(["1.00", "{faiss-cpu} slower", "{torch}", "{sklearn-brute}", "{numpy-argpartition}",
                      "{numpy-naive}"])
    case = load(name)["cases"][index]
    ratios = {p: v["median_s"] / case["peers"]["hubness_fast"]["median_s"] for p, v in case["peers"].items()}
    expected = row.format(**{p: f"{r:.2f}x" if p == "faiss-cpu" else f"{r:.1f}x" for p, r in ratios.items()})
    quoted(f"| {label} | {expected} |", name, "docs/performance.md")


def test_the_gpu_table_names_each_column_s_run():
    for name, column in (("gpu-h100-2026-11-23.json", "D=512"), ("gpu-h100-2026-11-23-d64.json", "D=64")):
        results = load(name)["results"]
        quoted(f"{results['hubness_fast']['median_s']:.2f} s", name)
        quoted(f"{results['torch']['median_s']:.1f} s", name)
        assert f"{column} from `benchmarks/results/{name}`" in FLAT


def test_the_metrics_and_nn_figures():
    for level, name in (("amx", "metrics-amx-int8-2026-12-06.json"), ("avx512", "metrics-avx512-2026-12-06.json")):
        run = load(name)
        assert run["machine"]["cpu"] and run["machine"]["kernel_level"] == level, name
        ours = run["peers"]["hubness_fast"]
        line = f"{ours['median_s']:.2f} s" + (" at amx, " if level == "amx" else " (")
        line += f"{run['speedup']:.1f}x" + (" faster than prdc" if level == "amx" else ") at avx512")
        assert line in FLAT, f"README should quote {line!r} from {name}"
        assert f"{ours['peak_above_inputs_bytes'] / 2**30:.3f} GiB" in FLAT, name
    flat_eval = FLATS["docs/evaluation.md"]
    agree = load("manifold-2026-12-01.json")["many_sets"]
    short = (lambda x: f"{x:.1e}".replace("e-0", "e-"))  # noqa: E731  1.8e-08 as the page writes it: 1.8e-8
    assert f"{short(agree['max_abs_diff_vs_torch_fidelity'])} in" in flat_eval
    assert f"{short(agree['max_abs_diff_vs_prdc'])} there" in flat_eval
    name = "nn-2026-12-06.json"
    nn = load(name)
    for case in ("knn", "radius"):
        quoted(f"| {nn[case]['sklearn-brute']['time_ratio']:.1f}x | {nn[case]['sklearn-auto']['time_ratio']:.1f}x | "
               f"{nn[case]['faiss']['time_ratio']:.1f}x |", name, "docs/neighbors.md")
    quoted(f"{nn['radius']['hubness_fast']['peak_above_inputs_mb']:.0f} MB", name, "docs/neighbors.md")
    best = {case: min(nn[case]["sklearn-brute"]["time_ratio"], nn[case]["sklearn-auto"]["time_ratio"])
            for case in ("knn", "radius")}
    quoted(f"that is {nn['notebook']['sklearn-brute']['time_ratio']:.1f}x scikit-learn's", name)
    quoted(f"is {best['knn']:.1f}x and `radius_neighbors()` at 20 000 x 64 {best['radius']:.1f}x", name)
    assert "amx" in nn["cpu"] and "Xeon" in nn["cpu"] and "kernel level amx" in FLATS["docs/neighbors.md"]


def test_the_demo_table_and_time():
    name = "demo-mnist-2026-12-05.json"
    demo = load(name)
    fd = demo["table"]["hubs W"]["FD"]
    quoted(f"{fd['mean']:.1f} ± {fd['std']:.1f}", name)
    quoted(f"{demo['seconds']:.0f} s", name)
    assert demo["machine"]["cpu"] and demo["machine"]["kernel_level"], name


def test_the_mining_figures():
    name = "mining-philox-2026-12-06.json"
    run = load(name)
    assert run["machine"]["cpu"] and run["machine"]["kernel_level"], name
    quoted(f"a Z pool {run['pools_z']['speedup']:.1f}x faster", name)
    for space in ("z", "w"):
        row = run[f"pools_{space}"]
        assert row["same_counts_and_kept"], space
        quoted(f"{row['hubness_fast_s_per_pool']:.3f} s | {row['notebook_s_per_pool']:.3f} s | {row['speedup']:.1f}x",
               name, "docs/sampling.md")
    quoted(f"{100 * run['bank_sampling']['bank_overhead_fraction']:.1f} % (goal", name, "docs/sampling.md")
    w = run["pools_w"]
    quoted(f"in {w['draw_s']:.3f} s on 2 cores", name, "docs/sampling.md")
    quoted(f"stream in {w['notebook_draw_s']:.3f} s", name, "docs/sampling.md")
    quoted(f"{w['count_s']:.3f} s: even a count that took no time would give only {w['ratio_with_a_free_count']:.1f}x",
           name, "docs/sampling.md")
    peaks = [m["peak_mb"] for m in run["memory"]]
    assert max(peaks) < 1.5 * min(peaks), peaks  # the miner's memory does not grow with n
