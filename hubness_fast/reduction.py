"""``hubness_fast.reduction`` as before the subpackages: this name is the module hubness_fast.neighbors.reduction."""
import sys

from .neighbors import reduction as _module

sys.modules[__name__] = _module
