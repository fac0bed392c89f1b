import sys, time, numpy as np
from hubness_fast.engine.radius import radius_neighbors
rng = np.random.default_rng(0)
for n, d in ((20000, 64), (10000, 512)):
    x = rng.standard_normal((n, d)).astype(np.float32)
    for r in (0.5, 0.7):
        ts = []
        for _ in range(3):
            t = time.perf_counter(); res = radius_neighbors(x, r, metric="cosine"); ts.append(time.perf_counter() - t)
        print(n, d, r, "pairs", len(res.indices), "median s", round(sorted(ts)[1], 3))
