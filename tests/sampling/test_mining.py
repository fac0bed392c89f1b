"""Mining banks of hub latents: the same bank for any number of workers (1 process, 2 processes, a Dask
cluster) and after a kill -9 and a resume, corrupt pools mined again, other settings refused, the
bank's values against float64 brute force of its pools, and rendering from a bank against the
model's own render."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hubness_fast.engine import standard_normal
from hubness_fast.sampling.mining import mine, open_bank, pool_rng, sample_bank, status
from clirun import run
from oracles import brute_hub_counts
from recompute import read_png
from standins import StyleGANStandIn

TESTS = Path(__file__).resolve().parents[1]
FILES = ("z.npy", "hub_values.npy", "pool_index.npy", "position.npy", "bank.json")
Z_BANK = dict(z_dim=16, k=5, threshold=12, pool_size=2000, progress=False)  # about 150 latents a pool


def cli(*args, cwd):
    return run(args, cwd=cwd)


def same_bank(a, b, files=FILES):
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_the_bank_is_the_float64_hub_latents_of_its_pools(tmp_path):
    r = mine(None, 400, tmp_path / "b", **Z_BANK)
    bank = open_bank(tmp_path / "b")
    assert len(bank) == r.rows == 400 and bank.w is None and bank.labels is None
    assert 0 < r.writer_seconds < r.seconds and r.computed == r.pools
    assert list(np.unique(bank.pool_index)) == list(range(r.pools))
    order = np.lexsort((bank.position, bank.pool_index))
    np.testing.assert_array_equal(order, np.arange(400))  # rows by pool, then by position in the pool
    for i in range(r.pools):
        # a redraw of pool i by the documented rule: the engine's normal stream keyed by the first 4
        # words of SeedSequence([seed, 0, i]) (the stream itself is tested against numpy in
        # tests/engine/test_normals.py)
        z = standard_normal(np.random.SeedSequence([0, 0, i]).generate_state(4), (2000, 16))
        values = brute_hub_counts(z, 5)
        rows = bank.pool_index == i
        kept = np.flatnonzero(values >= 12)
        if i < r.pools - 1:  # every pool but the last is kept whole
            np.testing.assert_array_equal(bank.position[rows], kept)
        np.testing.assert_array_equal(bank.z[rows], z[bank.position[rows]])
        np.testing.assert_array_equal(bank.hub_values[rows], values[bank.position[rows]])


def test_pool_draws_come_from_the_engine_stream():
    seq = np.random.SeedSequence([3, 8, 11])  # seed 3, class 7, pool 11
    rng = pool_rng(3, 7, 11)
    first, second = rng.standard_normal((5000, 8), dtype=np.float32), rng.standard_normal((3, 8), dtype=np.float32)
    np.testing.assert_array_equal(first, standard_normal(seq.generate_state(4), (5000, 8)))
    # a second matrix continues the stream at the next whole chunk of 64 values
    np.testing.assert_array_equal(second, standard_normal(seq.generate_state(4), (3, 8), chunk0=625))
    assert first.dtype == np.float32 and abs(float(first.mean())) < 0.02 and abs(float(first.std()) - 1) < 0.02
    # anything else is numpy's own stream on the pool's seed
    want = np.random.default_rng(np.random.SeedSequence([3, 8, 11]))
    assert pool_rng(3, 7, 11).integers(0, 10**9) == want.integers(0, 10**9)
    np.testing.assert_array_equal(pool_rng(3, 7, 11).standard_normal(4), np.random.default_rng(
        np.random.SeedSequence([3, 8, 11])).standard_normal(4))


@pytest.mark.parametrize("old", ["hubness_fast.bank/1", "hubness_fast.bank/2"])
def test_a_bank_of_an_earlier_format_is_refused(tmp_path, old):
    import json

    mine(None, 100, tmp_path / "b", **Z_BANK)
    manifest = json.loads((tmp_path / "b" / "bank.json").read_text())
    assert manifest["format"] == "hubness_fast.bank/3"
    manifest["format"] = old
    (tmp_path / "b" / "bank.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not a bank of this format"):
        mine(None, 200, tmp_path / "b", **Z_BANK)
    with pytest.raises(ValueError, match="not a bank of this format"):
        open_bank(tmp_path / "b")


def test_the_same_bank_for_any_number_of_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    mine(None, 700, tmp_path / "one", **Z_BANK)
    r = mine(None, 700, tmp_path / "two", workers=2, **Z_BANK)
    assert r.computed >= r.pools  # the second worker may run a pool past the end: dropped
    same_bank(tmp_path / "one", tmp_path / "two")
    assert sorted(p.name for p in (tmp_path / "two" / "pools").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one" / "pools").iterdir())
    G = StyleGANStandIn(img_resolution=4, img_channels=1, seed=3)
    g_bank = dict(threshold=8, pool_size=400, progress=False)
    mine(G, 30, tmp_path / "g_one", **g_bank)
    with distributed.Client(processes=False, n_workers=3, threads_per_worker=1, dashboard_address=":0") as client:
        r = mine(None, 700, tmp_path / "dask", client=client, **Z_BANK)  # workers= is for local processes
        assert r.pools % 3 and r.computed == -(-r.pools // 3) * 3  # a pool for each of the 3 threads at a time
        mine(G, 30, tmp_path / "g_dask", client=client, **g_bank)
    same_bank(tmp_path / "one", tmp_path / "dask")
    same_bank(tmp_path / "g_one", tmp_path / "g_dask", files=("z.npy", "w.npy", "hub_values.npy", "position.npy"))


def test_kill_9_then_resume_gives_the_uninterrupted_bank(tmp_path):
    args = ["mine", "--z-dim", "32", "--n", "40000", "--threshold", "12", "--pool-size", "20000", "--quiet"]
    subprocess.run([sys.executable, "-m", "hubness_fast.cli", *args, "--outdir", "whole"], cwd=tmp_path, check=True,
                   timeout=300)
    proc = subprocess.Popen([sys.executable, "-m", "hubness_fast.cli", *args, "--outdir", "cut"], cwd=tmp_path)
    manifest = tmp_path / "cut" / "bank.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill after at least one committed pool, before the end
        if manifest.exists() and json.loads(manifest.read_text() or "{}").get("pools"):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads(manifest.read_text())
    assert partial["pools"] and not partial["complete"], "killed too late to test a resume"
    assert "partial" in cli("mine", "--status", "cut", cwd=tmp_path).stdout
    r = cli(*args, "--outdir", "cut", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    same_bank(tmp_path / "whole", tmp_path / "cut")


def test_a_corrupt_or_missing_pool_is_mined_again(tmp_path):
    mine(None, 500, tmp_path / "b", **Z_BANK)
    before = {f: (tmp_path / "b" / f).read_bytes() for f in FILES}
    shard = tmp_path / "b" / "pools" / "000001.npz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: its SHA-256 no longer matches
    shard.write_bytes(bytes(data))
    (tmp_path / "b" / "pools" / "000002.npz").unlink()
    r = mine(None, 500, tmp_path / "b", **Z_BANK)
    assert r.computed == 2
    for f, content in before.items():
        assert (tmp_path / "b" / f).read_bytes() == content, f


def test_other_settings_are_refused_and_status_reports(tmp_path):
    (tmp_path / "b").mkdir()
    assert "no bank here" in status(tmp_path / "b")
    with pytest.raises(ValueError, match="does not exist"):
        status(tmp_path / "nothing")
    mine(None, 200, tmp_path / "b", **Z_BANK)
    assert "complete: 200 latents" in status(tmp_path / "b")
    with pytest.raises(ValueError, match=r"other settings: k=5 \(asked 6\)"):
        mine(None, 200, tmp_path / "b", **{**Z_BANK, "k": 6})
    r = cli("mine", "--z-dim", "16", "--n", "200", "--outdir", "b", "--pool-size", "2000", "--threshold", "11",
            cwd=tmp_path)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "--threshold 12 (asked 11)" in lines[0]
    first = np.load(tmp_path / "b" / "z.npy")
    more = mine(None, 600, tmp_path / "b", **Z_BANK)  # a larger n continues the same bank
    assert more.rows == 600 and len(open_bank(tmp_path / "b")) == 600
    np.testing.assert_array_equal(open_bank(tmp_path / "b").z[:200], first)
    with pytest.raises(ValueError, match="nothing not found"):
        open_bank(tmp_path / "nothing")
    with pytest.raises(ValueError, match="holds no bank"):
        open_bank(tmp_path)


def test_sampling_from_a_bank_renders_the_banked_latents(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    r = mine(G, 60, tmp_path / "b", space="w", k=5, threshold=8, pool_size=500, progress=False)
    bank = open_bank(r.path)
    assert bank.w.shape == (60, G.w_dim)
    first = sample_bank(G, bank, 25)
    second = sample_bank(G, bank, 25)
    with torch.no_grad():
        ws = torch.from_numpy(np.array(bank.w[:50]))[:, None].repeat(1, G.num_ws, 1)
        own = G.synthesis(ws, noise_mode="const")
        np.testing.assert_array_equal(bank.w[:50], G.mapping(torch.from_numpy(np.array(bank.z[:50])), None)[:, 0])
    torch.testing.assert_close(torch.cat([first.images, second.images]), own, rtol=0, atol=0)
    np.testing.assert_array_equal(second.hub_values, bank.hub_values[25:50])
    with pytest.raises(ValueError, match="has 10 rows from row 50"):
        sample_bank(G, bank, 20)
    again = sample_bank(G, bank, 5, offset=0)  # by offset: the cursor does not move
    torch.testing.assert_close(again.images, own[:5], rtol=0, atol=0)
    assert "50 rendered (sample --bank, sample_bank), 10 unused" in status(r.path)
    from hubness_fast.features import features
    from hubness_fast.sampling import sample
    last = sample(G, 10, bank=bank, progress=False)  # the one-call entry point takes the bank too
    torch.testing.assert_close(last.images, G.synthesis(torch.from_numpy(np.array(bank.w[50:]))[:, None]
                                                        .repeat(1, G.num_ws, 1), noise_mode="const"), rtol=0, atol=0)
    with pytest.raises(ValueError, match="do not apply"):
        sample(G, 5, method="random", bank=bank)
    with pytest.raises(ValueError, match="seed and sampler settings do not apply"):
        sample(G, 5, bank=bank, seed=12345)  # the bank's latents were drawn from its own seed
    with pytest.raises(ValueError, match=r"bank= takes an opened bank, bank=open_bank\("):
        sample(G, 5, bank=str(r.path))  # a path: it said 'str' object has no attribute 'sampler'
    flat = (lambda u8: u8.flatten(1).float())  # noqa: E731  a detector: uint8 images -> features
    feats = features(G, flat, n=8, sampler=bank.sampler(offset=0), progress=False)
    want = (own[:8] * 127.5 + 128).clamp(0, 255).to(torch.uint8).flatten(1).float().numpy()
    np.testing.assert_array_equal(feats, want)


def test_sample_command_with_a_bank(tmp_path):
    (tmp_path / "net.py").write_text("from standins import StyleGANStandIn\n"
                                     "def G():\n    return StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)\n")
    r = cli("mine", "--network", "net:G()", "--n", "30", "--outdir", "bank", "--threshold", "8", "--pool-size", "500",
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "bank" / "bank.json").read_text())["settings"]["network"] == "spec:net:G()"
    r = cli("sample", "--network", "net:G()", "--bank", "bank", "--n", "12", "--outdir", "o", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    G = StyleGANStandIn(img_resolution=8, img_channels=1, seed=3)
    w = np.load(tmp_path / "bank" / "w.npy")[:12]
    with torch.no_grad():
        own = G.synthesis(torch.from_numpy(w)[:, None].repeat(1, G.num_ws, 1), noise_mode="const")
    own_u8 = (own * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    for i in range(12):
        np.testing.assert_array_equal(read_png(tmp_path / "o" / f"{i:06d}.png"), own_u8[i, 0])
    r = cli("sample", "--network", "net:G()", "--bank", "missing", "--n", "3", "--outdir", "o2", cwd=tmp_path)
    assert r.returncode == 2 and "the bank missing not found" in r.stderr


def test_one_class_of_a_conditional_model(tmp_path):
    G = StyleGANStandIn(img_resolution=8, img_channels=1, c_dim=3, seed=5)
    with pytest.raises(ValueError, match="one class at a time"):
        mine(G, 20, tmp_path / "all", space="w", threshold=8, pool_size=500, progress=False)
    r = mine(G, 20, tmp_path / "b", space="w", threshold=8, pool_size=500, cls=2, progress=False)
    bank = open_bank(r.path)
    assert set(bank.labels.tolist()) == {2}
    c = torch.nn.functional.one_hot(torch.full((20,), 2), 3).float()
    with torch.no_grad():
        np.testing.assert_array_equal(bank.w, G.mapping(torch.from_numpy(np.array(bank.z)), c)[:, 0].numpy())
    with pytest.raises(ValueError, match="class 2 only"):
        bank.sampler().latents(G, 4, classes=[0, 1])
    images = sample_bank(G, bank, 4).images
    with torch.no_grad():
        own = G.synthesis(torch.from_numpy(np.array(bank.w[:4]))[:, None].repeat(1, G.num_ws, 1), noise_mode="const")
    torch.testing.assert_close(images, own, rtol=0, atol=0)


TINY_Z = dict(z_dim=8, k=5, threshold=12, pool_size=400, progress=False)  # about 20 latents a pool


def pool_rows(bank_dir):
    return [p["rows"] for _, p in sorted(json.loads((bank_dir / "bank.json").read_text())["pools"].items(),
                                         key=lambda item: int(item[0]))]


def test_a_smaller_n_cuts_the_bank_keeps_its_pools_and_its_cursor(tmp_path):
    b = tmp_path / "b"
    whole = mine(None, 50, b, **TINY_Z)
    z50 = np.load(b / "z.npy")
    assert whole.pools >= 2
    used = open_bank(b).sampler()
    used.latents(None, 40)
    used.commit()  # rows 0..39 rendered another way: they count as used
    cut = mine(None, 20, b, **TINY_Z)
    assert cut.rows == 20 and cut.computed == 0
    assert sorted(p.name for p in (b / "pools").iterdir()) == [f"{i:06d}.npz" for i in range(whole.pools)]
    np.testing.assert_array_equal(np.load(b / "z.npy"), z50[:20])
    text = status(b)
    assert "all 20 rendered (sample --bank, sample_bank; the next row is 40" in text and "more pools in pools/" in text
    with pytest.raises(ValueError, match="no rows from row 40"):
        open_bank(b).sampler().latents(None, 1)
    again = mine(None, 50, b, **TINY_Z)  # the pools were kept: nothing to mine again
    assert again.computed == 0
    np.testing.assert_array_equal(np.load(b / "z.npy"), z50)
    np.testing.assert_array_equal(open_bank(b).sampler().latents(None, 10).z, z50[40:])


def test_acceptance_is_what_the_pools_kept(tmp_path):
    r = mine(None, 30, tmp_path / "b", **TINY_Z)
    kept = sum(pool_rows(tmp_path / "b")[:r.pools])
    assert kept > 30  # the last pool is cut at n: its other rows still count as kept
    assert r.acceptance_rate == pytest.approx(kept / (r.pools * 400))
    assert f"(acceptance {kept / (r.pools * 400):.4f})" in status(tmp_path / "b")


def test_a_fractional_threshold_keeps_what_sample_keeps(tmp_path):
    from hubness_fast.sampling import HubnessSampler

    r = mine(None, 20, tmp_path / "b", **{**TINY_Z, "threshold": 10.5})
    bank = open_bank(r.path)
    assert bank.settings["threshold"] == 11 and "t = 11" in status(r.path)
    z = standard_normal(np.random.SeedSequence([0, 0, 0]).generate_state(4), (400, 8))
    values = brute_hub_counts(z, 5)
    sampler = HubnessSampler(8, k=5, threshold=10.5, pool_size=400)
    np.testing.assert_array_equal(bank.position, np.flatnonzero(sampler.keeps(values))[:20])
    assert bank.hub_values.min() >= 11
    with pytest.raises(ValueError, match="threshold must be a number"):
        mine(None, 20, tmp_path / "c", **{**TINY_Z, "threshold": "12"})


def test_a_bank_refuses_another_network(tmp_path):
    from hubness_fast.sampling import sample
    from standins import PlainGenerator

    G = StyleGANStandIn(img_resolution=4, img_channels=1, seed=3)
    other = StyleGANStandIn(img_resolution=4, img_channels=1, seed=4)  # the same shapes, other weights
    mine(G, 10, tmp_path / "b", threshold=8, pool_size=400, progress=False)
    recorded = json.loads((tmp_path / "b" / "bank.json").read_text())["generator"]
    assert recorded["family"] == "stylegan" and recorded["w_dim"] == G.w_dim and len(recorded["probe"]) == 4
    with pytest.raises(ValueError, match="mined for another network: its mapping gives other w"):
        mine(other, 10, tmp_path / "b", threshold=8, pool_size=400, progress=False)
    bank = open_bank(tmp_path / "b")
    with pytest.raises(ValueError, match="another network"):
        sample(other, 3, bank=bank, progress=False)
    with pytest.raises(ValueError, match="another network: family stylegan"):
        sample_bank(PlainGenerator(z_dim=G.z_dim), bank, 3)
    assert sample_bank(G, bank, 3).images.shape[0] == 3  # its own network, on its own or as the same file
    mine(G, 20, tmp_path / "b", threshold=8, pool_size=400, progress=False)


def test_a_bank_records_the_prior_its_latents_came_from(tmp_path):
    from hubness_fast.generators import BigGANAdapter, as_generator
    from standins import PlainGenerator, small_biggan

    G = PlainGenerator(z_dim=12)
    mine(as_generator(G, prior="truncnorm"), 10, tmp_path / "b", threshold=8, pool_size=400, progress=False)
    with pytest.raises(ValueError, match=r"prior truncnorm \(this one: normal\)"):
        mine(as_generator(G), 10, tmp_path / "b", threshold=8, pool_size=400, progress=False)
    B = small_biggan()  # BigGAN's truncation scales its prior: a bank mined at 0.5 serves 0.5 only
    mine(BigGANAdapter(B, truncation=0.5), 5, tmp_path / "g", threshold=8, pool_size=400, cls=1, progress=False)
    with pytest.raises(ValueError, match=r"prior_scale 0.5 \(this one: 1.0\); BigGAN's truncation scales its "
                                         r"prior: pass truncation=0.5"):
        sample_bank(BigGANAdapter(B), open_bank(tmp_path / "g"), 2)
    assert sample_bank(BigGANAdapter(B, truncation=0.5), open_bank(tmp_path / "g"), 2).images.shape[0] == 2


def test_mining_takes_one_class_index(tmp_path):
    G = StyleGANStandIn(img_resolution=4, img_channels=1, c_dim=3, seed=5)
    for bad, message in (([1, 2], "one class index"), ("uniform", "one class index"), (3, "outside 0..2")):
        with pytest.raises(ValueError, match=message):
            mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, cls=bad, progress=False)
    with pytest.raises(ValueError, match="classes= is one class index .*, got \\[1, 2\\]"):
        mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, classes=[1, 2], progress=False)
    with pytest.raises(ValueError, match="the class is given twice"):
        mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, cls=1, classes=2, progress=False)
    for cls, classes in ((True, 1), (1.0, 1), ("1", 1), (1, np.array([1, 2])), (None, True), (None, 1.5)):
        with pytest.raises(ValueError, match="one class index"):  # each keyword checked, whatever the other
            mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, cls=cls, classes=classes, progress=False)
    with pytest.raises(ValueError, match="classes= applies to a conditional generator"):  # the keyword given
        mine(StyleGANStandIn(img_resolution=4, img_channels=1, seed=5), 5, tmp_path / "b", threshold=8,
             pool_size=400, classes=0, progress=False)
    assert not (tmp_path / "b").exists()  # refused before any work
    # classes=, the keyword of sample and sample_bank, names the same bank as cls= (and takes what they
    # take: one index, or a one-element list or array of it)
    for one in ([2], np.array(2), np.array([2]), np.int64(2)):
        assert mine(G, 3, tmp_path / "c", threshold=8, pool_size=400, cls=2, classes=one,
                    progress=False).path == tmp_path / "c"
    a = mine(G, 3, tmp_path / "a", threshold=8, pool_size=400, cls=2, progress=False)
    c = mine(G, 3, tmp_path / "c", threshold=8, pool_size=400, classes=2, progress=False)
    np.testing.assert_array_equal(open_bank(a.path).z, open_bank(c.path).z)
    assert open_bank(c.path).settings["class"] == 2


def test_device_moves_the_generator_as_sample_does(tmp_path):
    class Logged(StyleGANStandIn):
        moves = []

        def to(self, *args, **kwargs):
            Logged.moves.append(args)
            return super().to(*args, **kwargs)

    G = Logged(img_resolution=4, img_channels=1, seed=3)
    mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, device="cpu", hub_device="cpu", progress=False)
    assert Logged.moves and Logged.moves[0] == ("cpu",)
    Logged.moves.clear()
    mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, progress=False)  # no device: G stays where it is
    assert Logged.moves == []
    with pytest.raises(ValueError, match="hub_device= says where hub values are counted"):
        mine(None, 5, tmp_path / "z", device="cpu", **TINY_Z)
    mine(G, 5, tmp_path / "b", threshold=8, pool_size=400, device="auto", progress=False)  # the old default: stays
    assert Logged.moves == []
    with pytest.raises(ValueError, match="device= is where the generator runs .* got 'gpu'"):
        mine(G, 5, tmp_path / "c", threshold=8, pool_size=400, device="gpu", progress=False)
    assert not (tmp_path / "c").exists()  # refused before the bank folder is made


def test_mine_command_flags(tmp_path, monkeypatch, capsys):
    from hubness_fast.cli import main

    def run(*args):  # in this process: (exit code, stdout, stderr)
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, " ".join(out.err.split())

    (tmp_path / "cond3.py").write_text("from standins import StyleGANStandIn\n\n\ndef G():\n"
                                       "    return StyleGANStandIn(img_resolution=4, img_channels=1, c_dim=3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # module:attr puts the current folder on it
    monkeypatch.delitem(sys.modules, "cond3", raising=False)
    net = ["--network", "cond3:G()", "--n", "5", "--outdir", "b", "--threshold", "8", "--pool-size", "400", "--quiet"]
    try:
        for classes in ("1,2", "uniform"):
            code, _, err = run("mine", *net, "--class", classes)
            assert code == 2 and "--class takes one class index when mining" in err, err
        assert not (tmp_path / "b").exists()  # refused before any work
        code, _, err = run("mine", *net)
        assert code == 2 and "mine one class into each bank, --class C" in err and "cls=" not in err
        code, _, err = run("mine", *net, "--class", "3")
        assert code == 2 and "--class 3 is outside 0..2" in err
        assert not (tmp_path / "b").exists()  # the network's checks come before the folder is made
    finally:
        sys.modules.pop("cond3", None)
    z_bank = ["--z-dim", "8", "--n", "5", "--outdir", "z", "--threshold", "12", "--pool-size", "400", "--quiet"]
    code, _, err = run("mine", *z_bank, "--device", "cpu")
    assert code == 2 and "--device says where the generator runs" in err
    code, _, err = run("mine", *z_bank, "--batch-size", "8")
    assert code == 2 and "unrecognized arguments: --batch-size 8" in err  # mine renders no image
    code, out, _ = run("mine", "--help")
    assert code == 0 and "--batch-size" not in out and "--noise-mode" not in out
    assert run("mine", *z_bank)[0] == 0
    code, _, err = run("mine", "--status", "z", "--n", "5", "--threshold", "99")
    assert code == 2 and "--status only reports what a bank holds: drop --n, --threshold" in err
    code, out, _ = run("mine", "--status", "z", "--quiet")
    assert code == 0 and "complete: 5 latents" in out
    code, _, err = run("mine", "--status", "nothing")
    assert code == 2 and "nothing does not exist" in err


def test_one_mine_at_a_time_into_a_bank_and_its_leftovers_are_cleared(tmp_path):
    import socket

    from hubness_fast._lockfile import LockFile
    from hubness_fast.sampling import mining

    want = mine(None, 30, tmp_path / "ref", **TINY_Z)
    bank = tmp_path / "b"
    mine(None, 10, bank, **TINY_Z)
    held = LockFile(bank / mining.MINE_LOCK)
    assert held.acquire() is None  # another mine, still running
    with pytest.raises(ValueError, match="another mine into the bank .* is running \\(this process\\): wait for it"):
        mine(None, 30, bank, **TINY_Z)
    held.release()
    (bank / mining.MINE_LOCK).write_text(f"{socket.gethostname()} 999999999 1\n")  # a mine that was killed
    leftovers = [".z.k3j2.npy", ".bank.json.x1.tmp", "pools/.000007.npz.ab.tmp"]
    for name in leftovers:
        (bank / name).write_bytes(b"cut off")
    (bank / ".cursor.json.r2.tmp").write_bytes(b"a render's, in flight")
    r = mine(None, 30, bank, **TINY_Z)
    assert not any((bank / name).exists() for name in leftovers) and (bank / ".cursor.json.r2.tmp").exists()
    assert not (bank / mining.MINE_LOCK).exists()
    np.testing.assert_array_equal(open_bank(r.path).z, open_bank(want.path).z)


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the workers end by PR_SET_PDEATHSIG")
def test_local_workers_end_when_the_mine_is_killed(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "hubness_fast.cli", "mine", "--z-dim", "32", "--pool-size", "2000",
                             "--threshold", "10", "--n", "10000000", "--workers", "2", "--outdir", "b", "--quiet"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers, deadline = [], time.time() + 60
    try:  # a mine that runs until killed (its threshold is reachable, its n far off)
        while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
            time.sleep(0.5)
            workers = [k for k in _children(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        assert len(workers) >= 2, f"the workers did not start (the mine's exit code: {proc.poll()})"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text()
             .rsplit(")", 1)[1].split()[0]]
    assert not alive, f"workers {alive} outlived the killed mine"


def test_the_manifest_is_written_now_and_then_and_when_cut_off(tmp_path, monkeypatch):
    from hubness_fast.sampling import mining

    writes = []
    real_write = mining.write_json
    monkeypatch.setattr(mining, "write_json", lambda path, obj: (writes.append(path.name), real_write(path, obj)))
    monkeypatch.setattr(mining, "MANIFEST_EVERY_S", 3600.0)
    want = mine(None, 200, tmp_path / "ref", **TINY_Z)
    assert want.pools > 8 and writes.count("bank.json") <= 3  # opened, after the loop, consolidated
    real_mine_pool, calls = mining.mine_pool, []

    def cut_off_at_the_sixth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real_mine_pool(*args, **kwargs)

    monkeypatch.setattr(mining, "mine_pool", cut_off_at_the_sixth)
    with pytest.raises(KeyboardInterrupt):
        mine(None, 200, tmp_path / "b", **TINY_Z)
    recorded = json.loads((tmp_path / "b" / "bank.json").read_text())["pools"]
    assert sorted(map(int, recorded)) == [0, 1, 2, 3, 4]  # each committed pool, recorded on the way out
    monkeypatch.setattr(mining, "mine_pool", real_mine_pool)
    r = mine(None, 200, tmp_path / "b", **TINY_Z)
    assert r.computed == want.pools - 5
    np.testing.assert_array_equal(open_bank(r.path).z, open_bank(want.path).z)


def test_a_damaged_manifest_or_cursor_is_named_everywhere(tmp_path):
    bank = mine(None, 30, tmp_path / "b", **TINY_Z).path
    manifest = (bank / "bank.json").read_text()
    for text, message in ((manifest[:len(manifest) // 2], "bank manifest .*bank.json cannot be read .*damaged"),
                          ('{"format": "hubness_fast.bank/3"}', "bank manifest .*damaged \\(no settings or pools\\)"),
                          ("[]", "not a bank of this format \\(its bank.json holds 'list'"),
                          ('{"format": "hubness_fast.bank/9"}', "holds 'hubness_fast.bank/9', this version reads")):
        (bank / "bank.json").write_text(text)
        for call in (lambda: mine(None, 30, bank, **TINY_Z), lambda: open_bank(bank), lambda: status(bank)):
            with pytest.raises(ValueError, match=message):
                call()
    (bank / "bank.json").write_text(manifest)
    for text, message in (("", "cursor .*cursor.json cannot be read"), ('{"next": -5}', "next = -5, not a row"),
                          ('{"next": "3"}', "next = '3', not a row"), ('{"row": 3}', "cannot be read \\('next'\\)")):
        (bank / "cursor.json").write_text(text)
        for call in (lambda: open_bank(bank).sampler().latents(None, 2), lambda: status(bank)):
            with pytest.raises(ValueError, match=message):
                call()


def test_a_bank_that_cannot_be_written_serves_rows_by_offset(tmp_path, monkeypatch):
    from hubness_fast import _lockfile

    bank = open_bank(mine(None, 30, tmp_path / "b", **TINY_Z).path)

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(_lockfile.os, "open", read_only)
    with pytest.raises(ValueError, match="cursor lock .*Read-only file system.*serves rows by offset="):
        bank.sampler().latents(None, 5)
    np.testing.assert_array_equal(bank.sampler(offset=5).latents(None, 5).z, bank.z[5:10])


def test_a_damaged_field_file_is_named_and_the_same_command_rebuilds_it(tmp_path):
    want = open_bank(mine(None, 30, tmp_path / "ref", **TINY_Z).path)
    bank = mine(None, 30, tmp_path / "b", **TINY_Z).path
    data = (bank / "z.npy").read_bytes()
    (bank / "z.npy").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="bank file .*z.npy cannot be read .*run the same mine command again"):
        open_bank(bank)
    np.save(bank / "hub_values.npy", np.zeros(7, np.int64))
    mine(None, 30, bank, **TINY_Z)
    np.testing.assert_array_equal(open_bank(bank).z, want.z)
    np.save(bank / "position.npy", np.zeros(7, np.int64))
    with pytest.raises(ValueError, match="position.npy holds 7 rows, its manifest 30"):
        open_bank(bank)
    (bank / "position.npy").unlink()
    with pytest.raises(ValueError, match="lacks position.npy"):
        open_bank(bank)


def test_status_states_what_resuming_a_bank_needs(tmp_path):
    bank = mine(None, 30, tmp_path / "b", **{**TINY_Z, "include_self": True}).path
    head = status(bank).splitlines()[0]
    assert head.startswith(f"{bank}: 8-d latents, Z space, k = 5 (self counted), t = 12, pool 400, seed 0")
    assert "self counted" not in status(mine(None, 30, tmp_path / "c", **TINY_Z).path)


def test_a_threshold_out_of_reach_stops_after_three_pools(tmp_path):
    """mine ran up to 100 000 pools without a word when nothing could be kept: it stops once the pools
    that kept nothing make the threshold hopeless, naming the largest hub value they reached."""
    pools = 400
    largest = max(int(brute_hub_counts(standard_normal(np.random.SeedSequence([0, 0, i]).generate_state(4),
                                                       (pools, 8)), 5).max()) for i in range(3))
    with pytest.raises(ValueError, match=rf"no latent reached hub value >= 300 in 3 pools of 400 \(k=5\); the largest "
                                         rf"value seen was {largest}; at the rate the values seen fall off, the 99997 "
                                         rf"pools it may still draw are expected to keep .* latents, 5 are needed\. "
                                         rf".* The bank .* records these settings"):
        mine(None, 5, tmp_path / "b", z_dim=8, k=5, threshold=300, pool_size=pools, progress=False)
    assert len(list((tmp_path / "b" / "pools").iterdir())) == 3 and not (tmp_path / "b" / "mine.lock").exists()
    r = cli("mine", "--z-dim", "8", "--n", "5", "--outdir", "c", "--threshold", "300", "--pool-size", "400",
            "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and f"the largest value seen was {largest}; at the rate" in r.stderr, r.stderr
    assert f"Lower the threshold (e.g. --threshold {largest})" in r.stderr, r.stderr


def test_a_rare_threshold_is_mined_on(tmp_path):
    # three pools in a row that keep nothing do not make a threshold unreachable: about one pool in
    # twenty reaches 19 here, and a fixed three-pool rule refused it more often than not
    hits = []
    for i in range(60):
        x = standard_normal(np.random.SeedSequence([0, 0, i]).generate_state(4), (1000, 8))
        hits.append(int((brute_hub_counts(x, 5) >= 19).sum()))
    first = next(i for i, h in enumerate(hits) if h)
    assert first >= 3  # the first three pools keep nothing
    r = mine(None, 1, tmp_path / "b", z_dim=8, k=5, threshold=19, pool_size=1000, progress=False)
    assert r.pools == first + 1 and open_bank(r.path).hub_values[0] >= 19


def test_a_network_file_given_to_mine_serves_the_bank_by_that_same_file(tmp_path):
    # mine(network=path) recorded the path as given, sample_bank and the command line compared its
    # SHA-256: the bank refused the very file it was mined with
    from hubness_fast._files import file_sha256

    G = StyleGANStandIn(img_resolution=4, img_channels=1, seed=3)
    net = tmp_path / "g.pkl"
    net.write_bytes(b"the network's bytes")
    mine(G, 10, tmp_path / "b", threshold=8, pool_size=400, network=str(net), progress=False)
    assert json.loads((tmp_path / "b" / "bank.json").read_text())["settings"]["network"] == f"sha256:{file_sha256(net)}"
    assert sample_bank(G, tmp_path / "b", 3, network=str(net)).images.shape[0] == 3
    assert mine(G, 20, tmp_path / "b", threshold=8, pool_size=400, network=net, progress=False).rows == 20
    other = tmp_path / "other.pkl"
    other.write_bytes(b"other bytes")
    with pytest.raises(ValueError, match="mined for another network"):
        sample_bank(G, tmp_path / "b", 3, network=str(other))
    with pytest.raises(ValueError, match="other settings: network='sha256:"):
        mine(G, 20, tmp_path / "b", threshold=8, pool_size=400, network=other, progress=False)
    # a bank written when mine() recorded the path as given: read as that file's identity
    manifest = json.loads((tmp_path / "b" / "bank.json").read_text())
    manifest["settings"]["network"] = str(net)
    (tmp_path / "b" / "bank.json").write_text(json.dumps(manifest))
    assert mine(G, 20, tmp_path / "b", threshold=8, pool_size=400, network=net, progress=False).rows == 20
    assert sample_bank(G, tmp_path / "b", 3, network=str(net)).images.shape[0] == 3


@pytest.mark.parametrize("bad", [{"seed": -1}, {"seed": 1.7}, {"seed": True}, {"max_pools": 0}])
def test_bad_settings_are_refused_before_the_folder_is_a_bank(tmp_path, bad):
    # a negative seed was refused only after bank.json recorded it, so the corrected command was refused too
    (name, value), = bad.items()
    with pytest.raises(ValueError, match=rf"{name} must be an integer >= {0 if name == 'seed' else 1}, got"):
        mine(None, 5, tmp_path / "b", **{**TINY_Z, name: value})
    assert not (tmp_path / "b" / "bank.json").exists()
    assert mine(None, 5, tmp_path / "b", **TINY_Z).rows == 5


def test_a_numpy_top_is_recorded_as_a_number(tmp_path):
    r = mine(None, 5, tmp_path / "b", z_dim=8, k=5, top=np.float32(0.25), pool_size=400, progress=False)
    assert json.loads((r.path / "bank.json").read_text())["settings"]["top"] == float(np.float32(0.25))


def test_a_folder_that_is_no_bank_is_refused_with_its_hidden_files_left_alone(tmp_path):
    folder = tmp_path / "mine"
    (folder / "pools").mkdir(parents=True)
    names = [".labels.npy", ".bank.json.tmp", "pools/.cache.npy"]
    for name in names:
        (folder / name).write_bytes(b"the user's")
    with pytest.raises(ValueError, match="holds files but no bank"):
        mine(None, 5, folder, **TINY_Z)
    assert all((folder / name).read_bytes() == b"the user's" for name in names)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["pools"]["1"].pop("rows"), r"pool record 1 without a row count and checksum"),
    (lambda m: m["pools"]["0"].pop("sha256"), r"pool record 0 without a row count and checksum"),
    (lambda m: m["pools"].__setitem__("x", {"rows": 1, "sha256": "ab"}), r"pool record x without"),
    (lambda m: m["settings"].pop("seed"), r"without seed"),
    (lambda m: m.pop("rows"), r"without rows"),
])
def test_a_hand_edited_manifest_is_named_not_a_key_error(tmp_path, edit, message):
    bank = mine(None, 30, tmp_path / "b", **TINY_Z).path
    manifest = json.loads((bank / "bank.json").read_text())
    edit(manifest)
    (bank / "bank.json").write_text(json.dumps(manifest))
    for call in (lambda: status(bank), lambda: open_bank(bank), lambda: mine(None, 30, bank, **TINY_Z)):
        with pytest.raises(ValueError, match=rf"the bank manifest .*bank.json is damaged \({message}"):
            call()


def test_a_record_that_miscounts_its_pool_is_mined_again(tmp_path):
    # a manifest counting 5 rows too many in pool 1 gave a short z.npy marked complete, which no
    # command could read or rebuild
    want = mine(None, 30, tmp_path / "ref", **TINY_Z).path
    bank = mine(None, 30, tmp_path / "b", **TINY_Z).path
    manifest = json.loads((bank / "bank.json").read_text())
    manifest["pools"]["1"]["rows"] += 5
    (bank / "bank.json").write_text(json.dumps(manifest))
    mine(None, 30, bank, **TINY_Z)
    same_bank(want, bank)


def test_a_generator_workers_cannot_receive_and_a_z_dim_it_contradicts_are_refused_first(tmp_path):
    G = StyleGANStandIn(img_resolution=4, img_channels=1, seed=3)
    with pytest.raises(ValueError, match="z_dim=16 disagrees with the generator's z_dim=32"):
        mine(G, 5, tmp_path / "a", z_dim=16, threshold=8, pool_size=400, progress=False)
    lin = torch.nn.Linear(8, 16)
    with pytest.raises(ValueError, match=r"cannot be pickled .*: define it at a module's top level .*workers=1"):
        mine(lambda z: torch.tanh(lin(z)).reshape(-1, 1, 4, 4), 5, tmp_path / "b", z_dim=8, k=5, threshold=10,
             pool_size=600, workers=2, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before any folder


def test_a_first_mine_killed_while_writing_its_manifest_is_run_again(tmp_path):
    # a mine SIGKILLed during its first manifest write left .bank.json.<random>.tmp, and the same
    # command was then refused: "holds files but no bank"
    bank = tmp_path / "b"
    (bank / "pools").mkdir(parents=True)
    (bank / ".bank.json.k2x9q1ab.tmp").write_text('{"format": "hubness_fast.ba')
    (bank / "pools" / ".000000.npz.ab12cd34.tmp").write_bytes(b"cut off")
    want = mine(None, 30, tmp_path / "ref", **TINY_Z).path
    mine(None, 30, bank, **TINY_Z)
    same_bank(want, bank)
    assert not (bank / ".bank.json.k2x9q1ab.tmp").exists()
