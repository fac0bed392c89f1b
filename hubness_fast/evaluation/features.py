"""Image features for the metrics: from an image array, a folder of images, or any
:class:`ImageSource` (a generator's samples: :class:`hubness_fast.sampling.GeneratorImages`),
batch by batch.

    from hubness_fast.features import features          # also takes a generator with n=
    from hubness_fast.sampling import HubnessSampler
    real = features("data/ffhq", "inception-2015-12-05.pt", cache_dir="~/.cache/hf-features")
    fake = features(G, "inception-2015-12-05.pt", n=50_000, sampler=HubnessSampler(space="w", seed=0))
    hubness_fast.metrics.frechet_distance(real, fake)

Every source becomes uint8 [B, C, H, W] batches (C = 1 or 3) on ``device``:

- an array or tensor [N, C, H, W]: uint8 as it is; float (a generator's output,
  about [-1, 1]) converted as NVIDIA's metrics code does, ``(x * 127.5 +
  128).clamp(0, 255).to(uint8)`` (:func:`hubness_fast.generators.to_uint8`;
  half precision is computed in float32), on the tensor's device, then moved;
- a folder: its ``.png`` / ``.jpg`` / ``.jpeg`` files (no subfolders, no hidden
  files) read with Pillow in the order of :func:`image_files`, as stored (no EXIF
  rotation; 16-bit PNGs refused); grey stays one channel (a folder mixing grey
  and colour is read as RGB throughout), RGBA and palette images become RGB; in a
  folder sampling wrote (it holds ``latents.npz``) the ``grid.png`` is skipped, and
  one whose sample run did not finish is refused;
- an :class:`ImageSource`: its batches, checked and converted as arrays are. The
  sampling layer's :class:`~hubness_fast.sampling.GeneratorImages` renders a
  generator's samples batch by batch, so memory holds one batch of images, never n
  (:func:`hubness_fast.features.features` builds it from ``G, n=, sampler=``).

An extractor is any callable batch -> features [B, F], or a
:class:`TorchScriptDetector` (also chosen by passing the path of a ``.pt``
file): NVIDIA's metric detectors. This package downloads nothing.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np

from .._files import atomic_write, file_sha256, writable_dir
from .._inputs import as_path, check_int, is_torch
from .._progress import bar as progress_bar
from .._samples import GRID, LATENTS, is_unfinished
from .._types import Array
from .._torch import BATCH_SIZE, check_image_shape, evaluating, to_uint8
from .._torch import torch as _torch
from .._warn import warn_user
from .partial import PartialRows

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # compared in lower case
# A folder that sampling wrote (hubness_fast.sampling.sample(outdir=), `hubness-fast sample`) holds its
# latents in LATENTS and a grid of the samples in GRID, which is not read as one; an unfinished one
# (hubness_fast._samples) is refused.
CACHE_FORMAT = "hubness_fast.features/1"  # part of every cache key: bump when what a key covers changes
HASH_BATCH = 256  # images converted per step when hashing an array's pixels
Extractor = Union[str, Path, "TorchScriptDetector", Callable[..., Any]]


class NotCachedWarning(UserWarning):
    """``cache_dir`` was given but the source or the extractor has no cache key."""


class TorchScriptDetector:
    """One of NVIDIA's TorchScript metric detectors, loaded from a file the user has.

    path : the ``.pt`` file. The two in use, from NVIDIA's StyleGAN2-ADA metrics code
        (``metrics/frechet_inception_distance.py``, ``metrics/precision_recall.py``):

        - ``inception-2015-12-05.pt``: Inception-v3 as in TensorFlow's FID, 2048-d
          pool features (FID, KID):
          https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt
        - ``vgg16.pt``: VGG-16, 4096-d features (improved precision and recall):
          https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt

        This package never downloads them: fetch them once and pass the path.
    device : where the module is loaded (``torch.jit.load(path, map_location=device)``)
        and run.

    Called with uint8 [B, C, H, W] images (torch or numpy; C = 1 or 3), it repeats
    grey images to 3 channels and returns ``module(images, return_features=True)``
    under ``torch.no_grad()``, as NVIDIA's metrics code does. The detectors resize
    to their own input size themselves. A TorchScript module whose forward takes no
    ``return_features`` is called as ``module(images)``, with the channels as they
    are (as any callable extractor). ``cache_key`` is the SHA-256 of the file.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        torch = _torch()
        self.path: Path | None = as_path(path)
        if not self.path.is_file():
            raise ValueError(f"no detector file at {self.path}: this package downloads nothing; fetch the file "
                             f"(see TorchScriptDetector's docstring for NVIDIA's URLs) and pass its path")
        self.device = torch.device(device)
        self.module_key: str | None = None  # a wrapped module's own cache_key (from_module)
        try:
            with warnings.catch_warnings():
                # NVIDIA publishes these detectors as TorchScript only: nothing else reads them, so
                # torch's deprecation of jit.load (2.13) is no advice a user could act on.
                warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated",
                                        category=DeprecationWarning)
                self.module = torch.jit.load(str(self.path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"cannot load {self.path} as a TorchScript module on {self.device}: {exc}") from None
        self.return_features = _takes_return_features(self.module)

    @classmethod
    def from_module(cls, module: Any) -> "TorchScriptDetector":
        """Wrap a detector module already loaded (``torch.jit.load``, or an eager ``nn.Module``
        written as NVIDIA's, ``forward(x, return_features=False)``): it runs where its parameters
        are, in eval mode for each call (its own mode restored after); without a file its
        ``cache_key`` is the module's own ``cache_key`` attribute, if it has one."""
        det = cls.__new__(cls)
        det.path, det.module = None, module
        det.module_key = getattr(module, "cache_key", None)
        det.return_features = _takes_return_features(module)
        params = list(module.parameters())
        det.device = params[0].device if params else _torch().device("cpu")
        return det

    @functools.cached_property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes (computed once, on first use)."""
        if self.path is None:
            raise ValueError("a detector wrapped from a loaded module has no file to hash")
        return file_sha256(self.path)

    @property
    def cache_key(self) -> str | None:
        return self.module_key if self.path is None else f"torchscript-sha256:{self.sha256}"

    def __call__(self, images: Array) -> torch.Tensor:
        torch = _torch()
        x = images if is_torch(images) else torch.from_numpy(np.ascontiguousarray(images))
        if not self.return_features:
            with evaluating(self.module):
                return self.module(x.to(self.device))
        if x.ndim != 4 or x.dtype != torch.uint8:
            raise ValueError(f"the detector takes uint8 [B, C, H, W] images, got {x.dtype} of shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.repeat([1, 3, 1, 1])  # grey to RGB, as NVIDIA's metrics code does
        if x.shape[1] != 3:
            raise ValueError(f"the detector takes 1 or 3 channels, got {x.shape[1]}")
        with evaluating(self.module):
            return self.module(x.to(self.device), return_features=True)


def features(source: Any, extractor: Extractor, *, batch_size: int = BATCH_SIZE, device: str | torch.device = "cpu",
             progress: bool = True, cache_dir: str | Path | None = None, cache_key: str | None = None) -> np.ndarray:
    """Features [N, F] of a set of images: float32, or float64 when the extractor returns float64.

    source : images [N, C, H, W] (numpy or torch; uint8 0..255, or float about [-1, 1]
        converted as NVIDIA does), a folder (str or Path), or an :class:`ImageSource`.
        C is 1 (grey) or 3. See the module docstring for how each is read.
    extractor : a callable, called once per batch with uint8 [B, C, H, W] torch images
        on ``device`` (under ``torch.no_grad()``, a module in eval mode, as are the modules
        a function or lambda closes over or reads as globals), returning
        [B, F] (torch or anything ``numpy.asarray`` takes); or a
        :class:`TorchScriptDetector`, or the path of a ``.pt`` file to load as one on
        ``device``.
    batch_size : images per extractor call (and per generator call).
    device : where batches go before the extractor sees them. A generator runs where
        it is; its images come to the CPU one batch at a time (as in
        :func:`~hubness_fast.sampling.render`), then go to ``device``.
    progress : a tqdm bar over the N images (when tqdm is installed).
    cache_dir : keep features as ``<cache_dir>/<sha256>.npy`` and load them on a
        second call with the same key instead of computing. The key hashes the
        images (arrays: their uint8 pixels and shape; folders: the folder's path and
        every file's name, size and modification time) and the extractor
        (``TorchScriptDetector``: the file's SHA-256; a callable: its ``cache_key``
        attribute, a str). A source whose ``digest()`` is None (a generator's) has no
        key of its own: pass ``cache_key=``.
        Without a key for either side the features are computed, not cached, and a
        :class:`NotCachedWarning` says so. The device is not part of the key.
        A cached extraction that is cut off (Ctrl-C, an error, a crash) keeps the features
        done so far in ``<cache_dir>/<sha256>.partial/`` (saved every minute and when
        cut off: Python's default for SIGTERM ends the process without the last save,
        ``signal.signal(signal.SIGTERM, signal.default_int_handler)`` makes it Ctrl-C),
        and the next call with the same key resumes from them
        (:mod:`hubness_fast.evaluation.partial`); they are removed once the cache file
        is written.
    cache_key : a str naming the images, used in place of hashing the source (with
        its N): required to cache a generator's features (name the
        network, sampler and seed in it); for an array or folder it skips the
        hashing, and a stale key is then the caller's responsibility.

    Raises ValueError for images that are not [N, C, H, W] with C in (1, 3), or
    neither uint8 nor float, or not finite; an empty folder or one whose images
    differ in size; a source of another kind; batch_size < 1; an extractor result that is not [B, F] with B the batch's
    size, or not finite.
    """
    batch_size = check_int(batch_size, "batch_size")
    if cache_key is not None and not isinstance(cache_key, str):
        raise ValueError(f"cache_key must be a str, got {type(cache_key).__name__}")
    _check_device(device)
    run = as_extractor(extractor, device)
    src = _as_source(source)
    path = _cache_path(src, run, cache_dir, cache_key)
    if path is None:
        return _extract(src, run, batch_size, device, progress, None)
    saved = PartialRows(path.with_name(path.stem + ".partial"), src.n)
    cached = _read_cached(path, src.n) if path.is_file() else None
    if cached is None:
        cached = _extract(src, run, batch_size, device, progress, saved)
        _save(path, cached)
    saved.discard()  # the cache file holds them all (rows a run cut off after writing it left behind, too)
    return cached


# -- extractors -------------------------------------------------------------------------

def _check_device(device: Any) -> None:
    """A device torch can put the batches on: a CUDA one needs a CUDA build that sees a GPU."""
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:1', ... or a torch.device, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        built = "with" if torch.version.cuda else "without"
        raise ValueError(f"device={str(device)!r}, but torch sees no CUDA device (torch {torch.__version__}, built "
                         f"{built} CUDA): use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={str(device)!r}, but torch sees {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 .. cuda:{torch.cuda.device_count() - 1}")


def as_extractor(extractor: Extractor, device: Any = "cpu") -> Callable[..., Any]:
    """The one detector path: what every function that takes a detector calls it through.

    A path (str or Path, ``~`` expanded) is loaded as a :class:`TorchScriptDetector` on
    ``device``; a torch module (TorchScript or eager) whose forward takes ``return_features``
    is wrapped as one, so it gets uint8 RGB images and returns features, not class
    probabilities; any other callable is used as it is and receives uint8 [B, C, H, W] images.
    """
    if isinstance(extractor, (str, Path)):
        if Path(extractor).suffix != ".pt":
            raise ValueError(f"an extractor given by path is a TorchScript .pt file, got {str(extractor)!r}")
        return TorchScriptDetector(extractor, device)
    if isinstance(extractor, TorchScriptDetector):
        return extractor
    if _takes_return_features(extractor):
        return TorchScriptDetector.from_module(extractor)
    if not callable(extractor):
        raise ValueError(f"the extractor must be callable (images -> features) or a .pt path, "
                         f"got {type(extractor).__name__}")
    return extractor


def _takes_return_features(module: Any) -> bool:
    """A torch module with NVIDIA's detector signature forward(x, return_features=...): read from
    the TorchScript schema, or from the signature of an eager module's forward."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(module, (torch.jit.ScriptModule, torch.nn.Module)):
        return False
    if isinstance(module, torch.jit.ScriptModule):
        try:
            args = module.forward.schema.arguments
        except (AttributeError, RuntimeError):
            return False
        return any(a.name == "return_features" for a in args)
    try:
        param = inspect.signature(module.forward).parameters.get("return_features")
    except (TypeError, ValueError):  # a forward whose signature cannot be read
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


class DetectorError(RuntimeError):
    """The detector (or extractor) raised while computing features; the message says on what input."""


def _summary(exc: BaseException) -> str:
    """The line of an exception that says what went wrong: TorchScript errors carry the scripted
    traceback first and the detector's own error (an AssertionError, say) on their last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1:
        return lines[-1]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _extractor_key(extractor: Callable[..., Any]) -> str | None:
    key = getattr(extractor, "cache_key", None)
    if key is not None and not isinstance(key, str):
        raise ValueError(f"the extractor's cache_key must be a str, got {type(key).__name__}")
    return key


def _call(extractor: Callable[..., Any], images: torch.Tensor, start: int) -> np.ndarray:
    """One batch through the extractor -> numpy float32 / float64 [B, F], checked."""
    try:
        with evaluating(extractor):
            result = extractor(images)
    except Exception as exc:
        raise DetectorError(f"the detector failed on images {start}..{start + len(images) - 1}, given as "
                            f"{str(images.dtype).replace('torch.', '')} of shape {tuple(images.shape)} (0..255, "
                            f"[B, C, H, W], as NVIDIA's detectors take them): {_summary(exc)}") from exc
    if isinstance(result, tuple):  # (logits, features), say: which one is meant is the caller's to say
        raise ValueError(f"the extractor returned a tuple of {len(result)} outputs for images {start}..; it must "
                         f"return one array [B, F] of features (wrap a model with several outputs in a function "
                         f"that picks the features)")
    if is_torch(result):
        result = result.detach()
        if result.is_floating_point() and result.dtype not in (_torch().float32, _torch().float64):
            result = result.float()  # half and bfloat16 (numpy has no bfloat16)
        result = result.cpu().numpy()
    feats = np.asarray(result)
    if feats.dtype.kind not in "fiu":
        raise ValueError(f"the extractor returned dtype {feats.dtype}; features must be numbers")
    if feats.dtype != np.float64:
        feats = feats.astype(np.float32, copy=False)
    rows = len(images)
    if feats.ndim != 2:
        raise ValueError(f"the extractor returned shape {feats.shape} for {rows} images; features must be "
                         f"[B, F] (flatten them, e.g. x.flatten(1))")
    if feats.shape[0] != rows:
        raise ValueError(f"the extractor returned {feats.shape[0]} rows for a batch of {rows} images")
    if feats.shape[1] == 0:
        raise ValueError(f"the extractor returned no features (shape {feats.shape}) for images {start}..")
    if not np.isfinite(feats).all():
        raise ValueError(f"the extractor returned NaN or inf for images {start}..{start + rows - 1}")
    return feats


def _extract(src: ImageSource, extractor: Callable[..., Any], batch_size: int, device: Any,
             progress: bool, saved: PartialRows | None) -> np.ndarray:
    """The features of ``src``, batch by batch; with ``saved``, resumed from the rows an earlier run
    saved there, and saved there as they come (also when cut off)."""
    out: np.ndarray | None = None
    earlier = None if saved is None else saved.load()
    if earlier is not None:
        out = np.empty((src.n, earlier.shape[1]), earlier.dtype)
        out[:len(earlier)] = earlier
    done = 0 if earlier is None else len(earlier)
    bar = progress_bar(progress, src.n, "features" if earlier is None else f"features (resumed at {done})", "image")
    if bar is not None and done:
        bar.update(done)
    try:
        for raw in src.batches_from(done, batch_size, device):
            check_image_shape(tuple(int(d) for d in raw.shape), "the source's images")
            images = images_to_uint8(raw, done)
            del raw
            feats = _call(extractor, images, done)
            rows = len(images)
            del images  # the batch's images go before the next batch is made
            if out is None:
                out = np.empty((src.n, feats.shape[1]), feats.dtype)
            elif feats.shape[1] != out.shape[1] or feats.dtype != out.dtype:
                before = f"{out.shape[1]} {out.dtype} before"
                if saved is not None and earlier is not None and done == len(earlier):
                    before = (f"the {done} rows an earlier run that was cut off saved in {saved.folder} have "
                              f"{before[:-7]} (another extractor?): delete that folder to start over")
                raise ValueError(f"the extractor returned {feats.shape[1]} {feats.dtype} features for images "
                                 f"{done}.., {before}")
            out[done:done + rows] = feats
            if saved is not None:  # the rows as stored: an extractor may hand back a view of a buffer it reuses
                saved.add(out[done:done + rows])
            done += rows
            if bar is not None:
                bar.update(rows)
    finally:
        if saved is not None:
            saved.flush()  # rows done before an error or Ctrl-C stay for the next run
        if bar is not None:
            bar.close()
    if out is None or done != src.n:
        raise ValueError(f"the source gave {done} images, expected {src.n}")
    return out


# -- sources ----------------------------------------------------------------------------

class ImageSource:
    """N images in batches, and what identifies them for the cache. ``batches`` yields torch
    [B, C, H, W] images, uint8 or float about [-1, 1] (checked and converted by :func:`features`)."""

    n: int

    def batches(self, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def batches_from(self, start: int, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        """The batches of images ``start``.. (a run resumed from saved rows). This one reads the
        images before ``start`` through :meth:`batches` and drops them; a source that can begin
        anywhere overrides it."""
        seen = 0
        for batch in self.batches(batch_size, device):
            if seen + len(batch) > start:
                yield batch[max(start - seen, 0):]
            seen += len(batch)

    def digest(self) -> str | None:
        raise NotImplementedError


def is_images(source: Any) -> bool:
    """Whether :func:`features` reads ``source`` itself (an array, a tensor, a folder, an ImageSource)."""
    return isinstance(source, (np.ndarray, str, Path, ImageSource)) or is_torch(source)


def _as_source(source: Any) -> ImageSource:
    if isinstance(source, ImageSource):
        return source
    if isinstance(source, (str, Path)):
        return _FolderSource(source)
    if isinstance(source, np.ndarray) or is_torch(source):
        return _ArraySource(source)
    raise ValueError(f"source must be images [N, C, H, W], a folder or an ImageSource, got {type(source).__name__}; "
                     "for a generator use hubness_fast.features.features(G, extractor, n=...)")


def _image_module() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("reading a folder of images needs Pillow: pip install Pillow") from exc
    return Image


def images_to_uint8(x: torch.Tensor, start: int) -> torch.Tensor:
    """A batch as uint8: as it is, or float about [-1, 1] by NVIDIA's conversion."""
    if x.is_floating_point() and not bool(_torch().isfinite(x).all()):
        raise ValueError(f"images {start}..{start + len(x) - 1} hold NaN or inf")
    return to_uint8(x)


class _ArraySource(ImageSource):
    def __init__(self, images: Array) -> None:
        torch = _torch()
        shape = tuple(int(s) for s in images.shape)
        check_image_shape(shape, "images")
        if is_torch(images):
            ok = images.dtype == torch.uint8 or images.is_floating_point()
        else:
            ok = images.dtype == np.uint8 or images.dtype.kind == "f"
        if not ok:
            raise ValueError(f"images must be uint8 (0..255) or float (about [-1, 1]), got {images.dtype}; "
                             f"for other integer images convert to uint8 first")
        self.images, self.n = images, shape[0]

    def _batch(self, s: int, e: int) -> torch.Tensor:
        x = self.images[s:e]
        if not is_torch(x):  # a read-only array (a memory map) is copied: one batch, never written to
            x = _torch().from_numpy(np.ascontiguousarray(x) if x.flags.writeable else np.array(x))
        return images_to_uint8(x.detach(), s)  # converted where the images are

    def batches(self, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        return self.batches_from(0, batch_size, device)

    def batches_from(self, start: int, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        for s in range(start, self.n, batch_size):
            yield self._batch(s, s + batch_size).to(device)

    def digest(self) -> str:
        h = hashlib.sha256(repr(tuple(self.images.shape)).encode())
        for s in range(0, self.n, HASH_BATCH):
            h.update(self._batch(s, s + HASH_BATCH).cpu().contiguous().numpy().tobytes())
        return "pixels-sha256:" + h.hexdigest()


GREY_MODES = ("1", "L", "LA", "La")
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def image_files(folder: str | Path) -> list[Path]:
    """The images of a folder in the order ``features()`` reads them (row i of its features is file i):
    the ``.png`` / ``.jpg`` / ``.jpeg`` files (any case) sorted by name as plain strings (``10.png``
    before ``9.png``), without subfolders and hidden files (a leading dot: macOS's ``._name.png``
    resource forks); a sample folder's ``grid.png`` is left out. A link to a missing file is an error,
    not a file skipped."""
    folder = as_path(folder)
    files = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
            continue
        if p.is_symlink() and not p.exists():
            raise ValueError(f"{p} is a link to a file that does not exist")
        if p.is_file():
            files.append(p)
    if (folder / LATENTS).is_file():  # written by sampling: its grid is no sample
        files = [p for p in files if p.name != GRID]
    return files


def _png_bit_depth(path: Path) -> int | None:
    """A PNG file's bit depth from its header (None for another format)."""
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 25 else None


class _FolderSource(ImageSource):
    def __init__(self, folder: str | Path) -> None:
        Image = _image_module()
        self.folder = as_path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"{self.folder} is not a folder")
        if is_unfinished(self.folder):
            raise ValueError(f"{self.folder} is a sample run's folder that was not finished (interrupted, or still "
                             "being written): its images are not all one run's; run the sample again")
        self.files = image_files(self.folder)
        if not self.files:
            raise ValueError(f"{self.folder} holds no {'/'.join(IMAGE_SUFFIXES)} files (subfolders are not read)")
        grey, first = [], None
        for p in self.files:  # headers only: sizes are checked before any image is decoded
            try:
                with Image.open(p) as im:
                    mode, size = im.mode, im.size
            except (OSError, SyntaxError) as exc:
                raise ValueError(f"cannot read {p}: {exc}") from None
            if mode in WIDE_MODES or _png_bit_depth(p) == 16:  # Pillow reads 16-bit RGB as 8-bit RGB, silently
                raise ValueError(f"{p} has 16-bit or wider pixels; only 8-bit images are read (convert it to 8-bit)")
            if first is None:
                first = (p, size)
            elif size != first[1]:
                hint = " (grid.png, as sampling writes it, is a grid of samples: move it out)" \
                    if "grid.png" in (p.name, first[0].name) else ""
                raise ValueError(f"images differ in size: {first[0].name} is {first[1][0]} x {first[1][1]}, "
                                 f"{p.name} is {size[0]} x {size[1]} (width x height){hint}")
            grey.append(mode in GREY_MODES)
        self.mode = "L" if all(grey) else "RGB"  # a folder mixing grey and colour is read as RGB
        self.n = len(self.files)

    def batches(self, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        return self.batches_from(0, batch_size, device)

    def batches_from(self, start: int, batch_size: int, device: Any) -> Iterator[torch.Tensor]:
        Image, torch = _image_module(), _torch()
        for s in range(start, self.n, batch_size):
            arrays = []
            for p in self.files[s:s + batch_size]:
                try:
                    with Image.open(p) as im:
                        arrays.append(np.asarray(im.convert(self.mode)))
                except (OSError, SyntaxError) as exc:  # a header that reads but a body that does not
                    raise ValueError(f"cannot read {p}: {exc}") from None
            x = np.stack(arrays)
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
            yield torch.from_numpy(np.ascontiguousarray(x)).to(device)

    def digest(self) -> str:
        h = hashlib.sha256(str(self.folder.resolve()).encode())
        for p in self.files:
            st = p.stat()
            h.update(f"\0{p.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return "folder-sha256:" + h.hexdigest()


# -- cache ------------------------------------------------------------------------------

def _cache_path(src: ImageSource, extractor: Callable[..., Any], cache_dir: str | Path | None,
                cache_key: str | None) -> Path | None:
    if cache_dir is None:
        if cache_key is not None:
            raise ValueError("cache_key= names the images for the cache: pass cache_dir= with it")
        return None
    writable_dir(cache_dir, "cache folder")  # before hashing and extraction: a save failing at the end loses it all
    ext_key = _extractor_key(extractor)
    if ext_key is None:
        warn_user(f"features are not cached: the extractor ({type(extractor).__name__}) has no cache_key "
                  f"attribute (set extractor.cache_key to a str naming it)", NotCachedWarning)
        return None
    src_key = f"user:{cache_key}" if cache_key is not None else src.digest()
    if src_key is None:
        warn_user("features are not cached: a generator source needs cache_key= (a str naming the network, "
                  "sampler and seed)", NotCachedWarning)
        return None
    spec = json.dumps({"format": CACHE_FORMAT, "source": src_key, "n": src.n, "extractor": ext_key}, sort_keys=True)
    folder = as_path(cache_dir)
    return folder / f"{hashlib.sha256(spec.encode()).hexdigest()}.npy"


def _read_cached(path: Path, n: int) -> np.ndarray | None:
    """A cache file's features, or None (with a warning naming the file, which is then computed and
    written again) when it cannot be read or does not hold n rows of numbers."""
    try:
        cached = np.load(path, allow_pickle=False)
        fits = cached.ndim == 2 and cached.shape[0] == n and cached.dtype.kind == "f"
        problem = "" if fits else f"holds {cached.dtype} of shape {cached.shape}, not {n} rows of features"
    except (OSError, ValueError, EOFError) as exc:
        problem, cached = f"cannot be read ({exc})", None
    if problem:
        warn_user(f"the cache file {path} {problem}: computing the features again and replacing it")
        return None
    return cached


def _save(path: Path, features: np.ndarray) -> None:
    """Write to a temporary file beside ``path``, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.save(f, features))
