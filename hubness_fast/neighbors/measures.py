"""Hubness measures of a k-NN graph (scikit-hubness's ``Hubness``): k-skewness, its truncated
normal variant, Robin Hood, Gini, Atkinson, anti-hub and hub occurrence, from the exact engine's
counts. They measure; :mod:`hubness_fast.neighbors.reduction` reduces."""
from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from ._sklearn import require_sklearn
from .._inputs import check_device, check_flag, check_int, check_metric, n_jobs_to_threads, to_numpy
from .._types import Device, Metric
from ..engine.hubness import hub_counts, hubness_stats

require_sklearn()  # before its imports: a clear message for a missing or too old scikit-learn
from scipy.special import ndtr  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

__all__ = ["Hubness", "HUBNESS_MEASURES"]


#: What Hubness.score can return (besides "all", a dict of all of them).
HUBNESS_MEASURES = ("k_skewness", "k_skewness_truncnorm", "robinhood", "gini", "atkinson", "antihub_occurrence",
                    "hub_occurrence", "groupie_ratio", "hubs", "antihubs")


# scikit-learn's names for the euclidean metric (minkowski with p=2 only: the estimators check p)
METRIC_ALIASES = {"l2": "euclidean", "minkowski": "euclidean"}

def _truncnorm_moment3(counts: np.ndarray) -> float:
    """scikit-hubness's k_skewness_truncnorm: E[Z^3] for Z standard normal truncated below at
    a = -mean / std(ddof=1) of the counts, in closed form (a^2 + 2) phi(a) / P(Z > a)."""
    c = counts.astype(np.float64)
    std = c.std(ddof=1)
    if std == 0:
        return 0.0  # constant counts: a -> -inf, where the moment tends to 0
    a = -c.mean() / std
    return float((a * a + 2.0) * math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi) / ndtr(-a))


class Hubness(BaseEstimator):
    """Hubness of the exact k-NN graph, with scikit-hubness's ``Hubness`` names.

    ``Hubness(k).fit(X).score()`` measures the k-occurrence N_k (how often each fitted point is among
    the k nearest neighbours of the others) of the fitted points among themselves;
    ``score(Q)`` that of the fitted points among the k nearest neighbours of the queries Q.
    ``return_value`` picks the measure:

    - k_skewness: skewness of N_k (population moments, scipy.stats.skew; Radovanovic et al. 2010);
      0 for constant counts (no asymmetry, the value of a hubness-free graph), where the moment
      ratio is 0 / 0 and scikit-hubness returns NaN;
    - k_skewness_truncnorm: scikit-hubness's measure of the same name: the third moment about 0 of a
      standard normal truncated below at -mean(N_k) / std(N_k) (ddof=1). Despite its name it is
      neither N_k's skewness nor the truncated normal's (it is not centred), and it depends on N_k
      only through mean / std; it is kept for comparison with scikit-hubness. Constant counts put
      the truncation at -inf, where the moment tends to 0: 0 here, and there NaN or 0 as the
      installed scipy's truncnorm gives it (0 with scipy 1.17);
    - robinhood: sum |N_k - mean| / (2 sum N_k) (Feldbauer et al. 2018);
    - gini: Gini index of N_k (sum_ij |N_i - N_j| / (2 n sum N_k));
    - atkinson: Atkinson index with epsilon 1/2, 1 - mean(sqrt N_k)^2 / mean(N_k);
    - antihub_occurrence: share of fitted points with N_k = 0; antihubs: their indices (int64);
    - hub_occurrence: share of all k-NN slots taken by hubs, N_k >= hub_size * k, that is
      sum of the hubs' N_k / (n_queries k); hubs: their indices;
    - groupie_ratio: share of queries whose list holds the largest hub, max N_k / n_queries;
    - "all": a dict of all of the above.

    Parameters (stored as given, so clone / get_params / grid search work): ``k`` (10),
    ``metric`` ("euclidean"; any of knn's, or scikit-learn's "l2" and "minkowski", both euclidean
    here), ``hub_size`` (2.0), ``return_value`` ("k_skewness"),
    ``include_self`` (False), ``n_jobs`` (threads; None the default, -1 every core), ``device``
    ("auto", "cpu", "cuda", as knn).

    include_self (score() of the fitted points only): False leaves each point out of its own list by
    index, the definition of the k-occurrence (Radovanovic et al., JMLR 2010): the counts sum to N k.
    True lets each point be a candidate in its own list at distance 0, as scikit-hubness's current
    ``Hubness`` does from vectors (scikit-learn's ``kneighbors_graph(include_self=True)``); its
    older releases (LegacyHubness) left self out. The default is False because a point's match with
    itself says nothing about how the space distributes neighbours. With True a point normally
    takes one of its own k slots, so N_k = 1 + N_{k-1} and no point is an antihub; but exact
    duplicates tie with it at 0 and ties go by index, so in a group of more than k equal points
    the last ones miss their own lists (7 equal rows, k = 5: the two of largest index are antihubs,
    and scikit-learn's graph has antihubs there too). With False, groups of more than k + 1 equal
    points leave antihubs the same way.

    Against scikit-hubness's code (its newest ``Hubness``; the same k-NN graph given): k_skewness,
    k_skewness_truncnorm, robinhood, gini, atkinson, antihub_occurrence, hubs and antihubs are
    equal, on the fitted points with include_self=True and on queries. Two differ, and this
    package keeps the definitions scikit-hubness's own docstrings give:

    - groupie_ratio: its code divides by n_queries k (the largest hub's share of all slots); its
      documentation says "proportion of objects with the largest hub in their neighborhood", which
      is max N_k / n_queries (each list holds a point at most once). scikit-hubness's number is
      this one / k;
    - hub_occurrence of queries: its code divides by n_fitted k, its docstring by the number of
      queries' slots, n_queries k (as here); for the fitted points the two agree. scikit-hubness's
      number is this one times n_queries / n_fitted.

    Its hubs are N_k >= hub_size * k in code (its docstring says >), as here. The measures are
    hubness_fast.hubness_stats's where it has them (Gini in O(N log N) rather than its pairwise
    sum).
    """

    def __init__(self, k: int = 10, metric: str = "euclidean", hub_size: float = 2.0,
                 return_value: str = "k_skewness", include_self: bool = False, n_jobs: int | None = None,
                 device: str = "auto") -> None:
        self.k = k
        self.metric = metric
        self.hub_size = hub_size
        self.return_value = return_value
        self.include_self = include_self
        self.n_jobs = n_jobs
        self.device = device

    def _check_params(self) -> None:
        check_int(self.k, "k")
        check_metric(METRIC_ALIASES.get(self.metric, self.metric))
        hub = self.hub_size
        if isinstance(hub, bool) or not isinstance(hub, (int, float, np.integer, np.floating)) \
                or not math.isfinite(hub) or hub <= 0:
            raise ValueError(f"hub_size must be a positive number, got {hub!r}")
        if self.return_value != "all" and self.return_value not in HUBNESS_MEASURES:
            raise ValueError(f"unknown return_value {self.return_value!r}; use 'all' or one of "
                             f"{list(HUBNESS_MEASURES)}")
        check_flag(self.include_self, "include_self")
        n_jobs_to_threads(self.n_jobs)
        check_device(self.device)

    def fit(self, X: Any, y: Any = None) -> Hubness:
        """Store the points (2-D, finite; float32 kept, others as float64)."""
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", ensure_min_samples=2)
        self._fit_X = X
        self.n_samples_fit_ = X.shape[0]
        return self

    def _counts(self, X: Any) -> tuple[np.ndarray, int]:
        check_is_fitted(self, "n_samples_fit_")
        self._check_params()
        n, k = self.n_samples_fit_, self.k
        metric, device = cast(Metric, METRIC_ALIASES.get(self.metric, self.metric)), cast(Device, self.device)
        threads = n_jobs_to_threads(self.n_jobs)
        if X is None:
            most = n if self.include_self else n - 1
            if k > most:
                raise ValueError(f"k={k} is larger than the {most} candidates each fitted point has "
                                 f"({'self included' if self.include_self else 'self excluded'})")
            counts = hub_counts(self._fit_X, k, include_self=bool(self.include_self), metric=metric,
                                n_threads=threads, device=device)
            return to_numpy(counts).astype(np.int64, copy=False), n
        if self.include_self:
            raise ValueError("include_self applies to the fitted points (score() with X=None); a query set has no "
                             "self to include")
        q = validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=False)
        if k > n:
            raise ValueError(f"k={k} is larger than the {n} fitted points")
        counts = hub_counts(self._fit_X, k, queries=q.astype(self._fit_X.dtype, copy=False), metric=metric,
                            n_threads=threads, device=device)
        return to_numpy(counts).astype(np.int64, copy=False), q.shape[0]

    def k_occurrence(self, X: Any = None) -> np.ndarray:
        """N_k of every fitted point, int64 (n_fitted,): among the fitted points' own lists (X=None)
        or among the lists of the queries X."""
        return self._counts(X)[0]

    def score(self, X: Any = None, y: Any = None) -> Any:
        """The measure named by return_value (float, or int64 indices for hubs / antihubs), or a dict
        of all of them for "all". X=None: the fitted points among themselves; X: queries."""
        counts, n_queries = self._counts(X)
        measures: dict[str, Any] = dict(hubness_stats(counts=counts, k=self.k, hub_size=float(self.hub_size)))
        measures["k_skewness_truncnorm"] = _truncnorm_moment3(counts)
        measures["groupie_ratio"] = float(counts.max() / n_queries)  # hubness_stats divides by n_fitted
        measures["hubs"] = np.flatnonzero(counts >= self.hub_size * self.k)
        measures["antihubs"] = np.flatnonzero(counts == 0)
        if self.return_value == "all":
            return {name: measures[name] for name in HUBNESS_MEASURES}
        return measures[self.return_value]
