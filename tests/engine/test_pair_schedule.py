"""The self-join's block-pair schedule (csrc/cpu/pair_schedule.h), run by idle threads through the
test binding: every unordered block pair handed out exactly once, never two threads on one block,
and memory of a bit per pair (a stored pair list took 33 bytes a pair: 0.8 GB at four million rows)."""
import numpy as np
import pytest

from hubness_fast import _cpu

KBLOCK = 576  # rows per block (csrc/cpu/packing.h)


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 4, 5, 7, 8, 16, 33, 64, 101])
@pytest.mark.parametrize("n_threads", [1, 2, 3, 8])
def test_every_pair_once_and_no_block_shared(n_blocks, n_threads):
    pairs, shared, _ = _cpu.pair_schedule_trace(n_blocks, n_threads)
    assert shared == 0
    got = np.sort(pairs, axis=1)
    want = np.array([(i, j) for i in range(n_blocks) for j in range(i, n_blocks)])
    assert len(got) == len(want)
    np.testing.assert_array_equal(np.unique(got, axis=0), want)


def test_memory_is_a_bit_per_block_pair():
    n_blocks = -(-4_000_000 // KBLOCK)  # four million rows
    pairs, _, nbytes = _cpu.pair_schedule_trace(n_blocks, 0)
    assert len(pairs) == 0
    n_pairs = n_blocks * (n_blocks + 1) // 2
    assert n_pairs // 8 <= nbytes <= n_pairs // 8 + 32 * n_blocks + 4096  # 3 MB, not 0.8 GB


@pytest.mark.parametrize("args", [(0, 1), (4, -1), (4, 65)])
def test_bad_arguments_are_refused(args):
    with pytest.raises(ValueError, match="n_blocks >= 1"):
        _cpu.pair_schedule_trace(*args)
