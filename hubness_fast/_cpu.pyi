# Stub of the compiled module hubness_fast._cpu (csrc/bindings/cpu_module.cpp). Pointers and sizes in,
# numpy arrays out; inputs are validated in Python (hubness_fast._inputs, hubness_fast._dispatch).
from typing import Any, Callable, Optional

import numpy as np

HAS_AVX2: bool
HAS_AVX512: bool
HAS_OPENMP: bool

Progress = Optional[Callable[[int, int], None]]

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
def peak_gflops(n_threads: int, iterations: int, simd: str = "auto") -> float: ...
def kernel_level(level: str) -> str: ...
def simd_levels() -> list[str]: ...
