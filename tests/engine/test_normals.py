"""The engine's N(0, I) stream (engine.standard_normal): Philox4x32-10 against its published test
vectors, every value against an independent numpy rebuild of the documented rule (float64
Box-Muller), the same bits at every kernel level and thread count, and the distribution."""
from __future__ import annotations

import numpy as np
import pytest

from hubness_fast import engine
from hubness_fast.engine import _native, standard_normal

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox_numpy(ctr: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 on rows of 4 counter words (uint64 arrays holding 32-bit values), in numpy."""
    x = [ctr[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = key
    for _ in range(10):
        p0, p1 = np.uint64(M0) * x[0], np.uint64(M1) * x[2]
        x = [(p1 >> np.uint64(32)) ^ x[1] ^ np.uint64(k0), p1 & np.uint64(MASK),
             (p0 >> np.uint64(32)) ^ x[3] ^ np.uint64(k1), p0 & np.uint64(MASK)]
        k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
    return np.stack(x, axis=1)


def philox_inverse(words: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """The counter Philox4x32-10 maps to ``words`` under ``key``: each round is undone from its low
    products (multiplication by an odd constant is invertible mod 2^32)."""
    y0, y1, y2, y3 = words
    inv0, inv1 = pow(M0, -1, 2 ** 32), pow(M1, -1, 2 ** 32)
    for r in reversed(range(10)):
        k0, k1 = (key[0] + r * W0) & MASK, (key[1] + r * W1) & MASK
        x0, x2 = (y3 * inv0) & MASK, (y1 * inv1) & MASK
        x1, x3 = y0 ^ ((M1 * x2) >> 32) ^ k0, y2 ^ ((M0 * x0) >> 32) ^ k1
        y0, y1, y2, y3 = x0, x1, x2, x3
    return y0, y1, y2, y3


def values_of_words(words: tuple[int, int, int, int], k01: tuple[int, int] = (0x1234, 0xABCDEF)) -> np.ndarray:
    """The engine's four normals of a Philox block whose output is ``words``: the counter is found by
    inversion, its last two words become the key's, its first two the block index."""
    x0, x1, x2, x3 = philox_inverse(words, k01)
    block = x0 | (x1 << 32)
    z = standard_normal([k01[0], k01[1], x2, x3], 64, chunk0=block // 16)
    return z[block % 16::16]  # j = 0..3 of lane block % 16


def normals_numpy(key: list[int], n: int, chunk0: int = 0) -> np.ndarray:
    """The documented rule in float64: block b = 16 c + l of chunk c gives words w0..w3; chunk c's
    64 values are [16 j + l]: j = 0, 1 cos and sin of (w0, w1), j = 2, 3 of (w2, w3); a pair (a, t):
    radius sqrt(-2 ln u), u = fl32(fl32(a >> 1) 2^-31 + 2^-32) (float32 roundings: near u = 1 they
    move the radius by more than the arithmetic does), angle 2 pi (t >> 8) 2^-24 turns."""
    n_chunks = -(-n // 64)
    blocks = np.arange(chunk0 * 16, (chunk0 + n_chunks) * 16, dtype=np.uint64)
    ctr = np.stack([blocks & np.uint64(MASK), blocks >> np.uint64(32), np.full_like(blocks, key[2]),
                    np.full_like(blocks, key[3])], axis=1)
    w = philox_numpy(ctr, (key[0], key[1])).reshape(n_chunks, 16, 4)

    def pair(a, t):
        half = (a >> np.uint64(1)).astype(np.float32).astype(np.float64)
        u = (half * 2.0 ** -31 + 2.0 ** -32).astype(np.float32).astype(np.float64)  # exact in float64, one rounding
        radius = np.sqrt(-2 * np.log(u))
        angle = 2 * np.pi * (t >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
        return radius * np.cos(angle), radius * np.sin(angle)

    c01, s01 = pair(w[..., 0], w[..., 1])
    c23, s23 = pair(w[..., 2], w[..., 3])
    return np.stack([c01, s01, c23, s23], axis=1).reshape(-1)[:n]  # [chunk, j, lane]


def test_philox_matches_the_published_test_vectors():
    # Random123's known-answer vectors for philox4x32 with 10 rounds
    cases = [([0, 0, 0, 0], [0, 0], (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ([MASK] * 4, [MASK] * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, want in cases:
        assert _native.cpu.philox4x32_10(ctr, key) == want
        assert tuple(int(v) for v in philox_numpy(np.array([ctr], np.uint64), tuple(key))[0]) == want


@pytest.mark.parametrize("key", [[0, 0, 0, 0], [1, 2, 3, 4], [MASK, 7, MASK, 0x80000000]])
def test_every_value_is_the_documented_rule(key):
    z = standard_normal(key, 200_003)
    want = normals_numpy(key, 200_003)
    assert z.dtype == np.float32 and z.shape == (200_003,)
    # float32 polynomials against float64 libm: a few units in the last place of float32
    err = np.abs(z.astype(np.float64) - want)
    assert np.all(err <= 4e-7 * np.maximum(np.abs(want), 1.0)), err.max()
    # the same rule from a later chunk
    np.testing.assert_allclose(standard_normal(key, 1000, chunk0=12345), normals_numpy(key, 1000, 12345),
                               rtol=4e-7, atol=4e-7)


def test_edge_words():
    assert philox_numpy(np.array([philox_inverse((1, 2, 3, 4), (5, 6))], np.uint64), (5, 6)).tolist() == [[1, 2, 3, 4]]
    # u = 2^-32 (a >> 1 = 0): the largest radius, on the cosine at angle 0, with sine +0
    z = values_of_words((0, 0, 1, 0))
    assert z[0] == np.float32(6.660437) and np.abs(standard_normal([9, 9, 9, 9], 1 << 20)).max() < z[0]
    assert z[1] == 0 and not np.signbit(z[1])
    # u = 1 (a >> 1 = 2^31 - 1 rounds to 1): radius 0, so both values are zeros
    z = values_of_words((MASK, 12345, MASK - 1, MASK))
    assert np.all(z == 0)
    # angles at and beside the quarter-turn splits (t >> 8 = 2^22 q and the rounding point 2^22 q + 2^21),
    # at the end of the turn, and a small one where the sine must keep its relative accuracy
    for turn in (1, 2 ** 21 - 1, 2 ** 21, 2 ** 21 + 1, 2 ** 22 - 1, 2 ** 22, 2 ** 23, 3 * 2 ** 22 + 2 ** 21,
                 2 ** 24 - 1):
        a = 0x40000000  # u = 1/4
        z = values_of_words((a, turn << 8, a, (turn << 8) | 0xFF))
        angle = 2 * np.pi * turn * 2.0 ** -24
        radius = np.sqrt(-2 * np.log(0.25))
        want = np.array([np.cos(angle), np.sin(angle)] * 2) * radius
        assert np.all(np.abs(z - want) <= 4e-7 * np.maximum(np.abs(want), 1.0)), (turn, z, want)
        assert np.all(np.sign(z) == np.sign(np.round(want, 12)))
    z = values_of_words((0x40000000, 1 << 8, 0, 0))
    assert abs(z[1] / (np.sqrt(-2 * np.log(0.25)) * np.sin(2 * np.pi * 2.0 ** -24)) - 1) < 4e-7


GOLDEN = "444d8bc1be4a0644fac5e84463a95a50e6da20a53dd2e50d6f385ad1e9575896"


def test_the_stream_is_pinned():
    """The bank format /3 stores latents of this stream: a change of any bit is a new format."""
    import hashlib

    z = standard_normal([0x01234567, 0x89ABCDEF, 0xDEADBEEF, 7], 1 << 16)
    assert hashlib.sha256(z.tobytes()).hexdigest() == GOLDEN


def test_the_same_bits_at_every_level_and_thread_count(monkeypatch):
    key = [11, 22, 33, 44]
    want = standard_normal(key, (3001, 67))
    for level in _native.SIMD_LEVELS:
        monkeypatch.setenv("HUBNESS_FAST_SIMD", level)
        for threads in (1, 2, 3):
            np.testing.assert_array_equal(standard_normal(key, (3001, 67), threads=threads), want)
            np.testing.assert_array_equal(standard_normal(key, (3001, 67), n_threads=threads), want)
        for every_core in ({"threads": 0}, {"threads": None}, {"n_threads": None}):
            np.testing.assert_array_equal(standard_normal(key, (3001, 67), **every_core), want)
    monkeypatch.setenv("HUBNESS_FAST_SIMD", "amx-reference")  # the portable build, on any CPU
    np.testing.assert_array_equal(_native.cpu.standard_normal(key, 0, want.size, 1, "amx-reference"),
                                  want.reshape(-1))


def test_draws_are_prefixes_and_continuations_of_one_stream():
    key = [5, 6, 7, 8]
    long = standard_normal(key, 64 * 50)
    for n in (0, 1, 63, 64, 65, 1000):
        np.testing.assert_array_equal(standard_normal(key, n), long[:n])
    np.testing.assert_array_equal(standard_normal(key, 130, chunk0=3), long[192:322])
    assert engine.normals.chunks(0) == 0 and engine.normals.chunks(64) == 1 and engine.normals.chunks(65) == 2
    assert standard_normal(key, (0, 5)).shape == (0, 5)


def test_keys_give_different_streams():
    draws = [standard_normal(k, 4096) for k in ([1, 2, 3, 4], [2, 2, 3, 4], [1, 3, 3, 4], [1, 2, 4, 4],
                                                [1, 2, 3, 5])]
    for i in range(len(draws)):
        for j in range(i):
            assert abs(float(np.corrcoef(draws[i], draws[j])[0, 1])) < 0.08


def test_the_values_are_standard_normal():
    from scipy import stats

    z = standard_normal([2024, 12, 6, 0], 1 << 21).astype(np.float64)
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n) and abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n) and abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    tail = np.mean(np.abs(z) > 3)  # 0.0027 for N(0, 1)
    assert abs(tail - 0.0026998) < 5 * np.sqrt(0.0027 / n)
    # no structure across the 64 positions of a chunk, nor between neighbours
    per_position = (z.reshape(-1, 64) ** 2).mean(axis=0)
    assert np.all(np.abs(per_position - 1) < 5 * np.sqrt(2 / (n / 64)))
    for lag in (1, 16, 32, 64):
        assert abs(float(np.corrcoef(z[:-lag], z[lag:])[0, 1])) < 5 / np.sqrt(n)
    # the two values of a Box-Muller pair are uncorrelated, and so are their squares
    c = z.reshape(-1, 4, 16)
    assert abs(float(np.corrcoef(c[:, 0].ravel(), c[:, 1].ravel())[0, 1])) < 5 / np.sqrt(n / 4)
    assert abs(float(np.corrcoef(c[:, 0].ravel() ** 2, c[:, 1].ravel() ** 2)[0, 1])) < 5 / np.sqrt(n / 4)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="4 integers"):
        standard_normal([1, 2, 3], 10)
    with pytest.raises(ValueError, match="4 integers"):
        standard_normal([1, 2, 3, 2 ** 32], 10)
    with pytest.raises(ValueError, match="negative"):
        standard_normal([1, 2, 3, 4], (-1, 3))
    # these were converted: "12" gave shape (1, 2), (2.7, 1.2) gave (2, 1) and a word of 1.5 became 1
    for shape in ("12", (2.7, 1.2), 2.7, True):
        with pytest.raises(ValueError, match="shape must be an integer or a tuple of integers"):
            standard_normal([1, 2, 3, 4], shape)
    for key in ([1.5, 2, 3, 4], "1234", [True, 2, 3, 4], 7):
        with pytest.raises(ValueError, match="4 integers"):
            standard_normal(key, 10)
    key = np.random.SeedSequence(5).generate_state(4)  # numpy uint32 words, as the docstring suggests
    assert standard_normal(key, (np.int64(2), 3)).shape == (2, 3)
    with pytest.raises(ValueError, match=">= 0"):
        standard_normal([1, 2, 3, 4], 3, chunk0=-1)
    with pytest.raises(ValueError, match=r"threads must be an integer >= 0 \(0: every core\), got -1"):
        standard_normal([1, 2, 3, 4], 3, threads=-1)
    with pytest.raises(ValueError, match="n_threads must be a positive integer or None, got 0"):
        standard_normal([1, 2, 3, 4], 3, n_threads=0)  # 0 is "every core" under the earlier name only
    with pytest.raises(ValueError, match="not both"):
        standard_normal([1, 2, 3, 4], 3, n_threads=1, threads=1)
    with pytest.raises(ValueError, match="chunk0 must be an integer >= 0, got 1.5"):
        standard_normal([1, 2, 3, 4], 3, chunk0=1.5)
    # the block counter is 64 bits: the stream ends at chunk 2^60
    end = engine.normals.STREAM_CHUNKS
    assert standard_normal([1, 2, 3, 4], 64, chunk0=end - 1).shape == (64,)
    with pytest.raises(ValueError, match="past the end"):
        standard_normal([1, 2, 3, 4], 65, chunk0=end - 1)
    with pytest.raises(ValueError, match="past the end"):
        _native.cpu.standard_normal([1, 2, 3, 4], end - 1, 65, 1, "generic")
    with pytest.raises(ValueError, match="n_threads"):
        _native.cpu.standard_normal([1, 2, 3, 4], 0, 65, -1, "generic")


def test_keys_and_shapes_as_arrays_are_taken():
    want = standard_normal([1, 2, 3, 4], (2, 3))
    np.testing.assert_array_equal(standard_normal(np.array([1, 2, 3, 4], np.uint32), np.array([2, 3])), want)
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(standard_normal(torch.tensor([1, 2, 3, 4]), (2, 3)), want)
