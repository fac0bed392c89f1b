"""A mined bank on disk: its format, what it records of its network and generator, reading it,
and rendering from it (:func:`open_bank`, :class:`Bank`, :class:`BankSampler`, :func:`sample_bank`,
:func:`status`). :mod:`hubness_fast.sampling.mining` writes banks.

On-disk format (``bank.json`` "format": "hubness_fast.bank/3"; /1 and /2 banks, drawn from
numpy's streams, are refused: mine them again):

- ``z.npy`` float32 [n, z_dim] (as drawn), ``w.npy`` float32 [n, w_dim] (W space only),
  ``labels.npy`` int64 [n] (a conditional model's class), ``hub_values.npy`` int64 [n],
  ``pool_index.npy`` int64 [n] and ``position.npy`` int64 [n] (where each row was drawn);
- ``bank.json``: format, settings, network identity (the file's SHA-256 or the spec, as the command
  line gives it) and generator identity (:func:`generator_identity`), package version, the pools
  recorded (rows, SHA-256) and ``complete``; ``cursor.json``: the next unused row for
  :func:`sample_bank`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write, file_sha256
from .._inputs import as_path, check_int, is_torch, to_numpy
from .._lockfile import LockFile
from .._torch import BATCH_SIZE
from .adapter import GeneratorAdapter
from .latents import Latents, Samples
from .samplers import LatentSampler

FORMAT = "hubness_fast.bank/3"
FIELDS = ("z", "w", "labels", "hub_values", "pool_index", "position")
IDENTITY_PREFIXES = ("sha256:", "spec:")  # how network_identity marks what it records
SETTINGS = ("space", "k", "threshold", "top", "pool_size", "include_self", "class", "seed", "z_dim", "network")
# A bank recognises its network by the w that its mapping gives a few fixed latents: PROBE_ROWS latents
# drawn with PROBE_SEED, the first PROBE_COLS coordinates of each w kept (any other mapping changes them all).
PROBE_ROWS, PROBE_COLS, PROBE_SEED = 4, 16, 0
# The same mapping on another device or BLAS gives w within about 1e-6 of each other (relative to |w|);
# TF32 matmuls within about 1e-3; another network's mapping differs by order 1.
PROBE_RTOL = 1e-2
LOCK = "cursor.lock"  # held by the render handing out a bank's next rows
MINE_LOCK = "mine.lock"  # held by the process mining into a bank


# -- files and identities -------------------------------------------------------------------

def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def shard_path(bank: Path, i: int) -> Path:
    return bank / "pools" / f"{i:06d}.npz"


def network_identity(network: Any) -> str | None:
    """What a bank records of its network: the SHA-256 of a file, or a ``module:attr`` spec as given
    (an identity this function gave is returned as it is)."""
    if network is None:
        return None
    text = str(network)
    if text.startswith(IDENTITY_PREFIXES):
        return text
    path = as_path(text)
    return f"sha256:{file_sha256(path)}" if path.is_file() else f"spec:{text}"


def recorded_network(settings: dict[str, Any]) -> str | None:
    """The network identity a bank's settings record (banks that ``mine(network=)`` wrote before it
    recorded identities hold the file or spec as given: its identity now)."""
    return network_identity(settings.get("network"))


def generator_identity(side: GeneratorAdapter | None, cls: int | None = None) -> dict[str, Any] | None:
    """What a bank records of the generator it was mined for (None: mined without one): its family,
    z_dim, c_dim, w_dim, prior and prior scale (BigGAN's truncation) and, for a generator with a W
    space, ``probe``: the first PROBE_COLS coordinates of the w its mapping gives PROBE_ROWS fixed
    latents (of class ``cls``), which tell one network from another whichever device maps them (see
    :func:`check_generator`)."""
    if side is None:
        return None
    ident: dict[str, Any] = {"family": side.family, "z_dim": int(side.z_dim), "c_dim": int(side.c_dim),
                             "w_dim": None if not side.w_dim else int(side.w_dim),
                             "prior": side.prior if isinstance(side.prior, str) else "callable",
                             "prior_scale": float(side.prior_scale)}  # BigGAN's truncation scales its prior
    if "w" in side.spaces:
        import torch

        z = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_ROWS, side.z_dim)).astype(np.float32)
        c = None if cls is None else side.one_hot(np.full(PROBE_ROWS, cls))
        with torch.no_grad():
            rows = side.map(torch.from_numpy(z).to(side.device), c)[:, 0]
        rows = to_numpy(rows.float() if is_torch(rows) else rows, np.float64)[:, :PROBE_COLS]
        ident["probe"] = [[float(v) for v in row] for row in rows]
    return ident


def check_generator(recorded: dict[str, Any] | None, now: dict[str, Any] | None, bank: Path,
                    mining: bool = False) -> None:
    """Refuse a generator other than the one the bank was mined for (both as :func:`generator_identity`
    gives them). A bank mined without a generator serves any generator with its z_dim when sampled,
    but is continued only without one."""
    if recorded is None:
        if mining and now is not None:
            raise ValueError(f"the bank {bank} was mined without a network (latents of N(0, I)): continue it "
                             "without one, or mine the network into another folder")
        return
    if now is None:
        raise ValueError(f"the bank {bank} was mined for a {recorded['family']} network: pass that network")
    keys = [key for key in ("family", "z_dim", "c_dim", "w_dim", "prior", "prior_scale")
            if key in recorded]  # banks of an earlier version record the first four only
    differ = [f"{key} {recorded[key]} (this one: {now.get(key)})" for key in keys if recorded[key] != now.get(key)]
    if recorded["family"] == "biggan" and any(d.startswith("prior_scale") for d in differ):
        differ.append(f"BigGAN's truncation scales its prior: pass truncation={recorded['prior_scale']:g}")
    if not differ and "probe" in recorded and "probe" in now:
        want, got = np.asarray(recorded["probe"]), np.asarray(now["probe"])
        err = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-12))
        if err > PROBE_RTOL:
            differ.append(f"its mapping gives other w for the same z (relative difference {err:.2g})")
    if differ:
        raise ValueError(f"the bank {bank} was mined for another network: {'; '.join(differ)}. Pass the network "
                         "it was mined for, or mine this one into another folder")


# -- what the manifest records ---------------------------------------------------------------

def acceptance(done: dict[str, Any], pools: int, pool_size: int) -> float:
    """What pools 0 .. pools - 1 kept (all their rows, also those past the cut at n) over what they drew."""
    return sum(done[str(i)]["rows"] for i in range(pools)) / (pools * pool_size)


def pools_for(done: dict[str, Any], n: int) -> int:
    i, rows = 0, 0
    while rows < n:
        rows += done[str(i)]["rows"]
        i += 1
    return i


# -- using a bank ---------------------------------------------------------------------------

class Bank:
    """A mined bank: ``len(bank)`` rows; ``z``, ``w`` (None in Z space), ``labels`` (None when
    unconditional), ``hub_values``, ``pool_index``, ``position`` memory-mapped; ``settings``."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path, self.manifest, self.settings = path, manifest, manifest["settings"]
        rows = manifest.get("rows")

        def load(field: str) -> Any:
            file = path / f"{field}.npy"
            if not file.exists():
                if field in ("z", "hub_values", "pool_index", "position"):
                    raise ValueError(f"the bank {path} lacks {file.name}: run the same mine command again to "
                                     f"rebuild it from its pools")
                return None
            try:
                array = np.load(file, mmap_mode="r")
            except (OSError, ValueError, EOFError) as exc:
                raise ValueError(f"the bank file {file} cannot be read ({' '.join(str(exc).split())}): run the "
                                 f"same mine command again to rebuild it from its pools") from None
            if rows is not None and array.shape[:1] != (rows,):
                raise ValueError(f"the bank file {file} holds {array.shape[0] if array.ndim else 0} rows, its "
                                 f"manifest {rows}: run the same mine command again to rebuild it from its pools")
            return array

        self.z, self.w, self.labels = load("z"), load("w"), load("labels")
        self.hub_values, self.pool_index, self.position = load("hub_values"), load("pool_index"), load("position")

    def __len__(self) -> int:
        return int(self.z.shape[0])

    def sampler(self, offset: int | None = None) -> "BankSampler":
        """A sampler that hands out this bank's rows (for ``sample(G, n, bank=...)`` and ``features(G,
        extractor, n=..., sampler=bank.sampler())``)."""
        return BankSampler(self, offset)

    def rows(self, start: int, stop: int) -> Latents:
        """Rows start..stop-1 as the samplers' :class:`~hubness_fast.sampling.Latents` (numpy copies)."""
        def pick(a: Any) -> Any:
            return None if a is None else np.array(a[start:stop])
        return Latents(pick(self.z), pick(self.w), pick(self.labels), pick(self.hub_values))


def open_bank(path: str | os.PathLike[str]) -> Bank:
    """A complete bank, memory-mapped; a ValueError for a folder that holds none or an unfinished one."""
    bank = as_path(path)
    if not bank.is_dir():
        raise ValueError(f"the bank {bank} is not a folder (a bank is the folder mine wrote)" if bank.exists() else
                         f"the bank {bank} not found (no such folder)")
    manifest = read_manifest(bank)
    if manifest is None:
        raise ValueError(f"{bank} holds no bank (no bank.json)")
    if not manifest.get("complete"):
        raise ValueError(f"the bank {bank} is not complete: run the same mine command again to finish it")
    return Bank(bank, manifest)


def status(path: str | os.PathLike[str]) -> str:
    """What a bank folder holds, in a few lines (no bank, partial or complete); a ValueError for a
    folder that does not exist."""
    bank = as_path(path)
    if not bank.is_dir():
        raise ValueError(f"{bank} is not a folder" if bank.exists() else f"{bank} does not exist (no such folder)")
    manifest = read_manifest(bank)
    if manifest is None:
        return f"{bank}: no bank here (no bank.json)"
    s, pools = manifest["settings"], manifest["pools"]
    rows = sum(p["rows"] for p in pools.values())
    rule = f"top {s['top']:g}" if s["top"] is not None else f"t = {s['threshold']}"
    head = (f"{bank}: {s['z_dim']}-d latents, {s['space'].upper()} space, k = {s['k']}"
            + (" (self counted)" if s["include_self"] else "") + f", {rule}, pool {s['pool_size']}, seed {s['seed']}"
            + (f", class {s['class']}" if s["class"] is not None else "") + f"; network {s['network'] or 'none'}")
    if manifest.get("complete"):
        n = manifest["rows"]
        used = pools_for(pools, n)
        values = np.load(bank / "hub_values.npy", mmap_mode="r")
        cursor = read_cursor(bank)
        usage = (f"{cursor} rendered (sample --bank, sample_bank), {n - cursor} unused" if cursor <= n else
                 f"all {n} rendered (sample --bank, sample_bank; the next row is {cursor}: a larger n continues "
                 f"there)")
        spare = f"\n{len(pools) - used} more pools in pools/ for a larger n" if len(pools) > used else ""
        return (f"{head}\ncomplete: {n} latents from {used} pools "
                f"(acceptance {acceptance(pools, used, s['pool_size']):.4f}); hub values "
                f"{int(values.min())}..{int(values.max())}, median {float(np.median(values)):g}; {usage}{spare}")
    return (f"{head}\npartial: {len(pools)} pools mined, {rows} latents kept so far; run the mine command again "
            f"with these settings and the --n it was given to finish it")


def read_manifest(bank: Path) -> dict[str, Any] | None:
    """A bank's bank.json, checked (None when there is none): a ValueError names a damaged one."""
    path = bank / "bank.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"the bank manifest {path} cannot be read ({' '.join(str(exc).split())}): it is damaged; "
                         f"restore it, or move the bank away and mine again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{bank} is not a bank of this format (its bank.json holds {found!r}, this version reads "
                         f"{FORMAT!r})")
    if not isinstance(manifest.get("settings"), dict) or not isinstance(manifest.get("pools"), dict):
        raise ValueError(f"the bank manifest {path} is damaged (no settings or pools): restore it, or move the bank "
                         f"away and mine again")
    missing = [key for key in SETTINGS if key not in manifest["settings"]]
    bad = [i for i, rec in manifest["pools"].items() if not i.isdigit() or not isinstance(rec, dict)
           or not isinstance(rec.get("rows"), int) or rec["rows"] < 0 or not isinstance(rec.get("sha256"), str)]
    if manifest.get("complete") and not isinstance(manifest.get("rows"), int):
        missing.append("rows")  # a complete bank's row count
    if missing or bad:
        what = (f"without {', '.join(missing)}" if missing else
                f"pool record{'s' if len(bad) > 1 else ''} {', '.join(bad[:5])} without a row count and checksum")
        raise ValueError(f"the bank manifest {path} is damaged ({what}): restore it, or move the bank away and mine "
                         f"again")
    return manifest


def read_cursor(bank: Path) -> int:
    """The bank's next unused row (0 without cursor.json); a ValueError names a damaged cursor."""
    path = bank / "cursor.json"
    try:
        row = json.loads(path.read_text())["next"]
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the bank's cursor {path} cannot be read ({' '.join(str(exc).split()) or 'empty'}): it "
                         f"holds the next unused row as {{\"next\": N}}; restore it (status shows the bank)") from None
    if isinstance(row, bool) or not isinstance(row, int) or row < 0:
        raise ValueError(f"the bank's cursor {path} holds next = {row!r}, not a row number: restore it as "
                         f"{{\"next\": N}}")
    return row


class BankSampler(LatentSampler):
    """Latents from a bank instead of pools: rows ``offset`` on, or (no offset) the bank's next unused
    rows, which count as used (``cursor.json``) once they are rendered: ``sample`` and a generator's
    image source call :meth:`commit` then, and :meth:`release` when a render fails, so an interrupted
    render leaves them unused. While rows are handed out and not yet rendered, the bank holds
    ``cursor.lock`` (host, process): another sampler that asks for the next unused rows meanwhile is
    refused rather than given the same rows (two renders at once take rows by ``offset=``). A lock
    left by a process that has ended is taken over. Rendered as every sampler renders."""

    def __init__(self, bank: Bank, offset: int | None = None) -> None:
        super().__init__(bank.settings["z_dim"], space=bank.settings["space"])
        self.bank = bank
        self.offset = None if offset is None else check_int(offset, "offset", minimum=0)
        self.offset_before: int | None = None  # the offset before the rows handed out, until they are rendered
        self.handed_out: int | None = None  # the cursor once the rows handed out are rendered

    def latents(self, G: Any = None, n: int = 1, classes: Any = None) -> Latents:
        """The bank's next n rows (see the class); ``classes``: None or the bank's one class. G is
        checked against the generator the bank was mined for."""
        n = check_int(n, "n")
        b = self.bank
        if G is not None:
            side = self.adapter(G)
            if side.z_dim != b.settings["z_dim"]:
                raise ValueError(f"the bank holds {b.settings['z_dim']}-d latents but the generator takes {side.z_dim}")
            if b.manifest.get("generator") is not None:
                check_generator(b.manifest["generator"], generator_identity(side, b.settings["class"]), b.path)
        only = b.settings["class"]
        if classes is not None and only is None:
            raise ValueError(f"the bank {b.path} holds latents of an unconditional model: no class can be chosen")
        if classes is not None and (isinstance(classes, str) or set(np.atleast_1d(classes).tolist()) != {only}):
            raise ValueError(f"the bank {b.path} holds class {only} only ({classes!r} asked): mine other classes into "
                             "banks of their own")
        locked = self.offset is None and self.handed_out is None
        if locked:
            self._lock()  # before the cursor is read: no other sampler reads it until these rows are committed
        try:
            if self.offset is not None:
                start = self.offset
            else:
                start = read_cursor(b.path) if self.handed_out is None else self.handed_out
            if start >= len(b):
                raise ValueError(f"the bank {b.path} has no rows from row {start} (it holds {len(b)}): mine more (the "
                                 "same command with a larger n) or pass offset=")
            if start + n > len(b):
                raise ValueError(f"the bank {b.path} has {len(b) - start} rows from row {start}, {n} asked: mine more "
                                 "(the same command with a larger n) or pass offset=")
            lat = b.rows(start, start + n)
        except BaseException:
            if locked:
                self._unlock()
            raise
        if self.offset is None:
            self.handed_out = start + n
        else:
            self.offset_before, self.offset = self.offset, self.offset + n  # release() goes back
        self.stats = {"pools": 0, "drawn": 0, "kept": n}
        return lat

    def commit(self) -> None:
        """The rows handed out so far are rendered: they count as used (``cursor.json``). Without an
        offset only; called by ``sample`` and a generator's image source, and by the caller of
        :meth:`latents` who renders them another way."""
        self.offset_before = None
        if self.handed_out is not None:
            write_json(self.bank.path / "cursor.json", {"next": self.handed_out})
            self.handed_out = None
            self._unlock()

    def release(self) -> None:
        """The rows handed out since the last commit were not all rendered: they stay unused, and the
        next call hands them out again (with an offset: from the same row)."""
        if self.offset_before is not None:
            self.offset, self.offset_before = self.offset_before, None
        if self.handed_out is not None:
            self.handed_out = None
            self._unlock()

    def _lock(self) -> None:
        path = self.bank.path / LOCK
        self._held = LockFile(path)
        try:
            holder = self._held.acquire()
        except OSError as exc:  # a read-only bank (a shared dataset, a read-only mount)
            raise ValueError(f"cannot take the bank's cursor lock {path} ({exc.strerror or exc}): rows counted as "
                             f"used need a writable bank; a read-only one serves rows by offset= (--offset N), "
                             f"which neither takes the lock nor moves the cursor") from None
        if holder is not None:
            raise ValueError(f"another render from the bank {self.bank.path} is running ({holder}): its rows are "
                             f"not yet counted as used. Wait for it, or give each render its own rows with "
                             f"offset=; if no render is running, remove {path}")

    def _unlock(self) -> None:
        self._held.release()


def sample_bank(G: Any, bank: Bank | str | os.PathLike[str], n: int, *, offset: int | None = None,
                classes: Any = None, batch_size: int = BATCH_SIZE, output: str = "float",
                outdir: str | os.PathLike[str] | None = None, device: Any = None, network: str | None = None,
                progress: bool = False) -> Samples:
    """Render n banked latents with ``G``, exactly as :func:`~hubness_fast.sampling.sample` renders
    what it chose: rows ``offset`` .. ``offset + n - 1``, or (no offset) the next n unused rows,
    after which they count as used (``cursor.json``). ``classes``: None or the bank's one class;
    ``device``: move G there first, as ``sample`` does. G is checked against the generator the bank
    was mined for, and ``network`` (a file or spec) against the network it records."""
    b = bank if isinstance(bank, Bank) else open_bank(bank)
    recorded = recorded_network(b.settings)
    if network is not None and recorded is not None and network_identity(network) != recorded:
        raise ValueError(f"the bank {b.path} was mined for another network ({recorded})")
    return b.sampler(offset).sample(G, n, batch_size, classes=classes, output=output,
                                    outdir=None if outdir is None else as_path(outdir), device=device,
                                    progress=progress)
