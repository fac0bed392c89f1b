"""Mining hub latents once, into a bank, so that hub sampling later costs only the generator.

    bank = mine(G, 100_000, "bank/", space="w", threshold=50)      # resumable, deterministic
    out = sample_bank(G, open_bank("bank/"), 1000)                  # renders the next 1 000 rows

Deterministic: pool i is drawn from a random generator seeded by (seed, class, i) alone (its
N(0, I) matrix from the engine's counter-based stream, filled on every core, the same bits on
every CPU),
so the bank does not depend on how many workers or cores ran, in which order pools finished, or
how often the run was interrupted. Its rows are the kept latents of pools 0, 1, 2, ... in pool order, then in
position order within a pool, cut at n.

Crash-safe and resumable: each finished pool is written as ``pools/NNNNNN.npz`` (written to a
temporary name, fsync'd, renamed) and recorded with its SHA-256 in ``bank.json`` (written the same
way); a rerun of the same command verifies every recorded pool, recomputes a torn or corrupt
one, and continues. Settings that differ from the bank's are refused. At the end the pools are
consolidated into one ``.npy`` per field, read memory-mapped by :func:`open_bank`.

The on-disk format, and reading and rendering a bank: :mod:`hubness_fast.sampling.bank`
(re-exported here).
"""
from __future__ import annotations

import math
import numbers
import os
import signal
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..engine.normals import chunks as normal_chunks
from ..engine.normals import standard_normal
from .._lockfile import LockFile
from .._files import atomic_write, file_sha256, listing, plain_permissions, writable_dir
from .._inputs import check_int, to_numpy
from .._progress import bar as progress_bar
from .._types import Device
from .bank import (FIELDS, FORMAT, MINE_LOCK, SETTINGS, Bank, BankSampler, acceptance, check_generator,
                   generator_identity, network_identity, open_bank, pools_for, read_manifest, recorded_network,
                   sample_bank, shard_path, status, write_json)
from .samplers import HubnessSampler



# mine() writes banks; reading and rendering them (bank.py) is re-exported, as it was always here
__all__ = ["mine", "MineResult", "mine_pool", "pool_rng", "PoolRng", "Bank", "BankSampler", "open_bank", "sample_bank",
           "status"]

MANIFEST_EVERY_S = 1.0  # the most seconds between two writes of bank.json while mining (a pool file not yet
# recorded when a run is killed is mined again: pools are a function of (seed, class, i))


class PoolRng(np.random.Generator):
    """numpy's Generator on the pool's SeedSequence, except for its float32 2-D N(0, I) matrices
    (``standard_normal((rows, cols), dtype=np.float32)`` without ``out``, which is how the normal
    and truncated-normal priors draw a pool): those come from the engine's counter-based stream
    (:func:`hubness_fast.engine.standard_normal`) keyed by the SeedSequence's first 4 words, filled
    on every core with the same bits on every CPU and thread count; successive matrices continue
    the stream. Every other draw (the truncated prior's 1-D redraws of rejected values, float64,
    ``out=``) comes from PCG64 on the same SeedSequence, so it is deterministic too. A pool of
    10 000 x 512 draws about 10 times faster than numpy's stream on 2 cores with AVX-512."""

    def __init__(self, seq: np.random.SeedSequence) -> None:
        super().__init__(np.random.PCG64(seq))
        self._key = [int(w) for w in seq.generate_state(4, np.uint32)]
        self._chunk = 0  # where the next matrix starts in the stream

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        if out is not None or np.dtype(dtype) != np.float32 or not (isinstance(size, tuple) and len(size) == 2):
            return super().standard_normal(size, dtype=dtype, out=out)
        z = standard_normal(self._key, size, chunk0=self._chunk)
        self._chunk += normal_chunks(z.size)
        return z


def pool_rng(seed: int, cls: int | None, i: int) -> np.random.Generator:
    """The random generator of pool i: a function of (seed, class, i) alone (a :class:`PoolRng`)."""
    return PoolRng(np.random.SeedSequence([int(seed), 0 if cls is None else int(cls) + 1, int(i)]))


def _sampler(settings: dict[str, Any], hub_device: Device) -> HubnessSampler:
    return HubnessSampler(settings["z_dim"], k=settings["k"], threshold=settings["threshold"], top=settings["top"],
                          pool_size=settings["pool_size"], include_self=settings["include_self"],
                          space=settings["space"], device=hub_device)


def mine_pool(G: Any, settings: dict[str, Any], i: int, hub_device: Device = "auto",
              device: Any = None) -> dict[str, np.ndarray]:
    """Pool i: drawn from :func:`pool_rng`, counted (on ``hub_device``), and its kept rows (as arrays of
    FIELDS). G is moved to ``device`` first (None: it runs where it is)."""
    s = _sampler(settings, hub_device)
    if G is not None and device is not None:
        s.adapter(G).to(device)
    s.rng = pool_rng(settings["seed"], settings["class"], i)
    cls = settings["class"]
    z, rows = s.draw_pool(G, classes=None if cls is None else [cls])
    values = to_numpy(s.hub_values(rows), np.int64)
    idx = np.flatnonzero(s.keeps(values))
    # "counts" (latents at each hub value) is no field of the bank: mine() reads it off before the commit
    out: dict[str, np.ndarray] = {"counts": np.bincount(values), "z": np.ascontiguousarray(z[idx], np.float32),
                                  "hub_values": values[idx], "pool_index": np.full(idx.size, i, np.int64),
                                  "position": idx.astype(np.int64)}
    if settings["space"] == "w":
        out["w"] = np.ascontiguousarray(to_numpy(rows)[idx], np.float32)
    if cls is not None:
        out["labels"] = np.full(idx.size, cls, np.int64)
    return out


# -- mining ---------------------------------------------------------------------------------

class MineResult(NamedTuple):
    path: Path
    rows: int
    pools: int            # pools the bank's rows come from
    computed: int         # pools computed by this call (the rest were already in the bank)
    acceptance_rate: float  # latents those pools kept (before the cut at n) over the latents they drew
    hub_values: dict[str, float]
    seconds: float
    writer_seconds: float  # of which the writer's own work: committing pools and the consolidation


def _one_class(cls: Any, classes: Any) -> int | None:
    """The one class a bank holds, from ``cls=`` or ``classes=`` (sample's and sample_bank's keyword, which
    also take a one-element list or array), each a class index; both given, they must agree."""
    if classes is not None and not isinstance(classes, (str, bool)) and np.size(classes) == 1 and np.ndim(classes) <= 1:
        classes = np.asarray(classes).reshape(-1)[0].item()  # [1], np.array(1), np.array([1]): the index 1
    for name, value in (("cls", cls), ("classes", classes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise ValueError(f"{name}= is one class index (a bank holds one class: mine each class into a folder of "
                             f"its own), got {value!r}")
    if cls is not None and classes is not None and int(cls) != int(classes):
        raise ValueError(f"the class is given twice, and differently: cls={cls!r}, classes={classes!r}")
    chosen = cls if cls is not None else classes
    return None if chosen is None else int(chosen)


def mine(G: Any, n: int, outdir: str | os.PathLike[str], *, space: str | None = None, k: int = 5,
         threshold: float = 50, top: float | None = None, pool_size: int = 10_000, include_self: bool = False,
         cls: int | None = None, seed: int = 0, z_dim: int | None = None, device: Any = None,
         hub_device: Device = "auto", workers: int = 1, client: Any = None, network: str | None = None,
         max_pools: int = 100_000, progress: bool = True, classes: int | None = None) -> MineResult:
    """Mine ``n`` hub latents of ``G`` (any generator the sampler serves; ``None`` with ``z_dim``:
    latents only, Z space, N(0, I)) into the bank ``outdir``, or continue a bank mined with the same
    settings and network; a smaller n than the bank holds cuts the bank's rows there and keeps its
    pools for a later, larger n. The settings are those of
    :class:`~hubness_fast.sampling.HubnessSampler` (a fractional ``threshold`` keeps the values that
    reach it, as ``sample`` does: 10.5 keeps 11 and up, and is recorded as 11); ``cls``: the one class
    of a conditional model that the bank holds; ``device``: where G runs ("cpu", "cuda", ...: G is
    moved there, as ``sample``'s ``device=`` moves it; with workers, each moves its own copy;
    default: where G is); ``hub_device``: where hub values are counted ("auto": a W pool where G
    put it, a Z pool as :func:`hubness_fast.hub_counts` chooses); ``network``: what identifies the
    network file in the bank (see :func:`network_identity`; the command line passes the file or
    spec). The bank also records :func:`generator_identity`, and a bank mined for another generator
    is refused. ``classes=`` is another spelling of ``cls`` (the keyword of ``sample`` and
    ``sample_bank``): one class index.

    ``max_pools``: give up (ValueError) after this many pools, or sooner while no pool has kept any,
    once the values seen make n out of reach within it (:mod:`hubness_fast.sampling.reach`).

    Pools run ``workers`` at a time in local processes (each uses the engine's threads), or as Dask
    tasks on ``client``, one for each of its threads at a time (each task with its own copy of G); this
    process writes the bank. Memory: a few pools, whatever n is.
    """
    n = check_int(n, "n")
    workers = check_int(workers, "workers")
    seed = check_int(seed, "seed", minimum=0)
    max_pools = check_int(max_pools, "max_pools")
    keyword = "classes" if classes is not None and cls is None else "cls"
    cls = _one_class(cls, classes)
    if G is None and z_dim is None:
        raise ValueError("without a network, z_dim= (the latent size) is needed")
    if G is None and (space or "z") != "z":
        raise ValueError("without a network, latents are mined in Z space")
    if device == "auto":  # the default of this argument before it moved the generator: leave G where it is
        device = None
    if G is None and device is not None:
        raise ValueError("device= moves the generator, and there is none: hub_device= says where hub values are "
                         "counted")
    if device is not None:
        import torch

        try:
            torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(f"device= is where the generator runs ('cpu', 'cuda', 'cuda:1', a torch.device, or "
                             f"None: where it is), got {device!r}; hub_device= says where hub values are "
                             f"counted") from None
    probe = HubnessSampler(z_dim, k=k, threshold=threshold, top=top, pool_size=pool_size, include_self=include_self,
                           space=space, device=hub_device)  # validates every setting now
    threshold = math.ceil(threshold)  # hub values are integers: >= 10.5 keeps what >= 11 keeps, as sample() does
    side = probe.adapter(G) if G is not None else None
    if side is not None and z_dim is not None and side.z_dim != z_dim:
        raise ValueError(f"z_dim={z_dim} disagrees with the generator's z_dim={side.z_dim}")
    if G is not None and workers > 1 and client is None:
        _check_picklable(G)
    resolved_space = space or (side.default_space if side is not None else "z")
    if side is not None and cls is None and side.c_dim:
        raise ValueError(f"the generator is conditional ({side.c_dim} classes): mine one class at a time (cls=)")
    if cls is not None:
        if side is None or not side.c_dim:
            raise ValueError(f"{keyword}= applies to a conditional generator")
        if not 0 <= cls < side.c_dim:
            raise ValueError(f"class {cls} is outside 0..{side.c_dim - 1}")
    bank_class = None if cls is None else int(cls)
    settings = {"space": resolved_space, "k": int(k), "threshold": int(threshold),
                "top": None if top is None else float(top),
                "pool_size": int(pool_size), "include_self": bool(include_self), "class": bank_class,
                "seed": int(seed), "z_dim": int(side.z_dim) if side is not None else check_int(z_dim, "z_dim"),
                "network": network_identity(network)}
    bank = writable_dir(outdir, "bank folder")
    lock = LockFile(bank / MINE_LOCK)
    holder = lock.acquire()
    if holder is not None:
        raise ValueError(f"another mine into the bank {bank} is running ({holder}): wait for it (the same command "
                         f"afterwards goes on from what it mined); if none is running, remove {bank / MINE_LOCK}")
    try:  # the lock held: no other mine writes here
        if (bank / "bank.json").is_file() or not _foreign(bank):  # a folder that is no bank is refused as it is
            _remove_leftovers(bank)
        manifest = _open_manifest(bank, settings, generator_identity(side, bank_class))
        (bank / "pools").mkdir(exist_ok=True)
        done = manifest["pools"]
        t0 = time.perf_counter()
        have = _contiguous_rows(done)
        bar = progress_bar(progress, n, "mining", "latent")
        if bar is not None:
            bar.update(min(have[1], n))
        mined_now: list[int] = []
        next_pool, writer = have[0], 0.0
        sampler = _sampler(settings, hub_device)
        reach = sampler.reach()
        runner = _Runner(G, {"settings": settings, "hub_device": hub_device, "device": device}, workers, client)
        recorded, last_record = len(done), time.monotonic()
        try:
            while have[1] < n:
                if next_pool >= max_pools:
                    raise ValueError(f"{max_pools} pools mined and only {have[1]} latents kept: lower the threshold "
                                     "or use top=")
                wave = [i for i in range(next_pool, next_pool + runner.width) if str(i) not in done]
                for i, arrays in zip(wave, runner.map(wave)):
                    counts = arrays.pop("counts")
                    if have[1] == 0:
                        reach.add(counts)
                    tw = time.perf_counter()
                    _commit(bank, manifest, i, arrays)
                    writer += time.perf_counter() - tw
                    mined_now.append(i)
                next_pool += runner.width
                if time.monotonic() - last_record >= MANIFEST_EVERY_S:  # not every pool: the manifest grows with them
                    tw = time.perf_counter()
                    write_json(bank / "bank.json", manifest)
                    recorded, last_record = len(done), time.monotonic()
                    writer += time.perf_counter() - tw
                before = have[1]
                have = _contiguous_rows(done)
                if bar is not None:
                    bar.update(min(have[1], n) - min(before, n))
                if (have[1] == 0 and not any(p["rows"] for p in done.values())
                        and reach.hopeless(max_pools - next_pool, n)):
                    raise ValueError(f"{sampler.unreachable_message(reach, max_pools - next_pool, n)} The bank {bank} "
                                     f"records these settings: mine into a new folder")
        finally:
            runner.close()
            if len(done) != recorded:  # the pools committed since the last record, also when cut off
                write_json(bank / "bank.json", manifest)
            if bar is not None:
                bar.close()
        pools_used = pools_for(done, n)
        tw = time.perf_counter()
        _consolidate(bank, manifest, n, pools_used, drop=[i for i in mined_now if i >= pools_used])
        writer += time.perf_counter() - tw
        values = np.load(bank / "hub_values.npy", mmap_mode="r")
        summary = {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}
        return MineResult(bank, n, pools_used, len(mined_now), acceptance(done, pools_used, pool_size), summary,
                          time.perf_counter() - t0, writer)
    finally:
        lock.release()


class _Runner:
    """Pools in this process, in local worker processes (spawned: a forked child of a process that ran
    OpenMP threads can hang), or as Dask tasks; results in pool order."""

    def __init__(self, G: Any, pool_args: dict[str, Any], workers: int, client: Any) -> None:
        self.G, self.args, self.client = G, pool_args, client
        self.pool = None
        self.width = max(workers, 1)  # pools handed out at a time: a local worker's each, a cluster thread's each
        if client is not None:  # each task gets its own copy of G: threads of a worker never share one
            self.width = max(self.width, sum(client.nthreads().values()))
        elif workers > 1:
            import multiprocessing

            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_start, initargs=(os.getpid(),))

    def map(self, pools: list[int]) -> list[dict[str, np.ndarray]]:
        if self.client is not None:
            futures = [self.client.submit(mine_pool, self.G, i=i, pure=False, **self.args) for i in pools]
            return self.client.gather(futures)
        if self.pool is not None:
            return list(self.pool.map(_pool_in_worker, [(self.G, self.args, i) for i in pools]))
        return [mine_pool(self.G, i=i, **self.args) for i in pools]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _worker_start(parent: int) -> None:
    """A local worker leaves Ctrl-C to the parent (which stops the pool and reports once), and ends
    when the parent does, even killed (Linux: PR_SET_PDEATHSIG), instead of living on orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request above
        os.kill(os.getpid(), signal.SIGKILL)


def _pool_in_worker(job: tuple[Any, dict[str, Any], int]) -> dict[str, np.ndarray]:
    G, args, i = job
    return mine_pool(G, i=i, **args)


def _open_manifest(bank: Path, settings: dict[str, Any], generator: dict[str, Any] | None) -> dict[str, Any]:
    """The bank's manifest (a new one for an empty folder); settings and generator must match;
    recorded pools whose file is missing or fails its checksum are forgotten (they are mined again)."""
    from .._version import __version__

    path = bank / "bank.json"
    if not path.exists():
        others = sorted(p.name for p in _foreign(bank))
        if others:
            raise ValueError(f"the folder {bank} holds files but no bank ({listing(others)}): mine into a new or "
                             "empty folder (nothing of yours is overwritten)")
        fresh: dict[str, Any] = {"format": FORMAT, "settings": settings, "generator": generator,
                                 "version": __version__, "pools": {}, "complete": False}
        write_json(path, fresh)
        return fresh
    manifest = read_manifest(bank)
    assert manifest is not None  # bank.json exists
    recorded = dict(manifest["settings"], network=recorded_network(manifest["settings"]))
    differ = [f"{key}={recorded.get(key)!r} (asked {settings[key]!r})" for key in SETTINGS
              if recorded.get(key) != settings[key]]
    if differ:
        raise ValueError(f"the bank {bank} was mined with other settings: {', '.join(differ)}; use another --outdir")
    if "generator" in manifest:  # banks written before generators were recorded are not checked
        check_generator(manifest["generator"], generator, bank, mining=True)
    for i, rec in list(manifest["pools"].items()):
        shard = shard_path(bank, int(i))
        if not shard.is_file() or file_sha256(shard) != rec["sha256"] or _shard_rows(shard) != rec["rows"]:
            del manifest["pools"][i]  # torn or corrupt, or a record that miscounts it: mined again
    manifest["complete"] = False
    write_json(path, manifest)  # on disk before any field file changes: an interrupted run is never "complete"
    return manifest


def _check_picklable(G: Any) -> None:
    """Local workers receive G pickled: a lambda or a function defined inside another is refused now,
    before the folder becomes a bank, not by the first pool."""
    import pickle

    try:
        pickle.dump(G, _Discard())
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ValueError(f"workers= sends the generator to worker processes by pickling it, and it cannot be "
                         f"pickled ({' '.join(str(exc).split())}): define it at a module's top level (no lambda or "
                         f"local function), or mine with workers=1") from None


class _Discard:
    """A file that keeps nothing: pickling into it checks that G pickles without holding its bytes."""

    def write(self, data: bytes) -> int:
        return len(data)


def _shard_rows(shard: Path) -> int | None:
    """The rows a pool's file holds, read from its z array's header (None: no such array)."""
    try:
        with zipfile.ZipFile(shard) as zf, zf.open("z.npy") as f:
            major, minor = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            return int(read(f)[0][0])
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile):
        return None


def _commit(bank: Path, manifest: dict[str, Any], i: int, arrays: dict[str, np.ndarray]) -> None:
    shard = shard_path(bank, i)
    atomic_write(shard, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]  # numpy's stub: **kwds as a flag
    manifest["pools"][str(i)] = {"rows": int(arrays["z"].shape[0]), "sha256": file_sha256(shard)}


def _contiguous_rows(done: dict[str, Any]) -> tuple[int, int]:
    """(first pool not done, rows in pools 0 .. that pool - 1)."""
    i, rows = 0, 0
    while str(i) in done:
        rows += done[str(i)]["rows"]
        i += 1
    return i, rows


def _leftovers(bank: Path) -> list[Path]:
    """The temporary files of a mine cut off before it renamed them: pool files, the manifest and the
    consolidated fields (a render's cursor.json temporaries are not among them)."""
    found = []
    for folder in (bank, bank / "pools"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            parts = p.name.split(".")  # '', the name's parts, the temporary file's random part, its suffix
            if folder.name == "pools":
                ours = len(parts) == 5 and parts[1].isdigit() and parts[2:5:2] == ["npz", "tmp"]
            else:
                ours = (len(parts) == 5 and parts[1:3] == ["bank", "json"] and parts[4] == "tmp") or \
                       (len(parts) == 4 and parts[1] in FIELDS and parts[3] == "npy")
            if parts[0] == "" and ours and p.is_file():
                found.append(p)
    return found


def _foreign(bank: Path) -> list[Path]:
    """What a folder without bank.json holds besides the mine lock and a cut-off first mine's
    temporaries (an empty pools/ folder included)."""
    left = set(_leftovers(bank))
    return [p for p in bank.iterdir() if p.name not in (MINE_LOCK, f".{MINE_LOCK}.guard") and p not in left
            and not (p.name == "pools" and p.is_dir() and all(q in left for q in p.iterdir()))]


def _remove_leftovers(bank: Path) -> None:
    """Remove :func:`_leftovers` (this process holds the mine lock: no other writer's are in flight)."""
    for p in _leftovers(bank):
        p.unlink(missing_ok=True)


def _consolidate(bank: Path, manifest: dict[str, Any], n: int, pools: int, drop: list[int]) -> None:
    """Pools 0 .. pools-1 cut at n rows, one .npy per field, appended a pool at a time with plain
    writes (no memory map: the process's memory stays a pool's, whatever n is). ``drop``: pools
    this call mined past them (parallel workers run ahead), dropped so that the bank's pools are the
    same however it ran; pools mined before (for a larger n) stay for a later, larger n."""
    with np.load(shard_path(bank, 0)) as first:
        fields = {f: (first[f].dtype, first[f].shape[1:]) for f in FIELDS if f in first}
    files, tmps = {}, {}
    try:
        for f, (dtype, tail) in fields.items():
            fd, name = tempfile.mkstemp(dir=bank, prefix=f".{f}.", suffix=".npy")
            tmps[f] = Path(name)
            files[f] = os.fdopen(fd, "wb")
            plain_permissions(fd)
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n, *tail)}
            np.lib.format.write_array_header_1_0(files[f], header)
        at = 0
        for i in range(pools):
            with np.load(shard_path(bank, i)) as part:
                take = min(part["z"].shape[0], n - at)
                for f in fields:
                    files[f].write(np.ascontiguousarray(part[f][:take]).tobytes())
            at += take
        for f in fields:
            files[f].flush()
            os.fsync(files[f].fileno())
            files[f].close()
            os.replace(tmps[f], bank / f"{f}.npy")
    finally:
        for f, fh in files.items():
            fh.close()
            tmps[f].unlink(missing_ok=True)
    for i in drop:
        del manifest["pools"][str(i)]
        shard_path(bank, i).unlink(missing_ok=True)
    manifest["complete"], manifest["rows"] = True, n
    write_json(bank / "bank.json", manifest)
