"""Build hubness_fast's native modules with CMake (see CMakeLists.txt).

`pip install .` and `pip install -e .` both work: setuptools calls CMakeBuild,
which configures and builds CMakeLists.txt and places the modules in the package.
Environment: HUBNESS_FAST_CUDA=AUTO|ON|OFF, CMAKE_BUILD_PARALLEL_LEVEL, CMAKE_ARGS.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """One CMake build makes every module; each extension then only checks for its file."""

    def build_extension(self, ext: CMakeExtension) -> None:
        if not getattr(self, "_cmake_done", False):
            self._cmake(ext)
            self._cmake_done = True
        if not Path(self.get_ext_fullpath(ext.name)).exists():
            raise RuntimeError(f"CMake did not build {ext.name}")

    def _cmake(self, ext: CMakeExtension) -> None:
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        import pybind11

        cfg = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DHUBNESS_FAST_CUDA={os.environ.get('HUBNESS_FAST_CUDA', 'AUTO')}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        try:
            import ninja

            cfg += ["-GNinja", f"-DCMAKE_MAKE_PROGRAM={Path(ninja.BIN_DIR) / 'ninja'}"]
        except ImportError:
            pass
        _forget_stale_cache(build_dir)
        remove_old_modules(out_dir)
        cfg += [a for a in os.environ.get("CMAKE_ARGS", "").split() if a]
        subprocess.run(["cmake", str(ROOT), *cfg], cwd=build_dir, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", ".", "--parallel", jobs], cwd=build_dir, check=True)


def _forget_stale_cache(build_dir: Path) -> None:
    """pip builds in a fresh isolated environment each time, so a CMake cache left by an earlier build
    can name a ninja or a compiler that no longer exists; CMake then fails before configuring. Such a
    cache is dropped (the objects stay, and ninja rebuilds only what changed)."""
    cache = build_dir / "CMakeCache.txt"
    if not cache.exists():
        return
    for line in cache.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.split(":")[0] in ("CMAKE_MAKE_PROGRAM", "CMAKE_CXX_COMPILER") and value and not Path(value).exists():
            cache.unlink()
            shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)
            return


def remove_old_modules(out_dir: Path) -> None:
    """CMake writes the modules it builds into the package's build folder, and setuptools packs everything
    there into the wheel: a _cuda module an earlier build made would ship in a HUBNESS_FAST_CUDA=OFF wheel
    (and report an old build). Every native module there goes before CMake builds; ninja relinks the ones
    it builds now."""
    for path in out_dir.glob("_*.*"):
        if path.name.split(".")[0] in NATIVE and path.suffix in (".so", ".pyd", ".dylib"):
            path.unlink()


class BuildPy(build_py):
    """The bundled models' training scripts (hubness_fast/models/train_*.py) stay in the repository,
    out of wheels: a user gets the trained weights, not the code that made them."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (package == "hubness_fast.models" and m[1].startswith("train_"))]


NATIVE = ("_cpu", "_cuda")  # the modules CMakeLists.txt can build

if __name__ == "__main__":  # also under pip: setuptools' build backend runs this file as __main__
    CUDA = os.environ.get("HUBNESS_FAST_CUDA", "AUTO").upper()
    modules = [CMakeExtension("hubness_fast._cpu")]
    if CUDA == "ON" or (CUDA == "AUTO" and (shutil.which("nvcc") or os.environ.get("CUDACXX"))):
        modules.append(CMakeExtension("hubness_fast._cuda"))  # CMake fails loudly for ON without nvcc

    setup(
        ext_modules=modules,
        cmdclass={"build_ext": CMakeBuild, "build_py": BuildPy},
    )
