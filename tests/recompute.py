"""Independent recomputations of what the study reports and reads back of what it writes: runs
redone from their recorded seeds through the public samplers and scored by the float64 oracles;
PNGs decoded by PIL, not by the package."""
import numpy as np
import pytest
import torch

from hubness_fast.generators import to_uint8
from oracles import brute_prdc


def fd_oracle(a, b):
    """Frechet distance on float64 moments, tr sqrt(S1 S2) as the sum of the square roots of the
    eigenvalues of S1 S2 (real and non-negative for covariances; works when both are singular,
    where scipy's sqrtm warns)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * root)


def check_rows_independently(report, G, extractor, real, n, hub_settings):
    """Every method's first run again from its recorded seed, through the public samplers, scored by the
    float64 oracles: the study's row must equal it. The generators here have a W space, the default."""
    from hubness_fast.sampling import HubnessSampler, RandomSampler, TruncationSampler

    def sampler(name, seed):
        if name.startswith("hubs "):
            return HubnessSampler(space=name[-1].lower(), seed=seed, **hub_settings)
        if name.startswith("truncation "):
            return TruncationSampler(psi=float(name.split()[1]), space="w", seed=seed)
        assert name == "random", name
        return RandomSampler(space="w", seed=seed)

    assert {"hubs W", "hubs Z", "random"} <= set(report["runs"])
    for name in report["runs"]:
        row = report["runs"][name][0]
        images = sampler(name, row["seed"]).sample(G, n, 64, progress=False).images
        u8 = to_uint8(images)
        with torch.no_grad():  # in the study's batches of 64
            feats = np.concatenate([np.asarray(extractor(u8[i:i + 64]), np.float64) for i in range(0, n, 64)])
        pr, dc = brute_prdc(real, feats, 3, inclusive=True), brute_prdc(real, feats, 5)
        assert row["precision"] == pr["precision"] and row["recall"] == pr["recall"], name
        assert row["density"] == pytest.approx(dc["density"], rel=1e-12) and row["coverage"] == dc["coverage"], name
        assert row["FD"] == pytest.approx(fd_oracle(real, feats), rel=1e-6), name


def read_png(path):
    """A PNG read back with PIL (an independent decoder): an RGB/RGBA/L array."""
    from PIL import Image
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        return np.asarray(im)
