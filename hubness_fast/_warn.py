"""Warnings shown at the caller's own line, not at the package's internals."""
from __future__ import annotations

import inspect
import os
import warnings

_PACKAGE = os.path.dirname(os.path.realpath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` at the first frame outside this package: the line of the user's code that
    led here (a call through the command line, all inside the package, shows the outermost one)."""
    here = inspect.currentframe()
    frame, level = (here.f_back if here is not None else None), 2  # stacklevel 2: warn_user's caller
    while frame is not None and frame.f_back is not None and \
            os.path.realpath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
