"""``python -m hubness_fast``: the `hubness-fast` command, as ``python -m hubness_fast.cli``."""
import sys

from .cli.entry import main

sys.exit(main())
