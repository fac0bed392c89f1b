"""Stand-ins for the generators users bring, written here with the interfaces of
NVIDIA's StyleGAN2-ADA / StyleGAN3 networks and of pytorch_pretrained_biggan
(signatures, required arguments, output shapes, shape assertions).

- ``StyleGANStandIn(version="sg3")``: mapping(z, c, truncation_psi=1,
  truncation_cutoff=None, update_emas=False); ``version="ada"`` has StyleGAN2-ADA's
  ``skip_w_avg_update`` instead, updates w_avg whenever it runs in training
  mode, as that code does, and takes no ``update_emas`` anywhere (G's forward passes
  its keywords to a synthesis that refuses it); ``version="sg2"`` is the StyleGAN2
  network of the stylegan3 repository (sg3's interface, fp16 on any device).
  synthesis(ws, noise_mode='random', force_fp32=False, update_emas=False) asserts ws
  is [N, num_ws, w_dim]; each layer reads its own row of ws, so a truncation cutoff
  changes the image. ``num_fp16_res > 0`` rounds the synthesis through float16
  unless force_fp32, as NVIDIA's fp16 layers do (StyleGAN3's layers only on CUDA,
  the StyleGAN2 networks of both repositories on any device).
- Both compute in float64 and return float32, so a result does not depend on the
  BLAS path (alignment, threads) taken: the tests compare renders bit for bit.
- ``small_biggan()``: a real ``pytorch_pretrained_biggan.BigGAN`` built from a
  small ``BigGANConfig`` with seeded random weights (nothing is downloaded).
"""
import warnings

import torch
from torch import nn


class StandInMapping(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, version):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.version = z_dim, c_dim, w_dim, num_ws, version
        self.w_avg_beta = 0.995
        self.embed = nn.Linear(c_dim, w_dim).double() if c_dim > 0 else None
        self.fc1 = nn.Linear(z_dim + (w_dim if c_dim else 0), w_dim).double()
        self.fc2 = nn.Linear(w_dim, w_dim).double()
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def _forward(self, z, c, truncation_psi, truncation_cutoff, update):
        assert z.ndim == 2 and z.shape[1] == self.z_dim, z.shape
        z = z.double()
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.c_dim > 0:
            assert c is not None and tuple(c.shape) == (z.shape[0], self.c_dim), None if c is None else c.shape
            y = self.embed(c.double())
            x = torch.cat([x, y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()], 1)
        w = self.fc2(torch.nn.functional.leaky_relu(self.fc1(x), 0.2)).float()
        if update:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            if truncation_cutoff is None:
                ws = self.w_avg.lerp(ws, truncation_psi)
            else:
                ws[:, :truncation_cutoff] = self.w_avg.lerp(ws[:, :truncation_cutoff], truncation_psi)
        return ws


class MappingSG3(StandInMapping):
    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        return self._forward(z, c, truncation_psi, truncation_cutoff, update_emas)


class MappingADA(StandInMapping):
    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, skip_w_avg_update=False):
        return self._forward(z, c, truncation_psi, truncation_cutoff, self.training and not skip_w_avg_update)


class StandInSynthesis(nn.Module):
    def __init__(self, w_dim, num_ws, img_resolution, img_channels, use_fp16=False, fp16_on_cpu=False,
                 takes_update_emas=True):
        super().__init__()
        self.w_dim, self.num_ws, self.img_resolution, self.img_channels = w_dim, num_ws, img_resolution, img_channels
        # NVIDIA's top resolutions (num_fp16_res) compute in float16 unless force_fp32; StyleGAN3's code
        # only on CUDA, StyleGAN2-ADA's on any device.
        self.use_fp16, self.fp16_on_cpu = use_fp16, fp16_on_cpu
        self.block_kwargs = {"update_emas"} if takes_update_emas else set()
        self.base = 8
        self.layers = nn.ModuleList(nn.Linear(w_dim, img_channels * self.base * self.base).double()
                                    for _ in range(num_ws))
        self.register_buffer("noise_const", torch.randn(1, 1, img_resolution, img_resolution))
        self.noise_strength = 0.1

    def forward(self, ws, noise_mode="random", force_fp32=False, **block_kwargs):
        if set(block_kwargs) - self.block_kwargs:  # StyleGAN2-ADA's layers take no update_emas
            raise TypeError(f"forward() got an unexpected keyword argument {sorted(block_kwargs)[0]!r}")
        assert ws.ndim == 3 and tuple(ws.shape[1:]) == (self.num_ws, self.w_dim), ws.shape
        assert noise_mode in ("random", "const", "none")
        x = (sum(layer(ws[:, i].double()) for i, layer in enumerate(self.layers)) / self.num_ws).float()
        if self.use_fp16 and not force_fp32 and (self.fp16_on_cpu or x.device.type == "cuda"):
            x = x.half().float()
        x = x.view(-1, self.img_channels, self.base, self.base)
        x = nn.functional.interpolate(x, size=(self.img_resolution, self.img_resolution), mode="nearest")
        if noise_mode == "random":
            x = x + self.noise_strength * torch.randn(x.shape[0], 1, self.img_resolution, self.img_resolution,
                                                      device=x.device)
        elif noise_mode == "const":
            x = x + self.noise_strength * self.noise_const
        return torch.tanh(x)


class StyleGANStandIn(nn.Module):
    """G_ema of a network pickle: z_dim, c_dim, w_dim, num_ws, img_resolution, img_channels, mapping, synthesis."""

    def __init__(self, z_dim=32, c_dim=0, w_dim=24, num_ws=6, img_resolution=16, img_channels=3, version="sg3",
                 seed=0, num_fp16_res=0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.img_resolution, self.img_channels = img_resolution, img_channels
        assert version in ("sg3", "sg2", "ada")
        mapping = MappingADA if version == "ada" else MappingSG3
        self.mapping = mapping(z_dim, c_dim, w_dim, num_ws, version)
        self.synthesis = StandInSynthesis(w_dim, num_ws, img_resolution, img_channels, use_fp16=num_fp16_res > 0,
                                          fp16_on_cpu=version != "sg3", takes_update_emas=version != "ada")
        with torch.no_grad():  # a tracked w_avg away from zero, as after training
            self.mapping.w_avg.copy_(self.mapping(torch.randn(2000, z_dim), self._labels(2000))[:, 0].mean(0))
        self.version = version
        self.eval()

    def _labels(self, n):
        if self.c_dim == 0:
            return None
        return nn.functional.one_hot(torch.arange(n) % self.c_dim, self.c_dim).float()

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs):
        if self.version == "ada":  # forward(z, c, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs)
            ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
            return self.synthesis(ws, **synthesis_kwargs)
        update_emas = synthesis_kwargs.pop("update_emas", False)
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


def small_biggan(num_classes=5, z_dim=16, seed=0):
    """A real pytorch_pretrained_biggan.BigGAN at 16 x 16 with seeded random weights (the test skips
    without the package)."""
    import pytest

    biggan = pytest.importorskip("pytorch_pretrained_biggan")
    BigGAN, BigGANConfig = biggan.BigGAN, biggan.BigGANConfig

    config = BigGANConfig(output_dim=16, z_dim=z_dim, class_embed_dim=z_dim, channel_width=4,
                          num_classes=num_classes, attention_layer_position=2,
                          layers=[(False, 16, 16), (True, 16, 8), (False, 8, 4), (True, 4, 2), (False, 2, 1)])
    torch.manual_seed(seed)
    G = BigGAN(config)
    with torch.no_grad():  # the package leaves some batch-norm parameters uninitialised (torch.Tensor(n))
        for p in G.parameters():
            p.normal_(0, 0.2) if p.ndim > 1 else p.fill_(1.0)
        # a converted checkpoint holds batch-norm statistics per truncation step, one row each (all
        # zeros and ones as built): rows that differ make the images depend on the truncation G is given
        for name, buf in G.named_buffers():
            if name.endswith("running_means"):
                buf.copy_(torch.randn(buf.shape) * 0.5)
            elif name.endswith("running_vars"):
                buf.copy_(torch.rand(buf.shape) + 0.5)
    return G.eval()


class PlainGenerator(nn.Module):
    """A DCGAN-like G(z) with no other interface: z [N, 12] -> [N, 1, 8, 8]."""

    def __init__(self, z_dim=12, scale=1.0, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.lin = nn.Linear(z_dim, 64)
        self.scale = scale

    def forward(self, z, gain=1.0):
        return torch.tanh(self.lin(z) * gain * self.scale).view(-1, 1, 8, 8)


class TinyDetector(nn.Module):
    """NVIDIA's detector interface: uint8 [N, 3, H, W] in (asserted), features out with return_features=True.

    Features: each channel's 4 x 4 block sums (integers) times a fixed integer projection, so
    they are exact whatever the batch size or BLAS path."""

    def __init__(self, dim: int = 16, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("proj", torch.randint(-3, 4, (48, dim), generator=g))

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8
        assert x.dim() == 4 and x.shape[1] == 3
        n, c, h, w = x.shape
        blocks = x.long().reshape(n, c, 4, h // 4, 4, w // 4).sum(5).sum(3).reshape(n, 48)
        f = (blocks @ self.proj).float()
        if return_features:
            return f
        return f[:, :10].softmax(1)  # like NVIDIA's: class probabilities, not features, by default


def save_scripted(module, path):
    """A TorchScript file like NVIDIA's detectors (torch 2.13 deprecates jit.script; the files are TorchScript)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
        torch.jit.script(module).save(str(path))


# --- GAN code beyond NVIDIA's pickles ------------------------------------------------------
# Each stand-in keeps its model's signature, layer layout and shape checks, computes in float64
# (a render does not depend on the batch it is in) and returns float32.

def _frozen_batchnorm_stats(module, seed):
    """Give every BatchNorm running statistics far from (0, 1): eval-mode and training-mode
    renders then differ, so a sampler that forgets eval mode is caught."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=m.running_mean.dtype))
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=m.running_var.dtype) + 0.5)


class DCGANGenerator(nn.Module):
    """The PyTorch DCGAN tutorial's generator (``Generator(ngpu)``, ``self.main`` a Sequential
    starting with ``ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False)``; ``forward(input)``), at
    16 x 16 with small widths. Like the tutorial, it has no z_dim attribute and needs z as
    [N, nz, 1, 1]: a 2-D z fails inside conv_transpose2d."""

    def __init__(self, ngpu=1, nz=16, ngf=4, nc=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        ).double()
        _frozen_batchnorm_stats(self, seed)

    def forward(self, input):
        return self.main(input.double()).float()


class ConditionalDCGAN(nn.Module):
    """A hand-written conditional DCGAN with two input branches (z and the one-hot label, each
    through its own transposed convolution, then concatenated) that takes 2-D labels and adds
    their 1 x 1 axes itself: ``forward(noise, labels)``, noise [N, nz, 1, 1], labels one-hot float
    [N, n_classes] (asserted). :class:`TwoBranchCDCGAN` is the published layout, which takes the
    labels as [N, n_classes, 1, 1]."""

    def __init__(self, nz=16, n_classes=8, ngf=4, seed=1):
        super().__init__()
        torch.manual_seed(seed)
        self.n_classes = n_classes
        self.deconv_z = nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0)
        self.deconv_y = nn.ConvTranspose2d(n_classes, ngf * 2, 4, 1, 0)
        self.bn = nn.BatchNorm2d(ngf * 4)
        self.out = nn.ConvTranspose2d(ngf * 4, 1, 4, 2, 1)
        self.double()
        _frozen_batchnorm_stats(self, seed)

    def forward(self, noise, labels):
        assert labels.ndim == 2 and labels.shape == (len(noise), self.n_classes) and labels.is_floating_point()
        assert torch.all(labels.sum(1) == 1), "labels must be one-hot"
        y = labels.double()[:, :, None, None]
        x = torch.cat([self.deconv_z(noise.double()), self.deconv_y(y)], 1)
        return torch.tanh(self.out(torch.relu(self.bn(x)))).float()


class TwoBranchCDCGAN(nn.Module):
    """The widely copied two-branch conditional DCGAN for MNIST (a ``generator(d)`` class with
    ``deconv1_1`` taking z [N, 100, 1, 1] and ``deconv1_2`` taking the one-hot label as
    [N, 10, 1, 1], each followed by batch norm and ReLU, concatenated, then three transposed
    convolutions to a 32 x 32 tanh image; ``forward(input, label)``). It states no class count and
    no latent size, and a 2-D label fails inside conv_transpose2d, as in the original."""

    def __init__(self, d=4, seed=3):
        super().__init__()
        torch.manual_seed(seed)
        self.deconv1_1 = nn.ConvTranspose2d(100, d * 2, 4, 1, 0)
        self.deconv1_1_bn = nn.BatchNorm2d(d * 2)
        self.deconv1_2 = nn.ConvTranspose2d(10, d * 2, 4, 1, 0)
        self.deconv1_2_bn = nn.BatchNorm2d(d * 2)
        self.deconv2 = nn.ConvTranspose2d(d * 4, d * 2, 4, 2, 1)
        self.deconv2_bn = nn.BatchNorm2d(d * 2)
        self.deconv3 = nn.ConvTranspose2d(d * 2, d, 4, 2, 1)
        self.deconv3_bn = nn.BatchNorm2d(d)
        self.deconv4 = nn.ConvTranspose2d(d, 1, 4, 2, 1)
        _frozen_batchnorm_stats(self, seed)

    def forward(self, input, label):
        branches = [torch.relu(self.deconv1_1_bn(self.deconv1_1(input))),
                    torch.relu(self.deconv1_2_bn(self.deconv1_2(label)))]
        x = torch.relu(self.deconv2_bn(self.deconv2(torch.cat(branches, 1))))
        x = torch.relu(self.deconv3_bn(self.deconv3(x)))
        return torch.tanh(self.deconv4(x))


class EmbeddingCGAN(nn.Module):
    """The common hand-written cGAN (label embedding concatenated with the noise before a
    Linear of ``latent_dim + n_classes`` inputs): ``forward(noise, labels)`` with integer
    labels [N] (asserted) and noise [N, latent_dim]."""

    def __init__(self, latent_dim=12, n_classes=4, seed=2):
        super().__init__()
        torch.manual_seed(seed)
        self.label_emb = nn.Embedding(n_classes, n_classes)
        self.model = nn.Sequential(nn.Linear(latent_dim + n_classes, 64), nn.Tanh()).double()
        self.label_emb.double()

    def forward(self, noise, labels):
        assert labels.dtype == torch.int64 and labels.shape == (len(noise),)
        x = torch.cat((self.label_emb(labels), noise.double()), -1)
        return self.model(x).view(-1, 1, 8, 8).float()


class _ZooConfig:
    def __init__(self, noise, categories=0):
        self.noiseVectorDim = noise
        self.categoryVectorDim = categories
        self.latentVectorDim = noise + categories
        self.attribKeysOrder = {"class": {}} if categories else None


class GANZooStandIn:
    """A pytorch_GAN_zoo model (BaseGAN's interface: ``config.noiseVectorDim``,
    ``buildNoiseData(n)``, ``test(input, getAvG=False, toCPU=True)``, ``getOriginalG``,
    ``netG`` / ``avgG``, ``device``) around a DCGAN-like generator that takes [N, latent]
    and reshapes it itself, as theirs does. Not a torch module, as theirs is not."""

    def __init__(self, noise=16, categories=0, seed=3, use_gpu=False, normalize_latent=False):
        self.config = _ZooConfig(noise, categories)
        self.device = torch.device("cpu")
        # normalize_latent: PGAN's NormalizationLayer on the latent (its default, perChannelNormalization)
        self.netG = _ZooGNet(noise + categories, seed, normalize_latent)
        self.avgG = _ZooGNet(noise + categories, seed + 1, normalize_latent)  # a distinct average, told apart
        if use_gpu:  # the zoo's default (useGPU=True) wraps both networks in nn.DataParallel
            self.netG, self.avgG = GpuDataParallel(self.netG), GpuDataParallel(self.avgG)

    def buildNoiseData(self, n_samples, inputLabels=None):
        return torch.randn(n_samples, self.config.noiseVectorDim).to(self.device), None

    def test(self, input, getAvG=False, toCPU=True):
        input = input.to(self.device)
        net = self.avgG if getAvG else self.netG
        out = net(input)
        return out.cpu() if toCPU else out

    def getOriginalG(self):
        return self.netG.module if isinstance(self.netG, nn.DataParallel) else self.netG


class GpuDataParallel(nn.DataParallel):
    """nn.DataParallel as it is built on a GPU machine (device_ids [0]): it runs the wrapped
    module only with its parameters on cuda:0 and splits a batch across the GPUs, so on this CPU
    machine any call of it fails as a moved one does there."""

    def forward(self, *inputs, **kwargs):
        raise RuntimeError("module must have its parameters and buffers on device cuda:0 (device_ids[0]) but found "
                           "one of them on device: cpu")


class _ZooGNet(nn.Module):
    def __init__(self, dim_latent, seed, normalize_latent=False):
        super().__init__()
        torch.manual_seed(seed)
        self.dimLatent, self.normalize_latent = dim_latent, normalize_latent
        self.formatLayer = nn.ConvTranspose2d(dim_latent, 8, 4, 1, 0)
        self.bn = nn.BatchNorm2d(8)
        self.outLayer = nn.ConvTranspose2d(8, 3, 4, 2, 1)
        self.double()
        _frozen_batchnorm_stats(self, seed)

    def forward(self, x):
        assert x.ndim == 2 and x.shape[1] == self.dimLatent
        x = x.double()
        if self.normalize_latent:  # x / sqrt(mean(x^2) + 1e-8), per sample
            x = x * torch.rsqrt((x * x).mean(dim=1, keepdim=True) + 1e-8)
        x = x.view(-1, self.dimLatent, 1, 1)
        return torch.tanh(self.outLayer(torch.relu(self.bn(self.formatLayer(x))))).float()


class RosinalityStandIn(nn.Module):
    """rosinality's stylegan2-pytorch ``Generator(size, style_dim, n_mlp)``: ``style`` (PixelNorm
    then n_mlp linear layers), ``n_latent = 2 log2(size) - 2``, fixed noise buffers in
    ``self.noises``, ``mean_latent(n)``, ``get_latent``, and ``forward(styles, return_latents,
    inject_index, truncation, truncation_latent, input_is_latent, noise, randomize_noise)``
    returning ``(image, None)``. Each layer reads its own row of the latent."""

    def __init__(self, size=8, style_dim=16, n_mlp=2, seed=4):
        super().__init__()
        torch.manual_seed(seed)
        self.size, self.style_dim = size, style_dim
        layers = [_PixelNorm()]
        for _ in range(n_mlp):
            layers += [nn.Linear(style_dim, style_dim), nn.LeakyReLU(0.2)]
        self.style = _Float64Sequential(*layers).double()
        self.log_size = size.bit_length() - 1
        self.n_latent = self.log_size * 2 - 2
        self.num_layers = self.n_latent
        self.to_image = nn.Linear(style_dim, 3 * size * size).double()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 3, size, size, dtype=torch.float64))

    def mean_latent(self, n_latent):
        latent_in = torch.randn(n_latent, self.style_dim, dtype=torch.float64)
        return self.style(latent_in).mean(0, keepdim=True)

    def get_latent(self, input):
        return self.style(input)

    def forward(self, styles, return_latents=False, inject_index=None, truncation=1, truncation_latent=None,
                input_is_latent=False, noise=None, randomize_noise=True):
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        styles = [s.double() for s in styles]  # the float32 ws of input_is_latent, computed in float64 here
        if noise is None:
            if randomize_noise:
                noise = [torch.randn(1, 3, self.size, self.size, dtype=torch.float64)] * self.num_layers
            else:
                noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if truncation < 1:
            styles = [truncation_latent.double() + truncation * (s - truncation_latent.double()) for s in styles]
        assert len(styles) == 1, "the stand-in does not mix styles"
        latent = styles[0].unsqueeze(1).repeat(1, self.n_latent, 1) if styles[0].ndim < 3 else styles[0]
        assert latent.shape[1:] == (self.n_latent, self.style_dim)
        image = 0
        for i in range(self.n_latent):
            image = image + self.to_image(latent[:, i] * (i + 1)).view(-1, 3, self.size, self.size) + 0.1 * noise[i]
        image = torch.tanh(image / self.n_latent).float()
        return (image, latent.float()) if return_latents else (image, None)


class _PixelNorm(nn.Module):
    def forward(self, input):
        return input * torch.rsqrt(torch.mean(input ** 2, dim=1, keepdim=True) + 1e-8)


class _Float64Sequential(nn.Sequential):
    """rosinality's ``style`` Sequential, computing in float64: float32 in, float32 out."""

    def forward(self, input):
        return super().forward(input.double()).float()
