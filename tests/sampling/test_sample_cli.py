"""`hubness-fast sample` end to end: network pickles, torch.save'd modules, module:factory(),
the output folder (PNGs in row order, grid.png, latents.npz), exit codes; memory when streaming."""
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hubness_fast.generators import to_uint8
from hubness_fast.sampling.images import decode_png
from recompute import read_png
from clirun import run, run_process
from standins import StyleGANStandIn

TESTS = Path(__file__).resolve().parents[1]  # tests/: the stand-ins and oracles


def cli(*args, cwd, pythonpath=None):
    """In this process; in a process of its own with pythonpath given (then the whole path of module
    folders, tests/ included where wanted): what a network file may import is then that process's."""
    if pythonpath is None:
        return run(["sample", *args], cwd=cwd)
    return run_process(["sample", *args], cwd=cwd,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, pythonpath))))


def one_line_error(r):
    lines = [line for line in r.stderr.strip().splitlines() if line.strip() and "%|" not in line]
    return r.returncode == 2 and len(lines) == 1 and lines[0].startswith("hubness-fast: error:")


def check_folder(outdir, G, n, c_dim=0):
    """PNG files 000000.png.. in row order, equal to the model's own render of latents.npz."""
    names = sorted(p.name for p in outdir.glob("[0-9]*.png"))
    assert names == [f"{i:06d}.png" for i in range(n)]
    assert (outdir / "grid.png").stat().st_size > 0
    lat = np.load(outdir / "latents.npz")
    c = torch.nn.functional.one_hot(torch.from_numpy(lat["labels"]), c_dim).float() if c_dim else torch.zeros(n, 0)
    with torch.no_grad():
        own = to_uint8(G(torch.from_numpy(lat["z"]), c, noise_mode="const")).numpy()
    for i, name in enumerate(names):
        img = read_png(outdir / name)  # PIL, not the package's decoder
        img = img[:, :, None] if img.ndim == 2 else img
        np.testing.assert_array_equal(img, own[i].transpose(1, 2, 0))
    grid = read_png(outdir / "grid.png")
    assert grid.shape[0] >= own.shape[2] and grid.shape[1] >= own.shape[3] and grid.std() > 0
    np.testing.assert_array_equal(decode_png((outdir / "grid.png").read_bytes()), grid)  # the two decoders agree
    return lat


@pytest.fixture
def nvidia_pickle(tmp_path):
    """A network pickle laid out as NVIDIA's (dict with G, D, G_ema), whose classes live in a
    package named torch_utils, as their pickles need."""
    pkg = tmp_path / "nvidia_repo" / "torch_utils"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "networks_standin.py").write_text("from standins import StyleGANStandIn\n\n"
                                             "class Generator(StyleGANStandIn):\n    pass\n")
    sys.path.insert(0, str(pkg.parent))
    try:
        from torch_utils.networks_standin import Generator

        G = Generator(seed=1)
        path = tmp_path / "network-snapshot.pkl"
        with open(path, "wb") as f:
            pickle.dump({"G": Generator(seed=2), "D": None, "G_ema": G}, f)
    finally:
        sys.path.remove(str(pkg.parent))
        for name in [m for m in sys.modules if m.startswith("torch_utils")]:
            del sys.modules[name]
    return path, pkg.parent, G


def test_network_pickle_takes_g_ema_and_writes_the_models_own_render(tmp_path, nvidia_pickle):
    path, repo, G = nvidia_pickle
    out = tmp_path / "out"
    r = cli("--network", str(path), "--n", "12", "--outdir", str(out), "--pool-size", "400", "--threshold", "7",
            "--batch-size", "5", "--quiet", cwd=tmp_path, pythonpath=(repo, TESTS))
    assert r.returncode == 0, r.stderr
    lat = check_folder(out, G, 12)
    assert set(lat.files) == {"z", "w", "hub_values"} and lat["w"].shape == (12, G.w_dim)
    assert np.all(lat["hub_values"] >= 7)
    # the same seed gives the same files
    r2 = cli("--network", str(path), "--n", "12", "--outdir", str(tmp_path / "again"), "--pool-size", "400",
             "--threshold", "7", "--quiet", cwd=tmp_path, pythonpath=(repo, TESTS))
    assert r2.returncode == 0 and (tmp_path / "again" / "000011.png").read_bytes() == (out / "000011.png").read_bytes()


def test_network_pickle_without_nvidias_code_says_what_to_do(tmp_path, nvidia_pickle):
    path, _, _ = nvidia_pickle
    r = cli("--network", str(path), "--n", "3", "--outdir", str(tmp_path / "o"), cwd=tmp_path)
    assert one_line_error(r) and "torch_utils" in r.stderr and "PYTHONPATH" in r.stderr


def test_torch_saved_module_random_method(tmp_path):
    G = StyleGANStandIn(seed=3)
    torch.save(G, tmp_path / "g.pt")
    r = cli("--network", str(tmp_path / "g.pt"), "--n", "7", "--outdir", str(tmp_path / "o"), "--method", "random",
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lat = check_folder(tmp_path / "o", G, 7)
    assert set(lat.files) == {"z", "w"}


@pytest.mark.parametrize("flags, message", [
    (["--seed", "-1"], "--seed must be an integer >= 0 or None, got -1"),
    (["--method", "truncation", "--truncation-cutoff", "-1"], "--truncation-cutoff must be an integer >= 0, got -1"),
])
def test_bad_values_name_their_flag(tmp_path, flags, message):
    # "expected non-negative integer" (numpy's) and "truncation_cutoff must be" named no flag
    torch.save(StyleGANStandIn(seed=3), tmp_path / "g.pt")
    r = cli("--network", str(tmp_path / "g.pt"), "--n", "3", "--outdir", str(tmp_path / "o"), *flags, "--quiet",
            cwd=tmp_path)
    assert one_line_error(r) and message in r.stderr, r.stderr


@pytest.mark.parametrize("version", ["ada", "sg2"])
def test_force_fp32_reaches_the_synthesis_of_a_stylegan2_network_with_fp16_layers(tmp_path, version):
    """The fp16 layers of StyleGAN2-ADA and of the stylegan3 repository's StyleGAN2 compute in half
    precision on any device unless force_fp32 (the paper's notebook passes True): --force-fp32 gives
    the model's float32 render, no flag its default."""
    G = StyleGANStandIn(version=version, num_fp16_res=2, seed=3)
    torch.save(G, tmp_path / "g.pt")
    renders = []
    for flags, fp32 in (((), False), (("--force-fp32",), True)):
        out = tmp_path / f"o{int(fp32)}"
        r = cli("--network", str(tmp_path / "g.pt"), "--n", "6", "--outdir", str(out), "--method", "random",
                "--quiet", *flags, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        z = torch.from_numpy(np.load(out / "latents.npz")["z"])
        with torch.no_grad():
            own = to_uint8(G(z, None, noise_mode="const", force_fp32=fp32)).numpy()
        for i in range(6):
            np.testing.assert_array_equal(read_png(out / f"{i:06d}.png"), own[i].transpose(1, 2, 0))
        renders.append(own)
    assert (renders[0] != renders[1]).any()  # the flag changes the images: the test can tell them apart
    r = cli("--network", str(tmp_path / "g.pt"), "--n", "2", "--outdir", str(tmp_path / "x"), "--family", "callable",
            "--force-fp32", "--quiet", cwd=tmp_path)
    assert one_line_error(r) and "--force-fp32 applies to stylegan generators" in r.stderr


def test_module_factory_from_the_current_directory_conditional(tmp_path):
    (tmp_path / "mynet.py").write_text(textwrap.dedent("""
        from standins import StyleGANStandIn

        def build():
            return StyleGANStandIn(c_dim=3, seed=4)

        class Broken(StyleGANStandIn):
            def forward(self, *args, **kwargs):
                raise RuntimeError("the generator broke\\nover two lines")

        def broken():
            return Broken()
    """))
    r = cli("--network", "mynet:build()", "--n", "9", "--outdir", str(tmp_path / "o"), "--class", "uniform",
            "--method", "truncation", "--psi", "0.5", "--space", "z", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lat = np.load(tmp_path / "o" / "latents.npz")
    assert set(lat.files) == {"z", "labels"} and lat["labels"].shape == (9,)
    G = StyleGANStandIn(c_dim=3, seed=4)
    c = torch.nn.functional.one_hot(torch.from_numpy(lat["labels"]), 3).float()
    with torch.no_grad():
        own = to_uint8(G(torch.from_numpy(lat["z"]), c, noise_mode="const")).numpy()
    np.testing.assert_array_equal(read_png(tmp_path / "o" / "000004.png"), own[4].transpose(1, 2, 0))
    # failures: one line, exit code 2; --debug shows the traceback
    r = cli("--network", "mynet:broken()", "--n", "3", "--outdir", "x", "--method", "random", "--space", "z",
            cwd=tmp_path)
    assert one_line_error(r) and "the generator broke over two lines" in r.stderr
    r = cli("--network", "mynet:broken()", "--n", "3", "--outdir", "x", "--method", "random", "--space", "z",
            "--debug", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr
    for bad in (["--method", "best"], ["--class", "7"], ["--truncation", "0.5"], ["--n", "0"]):
        r = cli("--network", "mynet:build()", "--n", "3", "--outdir", "x", *bad, cwd=tmp_path)
        assert one_line_error(r), (bad, r.stderr)
    r = cli("--network", "mynet:nothing", "--n", "3", "--outdir", "x", cwd=tmp_path)
    assert one_line_error(r) and "nothing" in r.stderr


# The hubness-fast script's situation: the current folder is not on sys.path (python -P), unlike python -m.
ENTRY_POINT = "import sys; from hubness_fast.cli import main; sys.exit(main())"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="python -P (no current folder on sys.path) is 3.11's")
def test_network_files_find_classes_defined_in_the_current_folder(tmp_path):
    (tmp_path / "here_nets.py").write_text(textwrap.dedent("""
        import torch

        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.z_dim = 8
                self.lin = torch.nn.Linear(8, 16)

            def forward(self, z):
                return torch.tanh(self.lin(z)).view(-1, 1, 4, 4)
    """))
    subprocess.run([sys.executable, "-c", "import pickle, torch, here_nets; G = here_nets.Tiny(); "
                    "pickle.dump({'G_ema': G}, open('g.pkl', 'wb')); torch.save(G, 'g.pt')"], cwd=tmp_path, check=True)
    for name in ("g.pkl", "g.pt"):
        r = subprocess.run([sys.executable, "-P", "-c", ENTRY_POINT, "sample", "--network", name, "--n", "2",
                            "--outdir", f"out_{name}", "--method", "random", "--quiet"], cwd=tmp_path,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert len(list((tmp_path / f"out_{name}").glob("0*.png"))) == 2
        r = subprocess.run([sys.executable, "-P", "-c", "from hubness_fast.sampling.networks import load_network; "
                            f"print(type(load_network({name!r})).__name__)"], cwd=tmp_path, capture_output=True,
                           text=True)  # the Python loaders find them too
        assert r.returncode == 0 and r.stdout.strip() == "Tiny", r.stderr


@pytest.fixture
def here(tmp_path, monkeypatch):
    """The command run in this process from tmp_path, which holds cond_net.py (G(): a conditional
    StyleGAN stand-in with 3 classes); ``here(capsys, *args)`` -> (exit code, stdout, stderr)."""
    from hubness_fast.cli import main

    (tmp_path / "cond_net.py").write_text("from standins import StyleGANStandIn\n"
                                          "def G():\n    return StyleGANStandIn(img_resolution=4, img_channels=1, "
                                          "c_dim=3, seed=5)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # module:attr puts the current folder on it

    def run(capsys, *args):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    sys.modules.pop("cond_net", None)


def test_sample_bank_takes_only_the_banks_own_settings(here, capsys, tmp_path):
    net = ["--network", "cond_net:G()"]
    code, _, err = here(capsys, "mine", *net, "--n", "6", "--outdir", "bank", "--threshold", "8", "--pool-size", "400",
                        "--class", "1", "--quiet")
    assert code == 0, err
    for bad, says in ((["--class", "2"], "holds class 1 only (2 asked)"),
                      (["--class", "uniform"], "holds class 1 only"),
                      (["--k", "9"], "mined with --k 5: drop --k 9"),
                      (["--threshold", "40"], "mined with --threshold 8: drop --threshold 40"),
                      (["--top", "0.1"], "mined with --threshold 8: drop --top 0.1"),
                      (["--pool-size", "500"], "mined with --pool-size 400: drop --pool-size 500"),
                      (["--space", "z"], "mined with --space w: drop --space z"),
                      (["--include-self"], "drop --include-self"),
                      (["--seed", "3"], "mined with --seed 0: drop --seed 3"),
                      (["--method", "truncation", "--psi", "0.5"], "--method truncation does not apply"),
                      (["--method", "random"], "--method random does not apply"),
                      (["--psi", "0.5"], "--psi applies to --method truncation")):
        code, _, err = here(capsys, "sample", *net, "--bank", "bank", "--n", "2", "--outdir", "o", "--quiet", *bad)
        assert code == 2 and says in err, (bad, err)
    # the bank's own settings are accepted, and its class is rendered
    code, _, err = here(capsys, "sample", *net, "--bank", "bank", "--n", "2", "--outdir", "o", "--quiet",
                        "--class", "1", "--k", "5", "--threshold", "8", "--pool-size", "400", "--space", "w")
    assert code == 0, err
    assert np.load(tmp_path / "o" / "latents.npz")["labels"].tolist() == [1, 1]
    code, _, err = here(capsys, "sample", *net, "--n", "2", "--outdir", "o2", "--class", "1", "--offset", "3")
    assert code == 2 and "--offset applies to --bank" in err


def test_help_names_the_pickle_risk():
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "sample", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "runs code from the file" in " ".join(r.stdout.split())


PEAK = """
import resource, sys
sys.path.insert(0, {tests!r})
from standins import StyleGANStandIn
from hubness_fast.sampling import sample
G = StyleGANStandIn(img_resolution=128, img_channels=3)
out = sample(G, {n}, "random", outdir={outdir!r}, batch_size=50, progress=False)
assert out.images is None
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_streaming_to_a_folder_does_not_grow_the_peak_with_n(tmp_path):
    peaks = {}
    for n in (200, 2000):
        code = PEAK.format(tests=str(TESTS), n=n, outdir=str(tmp_path / str(n)))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        peaks[n] = int(r.stdout.split()[-1]) / 1024  # MiB
    assert len(list((tmp_path / "2000").glob("[0-9]*.png"))) == 2000
    # holding 1 800 more images would add 1800 * 3 * 128 * 128 * 4 bytes = 338 MiB (88 MiB as uint8); the
    # peak of one run varies by about 30 MiB from run to run on its own (the allocator's arenas)
    assert peaks[2000] - peaks[200] < 60, peaks


def test_truncation_cutoff_flag_is_nvidias(tmp_path):
    (tmp_path / "net4.py").write_text("from standins import StyleGANStandIn\n\n"
                                      "def build():\n    return StyleGANStandIn(num_ws=4, seed=2)\n")
    r = cli("--network", "net4:build()", "--n", "5", "--outdir", str(tmp_path / "o"), "--method", "truncation",
            "--psi", "0.3", "--truncation-cutoff", "2", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    G = StyleGANStandIn(num_ws=4, seed=2)
    lat = np.load(tmp_path / "o" / "latents.npz")
    with torch.no_grad():  # NVIDIA's G with the same psi and cutoff, from the saved z
        own = to_uint8(G(torch.from_numpy(lat["z"]), torch.zeros(5, 0), truncation_psi=0.3, truncation_cutoff=2,
                         noise_mode="const")).numpy()
    for i in range(5):
        np.testing.assert_array_equal(read_png(tmp_path / "o" / f"{i:06d}.png"), own[i].transpose(1, 2, 0))
    r = cli("--network", "net4:build()", "--n", "5", "--outdir", str(tmp_path / "p"), "--truncation-cutoff", "2",
            cwd=tmp_path)
    assert one_line_error(r) and "--truncation-cutoff applies to --method truncation" in r.stderr


def test_a_checkpoint_of_weights_says_how_to_load_it(tmp_path):
    # rosinality's train.py saves {"g", "d", "g_ema", "g_optim", "d_optim", "args"}: weights, not a network
    G = StyleGANStandIn()
    torch.save({"g": G.state_dict(), "d": {}, "g_ema": G.state_dict(), "args": None}, tmp_path / "550000.pt")
    r = cli("--network", str(tmp_path / "550000.pt"), "--n", "2", "--outdir", "o", cwd=tmp_path)
    assert one_line_error(r)
    assert "holds weights, not a network" in r.stderr and "load_state_dict(checkpoint['g_ema'])" in r.stderr \
        and "module:factory()" in r.stderr


def test_checkpoints_of_other_training_scripts(tmp_path):
    from hubness_fast.sampling.networks import NetworkError, load_network

    G = StyleGANStandIn()
    torch.save({"generator": G, "discriminator": torch.nn.Linear(2, 2), "epoch": 3}, tmp_path / "gd.pt")
    assert type(load_network(str(tmp_path / "gd.pt"))) is StyleGANStandIn
    torch.save({"netG": G}, tmp_path / "netg.pth")
    assert type(load_network(str(tmp_path / "netg.pth"))) is StyleGANStandIn
    lightning = {"epoch": 3, "global_step": 10, "hyper_parameters": {"latent_dim": 32},
                 "state_dict": {f"generator.{k}": v for k, v in G.state_dict().items()}
                 | {"discriminator.weight": torch.zeros(2, 2)}}
    torch.save(lightning, tmp_path / "lit.ckpt")
    with pytest.raises(NetworkError, match=r"load_state_dict\(checkpoint\['state_dict'\]\) \(a Lightning checkpoint: "
                       r"its keys start with the module's attributes \['discriminator', 'generator'\]"):
        load_network(str(tmp_path / "lit.ckpt"))
    torch.save({"epoch": 3, "notes": "none"}, tmp_path / "other.pt")
    with pytest.raises(NetworkError, match="without a generator .* one of \\['G_ema', 'G', 'generator', 'netG'"):
        load_network(str(tmp_path / "other.pt"))


def test_a_module_saved_from_a_script_says_why_it_cannot_be_loaded(tmp_path):
    script = ("import torch\nclass MainG(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.fc = torch.nn.Linear(4, 12)\n    def forward(self, z):\n        return self.fc(z)\n"
              "torch.save(MainG(), 'main.pt')\n")
    (tmp_path / "train.py").write_text(script)
    subprocess.run([sys.executable, "train.py"], cwd=tmp_path, check=True)
    r = cli("--network", "main.pt", "--n", "2", "--outdir", "o", cwd=tmp_path)
    assert one_line_error(r) and "MainG" in r.stderr and "defined in __main__" in r.stderr \
        and "move the class into a module" in r.stderr, r.stderr


def test_a_pickle_whose_code_is_missing_says_where_to_put_it(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "mynets.py").write_text("from standins import StyleGANStandIn\n"
                                                 "class Net(StyleGANStandIn):\n    pass\n")
    script = ("import pickle, sys; sys.path.insert(0, 'code'); import mynets; "
              "pickle.dump({'G_ema': mynets.Net()}, open('net.pkl', 'wb'))")
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True)
    r = cli("--network", "net.pkl", "--n", "2", "--outdir", "o", cwd=tmp_path)
    assert one_line_error(r) and "needs the module 'mynets', which is not importable" in r.stderr
    assert "put that folder on PYTHONPATH" in r.stderr
    ok = cli("--network", "net.pkl", "--n", "2", "--outdir", "o", "--method", "random", "--quiet", cwd=tmp_path,
             pythonpath=(TESTS, tmp_path / "code"))
    assert ok.returncode == 0, ok.stderr


def test_python_and_command_line_default_to_the_same_batches(tmp_path):
    # the zoo's DCGAN renders with batch statistics, so its images depend on the batch size: sample() and
    # `hubness-fast sample` must cut the same batches by default for one seed to give one set of images
    from hubness_fast.sampling import sample
    from standins import GANZooStandIn

    n = 70  # two batches of 64 in one, three of 32 in the other
    r = cli("--network", "standins:GANZooStandIn()", "--n", str(n), "--method", "random", "--outdir", "o",
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    images = np.asarray(sample(GANZooStandIn(), n, method="random", output="uint8", seed=0, progress=False).images)
    by_32 = sample(GANZooStandIn(), n, method="random", batch_size=32, output="uint8", seed=0, progress=False)
    assert not np.array_equal(images, np.asarray(by_32.images))  # the batch size shows in this model
    for i in range(n):
        np.testing.assert_array_equal(read_png(tmp_path / "o" / f"{i:06d}.png"), images[i].transpose(1, 2, 0))


def test_a_bank_that_cannot_be_written_is_refused_before_the_network_loads(tmp_path, monkeypatch, capsys):
    from hubness_fast import cli as cli_module
    from hubness_fast.cli import commands as cli_commands
    from hubness_fast.sampling.mining import mine

    bank = mine(None, 20, tmp_path / "b", z_dim=8, k=5, threshold=12, pool_size=400, progress=False).path
    real_access = os.access
    monkeypatch.setattr(cli_commands.os, "access", lambda p, mode: False if Path(p) == bank else real_access(p, mode))
    with pytest.raises(SystemExit) as stop:
        cli_module.main(["sample", "--network", "no_such_module:G", "--bank", str(bank), "--n", "2",
                         "--outdir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "cannot write to the bank" in err and "--offset N" in err, err


def test_a_factory_with_arguments_says_only_a_call_with_none_is_taken(tmp_path):
    """module:Factory(arg=1) was looked up as an attribute named 'Factory(arg=1)' ("has no attribute")."""
    from hubness_fast.sampling.networks import NetworkError, load_attr

    with pytest.raises(NetworkError, match=r"passes arguments: only module:attr or a call with none, "
                                           r"module:factory\(\), is taken"):
        load_attr("standins:StyleGANStandIn(img_resolution=8, img_channels=1)")
    assert load_attr("standins:StyleGANStandIn").__name__ == "StyleGANStandIn"  # the class itself, as named


def test_a_warning_is_one_line_in_the_commands_words(tmp_path):
    """Not Python's '<frozen runpy>:88: UserWarning: ...': the command's own line, its flags named."""
    torch.save(StyleGANStandIn(seed=3), tmp_path / "g.pt")
    r = cli("--network", str(tmp_path / "g.pt"), "--n", "4", "--outdir", str(tmp_path / "o"), "--method", "truncation",
            "--space", "z", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hubness-fast: warning: truncation in Z has no effect"), r.stderr
    assert "truncate in W (--space w)" in lines[0] and "runpy" not in r.stderr


def test_a_tensorflow_stylegan_pickle_is_told_to_be_converted(tmp_path, monkeypatch):
    # with or without NVIDIA's dnnlib importable, the advice was to put a clone on PYTHONPATH, which
    # does not load a TensorFlow pickle: legacy.py converts it first
    from hubness_fast.sampling.networks import NetworkError, load_network

    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")  # Network() by reference
    torch_pkl = tmp_path / "torch-snapshot.pkl"
    torch_pkl.write_bytes(b"\x80\x02cdnnlib.util\nEasyDict\nq\x00)\x81q\x01.")  # a PyTorch-era class
    with pytest.raises(NetworkError, match="is an NVIDIA network pickle: unpickling it needs NVIDIA's 'dnnlib'"):
        load_network(str(torch_pkl))  # no dnnlib anywhere: put a clone on the path
    converted = r"is a TensorFlow StyleGAN/StyleGAN2 pickle: convert it .* python legacy\.py --source=.*ffhq"
    with pytest.raises(NetworkError, match=converted):
        load_network(str(path))
    (tmp_path / "repo" / "dnnlib").mkdir(parents=True)  # a clone of stylegan3 on the path: dnnlib imports,
    (tmp_path / "repo" / "dnnlib" / "__init__.py").write_text("")  # dnnlib.tflib does not
    monkeypatch.syspath_prepend(str(tmp_path / "repo"))
    monkeypatch.delitem(sys.modules, "dnnlib", raising=False)
    with pytest.raises(NetworkError, match=converted):
        load_network(str(path))
