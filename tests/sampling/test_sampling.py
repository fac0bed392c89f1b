"""HubnessSampler and the baselines."""
import numpy as np
import pytest

import hubness_fast as hf
from hubness_fast.sampling import HubnessSampler, RandomSampler, TruncationSampler, sample
from oracles import brute_hub_counts


def test_accepted_latents_meet_threshold_and_rate_is_reported():
    s = HubnessSampler(16, k=5, threshold=15, pool_size=1500, seed=0)
    z = s.sample_latents(40)
    assert z.shape == (40, 16) and z.dtype == np.float32
    assert 0 < s.stats["acceptance_rate"] < 0.2 and s.stats["pools"] >= 1
    # Re-count each accepted latent in the pool it came from: rebuild the pools from the seed.
    replay = HubnessSampler(16, k=5, threshold=15, pool_size=1500, seed=0)
    accepted = []
    for _ in range(s.stats["pools"]):
        pool = replay.draw_pool()[1]
        counts = brute_hub_counts(pool, 5)
        accepted.append(pool[counts >= 15])
    np.testing.assert_array_equal(z, np.concatenate(accepted)[:40])


def replay(n, keep, *, k, pool_size, seed):
    """The sampler's pools drawn again from the same seed, their hub values by the float64 oracle,
    each pool's latents kept by ``keep(values)`` in pool order: what sample_latents must return."""
    s = HubnessSampler(8, k=k, pool_size=pool_size, seed=seed)
    kept, values = [], []
    while sum(len(z) for z in kept) < n:
        z, rows = s.draw_pool()
        v = brute_hub_counts(np.asarray(rows), k)
        kept.append(z[keep(v)])
        values.append(v)
    return np.concatenate(kept)[:n], values


def test_seed_reproducibility_and_comparison():
    a = HubnessSampler(8, k=3, threshold=9, pool_size=800, seed=3).sample_latents(25)
    b = HubnessSampler(8, k=3, threshold=9, pool_size=800, seed=3).sample_latents(25)
    np.testing.assert_array_equal(a, b)
    strict = HubnessSampler(8, k=3, threshold=9, pool_size=800, seed=3, comparison=">").sample_latents(25)
    want_strict, values = replay(25, lambda v: v > 9, k=3, pool_size=800, seed=3)
    want_ge, _ = replay(25, lambda v: v >= 9, k=3, pool_size=800, seed=3)
    assert sum(int((v == 9).sum()) for v in values) > 0  # values at the threshold: the two rules differ
    np.testing.assert_array_equal(strict, want_strict)
    np.testing.assert_array_equal(a, want_ge)
    assert not np.array_equal(a, strict)


def test_top_fraction():
    s = HubnessSampler(8, k=5, top=0.05, pool_size=1000, seed=1)
    z = s.sample_latents(100)
    # each pool keeps its top 5 %: every latent at or above the pool's 50th largest hub value
    want, values = replay(100, lambda v: v >= np.sort(v)[-50], k=5, pool_size=1000, seed=1)
    np.testing.assert_array_equal(z, want)
    assert len(values) >= 2  # the rule was applied to more than one pool


def test_hub_latents_lie_near_the_mean():
    s = HubnessSampler(32, k=5, threshold=20, pool_size=2000, seed=0)
    hubs = s.sample_latents(100)
    rand = RandomSampler(32, seed=0).sample_latents(100)
    assert np.linalg.norm(hubs, axis=1).mean() < np.linalg.norm(rand, axis=1).mean()


def test_reference_mode_equals_hub_value_when_added_to_the_pool():
    s = HubnessSampler(6, k=4, pool_size=300, seed=2).fit_reference()
    ref = s.reference
    cands = np.random.default_rng(9).standard_normal((25, 6)).astype(np.float32)
    values = s.reference_hub_values(cands)
    for c, v in zip(cands, values):
        counts = brute_hub_counts(np.vstack([ref, c[None]]), 4)
        assert counts[-1] == v
    # include_self: each point counts itself, as the paper's notebook
    s2 = HubnessSampler(6, k=4, pool_size=300, seed=2, include_self=True).fit_reference(ref)
    v2 = s2.reference_hub_values(cands)
    for c, v in zip(cands, v2):
        assert brute_hub_counts(np.vstack([ref, c[None]]), 4, include_self=True)[-1] == v
    np.testing.assert_array_equal(s.reference_hub_values(cands.tolist()), values)  # a list of rows too


@pytest.mark.parametrize("cands, message", [
    (np.zeros(6), r"candidates must be 2-D \(n_samples, n_features\), got shape \(6,\)"),  # was an IndexError
    (np.zeros((3, 5)), "candidates have 5 features but the reference pool has 6"),
])
def test_reference_hub_values_name_bad_candidates(cands, message):
    s = HubnessSampler(6, k=4, pool_size=300, seed=2).fit_reference()
    with pytest.raises(ValueError, match=message):
        s.reference_hub_values(cands)


def test_reference_mode_sampling_meets_threshold():
    s = HubnessSampler(8, k=5, threshold=12, pool_size=1000, seed=4).fit_reference()
    z = s.sample_latents(30)
    assert np.all(s.reference_hub_values(z) >= 12)


def test_a_negative_or_non_numeric_threshold_is_refused_and_zero_keeps_every_latent():
    for bad in (-1, -0.5):
        with pytest.raises(ValueError, match=f"threshold={bad} is below 0"):
            HubnessSampler(8, threshold=bad, pool_size=100)
    for bad in ("12", True, float("nan"), None):
        with pytest.raises(ValueError, match="threshold must be a number"):
            HubnessSampler(8, threshold=bad, pool_size=100)
    s = HubnessSampler(8, k=5, threshold=0, pool_size=100, seed=1)
    z = s.sample_latents(100)
    assert z.shape == (100, 8) and s.stats["drawn"] == 100 and s.stats["acceptance_rate"] == 1.0


def test_unreachable_threshold_errors_with_suggestion():
    with pytest.raises(ValueError, match="at most 99"):
        HubnessSampler(8, k=5, threshold=100, pool_size=100)
    s = HubnessSampler(4, k=1, threshold=60, pool_size=100, seed=0)
    with pytest.raises(ValueError, match="largest value seen was .*threshold="):
        s.sample_latents(10)


def test_mapping_counts_in_w_and_returns_w():
    scale = np.linspace(0.1, 2.0, 8).astype(np.float32)

    pytest.importorskip("torch")

    def mapping(z):  # mappings are called with torch tensors
        return z * z.new_tensor(scale) + 1.0

    s = HubnessSampler(8, k=5, threshold=10, pool_size=600, seed=5, mapping=mapping)
    w = s.sample_latents(20)
    replay = HubnessSampler(8, k=5, pool_size=600, seed=5, mapping=mapping)
    kept = []
    for _ in range(s.stats["pools"]):
        pool = replay.draw_pool()[1]
        assert np.allclose(pool.mean(0), 1.0, atol=0.2)  # the pool is in W
        kept.append(pool[brute_hub_counts(pool, 5) >= 10])  # hub values counted in W
    np.testing.assert_array_equal(w, np.concatenate(kept)[:20])


def test_truncation():
    t = TruncationSampler(8, psi=0.5, average=np.ones(8, np.float32), seed=0)
    raw = RandomSampler(8, seed=0).sample_latents(50)
    np.testing.assert_allclose(t.sample_latents(50), 1 + 0.5 * (raw - 1), rtol=0, atol=2e-7)
    t0 = TruncationSampler(8, psi=0.0, seed=1)
    z = t0.sample_latents(5)
    np.testing.assert_array_equal(z, 0)  # all at the prior's mean
    with pytest.raises(ValueError, match="psi"):
        TruncationSampler(8, psi=1.5)


def test_sample_runs_a_torch_generator_in_batches():
    torch = pytest.importorskip("torch")
    calls = []

    class G(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(8, 3)

        def forward(self, z):
            calls.append(z.shape[0])
            assert not torch.is_grad_enabled()
            return self.lin(z)

    out = RandomSampler(8, seed=0).sample(G(), 70, batch_size=32)
    assert out.images.shape == (70, 3) and calls == [32, 32, 6]
    np.testing.assert_array_equal(out.z, RandomSampler(8, seed=0).sample_latents(70))


def test_bad_arguments():
    with pytest.raises(ValueError, match="comparison"):
        HubnessSampler(8, comparison="=")
    with pytest.raises(ValueError, match="k must be"):
        HubnessSampler(8, k=0)
    with pytest.raises(ValueError, match="latent_dim"):
        RandomSampler(0)
    with pytest.raises(ValueError, match="n must be"):
        RandomSampler(4).sample_latents(0)
    with pytest.raises(ValueError, match="device must be"):
        HubnessSampler(4, device="tpu")
    with pytest.raises(ValueError, match="fit_reference"):
        HubnessSampler(4).reference_hub_values(np.zeros((1, 4)))


@pytest.mark.gpu
@pytest.mark.skipif(not (hf.HAS_CUDA and hf._native.cuda.device_count() > 0), reason="needs a CUDA device")
def test_gpu_counting_gives_the_same_samples():
    """Hub values counted on the GPU (device="cuda"): the same accepted latents as on the CPU."""
    cpu = HubnessSampler(64, k=5, threshold=20, pool_size=3000, seed=7, device="cpu").sample_latents(50)
    gpu = HubnessSampler(64, k=5, threshold=20, pool_size=3000, seed=7, device="cuda").sample_latents(50)
    np.testing.assert_array_equal(cpu, gpu)


def test_truncation_average_estimated_where_none_is_known():
    pytest.importorskip("torch")

    def mapping(z):  # no w_avg attribute: the average is the mean of n_average mapped draws
        return z * 0.5 + 3.0

    t = TruncationSampler(4, psi=0.0, mapping=mapping, n_average=20_000, seed=0)
    w = t.sample_latents(3)
    np.testing.assert_allclose(w, 3.0, atol=0.05)
    uniform = TruncationSampler(4, psi=0.0, prior=lambda rng, n, d: rng.uniform(1, 2, (n, d)), seed=0)
    np.testing.assert_allclose(uniform.sample_latents(2), 1.5, atol=0.02)
    with pytest.raises(ValueError, match="n_average"):
        TruncationSampler(4, n_average=0)


def test_sample_takes_the_latent_size_by_either_name_and_names_itself_in_errors():
    torch = pytest.importorskip("torch")
    from hubness_fast.sampling import sample
    from standins import PlainGenerator

    def G(z):  # a plain G(z) with no z_dim attribute
        return PlainGenerator()(z)

    a = sample(G, 5, "random", z_dim=12, progress=False)
    b = sample(G, 5, "random", latent_dim=12, progress=False)
    c = sample(G, 5, "random", generator_options={"z_dim": 12}, progress=False)
    assert a.z.shape == (5, 12)
    assert torch.equal(a.images, b.images) and torch.equal(a.images, c.images)
    with pytest.raises(ValueError, match="given twice with different values"):
        sample(G, 5, "random", z_dim=12, latent_dim=10, progress=False)
    with pytest.raises(ValueError, match="latent_dim=10 disagrees with the generator's z_dim=12"):
        sample(_WithZDim(), 5, "random", z_dim=10, progress=False)
    with pytest.raises(TypeError, match=r"sample\(\) got an unexpected keyword argument 'treshold' "
                                        r"\(did you mean threshold=\?\)"):
        sample(G, 5, treshold=3, z_dim=12, progress=False)


class _WithZDim:
    z_dim = 12

    def __call__(self, z):
        import torch

        return torch.tanh(z[:, :4]).view(-1, 1, 2, 2)


def test_reach_carries_the_tail_on_to_the_threshold():
    from hubness_fast.sampling.reach import Reach

    r = Reach(9)
    r.add(np.bincount([0] * 480 + [5] * 15 + [7] * 5))
    assert not r.hopeless(10**9, 1)  # judged from the third pool on
    r.add(np.bincount([0] * 480 + [5] * 15 + [7] * 5))
    # N(t) latents with a value >= t: N(5) = 40 is the highest level reached by 30 or more, N(7) = 10;
    # rho = (10 / 40) ** (1 / 2) = 0.5 a step, so a pool keeps 10 / 2 * 0.5 ** (9 - 7) = 1.25 at 9
    assert r.best == 7 and r.per_pool() == pytest.approx(1.25)
    r.add(np.bincount([0] * 500))
    assert r.per_pool() == pytest.approx(10 / 3 * 0.25)
    assert not r.hopeless(13, 10) and r.hopeless(11, 10)  # 13 pools keep 10.8 on average, 11 keep 9.2
    edge = Reach(9)
    for _ in range(3):
        edge.add(np.bincount([4] * 400))  # every latent the same value: nothing beyond it
    assert edge.per_pool() == 0 and edge.hopeless(10**9, 1)
    steep = Reach(2)  # 40 latents at the largest value, 1 060 at or above the one below: 40 * 40 / 1060 = 1.5
    for i in range(3):  # were due above it, too few for their absence to mean an edge
        steep.add(np.bincount([0] * 1000 + [1] * 40) if i == 0 else np.bincount([0] * 10))
    assert steep.per_pool() == pytest.approx(40 / 3 * 40 / 1060)
    met = Reach(3)
    met.add(np.bincount([0] * 10 + [3] * 4))
    assert met.per_pool() == 4


def test_a_rare_threshold_is_sampled_on():
    s = HubnessSampler(8, k=5, threshold=19, pool_size=1000, seed=0)
    z = s.sample_latents(1)
    assert z.shape == (1, 8) and s.stats["pools"] > 3


@pytest.mark.parametrize("method, settings, owner", [("random", {"psi": 0.5}, "truncation"),
                                                     ("random", {"k": 3}, "hubs"),
                                                     ("truncation", {"pool_size": 100}, "hubs"),
                                                     ("hubs", {"truncation_cutoff": 4}, "truncation")])
def test_a_setting_of_another_method_is_refused_not_ignored(method, settings, owner):
    # sample(G, n, method="random", psi=0.5) sampled at random as if psi had not been given
    pytest.importorskip("torch")
    from standins import PlainGenerator

    (name, _), = settings.items()
    with pytest.raises(ValueError, match=f"{name}= applies to method='{owner}'; this call samples with "
                                         f"method='{method}'"):
        sample(PlainGenerator(), 2, method, progress=False, **settings)


def test_max_pools_bounds_sample_and_names_what_was_kept():
    pytest.importorskip("torch")
    from standins import PlainGenerator

    # threshold 6 keeps a few latents a pool here: 2 pools cannot give 500
    with pytest.raises(ValueError, match=r"max_pools=2 pools of 300 kept only \d+ of the 500 latents asked for: "
                                         r"raise max_pools"):
        sample(PlainGenerator(), 500, k=5, threshold=6, pool_size=300, max_pools=2, progress=False)


def test_a_mapping_that_is_not_callable_is_refused_at_once():
    """RandomSampler(8, 5) took 5 for its mapping and failed at the first draw ('int' object is not
    callable); a string include_self counted as True."""
    with pytest.raises(ValueError, match="mapping must be a callable z -> ws .* got int 5"):
        RandomSampler(8, 5)
    with pytest.raises(ValueError, match="include_self must be True or False, got 'no'"):
        HubnessSampler(8, include_self="no")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_truncation_refuses_a_non_finite_average(bad):
    # NaN latents came back without a word
    average = np.zeros(8)
    average[3] = bad
    with pytest.raises(ValueError, match="average contains NaN or Inf"):
        TruncationSampler(8, average=average)


@pytest.mark.parametrize("make, message", [
    (lambda: RandomSampler(8, seed=-1), "seed must be an integer >= 0 or None, got -1"),
    (lambda: HubnessSampler(8, seed=1.5), "seed must be an integer >= 0 or None, got 1.5"),
    (lambda: TruncationSampler(8, seed="a"), "seed must be an integer >= 0 or None, got 'a'"),
    (lambda: TruncationSampler(8, psi="0.5"), r"psi must be in \[0, 1\]"),
    (lambda: HubnessSampler(8, top="0.1"), r"top"),
])
def test_samplers_name_a_bad_seed_or_a_number_given_as_a_string(make, message):
    with pytest.raises(ValueError, match=message):
        make()
    assert RandomSampler(8, seed=np.int64(3)).seed == 3  # numpy integers are seeds too


def test_numbers_users_pass_as_arrays_or_tensors_are_taken():
    torch = pytest.importorskip("torch")
    want = TruncationSampler(8, psi=0.5, seed=3).sample_latents(4)
    for psi, seed in ((np.float32(0.5), np.int64(3)), (np.array(0.5), np.array(3)), (torch.tensor(0.5), 3)):
        np.testing.assert_array_equal(TruncationSampler(8, psi=psi, seed=seed).sample_latents(4), want)
