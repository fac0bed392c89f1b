"""The samplers: GAN latent sampling with the hubness prior (Liang et al., ICML 2022) and the
random / truncation baselines, for any generator the adapters serve. The one-call entry point,
``sample(G, n, method="hubs")``, is in :mod:`hubness_fast.sampling.methods`; rendering is in
:mod:`hubness_fast.sampling.render`. The sampler classes fix their parameters once:

    s = HubnessSampler(512, mapping=G.mapping)    # W space (hubs on ws[:, 0]); or HubnessSampler(space="w")
    out = s.sample(G, 1000)                       # rendered with G.synthesis(ws)
    z = HubnessSampler(512).sample_latents(1000)  # latents only, Z space, N(0, I)

How a pool is built and scored: draw ``pool_size`` latents from the family's
prior (N(0, I), BigGAN's truncated normal, or a chosen prior), map them to W
in large batches on the generator's device when the space is W, count every
latent's k-occurrence within the pool with the exact engine (on the GPU when
the pool lives there), keep the latents whose value meets the threshold, and
repeat until n are kept. Conditional models get one pool per class (W depends
on the class).
"""
from __future__ import annotations

import contextlib
import math
import numbers
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .._files import creatable_dir
from .._inputs import as_matrix, check_flag, check_int, check_k, check_seed, is_device_array, is_real, to_numpy
from .._progress import bar as progress_bar
from .._torch import BATCH_SIZE
from .._types import Array, Device
from .._warn import warn_user
from ..engine import ball_pass, gpu_available, hub_counts, kth_neighbor_distance, use_gpu
from .adapter import GeneratorAdapter, MappingAdapter, PriorAdapter, draw_prior, image_batch
from .generators import as_generator, detect_family
from .images import check_sample_folder
from .latents import Latents, Samples
from .reach import Reach
from .render import render

if TYPE_CHECKING:
    import torch

MAP_BATCH = 4096  # latents mapped to W per call while building a pool


class LatentSampler:
    """Shared machinery: choose latents in a space ("z" or "w"), then render them.

    latent_dim : int or None. The generator's z size; checked against G when known,
        read from G when None.
    mapping : a callable z -> w (or NVIDIA's ``G.mapping``: called as mapping(z, c),
        ws [N, num_ws, w_dim], hubs on ws[:, 0]); implies space "w".
    space : "z" or "w"; default "w" when a mapping is given, else "z".
    prior : "normal", "truncnorm" or a callable (rng, n, dim) -> array; default: the
        generator family's prior (BigGAN: truncated normal), else "normal".
    seed : an integer >= 0 seeding the latents and labels (numpy's default_rng); the same seed gives
        the same latents, and with ``noise_mode='const'`` the same images. None (the
        classes' default) draws fresh latents each time; :func:`sample` and
        :func:`make_sampler` default to 0.
    progress : tqdm bars for pools and rendering.
    """

    def __init__(self, latent_dim: int | None = None, mapping: Any = None, seed: int | None = None, *,
                 space: str | None = None, prior: str | Callable[..., Any] | None = None,
                 progress: bool = False) -> None:
        if latent_dim is not None:
            latent_dim = check_int(latent_dim, "latent_dim")
        if space not in (None, "z", "w"):
            raise ValueError(f"space must be 'z' or 'w', got {space!r}")
        if space == "z" and mapping is not None:
            raise ValueError("a mapping puts the latents in W: drop space='z' or the mapping")
        if prior is not None and not callable(prior):
            draw_prior(prior, np.random.default_rng(0), 1, 1)  # validates the name
        if mapping is not None and not callable(mapping):  # RandomSampler(512, 5) would take 5 for it
            raise ValueError(f"mapping must be a callable z -> ws (NVIDIA's G.mapping, say), got "
                             f"{type(mapping).__name__} {mapping!r}"[:200])
        self.latent_dim, self.mapping, self.prior, self.progress = latent_dim, mapping, prior, progress
        self.space = space or ("w" if mapping is not None else "z")
        self.seed = check_seed(seed)
        self._seed_seq = np.random.SeedSequence(self.seed)
        self.rng = np.random.default_rng(self._seed_seq)  # labels, and the latents of unconditional models
        self._class_rngs: dict[int, np.random.Generator] = {}
        self._rewind: tuple[Mapping[str, Any], dict[int, Mapping[str, Any]]] | None = None
        self.stats: dict[str, float] = {}

    # -- where latents come from ------------------------------------------------------
    def adapter(self, G: Any) -> GeneratorAdapter:
        """G's adapter; a plain G(z) without z_dim takes the sampler's latent_dim."""
        if detect_family(G) == "callable" and not isinstance(G, GeneratorAdapter) and self.latent_dim is not None:
            return as_generator(G, "callable", z_dim=self.latent_dim)
        return as_generator(G)

    def _latent_side(self, G: Any = None) -> GeneratorAdapter:
        """The adapter that draws (and maps) latents: the mapping when given, else G's adapter."""
        gen = self.adapter(G) if G is not None else None
        if self.mapping is not None:
            known = getattr(self.mapping, "z_dim", None) or (gen.z_dim if gen else None)
            if self.latent_dim is not None and known is not None and int(known) != self.latent_dim:
                raise ValueError(f"latent_dim={self.latent_dim} disagrees with the generator's z_dim={known}")
            z_dim = self.latent_dim or known
            if z_dim is None:
                raise ValueError("latent_dim is needed with a mapping that has no z_dim")
            side: GeneratorAdapter = MappingAdapter(self.mapping, int(z_dim), self.prior or "normal")
        elif gen is not None:
            side = gen
        else:
            if self.latent_dim is None:
                raise ValueError("latent_dim is needed to draw latents without a generator")
            side = PriorAdapter(self.latent_dim, self.prior or "normal")
        if self.latent_dim is not None and side.z_dim != self.latent_dim:
            raise ValueError(f"latent_dim={self.latent_dim} disagrees with the generator's z_dim={side.z_dim}")
        if self.space == "w" and self.mapping is None and "w" not in side.spaces:
            raise ValueError(f"the {side.family} generator has no W space; use space='z'")
        return side

    @contextlib.contextmanager
    def _class_stream(self, cls: int) -> Iterator[None]:
        """Latents of class ``cls`` come from a stream of its own (spawned from the seed and the
        class, continued from call to call), so they do not depend on which other classes are asked for."""
        if cls not in self._class_rngs:
            self._class_rngs[cls] = np.random.default_rng(np.random.SeedSequence(
                self._seed_seq.entropy, spawn_key=tuple(self._seed_seq.spawn_key) + (cls,)))
        shared, self.rng = self.rng, self._class_rngs[cls]
        try:
            yield
        finally:
            self.rng = shared

    def _draw_z(self, side: GeneratorAdapter, n: int) -> np.ndarray:
        return side.draw(self.rng, n, self.prior)

    def _to_space(self, side: GeneratorAdapter, z: np.ndarray, c: torch.Tensor | None) -> Array:
        """z (numpy) -> the rows hubs are counted on: z itself, or ws[:, 0] (a tensor on the generator's device)."""
        if self.space == "z":
            return z
        rows = []
        for s in range(0, len(z), MAP_BATCH):
            zt = z[s:s + MAP_BATCH]
            ws = side.map(_tensor(zt, side), None if c is None else c[:len(zt)])
            if not _all_finite(ws):  # before the rows' comparison, which NaN fails (NaN != NaN)
                raise ValueError(f"the {side.family} generator's mapping returned NaN or Inf for latents {s} to "
                                 f"{s + len(zt) - 1}: its weights (or a half-precision overflow) are to blame, "
                                 f"not the latents")
            if ws.shape[1] > 1 and s == 0 and not _rows_equal(ws):
                raise ValueError("the mapping's ws rows differ at truncation_psi=1; the W-space sampler keeps "
                                 "one w per latent (StyleGAN's broadcast layout)")
            rows.append(ws[:, 0])
        return _cat(rows)

    # -- choosing latents: subclasses ---------------------------------------------------
    def _choose(self, side: GeneratorAdapter, n: int, c: torch.Tensor | None, cls: int | None) -> Latents:
        """n latents of one class (c: one-hot tensor rows or None) -> (z, w or None, hub values or None)."""
        raise NotImplementedError

    # -- public -------------------------------------------------------------------------
    def latents(self, G: Any = None, n: int = 1, classes: Any = None) -> Latents:
        """Choose n latents for G (or for the mapping / latent_dim alone); see :func:`resolve_labels`."""
        n = check_int(n, "n")
        side = self._latent_side(G)
        self._rewind = self._random_state()  # release() goes back here
        labels = resolve_labels(classes, side.c_dim, n, self.rng)
        t0 = time.perf_counter()
        self.stats = {"pools": 0, "drawn": 0, "kept": 0}
        if labels is None:
            lat = self._choose(side, n, None, None)
        else:
            parts = {}
            for cls in np.unique(labels):
                m = int((labels == cls).sum())
                with self._class_stream(int(cls)):
                    parts[cls] = self._choose(side, m, side.one_hot(np.full(m, cls)), int(cls))
            lat = _interleave(parts, labels)
        self.stats["seconds"] = time.perf_counter() - t0
        if self.stats["drawn"]:
            self.stats["acceptance_rate"] = self.stats["kept"] / self.stats["drawn"]
        return lat

    def sample_latents(self, n: int, classes: Any = None) -> np.ndarray:
        """n latents as float32 numpy [n, D]: W rows (ws[:, 0]) in W space, else z."""
        lat = self.latents(None, n, classes)
        return lat.w if self.space == "w" and lat.w is not None else lat.z  # W-space samplers always set w

    def sample(self, G: Any, n: int, batch_size: int = BATCH_SIZE, *, classes: Any = None, output: str = "float",
               outdir: str | Path | None = None, device: Any = None, progress: bool | None = None) -> Samples:
        """Choose n latents and render them with G, in batches under ``torch.no_grad()``.

        G : a StyleGAN network, a BigGAN, any G(z), or a :class:`GeneratorAdapter`
            (see :func:`hubness_fast.generators.as_generator` for the options).
        batch_size : images rendered per call.
        classes : conditional models: a class, a list of classes (each image's class
            drawn uniformly from it) or "uniform" (over all classes).
        output : "float" (the generator's output, about [-1, 1]) or "uint8" (NVIDIA's
            conversion ``(x * 127.5 + 128).clamp(0, 255)``).
        outdir : stream the images to this folder instead of holding them (PNG files
            000000.png... in row order, grid.png, latents.npz); memory stays at one batch.
        device : move G there first ("cpu", "cuda", ...); default: where G is.

        Images come back on the CPU, batch by batch: never all on the device.
        """
        n = check_int(n, "n")
        batch_size = check_int(batch_size, "batch_size")
        if output not in ("float", "uint8"):
            raise ValueError(f"output must be 'float' or 'uint8', got {output!r}")
        if outdir is not None:
            outdir = creatable_dir(outdir, "output folder")  # before any work; render creates it
            check_sample_folder(outdir)
        gen = self.adapter(G)
        if device is not None:
            gen.to(device)
        lat = self.latents(gen, n, classes)
        try:
            images = render(gen, lat, self.space, batch_size=batch_size, output=output, outdir=outdir,
                            progress=self.progress if progress is None else progress,
                            truncation_cutoff=getattr(self, "cutoff", None))
        except BaseException:
            self.release()
            raise
        self.commit()
        return Samples(images, lat.z, lat.w, lat.labels, lat.hub_values, outdir)

    def commit(self) -> None:
        """Called once the latents handed out have been rendered (by ``sample`` and by a generator's
        image source): they are spent, and a later :meth:`release` does not go back before them; a
        sampler that keeps a record of what it handed out (a bank's cursor) writes it now."""
        self._rewind = None

    def release(self) -> None:
        """Called when the latents handed out were not all rendered (an error, Ctrl-C, a consumer that
        stopped early): they are handed out again. Here the random streams go back to where the last
        :meth:`latents` began, so the next call draws the same latents (a cached extraction that was
        cut off goes on with the rows it would have had); a sampler that keeps a record of what it
        handed out forgets them."""
        if self._rewind is not None:
            shared, per_class = self._rewind
            self.rng.bit_generator.state = shared
            for cls in list(self._class_rngs):
                if cls in per_class:
                    self._class_rngs[cls].bit_generator.state = per_class[cls]
                else:  # first used by that draw: made again from the seed when needed
                    del self._class_rngs[cls]
            self._rewind = None

    def _random_state(self) -> tuple[Mapping[str, Any], dict[int, Mapping[str, Any]]]:
        return self.rng.bit_generator.state, {c: r.bit_generator.state for c, r in self._class_rngs.items()}


def resolve_labels(classes: Any, c_dim: int, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """Per-image class labels int64 [n] (None for an unconditional model).

    classes : None (unconditional models only), an int in 0..c_dim-1, a list of such
    ints (each image's class drawn uniformly from the list), or "uniform" (drawn
    uniformly from all classes).
    """
    if c_dim == 0:
        if classes is not None:
            raise ValueError("this generator is unconditional (c_dim = 0): it takes no classes (a plain G(z, y) "
                             "is sampled as conditional with its number of classes as c_dim=)")
        return None
    if classes is None:
        raise ValueError(f"this generator is conditional ({c_dim} classes): pass classes= (a class, a list, "
                         f"or 'uniform')")  # the command line names the flag: --class
    if isinstance(classes, str):
        if classes != "uniform":
            raise ValueError(f"classes must be an int, a list of ints or 'uniform', got {classes!r}")
        return rng.integers(0, c_dim, n).astype(np.int64)
    arr = np.atleast_1d(np.asarray(classes))
    if arr.size == 0 or arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"classes must be an int, a list of ints or 'uniform', got {classes!r}")
    bad = arr[(arr < 0) | (arr >= c_dim)]
    if bad.size:
        raise ValueError(f"class {int(bad[0])} is outside 0..{c_dim - 1}")
    if arr.size == 1:
        return np.full(n, int(arr[0]), np.int64)
    return arr[rng.integers(0, arr.size, n)].astype(np.int64)


def _interleave(parts: dict[Any, Latents], labels: np.ndarray) -> Latents:
    """Per-class Latents -> one Latents in the order of ``labels``."""
    first = next(iter(parts.values()))
    out: dict[str, np.ndarray] = {}
    for field in ("z", "w", "hub_values", "w_tail"):
        if field == "labels" or getattr(first, field) is None:
            continue
        sample = getattr(first, field)
        arr = np.empty((len(labels),) + sample.shape[1:], sample.dtype)
        for cls, lat in parts.items():
            arr[labels == cls] = getattr(lat, field)
        out[field] = arr
    return Latents(labels=labels, **out)


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "detach")


def _tensor(z: np.ndarray, side: GeneratorAdapter) -> torch.Tensor | np.ndarray:
    try:
        import torch
    except ImportError:  # latents only, without torch: a mapping then gets numpy
        return z
    return torch.from_numpy(np.ascontiguousarray(z)).to(side.device)


def _cat(parts: list[Any]) -> Array:
    if _is_tensor(parts[0]):
        import torch

        return torch.cat(parts)
    return np.concatenate(parts)


def _all_finite(x: Array) -> bool:
    """No NaN or Inf in a tensor or array (x * 0 is 0 exactly where x is finite)."""
    return bool(((x * 0) == 0).all())


def _rows_equal(ws: Array) -> bool:
    return bool((ws == ws[:, :1]).all())


class RandomSampler(LatentSampler):
    """Latents straight from the prior (mapped to W in W space)."""

    def _choose(self, side: GeneratorAdapter, n: int, c: torch.Tensor | None, cls: int | None) -> Latents:
        z = self._draw_z(side, n)
        x = self._to_space(side, z, c)
        return Latents(z=z, w=None if self.space == "z" else _numpy32(x))


def _numpy32(x: Array) -> np.ndarray:
    return np.ascontiguousarray(to_numpy(x), dtype=np.float32)


class TruncationSampler(LatentSampler):
    """The truncation trick: x' = avg + psi (x - avg); for BigGAN its own (latents of the
    truncated normal times psi, and psi to G as its ``truncation``).

    In W this is NVIDIA's ``truncation_psi``: avg is ``average`` when given, else
    the mapping's tracked ``w_avg``; ``truncation_cutoff`` truncates only the first
    layers' ws, as NVIDIA's. In Z avg is ``average`` when given, else the mean of
    the prior (0 for "normal" and "truncnorm": z' = psi z). Where no such mean is
    known (a mapping without ``w_avg``, a callable prior), avg is the mean of
    ``n_average`` latents drawn (and mapped) once, from a generator seeded apart.
    """

    def __init__(self, latent_dim: int | None = None, psi: float = 0.7, average: Array | None = None,
                 n_average: int = 10_000, mapping: Any = None, seed: int | None = None, *,
                 truncation_cutoff: int | None = None, space: str | None = None,
                 prior: str | Callable[..., Any] | None = None, progress: bool = False) -> None:
        super().__init__(latent_dim, mapping, seed, space=space, prior=prior, progress=progress)
        if not is_real(psi) or not 0 <= psi <= 1:
            raise ValueError(f"psi must be in [0, 1], got {psi}")
        if truncation_cutoff is not None:
            truncation_cutoff = check_int(truncation_cutoff, "truncation_cutoff", minimum=0)
            if self.space != "w":
                raise ValueError("truncation_cutoff applies to W space")
        self.psi, self.cutoff = float(psi), truncation_cutoff
        self.average = None if average is None else to_numpy(average, np.float32)
        if self.average is not None and not np.isfinite(self.average).all():
            raise ValueError("average contains NaN or Inf: truncation toward it would give NaN latents")
        self.n_average = check_int(n_average, "n_average")
        self._estimated: dict[int | None, np.ndarray] = {}
        self._probed: set[int] = set()  # the generators checked for a normalised z (see _warn_if_no_effect)

    def adapter(self, G: Any) -> GeneratorAdapter:
        """G's adapter, or the one that applies the family's own truncation trick at psi (BigGAN)."""
        gen = super().adapter(G)
        if gen.truncated_by_trick:
            return gen
        trick = gen.truncation_trick(self.psi)
        if trick is not None and self.average is not None:
            raise ValueError(f"average= does not apply to the {gen.family} generator's own truncation trick")
        return gen if trick is None else trick

    def _avg(self, side: GeneratorAdapter, c: torch.Tensor | None) -> np.ndarray:
        if self.average is not None:
            return self.average
        prior = self.prior if self.prior is not None else side.prior
        if self.space == "z" and not callable(prior):
            return np.zeros(side.z_dim, np.float32)  # both named priors are symmetric about 0
        if self.space == "w":
            try:
                return _numpy32(side.w_avg())
            except ValueError:  # no tracked average: estimate it below
                pass
        key = None if c is None else int(to_numpy(c[0]).argmax())
        if key not in self._estimated:  # the mean of n_average draws, from a generator seeded apart
            rng = np.random.default_rng([0 if self.seed is None else self.seed, 1])
            z = side.draw(rng, self.n_average, self.prior)
            cc = None if c is None else c[:1].expand(self.n_average, -1)
            self._estimated[key] = _numpy32(self._to_space(side, z, cc)).mean(0)
        return self._estimated[key]

    def _choose(self, side: GeneratorAdapter, n: int, c: torch.Tensor | None, cls: int | None) -> Latents:
        z = self._draw_z(side, n)
        if side.truncated_by_trick:  # the prior already carries psi (BigGAN: psi times the truncated normal)
            return Latents(z=z)
        x = _numpy32(self._to_space(side, z, c))
        avg = self._avg(side, c)
        if avg.shape != (x.shape[1],):
            raise ValueError(f"average has shape {avg.shape}, expected ({x.shape[1]},)")
        truncated = side.truncate(avg, x, self.psi)
        if self.space == "z":
            if self.average is None and self.psi < 1:
                self._warn_if_no_effect(side, c)
            return Latents(z=truncated)
        if self.cutoff is None:
            return Latents(z=z, w=truncated)
        # the first `cutoff` layers get the truncated w, the others x; w is what the first layer gets
        return Latents(z=z, w=truncated if self.cutoff > 0 else x, w_tail=x)

    def _warn_if_no_effect(self, side: GeneratorAdapter, c: torch.Tensor | None) -> None:
        """Truncating z towards 0 changes nothing where G normalises z first (NVIDIA's and rosinality's
        mappings, the zoo's PGAN; the zoo's DCGAN, run in training mode, normalises each batch): the
        images would be random samples. Once per generator: render 4 latents and half of them."""
        module = side.module
        if module is None or id(module) in self._probed:
            return
        self._probed.add(id(module))
        import torch

        z = torch.from_numpy(side.draw(np.random.default_rng(PROBE_SEED), PROBE_ROWS)).to(side.device)
        cc = None if c is None else c[:1].expand(PROBE_ROWS, -1)
        devices = [side.device] if side.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):  # the run's own noise draws stay as they were
                full, half = (image_batch(side.render_z(x, cc)).detach().double() for x in (z, 0.5 * z))
        except NotImplementedError:  # an adapter that draws latents but renders none
            return
        scale = float(full.abs().max())
        if float((full - half).abs().max()) <= PROBE_RTOL * max(scale, 1e-30):
            warn_user(f"truncation in Z has no effect on this {side.family} generator: halving its latents left "
                      f"the images as they were (it normalises z, as a PixelNorm or batch-norm first layer "
                      f"does), so these are random samples; truncate in W (space='w') where it has a "
                      f"mapping, or give it its own truncation")


PROBE_SEED, PROBE_ROWS = 0, 4
# Images of z and z / 2 differ by order 1 wherever scaling z matters; a normalising first layer leaves
# about 1e-6 of their range (PixelNorm's epsilon), a training-mode batch norm about 1e-3.
PROBE_RTOL = 1e-2


class HubnessSampler(LatentSampler):
    """Keep the latents that are hubs of their pool (Liang et al., ICML 2022).

    k : neighbours per latent (default 5, the paper's).
    threshold, comparison : keep value >= threshold (default 50, the paper's; ``comparison=">"``: >).
    top : instead of a count, keep the top fraction of each pool (e.g. 0.01): the latents whose
        hub value reaches the pool's (1 - top) quantile. Hub values are integers and tie at the
        cut, and every tie is kept, so a pool can give more than that fraction (top=0.5 kept
        60 % of a 2 000-latent pool).
    pool_size : latents per pool (default 10 000, the paper's).
    include_self : False (default) excludes a latent from its own neighbours;
        True counts it, as the paper's notebook did (value = 1 + N_{k-1}).
    device : where hub values are counted ("auto", "cpu", "cuda"; see hubness_fast.knn).
        In W space the pool stays on the generator's device for the count.
    max_pools : give up (ValueError) after this many pools without enough latents, or sooner
        while no pool has kept any: once the values seen make ``n`` out of reach within it
        (:mod:`hubness_fast.sampling.reach`).
    Other arguments as :class:`LatentSampler`. In W space hubs are counted on
    ``ws[:, 0]`` (the notebook's choice); conditional models get one pool per class.

    After sampling, ``stats`` holds pools, drawn, kept, acceptance_rate, seconds.
    """

    def __init__(self, latent_dim: int | None = None, k: int = 5, threshold: float = 50, pool_size: int = 10_000,
                 include_self: bool = False, comparison: str = ">=", mapping: Any = None, device: Device = "auto",
                 seed: int | None = None, top: float | None = None, max_pools: int = 10_000, progress: bool = False,
                 *, space: str | None = None, prior: str | Callable[..., Any] | None = None) -> None:
        super().__init__(latent_dim, mapping, seed, space=space, prior=prior, progress=progress)
        if comparison not in (">=", ">"):
            raise ValueError(f"comparison must be '>=' or '>', got {comparison!r}")
        pool_size = check_int(pool_size, "pool_size", minimum=2)
        check_k(k, pool_size if include_self else pool_size - 1, f"a pool of {pool_size}")
        if top is not None and (not is_real(top) or not 0 < top < 1):
            raise ValueError(f"top is a fraction in (0, 1), got {top}")
        given: Any = threshold  # checked as given: the annotation is what it should be
        if isinstance(given, bool) or not isinstance(given, numbers.Real) or not math.isfinite(given):
            raise ValueError(f"threshold must be a number, got {threshold!r}")
        if threshold < 0:
            raise ValueError(f"threshold={threshold} is below 0, and a hub value never is: threshold=0 keeps "
                             f"every latent")
        use_gpu(device)  # validates: unknown names, or "cuda" without a GPU, raise here
        self.device = device
        self.k, self.threshold, self.pool_size = int(k), threshold, pool_size
        self.include_self, self.comparison, self.top = check_flag(include_self, "include_self"), comparison, top
        self.max_pools = check_int(max_pools, "max_pools")
        max_value = pool_size if include_self else pool_size - 1  # every other point lists it
        if top is None and not self._meets(np.array([max_value]))[0]:
            raise ValueError(f"threshold {threshold} is unreachable: a latent's hub value is at most {max_value} "
                             f"in a pool of {pool_size}")
        self.reference: np.ndarray | None = None
        self._ref_radius2: np.ndarray | None = None

    # -- hub values -----------------------------------------------------------------------
    def hub_values(self, pool: Array) -> Array:
        """Hub value of every latent of ``pool`` (rows in the sampling space) within the pool.

        A pool on a GPU is counted there; with a build that has no CUDA module (or
        device="cpu") it is copied to the host once and counted on the CPU."""
        device = self.device
        if device == "auto" and is_device_array(pool) and not gpu_available():
            device = "cpu"  # a generator on a GPU with a CPU-only build of this package
        return hub_counts(pool, self.k, include_self=self.include_self, device=device)

    def draw_pool(self, G: Any = None, classes: Any = None) -> tuple[np.ndarray, Array]:
        """One pool in the sampling space: (z numpy [pool_size, z_dim], rows [pool_size, D] as counted)."""
        side = self._latent_side(G)
        labels = resolve_labels(classes, side.c_dim, 1, self.rng)
        c = None if labels is None else side.one_hot(np.full(self.pool_size, labels[0]))
        z = self._draw_z(side, self.pool_size)
        return z, self._to_space(side, z, c)

    def fit_reference(self, pool: Array | None = None, G: Any = None) -> HubnessSampler:
        """Fix a reference pool (default: a fresh pool of pool_size latents in the sampling space).

        A candidate's value is then the number of reference latents that would
        count it among their k nearest neighbours: those whose ball of radius
        "distance to their k-th reference neighbour" strictly contains it (ties
        go to the smaller index, and a newcomer's index is the largest). That is
        the hub value the candidate would get if added to the reference pool,
        computed by one ball query per batch, with a stable threshold.
        Unconditional generators only.
        """
        ref = _numpy32(self.draw_pool(G)[1]) if pool is None else _numpy32(pool)
        if ref.ndim != 2:
            raise ValueError(f"the reference pool must be [N, D], got shape {ref.shape}")
        kk = self.k - 1 if self.include_self else self.k  # counting self, a point lists k-1 others
        if ref.shape[0] < kk + 1:
            raise ValueError(f"the reference pool needs more than {kk} latents")
        self.reference = ref
        self._ref_radius2 = (np.asarray(kth_neighbor_distance(ref, kk, metric="sqeuclidean"), np.float64) if kk >= 1
                             else np.zeros(ref.shape[0]))
        return self

    def reference_hub_values(self, candidates: Array) -> np.ndarray:
        """Values of candidates (rows in the sampling space) against the fitted reference pool."""
        if self.reference is None:
            raise ValueError("call fit_reference() first")
        c = np.ascontiguousarray(as_matrix(candidates, "candidates"), np.float32)
        if c.shape[1] != self.reference.shape[1]:
            raise ValueError(f"candidates have {c.shape[1]} features but the reference pool has "
                             f"{self.reference.shape[1]}")
        sc, _ = ball_pass(c, None, self.reference, self._ref_radius2, inclusive=False)
        return sc.in_count + (1 if self.include_self else 0)

    # -- choosing -------------------------------------------------------------------------
    def keeps(self, values: np.ndarray) -> np.ndarray:
        """Which latents of one pool (their hub values) the sampler keeps: the threshold rule, or
        the pool's top fraction."""
        return self._meets(np.asarray(values))

    def _meets(self, values: np.ndarray, pool_values: np.ndarray | None = None) -> np.ndarray:
        if self.top is not None:
            cut = np.quantile(pool_values if pool_values is not None else values, 1 - self.top)
            return values >= cut if self.comparison == ">=" else values > cut
        return values >= self.threshold if self.comparison == ">=" else values > self.threshold

    def _choose(self, side: GeneratorAdapter, n: int, c: torch.Tensor | None, cls: int | None) -> Latents:
        if self.reference is not None and c is not None:
            raise ValueError("reference mode serves unconditional generators")
        zs, ws, vals, n_kept, pools = [], [], [], 0, 0
        reach = self.reach()
        bar = progress_bar(self.progress, n, "hub latents" if cls is None else f"hub latents, class {cls}", "latent")
        try:
            while n_kept < n:
                if pools >= self.max_pools and n_kept:
                    raise ValueError(f"max_pools={self.max_pools} pools of {self.pool_size} kept only {n_kept} of the "
                                     f"{n} latents asked for: raise max_pools, lower the threshold, or use top=")
                if pools >= self.max_pools or (n_kept == 0 and reach.hopeless(self.max_pools - pools, n)):
                    raise ValueError(self.unreachable_message(reach, self.max_pools - pools, n))
                z = self._draw_z(side, self.pool_size)
                pool_c = None if c is None else c[:1].expand(self.pool_size, -1)
                x = self._to_space(side, z, pool_c)
                values = self.reference_hub_values(x) if self.reference is not None else self.hub_values(x)
                values = to_numpy(values, np.int64)
                pools += 1
                if n_kept == 0:
                    reach.add(np.bincount(values))
                keep = self._meets(values)
                idx = np.flatnonzero(keep)
                zs.append(z[idx])
                if self.space == "w":
                    ws.append(_numpy32(x[_index(idx, x)]))
                vals.append(values[idx])
                n_kept += len(idx)
                if bar is not None:
                    bar.update(min(len(idx), n - bar.n))
        finally:
            if bar is not None:
                bar.close()
        self.stats["pools"] += pools
        self.stats["drawn"] += pools * self.pool_size
        self.stats["kept"] += n_kept
        z = np.concatenate(zs)[:n]
        w = np.concatenate(ws)[:n] if ws else None
        return Latents(z=z, w=w, hub_values=np.concatenate(vals)[:n])

    def reach(self) -> Reach:
        """A tally that judges, from the pools that kept nothing, whether the threshold is in reach
        (:mod:`hubness_fast.sampling.reach`); with ``top=`` every pool keeps some."""
        target = math.ceil(self.threshold) if self.comparison == ">=" else math.floor(self.threshold) + 1
        return Reach(target if self.top is None else 0)

    def unreachable_message(self, reach: Reach, pools_left: int, needed: int) -> str:
        """Why no latent was kept from the pools ``reach`` tallied, and what to change."""
        rule = f"{self.comparison} {self.threshold}"
        expected = reach.per_pool() * max(pools_left, 0)
        outlook = (f"; at the rate the values seen fall off, the {pools_left} pools it may still draw are expected "
                   f"to keep {expected:.2g} latents, {needed} are needed" if pools_left > 0 else "")
        return (f"no latent reached hub value {rule} in {reach.pools} pools of {self.pool_size} (k={self.k}); the "
                f"largest value seen was {reach.best}{outlook}. Lower the threshold (e.g. "
                f"threshold={max(reach.best, 1)}), use top=0.01, or a larger pool_size=.")


def _index(idx: np.ndarray, x: Array) -> Array:
    if _is_tensor(x):
        import torch

        return torch.from_numpy(idx).to(x.device)
    return idx
