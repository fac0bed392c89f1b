"""The hubness-fast command: main(argv) in this process (tests/clirun.py), and in a process of its own
where the process itself is tested (signals, pipes, the entry points)."""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clirun import run, run_process
from oracles import brute_hub_counts


def cli(*args, cwd=None, env=None):
    return run(args, cwd=cwd, env=env)


def test_hubs_writes_exact_counts(tmp_path):
    x = np.random.default_rng(0).standard_normal((400, 12)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", str(tmp_path / "z.npy"), "--k", "4", "--out", str(tmp_path / "c.npy"), "--quiet")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), brute_hub_counts(x, 4))


@pytest.mark.parametrize("args", [
    ["hubs", "missing.npy", "--out", "c.npy"],
    ["hubs", "--k", "3"],
    ["sample", "--generator", "no_such_module:G", "--latent-dim", "4", "--n", "3", "--out", "x"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("hubness-fast: error:")


def _has_gpu():
    import hubness_fast as hf

    return hf.HAS_CUDA and hf._native.cuda.device_count() > 0


def test_hubs_device_choice(tmp_path):
    x = np.random.default_rng(1).standard_normal((300, 6)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", str(tmp_path / "z.npy"), "--k", "3", "--out", str(tmp_path / "c.npy"), "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), brute_hub_counts(x, 3))
    if not _has_gpu():  # with a GPU: test_hubs_on_the_gpu
        r = cli("hubs", str(tmp_path / "z.npy"), "--out", str(tmp_path / "d.npy"), "--quiet", "--device", "cuda")
        assert r.returncode == 2 and "--device cuda needs" in r.stderr and "device='cuda'" not in r.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="needs a CUDA device")
def test_hubs_on_the_gpu(tmp_path):
    x = np.random.default_rng(1).standard_normal((300, 6)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", str(tmp_path / "z.npy"), "--out", str(tmp_path / "d.npy"), "--quiet", "--device", "cuda")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), brute_hub_counts(x, 5))


def test_a_closed_stdout_ends_the_command_quietly(tmp_path):
    (tmp_path / "empty").mkdir()
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with EPIPE, as under `| head -1` once head has quit
    try:
        r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "mine", "--status", str(tmp_path / "empty")],
                           stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert r.stderr == "" and r.returncode == 141  # 128 + SIGPIPE, as a shell reports for Unix tools


def test_a_broken_pipe_other_than_stdout_is_an_error(tmp_path):
    # a worker's or a socket's pipe breaking is a failure to report, not `| head` closing stdout
    script = ("import sys, hubness_fast.cli as c, hubness_fast.cli.commands as commands\n"
              "def boom(args):\n    raise BrokenPipeError(32, 'Broken pipe (a worker)')\n"
              "commands.cmd_hubs = boom\n"
              f"sys.exit(c.main(['hubs', {str(tmp_path / 'z.npy')!r}, '--out', {str(tmp_path / 'c.npy')!r}]))\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == "hubness-fast: error: BrokenPipeError: [Errno 32] Broken pipe (a worker)\n"


def test_help_on_each_command():
    for cmd in ("demo", "hubs", "sample", "study", "bench"):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout


def test_sample_with_bundled_generator(tmp_path):
    pytest.importorskip("torch")
    r = cli("sample", "--generator", "hubness_fast.models:load_generator()", "--latent-dim", "64", "--n", "20",
            "--out", str(tmp_path), "--top", "0.05", "--pool-size", "500", "--quiet")
    assert r.returncode == 0, r.stderr
    lat = np.load(tmp_path / "latents.npz")
    assert lat["z"].shape == (20, 64) and lat["hub_values"].shape == (20,)
    assert len(list(tmp_path.glob("0000*.png"))) == 20


# ---- paths and errors before any work ---------------------------------------------------------

def test_output_paths_are_checked_before_any_work(tmp_path):
    # The latents file does not exist either: a check made after reading it would name it instead.
    r = cli("hubs", "missing.npy", "--out", "nodir/c.npy", cwd=tmp_path)
    assert r.returncode == 2 and "nodir" in r.stderr and "does not exist" in r.stderr
    r = cli("hubs", "missing.npy", "--out", "/proc/c.npy", cwd=tmp_path)  # access() lets root "write" there
    assert r.returncode == 2 and "cannot write the output file /proc/c.npy" in r.stderr
    # sample: the network cannot be loaded either, so the folder is checked first.
    r = cli("sample", "--network", "no_such_module:G", "--n", "3", "--outdir", "/proc/nope", cwd=tmp_path)
    assert r.returncode == 2 and "/proc/nope" in r.stderr and "no_such_module" not in r.stderr
    r = cli("study", "--network", "no_such_module:G", "--real", "r.npy", "--detector", "d.pt",
            "--outdir", "/proc/nope", cwd=tmp_path)
    assert r.returncode == 2 and "/proc/nope" in r.stderr


def test_out_without_suffix_reports_the_file_written(tmp_path):
    x = np.random.default_rng(0).standard_normal((100, 5)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", "z.npy", "--out", "counts_noext", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "wrote counts_noext.npy"
    np.testing.assert_array_equal(np.load(tmp_path / "counts_noext.npy"), brute_hub_counts(x, 5))


def test_paths_expand_home_and_variables(tmp_path):
    x = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    (tmp_path / "home").mkdir()
    np.save(tmp_path / "home" / "z.npy", x)
    env = dict(os.environ, HOME=str(tmp_path / "home"), OUTDIR=str(tmp_path))
    r = cli("hubs", "~/z.npy", "--out", "$OUTDIR/c.npy", "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), brute_hub_counts(x, 5))
    assert not (tmp_path / "~").exists() and not (tmp_path / "$OUTDIR").exists()


def test_unreadable_inputs_say_what_is_wrong(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file at all")
    r = cli("hubs", "bad.npy", "--out", "c.npy", cwd=tmp_path)
    assert r.returncode == 2 and "not a readable .npy file" in r.stderr and "allow_pickle" not in r.stderr
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    r = cli("hubs", "obj.npy", "--out", "c.npy", cwd=tmp_path)
    assert r.returncode == 2 and "Python objects" in r.stderr and "allow_pickle" not in r.stderr
    r = cli("hubs", "missing.npy", "--out", "c.npy", cwd=tmp_path)
    assert r.returncode == 2 and "missing.npy not found" in r.stderr
    r = cli("sample", "--network", "missing.pkl", "--n", "3", "--outdir", "o", cwd=tmp_path)
    assert r.returncode == 2 and "missing.pkl not found" in r.stderr


def test_a_factory_named_without_parentheses_gets_the_hint(tmp_path):
    r = cli("sample", "--network", "hubness_fast.models:load_mnist_generator", "--n", "3", "--outdir", "o",
            cwd=tmp_path)
    assert r.returncode == 2
    assert "hubness_fast.models:load_mnist_generator()" in r.stderr and "write" in r.stderr


def test_library_messages_name_the_flags(tmp_path):
    (tmp_path / "plain.py").write_text("import torch\n"
                                       "def G(z):\n    return torch.tanh(z[:, :16]).view(-1, 1, 4, 4)\n")
    r = cli("sample", "--network", "plain:G", "--n", "3", "--outdir", "o", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "--z-dim N" in r.stderr and "z_dim=" not in r.stderr
    r = cli("sample", "--network", "plain:G", "--z-dim", "16", "--n", "3", "--outdir", "o", "--pool-size", "50",
            "--threshold", "49", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "--threshold" in r.stderr and "--top 0.01" in r.stderr
    assert "threshold=" not in r.stderr and "top=" not in r.stderr


def test_flags_for_keywords():
    from hubness_fast.cli import flags_for_keywords

    assert flags_for_keywords("use top=0.01, threshold=59 (k=5); pass z_dim=") == \
        "use --top 0.01, --threshold 59 (--k 5); pass --z-dim N"
    assert flags_for_keywords("no keyword here; stop=3") == "no keyword here; stop=3"
    assert flags_for_keywords("or a larger pool_size=.") == "or a larger --pool-size N."  # not "--pool-size ."
    assert flags_for_keywords("lower k= or add samples; raise n=.") == "lower --k or add samples; raise --n."
    advice = "Lower it (e.g. threshold=9), use top=0.01, or a larger pool_size=. Then k=5 holds."
    assert flags_for_keywords(advice, {"--threshold", "--pool-size", "--k"}) == \
        "Lower it (e.g. --threshold 9), or a larger --pool-size N. Then --k 5 holds."
    assert flags_for_keywords(advice, {"--threshold", "--top", "--k"}) == \
        "Lower it (e.g. --threshold 9), use --top 0.01. Then --k 5 holds."
    assert flags_for_keywords("use top=0.01, threshold=59", {"--threshold"}) == "use --threshold 59"
    # the library names the keyword once; the command line names the flag once (it said both)
    from hubness_fast.sampling.samplers import resolve_labels

    with pytest.raises(ValueError) as told:
        resolve_labels(None, 4, 2, np.random.default_rng(0))
    assert flags_for_keywords(str(told.value), {"--class"}) == \
        "this generator is conditional (4 classes): pass --class N (a class, a list, or 'uniform')"
    # a keyword as the subject of a rule; one-letter keywords are words too and stay
    assert flags_for_keywords("pool_size must be an integer >= 2") == "--pool-size must be an integer >= 2"
    assert flags_for_keywords("n_threads must be positive; k must be >= 1") == \
        "--threads must be positive; k must be >= 1"
    assert flags_for_keywords("k must be between 1 and 9", {"--k"}) == "--k must be between 1 and 9"
    assert flags_for_keywords("k must be between 1 and 9", {"--hub-k"}) == "k must be between 1 and 9"
    # a subject whose flag the command lacks stays a keyword, and its clause stays whole
    assert flags_for_keywords("batch_size must be an integer >= 1, got 0", {"--n"}) == \
        "batch_size must be an integer >= 1, got 0"
    assert flags_for_keywords("BigGAN's truncation must be in (0, 1], got psi=0.0", {"--truncation", "--psi"}) == \
        "BigGAN's truncation must be in (0, 1], got --psi 0.0"


def test_demo_advises_only_flags_it_has(tmp_path):
    # demo has no --top: an unreachable threshold's advice leaves it out
    r = cli("demo", "--pool-size", "100", "--n", "20", "--seeds", "2", "--out", "d", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "no latent reached hub value" in r.stderr
    assert "--top" not in r.stderr and "--threshold" in r.stderr and "--pool-size N." in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--method", "hubs", "--psi", "0.5"], "--psi applies to --method truncation"),
    (["--method", "random", "--threshold", "3"], "--threshold applies to --method hubs"),
    (["--method", "truncation", "--pool-size", "30"], "--pool-size applies to --method hubs"),
    (["--method", "random", "--include-self"], "--include-self applies to --method hubs"),
])
def test_flags_of_another_method_are_refused(tmp_path, args, message):
    r = cli("sample", "--network", "hubness_fast.models:load_generator()", "--n", "3", "--outdir", "o", *args,
            cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr
    assert not (tmp_path / "o").exists()  # refused before any work


def test_every_option_states_what_it_does_and_its_default():
    from hubness_fast.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    no_default = {"--quiet", "--debug", "--engine", "--gpu", "--help"}  # switches that are simply off
    for name, p in sub.choices.items():
        text = p.format_help()
        for action in p._actions:
            if not action.option_strings or action.required or set(action.option_strings) & no_default:
                continue
            assert action.help, (name, action.option_strings)
            assert "default" in p._get_formatter()._expand_help(action), (name, action.option_strings)
        assert "%(default)" not in text
    assert "(default: 5)" in sub.choices["hubs"].format_help()
    assert "(default: 64)" in sub.choices["sample"].format_help()
    assert "(default: 64)" in sub.choices["study"].format_help()


def test_bench_passes_its_options_to_the_runner():
    root = Path(__file__).resolve().parent.parent
    r = run_process(["bench", "--rounds", "not-a-number"], cwd=root)  # the runner's process writes the error
    assert r.returncode == 2 and "python -m benchmarks" in r.stderr and "--rounds" in r.stderr
    r = cli("bench", "--help", cwd=root)
    assert r.returncode == 0 and "--data DATA" in r.stdout and "--queries QUERIES" not in r.stdout
    r = cli("bench", "--data", "latents.npy", "--help", cwd=root)  # the installed runner's own options
    assert r.returncode == 0 and "--queries QUERIES" in r.stdout and "--rounds ROUNDS" in r.stdout


def test_bench_outside_a_checkout_points_to_the_installed_runner(tmp_path):
    r = cli("bench", "--quick", cwd=tmp_path)
    assert r.returncode == 2 and "python -m benchmarks" in r.stderr and "bench --data X.npy" in r.stderr


@pytest.mark.parametrize("flag", ["--frobnicate", "--method"])  # unknown anywhere; a flag of `sample`
def test_unknown_flags_and_flags_of_other_commands_are_refused_by_name(tmp_path, flag):
    r = cli("hubs", "z.npy", "--out", "c.npy", flag, "random", cwd=tmp_path)
    assert r.returncode == 2 and f"unrecognized arguments: {flag} random" in r.stderr


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path):
    import signal
    import time
    np.save(tmp_path / "z.npy", np.random.default_rng(0).standard_normal((120_000, 256)).astype(np.float32))
    proc = subprocess.Popen([sys.executable, "-m", "hubness_fast.cli", "hubs", "z.npy", "--out", "c.npy"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # past the imports, into the engine
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "c.npy").exists()


def test_demo_engine_takes_its_own_flags_and_refuses_the_sampling_demos(tmp_path):
    base = ("demo", "--engine", "--n", "400", "--dim", "8", "--k", "3", "--quiet")
    plain, own = cli(*base, cwd=tmp_path), cli(*base, "--include-self", cwd=tmp_path)
    assert plain.returncode == 0 and own.returncode == 0
    assert plain.stdout.splitlines()[1] != own.stdout.splitlines()[1]  # self-counting changes the hub values
    for flags, named in ((("--threshold", "9"), "--threshold"), (("--out", "d"), "--out"),
                         (("--seeds", "2", "--pool-size", "500"), "--seeds, --pool-size")):
        r = cli(*base, *flags, cwd=tmp_path)
        assert r.returncode == 2 and f"{named} applies to the sampling demo, not --engine" in r.stderr
    for flag in ("--n", "--dim"):  # 0 was taken as "the default" (100 000 latents, 512 dimensions)
        r = cli(*base, flag, "0", cwd=tmp_path)
        assert r.returncode == 2 and f"{flag} must be an integer >=" in r.stderr


def test_hubs_refuses_to_overwrite_its_own_input(tmp_path):
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    bad = x.copy()
    bad[3, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    r = cli("hubs", "bad.npy", "--out", "c.npy", "--k", "3", cwd=tmp_path)
    assert r.returncode == 2 and "the latents file bad.npy contains NaN or Inf (first at row 3)" in r.stderr
    np.save(tmp_path / "z.npy", x)
    r = cli("hubs", "z.npy", "--out", "z.npy", "--k", "3", cwd=tmp_path)
    assert r.returncode == 2 and "is the latents file itself" in r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "z.npy"), x)
    (tmp_path / "adir").mkdir()
    r = cli("hubs", "z.npy", "--out", "adir", "--k", "3", cwd=tmp_path)
    assert r.returncode == 2 and "it is a folder" in r.stderr and not (tmp_path / "adir.npy").exists()


def test_mine_refuses_zero_instead_of_taking_the_default(tmp_path):
    for flag, value in (("--k", "0"), ("--pool-size", "0")):
        r = cli("mine", "--z-dim", "4", "--n", "5", "--outdir", "b", "--threshold", "3", flag, value, cwd=tmp_path)
        assert r.returncode == 2 and flag in r.stderr, r.stderr
        assert not (tmp_path / "b" / "z.npy").exists()


def test_a_negative_threshold_is_refused_by_every_command_that_takes_one(tmp_path):
    for args in (["mine", "--z-dim", "4", "--n", "5", "--outdir", "b"],
                 ["sample", "--generator", "hubness_fast.models:load_generator()", "--n", "3", "--out", "s"]):
        r = cli(*args, "--threshold", "-1", cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert "--threshold -1 is below 0" in r.stderr and "--threshold 0 keeps every latent" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_demo_refuses_threads_without_engine(tmp_path):
    r = cli("demo", "--threads", "2", "--out", "d", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "hubness-fast: error: --threads applies to --engine only"
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("spec, given, label", [
    ("bundled", None, "classifier confidence"),
    ("mymodels:sharpness", None, "sharpness"),
    ("mymodels:make_scorer()", None, "make_scorer"),
    ("bundled", "digit confidence", "digit confidence"),
])
def test_study_names_the_quality_score_on_its_figure(tmp_path, monkeypatch, spec, given, label):
    pytest.importorskip("torch")
    import hubness_fast.cli as cli_module
    import hubness_fast.cli.commands as cli_commands
    import hubness_fast.study.run as study_run

    seen = {}
    monkeypatch.setattr(study_run, "run_study", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(cli_commands, "load_detector", lambda spec, flag, device: (lambda images: images))
    np.save(tmp_path / "r.npy", np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32))
    argv = ["study", "--network", "hubness_fast.models:load_generator()", "--latent-dim", "64", "--real",
            str(tmp_path / "r.npy"), "--detector", "bundled", "--quality", spec, "--outdir", str(tmp_path / "o")]
    assert cli_module.main(argv + (["--quality-label", given] if given else [])) == 0
    assert seen["quality_label"] == label


def test_version():
    from hubness_fast import __version__

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"hubness-fast {__version__}"


def _without(module, tmp_path):
    """A folder whose sitecustomize makes `module` unimportable, as when it is not installed."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r} or name.startswith({module + '.'!r}):\n"
        f"            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    return dict(os.environ, PYTHONPATH=str(tmp_path))


@pytest.mark.parametrize("args", [
    ["sample", "--network", "hubness_fast.models:load_generator()", "--n", "2", "--outdir", "o"],
    ["study", "--network", "hubness_fast.models:load_generator()", "--detector", "bundled", "--outdir", "o"],
    ["demo", "--out", "o"],
])
def test_a_missing_torch_is_one_line_saying_what_to_install_before_any_folder(tmp_path, args):
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", *args], capture_output=True, text=True,
                       cwd=tmp_path, env=_without("torch", tmp_path))
    assert r.returncode == 2 and r.stderr == "hubness-fast: error: this needs torch, which is not installed: pip " \
                                             "install torch\n"
    assert not (tmp_path / "o").exists()  # nothing made before the check


def test_eval_of_features_runs_without_torch(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "r.npy", rng.standard_normal((100, 4)))
    np.save(tmp_path / "f.npy", rng.standard_normal((90, 4)) + 0.2)
    r = subprocess.run([sys.executable, "-m", "hubness_fast.cli", "eval", "--real", "r.npy", "--fake", "f.npy",
                        "--quiet"], capture_output=True, text=True, cwd=tmp_path, env=_without("torch", tmp_path))
    assert r.returncode == 0, r.stderr
    assert "precision" in r.stdout


@pytest.mark.parametrize("module, code, says", [
    ("dask", "import numpy as np, hubness_fast.dask as d; d.hub_counts(np.ones((10, 2)), 2)",
     "hubness_fast.dask needs dask: pip install 'dask[array,distributed]'"),
    ("sklearn", "import hubness_fast.neighbors",
     "the scikit-learn layer (hubness_fast.neighbors, hubness_fast.reduction) needs scikit-learn"),
])
def test_a_missing_optional_package_is_named_with_what_to_install(tmp_path, module, code, says):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=_without(module, tmp_path))
    assert r.returncode == 1 and says in r.stderr


def test_only_a_module_not_found_is_called_not_installed():
    # "cannot import name ... from sklearn" means an old scikit-learn, which its own message names
    from hubness_fast.cli import missing_dependency

    old = ImportError("cannot import name 'validate_data' from 'sklearn.utils.validation'",
                      name="sklearn.utils.validation")
    assert missing_dependency(old) is None
    gone = ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
    assert missing_dependency(gone) == "this needs sklearn, which is not installed: pip install 'scikit-learn>=1.6'"


def test_unreadable_inputs_are_one_line_errors_everywhere(tmp_path):
    # a text file as .npy: every command says so in its own words (eval, study and bench printed numpy's
    # "load it unsafely using allow_pickle"); a bank that is a file or missing, a cache folder that is a file
    (tmp_path / "junk.npy").write_text("not an array")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32))
    from hubness_fast.sampling.images import write_png

    (tmp_path / "digits").mkdir()
    for i in range(3):
        write_png(tmp_path / "digits" / f"{i}.png", np.full((28, 28), 40 * i, np.uint8))
    cases = [(("eval", "--real", "f.npy", "--fake", "junk.npy"), "fake junk.npy is not a readable .npy file"),
             (("bench", "--data", "junk.npy"), "junk.npy is not a readable .npy file"),
             (("hubs", "junk.npy", "--out", "c.npy"), "junk.npy is not a readable .npy file"),
             (("eval", "--real", "other.npz", "--fake", "f.npy"), "is not a fitted reference"),
             (("sample", "--network", "x:y", "--bank", "f.npy", "--n", "2", "--outdir", "o"), "is not a folder"),
             (("sample", "--network", "x:y", "--bank", "nowhere", "--n", "2", "--outdir", "o"), "not found"),
             (("eval", "--real", "f.npy", "--fake", "digits", "--detector", "bundled", "--cache-dir", "f.npy"),
              "the cache folder f.npy is a file")]
    for args, message in cases:
        r = cli(*args, cwd=tmp_path)
        lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], (args, r.stderr)
        assert "allow_pickle" not in r.stderr and "Error:" not in r.stderr


def test_hubs_messages_name_flags_and_a_cut_short_file(tmp_path):
    """--threads 0 was refused as "a positive integer or None" (no flag takes None), and a file cut short
    in its data was blamed on its header (--device: test_hubs_device_choice)."""
    x = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    whole = (tmp_path / "z.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:len(whole) // 2])
    cases = [(("hubs", "z.npy", "--threads", "0", "--out", "c.npy"), "--threads must be an integer >= 1, got 0"),
             (("demo", "--engine", "--n", "50", "--threads", "0"), "--threads must be an integer >= 1, got 0"),
             (("hubs", "cut.npy", "--out", "c.npy"), "the latents file cut.npy is cut short: its header describes "
                                                     "more data than the file holds")]
    for args, message in cases:
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and message in r.stderr and "None" not in r.stderr, (args, r.stderr)
    assert not (tmp_path / "c.npy").exists()


def test_a_refused_run_leaves_no_empty_folder_and_flags_are_spelled_alike(tmp_path):
    for args in (("demo", "--seeds", "1", "--out", "d1"), ("demo", "--pool-size", "0", "--out", "d2"),
                 ("sample", "--network", "hubness_fast.models:load_mnist_generator()", "--n", "0", "--outdir", "s0"),
                 ("mine", "--z-dim", "4", "--n", "5", "--outdir", "m0", "--threshold", "1000", "--pool-size", "50")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # --generator / --network and --out / --outdir name the same thing in every command that has them
    r = cli("study", "--network", "nowhere:G", "--detector", "bundled", "--n", "0", "--outdir", "s", cwd=tmp_path)
    assert r.returncode == 2 and "--n must be an integer >= 4, got 0" in r.stderr  # not the network's error first
    for args in (("study", "--generator", "nowhere:G", "--out", "s", "--detector", "bundled"),
                 ("eval", "--generator", "nowhere:G", "--real", "r.npy", "--detector", "bundled"),
                 ("demo", "--outdir", "d", "--engine")):
        r = cli(*args, cwd=tmp_path)
        assert "unrecognized arguments" not in r.stderr and "expected one argument" not in r.stderr, r.stderr


@pytest.mark.parametrize("args, kept", [
    (["mine", "--z-dim", "4", "--n", "5", "--outdir", "bank"], "the pools mined so far are in bank: the same command"),
    (["eval", "--real", "r.npy", "--fake", "f.npy", "--cache-dir", "{tmp}/cache"],
     "the features extracted so far are kept in {tmp}/cache: the same command again"),
    (["eval", "--real", "r.npy", "--fake", "f.npy", "--cache-dir", "{tmp}/nothing-cached"], None),
    (["eval", "--real", "r.npy", "--fake", "f.npy"], None),
    (["hubs", "z.npy", "--out", "c.npy"], None),
    (["study", "--network", "n:G", "--detector", "bundled", "--outdir", "{tmp}/kept"],
     "the study's finished steps are kept in {tmp}/kept: the same command again goes on from them"),
    (["demo", "--out", "{tmp}/kept"], "the study's finished steps are kept in {tmp}/kept"),
    (["study", "--network", "n:G", "--detector", "bundled", "--outdir", "{tmp}/none"], None),
    (["study", "--network", "n:G", "--detector", "bundled", "--outdir", "{tmp}/keyonly"], None),  # no step ended
])
def test_an_interrupted_command_says_what_it_kept(monkeypatch, capsys, tmp_path, args, kept):
    from hubness_fast import cli as cli_module
    from hubness_fast.cli import commands as cli_commands

    def interrupted(parsed):
        if parsed.command == "eval" and str(parsed.cache_dir).endswith("/cache"):  # rows of features saved
            (parsed.cache_dir / "ab12.partial").mkdir(parents=True)
            (parsed.cache_dir / "ab12.partial" / "0000000000-0000000008.npy").write_bytes(b"rows")
        raise KeyboardInterrupt

    for folder in ("kept", "keyonly"):
        (tmp_path / folder / ".study-progress").mkdir(parents=True)
        (tmp_path / folder / ".study-progress" / "key.json").write_text("{}")
    (tmp_path / "kept" / ".study-progress" / "run_0_0.json").write_text("{}")
    stale = tmp_path / "nothing-cached" / "cd34.partial" / "0000000000-0000000004.npy"  # an earlier run's rows
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"rows")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    kept = kept and kept.replace("{tmp}", str(tmp_path))
    for name in ("cmd_mine", "cmd_eval", "cmd_hubs", "cmd_study", "cmd_demo"):
        monkeypatch.setattr(cli_commands, name, interrupted)
    assert cli_module.main(args) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("hubness-fast: interrupted")
    assert (kept in err) if kept else err == "hubness-fast: interrupted"
