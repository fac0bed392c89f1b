"""The hubness-fast command run in this process: ``main(argv)``, which ``python -m hubness_fast.cli``
and the ``hubness-fast`` script call, with its own working folder, environment, output streams and a
fresh interpreter's warning filters. It spares each call about 2 s of interpreter start-up and imports
(torch's above all). Tests of the process itself (signals, pipes, the entry point, modules imported
from a folder that is not the working one) start a process."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Completed:
    """As subprocess.CompletedProcess: the command's exit status and what it printed."""
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(args, cwd=None, env=None) -> Completed:
    """``hubness-fast ARGS`` in this process. env: variables set for the call only (a value of None
    unsets one). Modules the command imported from ``cwd`` (a user's network code) are forgotten
    afterwards, as a process would forget them, and sys.path is restored."""
    from hubness_fast.cli.entry import main

    args = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    path, modules = list(sys.path), set(sys.modules)
    where = Path(cwd or os.getcwd()).resolve()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.chdir(where))
        stack.enter_context(_environment(env or {}))
        stack.enter_context(warnings.catch_warnings())
        warnings.resetwarnings()  # a fresh interpreter's: shown once each, not raised as the suite's filter does
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = main(args)
        except SystemExit as exc:  # argparse and the command's own refusals
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # what leaves main (--debug): the interpreter prints it and exits 1
            traceback.print_exc()
            code = 1
        finally:
            sys.path[:] = path
            for name in set(sys.modules) - modules:
                if cwd is not None and not name.startswith("hubness_fast") and \
                        _under(getattr(sys.modules[name], "__file__", None), where):
                    del sys.modules[name]
    return Completed(args, int(code), out.getvalue(), err.getvalue())


def run_process(args, cwd=None, env=None, **kw) -> subprocess.CompletedProcess:
    """``python -m hubness_fast.cli ARGS`` in a process of its own (env: the whole environment)."""
    return subprocess.run([sys.executable, "-m", "hubness_fast.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, **kw)


@contextlib.contextmanager
def _environment(changes):
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            _set(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set(name, value)


def _set(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def _under(file, folder):
    if not file:
        return False
    try:
        Path(file).resolve().relative_to(folder)
        return True
    except ValueError:
        return False
