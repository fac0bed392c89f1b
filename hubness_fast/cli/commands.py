"""The commands: each takes the parsed arguments, checks what it can before any work, runs the
library and prints its result (exit code 0)."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write, creatable_dir, load_npy, writable_file
from .._inputs import as_path
from .inputs import (BANK_FIXED, BUNDLED, EVAL_SAMPLER_FLAGS, TRUNCATION_FLAGS, adapter, at_least, flag_name,
                     given_flags, load_detector, method_settings, parse_classes, pick_device, quality_label)
from .messages import fail, require


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.engine:
        for flag in ("dim", "threads"):
            if getattr(args, flag) is not None:
                fail(f"--{flag} applies to --engine only")
        for module in ("torch", "matplotlib", "mlxtend"):
            require(module)  # the sampling demo's; --engine needs none of them
        from ..study.demo import run_demo
        from ..study.run import K_PR, check_study_folder

        at_least(("--n", 500 if args.n is None else args.n, K_PR + 1), ("--seeds", args.seeds, 2),
                 ("--seed", args.seed, 0))
        check_study_folder(creatable_dir(args.out, "output folder"))
        run_demo(out_dir=args.out, n=500 if args.n is None else args.n, seeds=args.seeds, pool_size=args.pool_size,
                 k=args.k, threshold=args.threshold, include_self=args.include_self, seed=args.seed,
                 progress=not args.quiet)
        return 0
    from .. import hub_counts

    sampling_only = given_flags(args, ("seeds", "threshold", "pool_size", "out"))
    if sampling_only:
        fail(f"{', '.join(flag_name(d) for d in sampling_only)} applies to the sampling demo, not --engine")
    n = 100_000 if args.n is None else args.n
    dim = 512 if args.dim is None else args.dim
    threads = () if args.threads is None else (("--threads", args.threads, 1),)
    at_least(("--n", n, 2), ("--dim", dim, 1), *threads)
    rng = np.random.default_rng(args.seed)
    print(f"Sampling {n:,} Gaussian latents of dimension {dim} (seed {args.seed})")
    z = rng.standard_normal((n, dim), dtype=np.float32)
    t0 = time.perf_counter()
    counts = hub_counts(z, k=args.k, include_self=args.include_self, progress=not args.quiet, n_threads=args.threads)
    secs = time.perf_counter() - t0
    _summarize(counts, args.k)
    print(f"Exact self-join hub counts of {n:,} x {dim} (k={args.k}) in {secs:.1f} s")
    return 0


def _summarize(counts: np.ndarray, k: int) -> None:
    n = counts.size
    q = np.percentile(counts, [50, 90, 99, 99.9])
    mean, std = counts.mean(), counts.std()
    skew = float(((counts - mean) ** 3).mean() / std**3) if std > 0 else 0.0
    print(f"hub values N_{k}: sum {counts.sum():,} (= N*k), mean {mean:.2f}, max {counts.max()}, "
          f"median {q[0]:.0f}, p90 {q[1]:.0f}, p99 {q[2]:.0f}, p99.9 {q[3]:.0f}")
    print(f"skewness {skew:.2f}; hubs (N_k >= {2 * k}, twice the mean: scikit-hubness's hub_size=2; not the "
          f"sampler's threshold) {np.mean(counts >= 2 * k):.2%}; antihubs (N_k = 0) {np.mean(counts == 0):.2%} "
          f"of {n:,} points")


def cmd_hubs(args: argparse.Namespace) -> int:
    from .. import hub_counts

    if args.threads is not None:
        at_least(("--threads", args.threads, 1))  # the library's message offers None, which no flag takes
    out = writable_file(args.out, "output file", ".npy")  # before any work
    latents = as_path(args.latents)
    if out.exists() and latents.exists() and out.samefile(latents):
        fail(f"--out {out} is the latents file itself: name another file for the counts")
    x = load_npy(latents, "the latents file")
    try:
        counts = hub_counts(x, k=args.k, include_self=args.include_self, metric=args.metric, n_threads=args.threads,
                            progress=not args.quiet, device=args.device)
    except ValueError as exc:  # the engine calls its data x: here it is the file
        raise ValueError(re.sub(r"^x\b", f"the latents file {latents}", str(exc))) from exc
    try:
        atomic_write(out, lambda f: np.save(f, counts))  # a failed write leaves an earlier file whole
    except OSError as exc:
        fail(f"cannot write the output file {out} (nothing was changed there): {exc.strerror or exc}")
    if not args.quiet:
        _summarize(counts, args.k)
    print(f"wrote {out}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    require("torch")
    from ..sampling.methods import sample

    if args.bank is not None:
        return _sample_bank(args)
    if args.offset is not None:
        fail("--offset applies to --bank (the bank's row to start at)")
    settings = method_settings(args)
    outdir = _sample_folder(args.outdir)
    gen, family = adapter(args)
    out = sample(gen, args.n, args.method, space=args.space, classes=parse_classes(args.classes),
                 batch_size=args.batch_size, output="uint8", outdir=outdir, device=pick_device(args.device),
                 seed=args.seed, progress=not args.quiet, **settings)
    where = (args.space or gen.default_space).upper()
    extra = ""
    if out.hub_values is not None:
        extra = f"; hub values {int(out.hub_values.min())}..{int(out.hub_values.max())}"
    print(f"{args.n} images ({args.method}, {family}, {where} space{extra}) -> {out.outdir}/ "
          f"(000000.png..., grid.png, latents.npz)")
    return 0


def _sample_folder(path: str) -> Path:
    """The output folder of `sample`, made and checked before any work: new, empty, or a sample run's."""
    from ..sampling.images import check_sample_folder

    outdir = creatable_dir(path, "output folder")
    check_sample_folder(outdir)
    return outdir


def _sample_bank(args: argparse.Namespace) -> int:
    from ..sampling.bank import open_bank, sample_bank

    if args.method != "hubs":
        fail(f"--bank renders mined hub latents: --method {args.method} does not apply")
    for dest in TRUNCATION_FLAGS:
        if getattr(args, dest) is not None:
            fail(f"{flag_name(dest)} applies to --method truncation; --bank renders mined hub latents")
    bank = open_bank(args.bank)  # before any work: a missing or unfinished bank says so
    _check_bank_flags(args, bank.settings)
    if args.offset is None and not os.access(bank.path, os.W_OK | os.X_OK):  # before the network is loaded
        fail(f"cannot write to the bank {bank.path}: the next unused rows are counted in it; a bank that cannot "
             f"be written serves rows by --offset N, which neither takes its lock nor moves its cursor")
    outdir = _sample_folder(args.outdir)
    gen, family = adapter(args)
    out = sample_bank(gen, bank, args.n, offset=args.offset, classes=parse_classes(args.classes),
                      batch_size=args.batch_size, output="uint8", outdir=outdir, device=pick_device(args.device),
                      network=args.network, progress=not args.quiet)
    values = np.asarray(out.hub_values)
    print(f"{args.n} images from the bank {bank.path} ({family}, {bank.settings['space'].upper()} space; hub values "
          f"{int(values.min())}..{int(values.max())}) -> {out.outdir}/")
    return 0


def _check_bank_flags(args: argparse.Namespace, settings: dict[str, Any]) -> None:
    """`sample --bank`: a flag that says how latents are chosen is refused unless it equals the bank's
    own setting (the bank fixed it when it was mined)."""
    rule = "top" if settings["top"] is not None else "threshold"  # the one of the two the bank kept by
    for dest in given_flags(args, BANK_FIXED):
        value = getattr(args, dest)
        mined_as = rule if dest in ("threshold", "top") else dest
        if dest == mined_as and value == settings[dest]:
            continue
        mined = ("hub values that do not count self (no --include-self)" if mined_as == "include_self" else
                 f"{flag_name(mined_as)} {settings[mined_as]}")
        shown = flag_name(dest) if dest == "include_self" else f"{flag_name(dest)} {value}"
        fail(f"the bank {args.bank} was mined with {mined}: drop {shown} (a bank fixes how its latents were "
             f"chosen; mine another bank for {shown})")


def cmd_mine(args: argparse.Namespace) -> int:
    from ..sampling.bank import status
    from ..sampling.mining import mine

    if args.status is not None:
        others = given_flags(args, [d for d in vars(args) if d not in ("command", "func", "command_parser", "status",
                                                                       "quiet", "debug")])
        if others:
            fail(f"--status only reports what a bank holds: drop {', '.join(flag_name(d) for d in others)}")
        print(status(args.status))
        return 0
    if args.n is None or args.outdir is None:
        fail("--n and --outdir are required (or --status BANK)")
    if args.network is None and args.z_dim is None:
        fail("--network NETWORK, or --z-dim D to mine latents of N(0, I) without a network")
    if args.network is None and given_flags(args, ["device"]):
        fail("--device says where the generator runs, and without --network there is none (hub values are "
             "counted on a GPU when one is present and the pool is large)")
    cls = None
    if args.classes is not None:
        try:
            cls = int(args.classes)
        except ValueError:
            fail(f"--class takes one class index when mining: a bank holds one class (mine each class into a bank "
                 f"of its own); got {args.classes!r}")
    gen = adapter(args)[0] if args.network is not None else None
    if gen is not None and gen.c_dim and cls is None:
        fail(f"the network is conditional ({gen.c_dim} classes): mine one class into each bank, --class C")
    if cls is not None and (gen is None or not gen.c_dim):
        fail("--class applies to a conditional network")
    if cls is not None and gen is not None and not 0 <= cls < gen.c_dim:
        fail(f"--class {cls} is outside 0..{gen.c_dim - 1}")
    creatable_dir(args.outdir, "bank folder")  # before any mining, and after every check that needs the network
    client = None
    if args.scheduler is not None:
        from distributed import Client

        client = Client(args.scheduler)
    r = mine(gen, args.n, args.outdir, space=args.space, k=5 if args.k is None else args.k,
             threshold=args.threshold if args.threshold is not None else 50, top=args.top,
             pool_size=10_000 if args.pool_size is None else args.pool_size, include_self=bool(args.include_self),
             cls=cls, seed=args.seed,
             z_dim=args.z_dim if gen is None else None, device=None if gen is None else pick_device(args.device),
             workers=args.workers, client=client,
             network=args.network, progress=not args.quiet)
    print(f"{r.rows} latents in {r.path}/ from {r.pools} pools ({r.computed} mined now, acceptance "
          f"{r.acceptance_rate:.4f}); hub values {r.hub_values['min']:g}..{r.hub_values['max']:g}, median "
          f"{r.hub_values['median']:g}; {r.seconds:.1f} s")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    for module in ("torch", "matplotlib"):
        require(module)
    from ..study.run import K_PR, MAX_SEEDS, check_real_features, check_study_folder, run_study

    if args.real is None and args.detector != BUNDLED:
        fail(f"--real (held-out real images: a folder, an .npy of images, or their features) is required "
             f"unless --detector {BUNDLED}")
    # before the network is loaded
    at_least(("--n", args.n, K_PR + 1), ("--seeds", args.seeds, 2), ("--seed", args.seed, 0))
    if args.seeds > MAX_SEEDS:
        fail(f"--seeds must be at most {MAX_SEEDS}, got {args.seeds}")
    outdir = creatable_dir(args.outdir, "output folder")  # before any work
    check_study_folder(outdir)
    if args.quality_label and not args.quality:
        fail("--quality-label names the scores of --quality: give --quality too")
    device = pick_device(args.device)
    detector = load_detector(args.detector, "--detector", device)
    quality = load_detector(args.quality, "--quality", device) if args.quality else None
    if args.real is not None:
        from ..evaluation import scorecard

        read = scorecard.read_side(args.real, detector, what="real", batch_size=args.batch_size, device=device,
                                   progress=not args.quiet)
        if not isinstance(read, np.ndarray):
            fail(f"--real {args.real} is a fitted reference (.npz); the study takes real features (.npy) or images")
        real = check_real_features(read)
    else:
        from ..models.mnist import held_out_features

        real = held_out_features(detector)  # type: ignore[arg-type]  # the bundled detector, as built above
    gen, _ = adapter(args)
    gen.to(device)  # the adapter's move: a pytorch_GAN_zoo model's networks and its own device together
    run_study(gen, detector, real, outdir, n=args.n, seeds=args.seeds, seed=args.seed, k=args.k,
              threshold=args.threshold, pool_size=args.pool_size, include_self=args.include_self, quality=quality,
              quality_label=args.quality_label or quality_label(args.quality or ""),
              classes=parse_classes(args.classes), batch_size=args.batch_size, verbose=True,
              progress=not args.quiet, device=device)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluation import scorecard
    from ..features import features
    from ..sampling.methods import make_sampler

    chosen = scorecard.parse_metrics(args.metrics)
    if args.fake is not None and args.network is not None:
        fail("give the fake set as --fake (a folder, an .npy) or as --network NETWORK --n N, not both")
    if args.fake is None and args.network is None:
        fail("give the fake set: --fake (a folder, an .npy) or --network NETWORK --n N")
    if args.network is not None and args.n is None:
        fail("--network needs --n (how many images to generate)")
    if args.fake is not None:
        ignored = given_flags(args, ["n", "method", "truncation", "classes", "noise_mode", "force_fp32", "z_dim",
                                     "latent_shape", "c_dim", "label_format", "label_arg", "family", "space",
                                     *EVAL_SAMPLER_FLAGS])
        if ignored:
            fail(f"{', '.join(flag_name(d) for d in ignored)} set how --network generates the fake set; --fake gives "
                 f"it as it is: drop {'it' if len(ignored) == 1 else 'them'}")
    json_out = writable_file(args.json, "--json", ".json") if args.json else None
    device = pick_device(args.device)
    detector = load_detector(args.detector, "--detector", device) if args.detector else None
    read = {"detector": detector, "batch_size": args.batch_size, "device": device, "cache_dir": args.cache_dir,
            "progress": not args.quiet}
    real = scorecard.read_side(args.real, what="real", **read)
    if args.network is not None:
        if detector is None:
            fail("--network needs --detector (the generator's images become features through it)")
        gen, _ = adapter(args)
        gen.to(device)
        settings = method_settings(args, EVAL_SAMPLER_FLAGS)
        if "hub_k" in settings:
            settings["k"] = settings.pop("hub_k")
        try:
            sampler = make_sampler(args.method, space=args.space or gen.default_space, seed=args.seed,
                                   progress=not args.quiet, **settings)
            fake: Any = features(gen, detector, n=args.n, sampler=sampler, classes=parse_classes(args.classes),
                                 batch_size=args.batch_size, device=device, progress=not args.quiet)
        except ValueError as exc:  # the sampler's k is --hub-k here; --k is the metrics'
            raise ValueError(re.sub(r"^k must\b", "hub_k must", re.sub(r"\bk=", "hub_k=", str(exc)))) from exc
    else:
        fake = scorecard.read_side(args.fake, what="fake", **read)
    assert isinstance(fake, np.ndarray)  # read_side gives a Manifold for the real side only
    values = scorecard.evaluate(real, fake, chosen, k=args.k, k_dc=args.k_dc, n_boot=args.n_boot, seed=args.seed,
                                progress=not args.quiet)
    print(scorecard.table(values))
    if json_out is not None:
        n_real = len(real.features) if not isinstance(real, np.ndarray) else len(real)
        report = json.dumps({"metrics": values, "k": args.k, "k_dc": args.k_dc, "n_real": n_real,
                             "n_fake": len(fake), "n_boot": args.n_boot, "seed": args.seed,
                             "interval": "95 % percentile bootstrap" if args.n_boot else None,
                             "real": str(args.real), "fake": str(args.fake or args.network),
                             "detector": args.detector}, indent=2)
        atomic_write(json_out, lambda f: f.write(report.encode()))
        print(f"wrote {json_out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """--data: the installed runner on the user's file; else the project's runners, which live in the
    source tree (benchmarks/), not in the installed package: run them there."""
    import subprocess

    if args.data is not None:
        from ..bench import userbench

        if args.gpu:
            fail("--data runs the CPU tools on your file; --gpu runs the project's GPU runner from a checkout: "
                 "give one of them")
        return userbench.main(["--data", str(args.data), *args.rest, *(["--help"] if args.help else [])])
    if args.help:
        args.command_parser.print_help()
        return 0

    if not (Path.cwd() / "benchmarks" / "__main__.py").is_file():
        fail("the project's benchmark runners live in the source tree: run this from a checkout (python -m "
             "benchmarks); an installed copy benchmarks your own data: hubness-fast bench --data X.npy")
    module = "benchmarks.gpu_bench" if args.gpu else "benchmarks"
    return subprocess.call([sys.executable, "-m", module, *args.rest])
