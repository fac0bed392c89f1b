# Stub of the compiled module hubness_fast._cpu (csrc/bindings/cpu_module.cpp). Pointers and sizes in,
# numpy arrays out; inputs are validated in Python (hubness_fast._inputs, hubness_fast._dispatch).
from typing import Any, Callable, Optional

import numpy as np

COSINE_MIN_SQUARED_NORM: float
COSINE_ZERO_ROW: str
COSINE_TINY_ROW: str
MAX_SQUARED_NORM: float
HUGE_ROW: str
HAS_AVX2: bool
HAS_AVX512: bool
HAS_OPENMP: bool

Progress = Optional[Callable[[int, int], None]]

# simd: "auto", one of simd_levels(), or the unlisted "amx-reference" (the AMX pass emulated by its scalar
# reference: any CPU, slow; for tests).
def knn(x: np.ndarray, queries: Optional[np.ndarray], k: int, metric: str, exclude_self: bool, n_threads: int,
        simd: str, progress: Progress, want_distances: bool) -> tuple[np.ndarray, Optional[np.ndarray],
                                                                        dict[str, Any]]: ...
def knn_pair(a: np.ndarray, b: np.ndarray, k: int, metric: str, n_threads: int, simd: str,
             progress: Progress) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def certify(x: np.ndarray, queries: Optional[np.ndarray], k: int, metric: str, exclude_self: bool, n_threads: int,
             simd: str, keys: np.ndarray, ids: np.ndarray,
             want_distances: bool) -> tuple[np.ndarray, Optional[np.ndarray], dict[str, Any]]: ...
def candidate_cap(k: int, n_candidates: int) -> int: ...
def balls(a: np.ndarray, a_radius2: Optional[np.ndarray], b: np.ndarray, b_radius2: Optional[np.ndarray],
          inclusive: list[bool], n_threads: int, simd: str,
          progress: Progress) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]: ...
def radius_pairs(a: np.ndarray, radius2: float, b: np.ndarray, inclusive: bool, same_set: bool, n_threads: int,
                 simd: str, progress: Progress) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def peak_gflops(n_threads: int, iterations: int, simd: str = "auto") -> float: ...
def kernel_level(level: str) -> str: ...
def simd_levels() -> list[str]: ...
def standard_normal(key: list[int], chunk0: int, n: int, n_threads: int, simd: str) -> np.ndarray: ...
def philox4x32_10(ctr: list[int], key: list[int]) -> tuple[int, int, int, int]: ...
def cpu_has_amx() -> bool: ...
def amx_peak_gflops(n_threads: int, iterations: int, int8: bool = ...) -> float: ...
# The scheme ("int8x4" or "bf16x3") the AMX pass of a self-join on x uses.
def amx_scheme(x: np.ndarray) -> str: ...
# The AMX pass's keys of every pair (a_i, b_j) under `scheme` ("int8x4" or "bf16x3"), by the tiles (tiles=True;
# ValueError without AMX) or by the portable scalar reference (any CPU), with their rounding bounds: (keys
# float32 [na, nb], bounds float64 [na, nb], scale). |keys - scale**2 * |a_i - b_j|**2| <= bounds (scaled
# units; centre: the mean of b).
def amx_keys(a: np.ndarray, b: np.ndarray, tiles: bool, scheme: str = ...) -> tuple[np.ndarray, np.ndarray, float]: ...
# Engine statistics. Each knn()/certify() call returns a stats dict: rows, rows_certified (lists certified as they
# stood), rows_recomputed (boundary recomputed in float64), rows_scanned (of those, solved by a float64 scan),
# rows_widened (GPU: a wider pass), kernels (the candidate pass that ran: generic, avx2, avx512, amx, amx-reference,
# cuda-fp32, cuda-tf32, external). engine_counters() sums them over every knn, knn_pair and certify call of the
# process (thread safe): calls, rows, rows_certified, rows_recomputed, rows_scanned, rows_widened, last_kernels;
# reset=True zeroes them after reading.
def engine_counters(reset: bool = False) -> dict[str, Any]: ...
