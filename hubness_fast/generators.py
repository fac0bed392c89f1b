"""``hubness_fast.generators`` as before the subpackages: this name is the module hubness_fast.sampling.generators."""
import sys

from .sampling import generators as _module

sys.modules[__name__] = _module
