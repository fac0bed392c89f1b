"""scikit-learn, checked once for what this layer needs: version 1.6 or later (``validate_data`` and
the ``__sklearn_tags__`` protocol appeared there)."""
from __future__ import annotations

import re

SKLEARN_MIN = (1, 6)
_NEEDS = "the scikit-learn layer (hubness_fast.neighbors, hubness_fast.reduction) needs scikit-learn>=1.6"


def require_sklearn() -> None:
    """An ImportError that says what to do when scikit-learn is missing, too old, or fails to import."""
    try:
        import sklearn
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "sklearn":  # scikit-learn is there; something it imports is not
            raise ImportError(f"{_NEEDS}; it is installed but needs {e.name}, which is not: pip install "
                              f"{e.name}") from e
        raise ImportError(f"{_NEEDS}: pip install 'scikit-learn>=1.6'") from e
    except ImportError as e:  # installed but broken, e.g. built for another numpy
        raise ImportError(f"{_NEEDS}; it is installed but failed to import: {e}") from e
    version = tuple(int(part) for part in re.findall(r"\d+", sklearn.__version__)[:2])
    if version < SKLEARN_MIN:
        raise ImportError(f"{_NEEDS}, found {sklearn.__version__}: pip install -U 'scikit-learn>=1.6'")
