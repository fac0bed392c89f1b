"""The paper's study (hub sampling against random and truncation: table with spreads, P-R curves,
figures) and the demo on the bundled MNIST model. The top layer: it may import every other."""
from .run import run_study

__all__ = ["run_study"]
