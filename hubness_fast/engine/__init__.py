"""The exact engine: k nearest neighbours, hub counts, ball counts and radius queries, on the
CPU kernels or the GPU, certified in float64; the Dask runner on top (``engine.dask``).

The layer below everything else: it imports no other subpackage. ``_native`` loads the compiled
modules; ``_dispatch`` validates a problem once and chooses where it runs (the only place a
device is chosen; :func:`use_gpu` lets the layers above ask it). The layers above that need more
than one call (a metric's radii and distances together, a graph's lists) describe a problem once
with :func:`describe` and solve it with :func:`run`."""
from ._dispatch import KnnResult, Problem, describe, run, use_gpu
from ._native import (HAS_AVX2, HAS_AVX512, HAS_CUDA, HAS_OPENMP, SIMD_LEVELS, cpu_model, gpu_available, kernel_level,
                      machine_record, peak_gflops, simd_level)
from .balls import BallCounts, BallQueryResult, ball_pass, ball_query
from .exactness import EngineStats, engine_stats
from .hubness import hub_counts, hubness_stats
from .knn import knn, kth_neighbor_distance
from .normals import standard_normal
from .radius import radius_neighbors

__all__ = ["knn", "kth_neighbor_distance", "hub_counts", "hubness_stats", "ball_query", "ball_pass", "BallCounts",
           "BallQueryResult",
           "radius_neighbors", "engine_stats", "EngineStats", "use_gpu", "gpu_available", "simd_level", "kernel_level",
           "cpu_model", "machine_record",
           "peak_gflops", "standard_normal",
           "describe", "run", "Problem", "KnnResult",
           "HAS_AVX2", "HAS_AVX512", "HAS_CUDA", "HAS_OPENMP", "SIMD_LEVELS"]
