"""``python -m hubness_fast.cli``: the `hubness-fast` command."""
import sys

from .entry import main

sys.exit(main())
