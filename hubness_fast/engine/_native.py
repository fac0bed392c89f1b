"""The compiled modules, what they were built with, and the environment switches read by the engine.

``cpu`` (the module ``_cpu``) is always built; ``cuda`` (``_cuda``) only where nvcc
was found (it imports without a GPU; None otherwise). Everything else reads
``_native.cuda`` at call time, so tests can swap in a stand-in for the kernels.
"""
from __future__ import annotations

import os
from typing import Any

from .. import _cpu as cpu

HAS_AVX2 = bool(cpu.HAS_AVX2)
HAS_AVX512 = bool(cpu.HAS_AVX512)
# The CPU kernel levels this build and CPU can run, from the portable one up
# (generic, avx2, avx512, amx: the last where the CPU has AMX and Linux grants the tile state).
SIMD_LEVELS: tuple[str, ...] = tuple(cpu.simd_levels())
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
        raise ValueError(f"HUBNESS_FAST_SIMD={level!r} is not available on this CPU and build; "
                         f"set it to 'auto' or one of {', '.join(SIMD_LEVELS)}, or unset it")
    return level


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
