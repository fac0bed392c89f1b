"""Stand-ins for the generators users bring, written here with the interfaces of
NVIDIA's StyleGAN2-ADA / StyleGAN3 networks and of pytorch_pretrained_biggan
(signatures, required arguments, output shapes, shape assertions).

- ``StyleGANStandIn(version="sg3")``: mapping(z, c, truncation_psi=1,
  truncation_cutoff=None, update_emas=False); ``version="ada"`` has StyleGAN2-ADA's
  ``skip_w_avg_update`` instead, and updates w_avg whenever it runs in training
  mode, as that code does. synthesis(ws, noise_mode='random', force_fp32=False,
  update_emas=False) asserts ws is [N, num_ws, w_dim]; each layer reads its own
  row of ws, so a truncation cutoff changes the image.
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
    def __init__(self, w_dim, num_ws, img_resolution, img_channels):
        super().__init__()
        self.w_dim, self.num_ws, self.img_resolution, self.img_channels = w_dim, num_ws, img_resolution, img_channels
        self.base = 8
        self.layers = nn.ModuleList(nn.Linear(w_dim, img_channels * self.base * self.base).double()
                                    for _ in range(num_ws))
        self.register_buffer("noise_const", torch.randn(1, 1, img_resolution, img_resolution))
        self.noise_strength = 0.1

    def forward(self, ws, noise_mode="random", force_fp32=False, update_emas=False):
        assert ws.ndim == 3 and tuple(ws.shape[1:]) == (self.num_ws, self.w_dim), ws.shape
        assert noise_mode in ("random", "const", "none")
        x = (sum(layer(ws[:, i].double()) for i, layer in enumerate(self.layers)) / self.num_ws).float()
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
                 seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.img_resolution, self.img_channels = img_resolution, img_channels
        mapping = MappingSG3 if version == "sg3" else MappingADA
        self.mapping = mapping(z_dim, c_dim, w_dim, num_ws, version)
        self.synthesis = StandInSynthesis(w_dim, num_ws, img_resolution, img_channels)
        with torch.no_grad():  # a tracked w_avg away from zero, as after training
            self.mapping.w_avg.copy_(self.mapping(torch.randn(2000, z_dim), self._labels(2000))[:, 0].mean(0))
        self.version = version
        self.eval()

    def _labels(self, n):
        if self.c_dim == 0:
            return None
        return nn.functional.one_hot(torch.arange(n) % self.c_dim, self.c_dim).float()

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        if self.version == "sg3":
            ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                              update_emas=update_emas)
        else:
            ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
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
