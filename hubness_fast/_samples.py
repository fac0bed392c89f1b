"""The folder a sample run writes, as both layers read it: the sampling layer writes it, the
evaluation layer reads it as a folder of images.

A finished folder holds ``000000.png, 000001.png, ...`` (row i of the latents is image i; six
digits or more), ``grid.png`` (a grid of the first samples, not a sample itself) and
``latents.npz`` (what rendered them). While a run writes it, the folder holds ``UNFINISHED`` and
no ``latents.npz``, so an interrupted run is never mistaken for a finished one.
"""
from __future__ import annotations

import re
from pathlib import Path

LATENTS = "latents.npz"
GRID = "grid.png"
UNFINISHED = ".hubness-fast-unfinished"
_IMAGE = re.compile(r"\d{6,}\.png")


def is_image_name(name: str) -> bool:
    """A numbered sample image's file name (six digits or more, ``.png``)."""
    return _IMAGE.fullmatch(name) is not None


def is_sample_folder(folder: Path) -> bool:
    """Written by a sample run, finished or not."""
    return (folder / LATENTS).is_file() or (folder / UNFINISHED).is_file()


def is_unfinished(folder: Path) -> bool:
    """A sample run started writing the folder and did not finish."""
    return (folder / UNFINISHED).is_file()
