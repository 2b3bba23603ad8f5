"""``rec bench``: coding time against rate from the command line, a thin layer over
:func:`rec.evaluation.bench.run_bench`.

    rec bench IMAGES... [--models A,B] [--samplers "P1;P2;..."] [--betas B1,B2] [--threads N]
                        [--warmup K] [--repeats R] [--seed S] [--limit N] [--quiet] --out DIR
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

__all__ = ["add_parser", "run"]

_EPILOG = """\
Each sampler pair of --samplers is LEVEL2:LEVEL1 as for `rec encode --sampler`, optionally
named: "IS-GS=importance(bits=16):greedy(bits=8,shards=30)"; pairs are separated by ';'.
Unnamed pairs are named by the parameters they set (IS(bits=16):GS(bits=8,shards=30)).
"default" is each model's own pair at each β, what `rec encode` writes with no --sampler.

Per model (and β) × pair × image: encode time split into networks (analysis; priors and
posterior; the distortion guide's gradient) and coding (each level's sampler), decode time,
and per level the KL, the bound I + 2 log2(I + 1) and the bits written (index, side,
outliers), groups and outliers; bpp, PSNR and MS-SSIM of the decoded image. Times are wall
clock, image and weights loaded before the clock starts, the fastest of --repeats, after
--warmup untimed runs.

Output in --out: bench-<pair>.json per pair (CompressAI results format: bpp, psnr-rgb,
encoding_time, decoding_time, and kl_bpp, bound_bpp, bits_over_kl, encode_coding_time,
encode_network_time, z2_bits_over_kl, z1_bits_over_kl, ...; meta.points: every image),
bench.csv (one row per image), bench.png and bench.svg (encode time against bits/KL, one
series per pair; encode and decode time against bpp). Sampler parameters: `rec samplers`.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bench`` on the ``rec`` command's subparsers; its handler is ``args.func``."""
    p = subparsers.add_parser(
        "bench",
        help="coding time against rate: sampler pairs × models × images",
        description="Coding time against rate: encode (networks, coding) and decode times, bits per level "
                    "against the KL and the bound, per sampler pair, model and image.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="+", metavar="IMAGES", help="image files and/or directories of lossless images")
    p.add_argument("--models", metavar="A,B", help="comma-separated models: zoo names, checkpoints (.pt) or shard "
                                                   "folders (default: the zoo's default model)")
    p.add_argument("--samplers", metavar="P1;P2", help="sampler pairs separated by ';', each LEVEL2:LEVEL1 or "
                                                       "LABEL=LEVEL2:LEVEL1 (default: the default pair)")
    p.add_argument("--betas", metavar="B1,B2", help="rates of variable-rate models (default: each model's own β)")
    p.add_argument("--threads", type=int, metavar="N", help="threads of torch and of the samplers' search (default: every core)")
    p.add_argument("--warmup", type=int, default=1, metavar="K", help="untimed runs before each model × pair (default 1)")
    p.add_argument("--repeats", type=int, default=1, metavar="R", help="timed runs per image; the fastest is kept (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shared randomness (default 0)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    p.add_argument("--quiet", action="store_true", help="no line per image")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    p.set_defaults(func=run)
    p.lazy_help = _lazy_help  # read by rec.cli's parser class when the help is shown
    return p


def _lazy_help(parser: argparse.ArgumentParser) -> None:
    from rec.codecs.rec import OWN_PAIR, describe_default_samplers

    for action in parser._actions:
        if action.dest == "samplers":
            action.help = (f"sampler pairs separated by ';', each LEVEL2:LEVEL1, LABEL=LEVEL2:LEVEL1 or {OWN_PAIR!r} "
                           f"(default: {OWN_PAIR!r}, {describe_default_samplers()})")


def _command(args) -> str:
    parts = ["rec", "bench", *args.images]
    for flag in ("models", "samplers", "betas", "threads", "limit"):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag}", str(value)]
    parts += ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def run(args) -> None:
    """Handler of ``rec bench``.

    Raises:
        RecError: bad arguments, no images, an unknown or non-REC model.
    """
    from rec.evaluation.bench import load_bench_images, parse_betas, parse_pairs, run_bench
    from rec.evaluation.model_choice import parse_models

    pairs = parse_pairs(args.samplers)
    betas = parse_betas(args.betas)
    models = parse_models(args.models) if args.models is not None else None
    images = load_bench_images(args.images, args.limit)

    def on_record(r) -> None:
        if not args.quiet:
            levels = ", ".join(f"{lv.name} {lv.bits_over_kl:.3f}×KL" for lv in r.levels)
            rate = "" if r.beta is None else f" β={r.beta:g}"
            print(f"{r.pair} | {r.model}{rate} | {r.image}: {r.bpp:.4f} bpp, {r.bits_over_kl:.3f}×KL ({levels}), "
                  f"encode {r.encode_seconds:.3f} s (networks {r.network_seconds:.3f}, coding {r.coding_seconds:.3f}), "
                  f"decode {r.decode_seconds:.3f} s, PSNR {r.psnr:.2f} dB", flush=True)

    result = run_bench(images, models, pairs, betas=betas, n_threads=args.threads, warmup=args.warmup,
                       repeats=args.repeats, seed=args.seed, meta={"command": _command(args)}, on_record=on_record)
    paths = result.write(Path(args.out))
    print()
    print(result.table())
    for path in paths:
        print(f"wrote {path}")
