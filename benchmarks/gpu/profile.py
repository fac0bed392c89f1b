"""One self-join for a profiler: python benchmarks/gpu/profile.py N D PRECISION."""
import sys

import torch

import hubness_fast as hf

n, d, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
x = torch.randn((n, d), device="cuda", generator=torch.Generator(device="cuda").manual_seed(0))
counts = hf.hub_counts(x, 5, precision=precision)
torch.cuda.synchronize()
print(n, d, precision, int(counts.sum()))
