"""Whether a hub-value threshold that no pool has reached yet is worth more pools.

Sampling and mining stop on a threshold once the pools drawn so far make it hopeless, not after a
fixed number of pools: a threshold met by one pool in twenty is reachable, one far beyond anything
seen is not. The evidence is the tail of the hub values seen: N(t), how many latents of those pools
reach each value t. Hub values fall off about geometrically above their bulk, so the tail is carried
on from a well-measured level t0 (the highest that at least WELL_MEASURED latents reach) through the
largest value seen, ``best``, at the ratio per step that joins them,

    rho = (N(best) / N(t0)) ** (1 / (best - t0)),   per pool at the threshold T:  N(best) / pools * rho ** (T - best)

On isotropic Gaussian pools (8 to 512 dimensions, thresholds just past the largest value seen) this
estimate from 3 pools came out 0.9 to 3.8 times the rate measured over 400 pools, and above it where
none of the 400 reached the threshold (``python -m benchmarks.reach_check --pools 400``, seeds 0
and 1), so it errs towards mining on. A
tail piled up at its largest value (every latent the same value), where the last step's ratio puts
EDGE_MISSING or more latents above it and none came, is a hard edge: nothing beyond it.
"""
from __future__ import annotations

import numpy as np

MIN_POOLS = 3  # pools seen before a threshold may be judged out of reach
WELL_MEASURED = 30  # latents reaching a value for its share to anchor the tail
EDGE_MISSING = 5  # latents the last step's ratio puts above the largest value seen: none there is an edge


class Reach:
    """The hub values of the pools that kept nothing, tallied to judge a threshold."""

    def __init__(self, target: int) -> None:
        self.target = int(target)  # the smallest hub value kept
        self.counts = np.zeros(1, np.int64)  # latents seen at each hub value
        self.pools = 0

    def add(self, counts: np.ndarray) -> None:
        """One more pool, given as the number of its latents at each hub value (``np.bincount``)."""
        counts = np.asarray(counts, np.int64)
        if len(counts) > len(self.counts):
            self.counts = np.pad(self.counts, (0, len(counts) - len(self.counts)))
        self.counts[:len(counts)] += counts
        self.pools += 1

    @property
    def best(self) -> int:
        """The largest hub value seen."""
        return int(np.flatnonzero(self.counts).max()) if self.counts.any() else 0

    def per_pool(self) -> float:
        """Latents a pool is expected to keep at the threshold, from the tail seen (0 for a tail with
        a hard edge below the threshold)."""
        if self.pools == 0:
            return float("inf")
        reach = np.cumsum(self.counts[::-1])[::-1]  # N(t): latents with a value >= t
        best = self.best
        if best >= self.target:
            return float(reach[self.target]) / self.pools
        anchored = np.flatnonzero(reach >= WELL_MEASURED)
        t0 = int(anchored.max()) if len(anchored) else 0
        if t0 >= best:  # even the largest value is common
            if best == 0:
                return 0.0
            rho = reach[best] / reach[best - 1]  # the last step's ratio
            if reach[best] * rho >= EDGE_MISSING:  # that many were due above it, and none came: an edge
                return 0.0
            return float(reach[best]) / self.pools * float(rho) ** (self.target - best)
        rho = (reach[best] / reach[t0]) ** (1.0 / (best - t0))
        return float(reach[best]) / self.pools * float(rho) ** (self.target - best)

    def hopeless(self, pools_left: int, needed: int) -> bool:
        """True when the pools left are expected to keep fewer than ``needed`` latents."""
        return self.pools >= MIN_POOLS and self.per_pool() * max(pools_left, 0) < needed
