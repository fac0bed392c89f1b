"""`hubness-fast`'s entry point: parse, run the command, and turn what ends it into one line and
an exit status: an error (2, ``--debug`` shows the traceback), Ctrl-C (130) or SIGTERM (143) with
what the command kept, a closed output pipe (141, quietly). A warning is one line too:
``hubness-fast: warning: ...``."""
from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, NoReturn

from .messages import FLAG, fail, flags_for_keywords, missing_dependency
from .parser import build_parser


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: the status a shell reports for a tool that a closed pipe ended

SIGTERM_EXIT = 143  # 128 + SIGTERM


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        args.rest = rest  # the runner parses its own options
    elif rest:
        fail(f"unrecognized arguments: {' '.join(rest)}")
    started = time.time()
    restore = _stop_on_sigterm()
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside this handler
        return code
    except BrokenPipeError as exc:
        if not _stdout_is_broken():  # another pipe (a worker's, a socket's): an error like any other
            return _report(exc, args)
        # stdout was closed early (`hubness-fast mine --status B | head -1`): stop quietly, as Unix tools
        # do; stdout goes to /dev/null so that the interpreter's last flush does not report it again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except KeyboardInterrupt as exc:
        stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"hubness-fast: {stopped}{_kept(args, started)}", file=sys.stderr)
        return SIGTERM_EXIT if isinstance(exc, Terminated) else 130
    except SystemExit:
        raise
    except Exception as exc:
        return _report(exc, args)
    finally:
        restore()
        warnings.showwarning = shown


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """A warning as the command's own line, not Python's 'FILE:LINE: Category: message' (whose file,
    under python -m, is runpy's)."""
    text = flags_for_keywords(" ".join(str(message).split()))
    print(f"hubness-fast: warning: {text}", file=sys.stderr if file is None else file)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a job's time limit, ``timeout``, ``docker stop``), raised where Ctrl-C would be, so that a
    command cut off that way saves what Ctrl-C saves."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated


def _stop_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into :class:`Terminated` while a command runs; returns what puts the handler it
    replaced back (nothing to do outside the main thread, where signals cannot be handled)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:
        return lambda: None
    return lambda: _set_sigterm(previous if previous is not None else signal.SIG_DFL)


def _set_sigterm(handler: Any) -> None:
    signal.signal(signal.SIGTERM, handler)


def _kept(args: argparse.Namespace, started: float) -> str:
    """What an interrupted command that started at ``started`` (time.time()) kept, for the commands
    that go on where they stopped."""
    if args.command == "mine" and getattr(args, "outdir", None) is not None and args.status is None:
        return f"; the pools mined so far are in {args.outdir}: the same command again goes on from them"
    folder = args.outdir if args.command == "study" else args.out if args.command == "demo" and not args.engine \
        else None
    if folder is not None:
        from ..study.resume import has_progress

        if has_progress(folder):  # a step or more finished (none: the folder was removed, nothing to say)
            return (f"; the study's finished steps are kept in {folder}: the same command again goes on from "
                    f"them")
    if args.command == "eval" and getattr(args, "cache_dir", None) is not None and _saved_since(args.cache_dir,
                                                                                                    started):
        return (f"; the features extracted so far are kept in {args.cache_dir}: the same command again goes on "
                f"from them")
    return ""


def _saved_since(cache_dir: Path, started: float) -> bool:
    """Whether features were saved in ``cache_dir`` since ``started``: the rows of a cut-off extraction
    (a generator's fake set and an extractor without a cache key are not cached)."""
    try:
        return any(p.stat().st_mtime >= started - 1 for p in Path(cache_dir).glob("*.partial/*.npy"))
    except OSError:
        return False


def _report(exc: Exception, args: argparse.Namespace) -> NoReturn:
    """One line on stderr, exit 2; --debug shows the traceback."""
    if getattr(args, "debug", False):
        raise exc
    missing = missing_dependency(exc)
    if missing is not None:
        fail(missing)
    if not isinstance(exc, ValueError):
        fail(f"{type(exc).__name__}: {exc}")
    parser = getattr(args, "command_parser", None)
    if args.command == "bench":  # the runner parses its own flags (not in this parser), and its messages name them
        fail(exc)
    fail(flags_for_keywords(str(exc), None if parser is None else set(FLAG.findall(parser.format_usage()))))


def _stdout_is_broken() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no file descriptor (a captured stdout), or no poll
        return False
