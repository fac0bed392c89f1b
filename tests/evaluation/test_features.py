"""features(): images, folders and generators through callables and TorchScript detectors."""
import os
import weakref

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from hubness_fast.features import DetectorError, ImageSource, NotCachedWarning, TorchScriptDetector, features
from hubness_fast.generators import as_generator
from hubness_fast.sampling import HubnessSampler, RandomSampler, TruncationSampler, sample
from standins import PlainGenerator, StyleGANStandIn, TinyDetector, save_scripted


@pytest.fixture(scope="module")
def detector_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("detector") / "tiny.pt"
    save_scripted(TinyDetector(), path)
    return path


def oracle(images_u8):
    """The tiny detector's features computed directly in numpy (int64), grey repeated to RGB."""
    x = np.asarray(images_u8, dtype=np.int64)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, 4, h // 4, 4, w // 4).sum(axis=(3, 5)).reshape(n, 48)
    return (blocks @ TinyDetector().proj.numpy()).astype(np.float32)


def nvidia_uint8(x):
    return (torch.as_tensor(x) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


class Recorder:
    """A callable extractor: flattened pixels as features; counts calls, keeps the largest batch."""

    def __init__(self, cache_key=None):
        self.calls, self.largest, self.seen = 0, 0, []
        if cache_key is not None:
            self.cache_key = cache_key

    def __call__(self, x):
        assert isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.ndim == 4
        self.calls += 1
        self.largest = max(self.largest, len(x))
        return x.flatten(1).double()


def images_u8(n=20, c=3, h=8, w=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


# -- shapes, batching, conversion ---------------------------------------------------------

def test_detector_by_path_shapes_dtype_and_oracle(detector_path):
    x = images_u8(20)
    out = features(x, detector_path, progress=False)
    assert out.shape == (20, 16) and out.dtype == np.float32
    np.testing.assert_array_equal(out, oracle(x))
    same = features(torch.from_numpy(x), str(detector_path), progress=True)  # str path, torch input, a bar
    np.testing.assert_array_equal(same, out)
    det = TorchScriptDetector(detector_path)
    np.testing.assert_array_equal(features(x, det, progress=False), out)
    assert det.cache_key == TorchScriptDetector(detector_path).cache_key


def test_same_features_for_any_batch_size(detector_path):
    x = images_u8(70, h=12, w=8, seed=1)
    runs = [features(x, detector_path, batch_size=b, progress=False) for b in (1, 7, 64)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    np.testing.assert_array_equal(runs[0], oracle(x))


def test_deterministic(detector_path):
    x = images_u8(9, seed=2)
    a = features(x, detector_path, progress=False)
    b = features(x.copy(), detector_path, progress=False)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_float_images_converted_as_nvidia_does(dtype):
    x = torch.linspace(-1.3, 1.3, 2 * 3 * 4 * 4, dtype=torch.float64).reshape(2, 3, 4, 4)
    x = x[torch.randperm(2, generator=torch.Generator().manual_seed(0))].to(dtype)
    rec = Recorder()
    out = features(x, rec, progress=False)
    expected = nvidia_uint8(x.float() if dtype == torch.float16 else x).flatten(1).double().numpy()
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float64  # the extractor's float64 is kept
    np.testing.assert_array_equal(features(x.numpy(), rec, progress=False), expected)  # numpy in: the same
    assert expected.min() == 0 and expected.max() == 255  # clamped at both ends


def test_uint8_and_its_float_equivalent_agree(detector_path):
    G = StyleGANStandIn()
    imgs = sample(G, 6, method="random", seed=0, progress=False).images
    np.testing.assert_array_equal(features(imgs, detector_path, progress=False),
                                  oracle(nvidia_uint8(imgs).numpy()))


def test_grey_is_repeated_to_three_channels(detector_path):
    grey = images_u8(11, c=1, seed=3)
    out = features(grey, detector_path, batch_size=4, progress=False)
    np.testing.assert_array_equal(out, features(np.repeat(grey, 3, axis=1), detector_path, progress=False))
    rec = Recorder()  # a callable sees the channels as they are
    assert features(grey, rec, progress=False).shape == (11, 8 * 12)


# -- folders --------------------------------------------------------------------------------

def write_folder(folder, images_chw, suffix=".png"):
    folder.mkdir(exist_ok=True)
    for i, im in enumerate(images_chw):
        arr = im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0)
        Image.fromarray(arr).save(folder / f"img{i:03d}{suffix}")


def test_folder_png_in_sorted_order(tmp_path, detector_path):
    x = images_u8(13, seed=4)
    write_folder(tmp_path / "rgb", x)
    (tmp_path / "rgb" / "notes.txt").write_text("not an image")
    np.testing.assert_array_equal(features(tmp_path / "rgb", detector_path, batch_size=5, progress=False), oracle(x))
    rec = Recorder()
    np.testing.assert_array_equal(features(str(tmp_path / "rgb"), rec, progress=False), x.reshape(13, -1))


def test_folder_grey_rgba_mixed_and_jpeg(tmp_path):
    grey = images_u8(4, c=1, seed=5)
    write_folder(tmp_path / "grey", grey)
    rec = Recorder()
    np.testing.assert_array_equal(features(tmp_path / "grey", rec, progress=False), grey.reshape(4, -1))
    rgba = np.random.default_rng(6).integers(0, 256, (3, 8, 12, 4), dtype=np.uint8)
    (tmp_path / "rgba").mkdir()
    for i, im in enumerate(rgba):
        Image.fromarray(im, "RGBA").save(tmp_path / "rgba" / f"{i}.png")
    np.testing.assert_array_equal(features(tmp_path / "rgba", rec, progress=False),
                                  rgba[..., :3].transpose(0, 3, 1, 2).reshape(3, -1))
    mixed = tmp_path / "mixed"  # grey and RGB together: all read as RGB
    write_folder(mixed, images_u8(2, seed=7))
    Image.fromarray(grey[0, 0]).save(mixed / "zz_grey.png")
    out = features(mixed, rec, progress=False)
    assert out.shape == (3, 3 * 8 * 12)
    np.testing.assert_array_equal(out[2].reshape(3, 8, 12), np.repeat(grey[0], 3, axis=0))
    write_folder(tmp_path / "jpg", images_u8(3, seed=8), suffix=".JPG")
    assert features(tmp_path / "jpg", rec, progress=False).shape == (3, 3 * 8 * 12)


def test_folder_errors(tmp_path, detector_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "sub").mkdir()
    with pytest.raises(ValueError, match="holds no"):
        features(tmp_path / "empty", detector_path, progress=False)
    with pytest.raises(ValueError, match="is not a folder"):
        features(tmp_path / "missing", detector_path, progress=False)
    write_folder(tmp_path / "sizes", images_u8(2, seed=9))
    Image.fromarray(images_u8(1, h=4, w=4)[0].transpose(1, 2, 0)).save(tmp_path / "sizes" / "grid.png")
    with pytest.raises(ValueError, match=r"differ in size.*grid\.png.*move it out"):
        features(tmp_path / "sizes", detector_path, progress=False)
    (tmp_path / "wide").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "wide" / "a.png")
    with pytest.raises(ValueError, match="only 8-bit"):
        features(tmp_path / "wide", detector_path, progress=False)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read"):
        features(tmp_path / "broken", detector_path, progress=False)


# -- generators -----------------------------------------------------------------------------

def test_generator_with_random_sampler_equals_sampled_images(detector_path):
    G = StyleGANStandIn()
    got = features(G, detector_path, n=45, sampler=RandomSampler(space="w", seed=1), batch_size=16, progress=False)
    ref = sample(G, 45, method="random", seed=1, progress=False).images
    np.testing.assert_array_equal(got, features(ref, detector_path, progress=False))
    assert got.shape == (45, 16)
    default = features(G, detector_path, n=10, batch_size=4, progress=False)  # no sampler: the prior, seed 0
    np.testing.assert_array_equal(default, features(sample(G, 10, method="random", seed=0, progress=False).images,
                                                    detector_path, progress=False))


def test_generator_with_hubness_sampler_equals_sampled_images(detector_path):
    G = StyleGANStandIn()
    sampler = HubnessSampler(k=5, threshold=9, pool_size=700, seed=3, space="w")
    got = features(G, detector_path, n=30, sampler=sampler, batch_size=7, progress=False)
    ref = sample(G, 30, method="hubs", k=5, threshold=9, pool_size=700, seed=3, progress=False).images
    np.testing.assert_array_equal(got, features(ref, detector_path, progress=False))
    assert sampler.stats["kept"] >= 30  # the sampler did the choosing


def test_generator_with_truncation_cutoff_and_plain_callable(detector_path):
    G = StyleGANStandIn()
    got = features(G, detector_path, n=9, sampler=TruncationSampler(psi=0.6, truncation_cutoff=3, seed=0, space="w"),
                   batch_size=4, progress=False)
    ref = sample(G, 9, "truncation", psi=0.6, truncation_cutoff=3, seed=0, progress=False).images
    np.testing.assert_array_equal(got, features(ref, detector_path, progress=False))
    P = PlainGenerator()  # G(z) with no z_dim, 1 x 8 x 8 grey images: the sampler gives the size
    got = features(P, detector_path, n=11, sampler=RandomSampler(12, seed=2), batch_size=5, progress=False)
    ref = sample(P, 11, method="random", seed=2, progress=False, generator_options={"z_dim": 12}).images
    np.testing.assert_array_equal(got, oracle(nvidia_uint8(ref).numpy()))
    adapter = as_generator(P, "callable", z_dim=12)
    np.testing.assert_array_equal(features(adapter, detector_path, n=11, sampler=RandomSampler(seed=2),
                                           batch_size=5, progress=False), got)


def test_conditional_generator_takes_classes(detector_path):
    G = StyleGANStandIn(c_dim=3)
    got = features(G, detector_path, n=8, sampler=RandomSampler(space="w", seed=4), classes=[0, 2], progress=False)
    ref = sample(G, 8, method="random", classes=[0, 2], seed=4, progress=False).images
    np.testing.assert_array_equal(got, features(ref, detector_path, progress=False))
    with pytest.raises(ValueError, match="conditional"):
        features(G, detector_path, n=8, progress=False)


def test_generator_holds_one_batch_of_images_at_a_time():
    G = StyleGANStandIn()
    events, alive = [], []

    class Watch(Recorder):
        def __call__(self, x):
            # every earlier batch is gone by the time the next one is extracted
            assert all(ref() is None for ref in alive), "an earlier batch of images is still held"
            alive.append(weakref.ref(x))
            events.append(("extract", len(x)))
            return super().__call__(x)

    G.synthesis.register_forward_hook(lambda module, args, out: events.append(("render", len(out))))
    watch, n, batch = Watch(), 50, 8
    out = features(G, watch, n=n, sampler=RandomSampler(space="w", seed=0), batch_size=batch, progress=False)
    assert out.shape == (n, 3 * 16 * 16) and n > batch
    assert watch.largest == batch and watch.calls == -(-n // batch)
    sizes = [batch] * (n // batch) + [n % batch]
    assert events == [e for s in sizes for e in (("render", s), ("extract", s))]  # render, extract, render, ...


# -- cache ----------------------------------------------------------------------------------

def test_cache_array_source(tmp_path):
    x = images_u8(10, seed=10)
    rec = Recorder(cache_key="flatten-v1")
    a = features(x, rec, batch_size=4, cache_dir=tmp_path, progress=False)
    assert rec.calls == 3 and len(list(tmp_path.glob("*.npy"))) == 1
    b = features(x.copy(), rec, batch_size=3, cache_dir=tmp_path, progress=False)
    assert rec.calls == 3  # loaded, not computed
    np.testing.assert_array_equal(a, b)
    assert b.dtype == a.dtype
    same_pixels = (torch.from_numpy(x).double() - 127.75) / 127.5  # float images converting to the same uint8
    features(same_pixels, rec, cache_dir=tmp_path, progress=False)
    assert rec.calls == 3
    y = x.copy()
    y[3, 0, 0, 0] ^= 1
    features(y, rec, cache_dir=tmp_path, progress=False)
    assert rec.calls == 4  # one pixel changed: computed
    other = Recorder(cache_key="flatten-v2")
    features(x, other, cache_dir=tmp_path, progress=False)
    assert other.calls == 1  # another extractor: computed
    assert len(list(tmp_path.glob("*.npy"))) == 3 and not list(tmp_path.glob(".features-*"))


def test_cache_torchscript_keyed_by_file_content(tmp_path, detector_path):
    class Counting(TorchScriptDetector):
        calls = 0

        def __call__(self, images):
            Counting.calls += 1
            return super().__call__(images)

    x = images_u8(6, seed=11)
    a = features(x, Counting(detector_path), cache_dir=tmp_path / "c", progress=False)
    b = features(x, Counting(detector_path), cache_dir=tmp_path / "c", progress=False)
    assert Counting.calls == 1
    np.testing.assert_array_equal(a, b)
    features(x, detector_path, cache_dir=tmp_path / "c", progress=False)  # by path: same file, same key
    assert len(list((tmp_path / "c").glob("*.npy"))) == 1
    copy = tmp_path / "copy.pt"
    copy.write_bytes(detector_path.read_bytes())
    features(x, Counting(copy), cache_dir=tmp_path / "c", progress=False)
    assert Counting.calls == 1  # the key is the file's content, not its name
    save_scripted(TinyDetector(seed=1), copy)
    c = features(x, Counting(copy), cache_dir=tmp_path / "c", progress=False)
    assert Counting.calls == 2 and not np.array_equal(a, c)


def test_cache_folder_keyed_by_names_sizes_mtimes(tmp_path):
    write_folder(tmp_path / "imgs", images_u8(5, seed=12))
    rec = Recorder(cache_key="flatten")
    a = features(tmp_path / "imgs", rec, cache_dir=tmp_path / "c", progress=False)
    features(tmp_path / "imgs", rec, cache_dir=tmp_path / "c", progress=False)
    assert rec.calls == 1
    f = tmp_path / "imgs" / "img002.png"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    b = features(tmp_path / "imgs", rec, cache_dir=tmp_path / "c", progress=False)
    assert rec.calls == 2
    np.testing.assert_array_equal(a, b)
    (tmp_path / "imgs" / "img004.png").rename(tmp_path / "imgs" / "img999.png")
    features(tmp_path / "imgs", rec, cache_dir=tmp_path / "c", progress=False)
    assert rec.calls == 3


def test_cache_generator_needs_cache_key(tmp_path, detector_path):
    G = StyleGANStandIn()
    rec = Recorder(cache_key="flatten")
    with pytest.warns(NotCachedWarning, match="cache_key=") as seen:
        features(G, rec, n=6, sampler=RandomSampler(space="w", seed=0), cache_dir=tmp_path, progress=False)
    assert [w.filename for w in seen] == [__file__]
    assert rec.calls == 1 and not list(tmp_path.glob("*.npy"))
    kw = {"sampler": RandomSampler(space="w", seed=0), "cache_dir": tmp_path, "cache_key": "standin-random-seed0",
          "progress": False}
    a = features(G, rec, n=6, **kw)
    assert rec.calls == 2
    b = features(G, rec, n=6, **{**kw, "sampler": RandomSampler(space="w", seed=0)})
    assert rec.calls == 2
    np.testing.assert_array_equal(a, b)
    features(G, rec, n=7, **{**kw, "sampler": RandomSampler(space="w", seed=0)})
    assert rec.calls == 3  # n is part of the key


def test_callable_without_cache_key_is_computed_with_a_warning(tmp_path):
    rec = Recorder()
    x = images_u8(4)
    for _ in range(2):
        with pytest.warns(NotCachedWarning, match="cache_key attribute") as seen:
            features(x, rec, cache_dir=tmp_path, progress=False)
        assert [w.filename for w in seen] == [__file__]  # the user's line, not the package's wrapper
    assert rec.calls == 2 and not list(tmp_path.iterdir())


def test_cache_errors(tmp_path):
    rec = Recorder(cache_key="flatten")
    with pytest.raises(ValueError, match="pass cache_dir"):
        features(images_u8(3), rec, cache_key="x", progress=False)
    with pytest.raises(ValueError, match="cache_key must be a str"):
        features(images_u8(3), rec, cache_dir=tmp_path, cache_key=3, progress=False)
    bad = Recorder()
    bad.cache_key = 5
    with pytest.raises(ValueError, match="cache_key must be a str"):
        features(images_u8(3), bad, cache_dir=tmp_path, progress=False)


# -- errors ---------------------------------------------------------------------------------

def test_image_errors(detector_path):
    rec = Recorder()
    cases = [
        (np.zeros((4, 8, 8), np.uint8), r"\[N, C, H, W\].*x\[:, None\]"),
        (np.zeros((2, 8, 8, 3), np.uint8), r"1 \(grey\) or 3 \(RGB\) channels.*transpose"),
        (np.zeros((2, 4, 8, 8), np.uint8), r"channels.*alpha"),
        (np.zeros((2, 2, 8, 8), np.uint8), r"channels"),
        (np.zeros((0, 3, 8, 8), np.uint8), "empty"),
        (np.zeros((2, 3, 8, 8), np.int64), "uint8.*or float"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int32), "uint8.*or float"),
        (torch.full((2, 3, 8, 8), float("nan")), "NaN or inf"),
    ]
    for images, message in cases:
        with pytest.raises(ValueError, match=message):
            features(images, rec, progress=False)
    assert rec.calls == 0


def test_argument_errors(tmp_path, detector_path):
    x = images_u8(4)
    rec = Recorder()
    for b in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            features(x, rec, batch_size=b, progress=False)
    with pytest.raises(ValueError, match="needs n="):
        features(StyleGANStandIn(), rec, progress=False)
    with pytest.raises(ValueError, match="n must be an integer"):
        features(StyleGANStandIn(), rec, n=0, progress=False)
    with pytest.raises(ValueError, match="apply to a generator"):
        features(x, rec, n=4, progress=False)
    with pytest.raises(ValueError, match="apply to a generator"):
        features(x, rec, sampler=RandomSampler(seed=0), progress=False)
    with pytest.raises(ValueError, match="sampler must be a sampler"):
        features(StyleGANStandIn(), rec, n=4, sampler="hubs", progress=False)
    with pytest.raises(ValueError, match="matches no generator family"):
        features(object(), rec, n=4, progress=False)
    with pytest.raises(ValueError, match="must be callable"):
        features(x, 42, progress=False)
    with pytest.raises(ValueError, match="TorchScript .pt file"):
        features(x, "inception.pkl", progress=False)
    with pytest.raises(ValueError, match="downloads nothing"):
        features(x, tmp_path / "inception-2015-12-05.pt", progress=False)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot load"):
        features(x, tmp_path / "junk.pt", progress=False)
    with pytest.raises(ValueError, match="uint8"):
        TorchScriptDetector(detector_path)(np.zeros((2, 3, 8, 8), np.float32))


def test_extractor_result_errors():
    x = images_u8(10)
    cases = [
        (lambda im: im.flatten(1)[:-1].float(), "returned 3 rows for a batch of 4"),
        (lambda im: im.float(), r"must be\s+\[B, F\].*flatten"),
        (lambda im: torch.full((len(im), 2), float("inf")), r"NaN or inf for images 0\.\.3"),
        (lambda im: np.array([["a"]] * len(im)), "must be numbers"),
        # (logits, features): of two widths numpy could not stack them; of one width they became [2, B, F]
        (lambda im: (im.flatten(1)[:, :3].float(), im.flatten(1)[:, :5].float()), "a tuple of 2 outputs for images 0"),
        (lambda im: (im.flatten(1).float(), im.flatten(1).float()), r"must return one array \[B, F\]"),
        (lambda im: im.flatten(1)[:, :0].float(), r"no features \(shape \(4, 0\)\) for images 0"),
    ]
    for fn, message in cases:
        with pytest.raises(ValueError, match=message):
            features(x, fn, batch_size=4, progress=False)

    def late_nan(im):
        return torch.full((len(im), 1), float("nan") if len(im) == 2 else 0.0)  # the last batch of 10 by 4

    with pytest.raises(ValueError, match=r"NaN or inf for images 8\.\.9"):
        features(x, late_nan, batch_size=4, progress=False)
    widths = iter([3, 4, 3])
    with pytest.raises(ValueError, match="returned 4 float32 features"):
        features(x, lambda im: torch.zeros(len(im), next(widths)), batch_size=4, progress=False)


def test_extractor_output_kinds():
    x = images_u8(5)
    assert features(x, lambda im: im.flatten(1).half(), progress=False).dtype == np.float32
    assert features(x, lambda im: im.flatten(1).to(torch.bfloat16), progress=False).dtype == np.float32
    assert features(x, lambda im: im.flatten(1).numpy(), progress=False).dtype == np.float32
    assert features(x, lambda im: im.flatten(1).tolist(), progress=False).dtype == np.float32
    assert features(x, lambda im: im.flatten(1).double().numpy(), progress=False).dtype == np.float64

    class FloatLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3 * 8 * 12, 2)

        def forward(self, im):
            seen.append((self.training, torch.is_grad_enabled()))
            return self.lin(im.flatten(1).float())

    seen = []
    module = FloatLinear().train()
    out = features(x, module, batch_size=2, progress=False)
    assert out.shape == (5, 2) and seen == [(False, False)] * 3  # eval mode and no grad while extracting
    assert module.training  # its mode is restored


GLOBAL_NET = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(3 * 8 * 12))  # a script's top-level model


def test_a_lambda_over_a_global_model_runs_it_in_eval_mode():
    # the model was not found (only closures and attributes were searched): in training mode its batch
    # norm normalised each batch by its own statistics, so features depended on the batch size
    x = images_u8(8)
    GLOBAL_NET.train()
    stats = GLOBAL_NET[1].running_mean.clone()
    by = [features(x, lambda im: GLOBAL_NET(im.float()), batch_size=b, progress=False) for b in (2, 8)]
    np.testing.assert_allclose(by[0], by[1], rtol=1e-6)
    want = ((x.reshape(8, -1) - stats.numpy()) / np.sqrt(1 + 1e-5)).astype(np.float32)  # running stats: 0 and 1
    np.testing.assert_allclose(by[0], want, rtol=1e-5, atol=1e-5)
    assert torch.equal(GLOBAL_NET[1].running_mean, stats) and GLOBAL_NET.training  # untouched, mode restored


def test_read_only_image_arrays_are_read_quietly(tmp_path, detector_path):
    # np.load(mmap_mode="r") gives a read-only array: each batch is copied, not handed to torch as it is
    # (torch warns about non-writable arrays, and warnings fail this suite)
    images = np.random.default_rng(5).integers(0, 256, (7, 3, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    assert not mapped.flags.writeable
    got = features(mapped, detector_path, batch_size=3, progress=False)
    np.testing.assert_array_equal(got, features(images, detector_path, batch_size=3, progress=False))


# -- float images in another range, detectors written as NVIDIA's -------------------------

@pytest.mark.parametrize("scale, match", [(1 / 255, "no negative values"), (1.0, "far outside")])
def test_float_images_in_zero_one_or_0_255_get_a_warning_saying_how_to_fix_them(scale, match):
    x = images_u8(8).astype(np.float32) * scale  # [0, 1] (ToTensor) or float 0..255
    with pytest.warns(UserWarning, match=match) as seen:
        features(x, Recorder(), progress=False)
    assert [w.filename for w in seen] == [__file__]  # shown at the user's call, not inside the package
    features(x / (255 * scale) * 2 - 1, Recorder(), progress=False)  # [-1, 1]: quiet (warnings are errors here)


def test_to_uint8_is_quiet_for_a_slight_overshoot_and_for_a_tiny_positive_batch():
    from hubness_fast.generators import to_uint8

    assert to_uint8(torch.tensor([-1.4, 0.0, 1.6]).reshape(1, 1, 1, 3)).tolist() == [[[[0, 128, 255]]]]
    to_uint8(torch.full((1, 1, 2, 2), 0.5))  # 4 values may lack a negative one by chance


class EagerNvidiaLike(TinyDetector):
    """An eager (not scripted) module with NVIDIA's signature; records the keyword it was called with."""

    def forward(self, x, return_features=False):
        self.asked = return_features
        return super().forward(x, return_features)


def test_an_eager_module_with_nvidia_signature_is_asked_for_features():
    x = images_u8(10, h=8, w=8)
    det = EagerNvidiaLike()
    np.testing.assert_array_equal(features(x, det, progress=False), oracle(x))
    assert det.asked is True


class PlainFeatures(nn.Module):
    def forward(self, x):
        return x.flatten(1).float()


def test_a_torchscript_file_without_return_features_works_by_path_as_loaded(tmp_path):
    save_scripted(PlainFeatures(), tmp_path / "plain.pt")
    x = images_u8(6, h=4, w=4)
    by_path = features(x, tmp_path / "plain.pt", progress=False)
    np.testing.assert_array_equal(by_path, x.reshape(6, -1).astype(np.float32))
    loaded = TorchScriptDetector(tmp_path / "plain.pt").module  # torch.jit.load, its deprecation silenced
    np.testing.assert_array_equal(features(x, loaded, progress=False), by_path)


def test_an_eager_detector_runs_in_eval_mode_and_keeps_its_own():
    class Det(torch.nn.Module):  # NVIDIA's calling convention, with a batch norm: its mode matters
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(3 * 8 * 12)

        def forward(self, x, return_features=False):
            return self.bn(x.float().flatten(1) / 255)

    det = Det().train()
    images = images_u8(12)
    got = features(images, det, batch_size=5, progress=False)
    assert det.training  # its own mode, restored
    np.testing.assert_array_equal(det.bn.running_mean.numpy(), np.zeros(3 * 8 * 12))  # statistics untouched
    with torch.no_grad():
        want = det.eval()(torch.from_numpy(images), return_features=True).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


# -- what a demanding user's folders and caches hold ---------------------------------------

class Wrapped:
    """An extractor as a class instance holding its module (how one attaches a cache_key)."""

    def __init__(self, module, cache_key="wrapped"):
        self.module, self.cache_key = module, cache_key

    def __call__(self, x):
        return self.module(x.float().flatten(1))


def test_a_class_instance_extractors_module_runs_in_eval_mode():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3 * 8 * 12, 16), nn.BatchNorm1d(16), nn.Dropout(0.5))
    x = images_u8(20)
    a = features(x, Wrapped(net), batch_size=4, progress=False)
    b = features(x, Wrapped(net), batch_size=20, progress=False)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # train mode: batch statistics and dropout differed
    assert net.training  # the user's mode is given back


def test_the_bundled_detector_keys_its_cache_by_the_weights_it_uses(tmp_path):
    from hubness_fast.models.mnist import MnistDetector, load_mnist_classifier

    other = load_mnist_classifier()
    with torch.no_grad():
        next(other.parameters()).mul_(1.5)
    assert MnistDetector().cache_key != MnistDetector(other).cache_key
    digits = np.random.default_rng(0).integers(0, 256, (6, 1, 28, 28), dtype=np.uint8)
    first = features(digits, MnistDetector(), cache_dir=tmp_path, progress=False)
    second = features(digits, MnistDetector(other), cache_dir=tmp_path, progress=False)
    assert not np.array_equal(first, second)  # the retrained classifier's own features, not the cached ones


def test_hidden_files_broken_links_and_16_bit_pngs(tmp_path):
    from hubness_fast.features import image_files

    x = images_u8(4, seed=2)
    write_folder(tmp_path / "f", x)
    (tmp_path / "f" / "._img000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    np.testing.assert_array_equal(features(tmp_path / "f", Recorder(), progress=False), x.reshape(4, -1))
    assert [p.name for p in image_files(tmp_path / "f")] == [f"img{i:03d}.png" for i in range(4)]
    (tmp_path / "f" / "img009.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ValueError, match="img009.png is a link to a file that does not exist"):
        features(tmp_path / "f", Recorder(), progress=False)
    (tmp_path / "f" / "img009.png").unlink()
    wide = np.random.default_rng(1).integers(0, 65535, (8, 12, 3), dtype=np.uint16)
    import zlib
    import struct

    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in wide)  # 16-bit RGB, filter 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12, 8, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    (tmp_path / "f" / "img005.png").write_bytes(png)
    with pytest.raises(ValueError, match="img005.png has 16-bit or wider pixels"):
        features(tmp_path / "f", Recorder(), progress=False)


def test_the_cache_folder_is_checked_first_and_a_bad_cache_file_is_replaced(tmp_path):
    x = images_u8(6)
    (tmp_path / "afile").write_text("")
    rec = Recorder(cache_key="rec")
    with pytest.raises(ValueError, match="cannot create the cache folder"):
        features(x, rec, cache_dir=tmp_path / "afile" / "sub", progress=False)
    assert rec.calls == 0  # refused before any batch ran
    want = features(x, rec, cache_dir=tmp_path / "c", progress=False)
    (cached,) = list((tmp_path / "c").iterdir())
    cached.write_bytes(cached.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match="cannot be read"):
        np.testing.assert_array_equal(features(x, rec, cache_dir=tmp_path / "c", progress=False), want)
    np.testing.assert_array_equal(np.load(cached), want)  # replaced whole
    np.save(cached, np.zeros((3, 2)))
    with pytest.warns(UserWarning, match="not 6 rows of features"):
        features(x, rec, cache_dir=tmp_path / "c", progress=False)


def test_a_module_keeps_its_own_cache_key_when_wrapped():
    class NvidiaStyle(nn.Module):
        cache_key = "my-detector-v1"

        def forward(self, x, return_features=False):
            return x.float().flatten(1)

    assert TorchScriptDetector.from_module(NvidiaStyle()).cache_key == "my-detector-v1"


# -- resuming a cut-off extraction ---------------------------------------------------------

class CutOff(Recorder):
    """A Recorder that is cut off (Ctrl-C) at its ``at``-th call, after keeping the images it saw."""

    def __init__(self, at, cache_key="flatten"):
        super().__init__(cache_key)
        self.at, self.images = at, 0

    def __call__(self, x):
        if self.calls + 1 == self.at:
            raise KeyboardInterrupt
        self.images += len(x)
        return super().__call__(x)


class OnlyBatches(ImageSource):
    """A user's source with batches() alone: resuming drops the images before the start."""

    def __init__(self, images):
        self.images, self.n = images, len(images)

    def batches(self, batch_size, device):
        for s in range(0, self.n, batch_size):
            yield torch.from_numpy(self.images[s:s + batch_size]).to(device)

    def digest(self):
        return "only-batches-" + str(self.images.sum())


def _folder(path, x):
    path.mkdir()
    for i, im in enumerate(x):
        Image.fromarray(im.transpose(1, 2, 0)).save(path / f"img{i:03d}.png")
    return path


@pytest.mark.parametrize("kind", ["array", "folder", "source"])
def test_a_cut_off_extraction_resumes_where_it_stopped(tmp_path, kind):
    x = images_u8(20, seed=5)
    source = {"array": lambda: x, "folder": lambda: _folder(tmp_path / "imgs", x),
              "source": lambda: OnlyBatches(x)}[kind]()
    want = features(x, Recorder(), progress=False)  # uncached, in one go
    first = CutOff(at=3)
    with pytest.raises(KeyboardInterrupt):
        features(source, first, batch_size=4, cache_dir=tmp_path / "c", progress=False)
    assert first.images == 8
    (partial,) = (tmp_path / "c").glob("*.partial")
    assert sorted(p.name for p in partial.iterdir()) == ["0000000000-0000000008.npy"]
    again = CutOff(at=0)
    got = features(source, again, batch_size=3, cache_dir=tmp_path / "c", progress=False)
    assert again.images == 12  # images 8..19 only, in batches of 3 from image 8
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    assert [p.suffix for p in (tmp_path / "c").iterdir()] == [".npy"]  # the saved rows went with the cache file
    third = CutOff(at=0)
    np.testing.assert_array_equal(features(source, third, cache_dir=tmp_path / "c", progress=False), want)
    assert third.images == 0


def test_a_cut_off_generator_extraction_resumes_and_renders_only_the_rest(tmp_path, detector_path):
    G = StyleGANStandIn()
    kw = {"n": 10, "cache_dir": tmp_path, "cache_key": "standin-seed1", "batch_size": 4, "progress": False}
    want = features(G, Recorder(), n=10, sampler=RandomSampler(space="w", seed=1), progress=False)
    with pytest.raises(KeyboardInterrupt):
        features(G, CutOff(at=2), sampler=RandomSampler(space="w", seed=1), **kw)
    rendered = []
    G.synthesis.register_forward_hook(lambda m, args, out: rendered.append(len(out)))
    again = CutOff(at=0)
    got = features(G, again, sampler=RandomSampler(space="w", seed=1), **kw)
    np.testing.assert_array_equal(got, want)
    assert again.images == 6 and sum(rendered) == 6


def test_an_extractor_error_keeps_the_rows_done_and_saves_come_every_minute(tmp_path, monkeypatch):
    from hubness_fast.evaluation import partial

    x = images_u8(12, seed=2)

    class Fails(CutOff):
        def __call__(self, x):
            if self.calls + 1 == self.at:
                raise RuntimeError("out of memory")
            return super().__call__(x)

    saves = []
    real_flush = partial.PartialRows.flush
    monkeypatch.setattr(partial.PartialRows, "flush",
                        lambda self: (saves.append(sum(len(p) for p in self.pending)), real_flush(self)))
    with pytest.raises(DetectorError, match="out of memory"):
        features(x, Fails(at=3), batch_size=2, cache_dir=tmp_path, progress=False)
    assert saves == [4]  # no minute passed: one save, when it failed
    monkeypatch.setattr(partial, "SAVE_EVERY_S", 0.0)
    saves.clear()
    again = CutOff(at=0)
    np.testing.assert_array_equal(features(x, again, batch_size=2, cache_dir=tmp_path, progress=False),
                                  features(x, Recorder(), progress=False))
    assert again.images == 8 and saves[:4] == [2, 2, 2, 2]


def test_an_extractor_handing_back_views_of_one_buffer_resumes_with_its_own_rows(tmp_path):
    # an extractor may return a view of an output buffer it reuses: the rows waiting to be saved must
    # be the rows of their own batch, not whatever the buffer holds when they are written
    x = images_u8(12, seed=9)

    class Buffered(CutOff):
        def __init__(self, at):
            super().__init__(at, cache_key="buffered")
            self.buf = np.empty((64, 3 * 8 * 12))

        def __call__(self, images):
            rows = super().__call__(images).cpu().numpy()
            self.buf[:len(rows)] = rows
            return self.buf[:len(rows)]

    want = features(x, Recorder(), progress=False)
    with pytest.raises(KeyboardInterrupt):
        features(x, Buffered(at=3), batch_size=4, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(features(x, Buffered(at=0), batch_size=4, cache_dir=tmp_path, progress=False), want)


def test_rows_an_earlier_run_saved_with_another_width_name_their_folder(tmp_path):
    x = images_u8(12, seed=3)
    with pytest.raises(KeyboardInterrupt):
        features(x, CutOff(at=3, cache_key="same-name"), batch_size=4, cache_dir=tmp_path, progress=False)

    def narrower(images):
        return images.float().flatten(1)[:, :5]

    narrower.cache_key = "same-name"
    (partial,) = tmp_path.glob("*.partial")
    with pytest.raises(ValueError, match=f"the 8 rows an earlier run that was cut off saved in {partial} have "
                                         r"288 float64 \(another extractor\?\): delete that folder"):
        features(x, narrower, batch_size=4, cache_dir=tmp_path, progress=False)


def test_a_list_of_images_is_told_to_stack_them():
    x = images_u8(3)
    with pytest.raises(ValueError, match=r"np.stack or torch.stack the list first.*got a list of 3"):
        features(list(x), Recorder(), progress=False)


@pytest.mark.parametrize("conditional", [False, True])
def test_a_cut_off_generator_extraction_resumes_with_the_same_sampler_object(tmp_path, conditional):
    # the sampler's stream had moved on: rows 0..7 of the first draw and 8.. of a second one were
    # cached as one set of features that no single run gives
    G = StyleGANStandIn(c_dim=3 if conditional else 0)
    classes = "uniform" if conditional else None
    kw = {"n": 10, "cache_dir": tmp_path, "cache_key": "standin-seed1", "batch_size": 4, "progress": False,
          "classes": classes}
    want = features(G, Recorder(), n=10, sampler=RandomSampler(space="w", seed=1), classes=classes, progress=False)
    sampler = RandomSampler(space="w", seed=1)
    with pytest.raises(KeyboardInterrupt):
        features(G, CutOff(at=2), sampler=sampler, **kw)
    np.testing.assert_array_equal(features(G, CutOff(at=0), sampler=sampler, **kw), want)
    # once rendered in full, the same object goes on to new latents
    assert not np.array_equal(features(G, Recorder(), n=10, sampler=sampler, classes=classes, progress=False), want)


def test_a_failed_render_hands_the_same_latents_out_again():
    G = StyleGANStandIn()
    want = RandomSampler(space="w", seed=2).sample(G, 6)
    sampler = RandomSampler(space="w", seed=2)

    def out_of_memory(module, args, out):
        raise RuntimeError("CUDA out of memory")

    hook = G.synthesis.register_forward_hook(out_of_memory)
    with pytest.raises(RuntimeError, match="out of memory"):
        sampler.sample(G, 6)
    hook.remove()
    got = sampler.sample(G, 6)
    np.testing.assert_array_equal(got.z, want.z)


def test_a_cuda_device_torch_cannot_use_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    with pytest.raises(ValueError, match=r"device='cuda', but torch sees no CUDA device .*use device='cpu'"):
        features(images_u8(4), Recorder(), device="cuda", progress=False)
    with pytest.raises(ValueError, match=r"device must be 'cpu', 'cuda', .* got 'gpu'"):
        features(images_u8(4), Recorder(), device="gpu", progress=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device='cuda:3', but torch sees 1 CUDA device\(s\), cuda:0 .. cuda:0"):
        features(images_u8(4), Recorder(), device="cuda:3", progress=False)


GLOBAL_OTHER = nn.Linear(2, 2)  # a global module whose name a lambda uses only as an attribute name


def test_the_globals_a_function_reads_are_its_names_not_attribute_names():
    from hubness_fast._torch import networks_of

    holder = type("Holder", (), {"GLOBAL_OTHER": GLOBAL_NET})()
    assert networks_of(lambda b: holder.GLOBAL_OTHER(b)) == []  # an attribute name, not the global
    found = networks_of(lambda b: torch.cat([GLOBAL_NET(x) for x in b.split(1)]))  # inside a comprehension
    assert len(found) == 1 and found[0] is GLOBAL_NET


def test_a_release_after_a_later_draw_was_rendered_does_not_replay_it():
    # release() went back to where the latest draw began, even when that draw was rendered in full
    from hubness_fast.sampling import GeneratorImages

    G, sampler = StyleGANStandIn(), RandomSampler(space="w", seed=5)
    peeked = GeneratorImages(G, 4, sampler).batches(2, "cpu")
    next(peeked)
    (second,) = list(GeneratorImages(G, 4, sampler).batches(4, "cpu"))  # rendered in full
    peeked.close()  # the first source ends unrendered, after the second was rendered in full
    (third,) = list(GeneratorImages(G, 4, sampler).batches(4, "cpu"))
    assert not torch.equal(third, second)


def test_a_bank_sampler_with_an_offset_hands_the_same_rows_out_again_after_a_failed_render(tmp_path):
    from hubness_fast.sampling import GeneratorImages
    from hubness_fast.sampling.mining import mine, open_bank

    G = StyleGANStandIn(img_resolution=4, img_channels=1, seed=3)
    bank = open_bank(mine(G, 12, tmp_path / "b", threshold=8, pool_size=400, progress=False).path)
    sampler = bank.sampler(offset=2)
    with pytest.raises(KeyboardInterrupt):
        features(GeneratorImages(G, 6, sampler), CutOff(at=2), batch_size=3, progress=False)
    want = features(GeneratorImages(G, 6, bank.sampler(offset=2)), Recorder(), batch_size=3, progress=False)
    np.testing.assert_array_equal(features(GeneratorImages(G, 6, sampler), Recorder(), batch_size=3,
                                           progress=False), want)
    assert sampler.offset == 8  # rendered in full: the next rows follow
