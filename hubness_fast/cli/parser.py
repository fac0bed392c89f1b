"""The argument parser of `hubness-fast`: one subcommand per command, each option's help stating
its default, and parse errors as one line (exit code 2)."""
from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .._inputs import as_path
from .._torch import BATCH_SIZE
from .._version import __version__
from . import commands
from .inputs import BUNDLED
from .messages import fail


class _Help(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help unless its text already states the default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "default" not in text and action.option_strings and not unset:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", _Help)
        super().__init__(*a, **kw)

    def error(self, message: str) -> NoReturn:  # one line, exit code 2
        fail(message)


def _generator_flags(p: argparse.ArgumentParser, one_class: bool = False,
                     device_help: str = "where the generator runs (auto: CUDA when torch sees a GPU)",
                     seed_also: str = "") -> None:
    """The flags `sample` and `study` share: classes, family options, batching, device, seed, output
    (`mine`, one_class, renders no image: no --noise-mode nor --batch-size)."""
    p.add_argument("--class", dest="classes", default=None, metavar="C",
                   help="conditional models: the one class index the bank holds (default: none; required when the "
                        "model is conditional)" if one_class else
                   "conditional models: a class, a comma-separated list, or 'uniform' (default: none; "
                   "required when the model is conditional)")
    p.add_argument("--truncation", type=float, default=None, help="BigGAN's truncation in (0, 1] (default 1)")
    if not one_class:
        p.add_argument("--noise-mode", choices=["const", "random", "none"], default=None,
                       help="StyleGAN noise (default const: a seed fixes the images)")
        p.add_argument("--force-fp32", action="store_true", default=None,
                       help="StyleGAN: render every layer in float32, as the paper's notebook does (default: "
                            "NVIDIA's, fp16 layers in half precision where their code uses it)")
    p.add_argument("--z-dim", "--latent-dim", dest="z_dim", type=int, default=None,
                   help="latent size of a plain G(z) (default: G.z_dim, else read from G's first layer)")
    p.add_argument("--z-shape", dest="latent_shape", default=None, metavar="SHAPE",
                   help="shape of one latent as a plain G(z) takes it, e.g. 100,1,1 (default: [z_dim, 1, 1] when "
                        "G's first layer is a convolution, else [z_dim])")
    p.add_argument("--c-dim", type=int, default=None,
                   help="number of classes of a conditional G(z, y) (default: unconditional)")
    p.add_argument("--label-format", choices=["onehot", "index", "onehot-1x1"], default=None,
                   help="labels of a conditional G(z, y): one-hot float [N, c_dim], int [N], or one-hot [N, c_dim, "
                        "1, 1] for a transposed-convolution label branch (default: int [N] beside an Embedding of "
                        "c_dim rows, else one-hot, [N, c_dim] or [N, c_dim, 1, 1] as G runs on a trial call)")
    p.add_argument("--label-arg", default=None, metavar="NAME",
                   help="pass the labels of a conditional G(z, y) as this keyword (default: second positional)")
    p.add_argument("--family", choices=["stylegan", "biggan", "gan_zoo", "rosinality", "callable"], default=None,
                   help="adapter to use (default: detected)")
    if one_class:
        p.set_defaults(noise_mode=None, force_fp32=None, batch_size=BATCH_SIZE)
    else:
        p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="images per generator and detector call")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help=device_help)
    p.add_argument("--seed", type=int, default=0,
                   help="random seed: the same seed gives the same latents" + ("" if one_class else " and images")
                   + seed_also)
    p.add_argument("--quiet", action="store_true", help="no progress bars (results are still printed)")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")


def _hub_flags(p: argparse.ArgumentParser, applies: str = "") -> None:
    p.add_argument("--k", type=int, default=None, help=f"neighbours per latent{applies} (default 5)")
    p.add_argument("--pool-size", type=int, default=None, help=f"latents per pool{applies} (default 10000)")
    p.add_argument("--include-self", action="store_true", default=None,
                   help=f"count each latent as its own neighbour, as the paper's notebook does{applies} "
                        f"(default: not counted)")
    prefix = f"{applies[2:]}: " if applies else ""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=int, default=None,
                       help=f"{prefix}keep latents whose hub value is >= this (default 50)")
    group.add_argument("--top", type=float, default=None,
                       help=f"{prefix}keep this top fraction of each pool instead of a threshold (ties at the "
                            "cut are kept; default: the threshold)")


def build_parser() -> _Parser:
    parser = _Parser(prog="hubness-fast", description="Exact k-NN, hub counts and hub sampling.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_demo, _sample, _mine, _study, _hubs, _eval, _bench):
        add(sub)
    return parser


def _demo(sub: Any) -> None:
    """`demo`: the paper's study on the bundled model, or --engine's hub counts."""
    p = sub.add_parser("demo", help="the paper's study on the bundled StyleGAN-shaped MNIST model (--engine: "
                                    "hub counts only)")
    p.add_argument("--engine", action="store_true", help="only time hub counts of Gaussian latents")
    p.add_argument("--n", type=int, default=None,
                   help="images per method and seed (default 500); latents with --engine (default 100000)")
    p.add_argument("--seeds", type=int, default=5, help="independent seeds per method")
    p.add_argument("--dim", type=int, default=None, help="latent dimension, with --engine only (default 512)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point")
    p.add_argument("--threshold", type=int, default=50, help="hub value a latent needs to be kept")
    p.add_argument("--include-self", action="store_true",
                   help="count each latent as its own neighbour, as the paper's notebook does (default: not counted)")
    p.add_argument("--pool-size", type=int, default=10_000, help="latents per pool")
    p.add_argument("--out", "--outdir", dest="out", type=as_path, default=as_path("demo_out"), help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=int, default=None, help="CPU threads, with --engine only (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (results are still printed)")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    p.set_defaults(func=commands.cmd_demo, command_parser=p)


def _sample(sub: Any) -> None:
    """`sample`: images with hub, random or truncated latents."""
    p = sub.add_parser(
        "sample", help="generate images with hub (or random / truncated) latents from a network",
        description="Generate images with the hubness prior (Liang et al., ICML 2022) or a baseline. NETWORK is "
                    "a network pickle (.pkl; NVIDIA's: G_ema is taken, and their torch_utils/dnnlib must be on "
                    "PYTHONPATH), a torch.save'd module (.pt), or module:attr / module:factory() importable from "
                    "the current directory. Loading a pickle or a whole module runs code from the file: load only "
                    "files you trust. DIR receives 000000.png... (sorted names follow the rows of latents.npz), "
                    "grid.png and latents.npz (z; w in W space; labels; hub_values).")
    p.add_argument("--network", "--generator", dest="network", required=True, metavar="NETWORK",
                   help="the generator (see above)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--outdir", "--out", dest="outdir", type=as_path, required=True, metavar="DIR",
                   help="output folder, created if needed")
    p.add_argument("--method", choices=["hubs", "random", "truncation"], default="hubs", help="how latents are chosen")
    p.add_argument("--space", choices=["z", "w"], default=None, help="latent space (default: w for StyleGAN, else z)")
    _hub_flags(p, ", --method hubs")
    p.add_argument("--psi", type=float, default=None, help="--method truncation: truncation strength (default 0.7)")
    p.add_argument("--truncation-cutoff", type=int, default=None, metavar="L",
                   help="--method truncation in W: truncate only the first L layers' ws, as NVIDIA's "
                        "truncation_cutoff (default: every layer)")
    p.add_argument("--bank", default=None, metavar="BANK",
                   help="render latents mined by `hubness-fast mine` instead of drawing pools: the next N unused "
                        "rows (default: none)")
    p.add_argument("--offset", type=int, default=None, help="--bank: start at this row instead (default: the next "
                                                               "unused row)")
    _generator_flags(p)
    p.set_defaults(func=commands.cmd_sample, command_parser=p)


def _mine(sub: Any) -> None:
    """`mine`: hub latents into a bank, and --status."""
    p = sub.add_parser(
        "mine", help="mine hub latents once into a bank (resumable, deterministic); --status BANK says what it holds",
        description="Mine N hub latents of a network into the bank DIR: pool i is drawn from a seed of (seed, class, "
                    "i) alone, so the bank is the same for any number of workers or interruptions. Each pool is "
                    "committed atomically with a checksum; running the same command again resumes. Without "
                    "--network, --z-dim D mines latents of N(0, I). --device says where the generator runs (it "
                    "maps W pools there); hub values are counted where the pool is. A bank holds one --class of a "
                    "conditional model. `hubness-fast sample --bank DIR` renders them.")
    p.add_argument("--network", "--generator", dest="network", default=None, metavar="NETWORK",
                   help="the generator, as for `sample` (default: none, with --z-dim)")
    p.add_argument("--n", type=int, default=None, help="latents to mine (default: none; required unless --status)")
    p.add_argument("--outdir", "--out", dest="outdir", type=as_path, default=None, metavar="BANK",
                   help="the bank folder, created if needed (default: none; required unless --status)")
    p.add_argument("--status", type=as_path, default=None, metavar="BANK",
                   help="print what a bank holds, and stop (default: mine)")
    p.add_argument("--space", choices=["z", "w"], default=None, help="latent space (default: w for StyleGAN, else z)")
    _hub_flags(p)
    p.add_argument("--workers", type=int, default=1, help="pools mined at once in local processes (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a Dask scheduler: pools become tasks on its workers (default: local)")
    _generator_flags(p, one_class=True)
    p.set_defaults(func=commands.cmd_mine, command_parser=p)


def _study(sub: Any) -> None:
    """`study`: the paper's table, curves and figures for a generator."""
    p = sub.add_parser(
        "study", help="does the hubness prior help this generator? the paper's table, curves and figures",
        description="Samples with hubs (W and Z), random and truncation, over several seeds, and scores them "
                    "against real features: FD, precision/recall (k=3), density/coverage (k=5) with spreads, the "
                    "hub-vs-truncation precision-recall curves, hub value against quality, distance to the mean. "
                    "The detector receives uint8 [B, C, H, W] images (0..255), as NVIDIA's metric detectors do. "
                    "On the bundled MNIST model: --network 'hubness_fast.models:load_mnist_generator()' "
                    "--detector bundled (the bundled LeNet; --real defaults to the held-out digits). "
                    "Loading a pickle or a whole module runs code from the file: load only files you trust.")
    p.add_argument("--network", "--generator", dest="network", required=True, metavar="NETWORK",
                   help="the generator, as for `sample`")
    p.add_argument("--real", type=str, default=None, metavar="REAL",
                   help="held-out real images: a folder of images, an .npy of images [N, C, H, W] (both go "
                        "through --detector), or their features [N, D] by the same detector (default: the "
                        "held-out MNIST digits with --detector bundled; required otherwise)")
    p.add_argument("--detector", required=True, metavar="DETECTOR",
                   help="images -> features: NVIDIA's TorchScript detector file (e.g. inception-2015-12-05.pt), a "
                        "torch.save'd module, module:attr, or 'bundled' (the bundled MNIST LeNet)")
    p.add_argument("--quality", default=None,
                   help="uint8 images -> one score per image, e.g. a classifier's confidence; 'bundled': the "
                        "bundled LeNet's confidence (default: realism score only)")
    p.add_argument("--quality-label", default=None, metavar="NAME",
                   help="the --quality score's name on the figure (default: the file's or attribute's name)")
    p.add_argument("--outdir", "--out", dest="outdir", type=as_path, required=True, metavar="DIR",
                   help="output folder, created if needed")
    p.add_argument("--n", type=int, default=1000, help="images per method and seed")
    p.add_argument("--seeds", type=int, default=5, help="independent seeds per method")
    p.add_argument("--k", type=int, default=5, help="neighbours per latent for hub values")
    p.add_argument("--threshold", type=int, default=50, help="hub value a latent needs to be kept")
    p.add_argument("--pool-size", type=int, default=10_000, help="latents per pool")
    p.add_argument("--include-self", action="store_true",
                   help="count each latent as its own neighbour, as the paper's notebook does (default: not counted)")
    _generator_flags(p, device_help="where the generator runs and a detector file (.pt) is loaded (auto: CUDA when "
                                    "torch sees a GPU)")
    p.set_defaults(func=commands.cmd_study, command_parser=p)


def _hubs(sub: Any) -> None:
    """`hubs`: hub counts of a .npy file."""
    p = sub.add_parser("hubs", help="hub counts of the latents in a .npy file")
    p.add_argument("latents", help=".npy file with an (N, D) array (memory-mapped, never loaded whole)")
    p.add_argument("--k", type=int, default=5, help="neighbours per point")
    p.add_argument("--out", required=True, help="output .npy file for the int64 counts ('.npy' is appended when "
                                                "the name has another ending)")
    p.add_argument("--metric", default="sqeuclidean", choices=["sqeuclidean", "euclidean", "inner_product", "cosine"],
                   help="distance between latents")
    p.add_argument("--include-self", action="store_true",
                   help="count each point as its own neighbour, as the paper's notebook does (default: not counted)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: the GPU when one is present and the job is large; the file is streamed to it in "
                        "chunks (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    p.set_defaults(func=commands.cmd_hubs, command_parser=p)


def _eval(sub: Any) -> None:
    """`eval`: k-NN metrics and FD of a fake set against a real one."""
    p = sub.add_parser("eval", help="k-NN metrics and FD of a fake set against a real one (features or images)")
    p.add_argument("--real", required=True, help="real side: a folder of images, an .npy of features [N, F] or "
                                                 "images [N, C, H, W], or a fitted reference saved by Manifold.save "
                                                 "(.npz)")
    p.add_argument("--fake", default=None, help="fake side: a folder of images or an .npy (as --real); or use "
                                                "--network (default: none)")
    p.add_argument("--network", "--generator", dest="network", default=None, metavar="NETWORK",
                   help="generate the fake side: a network as for `sample` (default: none)")
    p.add_argument("--n", type=int, default=None, help="images to generate with --network (default: none)")
    p.add_argument("--method", default="random", choices=["hubs", "random", "truncation"],
                   help="how --network's latents are chosen (default: random, the usual FID set)")
    p.add_argument("--space", choices=["z", "w"], default=None,
                   help="--network: latent space of hubs and truncation (default: w for StyleGAN, else z)")
    p.add_argument("--hub-k", type=int, default=None, dest="hub_k",
                   help="--method hubs: neighbours per latent for hub values (default 5; --k is the metrics' k)")
    p.add_argument("--pool-size", type=int, default=None, help="--method hubs: latents per pool (default 10000)")
    p.add_argument("--include-self", action="store_true", default=None,
                   help="--method hubs: count each latent as its own neighbour (default: not counted)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=int, default=None,
                       help="--method hubs: keep latents whose hub value is >= this (default 50)")
    group.add_argument("--top", type=float, default=None,
                       help="--method hubs: keep this top fraction of each pool instead of a threshold (ties at "
                            "the cut are kept; default: the threshold)")
    p.add_argument("--psi", type=float, default=None, help="--method truncation: truncation strength (default 0.7)")
    p.add_argument("--truncation-cutoff", type=int, default=None, metavar="L",
                   help="--method truncation in W: truncate only the first L layers' ws (default: every layer)")
    p.add_argument("--detector", default=None,
                   help="turns images into features: a TorchScript file (NVIDIA's inception-2015-12-05.pt, vgg16.pt), "
                        f"module:attr, or '{BUNDLED}' (the MNIST LeNet); needed when a side is images (default: none)")
    p.add_argument("--metrics", default=",".join(scorecard_defaults()),
                   help="comma-separated: fid, pr (precision, recall, F1), dc (density, coverage), prdc, rarity, "
                        "realism, eprc")
    p.add_argument("--k", type=int, default=3, help="k of precision/recall, rarity, realism and eP&R")
    p.add_argument("--k-dc", type=int, default=5, help="k of density/coverage and prdc")
    p.add_argument("--n-boot", type=int, default=0, help="bootstrap resamples for intervals (0: none)")
    p.add_argument("--cache-dir", type=as_path, default=None,
                   help="keep image features by content hash: ten checkpoints extract the real features once "
                        "(default: no cache)")
    p.add_argument("--json", type=as_path, default=None, help="also write the values to this JSON file (default: none)")
    _generator_flags(p, device_help="where the generator runs, a detector file (.pt) is loaded and image batches "
                                    "go to the detector (auto: CUDA when torch sees a GPU)",
                     seed_also=", and the same bootstrap resamples (--n-boot)")
    p.set_defaults(func=commands.cmd_eval, command_parser=p)


def _bench(sub: Any) -> None:
    """`bench`: the benchmark runners."""
    p = sub.add_parser("bench", help="benchmark against faiss, torch, numpy, scikit-learn: --data X.npy on your "
                                     "own data (installed runner); without --data, from a checkout of the "
                                     "source, the project's runner (python -m benchmarks), every other argument "
                                     "going to it (e.g. --quick, --cases 0)",
                       add_help=False)
    p.add_argument("-h", "--help", action="store_true",
                   help="show this help and exit; with --data, the installed runner's options")
    p.add_argument("--data", type=as_path, default=None,
                   help="benchmark on this .npy instead (installed runner: --queries, --k, --peers, --rounds, "
                        "--threads, --json; `hubness-fast bench --data X --help` lists them; default: the "
                        "project's runner)")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU runner instead (python -m benchmarks.gpu_bench: torch, cupy, KeOps)")
    p.set_defaults(func=commands.cmd_bench, command_parser=p)


def scorecard_defaults() -> tuple[str, ...]:
    from ..evaluation.scorecard import DEFAULT_METRICS

    return DEFAULT_METRICS
