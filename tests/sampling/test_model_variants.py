"""Generators as people actually hand them over: uint8 or half-precision outputs, models in
half / bfloat16 / float64, outputs in tuples and dicts, DataParallel and TorchScript wrappers,
a lambda around a network in training mode, several classes at once, truncation with a cutoff.
Every case is checked against the model's own render of the returned latents."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from hubness_fast.generators import as_generator, detect_family, to_uint8
from hubness_fast.sampling import sample
from hubness_fast.sampling.images import decode_png
from standins import ConditionalDCGAN, DCGANGenerator, StyleGANStandIn

QUICK = dict(method="random", progress=False)


class Packed(nn.Module):
    """G(z) -> [N, 1, 4, 4] tanh images, handed back as ``form``: a tensor (float32, float16 or
    uint8 by NVIDIA's rule), a tuple, or a dict."""

    def __init__(self, form="float", seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.form = 16, form
        self.fc = nn.Linear(16, 16)

    def image(self, z):
        return torch.tanh(self.fc(z)).view(-1, 1, 4, 4)

    def forward(self, z):
        x = self.image(z)
        return {"float": x, "half": x.half(), "uint8": to_uint8(x), "tuple": (x, None), "dict": {"img": x, "w": z},
                "one": {"pixels": x}, "many": {"a": x, "b": x}}[self.form]


def own(G, z, *args):
    with torch.no_grad():
        return G(torch.from_numpy(z), *args)


def test_uint8_images_are_kept_as_they_are(tmp_path):
    G = Packed("uint8")
    out = sample(G, 5, seed=3, **QUICK)
    assert out.images.dtype == torch.uint8
    torch.testing.assert_close(out.images, own(G, out.z), rtol=0, atol=0)
    as_u8 = sample(G, 5, seed=3, output="uint8", **QUICK)
    torch.testing.assert_close(as_u8.images, out.images, rtol=0, atol=0)  # not converted a second time
    sample(G, 5, seed=3, outdir=tmp_path, **QUICK)
    png = np.stack([decode_png((tmp_path / f"{i:06d}.png").read_bytes()) for i in range(5)])
    np.testing.assert_array_equal(png, out.images[:, 0].numpy())
    assert 0 < png.min() and png.max() < 255  # not all white


def test_half_precision_images_are_converted_in_float32():
    G = Packed("half")
    out = sample(G, 64, seed=0, **QUICK)
    u8 = sample(G, 64, seed=0, output="uint8", **QUICK)
    want = ((out.images.float() * 127.5 + 128).clamp(0, 255)).to(torch.uint8)
    torch.testing.assert_close(u8.images, want, rtol=0, atol=0)
    assert to_uint8(torch.tensor([0.3], dtype=torch.float16)).item() == int(float(torch.tensor(0.3).half()) * 127.5
                                                                             + 128)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_models_in_other_precisions_get_latents_in_their_dtype(dtype):
    dt = getattr(torch, dtype)
    G = Packed().to(dt)
    assert as_generator(G).dtype == dt
    out = sample(G, 4, seed=1, **QUICK)
    assert out.images.dtype == dt
    with torch.no_grad():
        want = G(torch.from_numpy(out.z).to(dt))
    torch.testing.assert_close(out.images, want, rtol=0, atol=0)


@pytest.mark.parametrize("form", ["tuple", "dict", "one"])
def test_images_inside_a_tuple_or_dict(form):
    G = Packed(form)
    out = sample(G, 3, seed=0, **QUICK)
    torch.testing.assert_close(out.images, G.image(torch.from_numpy(out.z)).detach(), rtol=0, atol=0)


def test_a_dict_with_several_tensors_and_no_image_entry_is_refused():
    with pytest.raises(ValueError, match=r"dict with entries \['a', 'b'\].*lambda z: G\(z\)\[KEY\]"):
        sample(Packed("many"), 2, **QUICK)


def test_dataparallel_is_looked_through():
    G = StyleGANStandIn(z_dim=8, w_dim=8, num_ws=3, img_resolution=8)
    wrapped = nn.DataParallel(G)
    assert detect_family(wrapped) == "stylegan"
    a = sample(wrapped, 4, pool_size=400, threshold=6, seed=2, progress=False)
    b = sample(G, 4, pool_size=400, threshold=6, seed=2, progress=False)
    np.testing.assert_array_equal(a.z, b.z)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, and still in use
@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_generators_are_read_like_their_modules(how):
    G = DCGANGenerator(nz=16).eval()
    probe = torch.zeros(2, 16, 1, 1)
    S = torch.jit.script(G) if how == "script" else torch.jit.trace(G, probe)
    gen = as_generator(S)
    assert (gen.z_dim, gen.latent_shape) == (16, (16, 1, 1))  # read from the first ConvTranspose2d
    out = sample(S, 3, seed=0, **QUICK)
    with torch.no_grad():
        want = G(torch.from_numpy(out.z)[:, :, None, None])
    torch.testing.assert_close(out.images, want, rtol=0, atol=0)


def test_a_lambda_around_a_network_in_training_mode_runs_it_in_eval_mode():
    G = DCGANGenerator(nz=16).train()  # batch norm: in training mode an image depends on its batch
    before = copy.deepcopy(G.state_dict())
    f = lambda z: G(z.view(-1, 16, 1, 1))  # noqa: E731  (as users write it)
    a = sample(f, 8, batch_size=8, z_dim=16, seed=0, **QUICK)
    b = sample(f, 8, batch_size=3, z_dim=16, seed=0, **QUICK)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    assert G.training  # restored
    for key, value in G.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)  # running statistics untouched
    with torch.no_grad():
        want = G.eval()(torch.from_numpy(a.z)[:, :, None, None])
    torch.testing.assert_close(a.images, want, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["random", "hubs"])
def test_a_class_draws_the_same_latents_whichever_classes_come_with_it(method):
    G = ConditionalDCGAN(nz=16, n_classes=8)
    opts = dict(method=method, seed=4, progress=False, generator_options={"c_dim": 8}, pool_size=400, threshold=10)
    if method == "random":
        opts = {key: v for key, v in opts.items() if key not in ("pool_size", "threshold")}
    alone = sample(G, 30, classes=3, **opts)
    for classes in ([3, 5], [1, 3], "uniform"):
        mixed = sample(G, 24, classes=classes, **opts)
        rows = mixed.z[mixed.labels == 3]
        assert len(rows) > 0
        np.testing.assert_array_equal(rows, alone.z[:len(rows)])
    images = own(G.eval(), alone.z[:, :, None, None], nn.functional.one_hot(torch.full((30,), 3), 8).float())
    torch.testing.assert_close(alone.images, images, rtol=0, atol=0)


def test_latents_npz_reproduces_the_images_with_a_truncation_cutoff(tmp_path):
    G = StyleGANStandIn(z_dim=8, w_dim=8, num_ws=4, img_resolution=8, img_channels=1)
    sample(G, 5, method="truncation", psi=0.3, truncation_cutoff=1, seed=0, outdir=tmp_path, progress=False)
    saved = np.load(tmp_path / "latents.npz")
    assert set(saved.files) >= {"z", "w", "w_tail"}
    ws = torch.from_numpy(saved["w"])[:, None].repeat(1, G.num_ws, 1)
    ws[:, 1:] = torch.from_numpy(saved["w_tail"])[:, None]
    with torch.no_grad():
        want = to_uint8(G.synthesis(ws, noise_mode="const"))
    png = np.stack([decode_png((tmp_path / f"{i:06d}.png").read_bytes()) for i in range(5)])
    np.testing.assert_array_equal(png, want[:, 0].numpy())
    with torch.no_grad():  # and the untruncated tail is the mapping's own w of z
        tail = G.mapping(torch.from_numpy(saved["z"]), None)[:, 0]
    np.testing.assert_array_equal(saved["w_tail"], tail.numpy())


def test_a_rerun_into_the_same_folder_leaves_only_its_own_images(tmp_path):
    G = Packed()
    sample(G, 10, seed=0, outdir=tmp_path, **QUICK)
    keep = tmp_path / "notes.png"  # not a numbered image of ours: never touched
    keep.write_bytes(b"x")
    sample(G, 3, seed=1, outdir=tmp_path, **QUICK)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["000000.png", "000001.png", "000002.png", "grid.png",
                                                              "notes.png"]
    assert len(np.load(tmp_path / "latents.npz")["z"]) == 3
    (tmp_path / "0000001.png").write_bytes(b"x")  # as a run of more than a million images names them
    sample(G, 3, seed=1, outdir=tmp_path, **QUICK)
    assert not (tmp_path / "0000001.png").exists() and (tmp_path / "000001.png").exists()


def test_images_in_zero_one_get_a_warning_when_converted():
    class UnitRange(Packed):
        def forward(self, z):
            return (self.image(z) + 1) / 2

    with pytest.warns(UserWarning, match="no negative values"):
        sample(UnitRange(), 8, output="uint8", **QUICK)
    sample(Packed(), 8, output="uint8", **QUICK)  # [-1, 1]: no warning (warnings are errors in this suite)


class TinyStyleGAN(nn.Module):
    """NVIDIA's layout in miniature (mapping to [N, num_ws, w_dim], synthesis of ws), any precision."""

    class Mapping(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)
            self.register_buffer("w_avg", torch.zeros(16))

        def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
            return self.fc(z)[:, None].repeat(1, 4, 1)

    class Synthesis(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 3 * 8 * 8)

        def forward(self, ws, noise_mode="const", force_fp32=False, update_emas=False):
            return torch.tanh(self.fc(ws[:, 0])).view(-1, 3, 8, 8)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.z_dim = self.w_dim = 16
        self.c_dim, self.num_ws, self.img_resolution, self.img_channels = 0, 4, 8, 3
        self.mapping, self.synthesis = self.Mapping(), self.Synthesis()

    def forward(self, z, c=None, **kwargs):
        return self.synthesis(self.mapping(z, c))


@pytest.mark.parametrize("method", ["random", "hubs", "truncation"])
def test_a_bfloat16_stylegan_samples_in_w_as_in_float32(method):
    G = TinyStyleGAN().to(torch.bfloat16)
    hubs = {"pool_size": 300, "threshold": 6} if method == "hubs" else {}
    out = sample(G, 6, method=method, seed=2, progress=False, **hubs)
    assert out.w.dtype == np.float32 and out.images.dtype == torch.bfloat16
    with torch.no_grad():  # the w handed back are the bf16 ws exactly, and render the images returned
        ws = torch.from_numpy(out.w).to(torch.bfloat16)[:, None].repeat(1, 4, 1)
        torch.testing.assert_close(out.images, G.synthesis(ws), rtol=0, atol=0)


def test_each_submodules_own_mode_is_restored():
    G = DCGANGenerator(nz=16).train()
    frozen = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)][0].eval()  # a frozen layer in a training G
    sample(G, 4, seed=0, **QUICK)
    assert G.training and not frozen.training
    assert all(m.training for m in G.modules() if m is not frozen)


class LateInput(nn.Module):
    """A G whose first registered layer is not where z goes: its output layer is registered first."""

    def __init__(self, stated=None):
        super().__init__()
        torch.manual_seed(1)
        if stated:
            setattr(self, stated, 24)
        self.to_rgb = nn.Conv2d(8, 3, 1)
        self.fc = nn.Linear(24, 8 * 4 * 4)

    def forward(self, z):
        return torch.tanh(self.to_rgb(self.fc(z).view(-1, 8, 4, 4)))


@pytest.mark.parametrize("stated", ["nz", "z_dim", "latent_dim", "argument"])
def test_a_stated_latent_size_is_tried_when_the_first_registered_layer_disagrees(stated):
    G = LateInput(None if stated == "argument" else stated)
    out = sample(G, 5, seed=3, **({"z_dim": 24} if stated == "argument" else {}), **QUICK)
    assert out.z.shape == (5, 24)
    torch.testing.assert_close(out.images, own(G, out.z), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"z_dim=20 disagrees with the generator: its first registered layer, "
                                         r"Conv2d\(8, 3.*takes 8 inputs, and G did not run on latents of 20 values "
                                         r"\(.*shapes cannot be multiplied"):
        sample(LateInput(), 5, z_dim=20, **QUICK)


def test_a_latent_size_read_from_a_layer_g_does_not_run_on_is_an_error_before_any_pool():
    with pytest.raises(ValueError, match=r"cannot tell the generator's latent size: its first registered layer, "
                                         r"Conv2d\(8, 3.*but G did not run on latents of 8 values .*give it as z_dim="):
        sample(LateInput(), 64, progress=False)  # hubs: refused before the pool search


class EmbeddedLabels(nn.Module):
    """A cGAN concatenating z with a 5-d embedding of the class index (not of the one-hot width)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.n_classes = 10
        self.emb = nn.Embedding(10, 5)
        self.fc = nn.Linear(21, 3 * 4 * 4)

    def forward(self, z, y):
        return torch.tanh(self.fc(torch.cat([z, self.emb(y)], 1))).view(-1, 3, 4, 4)


def test_a_conditional_g_whose_latent_size_no_layer_shows_takes_the_size_given():
    G = EmbeddedLabels()
    with pytest.raises(ValueError, match="neither 21 nor 11 values .*give it as z_dim="):
        sample(G, 4, classes=3, generator_options={"c_dim": 10}, **QUICK)
    out = sample(G, 4, classes=3, z_dim=16, generator_options={"c_dim": 10}, seed=0, **QUICK)
    torch.testing.assert_close(out.images, own(G, out.z, torch.full((4,), 3)), rtol=0, atol=0)


def test_a_lambda_takes_the_dtype_and_device_of_the_network_it_closes_over():
    G = Packed().half()
    f = lambda z: 2 * G(z) - 1  # noqa: E731  (the docs' fix for outputs in [0, 1])
    side = as_generator(f, z_dim=16)
    assert side.dtype == torch.float16 and side.device.type == "cpu"
    out = sample(f, 4, z_dim=16, seed=0, **QUICK)
    torch.testing.assert_close(out.images, 2 * own(G, out.z.astype(np.float16)) - 1, rtol=0, atol=0)
    side.to("cpu")  # moves the networks it closes over (a no-op here, and no error)


def test_the_trial_call_leaves_torchs_random_state_as_it_was():
    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)

        def forward(self, z):
            return torch.tanh(self.fc(z) + torch.randn(len(z), 16)).view(-1, 1, 4, 4)

    G = Noisy()
    torch.manual_seed(5)
    as_generator(G)  # the latent size is read from fc and tried once
    after = torch.randn(3)
    torch.manual_seed(5)
    torch.testing.assert_close(after, torch.randn(3), rtol=0, atol=0)


def test_an_rgba_generator_writes_rgba_pngs(tmp_path):
    class RGBA(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(3)
            self.fc = nn.Linear(16, 4 * 6 * 5)

        def forward(self, z):
            return torch.tanh(self.fc(z)).view(-1, 4, 6, 5)

    G = RGBA()
    out = sample(G, 3, seed=0, outdir=tmp_path / "s", **QUICK)
    for i in range(3):
        png = decode_png((tmp_path / "s" / f"{i:06d}.png").read_bytes())
        np.testing.assert_array_equal(png, to_uint8(own(G, out.z))[i].permute(1, 2, 0).numpy())
    assert decode_png((tmp_path / "s" / "grid.png").read_bytes()).shape[2] == 4


def test_a_mapping_that_returns_one_w_per_latent_is_told_how_to_broadcast():
    G = TinyStyleGAN()
    G.mapping.forward = lambda z, c=None, **kw: G.mapping.fc(z)
    with pytest.raises(ValueError, match=r"returned shape \[300, 16\], expected \[N, 4, 16\] \(NVIDIA's mapping "
                                         r"broadcasts .* w\[:, None\].repeat\(1, 4, 1\)"):
        sample(G, 4, pool_size=300, threshold=6, progress=False)
