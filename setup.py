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
            import ninja  # noqa: F401

            cfg.append("-GNinja")
        except ImportError:
            pass
        cfg += [a for a in os.environ.get("CMAKE_ARGS", "").split() if a]
        subprocess.run(["cmake", str(ROOT), *cfg], cwd=build_dir, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", ".", "--parallel", jobs], cwd=build_dir, check=True)


CUDA = os.environ.get("HUBNESS_FAST_CUDA", "AUTO").upper()
modules = [CMakeExtension("hubness_fast._cpu")]
if CUDA == "ON" or (CUDA == "AUTO" and (shutil.which("nvcc") or os.environ.get("CUDACXX"))):
    modules.append(CMakeExtension("hubness_fast._cuda"))  # CMake fails loudly for ON without nvcc

setup(
    ext_modules=modules,
    cmdclass={"build_ext": CMakeBuild},
)
