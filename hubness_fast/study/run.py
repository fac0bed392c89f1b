"""Does the hubness prior help this generator? The study the paper reports, for any model.

    from hubness_fast.study import run_study
    table = run_study(G, extractor, real_features, "study_out")

For a generator the samplers serve (StyleGAN, BigGAN, any G(z)), a feature
extractor (images -> features, e.g. Inception or a LeNet on MNIST) and the
features of held-out real images, it measures:

1. A table over methods: hubs in W (the paper's notebook: hubs on ws[:, 0],
   k = 5, pool 10 000, t = 50), hubs in Z, random, and the truncation trick
   (psi 0.7 and 0.3; in W for StyleGAN). Metrics against the real features:
   Frechet distance, precision and recall (k = 3, Kynkaenniemi et al.), density
   and coverage (k = 5, Naeem et al.), each as mean and standard deviation over
   ``seeds`` independent seeds. A difference from random sampling counts as
   larger than the spread when |mean - mean_random| > std + std_random.
2. The paper's framing: a precision-recall curve for hub sampling (the top
   fraction of each pool swept) beside the truncation curve (psi swept), in one
   plot. The claim holds if the hub curve lies above the truncation curve (more
   recall at equal precision: most hub points beat the best truncation recall at
   their precision or above, and most truncation points do not beat the hub
   curve likewise; see :func:`above_envelope`) and hubs beat random in precision
   and FD by more than the spread.
3. The poster's figures: hub value against per-image quality (the realism
   score, and ``quality(images)`` when given, with per-decile means), and the
   distribution of the distance to the mean of all sampled latents for hubs,
   random and truncation.
4. An image grid per method.

Everything goes to ``outdir``: table.json, pr_curve.png, hub_vs_quality.png,
distance_to_mean.png, hub_histogram.png, grid_<method>.png. The folder must be new, empty or one a
study wrote (:func:`check_study_folder`); each file is replaced whole or not at all, and while
they are written the folder is marked unfinished (``STUDY_UNFINISHED``) and holds no table.json.
Each finished step is kept in ``outdir/.study-progress`` until then
(:mod:`hubness_fast.study.resume`): the same study, cut off, goes on from its last finished step.

Seeds: the run of ``seed`` draws from seeds ``seed * SEED_STRIDE + offset`` only (offset 1000 m + i
for method m, repetition i; 50 000 and 60 000 for the curves, 70 000 for the probe pool), so two
studies with different ``seed`` share no sample.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..evaluation import metrics
from ..evaluation.manifold import checked_features, features_hash
from .._files import atomic_write, listing, writable_dir
from .._inputs import to_numpy
from .._progress import bar as progress_bar
from ..evaluation.features import as_extractor
from ..features import features as image_features
from .._torch import BATCH_SIZE, to_uint8
from ..engine import machine_record
from ..sampling.generators import GeneratorAdapter, as_generator
from . import figures
from .resume import PROGRESS, StudyLog
from ..sampling.latents import Latents
from ..sampling.render import render
from ..sampling.samplers import HubnessSampler, LatentSampler, RandomSampler, TruncationSampler

if TYPE_CHECKING:
    import torch

METRICS = ("FD", "precision", "recall", "density", "coverage")
HIGHER_IS_BETTER = {"FD": False, "precision": True, "recall": True, "density": True, "coverage": True}
CURVE_TOPS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
CURVE_PSIS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
K_PR, K_DC = 3, 5  # the k of precision/recall and of density/coverage (the papers' defaults)
SEED_STRIDE = 1_000_000  # a study's seeds lie in [seed * SEED_STRIDE, (seed + 1) * SEED_STRIDE)
MAX_SEEDS, MAX_METHODS = 1000, 50  # repetitions and methods that fit below the curves' offsets
TABLE = "table.json"
STUDY_UNFINISHED = ".hubness-fast-study-unfinished"


def _features(extractor: Callable[[Any], Any], images: torch.Tensor, batch_size: int, what: str) -> np.ndarray:
    """Features of a method's images through the one detector path (uint8 images, as NVIDIA's
    metrics code gives them), refused when every image gets the same features."""
    feats = image_features(images, extractor, batch_size=batch_size, progress=False)
    _check_spread(feats, what)
    return feats


def _check_spread(feats: np.ndarray, what: str) -> None:
    """Metrics of features that do not vary mean nothing: stop instead of printing a verdict."""
    if len(feats) > 1 and not np.any(feats != feats[:1]):
        raise ValueError(f"the detector gave the same features to all {len(feats)} {what}: the table would be "
                         f"meaningless. Check that the detector takes uint8 [B, C, H, W] images (0..255, as "
                         f"NVIDIA's detectors do) and returns features, not a constant")


def _per_image(quality: Callable[[Any], Any], images: torch.Tensor, batch_size: int) -> np.ndarray:
    """quality(uint8 batch) -> one score per image, for every image."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            v = quality(to_uint8(images[s:s + batch_size]))
            out.append(to_numpy(v))
    scores = np.concatenate(out).astype(np.float64).reshape(-1)
    if scores.shape[0] != len(images):
        raise ValueError(f"quality returned {scores.shape[0]} scores for {len(images)} images; it must return one "
                         f"score per image")
    return scores


def evaluate(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """FD, precision, recall (k = 3, inclusive) and density, coverage (k = 5, strict) of fake features."""
    p, r = metrics.precision_recall(real, fake, k=K_PR)
    d, c = metrics.density_coverage(real, fake, k=K_DC)
    return {"FD": metrics.frechet_distance(real, fake), "precision": p, "recall": r, "density": d, "coverage": c}


def methods_for(gen: GeneratorAdapter, k: int, threshold: int, pool_size: int, include_self: bool,
                psis: Sequence[float]) -> dict[str, Callable[[int], LatentSampler]]:
    """{name: factory(seed) -> sampler} for this generator's spaces."""
    hub: dict[str, Any] = dict(k=k, threshold=threshold, pool_size=pool_size, include_self=include_self)
    out: dict[str, Callable[..., LatentSampler]] = {}
    if "w" in gen.spaces:
        out["hubs W"] = lambda s: HubnessSampler(space="w", seed=s, **hub)
    out["hubs Z"] = lambda s: HubnessSampler(space="z", seed=s, **hub)
    out["random"] = lambda s: RandomSampler(space=gen.default_space, seed=s)
    for psi in psis:
        out[f"truncation {psi}"] = lambda s, psi=psi: TruncationSampler(psi=psi, space=gen.default_space, seed=s)
    return out


def _summary(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {m: {"mean": float(np.mean([r[m] for r in runs])), "std": float(np.std([r[m] for r in runs], ddof=1))
                if len(runs) > 1 else 0.0} for m in METRICS}


def compare_to_random(table: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """For each method and metric: the difference from random and whether it exceeds the spread."""
    base = table["random"]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, row in table.items():
        if name == "random":
            continue
        out[name] = {}
        for m in METRICS:
            diff = row[m]["mean"] - base[m]["mean"]
            beyond = abs(diff) > row[m]["std"] + base[m]["std"]
            better = diff < 0 if not HIGHER_IS_BETTER[m] else diff > 0
            out[name][m] = {"difference": diff, "beyond_spread": bool(beyond),
                            "verdict": ("better" if better else "worse") if beyond else "within spread"}
    return out


def above_envelope(points: Sequence[tuple[float, float]],
                   others: Sequence[tuple[float, float]]) -> tuple[float | None, int, int]:
    """For each (precision, recall) point: does it beat ``others`` at equal or better precision?

    A point is above when its recall exceeds the best recall of the other curve's points
    whose precision is at least its own (that curve's achievable envelope; a single-seed
    curve need not be monotone). Returns (share above, number of points for which some
    other point had at least that precision, how many of those were above)."""
    above, comparable, comparable_above = [], 0, 0
    for p, r in points:
        rivals = [ro for po, ro in others if po >= p]
        wins = not rivals or r > max(rivals)
        above.append(wins)
        if rivals:
            comparable += 1
            comparable_above += wins
    return (float(np.mean(above)) if above else None), comparable, comparable_above


def is_study_folder(folder: Path) -> bool:
    """Written by a study, finished (its table.json) or not (its kept steps, or the unfinished mark)."""
    if (folder / STUDY_UNFINISHED).is_file() or (folder / PROGRESS).is_dir():
        return True
    try:
        report = json.loads((folder / TABLE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"settings", "table", "claim"} <= report.keys()


def check_study_folder(path: str | Path) -> None:
    """Refuse, before any work, an output folder that holds files a study did not write (a study
    replaces its own files and removes grids of methods it lacks: nothing of the user's may go)."""
    folder = Path(path).expanduser()
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if others and not is_study_folder(folder):
        raise ValueError(f"the output folder {folder} holds files and is not a study's folder (no {TABLE} of a study, "
                         f"no mark of an unfinished one; it holds {listing(others)}): write the study to a new or "
                         "empty folder (nothing in this one is overwritten)")


def check_real_features(real_features: Any) -> np.ndarray:
    """The real features as the study scores against them (float32 [N, D]), refused before any work:
    NaN or Inf, too few rows for the density/coverage radii (k = 5), or all rows equal."""
    real = np.ascontiguousarray(checked_features(real_features, "real"), dtype=np.float32)
    if real.shape[0] <= K_DC:
        raise ValueError(f"the real features have {real.shape[0]} rows: density and coverage (k = {K_DC}) need at "
                         f"least {K_DC + 1}, and a few hundred give a meaningful table")
    _check_spread(real, "real images")
    return real


def check_settings(n: int, seeds: int, seed: int, methods: int = 0) -> None:
    """Refuse a study's sizes before any work: n, seeds, seed and the number of methods compared."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= K_PR:
        raise ValueError(f"n must be an integer of at least {K_PR + 1} (precision and recall take the k = {K_PR} "
                         f"nearest of each method's images), got {n!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or not 2 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be an integer from 2 (for a spread) to {MAX_SEEDS}, got {seeds!r}")
    if methods > MAX_METHODS:
        raise ValueError(f"the study compares at most {MAX_METHODS} methods; psis= gives {methods}")


def run_study(G: Any, extractor: Callable[[Any], Any], real_features: Any, outdir: str | Path = "study_out", *,
              n: int = 1000, seeds: int = 5, seed: int = 0, k: int = 5, threshold: int = 50, pool_size: int = 10_000,
              include_self: bool = False, psis: Sequence[float] = (0.7, 0.3),
              curve_tops: Sequence[float] = CURVE_TOPS, curve_psis: Sequence[float] = CURVE_PSIS,
              quality: Callable[[Any], Any] | None = None, quality_label: str = "quality", classes: Any = None,
              batch_size: int = BATCH_SIZE, grid_size: int = 100, grid_scale: int = 3, verbose: bool = True,
              progress: bool = True, generator_options: dict[str, Any] | None = None,
              device: Any = "cpu") -> dict[str, Any]:
    """Run the study (module docstring) and write its files; returns the table as a dict.

    G : a generator (or adapter) the samplers serve; ``generator_options`` as in
        :func:`hubness_fast.sampling.sample`.
    extractor : the detector, taken through :func:`hubness_fast.features.as_extractor`
        (the path of NVIDIA's TorchScript detector, a loaded one, or any callable):
        it receives uint8 [B, C, H, W] images (0..255, the generator's output converted
        as NVIDIA's metrics code does) and returns features [B, D].
    real_features : [N, D] features of held-out real images, computed by the same
        detector on uint8 images.
    n : images per method and seed; seeds: independent seeds per method.
    quality : optional uint8 images -> per-image score (e.g. a classifier's confidence),
        plotted against hub value beside the realism score, named ``quality_label``.
    classes : for conditional generators (as in sample()).
    verbose : print the table and the verdict at the end; progress : a bar over the
        study's steps (method and seed, curve points, the probe pool).
    device : where image batches go before the detector and ``quality`` see them (a
        detector path is loaded there), as :func:`hubness_fast.features.features`' device;
        the generator runs where it is.

    Refused before any sampling (ValueError): real features with NaN or Inf, too few rows or
    all rows equal; n below 4; an output folder holding files a study did not write; a detector
    whose features do not match the real ones, or a ``quality`` that does not give one score per
    image (both tried on two images). Later, a method whose images all get the same features
    (a detector given the wrong input, or a constant) stops the study. A study that fails
    before its first step ends leaves no folder it created; after that its finished steps are
    kept in ``outdir/.study-progress``, and the same call goes on from them
    (:mod:`hubness_fast.study.resume`). ``seconds`` in the report counts the last run only.
    """
    gen = as_generator(G, **(generator_options or {}))
    factories = methods_for(gen, k, threshold, pool_size, include_self, psis)
    check_settings(n, seeds, seed, len(factories))
    real = check_real_features(real_features)
    check_study_folder(outdir)
    base = int(seed) * SEED_STRIDE
    extractor = _on(device, as_extractor(extractor, device))
    quality = None if quality is None else _on(device, quality)
    probe = _check_dimensions(gen, extractor, real, quality, base, classes, batch_size)
    for make in factories.values():
        make(base)  # each sampler checks its settings when it is made
    existed = Path(outdir).expanduser().exists()
    out = writable_dir(outdir, "output folder")  # once the settings hold: a refused run leaves no folder
    key = {"settings": dict(n=n, seeds=seeds, seed=base, k=k, threshold=threshold, pool_size=pool_size,
                            include_self=include_self, methods=list(factories), curve_tops=list(curve_tops),
                            curve_psis=list(curve_psis), grid_size=grid_size, grid_scale=grid_scale,
                            quality_label=quality_label,
                            classes=None if classes is None or isinstance(classes, str) else
                            np.asarray(to_numpy(classes)).tolist()),  # whole: repr() elides a long array
           "real": features_hash(real), "probe": probe}
    log, bar = None, None
    try:
        log = StudyLog(out, key)
        if log.resumed and verbose:
            steps = "the step" if log.resumed == 1 else f"the {log.resumed} steps"
            print(f"Going on from {steps} kept in {log.dir} (the same study, cut off)")
        t0 = time.perf_counter()
        bar = progress_bar(progress, len(factories) * seeds + len(curve_tops) + len(curve_psis) + 1, "study",
                           "step")
        report = _study(gen, extractor, real, out, bar, factories, t0, log, n=n, seeds=seeds, seed=base, k=k,
                        threshold=threshold, pool_size=pool_size, include_self=include_self, curve_tops=curve_tops,
                        curve_psis=curve_psis, quality=quality, quality_label=quality_label, classes=classes,
                        batch_size=batch_size, grid_size=grid_size, grid_scale=grid_scale)
    except BaseException:
        if (log is None or log.discard_if_empty()) and not existed and not any(out.iterdir()):
            out.rmdir()  # created for this run, and nothing was kept
        raise
    finally:
        if bar is not None:
            bar.close()
    if verbose:
        print_table(report)
    return report


def _on(device: Any, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """fn, given its image batches on ``device`` (features() hands them over on the CPU here)."""
    return lambda images: fn(images.to(device))


def _check_dimensions(gen: GeneratorAdapter, extractor: Callable[[Any], Any], real: np.ndarray,
                      quality: Callable[[Any], Any] | None, seed: int, classes: Any, batch_size: int) -> list[float]:
    """Before any method runs, on two images: the detector's features have the real features'
    dimension, and ``quality`` gives one score per image. Returns both, which tell the generator,
    the detector and the quality function of one run from another's."""
    cls = None if classes is None else _first_class(classes)
    probe = RandomSampler(space=gen.default_space, seed=seed).sample(gen, 2, batch_size, classes=cls, progress=False)
    feats = image_features(probe.images, extractor, batch_size=batch_size, progress=False)
    if feats.shape[1] != real.shape[1]:
        raise ValueError(f"the real features have {real.shape[1]} dimensions but the detector gives "
                         f"{feats.shape[1]}: compute the real features with the same detector")
    values = np.asarray(feats, np.float64).ravel()
    if quality is not None:
        values = np.concatenate([values, _per_image(quality, probe.images, batch_size)])
    return values.tolist()


def _step(bar: Any, what: str) -> None:
    if bar is not None:
        bar.set_description(what)


def _study(gen: GeneratorAdapter, extractor: Callable[[Any], Any], real: np.ndarray, out: Path, bar: Any,
           factories: dict[str, Callable[[int], LatentSampler]], t0: float, log: StudyLog, *, n: int, seeds: int,
           seed: int, k: int, threshold: int, pool_size: int, include_self: bool, curve_tops: Sequence[float],
           curve_psis: Sequence[float], quality: Callable[[Any], Any] | None, quality_label: str, classes: Any,
           batch_size: int, grid_size: int, grid_scale: int) -> dict[str, Any]:
    """The study's data (each step kept in ``log`` as it ends, or read from it), then its figures and
    table.json."""
    table, runs_log, first = _method_runs(gen, extractor, real, bar, factories, log, n=n, seeds=seeds, seed=seed,
                                          classes=classes, batch_size=batch_size, grid_size=grid_size,
                                          grid_scale=grid_scale)
    comparisons = compare_to_random(table)
    hub_space = "w" if "w" in gen.spaces else "z"
    hub_pts, trunc_pts = _curves(gen, extractor, real, bar, hub_space, log, n=n, seed=seed, k=k,
                                 pool_size=pool_size, include_self=include_self, curve_tops=curve_tops,
                                 curve_psis=curve_psis, classes=classes, batch_size=batch_size)
    values, scores, deciles = _probe(gen, extractor, real, bar, hub_space, log, seed=seed, k=k, pool_size=pool_size,
                                     include_self=include_self, quality=quality, quality_label=quality_label,
                                     classes=classes, batch_size=batch_size)
    dists = _distances_to_mean(first, hub_space)

    mark = out / STUDY_UNFINISHED  # the files below are of two runs until table.json is written
    mark.write_text("a study is writing this folder; it is finished when this file is gone and table.json is here\n")
    written_before = _grids_of(out / TABLE)
    (out / TABLE).unlink(missing_ok=True)
    figures.pr_curve(out / "pr_curve.png", hub_pts, trunc_pts, table["random"], hub_space)
    figures.hub_vs_quality(out / "hub_vs_quality.png", values, scores, deciles, k, hub_space, pool_size)
    figures.hub_histogram(out / "hub_histogram.png", values, threshold, k, pool_size)
    figures.distance_to_mean(out / "distance_to_mean.png", dists, hub_space)
    if bar is not None:
        bar.update(1)
    grids = [_grid_name(m) for m in first]
    for name in grids:  # each drawn when the method's first seed ended, kept with the steps
        data = log.file(name).read_bytes()
        atomic_write(out / name, lambda f: f.write(data))
    for stale in set(written_before) - set(grids):  # an earlier study's grid of a method this one lacks
        (out / stale).unlink(missing_ok=True)

    values_summary = {"max": int(values.max()), "mean": float(values.mean()),
                      "quantiles": {q: float(np.quantile(values, q)) for q in (0.5, 0.9, 0.99, 0.999)},
                      "share_meeting_threshold": float(np.mean(values >= threshold))}
    report = {"grids": grids,
              "settings": {"n": n, "seeds": seeds, "seed": seed // SEED_STRIDE, "k": k, "threshold": threshold,
                           "pool_size": pool_size, "include_self": include_self, "family": gen.family,
                           "hub_space": hub_space, "real_samples": int(real.shape[0])},
              "machine": machine_record(),
              "table": table, "runs": runs_log, "compared_to_random": comparisons,
              "pr_curve": {"hubs": hub_pts, "truncation": trunc_pts}, "hub_values": values_summary,
              "hub_vs_quality": deciles,
              "hub_vs_quality_scales": {name: ("the natural log of the realism score (Kynkaanniemi et al. 2019)"
                                               if name == "realism score" else "as the quality function returns it")
                                        for name in deciles},
              "distance_to_mean": {m: {"mean": float(d.mean()), "std": float(d.std())} for m, d in dists.items()},
              "claim": _claim(hub_pts, trunc_pts, comparisons, f"hubs {hub_space.upper()}"),
              "seconds": time.perf_counter() - t0}
    text = json.dumps(_json_ready(report), indent=2, allow_nan=False).encode()
    atomic_write(out / TABLE, lambda f: f.write(text))
    mark.unlink()
    log.close()
    return report


def _grid_name(method: str) -> str:
    return f"grid_{method.replace(' ', '_')}.png"


def _grids_of(table: Path) -> list[str]:
    """The grids an earlier study listed in its table.json (none: not a study's, or older than the list):
    only those are removed when this study has other methods, never another file named grid_*.png."""
    try:
        listed = json.loads(table.read_text()).get("grids", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [g for g in listed if isinstance(g, str) and g.startswith("grid_") and "/" not in g and "\\" not in g]


def _json_ready(obj: Any) -> Any:
    """The report with every NaN or infinite float as None (table.json stays valid JSON: null) and numpy
    numbers as Python's."""
    if isinstance(obj, dict):
        return {key: _json_ready(v) for key, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, np.generic):  # a numpy setting (n=np.int64(500)) as the Python number it is
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _method_runs(gen: GeneratorAdapter, extractor: Callable[[Any], Any], real: np.ndarray, bar: Any,
                 factories: dict[str, Callable[[int], LatentSampler]], log: StudyLog, *, n: int, seeds: int,
                 seed: int, classes: Any, batch_size: int, grid_size: int,
                 grid_scale: int) -> tuple[dict[str, Any], dict[str, list[dict[str, float]]], dict[str, Latents]]:
    """Every method at every seed: its metrics (table: mean and spread; runs: each row) and its
    first seed's latents (for the distances), its grid drawn into the log's folder."""
    table, runs_log, first = {}, {}, {}
    for mi, (name, make) in enumerate(factories.items()):
        runs = []
        for i in range(seeds):
            _step(bar, f"{name}, seed {i + 1}/{seeds}")

            def run(i: int = i, name: str = name, make: Callable[[int], LatentSampler] = make,
                    mi: int = mi) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
                s = seed + 1000 * mi + i  # a seed per (method, repetition), within the study's stride
                sampler = make(s)
                res = sampler.sample(gen, n, batch_size, classes=classes, progress=False)
                feats = _features(extractor, res.images, batch_size, f"images of {name} (seed {s})")
                row: dict[str, Any] = {**evaluate(real, feats), "seed": s}
                if isinstance(sampler, HubnessSampler):
                    row["acceptance_rate"] = sampler.stats["acceptance_rate"]
                if i:
                    return row, {}
                figures.image_grid(log.file(_grid_name(name)), res.images[:grid_size], name, grid_scale)
                return row, {"z": res.z, **({"w": res.w} if res.w is not None else {})}

            row, arrays = log.get_or(f"run {mi} {i}", run,  # the first seed again if its grid is gone
                                     redo=i == 0 and not log.file(_grid_name(name)).is_file())
            runs.append(row)
            if i == 0:
                first[name] = Latents(z=arrays["z"], w=arrays.get("w"))
            if bar is not None:
                bar.update(1)
        table[name] = _summary(runs)
        runs_log[name] = runs
    return table, runs_log, first


def _curves(gen: GeneratorAdapter, extractor: Callable[[Any], Any], real: np.ndarray, bar: Any, hub_space: str,
            log: StudyLog, *, n: int, seed: int, k: int, pool_size: int, include_self: bool,
            curve_tops: Sequence[float], curve_psis: Sequence[float], classes: Any,
            batch_size: int) -> tuple[list[dict[str, float]], ...]:
    """Precision-recall points: hubs with the top fraction swept, truncation with psi swept."""
    hub_pts, trunc_pts = [], []
    for j, top in enumerate(curve_tops):
        _step(bar, f"precision-recall curve, hubs top {top:g}")

        def hub_point(top: float = top) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
            res = HubnessSampler(space=hub_space, k=k, top=top, pool_size=pool_size, include_self=include_self,
                                 seed=seed + 50_000).sample(gen, n, batch_size, classes=classes, progress=False)
            e = evaluate(real, _features(extractor, res.images, batch_size, f"images of hubs top {top:g}"))
            return {"top": top, "precision": e["precision"], "recall": e["recall"], "FD": e["FD"]}, {}

        hub_pts.append(log.get_or(f"hubs {j}", hub_point)[0])
        if bar is not None:
            bar.update(1)
    for j, psi in enumerate(curve_psis):
        _step(bar, f"precision-recall curve, truncation {psi:g}")

        def truncation_point(psi: float = psi) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
            res = TruncationSampler(psi=psi, space=gen.default_space, seed=seed + 60_000).sample(
                gen, n, batch_size, classes=classes, progress=False)
            e = evaluate(real, _features(extractor, res.images, batch_size, f"images of truncation {psi:g}"))
            return {"psi": psi, "precision": e["precision"], "recall": e["recall"], "FD": e["FD"]}, {}

        trunc_pts.append(log.get_or(f"truncation {j}", truncation_point)[0])
        if bar is not None:
            bar.update(1)
    return hub_pts, trunc_pts


def _probe(gen: GeneratorAdapter, extractor: Callable[[Any], Any], real: np.ndarray, bar: Any, hub_space: str,
           log: StudyLog, *,
           seed: int, k: int, pool_size: int, include_self: bool, quality: Callable[[Any], Any] | None,
           quality_label: str, classes: Any,
           batch_size: int) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """One pool's hub values against its images' quality (log realism score, and ``quality``)."""
    _step(bar, f"hub value against quality, one pool of {pool_size}")
    kept = log.get("probe")
    if kept is not None:
        labels_kept, arrays = kept[0]["labels"], kept[1]
        scores_kept = {label: arrays[f"score_{i}"] for i, label in enumerate(labels_kept)}
        return arrays["values"], scores_kept, _decile_means(arrays["values"], scores_kept)
    probe = HubnessSampler(space=hub_space, k=k, pool_size=pool_size, include_self=include_self, seed=seed + 70_000)
    z, rows = probe.draw_pool(gen, classes=None if classes is None else _first_class(classes))
    values = np.asarray(probe.hub_values(rows))
    rows_np = np.ascontiguousarray(to_numpy(rows))
    labels = None if gen.c_dim == 0 else np.full(pool_size, _first_class(classes), np.int64)
    pool_lat = Latents(z=z, w=rows_np if hub_space == "w" else None, labels=labels)
    # the longest step on a small study (every image of the pool is rendered and scored): a bar of its own
    pool_images = render(gen, pool_lat, hub_space, batch_size=batch_size, progress=bar is not None)
    pool_feats = _features(extractor, pool_images, batch_size, "images of the probe pool")
    scores = {"realism score": np.log(metrics.realism_score(real, pool_feats, k=3))}
    if quality is not None:
        scores[quality_label] = _per_image(quality, pool_images, batch_size)
    log.put("probe", {"labels": list(scores)},
            {"values": values, **{f"score_{i}": v for i, v in enumerate(scores.values())}})
    return values, scores, _decile_means(values, scores)


def _distances_to_mean(first: dict[str, Any], hub_space: str) -> dict[str, np.ndarray]:
    """Distance of each method's latents (its first seed) to the mean of all of them, in the hub space."""
    compared = [m for m in first if m.startswith("hubs") and m.endswith(hub_space.upper())] + ["random"] + \
        [m for m in first if m.startswith("truncation")]
    lat = {m: (first[m].w if hub_space == "w" else first[m].z) for m in compared}
    centre = np.concatenate(list(lat.values())).mean(0)
    return {m: np.linalg.norm(v - centre, axis=1) for m, v in lat.items()}


CURVE_RULE = ("the hub curve is above the truncation curve when more than half of the hub points have more recall "
              "than every truncation point of equal or higher precision, and fewer than half of the truncation "
              "points beat the hub curve the same way")


def _claim(hub_pts: list[dict[str, float]], trunc_pts: list[dict[str, float]],
           comparisons: dict[str, Any], hub_row: str) -> dict[str, Any]:
    """The paper's claim, judged: the hub curve above truncation's, and hubs better than random."""
    hub_xy = [(p["precision"], p["recall"]) for p in hub_pts]
    trunc_xy = [(p["precision"], p["recall"]) for p in trunc_pts]
    share, n_comp, n_comp_above = above_envelope(hub_xy, trunc_xy)
    rev_share, _, _ = above_envelope(trunc_xy, hub_xy)
    claim = {
        "hub_points_above_truncation": share, "hub_points_with_a_truncation_rival": n_comp,
        "of_those_above": n_comp_above, "truncation_points_above_hubs": rev_share,
        "hub_curve_above_truncation": bool(share is not None and rev_share is not None and share > 0.5
                                           and rev_share < 0.5),
        "rule": CURVE_RULE,
        "hubs_beat_random_precision": comparisons[hub_row]["precision"]["verdict"] == "better",
        "hubs_beat_random_FD": comparisons[hub_row]["FD"]["verdict"] == "better",
    }
    claim["holds"] = claim["hub_curve_above_truncation"] and claim["hubs_beat_random_precision"] and \
        claim["hubs_beat_random_FD"]
    return claim


def _first_class(classes: Any) -> int | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        return 0
    arr = np.atleast_1d(classes)
    return int(arr[0])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, tied values sharing the mean of their ranks (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends - 1) / 2, ends - starts)
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's r, or None (null in JSON) where it is undefined: fewer than 2 values or a constant one."""
    if a.size < 2:
        return None
    da, db = a - a.mean(), b - b.mean()
    den = np.sqrt((da * da).sum() * (db * db).sum())
    return float(np.clip((da * db).sum() / den, -1, 1)) if den > 0 else None


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho: Pearson's r of the average ranks (as scipy.stats.spearmanr); None where undefined."""
    return _pearson(_average_ranks(np.asarray(a, np.float64)), _average_ranks(np.asarray(b, np.float64)))


def _decile_means(values: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per decile of hub value (ties kept together): mean hub value, mean score, its standard error."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    out: dict[str, dict[str, Any]] = {}
    for label, sc in scores.items():
        finite = np.isfinite(sc)
        rows = [(values[(bins == b) & finite].mean(), sc[(bins == b) & finite].mean(),
                 sc[(bins == b) & finite].std(ddof=1) / np.sqrt(max(1, ((bins == b) & finite).sum())))
                for b in range(len(edges) - 1) if ((bins == b) & finite).sum() > 1]
        out[label] = {"hub_value": [float(r[0]) for r in rows], "mean": [float(r[1]) for r in rows],
                      "sem": [float(r[2]) for r in rows], "spearman": _spearman(values[finite], sc[finite]),
                      "pearson": _pearson(values[finite].astype(np.float64), sc[finite].astype(np.float64))}
    return out


def _cell(metric: str, mean: float, std: float) -> str:
    """Precision, recall, density, coverage with 3 decimals; FD (any scale) with 4 significant digits."""
    if metric == "FD":
        return f"{mean:.4g} ± {std:.2g}"
    return f"{mean:.3f} ± {std:.3f}"


def print_table(report: dict[str, Any]) -> None:
    """The table (mean ± std over seeds; + / -: beyond the spreads) and the verdict, as printed by the study."""
    table, comp = report["table"], report["compared_to_random"]
    rows = {}
    for name, row in table.items():
        cells = []
        for m in METRICS:
            mark = "  "
            if name in comp and comp[name][m]["beyond_spread"]:
                mark = " +" if comp[name][m]["verdict"] == "better" else " -"
            cells.append(f"{_cell(m, row[m]['mean'], row[m]['std'])}{mark}")
        rows[name] = cells
    # 20 characters a column, wider where a cell needs it (FD of 1e4 and more, say)
    widths = [max([20] + [len(cells[i]) + 1 for cells in rows.values()]) for i in range(len(METRICS))]
    print(f"{'method':<18}" + "".join(f"{m:>{w}}" for m, w in zip(METRICS, widths)))
    for name, cells in rows.items():
        print(f"{name:<18}" + "".join(c.rjust(w) for c, w in zip(cells, widths)))
    print("(mean ± standard deviation over the seeds; + / -: better / worse than random by more than the two "
          "spreads together)")
    c = report["claim"]
    n_hub = len(report["pr_curve"]["hubs"])
    n_trunc = len(report["pr_curve"]["truncation"])
    print(f"Precision-recall curves: {_count(c['hub_points_above_truncation'], n_hub)} hub points have more "
          f"recall than every truncation point of equal or higher precision; "
          f"{_count(c['truncation_points_above_hubs'], n_trunc)} truncation points beat the hub curve the same way.")
    print(f"  (Rule: {CURVE_RULE}.)")
    if c["hub_points_with_a_truncation_rival"] < n_hub:
        print(f"  ({n_hub - c['hub_points_with_a_truncation_rival']} of the hub points lie at a precision no "
              f"truncation point reaches, so they win by default.)")
    print(f"The paper's claim {'holds' if c['holds'] else 'does not hold'} on this model: hub curve above the "
          f"truncation curve: {_yes(c['hub_curve_above_truncation'])}; hubs beat random in precision: "
          f"{_yes(c['hubs_beat_random_precision'])}; in FD: {_yes(c['hubs_beat_random_FD'])}.")


def _count(share: float | None, total: int) -> str:
    return "none of the" if share is None else f"{round(share * total)} of the {total}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
