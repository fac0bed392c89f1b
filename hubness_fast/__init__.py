"""hubness_fast: exact k nearest neighbours and hub counts without a distance matrix."""
from ._native import HAS_AVX2, HAS_AVX512, HAS_CUDA, HAS_OPENMP, SIMD_LEVELS
from .balls import ball_query
from .exactness import engine_stats
from .hubness import hub_counts, hubness_stats
from .knn import knn, kth_neighbor_distance
from .manifold import Manifold
from . import manifold, metrics, selection

__version__ = "0.1.0"
__all__ = ["knn", "hub_counts", "engine_stats", "hubness_stats", "kth_neighbor_distance", "ball_query", "Manifold", "manifold", "metrics",
           "selection",
           "HAS_AVX2", "HAS_AVX512", "HAS_CUDA", "HAS_OPENMP", "SIMD_LEVELS", "__version__"]
