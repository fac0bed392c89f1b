"""The GPU tests carry the `gpu` marker (benchmarks/gpu/device_run.sh runs `pytest -m gpu`) and skip
without a device. Read from the test files' source, so it needs no GPU and imports nothing."""
import ast
from pathlib import Path


def _decorators(fn):
    return [ast.unparse(d) for d in fn.decorator_list]


def test_gpu_tests_are_marked_and_skip_without_a_device():
    unmarked, unskipped = [], []
    for path in sorted(Path(__file__).parent.rglob("test_*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_"):
                continue
            decorators = _decorators(fn)
            marked = "pytest.mark.gpu" in decorators
            skips = [d for d in decorators if d.startswith("pytest.mark.skipif")]
            needs_device = any(word in d.lower() for d in skips for word in ("cuda", "gpu"))
            if needs_device and not marked:
                unmarked.append(f"{path.name}::{fn.name}")
            if marked and not needs_device:
                unskipped.append(f"{path.name}::{fn.name}")
    assert not unmarked, f"tests that need a GPU without @pytest.mark.gpu: {unmarked}"
    assert not unskipped, f"@pytest.mark.gpu tests without a skipif for a missing device: {unskipped}"
