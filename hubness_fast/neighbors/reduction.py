"""Hubness reduction on exact k-NN lists, and a scikit-learn ``Hubness`` estimator.

The reductions follow scikit-hubness's feature set and names (``MutualProximity``,
``LocalScaling``, ``DisSimLocal``) plus ``CSLS``. Each one rescales the distance of every pair
(x, y) of a k-NN list by statistics of the two points' own k-NN lists, then re-sorts each row. They
read the lists only (``DisSimLocal`` also the vectors); no N x N matrix is formed.

Protocol, shared by every reduction:

- ``fit(neigh_dist, neigh_ind, X=None)`` takes the k-NN lists of the fitted points among
  themselves, self excluded (``hubness_fast.knn(x, k, metric="euclidean")``; knn's default
  metric is "sqeuclidean", whose squares change NICDM's and mutual proximity's ranking: pass the
  distance the reduction is meant for): row i holds point i's nearest other fitted points, nearest
  first;
- ``transform(neigh_dist, neigh_ind, X=None, return_distance=True)`` takes the lists of a query set
  against the fitted points (``knn(x, k, queries=q, metric="euclidean")``) and returns ``(secondary distances float64,
  indices int64)`` of the same shape, each row re-sorted by (secondary distance, primary distance,
  index): where secondary distances tie (mutual proximity's undecided pairs, a saturated local
  scaling), the original ranking decides rather than the index, which would favour low indices;
- for the fitted points themselves pass the fit lists again (or call ``fit_transform``): each point
  is then a query whose list leaves itself out, so its query statistics equal its fitted ones and it
  never appears among its own neighbours. Rows of some fitted points, in any order and mixed with
  queries, are marked by ``transform(..., fitted=rows)`` (row r is fitted point rows[r]'s fit list,
  -1 a query): each row's result then depends on that row only.

Only the listed candidates are re-ranked: to reduce hubness among n neighbours, pass lists of more
candidates (say 3n) and keep the first n columns of the result. Rows must be sorted by distance, as
``knn`` returns them; ties may come in any index order.

The definitions are the papers' (Schnitzer et al. 2012 for mutual proximity, local scaling and
NICDM; Hara et al. 2016 for DisSimLocal; Conneau et al. 2018 for CSLS): every point's statistics
come from its nearest *other* points. Where scikit-hubness computes something else, each class
says so, and ``compat="skhubness"`` (MutualProximity, LocalScaling, DisSimLocal) reproduces
scikit-hubness's values on the graphs its README pipeline builds; docs/HUBNESS_REDUCTION.md
tabulates every difference.
"""
from __future__ import annotations

import inspect
from typing import Any, TypeVar, Union

import numpy as np

from ._sklearn import require_sklearn
from .._inputs import check_flag, check_int, to_numpy

require_sklearn()  # before its imports: a clear message for a missing or too old scikit-learn
from scipy.special import ndtr  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

__all__ = ["HubnessReduction", "MutualProximity", "LocalScaling", "DisSimLocal", "CSLS", "make_reduction",
           "REDUCTIONS", "COMPAT", "Hubness", "HUBNESS_MEASURES"]

from .measures import HUBNESS_MEASURES, Hubness  # noqa: E402  (kept importable from here, as before)

# Largest temporary, in array elements, that one block of query rows may allocate (32 MiB of float64).
CHUNK_ELEMENTS = 1 << 22

#: Values of the reductions' ``compat`` parameter: None (this package's definitions, the papers'),
#: "skhubness" (scikit-hubness's numbers on the graphs its README pipeline builds).
COMPAT = (None, "skhubness")

Lists = Union[np.ndarray, tuple[np.ndarray, np.ndarray]]
R = TypeVar("R", bound="HubnessReduction")


# ---- inputs ---------------------------------------------------------------------------------------

def _check_lists(neigh_dist: Any, neigh_ind: Any, *, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """k-NN lists as (float64, int64) arrays of one shape; rows sorted by distance; no index twice."""
    d, i = to_numpy(neigh_dist), to_numpy(neigh_ind)
    if d.ndim != 2 or i.ndim != 2:
        raise ValueError(f"neigh_dist and neigh_ind must be 2-D (one row per point, one column per neighbour), "
                         f"got shapes {d.shape} and {i.shape}")
    if d.shape != i.shape:
        raise ValueError(f"neigh_dist {d.shape} and neigh_ind {i.shape} must have one shape: pass both arrays of "
                         f"one k-NN result, as knn() returns them")
    if d.shape[0] < 1 or d.shape[1] < 1:
        raise ValueError(f"the k-NN lists are empty (shape {d.shape})")
    if d.dtype.kind not in "fiu":
        raise ValueError(f"neigh_dist must be real numbers, got dtype {d.dtype}")
    if i.dtype.kind not in "iu":
        raise ValueError(f"neigh_ind must hold integer indices, got dtype {i.dtype}")
    d = d.astype(np.float64, copy=False)
    i = i.astype(np.int64, copy=False)
    if not np.all(np.isfinite(d)):
        raise ValueError("neigh_dist holds NaN or infinite values")
    if np.any(i < 0):
        raise ValueError("neigh_ind holds negative indices")
    steps = np.diff(d, axis=1)
    if np.any(steps > 0 if descending else steps < 0):
        raise ValueError(f"each row of neigh_dist must be sorted {'largest' if descending else 'smallest'} first, "
                         f"as knn() returns it; sort a row order with np.argsort and apply it to both arrays "
                         f"with np.take_along_axis")
    s = np.sort(i, axis=1)
    if np.any(s[:, 1:] == s[:, :-1]):
        raise ValueError("a row of neigh_ind lists one point twice; each list must hold distinct points")
    return d, i


def _check_k(k: int, lists: np.ndarray, which: str) -> int:
    if k > lists.shape[1]:
        raise ValueError(f"k={k} is larger than the {lists.shape[1]} neighbours per row of the {which} lists: "
                         f"compute at least k neighbours, or lower k")
    return k


def _rows_per_block(per_row: int) -> int:
    """Rows per block when each row needs per_row elements of temporaries."""
    return max(1, CHUNK_ELEMENTS // max(1, per_row))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den for num, den >= 0, with 0 / 0 = 0 and num / 0 = inf (a point with all its neighbours
    at distance 0 has zero scale: its exact duplicates stay at 0, everything else goes to infinity)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.where(num > 0, np.inf, 0.0))


def _mean_std(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row mean and standard deviation (ddof=0); a row of equal values gets exactly (value, 0), which
    rounding in the mean would otherwise turn into a tiny spurious deviation."""
    flat = np.all(d == d[:, :1], axis=1)  # every entry: a prepended self 0 may break the rows' order
    return np.where(flat, d[:, 0], d.mean(axis=1)), np.where(flat, 0.0, d.std(axis=1))


def _check_compat(compat: Any) -> None:
    if compat not in COMPAT:
        raise ValueError(f"compat must be None (the paper's definition) or 'skhubness', got {compat!r}")


def _with_self(d: np.ndarray) -> np.ndarray:
    """The lists with each point's own distance 0 put first, as scikit-learn's graphs of the fitted
    points hold it (scikit-hubness reads its statistics from such rows)."""
    return np.concatenate([np.zeros((d.shape[0], 1)), d], axis=1)


def _normal_sf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """P(D > x) for D ~ N(mean, std); std = 0 is the limit std -> 0 (1 below the mean, 1/2 at it, 0 above)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ndtr((mean - x) / std)
    return np.where(std > 0, p, np.where(x < mean, 1.0, np.where(x > mean, 0.0, 0.5)))


def _row_means(fit_x: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """mean_c fit_x[ind[r, c]] for every row r, float64 (rows, D), by row blocks."""
    out = np.empty((len(ind), fit_x.shape[1]))
    step = _rows_per_block(ind.shape[1] * fit_x.shape[1])
    for s in range(0, len(ind), step):
        out[s:s + step] = fit_x[ind[s:s + step]].mean(axis=1, dtype=np.float64)
    return out


def _sq_dist_to_mean(x: np.ndarray, fit_x: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """||x_r - mean_c fit_x[ind[r, c]]||^2 for every row r, in float64, by row blocks."""
    out = np.empty(len(x))
    step = _rows_per_block(ind.shape[1] * fit_x.shape[1])
    for s in range(0, len(x), step):
        centre = _row_means(fit_x, ind[s:s + step])
        out[s:s + step] = ((x[s:s + step].astype(np.float64) - centre) ** 2).sum(axis=1)
    return out


def _sq_dist_pairs(x: np.ndarray, fit_x: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """||x_r - fit_x[ind[r, c]]||^2 for every list entry, in float64 by explicit differences."""
    out = np.empty(ind.shape)
    step = _rows_per_block(ind.shape[1] * fit_x.shape[1])
    for s in range(0, len(x), step):
        diff = fit_x[ind[s:s + step]].astype(np.float64) - x[s:s + step, None, :].astype(np.float64)
        out[s:s + step] = (diff * diff).sum(axis=2)
    return out


# ---- the protocol ---------------------------------------------------------------------------------

class HubnessReduction(BaseEstimator):
    """Base of the reductions: validation, the fitted-lists checks and the re-sorting (see the module
    docstring for the protocol). Subclasses implement ``check_params``, ``_fit`` and ``_secondary``.

    ``needs_vectors`` says whether ``fit`` and ``transform`` need ``X`` (the points as vectors);
    reductions without it do not read ``X``.
    """

    needs_vectors = False

    def check_params(self) -> None:
        """Raise ValueError for invalid parameters (called by fit; make_reduction calls it at once)."""
        raise NotImplementedError

    def _fit(self, d: np.ndarray, i: np.ndarray, X: Any) -> None:
        raise NotImplementedError

    def _secondary(self, d: np.ndarray, i: np.ndarray, X: Any, own: np.ndarray) -> np.ndarray:
        """The secondary values of the lists; own[r] >= 0: row r is that fitted point's fit list."""
        raise NotImplementedError

    def _descending(self) -> bool:
        """True where the lists hold similarities (largest first) and so does the result."""
        return False

    def _fit_lists_index_fitted(self) -> bool:
        """True where the fit lists must index the fitted points themselves (all but CSLS)."""
        return True

    def _fitted_rows(self, i: np.ndarray, fitted: Any) -> np.ndarray:
        """The fitted point each row of transform's lists stands for (-1: a query): ``fitted`` as given,
        else every row where the lists are the fit lists again (for reductions whose _fit kept the fit
        indices as ``_fit_ind``, those whose values depend on it), else none."""
        m = len(i)
        if fitted is None:
            fit_i = getattr(self, "_fit_ind", None)
            own = fit_i is not None and i.shape == fit_i.shape and bool(np.array_equal(i, fit_i))
            return np.arange(m) if own else np.full(m, -1)
        f = to_numpy(fitted)
        if f.shape != (m,) or f.dtype.kind not in "iu":
            raise ValueError(f"fitted must hold one integer per list row ({m}), got shape {f.shape} and dtype "
                             f"{f.dtype}")
        f = f.astype(np.int64, copy=False)
        if np.any((f < -1) | (f >= self.n_samples_fit_)):
            raise ValueError(f"fitted holds the fitted point of each row (0 to {self.n_samples_fit_ - 1}) or -1 "
                             f"for a query")
        if np.any(i == f[:, None]):
            raise ValueError("a row marked as fitted point j lists j itself: pass j's fit list (self excluded)")
        return f

    def fit(self: R, neigh_dist: Any, neigh_ind: Any, X: Any = None) -> R:
        """Learn each fitted point's statistics from its k-NN list among the fitted points.

        neigh_dist, neigh_ind : (N, k_fit) float and int arrays
            The fitted points' lists, self excluded, each row sorted by distance (knn(x, k_fit)).
        X : (N, D) array
            The fitted points as vectors, where ``needs_vectors`` (DisSimLocal); otherwise not read.
        """
        self.check_params()
        d, i = _check_lists(neigh_dist, neigh_ind, descending=self._descending())
        n = d.shape[0]
        if self._fit_lists_index_fitted():
            if i.max() >= n:
                raise ValueError(f"the fit lists hold index {int(i.max())} but have only {n} rows: fit takes the "
                                 f"fitted points' lists among themselves, e.g. knn(x, k)")
            if np.any(i == np.arange(n)[:, None]):
                raise ValueError("row i of the fit lists holds point i itself: fit takes lists with self excluded "
                                 "(knn(x, k) with the default exclude_self)")
        self._fit(d, i, X)
        self._params_at_fit = self.get_params()
        self.n_samples_fit_ = n
        return self

    def transform(self, neigh_dist: Any, neigh_ind: Any, X: Any = None, return_distance: bool = True, *,
                  fitted: Any = None) -> Lists:
        """Secondary distances of query lists against the fitted points.

        neigh_dist, neigh_ind : (M, k) float and int arrays
            Each query's candidates among the fitted points, sorted by distance (knn(x, k, queries=q));
            for the fitted points themselves, their fit lists.
        X : (M, D) array
            The queries as vectors, where ``needs_vectors``; otherwise not read.
        fitted : (M,) int array or None
            Row r is fitted point ``fitted[r]``'s fit list (its row of the lists given to fit), or a
            query where -1: the rows of any fitted points, in any order, mixed with queries. None (the
            default): all rows are the fitted points' where the lists equal the fit lists, else all
            are queries.

        Returns (secondary float64 (M, k), indices int64 (M, k)), each row sorted by secondary
        distance, equal ones by the primary distance, then by index (by decreasing values for
        similarities); only the indices with ``return_distance=False``.
        """
        check_is_fitted(self, "n_samples_fit_")
        if self.get_params() != self._params_at_fit:
            raise ValueError(f"the parameters changed since fit ({self._params_at_fit} -> {self.get_params()}): "
                             f"fit again")
        d, i = _check_lists(neigh_dist, neigh_ind, descending=self._descending())
        if i.max() >= self.n_samples_fit_:
            raise ValueError(f"neigh_ind holds index {int(i.max())}, but {self.n_samples_fit_} points were fitted: "
                             f"transform takes lists against the fitted points")
        sec = self._secondary(d, i, X, self._fitted_rows(i, fitted))
        sign = -1.0 if self._descending() else 1.0
        order = np.lexsort((i, sign * d, sign * sec), axis=1)
        ind = np.take_along_axis(i, order, axis=1)
        if not return_distance:
            return ind
        return np.take_along_axis(sec, order, axis=1), ind

    def fit_transform(self, neigh_dist: Any, neigh_ind: Any, X: Any = None, return_distance: bool = True) -> Lists:
        """fit on the fitted points' lists, then transform those same lists (each point a query that
        leaves itself out)."""
        return self.fit(neigh_dist, neigh_ind, X).transform(neigh_dist, neigh_ind, X, return_distance)


# ---- the reductions -------------------------------------------------------------------------------

class MutualProximity(HubnessReduction):
    """Mutual proximity (Schnitzer, Flexer, Schedl & Widmer, JMLR 13, 2012), restricted to k-NN lists.

    MP(x, y) is the probability that a random object j is farther from x than y is *and* farther from
    y than x is; the secondary distance is 1 - MP(x, y). Distances are taken as symmetric: d(y, x)
    is read as the listed d(x, y), as scikit-hubness does.

    method="normal" (the paper's Gaussian form): each point's distances are modelled by one normal
    distribution whose mean and standard deviation (ddof=0) are those of *its own list*: all k_fit
    entries of a fitted point's fit list, all k entries of a query's list (self excluded in both, so
    a fitted point passed as a query gets its fitted statistics). Then
    ``MP = SF_x(d(x, y)) * SF_y(d(x, y))`` with SF the normal survival function (independent
    Gaussians). The paper fits the Gaussians to a point's distances to the *other* objects (its own
    0 is no sample of that distribution); on k-NN lists they describe only the neighbourhood, as in
    scikit-hubness. On lists without the self entry this equals scikit-hubness's values; its README
    pipeline passes scikit-learn's graphs, whose rows of the fitted points start with the point's own
    0, and that 0 then enters their statistics (``compat="skhubness"`` reproduces it).

    A list with all distances equal is a point mass: SF is 1 below it, 1/2 at it, 0 above (the limit
    of a vanishing deviation); scikit-hubness gives NaN there, with or without ``compat``.

    method="empiric" (the paper's count): ``MP(x, y) = |{j : d(x, j) > d(x, y) and d(y, j) > d(y, x)}|
    / N`` over the N fitted points j (x itself left out when x is a fitted point), each d known only
    where its pair is listed: L(x) the query's list, L(y) the fitted point's fit list, r_y the last
    distance of L(y). An unlisted object is farther from x than every object of L(x) (exact sorted
    lists), and farther from y than x is when d(x, y) < r_y; beyond r_y nothing bounds it, so it
    does not count. The result is the paper's MP exactly for every pair with d(x, y) < r_y (x inside
    y's list radius, ties aside), and 0 (distance 1) for the others, which the lists leave
    undecided: those follow the decided pairs in their primary order. With full lists (k = N - 1)
    it is the paper's MP throughout. Comparisons are strict, as in the paper. scikit-hubness's graph
    API counts only the objects of L(x) and L(y), still dividing by N (``compat="skhubness"``: the
    same count on lists without ties, with or without the self entries, which are never counted);
    it orders ties by row position and breaks the ties at distance 1 by sort order.

    compat : None (default) or "skhubness"
        None: the definitions above. "skhubness": scikit-hubness's numbers (its newest
        ``MutualProximity``) for the graphs its README pipeline builds with scikit-learn's
        ``KNeighborsTransformer(n_neighbors=n, mode="distance")``: pass the fitted points' lists of
        n others (self excluded, as always) and the queries' lists of n + 1 points; the fitted
        points' lists passed again to transform (equal neigh_ind) are read as scikit-hubness reads
        the fitted points' rows, with their own 0 first. "normal" then takes each fitted point's
        mean and deviation over its 0 and its list; "empiric" drops the unlisted objects from the
        count. The self entry itself is never returned. The ranking within a row is this package's
        (ties by primary distance, then index).

    A transform given the fit lists themselves (equal neigh_ind) takes row i as fitted point i; rows
    marked with ``fitted=`` are those fitted points.
    ``X`` is not read. The lists may hold any symmetric distance (euclidean, sqeuclidean, cosine).
    """

    def __init__(self, method: str = "normal", compat: str | None = None) -> None:
        self.method = method
        self.compat = compat

    def check_params(self) -> None:
        if self.method not in ("normal", "empiric"):
            raise ValueError(f"method must be 'normal' or 'empiric', got {self.method!r}")
        _check_compat(self.compat)

    def _fit(self, d: np.ndarray, i: np.ndarray, X: Any) -> None:
        if self.compat or self.method == "empiric":
            self._fit_ind = i.copy()
        self.mean_fit_, self.std_fit_ = _mean_std(_with_self(d) if self.compat else d)
        if self.method == "empiric":
            n = d.shape[0]
            keys = (np.arange(n)[:, None] * n + i).ravel()  # (y, j) pairs of the fit lists, searchable
            order = np.argsort(keys, kind="stable")
            self._pair_keys, self._pair_dist = keys[order], d.ravel()[order]
            self._fit_dist = d.copy()

    def _secondary(self, d: np.ndarray, i: np.ndarray, X: Any, own: np.ndarray) -> np.ndarray:
        if self.method == "normal":
            mean, std = _mean_std(d)
            sel = own >= 0
            if self.compat and sel.any():
                mean[sel], std[sel] = _mean_std(_with_self(d[sel]))
            return 1.0 - _normal_sf(d, mean[:, None], std[:, None]) * _normal_sf(d, self.mean_fit_[i], self.std_fit_[i])
        return 1.0 - self._empiric(d, i, own)

    def _empiric(self, d: np.ndarray, i: np.ndarray, own: np.ndarray) -> np.ndarray:
        n, m, k = self.n_samples_fit_, d.shape[0], d.shape[1]
        fit_d, fit_i = self._fit_dist, self._fit_ind
        k_fit = fit_i.shape[1]
        last = fit_d[:, -1]  # the radius of each fitted point's list
        unlisted = self.compat is None  # scikit-hubness counts the listed objects only
        keys, key_dist = self._pair_keys, self._pair_dist
        mp = np.empty((m, k))
        step = _rows_per_block(k * max(k, k_fit))
        for s in range(0, m, step):
            dq, iq = d[s:s + step], i[s:s + step]
            rows = len(iq)
            dxy = dq[:, :, None]                              # (rows, a, 1): d(x, y) for y = iq[:, a]
            y_within = dxy[:, :, 0] < last[iq]                # x within the radius of y's list
            # j in L(x): is j in L(y), and at what distance from y?
            pair = iq[:, :, None] * n + iq[:, None, :]        # (rows, a, b): key (y, j)
            at = np.minimum(np.searchsorted(keys, pair), len(keys) - 1)
            in_ly = keys[at] == pair
            far_y = np.where(in_ly, key_dist[at] > dxy, y_within[:, :, None])
            count = ((dq[:, None, :] > dxy) & far_y).sum(axis=2)
            # j in L(y) but not in L(x): farther from x than y; farther from y than x if listed so
            ly = fit_i[iq]                                    # (rows, a, c)
            lx = (np.arange(rows)[:, None] * n + iq).ravel()
            lx.sort()
            probe = np.arange(rows)[:, None, None] * n + ly
            in_lx = lx[np.minimum(np.searchsorted(lx, probe), len(lx) - 1)] == probe
            only_ly = ~in_lx & (fit_d[iq] > dxy)
            x_id = own[s:s + rows, None, None]                # the fitted point x is, or -1
            is_x = ly == x_id                                 # x itself in L(y): never counted
            count += (only_ly & ~is_x).sum(axis=2)
            # neither in L(x) nor in L(y) (nor x itself): farther from x; from y only within its radius
            union = k + k_fit - in_ly.sum(axis=2)
            x_outside = (x_id[:, :, 0] >= 0) & ~is_x.any(axis=2)
            if unlisted:
                count += np.where(y_within, n - union - x_outside, 0)
            mp[s:s + rows] = count / n
        return mp


class LocalScaling(HubnessReduction):
    """Local scaling (Zelnik-Manor & Perona, NIPS 17, 2005) and NICDM (Jegou, Harzallah & Schmid,
    2007; Jegou et al., IEEE TPAMI 32, 2010), as Schnitzer et al. (2012) use them against hubness.

    Each point has a scale r from its own list (self excluded; the fit list for a fitted point, the
    query's list for a query):

    - method="standard": r = the distance to its k-th nearest neighbour, and
      ``LS(x, y) = 1 - exp(-d(x, y)^2 / (r_x r_y))`` (one minus the paper's affinity);
    - method="nicdm": r = the mean distance to its k nearest neighbours, and
      ``NICDM(x, y) = d(x, y) / sqrt(r_x r_y)``. Jegou et al.'s measure also multiplies by a global
      constant (the geometric mean of all r), which changes no ranking and is left out, as in
      Schnitzer et al. and scikit-hubness.

    These are the papers' scales for every point, fitted or query: its k nearest *other* points.
    scikit-hubness (newest ``LocalScaling``) reads each row of its graph as if the point itself came
    first: it skips the first entry of the fitted points' rows, which is right for scikit-learn's
    graphs, but also reads a query's row that way, and NICDM averages that row's first k + 1
    entries. On its README pipeline's graphs (self first in the fitted points' rows, none in the
    queries') this gives:

    - fitted points queried as themselves: LS as here; NICDM's query scale is sum / (k + 1) of the
      k nearest, so each value is sqrt((k + 1) / k) times this package's;
    - queries: LS scales a query by its (k + 1)-th nearest point, NICDM by the mean of its k + 1
      nearest; values differ by a few per cent;
    - "standard" returns ``1 + d^2 / (r_x r_y)`` (the exponential lost).

    A row's own scale is one factor for the whole row, so on those graphs every row comes out in
    the same order as here. On lists without the self entry scikit-hubness's LS(k) scales every
    point by its (k + 1)-th nearest: the ranking of LocalScaling(k + 1) here; its NICDM then scales
    fitted points by the mean of their 2nd to (k + 1)-th nearest and queries by the mean of their
    k + 1 nearest, which nothing here reproduces. This package keeps the papers' scales;
    ``compat="skhubness"`` reproduces scikit-hubness's values instead.

    compat : None (default) or "skhubness"
        "skhubness": scikit-hubness's values for the graphs its README pipeline builds with
        scikit-learn's ``KNeighborsTransformer(n_neighbors=n, mode="distance")``: pass the fitted
        points' lists of n others (self excluded, as always) and the queries' lists of n + 1 points
        (at least k + 1); the fitted points' lists passed again to transform (equal neigh_ind) are
        read with their own 0 first, as scikit-hubness reads them. "standard" returns
        ``1 + d^2 / (r_x r_y)``. The self entry itself is never returned.

    A zero scale keeps exact duplicates at 0 and sends every other distance to the maximum (1 for
    LS, infinity for NICDM and compat LS), where scikit-hubness divides by zero. The lists must hold
    non-negative distances; use Euclidean ones (the formulas are stated on them: LS squares them).
    ``X`` is not read.
    """

    def __init__(self, k: int = 5, method: str = "standard", compat: str | None = None) -> None:
        self.k = k
        self.method = method
        self.compat = compat

    def check_params(self) -> None:
        check_int(self.k, "k")
        if self.method not in ("standard", "nicdm"):
            raise ValueError(f"method must be 'standard' or 'nicdm', got {self.method!r}")
        _check_compat(self.compat)

    def _scale(self, d: np.ndarray, which: str, skip: int = 0) -> np.ndarray:
        """The scale of each row; skip = 1 reads the row as scikit-hubness reads its rows, with the first
        entry taken for the point itself (entry k, or the mean of the first k + 1)."""
        k = _check_k(self.k, d, which) + skip
        if k > d.shape[1]:
            raise ValueError(f"compat='skhubness' reads entry k + 1 = {k} of each {which} row, but the lists hold "
                             f"{d.shape[1]}: pass lists of at least k + 1 points (scikit-learn's graphs of "
                             f"n_neighbors + 1)")
        if d[:, 0].min() < 0:
            raise ValueError("local scaling needs non-negative distances (Euclidean ones: "
                             "knn(x, k, metric='euclidean'))")
        return d[:, k - 1] if self.method == "standard" else d[:, :k].mean(axis=1)

    def _fit(self, d: np.ndarray, i: np.ndarray, X: Any) -> None:
        if self.compat:
            self._fit_ind = i.copy()
        self.scale_fit_ = self._scale(d, "fit")

    def _secondary(self, d: np.ndarray, i: np.ndarray, X: Any, own: np.ndarray) -> np.ndarray:
        if self.compat is None:
            r = self._scale(d, "query")
        else:
            r = np.empty(len(d))
            sel = own >= 0
            if sel.any():
                r[sel] = self._scale(_with_self(d[sel]), "fit", skip=1)
            if not sel.all():
                r[~sel] = self._scale(d[~sel], "query", skip=1)
        scale = r[:, None] * self.scale_fit_[i]
        if self.method == "nicdm":
            return _ratio(d, np.sqrt(scale))
        if self.compat:
            return 1.0 + _ratio(d * d, scale)
        return -np.expm1(-_ratio(d * d, scale))


class DisSimLocal(HubnessReduction):
    """DisSimLocal (Hara, Suzuki, Kobayashi, Fukumizu & Radovanovic, AAAI 2016).

    ``DSL(x, y) = ||x - y||^2 - ||x - c(x)||^2 - ||y - c(y)||^2``, where c(p) is the mean of the
    vectors of p's k nearest fitted points (the first k entries of its list; self excluded, so for a
    fitted point passed as a query c is the same either way).

    Needs the vectors: ``fit(neigh_dist, neigh_ind, X=fitted points)`` and
    ``transform(neigh_dist, neigh_ind, X=queries)`` (the fitted points again for their own lists).
    The squared Euclidean distances ||x - y||^2 are recomputed in float64 from the vectors for the
    listed pairs, so neigh_dist only orders the candidates: the lists should be Euclidean k-NN
    lists (euclidean or sqeuclidean, the same neighbours).

    squared=True returns DSL itself, which can be negative (only each row's order carries meaning);
    squared=False returns sign(DSL) * sqrt(|DSL|), the same order on a Euclidean-like scale.

    scikit-hubness (newest ``DisSimLocal``) differs in three places, none of them the paper's: it
    takes a query's centroid as the mean of its neighbours' *centroids* rather than of the
    neighbours; it shifts all values of one transform call up by that call's minimum when negative
    (a row then depends on the other rows passed with it) before its square root; and on scikit-
    learn's graphs (its README pipeline) a fitted point's first k entries start with the point
    itself, so its centroid is the mean of itself and its k - 1 nearest. The first two change each
    row by one constant: on lists without the self entry (and squared distances in them, as it
    requires) every row comes out in the same order as here. The third changes the order.

    compat : None (default) or "skhubness"
        "skhubness": scikit-hubness's values for the graphs its README pipeline builds (scikit-
        learn's ``KNeighborsTransformer(mode="distance")``, squared Euclidean): a fitted point's
        centroid is the mean of itself and its first k - 1 fit entries; a query's the mean of the
        centroids of its first k entries (for the fitted points' own lists passed again, equal
        neigh_ind: itself and its first k - 1); the values of the call, the fitted points' self
        entries among them, are shifted up by their minimum when it is negative, and squared=False
        takes their square root. The self entry itself is never returned.
    """

    needs_vectors = True

    def __init__(self, k: int = 5, squared: bool = True, compat: str | None = None) -> None:
        self.k = k
        self.squared = squared
        self.compat = compat

    def check_params(self) -> None:
        check_int(self.k, "k")
        check_flag(self.squared, "squared")
        _check_compat(self.compat)

    @staticmethod
    def _vectors(X: Any, rows: int, what: str, dim: int | None = None) -> np.ndarray:
        if X is None:
            raise ValueError(f"DisSimLocal needs the vectors: pass X={what} ({rows} rows) with the lists")
        v = to_numpy(X)
        if v.ndim != 2 or v.shape[0] != rows:
            raise ValueError(f"X must be the {rows} {what} as a 2-D array, one row per list row, got shape {v.shape}")
        if dim is not None and v.shape[1] != dim:
            raise ValueError(f"X has {v.shape[1]} features, but the fitted points have {dim}")
        if v.dtype.kind not in "fiu" or not np.all(np.isfinite(v)):
            raise ValueError("X must hold finite real numbers")
        return v if v.dtype in (np.float32, np.float64) else v.astype(np.float64)

    def _fit(self, d: np.ndarray, i: np.ndarray, X: Any) -> None:
        k = _check_k(self.k, i, "fit")
        v = self._vectors(X, len(i), "fitted points")
        self._fit_X = v
        if self.compat is None:
            self.spread_fit_ = _sq_dist_to_mean(v, v, i[:, :k])
            return
        self._fit_ind = i.copy()
        self.centroid_fit_ = _row_means(v, self._self_first(i, k, np.arange(len(i))))
        self.spread_fit_ = ((v.astype(np.float64) - self.centroid_fit_) ** 2).sum(axis=1)

    @staticmethod
    def _self_first(i: np.ndarray, k: int, ids: np.ndarray) -> np.ndarray:
        """The first k entries of fitted points' rows with each point (ids, one per row) itself first."""
        return np.concatenate([ids[:, None], i[:, :k - 1]], axis=1)

    def _secondary(self, d: np.ndarray, i: np.ndarray, X: Any, own: np.ndarray) -> np.ndarray:
        k = _check_k(self.k, i, "query")
        q = self._vectors(X, len(i), "queries", self._fit_X.shape[1])
        if self.compat is None:
            dsl = _sq_dist_pairs(q, self._fit_X, i) - _sq_dist_to_mean(q, self._fit_X, i[:, :k])[:, None] \
                - self.spread_fit_[i]
            return dsl if self.squared else np.sign(dsl) * np.sqrt(np.abs(dsl))
        sel = own >= 0
        first = i[:, :k].copy()
        first[sel] = self._self_first(i[sel], k, own[sel])
        spread = _sq_dist_to_mean(q, self.centroid_fit_, first)
        dsl = _sq_dist_pairs(q, self._fit_X, i) - spread[:, None] - self.spread_fit_[i]
        low = min(0.0, float(dsl.min()))
        if sel.any():  # the self entries scikit-hubness transforms with the rest: 0 - spread - spread_fit
            low = min(low, float((-spread[sel] - self.spread_fit_[own[sel]]).min()))
        dsl -= low
        return dsl if self.squared else np.sqrt(dsl)


class CSLS(HubnessReduction):
    """Cross-domain similarity local scaling (Conneau, Lample, Ranzato, Denoyer & Jegou, ICLR 2018).

    On cosine similarities s (values="similarity"; lists sorted largest first, e.g. knn with
    metric="inner_product" on unit vectors): ``CSLS(x, y) = 2 s(x, y) - r(x) - r(y)``, where r(x) is
    the mean similarity of query x to its k most similar fitted points (the paper's r_T) and r(y)
    the mean similarity of fitted point y to the first k entries of its fit list (the paper's r_S).
    Rows come back by decreasing CSLS; equal values by decreasing similarity (the nearer point
    first), then by increasing index, as every reduction re-sorts.

    On distances (values="distance", default; lists smallest first): the same formula with the
    similarity replaced by minus the distance, returned negated so that smaller is nearer:
    ``2 d(x, y) - r(x) - r(y)`` with r the mean distance to the first k entries. With cosine
    distances (1 - s) this is exactly -CSLS; with Euclidean ones it is the same construction.
    Values can be negative.

    The paper's r_S(y) is y's neighbourhood among the *source* (query) points. Within one space
    (hubness reduction, the fitted points' lists among themselves) that is y's neighbourhood among
    the fitted points; for two domains, fit on the fitted (target) points' lists among the source
    points (knn(source, k, queries=target)): fit reads only their distances, so their indices may
    refer to the other set. ``X`` is not read. scikit-hubness has no CSLS: this is the paper's.
    """

    def __init__(self, k: int = 10, values: str = "distance") -> None:
        self.k = k
        self.values = values

    def check_params(self) -> None:
        check_int(self.k, "k")
        if self.values not in ("distance", "similarity"):
            raise ValueError(f"values must be 'distance' or 'similarity', got {self.values!r}")

    def _descending(self) -> bool:
        return bool(self.values == "similarity")

    def _fit_lists_index_fitted(self) -> bool:
        return False

    def _fit(self, d: np.ndarray, i: np.ndarray, X: Any) -> None:
        self.mean_fit_ = d[:, :_check_k(self.k, d, "fit")].mean(axis=1)

    def _secondary(self, d: np.ndarray, i: np.ndarray, X: Any, own: np.ndarray) -> np.ndarray:
        r = d[:, :_check_k(self.k, d, "query")].mean(axis=1)
        return 2.0 * d - r[:, None] - self.mean_fit_[i]


#: The names make_reduction knows, and what each builds.
REDUCTIONS: dict[str, tuple[type[HubnessReduction], dict[str, Any]]] = {
    "mp": (MutualProximity, {"method": "normal"}),
    "mp_empiric": (MutualProximity, {"method": "empiric"}),
    "ls": (LocalScaling, {"method": "standard"}),
    "nicdm": (LocalScaling, {"method": "nicdm"}),
    "dsl": (DisSimLocal, {}),
    "csls": (CSLS, {}),
}


def make_reduction(name: str | None, **params: Any) -> HubnessReduction | None:
    """The reduction a name stands for, or None for None (no reduction: keep the lists as they are).

    Names: "mp" (MutualProximity, normal), "mp_empiric", "ls" (LocalScaling), "nicdm", "dsl"
    (DisSimLocal), "csls". ``params`` go to the class (e.g. ``make_reduction("ls", k=7)``); the name
    fixes ``method`` where it has one.
    """
    if name is None:
        if params:
            raise ValueError(f"None (no reduction) takes no parameters, got {sorted(params)}")
        return None
    if name not in REDUCTIONS:
        raise ValueError(f"unknown hubness reduction {name!r}; use one of {sorted(REDUCTIONS)} or None")
    cls, fixed = REDUCTIONS[name]
    clash = sorted(set(fixed) & set(params))
    if clash:
        raise ValueError(f"{name!r} fixes {clash[0]}={fixed[clash[0]]!r}; leave it out or use another name")
    takes = set(inspect.signature(cls).parameters) - set(fixed)
    unknown = sorted(set(params) - takes)
    if unknown:
        raise ValueError(f"{name!r} ({cls.__name__}) takes no parameter {unknown[0]!r}; its parameters: "
                         f"{', '.join(sorted(takes)) or 'none'}")
    reduction = cls(**fixed, **params)
    reduction.check_params()
    return reduction
