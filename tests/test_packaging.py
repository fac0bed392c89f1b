"""The sdist carries what a build from it needs: setup.py drives CMake over csrc/ (a missing
MANIFEST.in once shipped an sdist without a line of C++, which no one could install)."""
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked(*paths):
    r = subprocess.run(["git", "-C", str(ROOT), "ls-files", *paths], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout:
        pytest.skip("not a git checkout")
    return r.stdout.split()


def test_the_sdist_holds_the_native_sources_and_the_build_files(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("no git")
    files = tracked()
    tree = tmp_path / "tree"
    for name in files:  # the committed tree only: what a release is built from
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    r = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "dist")], cwd=tree,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    needed = set(tracked("csrc", "CMakeLists.txt", "setup.py", "pyproject.toml", "LICENSE", "README.md"))
    needed |= {f for f in tracked("hubness_fast") if f.endswith((".py", ".pt", ".pyi", "py.typed"))
               and not Path(f).name.startswith("train_")}  # the models' training scripts stay in the repository
    assert not needed - names, sorted(needed - names)[:10]
    assert not {n for n in names if n.endswith(".so")}  # no build output of this machine
    assert not {n for n in names if n.startswith("tests/")}  # no part of a suite that cannot run on its own


def test_a_build_removes_the_native_modules_an_earlier_build_left_and_nothing_else(tmp_path):
    """A wheel packs the build folder: a _cuda module of an earlier build must not reach a CPU-only one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hubness_fast_setup", ROOT / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # not __main__: defines the build, runs no setup()
    old = ["_cpu.cpython-311-x86_64-linux-gnu.so", "_cuda.cpython-311-x86_64-linux-gnu.so", "_cuda.pyd"]
    kept = ["_native.py", "_version.py", "_cpu.pyi", "other.cpython-311-x86_64-linux-gnu.so", "__init__.py"]
    for name in old + kept:
        (tmp_path / name).write_text("")
    setup.remove_old_modules(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
