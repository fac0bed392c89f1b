"""GAN latent sampling with the hubness prior (Liang et al., ICML 2022) and
the random / truncation baselines, all with one interface.

    sampler = HubnessSampler(latent_dim=512, k=5, threshold=50, pool_size=10_000)
    z = sampler.sample_latents(1000)          # numpy float32 [1000, 512]
    images = sampler.sample(G, 1000)          # runs G in batches under torch.no_grad()
"""
from __future__ import annotations

import time

import numpy as np

from ._backend import as_matrix, use_cuda
from .balls import ball_pass
from .hubness import hub_counts
from .metrics import kth_radius2


class LatentSampler:
    """Shared interface: sample_latents(n) and sample(generator, n, batch_size)."""

    latent_dim: int
    mapping = None

    def __init__(self, latent_dim, mapping=None, seed=None):
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        self.mapping = mapping
        self.rng = np.random.default_rng(seed)
        self.stats = {}

    def _draw(self, n):
        """n latents from N(0, I), mapped when a mapping is set (float32 numpy)."""
        z = self.rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        return self._map(z)

    def _map(self, z):
        if self.mapping is None:
            return z
        inp = _as_mapping_input(z, self.mapping)
        if inp is z:
            out = self.mapping(z)
        else:
            import torch

            with torch.no_grad():
                out = self.mapping(inp)
        return np.ascontiguousarray(_to_numpy(out), dtype=np.float32)

    def sample_latents(self, n):
        raise NotImplementedError

    def sample(self, generator, n, batch_size=256):
        """Generate n samples with a torch generator, in batches, under torch.no_grad().

        Latents go to the generator's device. With a mapping set, latents are
        in W and ``generator.synthesis(w)`` is called when it exists (the
        StyleGAN layout); otherwise ``generator(latents)``.
        """
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        latents = self.sample_latents(n)
        device = _device_of(generator)
        call = generator.synthesis if (self.mapping is not None and hasattr(generator, "synthesis")) else generator
        outs = []
        with torch.no_grad():
            for s in range(0, n, batch_size):
                outs.append(call(torch.from_numpy(latents[s:s + batch_size]).to(device)))
        return torch.cat(outs)


class RandomSampler(LatentSampler):
    """Latents straight from N(0, I) (mapped when a mapping is set)."""

    def sample_latents(self, n):
        _check_n(n)
        return self._draw(n)


class TruncationSampler(LatentSampler):
    """The truncation trick: w' = w_avg + psi (w - w_avg).

    w_avg is ``average`` when given (e.g. StyleGAN's tracked w_avg), else the
    mean of ``n_average`` freshly drawn (mapped) latents; for unmapped Gaussian
    latents that mean is close to 0.
    """

    def __init__(self, latent_dim, psi=0.7, average=None, n_average=10_000, mapping=None, seed=None):
        super().__init__(latent_dim, mapping, seed)
        if not 0 <= psi <= 1:
            raise ValueError(f"psi must be in [0, 1], got {psi}")
        self.psi = float(psi)
        self.average = None if average is None else np.asarray(_to_numpy(average), dtype=np.float32)
        self.n_average = int(n_average)

    def sample_latents(self, n):
        _check_n(n)
        if self.average is None:
            self.average = self._draw(self.n_average).mean(0)
        w = self._draw(n)
        return (self.average + self.psi * (w - self.average)).astype(np.float32)


class HubnessSampler(LatentSampler):
    """Keep the latents that are hubs of their pool (Liang et al., ICML 2022).

    Draw a pool of ``pool_size`` latents from N(0, I) (mapped to W when a
    mapping is set, as the paper's notebook counted hubs in StyleGAN's W
    space), count every latent's k-occurrence within the pool with the exact
    engine, keep those whose value meets the threshold, and repeat until n are
    kept.

    threshold, comparison: keep value >= threshold (``comparison=">"``: >).
    top: instead of a count, keep the top fraction of each pool (e.g. 0.01).
    include_self: False (default) excludes a latent from its own neighbours;
        True counts it, as the paper's notebook did (value = 1 + N_{k-1}).
    Reference mode (fit_reference): candidates are scored against a fixed
        reference pool instead; see there.
    device: where hub values are counted ("auto", "cpu", "cuda"; see hubness_fast.knn).
    max_pools: give up (ValueError) after this many pools without enough latents.

    After sample_latents, ``stats`` holds pools, drawn, kept, acceptance_rate, seconds.
    """

    def __init__(self, latent_dim, k=5, threshold=50, pool_size=10_000, include_self=False, comparison=">=",
                 mapping=None, device="auto", seed=None, top=None, max_pools=10_000, progress=False):
        super().__init__(latent_dim, mapping, seed)
        if comparison not in (">=", ">"):
            raise ValueError(f"comparison must be '>=' or '>', got {comparison!r}")
        if isinstance(pool_size, bool) or not isinstance(pool_size, (int, np.integer)) or pool_size < 2:
            raise ValueError(f"pool_size must be an integer >= 2, got {pool_size!r}")
        n_cand = pool_size if include_self else pool_size - 1
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n_cand:
            raise ValueError(f"k must be an integer between 1 and {n_cand} for a pool of {pool_size}, got {k!r}")
        if top is not None and not 0 < top < 1:
            raise ValueError(f"top is a fraction in (0, 1), got {top}")
        use_cuda(device)  # validates: unknown names, or "cuda" without a GPU, raise here
        self.device = device
        self.k, self.threshold, self.pool_size = int(k), threshold, int(pool_size)
        self.include_self, self.comparison, self.top = bool(include_self), comparison, top
        self.max_pools, self.progress = int(max_pools), progress
        max_value = pool_size if include_self else pool_size - 1  # every other point lists it
        if top is None and not self._meets(np.array([max_value]))[0]:
            raise ValueError(f"threshold {threshold} is unreachable: a latent's hub value is at most {max_value} "
                             f"in a pool of {pool_size}")
        self.reference = None
        self._ref_radius2 = None

    # -- hub values ---------------------------------------------------------------
    def hub_values(self, pool):
        """Hub value of every latent of `pool` within the pool (already mapped)."""
        pool = as_matrix(pool, "pool")
        return hub_counts(pool, self.k, include_self=self.include_self, device=self.device)

    def fit_reference(self, pool=None):
        """Fix a reference pool (default: a fresh pool of pool_size latents, mapped).

        A candidate's value is then the number of reference latents that would
        count it among their k nearest neighbours: those whose ball of radius
        "distance to their k-th reference neighbour" strictly contains it (ties
        go to the smaller index, and a newcomer's index is the largest). That is
        the hub value the candidate would get if added to the reference pool,
        computed by one ball query per batch: O(|reference| D) per candidate,
        with a stable threshold, for any number of candidates.
        """
        ref = self._draw(self.pool_size) if pool is None else np.ascontiguousarray(as_matrix(pool, "pool"))
        kk = self.k - 1 if self.include_self else self.k  # counting self, a point lists k-1 others
        if ref.shape[0] < kk + 1:
            raise ValueError(f"the reference pool needs more than {kk} latents")
        self.reference = ref
        self._ref_radius2 = kth_radius2(ref, kk) if kk >= 1 else np.zeros(ref.shape[0])
        return self

    def reference_hub_values(self, candidates):
        """Values of (already mapped) candidates against the fitted reference pool."""
        if self.reference is None:
            raise ValueError("call fit_reference() first")
        c = np.ascontiguousarray(as_matrix(candidates, "candidates"), dtype=self.reference.dtype)
        sc, _ = ball_pass(c, None, self.reference, self._ref_radius2, inclusive=False)
        return sc["in_count"] + (1 if self.include_self else 0)

    # -- sampling -----------------------------------------------------------------
    def _meets(self, values, pool_values=None):
        if self.top is not None:
            cut = np.quantile(pool_values if pool_values is not None else values, 1 - self.top)
            return values >= cut if self.comparison == ">=" else values > cut
        return values >= self.threshold if self.comparison == ">=" else values > self.threshold

    def sample_latents(self, n):
        """n latents (float32 numpy [n, D]) whose hub value meets the threshold."""
        _check_n(n)
        t0 = time.perf_counter()
        kept, n_kept, pools, best = [], 0, 0, 0
        bar = _bar(self.progress, n)
        try:
            while n_kept < n:
                if pools >= self.max_pools or (pools >= 3 and n_kept == 0):
                    raise ValueError(self._unreachable_message(pools, best))
                pool = self._draw(self.pool_size)
                values = self.reference_hub_values(pool) if self.reference is not None else self.hub_values(pool)
                pools += 1
                best = max(best, int(values.max()))
                take = pool[self._meets(values)]
                kept.append(take)
                n_kept += len(take)
                if bar is not None:
                    bar.update(min(len(take), n - bar.n))
        finally:
            if bar is not None:
                bar.close()
        out = np.concatenate(kept)[:n]
        drawn = pools * self.pool_size
        self.stats = {"pools": pools, "drawn": drawn, "kept": n_kept, "acceptance_rate": n_kept / drawn,
                      "seconds": time.perf_counter() - t0}
        return out

    def _unreachable_message(self, pools, best):
        rule = f"{self.comparison} {self.threshold}"
        return (f"no latent reached hub value {rule} in {pools} pools of {self.pool_size} (k={self.k}); the largest "
                f"value seen was {best}. Lower the threshold (e.g. threshold={max(best, 1)}), use top=0.01, "
                f"or enlarge pool_size.")


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _to_numpy(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_mapping_input(z, mapping):
    """torch modules get tensors on their device; plain callables get numpy."""
    try:
        import torch
    except ImportError:
        return z
    if isinstance(mapping, torch.nn.Module) or isinstance(getattr(mapping, "__self__", None), torch.nn.Module):
        return torch.from_numpy(z).to(_device_of(mapping))
    return z


def _device_of(module):
    import torch

    owner = getattr(module, "__self__", module)
    params = getattr(owner, "parameters", None)
    if params is not None:
        for p in params():
            return p.device
    return torch.device("cpu")


def _bar(progress, total):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="hub latents", unit="latent")
