"""``hubness_fast.dask`` as before the subpackages: this name is the module hubness_fast.engine.dask."""
import sys

from .engine import dask as _module

sys.modules[__name__] = _module
