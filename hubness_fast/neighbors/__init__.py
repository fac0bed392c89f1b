"""The exact k-NN graph for scikit-learn, UMAP and scanpy (``KNeighborsTransformer``,
``NearestNeighbors``, graph functions), hubness reduction and hubness measures. Imports the
engine and the shared helpers."""
from . import reduction
from .estimators import (Hubness, KNeighborsTransformer, NearestNeighbors, kneighbors_graph, radius_neighbors_graph,
                         umap_knn)
from .reduction import CSLS, DisSimLocal, LocalScaling, MutualProximity, make_reduction

__all__ = ["KNeighborsTransformer", "NearestNeighbors", "kneighbors_graph", "radius_neighbors_graph", "Hubness",
           "umap_knn", "reduction", "MutualProximity", "LocalScaling", "DisSimLocal", "CSLS", "make_reduction"]
