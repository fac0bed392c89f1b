"""The compiled modules, what they were built with, and the environment switches read by the engine.

``cpu`` (the module ``_cpu``) is always built; ``cuda`` (``_cuda``) only where nvcc
was found (it imports without a GPU; None otherwise). Everything else reads
``_native.cuda`` at call time, so tests can swap in a stand-in for the kernels.
"""
from __future__ import annotations

import os
from typing import Any

from .. import _cpu as cpu
from .._warn import warn_user

HAS_AVX2 = bool(cpu.HAS_AVX2)
HAS_AVX512 = bool(cpu.HAS_AVX512)
# The CPU kernel levels this build and CPU can run, from the portable one up
# (generic, avx2, avx512, amx: the last where the CPU has AMX and Linux grants the tile state).
SIMD_LEVELS: tuple[str, ...] = tuple(cpu.simd_levels())
KNOWN_LEVELS = ("generic", "avx2", "avx512", "amx")  # every level the package knows, on any CPU
HAS_OPENMP = bool(cpu.HAS_OPENMP)
cuda: Any
try:  # built only when nvcc was found at build time; imports without a GPU
    from .. import _cuda as cuda

    HAS_CUDA = True
except ImportError:
    cuda = None
    HAS_CUDA = False


def gpu_available() -> bool:
    """True when the CUDA module is built and sees at least one device."""
    return HAS_CUDA and cuda.device_count() > 0


def no_gpu_reason() -> str:
    return "no CUDA device is visible" if HAS_CUDA else "this build has no CUDA module (nvcc was not found)"


def simd_level() -> str:
    """HUBNESS_FAST_SIMD=generic|avx2|avx512|amx|auto (default auto: the best in SIMD_LEVELS) picks the CPU
    kernel set, for tests and comparisons. A level this build or CPU cannot run is an error, never replaced."""
    level = os.environ.get("HUBNESS_FAST_SIMD", "").strip() or "auto"  # set but empty: as if unset
    if level != "auto" and level not in SIMD_LEVELS:
        what = ("is not available on this CPU and build" if level in KNOWN_LEVELS
                else f"is no kernel level (they are {', '.join(KNOWN_LEVELS)}, auto)")
        raise ValueError(f"HUBNESS_FAST_SIMD={level!r} {what}; "
                         f"set it to 'auto' or one of {', '.join(SIMD_LEVELS)}, or unset it")
    return level


# GNU libgomp cannot start a thread team in a child forked after its parent started one: the child
# waits for the parent's threads, which fork did not copy, for ever (os.fork, multiprocessing's "fork",
# PyTorch DataLoader workers). Such a child runs the engine on one thread.
_team_started = False
_forked_after_team = False
_warned_fork = False


def _after_fork_in_child() -> None:
    global _forked_after_team
    _forked_after_team = _forked_after_team or _team_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def threads(n: int) -> int:
    """The thread count to hand a native call (0: OpenMP's default, every core): ``n``, or 1 in a child
    forked after this process ran the engine on several threads (with a warning, once), where more
    would hang."""
    global _team_started, _warned_fork
    if _forked_after_team:
        if n != 1 and not _warned_fork:
            _warned_fork = True
            warn_user("hubness_fast runs on one thread in this process: it was forked after its parent ran "
                      "OpenMP threads, which cannot start again after fork; for parallel workers use the "
                      "'spawn' start method (multiprocessing.set_start_method('spawn'), or DataLoader's "
                      "multiprocessing_context='spawn')", RuntimeWarning)
        return 1
    if n != 1:
        _team_started = True
    return n


def gpu_chunk_rows() -> int:
    """HUBNESS_FAST_GPU_CHUNK_ROWS: rows per chunk when host arrays are streamed to the GPU (0: sized by memory)."""
    return int(os.environ.get("HUBNESS_FAST_GPU_CHUNK_ROWS", "0"))


def kernel_level(level: str) -> str:
    """The kernel set a HUBNESS_FAST_SIMD level runs on this CPU (what a benchmark names)."""
    return cpu.kernel_level(level)


def peak_gflops(threads: int, iterations: int, level: str) -> float:
    """Register-only FMA throughput of ``threads`` threads at ``level``: the machine's vector limit."""
    return cpu.peak_gflops(threads, iterations, level)


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), or "unknown": every recorded figure names it."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def machine_record() -> dict[str, str]:
    """What a result file records of the machine: the CPU model and the kernel level that runs."""
    return {"cpu": cpu_model(), "kernel_level": kernel_level(simd_level())}
