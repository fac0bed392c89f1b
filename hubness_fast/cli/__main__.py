"""``python -m hubness_fast.cli``: the `hubness-fast` command."""
import sys

from .main import main

sys.exit(main())
