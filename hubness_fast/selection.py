"""``hubness_fast.selection`` as before the subpackages: this name is the module hubness_fast.evaluation.selection."""
import sys

from .evaluation import selection as _module

sys.modules[__name__] = _module
