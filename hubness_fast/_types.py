"""Type aliases of the public signatures (for hints; nothing here runs)."""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional, Union

Array = Any  # numpy array or memmap, torch tensor (CPU or CUDA), cupy / __cuda_array_interface__ array
Metric = Literal["sqeuclidean", "euclidean", "inner_product", "cosine"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "exact", "tensor"]
Progress = Union[bool, Callable[[int, int], None]]
Threads = Optional[int]
