"""The exact k-NN graph where people use one: a scikit-learn transformer, UMAP's and scanpy's layouts.

``KNeighborsTransformer`` follows scikit-learn's protocol and builds the graph exactly as
scikit-learn's own ``sklearn.neighbors.KNeighborsTransformer`` does (CSR, rows sorted by distance,
Euclidean distances by default, ``n_neighbors + 1`` entries per row in distance mode), from this
package's exact engine: equal to scikit-learn's brute-force graph on data without ties, and on
ties ordered by index. ``umap_knn`` gives UMAP's ``precomputed_knn`` layout; the transformer is
scanpy's ``KnnTransformerLike`` (``sc.pp.neighbors(adata, transformer=...)``). ``Hubness`` and the
``hubness=`` option bring scikit-hubness's analysis and reductions (:mod:`hubness_fast.reduction`).
scikit-learn is needed by this module and reduction.py only (``pip install scikit-learn``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._sklearn import require_sklearn
from .._inputs import check_device, check_int, check_metric, is_torch, n_jobs_to_threads
from .._types import Device, Metric
from .measures import METRIC_ALIASES, Hubness
from ._rows import RowIndex
from .reduction import make_reduction
from .cosine import cosine_knn, cosine_radius

__all__ = ["KNeighborsTransformer", "NearestNeighbors", "kneighbors_graph", "radius_neighbors_graph", "Hubness",
           "umap_knn"]
from ..engine import describe, run
from ..engine.radius import RadiusNeighbors, radius_neighbors

require_sklearn()  # before its imports: a clear message for a missing or too old scikit-learn
import scipy.sparse as sp  # noqa: E402
from sklearn import get_config  # noqa: E402
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

GRAPH_METRICS = ("euclidean", "sqeuclidean", "cosine")
MODES = ("connectivity", "distance")


def _exact(x: Any, k: int, metric: str, threads: int | None, device: Device, queries: Any = None,
           exclude_self: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(float64 distances, int64 indices) from the engine, rows sorted by (distance, index); cosine
    as this layer reports it, zero rows included (:func:`hubness_fast.neighbors.cosine.cosine_knn`)."""
    if metric == "cosine":
        return cosine_knn(x, k, threads, device, queries, exclude_self)
    p = describe(x, k, queries=queries, metric=metric, exclude_self=exclude_self, device=device, n_threads=threads)
    r = run(p, ids=True, distances=True)
    return np.asarray(r.distances, np.float64), np.asarray(r.ids)


def _the_fitted_rows(q: np.ndarray, fit: np.ndarray) -> bool:
    """Whether queries are the fitted points, row for row: they are then a self-join with each point
    its own neighbour at 0 (a cosine row of zeros too, as scikit-learn has it when X is the fitted
    array), computed once per pair."""
    return q is fit or (q.shape == fit.shape and bool(np.array_equal(q, fit)))


def _sparse(graph: sp.csr_matrix) -> Any:
    """CSR in the sparse interface scikit-learn is configured for (spmatrix or sparray)."""
    return sp.csr_array(graph) if get_config().get("sparse_interface", "spmatrix") == "sparray" else graph


def _knn_graph(ind: np.ndarray, data: np.ndarray, n_fit: int) -> Any:
    """CSR (rows, n_fit) with k entries per row: ``ind`` [rows, k] and their values ``data`` (flat)."""
    rows, k = ind.shape
    return _sparse(sp.csr_matrix((data, ind.ravel(), np.arange(0, rows * k + 1, k)), shape=(rows, n_fit)))


class KNeighborsTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """X -> the sparse graph of its exact k nearest neighbours among the fitted points.

    Parameters (stored as given, so clone / get_params / set_params / grid search work):
    - ``mode``: "distance" (edge weights are distances; ``n_neighbors + 1`` entries per row, so
      that the fitted points' graph holds each point's own 0 explicitly) or "connectivity" (ones,
      ``n_neighbors`` per row), as scikit-learn's transformer;
    - ``n_neighbors``: 5;
    - ``metric``: "euclidean" (default: distances, not squares; t-SNE squares what it is given),
      "sqeuclidean" or "cosine" (1 - cos); scikit-learn's "l2" and "minkowski" with ``p=2`` are
      "euclidean";
    - ``algorithm``, ``leaf_size``, ``p``, ``metric_params`` (None): scikit-learn's, accepted for
      drop-in use (the search is always exact and brute force);
    - ``n_jobs``: threads (None: the default, -1: every core);
    - ``device``: "auto", "cpu" or "cuda", as :func:`hubness_fast.knn`;
    - ``hubness``: None, or a hubness reduction of :mod:`hubness_fast.reduction` by name ("mp",
      "mp_empiric", "ls", "nicdm", "dsl", "csls"), with ``hubness_params`` (a dict) for its class
      (``{"compat": "skhubness"}``: scikit-hubness's formulas rather than the papers', see
      docs/HUBNESS_REDUCTION.md):
      each query's ``n_candidates`` nearest points (default max(3 m, m + 10) with m = n_neighbors + 1,
      and at least the reduction's own k + 1; at most the fitted points, its others for a fitted point;
      the same count whatever number of neighbours a call asks for, raised to it when more are asked)
      are re-ranked by their secondary distance and the best kept; the graph then holds secondary
      distances (mp and ls lie in [0, 1], nicdm is >= 0; dsl and csls can be negative, which
      estimators that need distances >= 0 refuse). Row by row: a query
      row equal value for value to a fitted point (the lowest index among exact duplicates) is that
      point, with its fitted statistics and itself first at 0, as without a reduction; any other row
      is a new query. A row's output never depends on the rows passed with it (except with
      ``compat="skhubness"`` DisSimLocal, which shifts each call's values). In a Pipeline before
      ``KNeighborsClassifier(metric="precomputed")`` this is scikit-hubness's hubness-reduced
      classifier.

    Rows are sorted by (distance, index); with a reduction by (secondary distance, primary distance,
    index), as :mod:`hubness_fast.reduction` ranks them, a fitted point's own row starting with itself
    at 0 (ahead of dsl's and csls's negative values). Cosine distances are clipped at 0 and are exactly
    0 between identical rows, and each row lists its k points smallest by those values
    (:func:`_cosine_lists`). Queries are cast to the fitted data's dtype
    (a float64 query against float32 fitted data is rounded to float32 first). ``kneighbors(X=None)``
    and ``kneighbors_graph(X=None)`` answer for the fitted points with each point left out by index, as
    scikit-learn does;
    ``transform(X)`` and ``fit_transform(X)`` query X itself, so a point meets itself at distance 0
    (the symmetric self-join of the engine, self included, for ``fit_transform``).
    """

    def __init__(self, *, mode: str = "distance", n_neighbors: int = 5, algorithm: str = "auto", leaf_size: int = 30,
                 metric: str = "euclidean", p: float = 2, metric_params: dict[str, Any] | None = None,
                 n_jobs: int | None = None, device: Device = "auto", hubness: str | None = None,
                 hubness_params: dict[str, Any] | None = None, n_candidates: int | None = None) -> None:
        self.mode = mode
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.device = device
        self.hubness = hubness
        self.hubness_params = hubness_params
        self.n_candidates = n_candidates

    # ---- scikit-learn protocol ------------------------------------------------------------------

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = []  # the output is a graph over the fitted points
        return tags

    def _check_params(self) -> str:
        """Validate the parameters; the metric they name (``fit`` keeps it: a fitted estimator answers
        with the metric and reduction it was fitted with, as scikit-learn's do, until fitted again)."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'connectivity' or 'distance', got {self.mode!r}")
        if self.metric == "inner_product":
            raise ValueError(f"metric must be one of {', '.join(GRAPH_METRICS)}, got 'inner_product' (a similarity, "
                             f"not a distance a graph can hold)")
        metric = _metric(self.metric, self.p, self.metric_params)
        n = self.n_neighbors
        check_int(n, "n_neighbors")
        n_jobs_to_threads(self.n_jobs)
        check_device(self.device)
        c = self.n_candidates
        if c is not None:
            check_int(c, "n_candidates", minimum=n)
        if self.hubness_params is not None and not isinstance(self.hubness_params, Mapping):
            raise ValueError(f"hubness_params must be a dict of the reduction's parameters, e.g. {{'k': 5}}, got "
                             f"{type(self.hubness_params).__name__} {self.hubness_params!r}"[:200])
        red = make_reduction(self.hubness, **(self.hubness_params or {}))  # validates the name and parameters
        if red is not None and red.needs_vectors and metric == "cosine":
            raise ValueError(f"hubness={self.hubness!r} ({type(red).__name__}) recomputes squared Euclidean "
                             f"distances from the points: use metric='euclidean' or 'sqeuclidean' (on unit-"
                             f"normalised rows they rank as cosine does)")
        own_k = getattr(red, "k", None)
        if c is not None and own_k is not None and own_k + 1 > c:
            raise ValueError(f"n_candidates = {c} is fewer than the {type(red).__name__} reduction's k = {own_k} "
                             f"plus one: it scales by the k-th of each point's candidates; raise n_candidates to "
                             f"{own_k + 1} or more, or lower its k")
        return metric

    def _candidates(self) -> int:
        """Candidates per query, before the data's cap: ``n_candidates``, by default max(3 m, m + 10)
        for m = n_neighbors + 1 (a distance-mode row: the point, then its neighbours), and at least
        the reduction's own k + 1 (and n_neighbors + 1 when given). One count for every call, so
        that a row's neighbours do not depend on how many are asked for."""
        m = self.n_neighbors + 1
        own_k = int(getattr(self._reduction, "k", 0)) + 1  # scikit-hubness's local scaling reads entry k + 1
        # at least m: distance mode's rows (n_neighbors + 1) and connectivity's must rank among the same
        return int(max(self.n_candidates, m) if self.n_candidates is not None else max(3 * m, m + 10, own_k))

    def fit(self, X: Any, y: Any = None) -> "KNeighborsTransformer":
        """Store the points (validated: 2-D, finite, float32 kept, others as float64)."""
        self.effective_metric_ = self._check_params()
        self.effective_metric_params_: dict[str, Any] = {}
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", ensure_min_samples=2)
        self._fit_X = X
        self.n_samples_fit_ = X.shape[0]
        self._n_features_out = X.shape[0]
        self._reduction = make_reduction(self.hubness, **(self.hubness_params or {}))
        if self._reduction is not None:
            c = min(max(self._candidates(), self.n_neighbors + 1), self.n_samples_fit_ - 1)  # self left out
            own_k = int(getattr(self._reduction, "k", 0))
            if own_k > c:
                raise ValueError(f"hubness={self.hubness!r} scales by each fitted point's {own_k}-th nearest "
                                 f"neighbour, but {self.n_samples_fit_} fitted points give each only {c} others: "
                                 f"fit on more than {own_k} points, or lower its k with "
                                 f"hubness_params={{'k': {max(1, c)}}}")
            self._fit_lists = _exact(X, c, self.effective_metric_, n_jobs_to_threads(self.n_jobs),
                                               self.device)
            self._reduction.fit(*self._fit_lists, X if self._reduction.needs_vectors else None)
            self._rows = RowIndex(X)
        return self

    def transform(self, X: Any) -> Any:
        """The graph of X against the fitted points: CSR (n_queries, n_samples_fit)."""
        check_is_fitted(self)
        return self.kneighbors_graph(X, mode=self.mode, n_neighbors=self.n_neighbors + (self.mode == "distance"))

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """fit(X) then transform(X) (without a reduction, computed as one self-join of X, self included)."""
        return self.fit(X).transform(X)

    # ---- neighbours -----------------------------------------------------------------------------

    def _query(self, X: Any) -> Any:
        return validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=False)

    def kneighbors(self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True) -> Any:
        """(distances, indices) [n_queries, n_neighbors], rows sorted by (distance, index).

        X=None: the fitted points, each left out of its own list by index (scikit-learn's rule)."""
        check_is_fitted(self)
        self._check_params()
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        check_int(k, "n_neighbors")
        threads = n_jobs_to_threads(self.n_jobs)
        if self._reduction is not None:
            return self._reduced(X, k, threads, return_distance)
        if X is None:
            n_cand = self.n_samples_fit_ - 1
            if k > n_cand:
                raise ValueError(f"Expected n_neighbors <= n_samples_fit - 1 = {n_cand} (the fitted points, self "
                                 f"excluded), but n_neighbors = {k}")
            d, i = _exact(self._fit_X, k, self.effective_metric_, threads, self.device)
        else:
            Q = self._query(X)
            if Q.dtype != self._fit_X.dtype:
                Q = Q.astype(self._fit_X.dtype)
            if k > self.n_samples_fit_:
                raise ValueError(f"Expected n_neighbors <= n_samples_fit = {self.n_samples_fit_}, but "
                                 f"n_neighbors = {k}")
            if _the_fitted_rows(Q, self._fit_X):
                # the fitted points themselves: the symmetric self-join, each point counted once per pair
                d, i = _exact(self._fit_X, k, self.effective_metric_, threads, self.device, exclude_self=False)
            else:
                d, i = _exact(self._fit_X, k, self.effective_metric_, threads, self.device, queries=Q)
        return (d, i) if return_distance else i  # float64 distances, as scikit-learn's (float32 input too)

    def _reduced(self, X: Any, k: int, threads: int | None, return_distance: bool) -> Any:
        """kneighbors through the hubness reduction: candidates re-ranked by secondary distance.

        Row by row: a query row equal to a fitted point (value for value; the lowest index among
        exact duplicates) is that point: its fit list re-ranked, itself first at 0; any other row is
        a query, its candidates searched among the fitted points. So a row's output depends on that
        row and the fitted data only, never on the rows passed with it."""
        red = self._reduction
        if red is None:
            raise RuntimeError("_reduced is called with a hubness reduction only")
        fit_d, fit_i = self._fit_lists
        if X is None:  # the fitted points: their fit lists, self left out by index
            Q, fitted = self._fit_X, np.arange(self.n_samples_fit_)
        else:
            Q = self._query(X).astype(self._fit_X.dtype, copy=False)
            fitted = self._rows.find(self._fit_X, Q)
        with_self = X is not None
        own = fitted >= 0
        if own.any() and k - with_self > fit_i.shape[1]:
            raise ValueError(f"n_neighbors = {k} is more than the {fit_i.shape[1]} candidates kept at fit for the "
                             f"fitted points{' (plus the point itself)' if with_self else ''}; raise n_candidates")
        if not own.all() and k > self.n_samples_fit_:
            raise ValueError(f"Expected n_neighbors <= n_samples_fit = {self.n_samples_fit_}, but n_neighbors = {k}")
        sec, ind = np.empty((len(Q), k)), np.empty((len(Q), k), np.int64)
        if own.any():
            f = fitted[own]
            s, i = red.transform(fit_d[f], fit_i[f], self._fit_X[f] if red.needs_vectors else None, fitted=f)
            if with_self:  # itself first at 0, as without a reduction
                s = np.concatenate([np.zeros((len(f), 1)), s[:, :k - 1]], axis=1)
                i = np.concatenate([f[:, None], i[:, :k - 1]], axis=1)
            sec[own], ind[own] = s[:, :k], i[:, :k]
        if not own.all():
            q = Q[~own]
            c = min(max(self._candidates(), k), self.n_samples_fit_)  # every fitted point may be one
            d, i = _exact(self._fit_X, c, self.effective_metric_, threads, self.device, queries=q)
            s, i = red.transform(d, i, q if red.needs_vectors else None)
            sec[~own], ind[~own] = s[:, :k], i[:, :k]
        return (sec, ind) if return_distance else ind

    def kneighbors_graph(self, X: Any = None, n_neighbors: int | None = None, mode: str = "connectivity") -> Any:
        """CSR (n_queries, n_samples_fit) of each query's neighbours: ones ("connectivity") or
        distances ("distance"), each row sorted by (distance, index)."""
        if mode not in MODES:
            raise ValueError(f"mode must be 'connectivity' or 'distance', got {mode!r}")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if mode == "connectivity":
            ind = self.kneighbors(X, k, return_distance=False)
            data = np.ones(ind.size)
        else:
            dist, ind = self.kneighbors(X, k)
            data = np.ravel(dist)
        return _knn_graph(ind, data, self.n_samples_fit_)


def umap_knn(X: Any, n_neighbors: int = 15, *, metric: Metric = "euclidean", n_threads: int | None = None,
             device: Device = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The exact graph in UMAP's ``precomputed_knn=(knn_indices, knn_dists)`` layout.

    Each row starts with the point itself at distance 0 (column 0, counted in ``n_neighbors``, as
    UMAP's own nearest-neighbour search returns it), then its n_neighbors - 1 nearest other points
    by (distance, index). Indices int64, distances float32 (UMAP's dtype).

        reducer = umap.UMAP(n_neighbors=15, precomputed_knn=umap_knn(X, 15))

    UMAP warns that without its own search index (a third element) ``reducer.transform`` of new
    points is unavailable; ``fit`` and ``fit_transform`` are unaffected.
    """
    check_metric(metric, GRAPH_METRICS)
    check_int(n_neighbors, "n_neighbors (self plus at least one neighbour)", minimum=2)
    rows = X.shape[0] if hasattr(X, "shape") and len(X.shape) else len(X) if hasattr(X, "__len__") else None
    if rows is not None and n_neighbors > rows:
        raise ValueError(f"n_neighbors counts the point itself, so it can be at most the {rows} rows of X, got "
                         f"n_neighbors = {n_neighbors}")
    d, i = _exact(X, n_neighbors - 1, metric, n_threads, device)
    n = i.shape[0]
    ids = np.concatenate([np.arange(n, dtype=np.int64)[:, None], i.astype(np.int64)], axis=1)
    dists = np.concatenate([np.zeros((n, 1), np.float32), d.astype(np.float32)], axis=1)
    return ids, dists


def _host(X: Any) -> Any:
    """A torch tensor as numpy (its dtype kept: scikit-learn's checks would make float32 float64)."""
    return X.detach().cpu().numpy() if is_torch(X) else X


def _metric(metric: str, p: float = 2, metric_params: Any = None) -> str:
    """scikit-learn's metric names for the ones computed exactly here; others refused by name, as are
    metric parameters (none of these metrics takes any: None or {} only)."""
    if metric_params:
        raise ValueError(f"metric_params are not used by the exact metrics here, got {metric_params!r}")
    if metric == "minkowski" and p != 2:
        raise ValueError(f"metric='minkowski' is computed exactly for p=2 only, got p={p!r}")
    name = METRIC_ALIASES.get(metric, metric)
    if name not in GRAPH_METRICS:
        raise ValueError(f"metric must be one of {', '.join(GRAPH_METRICS)} (or 'l2', 'minkowski' with p=2), got "
                         f"{metric!r}")
    return name


class NearestNeighbors(BaseEstimator):
    """scikit-learn's ``NearestNeighbors`` on the exact engine: ``kneighbors``,
    ``kneighbors_graph``, ``radius_neighbors``, ``radius_neighbors_graph``.

    Parameters as scikit-learn's: ``n_neighbors=5``, ``radius=1.0``, ``metric="minkowski"``
    with ``p=2`` (euclidean; also "euclidean", "l2", "sqeuclidean", "cosine"; any other is
    refused), ``metric_params`` (None or {}: these metrics take none), ``n_jobs``; ``algorithm``
    and ``leaf_size`` are accepted for drop-in use and ignored (the search is always exact);
    ``device`` as :func:`hubness_fast.knn`.

    Results equal scikit-learn's brute force on data without ties; ties go to the smaller
    index. ``X=None`` queries the fitted points, each left out by index. ``kneighbors`` rows
    are sorted by (distance, index); ``radius_neighbors`` returns points with distance
    <= radius, always sorted by (distance, index) (``sort_results`` is accepted), with
    memory of the output's size (:func:`hubness_fast.engine.radius.radius_neighbors`). Distances
    are float64 in every method and graph, as scikit-learn's (float32 data included; the search
    itself runs in the data's dtype, exact either way; queries are cast to the fitted data's dtype).
    Cosine distances are clipped at 0 and are exactly 0 between identical rows, as in
    :class:`KNeighborsTransformer`. A fitted estimator answers with the metric it was fitted with.
    """

    def __init__(self, *, n_neighbors: int = 5, radius: float = 1.0, algorithm: str = "auto", leaf_size: int = 30,
                 metric: str = "minkowski", p: float = 2, metric_params: dict[str, Any] | None = None,
                 n_jobs: int | None = None, device: Device = "auto") -> None:
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.device = device

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _check_params(self) -> str:
        check_int(self.n_neighbors, "n_neighbors")
        n_jobs_to_threads(self.n_jobs)
        check_device(self.device)
        return _metric(self.metric, self.p, self.metric_params)

    def fit(self, X: Any, y: Any = None) -> "NearestNeighbors":
        """Store the points (validated: 2-D, finite, float32 kept, others as float64)."""
        self.effective_metric_ = self._check_params()
        self.effective_metric_params_: dict[str, Any] = {}
        X = validate_data(self, _host(X), dtype=[np.float64, np.float32], order="C")
        self._fit_X = X
        self.n_samples_fit_ = X.shape[0]
        return self

    @property
    def fit_X_(self) -> np.ndarray:
        """The fitted points, as validated (2-D, C order, float32 kept, others float64)."""
        check_is_fitted(self)
        return self._fit_X

    def _queries(self, X: Any) -> Any:
        if X is None:
            return None
        Q = validate_data(self, _host(X), dtype=[np.float64, np.float32], order="C", reset=False)
        return Q.astype(self._fit_X.dtype, copy=False)

    def kneighbors(self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True) -> Any:
        """(distances, indices) [n_queries, n_neighbors], rows sorted by (distance, index)."""
        check_is_fitted(self)
        self._check_params()
        metric = self.effective_metric_  # the fitted one, as scikit-learn's
        k = check_int(self.n_neighbors if n_neighbors is None else n_neighbors, "n_neighbors")
        limit = self.n_samples_fit_ - (X is None)
        if k > limit:
            raise ValueError(f"Expected n_neighbors <= n_samples_fit{' - 1' if X is None else ''} = {limit}, but "
                             f"n_neighbors = {k}")
        q = self._queries(X)
        if q is not None and _the_fitted_rows(q, self._fit_X):  # include_self: the self-join
            d, i = _exact(self._fit_X, k, metric, n_jobs_to_threads(self.n_jobs), self.device, exclude_self=False)
        else:
            d, i = _exact(self._fit_X, k, metric, n_jobs_to_threads(self.n_jobs), self.device, queries=q)
        return (d, i) if return_distance else i

    def kneighbors_graph(self, X: Any = None, n_neighbors: int | None = None, mode: str = "connectivity") -> Any:
        """CSR (n_queries, n_samples_fit): ones or distances of each query's k nearest."""
        if mode not in MODES:
            raise ValueError(f"mode must be 'connectivity' or 'distance', got {mode!r}")
        dist, ind = self.kneighbors(X, n_neighbors)
        return _knn_graph(ind, np.ones(ind.size) if mode == "connectivity" else dist.ravel(), self.n_samples_fit_)

    def _radius(self, X: Any, radius: float | None) -> Any:
        check_is_fitted(self)
        self._check_params()
        metric = self.effective_metric_
        r = self.radius if radius is None else radius
        if isinstance(r, (float, np.floating)) and r == np.inf:  # every point, as scikit-learn gives it
            k = self.n_samples_fit_ - (X is None)
            q = self._queries(X)
            m = self.n_samples_fit_ if q is None else len(q)
            if k == 0:
                return RadiusNeighbors(np.zeros(m + 1, np.int64), np.zeros(0, np.int64), np.zeros(0))
            threads = n_jobs_to_threads(self.n_jobs)
            if q is not None and _the_fitted_rows(q, self._fit_X):  # each its own neighbour at 0
                d, i = _exact(self._fit_X, k, metric, threads, self.device, exclude_self=False)
            else:
                d, i = _exact(self._fit_X, k, metric, threads, self.device, queries=q)
            return RadiusNeighbors(np.arange(0, m * k + 1, k, dtype=np.int64), i.ravel().astype(np.int64), d.ravel())
        q = self._queries(X)
        if metric == "cosine":  # as kneighbors reports it, zero rows included
            return cosine_radius(self._fit_X, r, q, n_jobs_to_threads(self.n_jobs), self.device,
                                 themselves=q is not None and _the_fitted_rows(q, self._fit_X))
        return radius_neighbors(self._fit_X, r, queries=q, metric=metric, n_threads=n_jobs_to_threads(self.n_jobs),
                                device=self.device)

    def radius_neighbors(self, X: Any = None, radius: float | None = None, return_distance: bool = True,
                         sort_results: bool = False) -> Any:
        """Per query, the fitted points within ``radius`` (inclusive): object arrays of index
        arrays (and of distance arrays), as scikit-learn returns them. Each list is sorted by
        (distance, index) whatever ``sort_results`` says, which, as in scikit-learn, needs
        ``return_distance``."""
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        res = self._radius(X, radius)
        m = len(res.indptr) - 1
        ind = np.empty(m, dtype=object)
        ind[:] = np.split(res.indices, res.indptr[1:-1])
        if not return_distance:
            return ind
        dist = np.empty(m, dtype=object)
        dist[:] = np.split(np.asarray(res.distances, np.float64), res.indptr[1:-1])
        return dist, ind

    def radius_neighbors_graph(self, X: Any = None, radius: float | None = None, mode: str = "connectivity",
                               sort_results: bool = False) -> Any:
        """CSR (n_queries, n_samples_fit) of the points within ``radius``: ones or distances."""
        if mode not in MODES:
            raise ValueError(f"mode must be 'connectivity' or 'distance', got {mode!r}")
        res = self._radius(X, radius)
        data = np.ones(len(res.indices)) if mode == "connectivity" else np.asarray(res.distances, np.float64)
        shape = (len(res.indptr) - 1, self.n_samples_fit_)
        return _sparse(sp.csr_matrix((data, res.indices, res.indptr), shape=shape))


def kneighbors_graph(X: Any, n_neighbors: int, *, mode: str = "connectivity", metric: str = "minkowski", p: float = 2,
                     metric_params: Any = None, include_self: bool | str = False, n_jobs: int | None = None,
                     device: Device = "auto") -> Any:
    """scikit-learn's ``sklearn.neighbors.kneighbors_graph``, exact: CSR (N, N).

    ``X``: the data, or a fitted :class:`NearestNeighbors` (its points, with ``metric``, ``p`` and
    ``metric_params`` as it was made with). ``include_self=True`` makes each point a candidate of its
    own list (it comes first, at distance 0, unless an identical point has a smaller index): the
    column sums are then the self-counting hub values of the paper's notebook, whose scikit-hubness
    call passed X explicitly; ``"auto"``, as scikit-learn's: True in connectivity mode, False in
    distance mode.
    """
    nn = _fitted(X, metric, p, metric_params, NearestNeighbors(n_neighbors=n_neighbors, metric=metric, p=p,
                                                               n_jobs=n_jobs, device=device))
    return nn.kneighbors_graph(_self_queries(nn, include_self, mode), n_neighbors, mode=mode)


def radius_neighbors_graph(X: Any, radius: float, *, mode: str = "connectivity", metric: str = "minkowski",
                           p: float = 2, metric_params: Any = None, include_self: bool | str = False,
                           n_jobs: int | None = None, device: Device = "auto") -> Any:
    """scikit-learn's ``sklearn.neighbors.radius_neighbors_graph``, exact: CSR (N, N). ``X`` and
    ``include_self`` as in :func:`kneighbors_graph`."""
    nn = _fitted(X, metric, p, metric_params, NearestNeighbors(radius=radius, metric=metric, p=p, n_jobs=n_jobs,
                                                               device=device))
    return nn.radius_neighbors_graph(_self_queries(nn, include_self, mode), radius, mode=mode)


def _fitted(X: Any, metric: str, p: float, metric_params: Any, new: NearestNeighbors) -> NearestNeighbors:
    """The graph functions' estimator: ``X`` when it is a fitted NearestNeighbors of this package (its
    metric, p and metric_params must be the ones asked for, as scikit-learn checks), else ``new``
    fitted to ``X``."""
    if isinstance(X, BaseEstimator):
        if not isinstance(X, NearestNeighbors):
            raise ValueError(f"X must be the data or a fitted hubness_fast.neighbors.NearestNeighbors, got "
                             f"{type(X).__module__}.{type(X).__name__}: pass the data it was fitted with")
        check_is_fitted(X)
        for name, asked in (("metric", metric), ("p", p), ("metric_params", metric_params)):
            if getattr(X, name) != asked:
                raise ValueError(f"the fitted estimator has {name}={getattr(X, name)!r}, but {name}={asked!r} "
                                 f"was asked for")
        return X
    _metric(metric, p, metric_params)
    return new.fit(X)


def _self_queries(nn: NearestNeighbors, include_self: bool | str, mode: str) -> Any:
    """The queries of a graph function: the fitted points themselves (each is then its own candidate)
    or None (each left out by index); ``"auto"``: themselves in connectivity mode, as scikit-learn."""
    if isinstance(include_self, str):
        if include_self != "auto":
            raise ValueError(f"include_self must be True, False or 'auto', got {include_self!r}")
        include_self = mode == "connectivity"
    return nn.fit_X_ if include_self else None
