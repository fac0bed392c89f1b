"""hubness_fast: exact k nearest neighbours and hub counts without a distance matrix."""
from ._backend import HAS_AVX2, HAS_CUDA, HAS_OPENMP
from .hubness import hub_counts
from .knn import knn, kth_neighbor_distance

__version__ = "0.1.0"
__all__ = ["knn", "hub_counts", "kth_neighbor_distance", "HAS_AVX2", "HAS_CUDA", "HAS_OPENMP", "__version__"]
