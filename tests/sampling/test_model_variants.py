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
