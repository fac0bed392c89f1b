"""The cosine radius search timed on Gaussian float32 data, medians of 3 (the figures of
radius-cosine-2026-12-07.txt: run once with each version of hubness_fast/engine/radius.py)."""
import time

import numpy as np

from hubness_fast.engine.radius import radius_neighbors

rng = np.random.default_rng(0)
for n, d in ((20000, 64), (10000, 512)):
    x = rng.standard_normal((n, d)).astype(np.float32)
    for r in (0.5, 0.7):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            res = radius_neighbors(x, r, metric="cosine")
            times.append(time.perf_counter() - start)
        print(n, d, r, "pairs", len(res.indices), "median s", round(sorted(times)[1], 3))
