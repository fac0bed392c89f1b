"""``hubness_fast.metrics`` as before the subpackages: this name is the module hubness_fast.evaluation.metrics."""
import sys

from .evaluation import metrics as _module

sys.modules[__name__] = _module
