"""A reference manifold fitted once on real features, then used to evaluate any number of fake sets.

``Manifold(real, k=(3, 5))`` computes the real set's k-NN radii for every requested k from one
k-NN pass (the k_max nearest neighbours give every smaller radius). ``evaluate(fake)`` answers
every containment test of one fake set -- improved precision and recall, density and coverage,
prdc's convention, rarity -- in one pass over the real x fake pairs, however many k are involved
(one layer of balls per (k, boundary rule); see :func:`hubness_fast.balls.ball_pass`), adds the
realism score and the F-score, and, with ``n_boot=``, bootstrap confidence intervals.

Distances: ``metric="euclidean"`` compares float64 squared Euclidean distances of the features with
float64 squared radii. ``metric="cosine"`` scales every feature vector to unit norm first (in
float64, stored in the features' dtype) and compares squared Euclidean distances of the scaled
vectors, which are twice their cosine distances: the same tests, in cosine units.

| metric | reference | k | comparison | radius of |
| --- | --- | --- | --- | --- |
| precision / recall | Kynkaanniemi et al. 2019 | 3 | d <= r (inclusive) | real / fake sets |
| density / coverage | Naeem et al. 2020 (prdc) | 5 | d < r (strict) | real set |
| prdc convention (all four as the prdc package) | prdc 0.2 | 5 | d < r (strict) | both |
| rarity score | Han et al. 2022 | 3 | d < r (strict) | real set |
| realism score | Kynkaenniemi et al. 2019 | 3 | r / d, half of the balls | real set |
| F-score | 2 P R / (P + R) of the precision and recall above | | | |
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..engine import describe, run
from .._files import atomic_write, writable_dir
from .._inputs import (as_matrix, as_path, check_flag, check_int, check_k, check_metric,
                       check_squared_radii, is_real)
from .._warn import warn_user
from .._types import Device, Progress, Threads
from ..engine.balls import BallCounts, ball_pass
from ..engine.refused import check_rows

__all__ = ["Manifold", "Evaluation", "Containment", "RarityResult", "SavedManifoldError", "f_score", "features_hash",
           "checked_features", "radii2", "rarity_from_containment"]

METRICS = ("euclidean", "cosine")

MAX_SQUARED_NORM = 1e36  # the engine's limit for float32 arithmetic (csrc/cpu/side.h), checked here to name the set
FORMAT = "hubness_fast.manifold/1"  # written by save, checked by load (files before it carry none)
REALISM_BLOCK = 1024  # the realism pass holds 1024 fakes x 1024 reals of float64 distances at a time (8 MiB each)


def features_hash(x: np.ndarray) -> str:
    """SHA-256 of a feature matrix's dtype, shape and bytes (read in blocks: memmaps stay on disk)."""
    h = hashlib.sha256(f"{x.dtype.str}{tuple(x.shape)}".encode())
    rows = max(1, (1 << 26) // max(1, x.itemsize * (x.shape[1] if x.ndim == 2 else 1)))
    for s in range(0, x.shape[0], rows):
        h.update(np.ascontiguousarray(x[s:s + rows]).tobytes())
    return h.hexdigest()


class SavedManifoldError(ValueError):
    """A file Manifold.load cannot read as a saved manifold; the message names it and says why."""


def _read_saved(path: Path) -> tuple[tuple[int, ...], np.ndarray, str, str, Any, Any, str | None]:
    """The entries of a file Manifold.save wrote, checked: (k, radius2, metric, hash, raw_features,
    features, features_path), the last three None where absent."""
    def damaged(why: str) -> ValueError:
        return SavedManifoldError(f"cannot read the saved manifold {path}: {why} (cut short, damaged, or not "
                                  f"written by Manifold.save): fit and save it again")
    if not path.is_file():
        raise ValueError(f"the saved manifold {path} does not exist" if not path.exists() else
                         f"the saved manifold {path} is not a file")
    try:
        with open(path, "rb") as fh:  # ours to close: numpy leaves a file it fails to read open
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise damaged("it holds one array (a .npy file), not a manifold's entries")
            with loaded as z:
                missing = [name for name in ("k", "radius2", "metric", "hash") if name not in z.files]
                if missing:
                    raise damaged(f"it lacks {', '.join(missing)}")
                fmt = str(z["format"]) if "format" in z.files else FORMAT
                if fmt != FORMAT:
                    raise SavedManifoldError(f"the saved manifold {path} is in the format {fmt!r}, which this "
                                             f"version does not read (it reads {FORMAT!r}): upgrade hubness_fast, "
                                             f"or fit it again")
                ks = tuple(int(v) for v in np.atleast_1d(z["k"]))
                r2, metric, saved_hash = z["radius2"], str(z["metric"]), str(z["hash"])
                raw = z["raw_features"] if "raw_features" in z.files else None
                stored = z["features"] if "features" in z.files else None
                source = str(z["features_path"]) if "features_path" in z.files else None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise damaged(" ".join(str(exc).split()) or type(exc).__name__) from None
    except SavedManifoldError:
        raise
    except ValueError as exc:  # numpy's, on a file that is no .npz it wrote
        raise damaged(" ".join(str(exc).split())) from None
    if r2.ndim != 2 or r2.shape[1] != len(ks) or r2.dtype.kind != "f" or not ks or min(ks) < 1:
        raise damaged(f"its radii have shape {r2.shape} and dtype {r2.dtype} for k = {ks}")
    if metric not in METRICS:
        raise damaged(f"its metric is {metric!r}")
    return ks, r2, metric, saved_hash, raw, stored, source


def _whole_npy(x: Any) -> str | None:
    """The .npy file an array maps whole (as np.load(path, mmap_mode="r") gives it), else None: a
    slice or view of one keeps the file's name, and a raw np.memmap's file is no .npy."""
    name = getattr(x, "filename", None)
    if name is None or not isinstance(x, np.memmap):
        return None
    try:
        whole = np.load(name, mmap_mode="r")
    except (OSError, ValueError):
        return None
    same = (isinstance(whole, np.memmap) and whole.shape == x.shape and whole.dtype == x.dtype
            and whole.strides == x.strides and whole.offset == x.offset)
    return str(name) if same else None


def _check_metric(metric: str) -> str:
    return check_metric(metric, METRICS)


def _unit_rows(x: np.ndarray, name: str, dtype: Any = None) -> np.ndarray:
    """Rows scaled to unit norm in float64, returned in ``dtype`` (default x's) (cosine); the rows the
    k-NN engine's cosine refuses (zeros, squared norms below 2^-969, whose squares lose their digits to
    underflow, or beyond the float64 range) are refused here too, with its messages."""
    out = np.empty(x.shape, x.dtype if dtype is None else dtype)
    for s in range(0, x.shape[0], 65536):
        b = np.asarray(x[s:s + 65536], np.float64)
        with np.errstate(over="ignore"):
            sq = (b * b).sum(1)
        check_rows(b, sq, "cosine", name, offset=s)
        out[s:s + 65536] = b / np.sqrt(sq)[:, None]
    return out


def _check_finite(m: np.ndarray, name: str, norms: bool) -> None:
    """One clear message naming the set before any native work (blocks of at most 16 MiB of flags):
    NaN or Inf, or with ``norms`` a row the engine's float32 arithmetic refuses (squared norm above
    MAX_SQUARED_NORM; cosine scales rows to unit norm first, so it has no such limit)."""
    rows = max(1, (1 << 24) // max(1, m.shape[1]))
    for s in range(0, m.shape[0], rows):
        block = m[s:s + rows]
        ok = np.isfinite(block).all(1)
        if not ok.all():
            raise ValueError(f"{name} contains NaN or Inf (first at row {s + int(np.flatnonzero(~ok)[0])}); drop or "
                             f"impute those rows")
        if not norms:
            continue
        with np.errstate(over="ignore"):
            big = np.einsum("ij,ij->i", block, block, dtype=np.float64) > MAX_SQUARED_NORM
        if big.any():
            raise ValueError(f"{name} row {s + int(np.flatnonzero(big)[0])} has a squared norm above 1e36, too large "
                             f"for float32 arithmetic; rescale the data")


def checked_features(x: Any, name: str) -> np.ndarray:
    """Features [N, D] as given, validated: a 2-d numeric matrix with no NaN or Inf (the first bad
    row named, with ``name`` for the set)."""
    m = as_matrix(x, name)
    _check_finite(m, name, norms=False)
    return m


def _prepare(x: Any, metric: str, name: str, dtype: Any = None) -> np.ndarray:
    """Validated features as compared: as given, or (cosine) unit rows in ``dtype`` (default x's)."""
    m = as_matrix(x, name)
    _check_finite(m, name, norms=metric != "cosine")
    return _unit_rows(m, name, dtype) if metric == "cosine" else m


def _ks(k: int | Sequence[int]) -> tuple[int, ...]:
    ks = tuple(k) if np.iterable(k) and not isinstance(k, (str, bytes)) else (k,)
    if not ks:
        raise ValueError("k needs at least one value")
    return tuple(sorted({check_int(v, "k", minimum=1) for v in ks}))


def radii2(x: np.ndarray, ks: Sequence[int], *, n_threads: Threads = None, progress: Progress = False,
           device: Device = "auto", desc: str = "radii", name: str = "x") -> dict[int, np.ndarray]:
    """Squared distance (float64) from each point to its k-th neighbour (self excluded), for every k
    in ks, from one k-NN pass with k = max(ks); too few points for k are refused naming the set."""
    check_k(max(ks), x.shape[0] - 1, f"{name} samples other than the point itself; {name} has {x.shape[0]}")
    p = describe(x, max(ks), metric="sqeuclidean", exclude_self=True, device=device, n_threads=n_threads,
                 progress=progress, desc=desc)
    dist = np.asarray(run(p, ids=False, distances=True).distances)
    return {k: np.ascontiguousarray(dist[:, k - 1]) for k in ks}


class Containment(NamedTuple):
    """Outputs of one ball pass between a fake set and the manifold: per layer (k, inclusive),
    the [n, layers] arrays of :class:`hubness_fast.engine.balls.BallCounts`."""

    layers: tuple[tuple[int, bool], ...]
    fake: BallCounts
    real: BallCounts

    def column(self, k: int, inclusive: bool) -> int:
        return self.layers.index((k, inclusive))


class RarityResult(NamedTuple):
    scores: np.ndarray       # float64 [M]
    ranking: np.ndarray      # int64: fake indices, rarest first (ties: smaller index)
    in_manifold: np.ndarray  # bool [M]: inside at least one real ball


class Evaluation(NamedTuple):
    """Every k-NN metric of one fake set against a fitted manifold (see the module's table).

    ``intervals``: with ``n_boot``, {name: (low, high)} percentile bootstrap intervals of the
    scalar metrics (and of the mean rarity and realism scores), else None."""

    precision: float
    recall: float
    f_score: float
    density: float
    coverage: float
    prdc: dict[str, float]        # precision, recall, density, coverage as the prdc package (k_dc, strict)
    rarity: RarityResult
    realism: np.ndarray | None    # float64 [M], or None with realism=False
    intervals: dict[str, tuple[float, float]] | None


def f_score(precision: float, recall: float, beta: float = 1.0) -> float:
    """(1 + beta^2) P R / (beta^2 P + R); 0 when both are 0."""
    den = beta * beta * precision + recall
    return float((1 + beta * beta) * precision * recall / den) if den > 0 else 0.0


def rarity_from_containment(c: Containment, k: int, metric: str, out_of_manifold: str = "exclude") -> RarityResult:
    """Rarity score (Han et al., 2022) from a pass that holds the (k, strict) layer of real balls."""
    if out_of_manifold not in ("exclude", "last", "nan"):
        raise ValueError(f"out_of_manifold must be 'exclude', 'last' or 'nan', got {out_of_manifold!r}")
    col = c.column(k, False)
    inside = c.fake.in_count[:, col] > 0
    r2 = np.where(inside, c.fake.min_radius2[:, col], 0.0)
    scores = np.where(inside, r2 / 2 if metric == "cosine" else np.sqrt(r2), 0.0)
    idx = np.flatnonzero(inside)
    ranking = idx[np.lexsort((idx, -scores[idx]))]
    if out_of_manifold == "last":
        ranking = np.concatenate([ranking, np.flatnonzero(~inside)])
    elif out_of_manifold == "nan":
        scores[~inside] = np.nan
    return RarityResult(scores, ranking.astype(np.int64), inside)


def _bootstrap_mean(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = values.shape[0]
    if n == 0:
        return np.full(n_boot, np.nan)
    return np.array([values[rng.integers(0, n, n)].mean() for _ in range(n_boot)])


def _percentiles(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """The (lo, hi) percentiles of the resampled values, NaN ones left out; (nan, nan) where all are NaN
    (a mean over no sample, e.g. rarity with no fake inside the manifold)."""
    if np.isnan(values).all():
        return float("nan"), float("nan")
    return float(np.nanpercentile(values, lo)), float(np.nanpercentile(values, hi))


class Manifold:
    """Real features fitted once: their k-NN radii for every k in ``k`` from one k-NN pass.

    Parameters: ``real`` [N, D] (numpy, torch, a memmap); ``k`` one int or several (every metric
    asks for its own k and fails clearly when the manifold lacks it); ``metric`` "euclidean" or
    "cosine"; ``n_threads``, ``progress``, ``device`` as for :func:`hubness_fast.knn`.

    ``radius2``, ``hash`` and ``compared`` rebuild a manifold without a k-NN pass (``load`` uses them):
    the radii, the features' hash, and whether ``real`` is already as compared.

    Attributes: ``features`` (as compared: unit rows for cosine), ``raw`` (the features as given,
    for statistics of the features themselves such as FD; None for a cosine manifold read from a
    file that holds only its unit rows), ``k`` (sorted tuple), ``metric``, ``radius2`` {k: float64
    [N] squared radii in the compared space}, ``hash`` (features_hash of the features as given).
    """

    def __init__(self, real: Any, k: int | Sequence[int] = (3, 5), *, metric: str = "euclidean",
                 n_threads: Threads = None, progress: Progress = False, device: Device = "auto",
                 radius2: dict[int, np.ndarray] | None = None, hash: str | None = None,
                 compared: bool = False) -> None:
        self.metric = _check_metric(metric)
        self.k = _ks(k)
        given = as_matrix(real, "real")
        self._given, self._hash = given, hash
        # compared=True: real is already as compared (unit rows for cosine), e.g. read back from a file
        self.features = given if compared else _prepare(given, self.metric, "real")
        self.raw: np.ndarray | None = None if compared and self.metric == "cosine" else given
        self.n_threads, self.progress, self.device = n_threads, progress, device
        self._source = _whole_npy(real)  # the .npy file a memmap maps whole, recorded by save()
        self._part_of = None if self._source else getattr(real, "filename", None)  # a slice or raw memmap's file
        if radius2 is None:
            radius2 = radii2(self.features, self.k, n_threads=n_threads, progress=progress, device=device,
                             desc="real radii", name="real")
        elif not set(self.k) <= set(radius2):
            raise ValueError(f"radius2 must hold the squared radii of every k in {list(self.k)}, got keys "
                             f"{sorted(map(str, radius2))}")
        else:
            radius2 = {kk: radius2[kk] for kk in self.k}  # radii of other k: not this manifold's
        n = len(self.features)
        self.radius2 = {int(kk): check_squared_radii(v, (n,), f"radius2[{kk}]") for kk, v in radius2.items()}

    @property
    def hash(self) -> str:
        """features_hash of the real features as given (computed on first use)."""
        if self._hash is None:
            self._hash = features_hash(self._given)
        return self._hash

    def __repr__(self) -> str:
        n, d = self.features.shape
        return f"Manifold({n} x {d}, k={self.k}, metric={self.metric!r}, hash={self.hash[:12]})"

    # ---- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, include_features: bool = True) -> Path:
        """Write the manifold to ``path`` (.npz): radii, k, metric, the features' hash, and the
        features as given (``include_features=True``; cosine rows are scaled again on load) or the
        path of the memmap they came from."""
        include_features = check_flag(include_features, "include_features")
        path = as_path(path)
        if path.suffix != ".npz":  # appended, as numpy does: "ffhq-k3.5" -> "ffhq-k3.5.npz"
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {}
        if include_features and self.raw is not None:
            extra["raw_features"] = self.raw
        elif include_features:  # read from a file holding only the unit rows: keep those
            extra["features"] = self.features
        elif self._source:
            extra["features_path"] = np.array(str(self._source))
        elif self._part_of is not None:
            raise ValueError(f"the real features map part of {self._part_of} or a file that is not an .npy "
                             "(a slice, a view or np.memmap): a saved path would not give them back; save with "
                             "include_features=True, or fit on the whole file from np.load(path, mmap_mode='r')")
        arrays = {"format": np.array(FORMAT), "k": np.array(self.k), "metric": np.array(self.metric),
                  "radius2": np.stack([self.radius2[k] for k in self.k], axis=1), "hash": np.array(self.hash), **extra}
        atomic_write(path, lambda f: np.savez(f, **arrays))  # a save cut off leaves the earlier file, never half
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], features: Any = None, *, n_threads: Threads = None,
             progress: Progress = False, device: Device = "auto") -> "Manifold":
        """Read a saved manifold. ``features`` (an array, or the path of a .npy file, opened as a
        memmap) is needed when the file holds none; given features must hash to the saved hash.

        Features saved inside the file are checked against the saved hash too (files written before
        ``raw_features`` hold the compared ones, unit rows for cosine, which cannot be; such a
        manifold has ``raw`` None). A file that cannot be read, is cut short, lacks an entry, holds
        radii that do not fit its k, or was written by a later format is refused with a ValueError
        naming it."""
        path = as_path(path)
        ks, r2, metric, saved_hash, raw, stored, source = _read_saved(path)
        radius2 = {k: np.ascontiguousarray(r2[:, i]) for i, k in enumerate(ks)}
        for name, held in (("raw_features", raw), ("features", stored)):
            if held is not None and (held.ndim != 2 or held.shape[0] != r2.shape[0]):
                raise ValueError(f"the saved manifold {path} is damaged: its {name} have shape {held.shape}, its "
                                 f"radii {r2.shape[0]} rows")
        if raw is not None and features_hash(raw) != saved_hash:
            raise ValueError(f"the saved manifold {path} is damaged: its features do not hash to the hash saved "
                             f"with them (changed after the save): fit and save it again")
        if features is None and raw is not None:
            return cls(raw, ks, metric=metric, n_threads=n_threads, progress=progress, device=device,
                       radius2=radius2, hash=saved_hash)
        if features is None and stored is None and source is None:
            raise ValueError(f"{path} holds no features (saved with include_features=False): pass features= "
                             f"(the real features it was fitted on), or save it with include_features=True")
        if features is None and stored is not None:
            return cls(stored, ks, metric=metric, n_threads=n_threads, progress=progress, device=device,
                       radius2=radius2, hash=saved_hash, compared=True)
        if features is None:
            features = source
        if isinstance(features, (str, os.PathLike)):
            features = np.load(as_path(features), mmap_mode="r")
        given = as_matrix(features, "features")
        got = features_hash(given)
        if got != saved_hash:
            raise ValueError(f"the features given do not match the manifold saved in {path} (hash {got[:12]} "
                             f"!= {saved_hash[:12]}): fit a new Manifold on them")
        if given.shape[0] != r2.shape[0]:
            raise ValueError(f"{path} has radii for {r2.shape[0]} points but the features have {given.shape[0]}")
        return cls(features, ks, metric=metric, n_threads=n_threads, progress=progress, device=device,
                   radius2=radius2, hash=saved_hash)

    @classmethod
    def cached(cls, real: Any, k: int | Sequence[int] = (3, 5), *, metric: str = "euclidean",
               cache_dir: str | os.PathLike[str], n_threads: Threads = None, progress: Progress = False,
               device: Device = "auto") -> "Manifold":
        """Fit once per (features, k, metric): the radii are kept in ``cache_dir`` under a key made
        of the features' hash, k and the metric, and loaded (features checked) on later calls."""
        ks = _ks(k)
        given = as_matrix(real, "real")
        digest = features_hash(given)
        key = hashlib.sha256(f"{digest}-{ks}-{_check_metric(metric)}".encode()).hexdigest()[:24]
        path = writable_dir(cache_dir, "cache folder") / f"manifold-{key}.npz"  # before the fit, not after
        if path.exists():
            try:
                return cls.load(path, real, n_threads=n_threads, progress=progress, device=device)
            except ValueError as exc:  # damaged (a key names its features: a mismatch is damage too)
                warn_user(f"{exc}; fitting again and replacing it")
        m = cls(real, ks, metric=metric, n_threads=n_threads, progress=progress, device=device, hash=digest)
        m.save(path, include_features=False)
        return m

    # ---- evaluation -----------------------------------------------------------------------------

    def _need(self, k: int, what: str) -> int:
        if k not in self.radius2:
            raise ValueError(f"{what} needs k={k}, but this manifold was fitted with k={self.k}; fit it with "
                             f"k including {k}")
        return k

    def prepare_fake(self, fake: Any) -> np.ndarray:
        """Fake features as the manifold compares them: validated; for cosine, unit rows scaled in float64
        and stored in the reference's dtype, as its own rows are (so a fake equal in value to a real row
        has that row's unit row, whatever dtype it comes in); euclidean fakes as given (float64 for both
        sides when the dtypes differ)."""
        f = _prepare(fake, self.metric, "fake", self.features.dtype if self.metric == "cosine" else None)
        if f.shape[1] != self.features.shape[1]:
            raise ValueError(f"real features have {self.features.shape[1]} dimensions but fake features have "
                             f"{f.shape[1]}")
        return f

    def containment(self, fake: Any, layers: Sequence[tuple[int, bool]], *,
                    fake_balls: bool = True) -> Containment:
        """Every layer of balls (k, inclusive) of one fake set in one pass over the real x fake pairs.

        Real balls have the manifold's radii; fake balls (``fake_balls``) the fake set's own k-th
        neighbour radii (one k-NN pass over the fakes gives them for every k)."""
        return self._containment(self.prepare_fake(fake), layers, fake_balls)

    def _containment(self, f: np.ndarray, layers: Sequence[tuple[int, bool]], fake_balls: bool) -> Containment:
        layers = tuple(dict.fromkeys((int(k), check_flag(inc, "inclusive")) for k, inc in layers))
        if not layers:
            raise ValueError("layers must name at least one ball layer (k, inclusive)")
        for k, _ in layers:
            self._need(k, "a ball layer")
        r = self.features
        if r.dtype != f.dtype:  # one dtype for the engine; float64 keeps both exact
            r, f = r.astype(np.float64), f.astype(np.float64)
        real_r2 = np.stack([self.radius2[k] for k, _ in layers], axis=1)
        fake_r2 = None
        if fake_balls:
            ks = sorted({k for k, _ in layers})
            fr = radii2(f, ks, n_threads=self.n_threads, progress=self.progress, device=self.device,
                        desc="fake radii", name="fake")
            fake_r2 = np.stack([fr[k] for k, _ in layers], axis=1)
        sf, sr = ball_pass(f, fake_r2, r, real_r2, inclusive=[inc for _, inc in layers], n_threads=self.n_threads,
                           progress=self.progress, desc="containment", device=self.device)
        return Containment(layers, sf, sr)

    def realism(self, fake: Any, *, k: int = 3, clamp_to_percentile: float | None = 50) -> np.ndarray:
        """Realism score (Kynkaenniemi et al., NeurIPS 2019, Eq. 3) of each fake sample: max over real
        samples i of r_i / d(fake, real_i), r_i the k-th neighbour distance of real i. As in their
        release, only the real balls whose radius is at or below the ``clamp_to_percentile``
        percentile count (None keeps all). Above 1: inside a kept real ball. float64 [M].

        Exact float64 distances (from differences; a fake equal to a kept real sample scores inf),
        ``REALISM_BLOCK`` fakes against ``REALISM_BLOCK`` reals at a time (O(M N) work, memory
        independent of M and N): the |f|^2 - 2 f.r + |r|^2 expansion bounds every pair, and only the
        pairs that can hold a fake's maximum are recomputed from differences."""
        return self._realism(self.prepare_fake(fake), k, clamp_to_percentile)

    def _realism(self, f: np.ndarray, k: int, clamp_to_percentile: float | None) -> np.ndarray:
        self._need(k, "the realism score")
        r2 = self.radius2[k]
        keep = np.ones(r2.shape[0], bool)
        if clamp_to_percentile is not None:
            if not is_real(clamp_to_percentile) or not 0 < clamp_to_percentile <= 100:
                raise ValueError(f"clamp_to_percentile must be in (0, 100] or None, got {clamp_to_percentile}")
            radius = np.sqrt(r2)
            keep = radius <= np.percentile(radius, clamp_to_percentile)
        kept = np.flatnonzero(keep)
        out = np.full(f.shape[0], 0.0)
        for s in range(0, f.shape[0], REALISM_BLOCK):
            fb = np.asarray(f[s:s + REALISM_BLOCK], np.float64)
            fn = (fb * fb).sum(1)[:, None]
            best = out[s:s + REALISM_BLOCK]
            for t in range(0, kept.size, REALISM_BLOCK):
                ids = kept[t:t + REALISM_BLOCK]
                rb = np.asarray(self.features[ids], np.float64)
                rn = (rb * rb).sum(1)[None]
                np.maximum(best, self._realism_block(fb, fn, rb, rn, r2[ids][None], best), out=best)
        return out

    def _realism_block(self, fb: np.ndarray, fn: np.ndarray, rb: np.ndarray, rn: np.ndarray, rk2: np.ndarray,
                       best: np.ndarray) -> np.ndarray:
        """The exact realism score of each fake of the block against the block's reals (0 where none
        can beat ``best``): the |f|^2 - 2 f.r + |r|^2 expansion bounds every ratio, and the pairs that
        can hold a fake's maximum are recomputed from float64 differences."""
        d2 = fb @ rb.T
        d2 *= -2
        d2 += fn
        d2 += rn
        # The expansion's rounding, at most ~(D + 4) float64 units of |f|^2 + |r|^2; 4x that is safe.
        err = (4 * fb.shape[1] + 16) * np.finfo(np.float64).eps / 2 * (fn + rn)
        with np.errstate(divide="ignore", invalid="ignore"):
            low = np.nan_to_num(rk2 / (d2 + err), nan=0.0)  # r^2 / d^2 at least this (0 / 0: a zero radius at 0)
            high = rk2 / np.maximum(d2 - err, 0.0)      # and at most this (inf where d may be 0)
        floor = np.maximum(low.max(1), self._squared_ratio(best))[:, None]
        a, b = np.nonzero(high >= floor)
        out = np.zeros(fb.shape[0])
        step = max(1, REALISM_BLOCK * REALISM_BLOCK // max(1, fb.shape[1]))
        for p in range(0, a.size, step):
            aa, bb = a[p:p + step], b[p:p + step]
            diff = fb[aa] - rb[bb]
            exact = np.einsum("ij,ij->i", diff, diff)
            with np.errstate(divide="ignore", invalid="ignore"):
                # euclidean: r / d; cosine: (r2 / 2) / (d2 / 2). A fake equal to a real centre scores inf.
                ratio = rk2[0, bb] / exact if self.metric == "cosine" else np.sqrt(rk2[0, bb]) / np.sqrt(exact)
            np.maximum.at(out, aa, np.nan_to_num(ratio, nan=0.0, posinf=np.inf))
        return out

    def _squared_ratio(self, score: np.ndarray) -> np.ndarray:
        """r^2 / d^2 of a realism score (r / d for euclidean, r^2 / d^2 for cosine), a little below."""
        q = score if self.metric == "cosine" else score * score
        return q * (1 - 1e-9)

    def evaluate(self, fake: Any, *, k_pr: int = 3, k_dc: int = 5, k_rarity: int = 3, realism: bool = True,
                 k_realism: int = 3, clamp_to_percentile: float | None = 50, out_of_manifold: str = "exclude",
                 n_boot: int = 0, confidence: float = 0.95, seed: int = 0, recall: bool = True) -> Evaluation:
        """Every k-NN metric of one fake set (the module's table), the containment tests in one pass.

        ``n_boot`` > 0 adds percentile bootstrap intervals at ``confidence``: each metric's
        per-sample terms are resampled with replacement over the set it averages over (fakes for
        precision, density and rarity; reals for recall and coverage), both sets' balls held as
        fitted (the radii are not refitted on each resample, which keeps the intervals cheap and
        leaves out the variability of the radii themselves). F-scores pair the two resamples.

        ``recall=False`` skips the fake set's own balls, which only the recalls need: recall,
        F-score and prdc's recall are then NaN (with no intervals), and a fake set of k or fewer
        samples can be scored for the rest, as :func:`density_coverage` scores it.
        ``seed``: what numpy's ``default_rng`` takes (an integer >= 0, a SeedSequence, a Generator).
        """
        n_boot = check_int(n_boot, "n_boot", minimum=0)
        recall, realism = check_flag(recall, "recall"), check_flag(realism, "realism")
        try:
            boot_rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"seed must be what numpy's default_rng takes (an integer >= 0, a SeedSequence, a "
                             f"Generator), got {seed!r}: {exc}") from None
        if not is_real(confidence) or not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        for k, what in ((k_pr, "precision/recall"), (k_dc, "density/coverage"), (k_rarity, "the rarity score"),
                        *([(k_realism, "the realism score")] if realism else [])):
            self._need(k, what)
        f = self.prepare_fake(fake)
        c = self._containment(f, [(k_pr, True), (k_dc, False), (k_rarity, False)], recall)
        pr, dc = c.column(k_pr, True), c.column(k_dc, False)
        fake_in_pr = c.fake.in_count[:, pr] > 0
        real_in_pr = c.real.in_count[:, pr] > 0
        fake_dc = c.fake.in_count[:, dc]
        real_cov = c.real.own_count[:, dc] > 0
        precision = float(fake_in_pr.mean())
        real_recall = float(real_in_pr.mean()) if recall else float("nan")
        density = float((1.0 / k_dc) * fake_dc.mean())  # prdc's order of operations
        coverage = float(real_cov.mean())
        prdc = {"precision": float(np.mean(fake_dc > 0)),
                "recall": float(np.mean(c.real.in_count[:, dc] > 0)) if recall else float("nan"),
                "density": density, "coverage": coverage}
        rarity = rarity_from_containment(c, k_rarity, self.metric, out_of_manifold)
        real_score = self._realism(f, k_realism, clamp_to_percentile) if realism else None
        intervals = None
        if n_boot:
            rng = boot_rng
            boot = {
                "precision": _bootstrap_mean(fake_in_pr.astype(np.float64), n_boot, rng),
                "recall": _bootstrap_mean(real_in_pr.astype(np.float64), n_boot, rng),
                "density": (1.0 / k_dc) * _bootstrap_mean(fake_dc.astype(np.float64), n_boot, rng),
                "coverage": _bootstrap_mean(real_cov.astype(np.float64), n_boot, rng),
                "prdc_precision": _bootstrap_mean((fake_dc > 0).astype(np.float64), n_boot, rng),
                "prdc_recall": _bootstrap_mean((c.real.in_count[:, dc] > 0).astype(np.float64), n_boot, rng),
                "rarity_mean": _bootstrap_mean(rarity.scores[rarity.in_manifold], n_boot, rng),
            }
            # prdc's density and coverage are the statistics above (same k, same strict test)
            boot["prdc_density"], boot["prdc_coverage"] = boot["density"], boot["coverage"]
            if recall:
                boot["f_score"] = np.array([f_score(p, r) for p, r in zip(boot["precision"], boot["recall"])])
            else:  # no fake balls, no recalls; their resamples were still drawn, so the rest equal recall=True's
                del boot["recall"], boot["prdc_recall"]
            if real_score is not None:
                boot["realism_mean"] = _bootstrap_mean(real_score[np.isfinite(real_score)], n_boot, rng)
            lo, hi = 50 * (1 - confidence), 50 * (1 + confidence)
            intervals = {name: _percentiles(v, lo, hi) for name, v in boot.items()}
        return Evaluation(precision, real_recall, f_score(precision, real_recall) if recall else float("nan"),
                          density, coverage, prdc, rarity, real_score, intervals)
