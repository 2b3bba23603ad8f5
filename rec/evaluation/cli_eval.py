"""``rec eval``: rate-distortion evaluation of codecs on a directory of images.

    rec eval DIR --codec NAME [--codec NAME ...] [--models a,b,c] [--samplers L2:L1]
                 [--qualities 5,10,...] [--rates R,R,...] [--limit N] [--seed S] [--quiet]
                 [--anchor NAME] [--no-resume] --out DIR

A thin layer over :mod:`rec.evaluation.runner`: it parses the arguments, runs
:func:`~rec.evaluation.runner.evaluate`, prints one line per rate point and
writes ``<codec>.json`` (CompressAI results format) and
``<codec>.per_image.csv`` per codec into ``--out``, then prints a summary table
and BD-rates against ``--anchor``. Each measurement is appended to
``<codec>.points.jsonl`` in ``--out`` as it is made; the same command run again
reads them back and measures only what is missing (``--no-resume``: everything).
Errors are :class:`~rec.errors.RecError`, which ``rec``'s ``main`` turns into exit
code 2; an image that fails is recorded as a failure, not an error.

Wiring into ``rec/cli.py``'s ``build_parser``::

    from rec.evaluation.cli_eval import add_parser as add_eval_parser
    add_eval_parser(sub)
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from rec.errors import RecError

__all__ = ["add_parser", "run"]

_EPILOG = """\
codecs: every classical codec by name (jpeg, jpeg444, webp, jpeg2000, avif, heic,
jpegxl: a quality sweep over its grid, or --qualities), rec (one rate point per
PLN model of --models, default every PLN model of the zoo; one curve per family:
rec-gamma-pln, rec-pln, rec-vae) and mbt2018 (every mbt2018 model of the zoo;
skipped with a message when there is none), and the other learned codecs alike.
--models takes zoo names and model files as `rec encode --model` does (a training
checkpoint .pt, a shard folder); a file's points are labelled with its stem.
A variable-rate model (see `rec models`) makes one point per rate: those of --rates
(each inside its range: β of a γ-PLN, larger β fewer bits; λ of mbt2018, larger λ
more bits), default six log-spaced over its range; points are labelled
"<model> β=<β>", and a variable-rate REC model has a curve of its own, rec-<model>.
A rec curve is named after everything that defines it: rec-<family>, then the samplers
unless they are the default pair (e.g. -is-bits10_gs-bits8-shards4), then -seed<S> unless
the seed is 0; so runs with other samplers or seeds may share one --out.
Output per curve in --out: <codec>.json (CompressAI results JSON: bpp, psnr-rgb,
ms-ssim-rgb, encoding_time, decoding_time; rec-* add kl_bpp, bound_bpp, ideal_psnr,
ideal_ms_ssim), <codec>.per_image.csv and <codec>.points.jsonl (every measurement as
it was made: what a rerun of the same command resumes from).
An image that fails to code is recorded as a failure: its rate point is left out of
the curve and listed under meta.failures and in the CSV's error column.
At the end: a table of every point, BD-rates of every curve against --anchor, and rd.png /
rd.svg in --out: every curve (REC's ideal ones dotted) beside published Kodak anchors, dashed.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` on the ``rec`` command's subparsers; its handler is ``args.func``."""
    p = subparsers.add_parser(
        "eval",
        help="rate-distortion evaluation of codecs on a directory of images",
        description="Rate-distortion evaluation: bpp, PSNR, MS-SSIM, times per image and mean, per codec and rate point.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("directory", metavar="DIR", help="directory of lossless images (.png, .bmp, .ppm, .tif)")
    p.add_argument("--codec", action="append", required=True, metavar="NAME", dest="codecs",
                   help="codec to evaluate (repeatable): a classical codec, rec or mbt2018")
    p.add_argument("--models", metavar="A,B,C",
                   help="comma-separated models for the learned codecs: zoo names or model files as `rec encode "
                        "--model` takes (training checkpoint .pt, shard folder); one rate point each, one per rate "
                        "if variable-rate")
    p.add_argument("--samplers", metavar="L2:L1", help="rec's samplers, e.g. importance:greedy (default: the pair of `rec samplers`)")
    p.add_argument("--qualities", metavar="Q,Q,...", help="quality grid replacing the codec's (one classical codec only)")
    p.add_argument("--rates", metavar="R,R,...",
                   help="rates of every variable-rate model, inside its range (default: six log-spaced over it)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images (sorted by name)")
    p.add_argument("--seed", type=int, default=0, help="rec's seed of the shared randomness (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-point lines")
    p.add_argument("--anchor", default="jpeg", metavar="NAME",
                   help="BD-rates against this: a codec of the run, else a published anchor (default: jpeg)")
    p.add_argument("--no-plot", action="store_true", help="no rd.png / rd.svg in --out")
    p.add_argument("--device", default=None, metavar="DEV",
                   help="where the learned codecs' networks run: cpu (default) or cuda (REC only; the quantized codecs "
                        "run on the CPU)")
    p.add_argument("--no-resume", action="store_true",
                   help="measure everything again instead of reading back the points in --out")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    p.set_defaults(func=run)
    p.lazy_help = _lazy_help  # read by rec.cli's parser class when the help is shown
    return p


def _lazy_help(parser: argparse.ArgumentParser) -> None:
    from rec.codecs.rec import describe_default_samplers

    for action in parser._actions:
        if action.dest == "samplers":
            action.help = f"rec's samplers, e.g. importance:greedy (default: {describe_default_samplers()})"


def _command(args) -> str:
    """The command line that reproduces this run, for the JSON's ``meta``."""
    parts = ["rec", "eval", args.directory]
    for c in args.codecs:
        parts += ["--codec", c]
    for flag in ("models", "samplers", "qualities", "rates", "limit"):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag}", str(value)]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def run(args) -> None:
    """Handler of ``rec eval``.

    Raises:
        RecError: bad arguments, no images, a codec failure.
    """
    from rec.evaluation.model_choice import parse_models, parse_rates
    from rec.evaluation.runner import evaluate, parse_qualities, write_results
    from rec.evaluation.summary import bd_summary, format_point, summary_table

    models = parse_models(args.models) if args.models is not None else None
    qualities = parse_qualities(args.qualities) if args.qualities is not None else None
    rates = parse_rates(args.rates)

    shown: list[str] = []

    def on_point(result, point, seconds):
        if args.quiet:
            return
        if not shown or shown[-1] != result.codec:
            shown.append(result.codec)
            print(f"{result.codec}: {result.description}", flush=True)
        print(format_point(result, point, seconds), flush=True)

    def log(message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message)

    out = Path(args.out)
    try:
        results = evaluate(args.directory, args.codecs, models=models, samplers=args.samplers, qualities=qualities,
                           rates=rates, limit=args.limit, seed=args.seed, progress=False if args.quiet else None,
                           meta={"source": "rec eval", "command": _command(args)}, on_point=on_point, log=log,
                           points_dir=out, resume=not args.no_resume, device=args.device)
    except KeyboardInterrupt as e:  # rec's main prints it; say how to go on
        e.detail = f"the measurements made are kept in {out}/*.points.jsonl; the same command resumes from them"
        raise
    paths = write_results(results, out)
    for path in paths:
        print(f"wrote {path}")
    if not results:
        print("nothing evaluated (every codec was skipped)")
        return
    print()
    print(summary_table(results))
    failures = sum(len(r.failures) for r in results)
    if failures:
        print(f"{failures} image(s) failed: their points are left out of the curves (see meta.failures in the JSON)")
    lines = bd_summary(results, args.anchor)
    if lines:
        print()
        print("\n".join(lines))
    if not args.no_plot:
        _plot(results, out)


def _plot(results, out: Path) -> None:
    """rd.png / rd.svg of the run's curves beside the default published anchors (needs matplotlib)."""
    import importlib.util

    from rec.evaluation.rd_plot import DEFAULT_ANCHORS, plot_rd
    from rec.evaluation.results import load_anchor

    if importlib.util.find_spec("matplotlib") is None:
        print("no rd.png: matplotlib is not installed (pip install 'rec[eval]')")
        return
    curves = [r.curve() for r in results if r.complete_points]
    if not curves:
        return
    anchors = []
    for name in DEFAULT_ANCHORS:
        try:
            anchors.append(load_anchor(name))
        except RecError:  # an anchor directory of the user's without it
            pass
    xmax = min(2.0, 1.1 * max(max(c.bpp) for c in curves))
    for path in plot_rd(curves, anchors, out / "rd.png", xmax=xmax, title=f"{len(results)} curves"):
        print(f"wrote {path}")
