"""The import rule of docs/ARCHITECTURE.md, read from the source: every module's imports (also those
inside functions) resolved to package modules, each checked against its layer's allowed targets."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "hubness_fast"
SHARED = {"_files", "_inputs", "_lockfile", "_progress", "_samples", "_types", "_torch", "_version", "_warn"}
NATIVE = {"_cpu", "_cuda"}
APPLICATION = {"__init__", "__main__", "cli", "features", "metrics", "selection", "reduction", "dask", "generators"}
ALLOWED = {  # layer -> layers it may import (besides itself)
    "shared": set(),
    "engine": {"shared", "native"},
    "evaluation": {"engine", "shared"},
    "neighbors": {"engine", "shared"},
    "sampling": {"engine", "shared"},
    "bench": {"engine", "shared"},
    "models": {"engine", "evaluation", "shared"},  # the training scripts measure with the metrics
}
EXCEPTIONS = {("sampling.sources", "evaluation.features")}  # documented in docs/ARCHITECTURE.md


def layer(module):
    head = module.split(".")[0]
    if head in SHARED:
        return "shared"
    if head in NATIVE:
        return "native"
    if head in APPLICATION and "." not in module:
        return "application"
    return head


def modules():
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 1 else rel.parts
        yield ".".join(parts), f


def imports(module, path):
    """(target module, imported names) for each import of the package, resolved."""
    base = list(path.relative_to(PKG).parts[:-1])  # the package a relative import starts from
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("hubness_fast"):
                target = node.module[len("hubness_fast."):] if node.module != "hubness_fast" else ""
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module
                sub = f"{target}.{alias.name}" if target else alias.name
                if alias.name in NATIVE and not target:
                    yield alias.name, alias.name
                    continue
                yield (sub if (PKG / sub.replace(".", "/")).with_suffix(".py").exists()
                       or (PKG / sub.replace(".", "/")).is_dir() else target), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hubness_fast."):
                    yield alias.name[len("hubness_fast."):], None


ALL = list(modules())


@pytest.mark.parametrize("module,path", ALL, ids=[m for m, _ in ALL])
def test_imports_follow_the_layers(module, path):
    mine = layer(module)
    if mine in ("application", "study", "cli"):
        return  # the top: may import anything
    bad = []
    for target, name in imports(module, path):
        theirs = layer(target) if target else "application"
        if theirs == mine or theirs in ALLOWED[mine] or (module, target) in EXCEPTIONS:
            pass
        else:
            bad.append(f"{target} ({theirs})")
        private_name = name is not None and name.startswith("_") and name not in NATIVE
        crosses = theirs != mine and theirs != "shared"
        if private_name and crosses:
            bad.append(f"private name {name} from {target}")
    assert not bad, f"{module} ({mine}) imports {bad}"


def test_no_import_cycles():
    graph = {m: {t for t, _ in imports(m, p) if t} for m, p in ALL}
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
        if m in seen or m not in graph:
            return
        stack.append(m)
        for t in graph[m]:
            visit(t)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)


def test_the_rule_sees_a_violation(tmp_path, monkeypatch):
    """A module of the engine importing sampling is caught (the checker is not vacuous)."""
    fake = tmp_path / "hubness_fast" / "engine"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from ..sampling.samplers import sample\n")
    monkeypatch.setattr(__import__(__name__), "PKG", tmp_path / "hubness_fast")
    with pytest.raises(AssertionError, match="sampling"):
        test_imports_follow_the_layers("engine.bad", fake / "bad.py")
