"""The `hubness-fast` command: demo, hubs, sample, mine, study, eval, bench (argparse only).

Every failure is one line on stderr and exit code 2 (``--debug`` shows the traceback); output paths
are checked before any work; messages name the command's flags. ``main`` (:mod:`.entry`) parses
(:mod:`.parser`) and runs one of :mod:`.commands`, which turn their inputs into objects through
:mod:`.inputs` and word their refusals through :mod:`.messages`.
"""
from .entry import main
from .messages import flags_for_keywords, missing_dependency
from .parser import build_parser, scorecard_defaults

__all__ = ["main", "build_parser", "flags_for_keywords", "missing_dependency", "scorecard_defaults"]
