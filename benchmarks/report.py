"""Where and how the benchmark runners write their JSON results."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"  # quoted runs, committed (pass --out there)
SCRATCH = Path(__file__).resolve().parent.parent / "build" / "benchmarks"  # every other run (ignored by git)

# The child scripts of the memory benchmarks read their resident set size this way.
RSS_HELPER = r'''
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
'''


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    return _status_kb("VmRSS:") / 1024


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MiB."""
    return _status_kb("VmHWM:") / 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def write_report(report: dict, out: str | None, stem: str) -> Path:
    """Writes `report` to `out`, or to build/benchmarks/<stem>-<today>.json (untracked: a run worth
    quoting is kept with --out benchmarks/results/<name>.json), and says where."""
    if "machine" not in report:  # every results file names the CPU model and the kernel level it ran
        from hubness_fast.engine import machine_record

        report = {"machine": machine_record(), **report}
    dest = Path(out) if out else SCRATCH / f"{stem}-{datetime.date.today().isoformat()}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(report, indent=2))
    print(f"wrote {dest}")
    return dest


def run_worker(module: str, *args: str, threads: int = 2) -> dict:
    """``python -m MODULE --worker ARGS`` in its own process (its time and peak memory apart
    from the others'); the JSON line it prints last, or {"error": its last stderr line}."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
    res = subprocess.run([sys.executable, "-m", module, "--worker", *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])
