"""The cosine radius search timed on Gaussian float32 data, medians of 5 (the radius lines of
radius-cosine-native-2026-12-07.txt): ``python radius-cosine-native-2026-12-07.py CHECKOUT`` with
each version's checkout, alternated."""
import sys
import time

import numpy as np

sys.path.insert(0, sys.argv[1])
from hubness_fast.engine.radius import radius_neighbors  # noqa: E402  the checkout named on the command line

rng = np.random.default_rng(0)
out = []
for n, d, r in ((20000, 64, 0.5), (20000, 64, 0.7), (10000, 512, 0.7)):
    x = rng.standard_normal((n, d)).astype(np.float32)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        res = radius_neighbors(x, r, metric="cosine")
        times.append(time.perf_counter() - start)
    out.append((n, d, r, len(res.indices), round(sorted(times)[2], 3)))
print(sys.argv[1], out)
