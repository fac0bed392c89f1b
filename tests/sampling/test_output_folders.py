"""Nothing of the user's is lost: sample folders refuse foreign files and mark an unfinished run, a
bank's rows count as used only once rendered, a bank folder refuses foreign files and is never
"complete" while its files change, and output files are replaced whole or not at all."""
import json
import socket
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hubness_fast._files import atomic_write, writable_file
from hubness_fast._samples import UNFINISHED
from hubness_fast.features import features
from hubness_fast.sampling import sample
from hubness_fast.sampling import bank as bank_files
from hubness_fast.sampling import mining
from hubness_fast.sampling.mining import mine, open_bank, sample_bank, status
from standins import StyleGANStandIn

TINY_Z = dict(z_dim=8, k=5, threshold=12, pool_size=400, progress=False)  # about 20 latents a pool


class Interrupted(StyleGANStandIn):
    """Renders ``good`` images, then the next synthesis call is a Ctrl-C."""

    def __init__(self, good, **kw):
        super().__init__(img_resolution=8, img_channels=1, seed=3, **kw)
        self.good = good
        self.synthesis.register_forward_pre_hook(self.count)

    def count(self, module, inputs):
        if self.good <= 0:
            raise KeyboardInterrupt
        self.good -= len(inputs[0])


def flat(u8):
    return u8.flatten(1).float()


def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "20240101.png").write_bytes(b"mine")  # a name of six digits or more: it was deleted before
    (photos / "holiday.png").write_bytes(b"also mine")
    with pytest.raises(ValueError, match=r"not a sample folder of this version .*it holds 20240101.png, holiday.png"):
        sample(G, 3, "random", outdir=photos, progress=False)
    assert sorted(p.name for p in photos.iterdir()) == ["20240101.png", "holiday.png"]
    assert (photos / "20240101.png").read_bytes() == b"mine"


def test_a_rerun_into_a_sample_folder_replaces_it_and_finishes_clean(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    out = tmp_path / "s"
    sample(G, 7, "random", outdir=out, seed=1, progress=False)
    (out / "notes.txt").write_text("kept")  # the user's file in a sample folder: never removed
    second = sample(G, 4, "random", outdir=out, seed=2, progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png", "grid.png", "latents.npz", "notes.txt"]
    np.testing.assert_array_equal(np.load(out / "latents.npz")["z"], second.z)


def test_an_interrupted_run_is_marked_and_refused_as_a_folder_of_images(tmp_path):
    out = tmp_path / "s"
    sample(StyleGANStandIn(img_resolution=8, img_channels=1, seed=3), 6, "random", outdir=out, seed=1,
           batch_size=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        sample(Interrupted(good=2), 6, "random", outdir=out, seed=2, batch_size=2, progress=False)
    assert (out / UNFINISHED).is_file() and not (out / "latents.npz").exists()  # images of two runs: no latents
    with pytest.raises(ValueError, match="was not finished"):
        features(out, flat, progress=False)
    done = sample(StyleGANStandIn(img_resolution=8, img_channels=1, seed=3), 6, "random", outdir=out, seed=2,
                  batch_size=2, progress=False)  # the rerun finishes it
    assert not (out / UNFINISHED).exists()
    np.testing.assert_array_equal(np.load(out / "latents.npz")["z"], done.z)
    assert features(out, flat, progress=False).shape == (6, 64)


def test_a_banks_rows_count_as_used_only_once_rendered(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    bank = open_bank(mine(G, 40, tmp_path / "b", space="w", k=5, threshold=8, pool_size=500, progress=False).path)
    sample_bank(G, bank, 10)
    assert "10 rendered" in status(bank.path)
    with pytest.raises(KeyboardInterrupt):
        sample_bank(Interrupted(good=4), bank, 12, batch_size=4)
    assert "10 rendered" in status(bank.path)  # the cursor did not move: the 12 rows are handed out again
    again = sample_bank(G, bank, 12)
    np.testing.assert_array_equal(again.hub_values, bank.hub_values[10:22])
    assert "22 rendered" in status(bank.path)
    feats = features(G, flat, n=5, sampler=bank.sampler(), progress=False)  # an image source commits at its end
    assert feats.shape == (5, 64) and "27 rendered" in status(bank.path)
    s = bank.sampler()
    first, second = s.latents(G, 2), s.latents(G, 3)  # handed out in turn, not yet rendered
    np.testing.assert_array_equal(np.concatenate([first.w, second.w]), bank.w[27:32])
    assert "27 rendered" in status(bank.path)
    s.commit()
    assert "32 rendered" in status(bank.path)


def test_mining_refuses_a_folder_of_other_files(tmp_path):
    folder = tmp_path / "foreign"
    folder.mkdir()
    np.save(folder / "z.npy", np.arange(10.0))
    with pytest.raises(ValueError, match=r"holds files but no bank \(z.npy\)"):
        mine(None, 20, folder, **TINY_Z)
    assert sorted(p.name for p in folder.iterdir()) == ["z.npy"]
    np.testing.assert_array_equal(np.load(folder / "z.npy"), np.arange(10.0))


def test_a_bank_is_not_complete_while_its_files_are_replaced(tmp_path, monkeypatch):
    b = tmp_path / "b"
    mine(None, 50, b, **TINY_Z)
    mine(None, 20, b, **TINY_Z)  # cut: the pools stay for a larger n
    calls = []
    real = os.replace

    def interrupted(src, dst):
        calls.append(dst)
        if str(dst).endswith(".npy") and len([c for c in calls if str(c).endswith(".npy")]) == 2:
            raise KeyboardInterrupt  # between two field files: z.npy has 50 rows, hub_values.npy 20
        return real(src, dst)

    monkeypatch.setattr(mining.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mine(None, 50, b, **TINY_Z)  # nothing to mine: only the consolidation runs
    monkeypatch.setattr(mining.os, "replace", real)
    assert not json.loads((b / "bank.json").read_text())["complete"]
    with pytest.raises(ValueError, match="not complete"):
        open_bank(b)
    assert "partial" in status(b)
    mine(None, 50, b, **TINY_Z)  # the same command finishes it
    bank = open_bank(b)
    assert len(bank) == 50 and bank.hub_values.shape == (50,)


def test_an_output_file_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "counts.npy"
    np.save(target, np.arange(5))

    def failing(f):
        f.write(b"\x93NUMPY half a file")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, failing)
    np.testing.assert_array_equal(np.load(target), np.arange(5))  # the earlier file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counts.npy"]  # no temporary file left
    atomic_write(target, lambda f: np.save(f, np.arange(3)))
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    (tmp_path / "adir").mkdir()
    with pytest.raises(ValueError, match="it is a folder"):
        writable_file(tmp_path / "adir", "output file", ".npy")  # it wrote adir.npy beside the folder


def test_files_written_through_a_temporary_name_get_the_umasks_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "counts.npy", lambda f: np.save(f, np.arange(3)))
        mine(None, 20, tmp_path / "b", **TINY_Z)
    finally:
        os.umask(old)
    assert (tmp_path / "counts.npy").stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 before
    for name in ("bank.json", "z.npy", "hub_values.npy"):
        assert (tmp_path / "b" / name).stat().st_mode & 0o777 == 0o644, name


def test_save_latents_writes_whole_files_and_appends_npz(tmp_path):
    from hubness_fast.sampling.latents import Latents, save_latents

    lat = Latents(np.arange(6, dtype=np.float32).reshape(3, 2), labels=np.array([0, 1, 0]))
    save_latents(tmp_path / "chosen", lat, truncation=0.5)
    with np.load(tmp_path / "chosen.npz") as z:
        assert sorted(z.files) == ["labels", "truncation", "z"] and float(z["truncation"]) == 0.5
        np.testing.assert_array_equal(z["z"], lat.z)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chosen.npz"]


def test_a_failed_render_gives_its_rows_back_to_the_same_sampler(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    bank = open_bank(mine(G, 40, tmp_path / "b", space="w", k=5, threshold=8, pool_size=500, progress=False).path)
    s = bank.sampler()
    with pytest.raises(KeyboardInterrupt):
        s.sample(Interrupted(good=4), 12, 4)
    again = s.sample(G, 12, 4)  # the same sampler, retried (a notebook after an out-of-memory error)
    np.testing.assert_array_equal(again.hub_values, bank.hub_values[:12])
    assert "12 rendered" in status(bank.path)

    def failing(u8):
        raise RuntimeError("the detector failed")

    with pytest.raises(RuntimeError):
        features(G, failing, n=5, sampler=s, progress=False)
    assert "12 rendered" in status(bank.path) and not (bank.path / bank_files.LOCK).exists()
    np.testing.assert_array_equal(s.latents(G, 2).w, bank.w[12:14])
    s.release()


def test_two_renders_from_one_bank_do_not_get_the_same_rows(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    bank = open_bank(mine(G, 40, tmp_path / "b", space="w", k=5, threshold=8, pool_size=500, progress=False).path)
    first, second = bank.sampler(), bank.sampler()
    first.latents(G, 10)  # handed out, not yet rendered
    with pytest.raises(ValueError, match="another render from the bank .* is running \\(this process\\)"):
        second.latents(G, 10)
    np.testing.assert_array_equal(bank.sampler(offset=10).latents(G, 5).w, bank.w[10:15])  # by offset: allowed
    first.commit()
    np.testing.assert_array_equal(second.latents(G, 10).w, bank.w[10:20])
    second.release()
    (bank.path / bank_files.LOCK).write_text(f"{socket.gethostname()} 999999999 1\n")  # a process that ended
    np.testing.assert_array_equal(bank.sampler().latents(G, 3).w, bank.w[10:13])


def test_an_output_file_behind_a_link_is_written_through_it(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "counts.npy"
    np.save(target, np.arange(4))
    target.chmod(0o640)
    (tmp_path / "out.npy").symlink_to(target)
    atomic_write(tmp_path / "out.npy", lambda f: np.save(f, np.arange(2)))
    assert (tmp_path / "out.npy").is_symlink()
    np.testing.assert_array_equal(np.load(target), np.arange(2))
    assert target.stat().st_mode & 0o777 == 0o640  # an existing file keeps its permissions


def test_a_refused_sample_leaves_no_folder(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        sample(G, 0, "random", outdir=tmp_path / "never", progress=False)
    assert not (tmp_path / "never").exists()


def test_a_render_that_fails_before_its_first_image_leaves_the_folder_as_it_found_it(tmp_path):
    # a generator failing on its first batch left a new folder holding only the unfinished mark
    with pytest.raises(KeyboardInterrupt):
        sample(Interrupted(good=0), 6, "random", outdir=tmp_path / "new", seed=2, batch_size=2, progress=False)
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeyboardInterrupt):
        sample(Interrupted(good=0), 6, "random", outdir=tmp_path / "empty", seed=2, batch_size=2, progress=False)
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())
    sample(StyleGANStandIn(img_resolution=8, img_channels=1, seed=3), 4, "random", outdir=tmp_path / "done",
           seed=1, batch_size=2, progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "done").iterdir()}
    with pytest.raises(KeyboardInterrupt):  # an earlier run's folder stays as it was, latents.npz and all
        sample(Interrupted(good=0), 6, "random", outdir=tmp_path / "done", seed=2, batch_size=2, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "done").iterdir()} == before
    assert features(tmp_path / "done", flat, progress=False).shape == (4, 64)
