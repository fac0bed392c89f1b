"""The sampler on the generator families users bring: StyleGAN2-ADA / StyleGAN3 (stand-ins with
NVIDIA's interface), BigGAN (the real package, random weights) and a plain G(z)."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hubness_fast.generators import (BigGANAdapter, CallableAdapter, GeneratorAdapter, StyleGANAdapter, as_generator,
                                     detect_family, draw_prior, to_uint8)
from hubness_fast.sampling import HubnessSampler, RandomSampler, TruncationSampler, sample
from oracles import brute_hub_counts
from standins import PlainGenerator, StyleGANStandIn, small_biggan


def one_hot(labels, c_dim):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), c_dim).float()


def pools_of(seed, pool_size, z_dim, n_pools):
    """The pools a sampler with this seed draws, replayed with numpy alone (prior N(0, I))."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((pool_size, z_dim), dtype=np.float32) for _ in range(n_pools)]


def w_rows(G, z, c=None):
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(z), c if c is not None else torch.zeros(len(z), 0))
    return ws[:, 0].numpy()


@pytest.mark.parametrize("version", ["sg3", "sg2", "ada"])
def test_readme_w_space_call_counts_hubs_on_ws0_and_renders_what_the_model_renders(version):
    G = StyleGANStandIn(version=version)
    s = HubnessSampler(G.z_dim, k=5, threshold=9, pool_size=700, seed=3, mapping=G.mapping)
    out = s.sample(G, 40, batch_size=16)
    # Oracle: map the same pools with the stand-in itself, float64 brute-force hub counts of ws[:, 0].
    kept_z, kept_w, kept_v = [], [], []
    for z in pools_of(3, 700, G.z_dim, s.stats["pools"]):
        w = w_rows(G, z)
        v = brute_hub_counts(w, 5)
        kept_z.append(z[v >= 9]), kept_w.append(w[v >= 9]), kept_v.append(v[v >= 9])
    np.testing.assert_array_equal(out.z, np.concatenate(kept_z)[:40])
    np.testing.assert_allclose(out.w, np.concatenate(kept_w)[:40], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out.hub_values, np.concatenate(kept_v)[:40])
    assert out.labels is None and out.images.device.type == "cpu"
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), torch.zeros(40, 0), noise_mode="const")
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)


def test_sample_entry_point_defaults_to_w_space_and_const_noise():
    G = StyleGANStandIn()
    a = sample(G, 12, pool_size=500, threshold=8, seed=1, progress=False)
    b = sample(G, 12, pool_size=500, threshold=8, seed=1, progress=False)
    assert a.w is not None and a.w.shape == (12, G.w_dim)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)  # same seed, same images
    np.testing.assert_array_equal(a.z, b.z)
    c = sample(G, 12, pool_size=500, threshold=8, seed=2, progress=False)
    assert not np.array_equal(a.z, c.z)
    noisy = [sample(G, 4, method="random", seed=0, progress=False, generator_options={"noise_mode": "random"}).images
             for _ in range(2)]
    assert not torch.equal(noisy[0], noisy[1])  # noise_mode='random' draws new noise each time


def test_z_space_hubs_on_stylegan_render_with_G_of_z():
    G = StyleGANStandIn()
    s = HubnessSampler(G.z_dim, k=4, threshold=7, pool_size=500, seed=5)  # no mapping: Z space
    out = s.sample(G, 10)
    z = pools_of(5, 500, G.z_dim, 1)[0]
    v = brute_hub_counts(z, 4)
    np.testing.assert_array_equal(out.z, z[v >= 7][:10])
    assert out.w is None
    with torch.no_grad():
        torch.testing.assert_close(out.images, G(torch.from_numpy(out.z), None, noise_mode="const"), rtol=0, atol=1e-6)
    rand = RandomSampler(G.z_dim, seed=5).sample(G, 6)  # the README's Z-space baseline call
    np.testing.assert_array_equal(rand.z, z[:6])
    with torch.no_grad():
        torch.testing.assert_close(rand.images, G(torch.from_numpy(z[:6]), None, noise_mode="const"), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cutoff", [None, 2, 0])  # cutoff 0 truncates no layer: w is ws[:, 0] as mapped
def test_truncation_equals_the_models_truncation_psi(cutoff):
    G = StyleGANStandIn()
    t = TruncationSampler(G.z_dim, psi=0.6, average=G.mapping.w_avg, mapping=G.mapping, seed=0,
                          truncation_cutoff=cutoff)
    out = t.sample(G, 9, batch_size=4)
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), torch.zeros(9, 0), truncation_psi=0.6, truncation_cutoff=cutoff,
                noise_mode="const")
        ws = G.mapping(torch.from_numpy(out.z), None, truncation_psi=0.6, truncation_cutoff=cutoff)
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.w, ws[:, 0].numpy(), rtol=0, atol=1e-6)
    # the entry point takes G's tracked w_avg by itself
    same = sample(G, 9, "truncation", psi=0.6, truncation_cutoff=cutoff, seed=0, batch_size=4, progress=False)
    torch.testing.assert_close(same.images, out.images, rtol=0, atol=0)


def test_conditional_pools_are_counted_per_class_and_labels_returned():
    G = StyleGANStandIn(c_dim=3)
    out = sample(G, 30, classes="uniform", pool_size=400, threshold=7, seed=4, progress=False)
    assert out.labels.shape == (30,) and set(out.labels) <= {0, 1, 2} and len(set(out.labels)) > 1
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), one_hot(out.labels, 3), noise_mode="const")
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)
    # each latent's value is its hub value in a pool of its own class: re-count with a fixed class
    single = sample(G, 15, classes=2, pool_size=400, threshold=7, seed=9, progress=False)
    assert np.all(single.labels == 2)
    rng = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(2,)))  # class 2's own stream
    z = rng.standard_normal((400, G.z_dim), dtype=np.float32)
    w = w_rows(G, z, one_hot(np.full(400, 2), 3))
    v = brute_hub_counts(w, 5)
    np.testing.assert_array_equal(single.z, z[v >= 7][:15])
    np.testing.assert_array_equal(single.hub_values, v[v >= 7][:15])
    listed = sample(G, 20, method="random", classes=[0, 2], seed=0, progress=False)
    assert set(listed.labels) == {0, 2}


def test_sampling_leaves_a_model_in_training_mode_untouched():
    G = StyleGANStandIn(version="ada").train()  # StyleGAN2-ADA updates w_avg whenever it maps in training mode
    before = G.mapping.w_avg.clone()
    sample(G, 5, pool_size=300, top=0.05, seed=0, progress=False)
    assert torch.equal(G.mapping.w_avg, before) and G.training and G.mapping.training


def test_bad_input_is_refused_before_any_work():
    G, Gc = StyleGANStandIn(), StyleGANStandIn(c_dim=3)
    with pytest.raises(ValueError, match="outside 0..2"):
        sample(Gc, 4, classes=3, progress=False)
    with pytest.raises(ValueError, match="conditional .*classes="):
        sample(Gc, 4, progress=False)
    with pytest.raises(ValueError, match="unconditional"):
        sample(G, 4, classes=1, progress=False)
    with pytest.raises(ValueError, match="latent_dim=16 disagrees .* z_dim=32"):
        HubnessSampler(16, mapping=G.mapping).sample(G, 4)
    with pytest.raises(ValueError, match="latent_dim=16 disagrees"):
        RandomSampler(16).sample(G, 4)
    with pytest.raises(ValueError, match="matches no generator family"):
        sample(object(), 4, progress=False)
    with pytest.raises(ValueError, match="no W space"):
        sample(PlainGenerator(), 4, space="w", generator_options={"z_dim": 12}, progress=False)
    with pytest.raises(ValueError, match="noise_mode"):
        as_generator(G, noise_mode="loud")
    with pytest.raises(ValueError, match="truncation"):
        as_generator(small_biggan(), truncation=1.5)
    with pytest.raises(ValueError, match="output"):
        sample(G, 4, method="random", output="png", progress=False)
    with pytest.raises(ValueError, match="method"):
        sample(G, 4, method="best", progress=False)


def test_family_detection_and_override():
    assert detect_family(StyleGANStandIn()) == "stylegan"
    assert detect_family(small_biggan()) == "biggan"
    assert detect_family(PlainGenerator()) == "callable"
    assert isinstance(as_generator(StyleGANStandIn(), "callable", z_dim=32), CallableAdapter)
    assert isinstance(as_generator(small_biggan()), BigGANAdapter)
    adapter = StyleGANAdapter(StyleGANStandIn())
    assert as_generator(adapter) is adapter


def test_biggan_truncated_normal_prior_and_render():
    pytest.importorskip("pytorch_pretrained_biggan")
    G = small_biggan()
    out = sample(G, 40, method="random", classes=[1, 4], seed=0, batch_size=16, progress=False,
                 generator_options={"truncation": 0.5})
    assert out.z.shape == (40, 16) and np.abs(out.z).max() <= 1.0  # [-2, 2] times truncation
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), one_hot(out.labels, 5), 0.5)
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)
    assert out.images.shape == (40, 3, 16, 16)
    big = draw_prior("truncnorm", np.random.default_rng(0), 20000, 8)
    assert np.abs(big).max() <= 2 and abs(big.std() - 0.8796) < 0.01  # the std of N(0,1) truncated to [-2, 2]
    hubs = sample(G, 10, classes=0, pool_size=400, threshold=6, seed=1, progress=False)
    assert hubs.w is None and np.all(hubs.hub_values >= 6) and np.abs(hubs.z).max() <= 2


def test_biggan_truncation_method_is_biggans_own_trick(tmp_path):
    # BigGAN's trick is z = psi * truncnorm and psi passed to G; moving z toward 0 and calling
    # G(z, y, 1.0), the generic rule, renders other images (up to 2.0 apart on the real network)
    pytest.importorskip("pytorch_pretrained_biggan")
    G = small_biggan()
    out = sample(G, 12, method="truncation", psi=0.4, classes=2, seed=0, progress=False)
    ref = sample(G, 12, method="random", classes=2, seed=0, progress=False, generator_options={"truncation": 0.4})
    np.testing.assert_array_equal(out.z, ref.z)
    assert np.abs(out.z).max() <= 0.8 and np.abs(out.z).max() > 0.4  # 0.4 times [-2, 2]
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), one_hot(out.labels, 5), 0.4)
        untruncated = G(torch.from_numpy(out.z), one_hot(out.labels, 5), 1.0)
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)
    assert (own - untruncated).abs().max() > 0.1  # the truncation G is given shows in its images
    sample(G, 12, method="truncation", psi=0.4, classes=2, seed=0, progress=False, outdir=tmp_path)
    saved = np.load(tmp_path / "latents.npz")
    np.testing.assert_array_equal(saved["z"], out.z)
    assert float(saved["truncation"]) == 0.4  # the images are G(z, one_hot(labels), truncation) again
    with pytest.raises(ValueError, match="truncation is set twice: truncation=0.5 .* and psi=0.4"):
        sample(G, 2, method="truncation", psi=0.4, classes=2, progress=False, generator_options={"truncation": 0.5})
    half = sample(G, 4, method="truncation", psi=1.0, classes=2, seed=0, progress=False,
                  generator_options={"truncation": 0.5})  # psi = 1 truncates nothing more
    np.testing.assert_array_equal(half.z, sample(G, 4, method="random", classes=2, seed=0, progress=False,
                                                 generator_options={"truncation": 0.5}).z)
    with pytest.raises(ValueError, match=r"BigGAN's truncation must be in \(0, 1\], got psi=0"):
        sample(G, 2, method="truncation", psi=0.0, classes=2, progress=False)


def test_an_explicit_prior_keeps_biggans_truncation_scale():
    pytest.importorskip("pytorch_pretrained_biggan")
    G = small_biggan()
    kw = {"classes": 3, "seed": 0, "progress": False, "generator_options": {"truncation": 0.5}}
    given = sample(G, 30, method="random", prior="truncnorm", **kw)
    default = sample(G, 30, method="random", **kw)
    np.testing.assert_array_equal(given.z, default.z)  # the model's prior named, or left implied
    assert np.abs(given.z).max() <= 1.0


def test_plain_generator_with_keyword_arguments_and_chosen_prior():
    G = PlainGenerator()
    out = sample(G, 10, method="random", seed=0, progress=False, generator_options={"z_dim": 12, "gain": 2.0})
    with torch.no_grad():
        torch.testing.assert_close(out.images, G(torch.from_numpy(out.z), gain=2.0), rtol=0, atol=1e-6)
    uniform = sample(G, 10, method="random", seed=0, progress=False, prior=lambda rng, n, d: rng.uniform(-1, 1, (n, d)),
                     generator_options={"z_dim": 12})
    assert np.abs(uniform.z).max() <= 1 and not np.array_equal(uniform.z, out.z)


def test_uint8_conversion_is_nvidias():
    x = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(to_uint8(x).numpy(), [0, 0, 128, 191, 255, 255])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch with CUDA")
def test_w_space_pools_on_the_gpu_are_counted_exactly():
    """Pools mapped and counted on the device (no host round trip): the kept latents are those whose
    float64 brute-force hub value over the device-mapped pool meets the threshold."""
    G = StyleGANStandIn().cuda()
    out = sample(G, 20, pool_size=800, threshold=9, seed=3, progress=False)
    z = pools_of(3, 800, G.z_dim, 1)[0]
    with torch.no_grad():
        w = G.mapping(torch.from_numpy(z).cuda(), torch.zeros(800, 0, device="cuda"))[:, 0].cpu().numpy()
    v = brute_hub_counts(w, 5)
    n = min(20, int((v >= 9).sum()))
    np.testing.assert_array_equal(out.z[:n], z[v >= 9][:n])
    np.testing.assert_array_equal(out.hub_values[:n], v[v >= 9][:n])
    assert out.images.device.type == "cpu"


def test_a_gpu_pool_with_a_cpu_only_build_is_counted_on_the_host(monkeypatch):
    """The generator's pools may live on a GPU that this package's build cannot use: they are
    then counted on the CPU instead of failing (here the device check is forced)."""
    import hubness_fast.sampling.samplers as sampling

    seen = []
    monkeypatch.setattr(sampling, "is_device_array", lambda x: True)
    monkeypatch.setattr(sampling, "gpu_available", lambda: False)
    real_counts = sampling.hub_counts

    def spy(pool, k, **kw):
        seen.append(kw["device"])
        return real_counts(pool, k, **kw)

    monkeypatch.setattr(sampling, "hub_counts", spy)
    out = sample(StyleGANStandIn(), 5, pool_size=300, top=0.05, seed=0, progress=False)
    assert seen and set(seen) == {"cpu"} and len(out.z) == 5


class ThreeLayerW(GeneratorAdapter):
    """A family of the user's own with a W space, written to GeneratorAdapter's contract: z [N, 4] ->
    w [N, 6] broadcast to 3 layers; the image is a fixed linear function of the three layers' ws."""

    family, z_dim, w_dim, num_ws, default_space = "three-layer", 4, 6, 3, "w"

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.module = torch.nn.Linear(4, 6)
        self.out = torch.randn(3 * 6, 16, generator=g)
        self.avg = torch.zeros(6)

    def map(self, z, c):
        return self.module(z)[:, None].repeat(1, 3, 1)

    def w_avg(self):
        return self.avg

    def render_w(self, ws, c):
        return torch.tanh(ws.flatten(1) @ self.out).reshape(-1, 1, 4, 4)

    def render_z(self, z, c):
        return self.render_w(self.map(z, c), c)


@pytest.mark.parametrize("method", ["hubs", "random", "truncation"])
def test_a_family_of_ones_own_written_to_the_adapter_contract_samples_in_w(method):
    gen = ThreeLayerW()
    settings = {"pool_size": 300, "threshold": 6} if method == "hubs" else {}
    out = sample(gen, 5, method, seed=1, progress=False, **settings)
    with torch.no_grad():
        own = gen.render_w(torch.from_numpy(out.w)[:, None].repeat(1, 3, 1), None)
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)
    gen.num_ws = None  # the contract names it: without it the ws cannot be built
    with pytest.raises(ValueError, match="states no num_ws, the number of layers of the ws it takes"):
        sample(gen, 2, method, seed=1, progress=False, **settings)


def test_truncation_in_z_warns_where_the_generator_normalises_z():
    """NVIDIA's mapping (normalize_2nd_moment), PGAN's NormalizationLayer and the zoo DCGAN's
    training-mode batch norm undo z' = psi z: the images are random samples, and the sampler says
    so (once per generator); where scaling z matters, or in W, nothing is said."""
    from standins import GANZooStandIn

    for G, kw in ((StyleGANStandIn(), {"space": "z"}), (GANZooStandIn(normalize_latent=True), {}),
                  (GANZooStandIn(), {})):
        with pytest.warns(UserWarning, match="truncation in Z has no effect on this .* generator"):
            out = sample(G, 6, "truncation", psi=0.5, seed=0, progress=False, **kw)
        rand = sample(G, 6, "random", seed=0, progress=False, **kw)
        torch.testing.assert_close(out.images, rand.images, rtol=0, atol=1e-3)  # what the warning says
    plain = PlainGenerator()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = sample(plain, 6, "truncation", psi=0.5, seed=0, progress=False)
        sample(StyleGANStandIn(), 6, "truncation", psi=0.5, seed=0, progress=False)  # W: NVIDIA's trick
        sample(StyleGANStandIn(), 6, "truncation", psi=1.0, space="z", seed=0, progress=False)  # no truncation
    assert (t.images - sample(plain, 6, "random", seed=0, progress=False).images).abs().max() > 0.01
    s = TruncationSampler(psi=0.5, space="z", seed=0)
    G = StyleGANStandIn()
    with pytest.warns(UserWarning):
        s.sample(G, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.sample(G, 3)  # once per generator


def test_adapter_and_sampler_flags_must_be_bools_not_strings():
    # bool("no") is True: force_fp32="no" would render in float32, include_self="no" count self
    from hubness_fast.sampling import make_sampler
    from standins import RosinalityStandIn
    with pytest.raises(ValueError, match="force_fp32 must be True or False, got 'no'"):
        as_generator(StyleGANStandIn(), force_fp32="no")
    with pytest.raises(ValueError, match="randomize_noise must be True or False, got 'no'"):
        as_generator(RosinalityStandIn(), randomize_noise="no")
    with pytest.raises(ValueError, match="include_self must be True or False, got 'no'"):
        make_sampler("hubs", include_self="no", latent_dim=8)
    assert make_sampler("hubs", include_self=True, latent_dim=8).include_self is True
    assert make_sampler("hubs", latent_dim=8).include_self is False


@pytest.mark.parametrize("kwargs, message", [
    (dict(space="W"), "space must be one of z, w, got 'W'"),
    (dict(space="w", output="unit8"), "output must be one of float, uint8, got 'unit8'"),
    (dict(space="z", batch_size=0), "batch_size must be an integer >= 1, got 0"),
])
def test_render_refuses_an_unknown_space_or_output(tmp_path, kwargs, message):
    # render(G, lat, "W") rendered from z, and output="unit8" returned floats, without a word
    from hubness_fast.sampling import render
    from hubness_fast.sampling.latents import Latents
    G = StyleGANStandIn()
    z = np.random.default_rng(0).standard_normal((3, G.z_dim)).astype(np.float32)
    lat = Latents(z, w=z[:, :G.w_dim].copy())
    with pytest.raises(ValueError, match=message):
        render(G, lat, outdir=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_mapping_returning_nan_is_named_as_such(bad):
    # NaN rows failed the ws-rows comparison (NaN != NaN): "the mapping's ws rows differ at truncation_psi=1"
    G = StyleGANStandIn()
    with torch.no_grad():
        G.mapping.fc2.bias[0] = bad
    with pytest.raises(ValueError, match="stylegan generator's mapping returned NaN or Inf for latents 0 to 9"):
        RandomSampler(space="w", seed=0).latents(G, 10)


def test_render_takes_bare_z_as_an_array_or_tensor_and_names_what_it_cannot_take():
    # render(G, z, "z") with a numpy array failed on `latents.z` (AttributeError)
    from hubness_fast.sampling import render
    from hubness_fast.sampling.latents import Latents
    G = StyleGANStandIn()
    z = np.random.default_rng(1).standard_normal((4, G.z_dim)).astype(np.float32)
    want = render(G, Latents(z), "z")
    with torch.no_grad():
        own = G(torch.from_numpy(z), None, noise_mode="const")
    torch.testing.assert_close(want, own, rtol=0, atol=0)
    for given in (z, torch.from_numpy(z), z.astype(np.float64), z.tolist()):
        torch.testing.assert_close(render(G, given, "z"), want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="W-space rendering takes Latents with their w"):
        render(G, z, "w")
    with pytest.raises(TypeError, match="latents must be Latents .* got str"):
        render(G, "latents.npz", "z")
    with pytest.raises(ValueError, match=r"z must be a non-empty array \[n, z_dim\], got shape \(32,\)"):
        render(G, z[0], "z")
    with pytest.raises(ValueError, match="z holds NaN or Inf"):
        render(G, np.full_like(z, np.nan), "z")


def test_the_stylegan_stand_ins_keep_each_repositorys_keywords():
    # StyleGAN2-ADA's G passes its keywords on to layers that take no update_emas (a TypeError there);
    # the stylegan3 repository's networks take it; the package passes it to neither
    z = torch.zeros(2, 32)
    with pytest.raises(TypeError, match="update_emas"):
        StyleGANStandIn(version="ada")(z, None, update_emas=False)
    for version in ("sg3", "sg2"):
        StyleGANStandIn(version=version)(z, None, update_emas=False)
    for version in ("sg3", "sg2", "ada"):
        lat = sample(StyleGANStandIn(version=version), 3, method="random", seed=0, progress=False)
        assert lat.images.shape == (3, 3, 16, 16)


def test_render_of_a_conditional_generator_without_labels_says_how_to_give_them():
    from hubness_fast.sampling import render

    G = StyleGANStandIn(c_dim=3)
    z = np.zeros((2, G.z_dim), np.float32)
    with pytest.raises(ValueError, match=r"conditional \(3 classes\): render takes its labels with the latents, "
                                         r"Latents\(z, labels=...\)"):
        render(G, z, "z")
