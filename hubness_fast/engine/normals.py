"""N(0, I) float32 matrices from a counter-based stream: the same bits on every CPU, kernel level
and thread count, about 10 times faster than numpy's single stream on 2 cores with AVX-512 (the
latent miner's pools, ``sampling.mining``).

The stream of a key (4 uint32 words k0, k1, c2, c3) is Philox4x32-10 (Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC'11) with key (k0, k1) on counters (b mod 2^32, b div 2^32,
c2, c3), b = 0, 1, 2, ... , each block's four words turned into four normals by Box-Muller in
float32 (the polynomials and the order of the values are in ``csrc/cpu/normals_impl.h``). Values
come in chunks of 64 (16 blocks); a draw starts at a whole chunk and fills a matrix row by row.
The largest value the stream can give is 6.660437 in absolute value (a tail of probability 3e-11).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from . import _native
from .._inputs import check_threads

CHUNK = 64  # values per chunk: a draw starts at a chunk boundary
STREAM_CHUNKS = 2 ** 60  # chunks in the stream of one key (the block counter is 64 bits)


def chunks(n: int) -> int:
    """Chunks a draw of n values takes from the stream (the next draw starts after them)."""
    return -(-int(n) // CHUNK)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _integers(values: Any) -> list[int] | None:
    """A 1-D sequence of integers (a list, tuple, numpy array or tensor) as Python ints; None for
    anything else (strings, floats, bools, nesting)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        return None
    if isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in values):
        return None  # numpy would count True as 1
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        return None
    if array.ndim != 1 or array.dtype.kind not in "iu":
        return None
    return [int(v) for v in array]


def standard_normal(key: Sequence[int], shape: int | tuple[int, ...], *, chunk0: int = 0,
                    n_threads: int | None = None, threads: int | None = None) -> np.ndarray:
    """A float32 array of the given shape, filled in C order with the stream of ``key`` from chunk
    ``chunk0`` on; on ``n_threads`` threads (None: all, as everywhere; ``threads``, its earlier
    name, also takes 0 for all), at the kernel level HUBNESS_FAST_SIMD picks. The values do not
    depend on the thread count.

    ``key``: 4 integers in [0, 2^32), for example ``SeedSequence(...).generate_state(4)``."""
    words = _integers(key)
    if words is None or len(words) != 4 or not all(0 <= w < 2 ** 32 for w in words):
        raise ValueError(f"the key of a normal stream is 4 integers in [0, 2^32), got {key!r}")
    sizes = [int(cast(int, shape))] if _is_int(shape) else _integers(shape)
    if sizes is None:
        raise ValueError(f"shape must be an integer or a tuple of integers, got {shape!r}")
    dims = tuple(int(d) for d in sizes)
    if any(d < 0 for d in dims):
        raise ValueError(f"negative dimensions are not allowed, got {dims}")
    if threads is not None and n_threads is not None:
        raise ValueError("give n_threads or threads (its earlier name), not both")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0: every core), got {threads!r}")
        n_threads = None if threads == 0 else threads
    count = check_threads(n_threads)
    if isinstance(chunk0, bool) or not isinstance(chunk0, (int, np.integer)) or chunk0 < 0:
        raise ValueError(f"chunk0 must be an integer >= 0, got {chunk0!r}")
    n = int(np.prod(dims, dtype=np.int64))
    if int(chunk0) + chunks(n) > STREAM_CHUNKS:
        raise ValueError(f"a draw of {n} values from chunk {chunk0} runs past the end of the stream "
                         f"(2^60 chunks)")
    return _native.cpu.standard_normal(words, int(chunk0), n, _native.threads(count),
                                       _native.simd_level()).reshape(dims)
