"""hubness_fast: exact k nearest neighbours and hub counts without a distance matrix.

Subpackages, lowest layer first (docs/ARCHITECTURE.md): ``engine`` (k-NN, hub counts, balls,
Dask), ``evaluation`` (the fitted reference, metrics, features), ``neighbors`` (scikit-learn
graph, hubness reduction), ``sampling`` (generators, samplers), ``study`` (the paper's study and
the demo); ``bench`` (peers and the user-data runner) and the command line on top.
"""
from .engine import _native  # noqa: F401  (hubness_fast._native, the path tests/test_pinned.py reads)
from .engine import HAS_AVX2, HAS_AVX512, HAS_CUDA, HAS_OPENMP, SIMD_LEVELS
from .engine.balls import ball_query
from .engine.exactness import engine_stats
from .engine.hubness import hub_counts, hubness_stats
from .engine.knn import knn, kth_neighbor_distance
from .evaluation.manifold import Manifold
from .evaluation import manifold, metrics, selection

from ._version import __version__
__all__ = ["knn", "hub_counts", "engine_stats", "hubness_stats", "kth_neighbor_distance", "ball_query", "Manifold",
           "manifold", "metrics", "selection", "HAS_AVX2", "HAS_AVX512", "HAS_CUDA", "HAS_OPENMP", "SIMD_LEVELS",
           "__version__"]
