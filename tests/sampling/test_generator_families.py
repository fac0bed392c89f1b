"""The sampler on GAN code beyond NVIDIA's pickles: the DCGAN tutorial's generator, conditional
G(z, y) with one-hot or index labels, pytorch_GAN_zoo models and rosinality's StyleGAN2, each
through a stand-in with the model's own signature, layer layout and shape checks."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from hubness_fast.generators import CallableAdapter, as_generator, detect_family, to_uint8
from hubness_fast.sampling import render, sample
from clirun import run
from oracles import brute_hub_counts
from standins import (ConditionalDCGAN, DCGANGenerator, EmbeddingCGAN, GANZooStandIn, RosinalityStandIn,
                      TwoBranchCDCGAN)

TESTS = Path(__file__).resolve().parents[1]  # tests/: the stand-ins and oracles


def z_pool(seed, pool_size, z_dim, cls=None):
    """The first pool a sampler with this seed draws (prior N(0, I)), replayed with numpy; a
    class's pools come from the stream spawned from the seed and the class."""
    rng = np.random.default_rng(seed if cls is None else np.random.SeedSequence(seed, spawn_key=(cls,)))
    return rng.standard_normal((pool_size, z_dim), dtype=np.float32)


def kept(rows, z, k, threshold, n):
    """The latents hub sampling keeps from one pool: float64 brute-force hub counts of ``rows``."""
    v = brute_hub_counts(rows, k)
    return z[v >= threshold][:n], v[v >= threshold][:n]


def one_hot(labels, c_dim):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), c_dim).float()


def dcgan_render(G, z):
    with torch.no_grad():
        return G.eval()(torch.from_numpy(z)[:, :, None, None])


# -- DCGAN-style generators ------------------------------------------------------------------

def test_dcgan_latent_size_and_shape_come_from_the_first_layer():
    G = DCGANGenerator(nz=16)
    with pytest.raises(RuntimeError, match="conv_transpose2d"):  # the stand-in refuses a 2-D z, as the tutorial's does
        G(torch.zeros(2, 16))
    gen = as_generator(G)
    assert (gen.family, gen.z_dim, gen.latent_shape) == ("callable", 16, (16, 1, 1))
    out = sample(G, 10, k=5, threshold=12, pool_size=400, seed=3, progress=False)
    z = z_pool(3, 400, 16)
    want_z, want_v = kept(z, z, 5, 12, 10)
    np.testing.assert_array_equal(out.z, want_z)  # latents stay 2-D [N, z_dim]
    np.testing.assert_array_equal(out.hub_values, want_v)
    torch.testing.assert_close(out.images, dcgan_render(G, out.z), rtol=0, atol=0)
    again = sample(G, 10, k=5, threshold=12, pool_size=400, seed=3, progress=False)
    torch.testing.assert_close(again.images, out.images, rtol=0, atol=0)


def test_a_generator_whose_own_shape_check_asserts_is_tried_with_a_flat_latent_too():
    # a hand-written G asserting a 2-D z (the zoo's networks, many notebooks) whose first layer is a
    # transposed convolution: the trial at [N, nz, 1, 1] fails on its assert, then [N, nz] runs
    G = GANZooStandIn().netG
    with pytest.raises(AssertionError):
        G(torch.zeros(2, 16, 1, 1))
    gen = as_generator(G)
    assert (gen.z_dim, gen.latent_shape) == (16, (16,))
    z = z_pool(5, 6, 16)
    with torch.no_grad():
        want = G.eval()(torch.from_numpy(z))
    torch.testing.assert_close(render(G, z, "z"), want, rtol=0, atol=0)


def test_a_model_in_training_mode_renders_as_in_eval_mode_and_stays_in_training_mode():
    G = DCGANGenerator().train()
    stats = [b.clone() for b in G.buffers()]
    out = sample(G, 6, method="random", seed=1, progress=False)
    assert G.training and all(m.training for m in G.modules())
    assert all(torch.equal(a, b) for a, b in zip(stats, G.buffers()))  # batch norm statistics untouched
    torch.testing.assert_close(out.images, dcgan_render(G, out.z), rtol=0, atol=0)
    with torch.no_grad():
        train_render = G.train()(torch.from_numpy(out.z)[:, :, None, None])
    assert not torch.allclose(train_render, out.images)  # training mode would have given other images


def test_latent_shape_overrides_and_a_disagreeing_size_is_refused():
    G = DCGANGenerator(nz=16)
    for shape in [(16, 1, 1), "16,1,1", [16, 1, 1]]:
        assert as_generator(G, latent_shape=shape).latent_shape == (16, 1, 1)
    with pytest.raises(ValueError, match="z_dim=20 disagrees .*takes 16 inputs"):
        as_generator(G, z_dim=20)
    with pytest.raises(ValueError, match="holds 8 values but z_dim=16"):
        as_generator(G, z_dim=16, latent_shape=(8,))
    with pytest.raises(ValueError, match="latent_shape"):
        as_generator(G, latent_shape="16,x")
    # a shape G cannot take is named at the first render (it was torch's bare "mat1 and mat2 ..."); the
    # adapter makes no trial call of its own (a G that runs only where it will be moved to stays usable)
    wrong = as_generator(G, latent_shape=(4, 2))
    with pytest.raises(ValueError, match=r"G did not run on latents of latent_shape=\(4, 2\) \(the shape given\): "):
        wrong.render_z(torch.zeros(2, 8), None)
    right = as_generator(G, latent_shape=(16, 1, 1))
    assert right.render_z(torch.zeros(2, 16), None).shape[0] == 2 and not right.shape_unconfirmed

    class GpuOnly(DCGANGenerator):  # runs only once moved where it belongs: never called before that
        def forward(self, z):
            raise AssertionError("called on the CPU")
    assert as_generator(GpuOnly(nz=16), latent_shape=(16, 1, 1)).latent_shape == (16, 1, 1)
    with pytest.raises(ValueError, match="cannot tell the generator's latent size"):
        as_generator(lambda z: z)


# -- conditional G(z, y) ---------------------------------------------------------------------

def test_conditional_one_hot_labels_second_positional():
    G = ConditionalDCGAN(nz=16, n_classes=8)
    out = sample(G, 12, method="random", classes="uniform", seed=2, progress=False,
                 generator_options={"c_dim": 8})
    assert out.labels.shape == (12,) and len(set(out.labels)) > 1 and out.z.shape == (12, 16)
    with torch.no_grad():
        own = G.eval()(torch.from_numpy(out.z)[:, :, None, None], one_hot(out.labels, 8))
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)
    # one class: each latent's value is its hub value in a Z pool drawn for that class alone
    single = sample(G, 8, classes=5, k=5, threshold=12, pool_size=400, seed=7, progress=False,
                    generator_options={"c_dim": 8})
    z = z_pool(7, 400, 16, cls=5)
    want_z, want_v = kept(z, z, 5, 12, 8)
    np.testing.assert_array_equal(single.z, want_z)
    np.testing.assert_array_equal(single.hub_values, want_v)
    assert np.all(single.labels == 5)


@pytest.mark.parametrize("options", [{}, {"z_dim": 100}, {"latent_shape": (100, 1, 1)},
                                     {"label_format": "onehot-1x1"}])
def test_a_label_branch_of_transposed_convolutions_gets_its_labels_as_1x1_maps(options):
    # the published two-branch cDCGAN takes the one-hot label as [N, 10, 1, 1]: labels of [N, 10] failed
    # the trial call (a misleading "cannot tell the latent size") or, with z_dim=, the first render
    G = TwoBranchCDCGAN()
    gen = as_generator(G, c_dim=10, **options)
    assert (gen.z_dim, gen.latent_shape, gen.label_format) == (100, (100, 1, 1), "onehot-1x1")
    out = sample(G, 10, method="random", classes=[2, 7], seed=3, progress=False,
                 generator_options={"c_dim": 10, **options})
    assert set(out.labels) == {2, 7}
    with torch.no_grad():
        own = G.eval()(torch.from_numpy(out.z)[:, :, None, None], one_hot(out.labels, 10)[:, :, None, None])
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="conv_transpose2d"):  # the 2-D layout, asked for, fails as in the original
        sample(G, 2, method="random", classes=1, progress=False,
               generator_options={"c_dim": 10, "z_dim": 100, "label_format": "onehot"})


def test_conditional_mistakes_give_one_clear_error():
    G = ConditionalDCGAN(nz=16, n_classes=8)
    with pytest.raises(ValueError, match="c_dim="):  # G(z) alone misses its labels
        sample(G, 2, method="random", progress=False)
    with pytest.raises(ValueError, match="unconditional .*c_dim="):
        sample(G, 2, method="random", classes=2, progress=False)
    with pytest.raises(ValueError, match="outside 0..7"):
        sample(G, 2, method="random", classes=8, progress=False, generator_options={"c_dim": 8})
    with pytest.raises(ValueError, match="conditional .*classes="):
        sample(G, 2, method="random", progress=False, generator_options={"c_dim": 8})
    with pytest.raises(ValueError, match="label_format"):
        as_generator(G, c_dim=8, label_format="onehots")


@pytest.mark.parametrize("options", [{"label_format": "index"}, {"label_format": "index", "label_arg": "labels"}])
def test_index_labels_and_z_size_beside_a_label_embedding(options):
    G = EmbeddingCGAN(latent_dim=12, n_classes=4)  # Linear(12 + 4): the size is found by a trial call
    gen = as_generator(G, c_dim=4, **options)
    assert (gen.z_dim, gen.latent_shape) == (12, (12,))
    out = sample(G, 9, method="random", classes=[1, 3], seed=0, progress=False,
                 generator_options={"c_dim": 4, **options})
    assert set(out.labels) == {1, 3}
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), torch.from_numpy(out.labels))
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)
    with pytest.raises(AssertionError):  # the stand-in checks its label format: one-hot labels fail
        sample(G, 2, method="random", classes=1, progress=False,
               generator_options={"c_dim": 4, "z_dim": 12, "label_format": "onehot"})


def test_a_label_embedding_of_c_dim_rows_means_index_labels():
    G = EmbeddingCGAN(latent_dim=12, n_classes=4)  # its Embedding(4, 4) takes class indices
    assert as_generator(G, c_dim=4).label_format == "index"
    assert as_generator(G, c_dim=4, z_dim=12, label_format="onehot").label_format == "onehot"
    assert as_generator(ConditionalDCGAN(nz=16, n_classes=8), c_dim=8).label_format == "onehot"  # no embedding
    out = sample(G, 6, method="random", classes=[0, 2], seed=1, progress=False, generator_options={"c_dim": 4})
    with torch.no_grad():
        own = G(torch.from_numpy(out.z), torch.from_numpy(out.labels))
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)


def test_a_class_count_the_generator_states_is_checked():
    G = ConditionalDCGAN(nz=16, n_classes=8)  # states n_classes = 8
    with pytest.raises(ValueError, match="c_dim=6 disagrees with the generator's n_classes = 8"):
        as_generator(G, c_dim=6)
    assert as_generator(G, c_dim=8).c_dim == 8


# -- pytorch_GAN_zoo -----------------------------------------------------------------------

def test_gan_zoo_model_renders_its_averaged_generator_with_hubs_in_z():
    model = GANZooStandIn(noise=16)
    assert detect_family(model) == "gan_zoo" and as_generator(model).default_space == "z"
    model.avgG.eval()
    out = sample(model, 8, k=5, threshold=12, pool_size=400, seed=4, progress=False)
    z = z_pool(4, 400, 16)
    want_z, want_v = kept(z, z, 5, 12, 8)
    np.testing.assert_array_equal(out.z, want_z)
    np.testing.assert_array_equal(out.hub_values, want_v)
    with torch.no_grad():
        own = model.avgG(torch.from_numpy(out.z))
        net = model.netG.eval()(torch.from_numpy(out.z))
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)
    assert not torch.allclose(out.images, net)  # the averaged generator, as test(getAvG=True)


def test_gan_zoo_renders_in_the_networks_own_mode_as_the_zoo_does():
    # the zoo never calls eval(): its averaged DCGAN renders with batch statistics (its running ones are
    # never averaged); the package renders what model.test(z, getAvG=True) gives, batch by batch, and
    # puts back the statistics the render moved
    model = GANZooStandIn(noise=16)
    assert model.avgG.training
    stats = [b.clone() for b in model.avgG.buffers()]
    out = sample(model, 10, method="random", seed=2, batch_size=4, progress=False)
    assert model.avgG.training and all(torch.equal(a, b) for a, b in zip(stats, model.avgG.buffers()))
    z = torch.from_numpy(out.z)
    with torch.no_grad():
        own = torch.cat([GANZooStandIn(noise=16).test(z[s:s + 4], getAvG=True) for s in range(0, 10, 4)])
        frozen = GANZooStandIn(noise=16).avgG.eval()(z)
    torch.testing.assert_close(out.images, own, rtol=0, atol=0)
    assert not torch.allclose(out.images, frozen, atol=1e-3)


class _NoisyZooNet(torch.nn.Module):
    """The zoo StyleGAN's habit: noise from torch.randn inside forward, and a buffer updated in train mode."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 3 * 8 * 8)
        self.register_buffer("mean_w", torch.zeros(16))

    def forward(self, x):
        if self.training:
            self.mean_w = 0.99 * self.mean_w + 0.01 * x.mean(0)
        h = self.lin(x - self.mean_w) + 0.5 * torch.randn(len(x), 3 * 8 * 8)
        return torch.tanh(h).view(-1, 3, 8, 8)


def test_gan_zoo_noise_is_fixed_by_the_seed_and_its_buffers_are_kept():
    model = GANZooStandIn(noise=16)
    model.avgG = _NoisyZooNet()
    a = sample(model, 6, method="random", seed=5, progress=False)
    torch.manual_seed(123)  # torch's own stream must not matter, and must be left as it was
    state = torch.random.get_rng_state()
    b = sample(model, 6, method="random", seed=5, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    assert torch.equal(model.avgG.mean_w, torch.zeros(16))
    c = sample(model, 6, method="random", seed=6, progress=False)
    assert not torch.allclose(a.images, c.images)


def test_gan_zoo_device_moves_both_networks_and_the_models_own_device():
    model = GANZooStandIn(noise=16)
    model.device = torch.device("meta")  # test() moves z to model.device: it must follow the sampler's device=
    out = sample(model, 3, method="random", device="cpu", progress=False)
    assert model.device == torch.device("cpu") and out.images.shape == (3, 3, 8, 8)


def test_gan_zoo_networks_wrapped_in_data_parallel_render_through_the_module_they_wrap():
    # the zoo wraps netG and avgG in nn.DataParallel on a GPU machine (its default): the wrapper fails on
    # any device but cuda:0 and splits a batch across GPUs; the stand-in's wrapper fails whenever called
    wrapped, plain = GANZooStandIn(noise=16, use_gpu=True), GANZooStandIn(noise=16)
    got = sample(wrapped, 6, method="random", seed=2, device="cpu", progress=False)
    want = sample(plain, 6, method="random", seed=2, progress=False)
    torch.testing.assert_close(got.images, want.images, rtol=0, atol=0)
    assert isinstance(wrapped.avgG, torch.nn.DataParallel) and isinstance(wrapped.netG, torch.nn.DataParallel)
    with pytest.raises(RuntimeError, match="cuda:0"):  # the wrapper itself, as the zoo's test() would call it
        wrapped.test(torch.zeros(1, 16), getAvG=True)


def test_gan_zoo_models_with_attributes_are_refused():
    with pytest.raises(ValueError, match="categoryVectorDim = 3"):
        as_generator(GANZooStandIn(noise=16, categories=3))


# -- rosinality's stylegan2-pytorch ----------------------------------------------------------

def test_rosinality_hubs_in_w_render_the_models_own_image():
    g = RosinalityStandIn(size=8, style_dim=16)
    assert detect_family(g) == "rosinality"
    out = sample(g, 8, k=5, threshold=9, pool_size=400, seed=6, progress=False)
    z = z_pool(6, 400, 16)
    with torch.no_grad():
        w = g.style(torch.from_numpy(z)).numpy()
    want_z, want_v = kept(w, z, 5, 9, 8)
    np.testing.assert_array_equal(out.z, want_z)
    np.testing.assert_array_equal(out.hub_values, want_v)
    with torch.no_grad():
        own = g([torch.from_numpy(out.z)], randomize_noise=False)[0]
        from_w = g([torch.from_numpy(out.w)], input_is_latent=True, randomize_noise=False)[0]
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.images, from_w, rtol=0, atol=0)
    again = sample(g, 8, k=5, threshold=9, pool_size=400, seed=6, progress=False)
    torch.testing.assert_close(again.images, out.images, rtol=0, atol=0)


def test_rosinality_truncation_is_the_models_own_and_z_space_works():
    g = RosinalityStandIn(size=8, style_dim=16)
    out = sample(g, 5, method="truncation", psi=0.6, seed=0, progress=False)
    avg = as_generator(g).w_avg()
    torch.testing.assert_close(as_generator(g).w_avg(), avg, rtol=0, atol=0)  # the same average every time
    with torch.no_grad():
        own = g([torch.from_numpy(out.z)], truncation=0.6, truncation_latent=avg, randomize_noise=False)[0]
        style = g.style(torch.from_numpy(out.z)).float()
    torch.testing.assert_close(out.images, own, rtol=0, atol=1e-6)
    avg32 = avg.float()  # rosinality's formula in float32, not NVIDIA's lerp (which rounds differently)
    np.testing.assert_array_equal(out.w, (avg32 + 0.6 * (style - avg32)).numpy())
    zs = sample(g, 6, space="z", k=5, threshold=12, pool_size=400, seed=1, progress=False)
    z = z_pool(1, 400, 16)
    np.testing.assert_array_equal(zs.z, kept(z, z, 5, 12, 6)[0])
    assert zs.w is None


# -- the command line, one run per family ----------------------------------------------------

def cli(*args, cwd):
    return run(["sample", *args, "--quiet"], cwd=cwd)


def pngs_equal_render(outdir, render, n):
    """The PNGs, read back with PIL, equal the model's own render of latents.npz (NVIDIA's uint8)."""
    lat = np.load(outdir / "latents.npz")
    assert lat["z"].ndim == 2
    own = to_uint8(render(lat)).numpy()
    for i in range(n):
        img = np.asarray(Image.open(outdir / f"{i:06d}.png"))
        img = img[:, :, None] if img.ndim == 2 else img
        np.testing.assert_array_equal(img, own[i].transpose(1, 2, 0))
    return lat


FAMILY_RUNS = {
    "dcgan": ("standins:DCGANGenerator()", [],
              lambda lat: dcgan_render(DCGANGenerator(), lat["z"])),
    "conditional": ("standins:ConditionalDCGAN()", ["--c-dim", "8", "--class", "2,6"],
                    lambda lat: ConditionalDCGAN().eval()(torch.from_numpy(lat["z"])[:, :, None, None],
                                                          one_hot(lat["labels"], 8))),
    "two_branch": ("standins:TwoBranchCDCGAN()", ["--c-dim", "10", "--class", "4"],
                   lambda lat: TwoBranchCDCGAN().eval()(torch.from_numpy(lat["z"])[:, :, None, None],
                                                        one_hot(lat["labels"], 10)[:, :, None, None])),
    "index": ("standins:EmbeddingCGAN()", ["--c-dim", "4", "--label-format", "index", "--label-arg", "labels",
                                           "--class", "3"],
              lambda lat: EmbeddingCGAN()(torch.from_numpy(lat["z"]), torch.from_numpy(lat["labels"]))),
    "gan_zoo": ("standins:GANZooStandIn()", [],  # train mode, as the zoo renders: batch by batch (of 4)
                lambda lat: torch.cat([GANZooStandIn().test(torch.from_numpy(lat["z"][s:s + 4]), getAvG=True)
                                       for s in range(0, len(lat["z"]), 4)])),
    "rosinality": ("standins:RosinalityStandIn()", [],
                   lambda lat: RosinalityStandIn()([torch.from_numpy(lat["w"])], input_is_latent=True,
                                                   randomize_noise=False)[0]),
}


@pytest.mark.parametrize("family", sorted(FAMILY_RUNS))
def test_cli_end_to_end_per_family(tmp_path, family):
    network, flags, render = FAMILY_RUNS[family]
    with torch.no_grad():
        r = cli("--network", network, "--n", "6", "--outdir", "out", "--pool-size", "300", "--top", "0.05",
                "--batch-size", "4", *flags, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        lat = pngs_equal_render(tmp_path / "out", render, 6)
    assert ("labels" in lat.files) == (family in ("conditional", "two_branch", "index"))
    assert ("w" in lat.files) == (family == "rosinality")


@pytest.mark.parametrize("network, flags, message", [
    ("standins:ConditionalDCGAN()", ["--c-dim", "8", "--class", "8"], "outside 0..7"),
    ("standins:ConditionalDCGAN()", ["--class", "1"], "--c-dim N"),
    ("standins:DCGANGenerator()", ["--z-dim", "20"], "disagrees"),
    ("standins:RosinalityStandIn()", ["--c-dim", "3"], "--c-dim applies to callable generators"),
    ("zoo:G", [], "categoryVectorDim"),
])
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, network, flags, message):
    (tmp_path / "zoo.py").write_text("from standins import GANZooStandIn\nG = GANZooStandIn(categories=2)\n")
    r = cli("--network", network, "--n", "3", "--outdir", "o", *flags, cwd=tmp_path)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.png"))


def test_callable_adapter_options_are_checked():
    with pytest.raises(ValueError, match="label_arg"):
        CallableAdapter(DCGANGenerator(), label_arg="not a name")
    with pytest.raises(ValueError, match="c_dim"):
        CallableAdapter(DCGANGenerator(), c_dim=-1)
