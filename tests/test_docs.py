"""Every ```python block of README.md and docs/*.md runs, and the site builds with --strict.

Conventions, written as an HTML comment on the line right before a block's opening fence (readers
of GitHub and of the site do not see them):

- ``<!-- setup: CODE -->`` runs CODE first, in the same namespace: stand-in models from
  tests/standins.py for the user's network (``G = StyleGANStandIn()``), small arrays for the
  user's data. CODE may span lines; the comment ends at ``-->``.
- ``<!-- skip: REASON -->`` leaves the block out (a network pickle, a download, a GPU, a
  Dask scheduler address). The reason is required, and only a small share may be skipped.

Each block runs in its own Python process, in a fresh temporary directory, with the repository
root and tests/ on the path, under a timeout.
"""
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT_S = 60
MAX_SKIPPED_SHARE = 0.2
DIRECTIVE = re.compile(r"<!--\s*(\w[\w-]*):(.*?)-->\s*$", re.S)


class Block(NamedTuple):
    page: str
    line: int  # 1-based line of the opening fence
    code: str
    setup: str
    skip: Optional[str]
    directive: Optional[str]  # the name of the comment before the block, if any


def directive_before(lines, fence):
    """The HTML comment that ends on the line before `fence` (an index), as (name, body)."""
    end = fence - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None, ""
    start = end
    while start >= 0 and "<!--" not in lines[start]:
        start -= 1
    match = DIRECTIVE.search("\n".join(lines[max(start, 0):end + 1]))
    return (match.group(1), match.group(2).strip()) if match else (None, "")


def blocks():
    found = []
    for page in PAGES:
        lines = page.read_text().split("\n")
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```python":
                j = i + 1
                while lines[j].strip() != "```":
                    j += 1
                name, body = directive_before(lines, i)
                found.append(Block(str(page.relative_to(ROOT)), i + 1, "\n".join(lines[i + 1:j]),
                                   body if name == "setup" else "", body if name == "skip" else None, name))
                i = j
            i += 1
    return found


BLOCKS = blocks()


def test_the_pages_have_python_blocks():
    assert len(BLOCKS) >= 25


def test_skipped_blocks_give_a_reason_and_are_few():
    skipped = [b for b in BLOCKS if b.skip is not None]
    for b in skipped:
        assert len(b.skip) >= 10, f"{b.page}:{b.line}: say why the block cannot run here"
    assert len(skipped) <= MAX_SKIPPED_SHARE * len(BLOCKS), [f"{b.page}:{b.line}" for b in skipped]


def test_only_known_directives():
    for b in BLOCKS:
        assert b.directive in (None, "setup", "skip"), f"{b.page}:{b.line}: unknown directive {b.directive!r}"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.line}" for b in BLOCKS])
def test_block_runs(block, tmp_path):
    if block.skip is not None:
        pytest.skip(block.skip)
    script = tmp_path / "block.py"
    script.write_text(f"{block.setup}\n# {block.page}:{block.line}\n{block.code}\n")
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
               MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=TIMEOUT_S)
    assert run.returncode == 0, f"{block.page}:{block.line} failed:\n{run.stderr[-3000:]}"


def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "engine" / "index.html").exists()
