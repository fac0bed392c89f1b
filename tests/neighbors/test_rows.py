"""The transformer's lookup of fitted rows by value: exact, lowest index first, collisions resolved."""
import numpy as np
import pytest

from hubness_fast.neighbors import _rows
from hubness_fast.neighbors._rows import RowIndex


def oracle(fit_x, q):
    """For each query row, the lowest index of an equal fitted row (== on values), or -1."""
    eq = np.all(fit_x[None, :, :] == q[:, None, :], axis=2)
    return np.where(eq.any(axis=1), eq.argmax(axis=1), -1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("collide", [False, True])
def test_row_index_finds_the_lowest_equal_fitted_row(rng, monkeypatch, dtype, collide):
    x = rng.integers(0, 3, (300, 3)).astype(dtype)  # many exact duplicates
    x[5] = [-0.0, 1.0, 2.0]
    q = np.concatenate([x[::7], rng.integers(0, 4, (50, 3)).astype(dtype), [[0.0, 1.0, 2.0]]]).astype(dtype)
    if collide:  # every row one hash: each candidate must be checked by value
        monkeypatch.setattr(_rows, "row_hashes", lambda a: np.zeros(len(a), np.uint64))
    got = RowIndex(x).find(x, q)
    np.testing.assert_array_equal(got, oracle(x, q))
    assert (got == -1).any() and (got >= 0).any()
