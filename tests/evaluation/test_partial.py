"""PartialRows: rows saved in stretches as they come, read back from row 0, damage dropped."""
import numpy as np
import pytest

from hubness_fast.evaluation.partial import PartialRows


def rows(start, stop, width=3, dtype=np.float32):
    return (np.arange(start, stop)[:, None] * 10 + np.arange(width)).astype(dtype)


def saved(folder, n, *stretches):
    store = PartialRows(folder, n, every_s=0.0)  # every add saves a stretch
    for start, stop, *rest in stretches:
        store.add(rows(start, stop, *rest))
    return store


def test_stretches_are_saved_as_added_and_read_back_in_order(tmp_path):
    saved(tmp_path / "p", 9, (0, 4), (4, 5), (5, 9))
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "0000000000-0000000004.npy", "0000000004-0000000005.npy", "0000000005-0000000009.npy"]
    again = PartialRows(tmp_path / "p", 9)
    np.testing.assert_array_equal(again.load(), rows(0, 9))
    assert again.start == 9


def test_pending_rows_wait_for_the_interval_or_flush(tmp_path):
    store = PartialRows(tmp_path / "p", 6, every_s=3600)
    store.add(rows(0, 2))
    store.add(rows(2, 3))
    assert not (tmp_path / "p").exists()
    store.flush()
    store.flush()  # nothing pending: nothing written
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["0000000000-0000000003.npy"]
    store.add(rows(3, 6))
    store.discard()
    assert not (tmp_path / "p").exists() and store.pending == []


def test_nothing_saved_is_none(tmp_path):
    store = PartialRows(tmp_path / "missing", 5)
    assert store.load() is None and store.start == 0


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "0000000003-0000000005.npy").unlink(), "start at row 5, not at row 3"),
    (lambda d: (d / "0000000003-0000000005.npy").write_bytes(b"garbage"), "cannot be read"),
    (lambda d: np.save(d / "0000000003-0000000005.npy", rows(3, 5, width=4)), "4 float32 columns, 3 float32"),
    (lambda d: np.save(d / "0000000003-0000000005.npy", rows(3, 6)), "not 2 rows of numbers"),
    (lambda d: np.save(d / "0000000003-0000000005.npy", rows(3, 5).astype(np.int32)), "not 2 rows of numbers"),
    (lambda d: np.save(d / "0000000008-0000000012.npy", rows(8, 12)), "end at row 11, not inside the 10 rows"),
])
def test_a_damaged_stretch_ends_what_is_kept_and_goes_with_those_after_it(tmp_path, damage, match):
    saved(tmp_path / "p", 10, (0, 3), (3, 5), (5, 8))
    damage(tmp_path / "p")
    store = PartialRows(tmp_path / "p", 10)
    with pytest.warns(UserWarning, match=match):
        got = store.load()
    kept = 8 if "inside" in match else 3
    np.testing.assert_array_equal(got, rows(0, kept))
    assert store.start == kept
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["0000000000-0000000003.npy", "0000000003-0000000005.npy", "0000000005-0000000008.npy"][
        :1 if kept == 3 else 3]
    store.add(rows(kept, 10))
    store.flush()
    np.testing.assert_array_equal(PartialRows(tmp_path / "p", 10).load(), rows(0, 10))


def test_files_of_other_names_are_left_alone(tmp_path):
    saved(tmp_path / "p", 4, (0, 2))
    (tmp_path / "p" / "notes.txt").write_text("mine")
    (tmp_path / "p" / ".0000000000-0000000002.npy.x.tmp").write_bytes(b"")  # a save cut off mid-write
    np.testing.assert_array_equal(PartialRows(tmp_path / "p", 4).load(), rows(0, 2))
    assert (tmp_path / "p" / "notes.txt").read_text() == "mine"
