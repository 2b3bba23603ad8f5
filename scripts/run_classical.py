"""Rate-distortion curves of the classical codecs on a directory of images (Kodak by default).

Usage:
    python scripts/run_classical.py [--data DIR] [--out results/classical]
                                    [--codecs jpeg webp ...] [--qualities 5,10,...]
                                    [--limit N] [--anchor PATH] [--readme-only]

For every available codec of :mod:`rec.evaluation.classical` (the others are
skipped with the reason) and every quality of its grid, every image is encoded
and decoded once (one process, one thread); per image we record bytes, bpp,
PSNR, MS-SSIM (and in dB) and the encode/decode wall time. The measuring loop is
:func:`rec.evaluation.runner.evaluate_classical` (also behind ``rec eval``); this
script adds the Kodak defaults and the README table. Written into ``--out``:

* ``<codec>.json``: CompressAI results JSON, each list the mean over images per
  quality (``psnr-rgb``, ``ms-ssim-rgb``, ``bpp``, ``encoding_time``,
  ``decoding_time``, plus ``quality``: the codec setting), with ``meta`` saying
  which library, data set, machine, date and command produced it;
* ``<codec>.per_image.csv``: the per-image measurements (MS-SSIM dB in the last column);
* ``README.md``: a table of every ``*.json`` in ``--out`` (codec, rate range,
  BD-rate against the anchor JPEG in PSNR and MS-SSIM dB), rebuilt on each run.

Times are wall clock on a shared, reniced 2-core machine: indicative only.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from rec.errors import RecError
from rec.evaluation.bdrate import bd_metrics, bd_rate
from rec.evaluation.classical import all_codecs, get_codec
from rec.evaluation.results import RDCurve, anchor_dir, load_curve
from rec.evaluation.runner import evaluate_classical, format_point, load_images, machine, parse_qualities

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "kodak"


#: The published anchor of the same coding tool, for a second sanity column.
SAME_CODEC_ANCHOR = {
    "jpeg": "jpeg",
    "webp": "webp",
    "jpeg2000": "jpeg2000",
    "avif": "av1",
    "heic": "bpg_444_x265_ycbcr",
}


def _bd(anchor: RDCurve | None, curve: RDCurve, metric: str) -> str:
    if anchor is None or not anchor.has(metric) or not curve.has(metric):
        return "n/a"
    try:
        return f"{bd_rate(anchor.bpp, anchor.values(metric), curve.bpp, curve.values(metric)):+.1f} %"
    except RecError as e:
        return f"n/a ({e})"


def _same_tool(anchor_path: Path, stem: str, curve: RDCurve) -> str:
    name = SAME_CODEC_ANCHOR.get(stem)
    path = anchor_path.parent / f"{name}.json"
    if name is None or not path.is_file():
        return ""
    return f"{_bd(load_curve(path), curve, 'psnr')} vs `{name}`"


def write_readme(out: Path, anchor_path: Path) -> None:
    """The README table of every curve in ``out``."""
    anchor = load_curve(anchor_path) if anchor_path.is_file() else None
    order = {c.name: i for i, c in enumerate(all_codecs())}
    files = sorted(out.glob("*.json"), key=lambda p: (order.get(p.stem, 99), p.stem))
    lines = [
        "# Classical codecs on Kodak",
        "",
        "Written by `scripts/run_classical.py` (see its docstring). Plot: `rd_kodak.png`, from",
        "`python scripts/plot_rd.py results/classical/*.json --out results/classical/rd_kodak.png`.",
        "Each point is the mean over the images of bpp, RGB PSNR and RGB MS-SSIM at one quality",
        "setting (CompressAI's convention). BD-rate: `rec.evaluation.bdrate` (PCHIP) against the",
        f"published anchor `{anchor_path.name}` (CompressAI's JPEG, Pillow 7.1.2); negative = fewer bits",
        "than that JPEG at equal quality. MS-SSIM dB = -10·log10(1 - mean MS-SSIM).",
        "",
        "The last BD column compares with the published curve of the same coding tool where there",
        "is one (JPEG, WebP, JPEG 2000, AV1 for AVIF, BPG 4:4:4 for HEIC), in PSNR.",
        "",
        "| codec | library | quality setting | points | bpp | PSNR (dB) | BD-rate PSNR | BD-rate MS-SSIM dB "
        "| enc / dec s per image | vs same-tool anchor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    runs = set()
    for p in files:
        c = load_curve(p)
        meta = c.meta or {}
        q = c.extra.get("quality", ())
        qtxt = f"{meta.get('quality_meaning', '')}: {q[0]:g}-{q[-1]:g}" if q else meta.get("quality_meaning", "")
        times = (
            f"{np.mean(c.encoding_time):.3f} / {np.mean(c.decoding_time):.3f}"
            if c.encoding_time and c.decoding_time
            else "n/a"
        )
        lines.append(
            f"| `{p.stem}` {c.name} | {meta.get('library', '')} | {qtxt} | {len(c)} "
            f"| {min(c.bpp):.3f}-{max(c.bpp):.3f} | {min(c.psnr):.2f}-{max(c.psnr):.2f} "
            f"| {_bd(anchor, c, 'psnr')} | {_bd(anchor, c, 'ms-ssim-db')} | {times} | {_same_tool(anchor_path, p.stem, c)} |"
        )
        runs.add((meta.get("date", "?"), meta.get("machine", "?"), meta.get("command", "?"), meta.get("images", "?")))
    ours = out / "jpeg.json"
    if anchor is not None and ours.is_file():
        lines += ["", "Sanity check, our `jpeg` against the anchor JPEG (same library, newer versions):", ""]
        c = load_curve(ours)
        for metric, unit in (("psnr", "PSNR"), ("ms-ssim-db", "MS-SSIM dB")):
            try:
                r = bd_metrics(anchor.bpp, anchor.values(metric), c.bpp, c.values(metric))
                lines.append(
                    f"- {unit}: BD-rate {r.bd_rate:+.2f} %, BD-quality {r.bd_quality:+.3f} dB "
                    f"over {r.overlap_quality[0]:.2f}-{r.overlap_quality[1]:.2f} dB"
                )
            except RecError as e:
                lines.append(f"- {unit}: n/a ({e})")
    lines += [
        "",
        "Notes: JPEG cannot go below about 0.18 bpp on Kodak (IJG quality 1-3 saturate the tables) and",
        "JPEG XL at effort 7 not below about 0.14 bpp. HEIC disables x265's psycho-visual RDO, which",
        "libheif turns on (+14 % BD-rate otherwise), so that it stays within a few percent of BPG.",
        "AVIF uses libavif/aom at speed 6; the published AV1 curve does not record its settings.",
        "Encode/decode times are wall clock at nice 19 beside a training job: indicative only.",
    ]
    lines += ["", "Runs (date, machine, images, command):", ""]
    for date, mach, cmd, n in sorted(runs):
        lines.append(f"- {date}, {mach}, {n} images: `{cmd}`")
    lines.append("")
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of lossless images (default: Kodak)")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "classical")
    ap.add_argument("--codecs", nargs="+", help="codec names (default: every available one)")
    ap.add_argument("--qualities", help="comma-separated quality grid, replacing the codec's (one codec only)")
    ap.add_argument("--limit", type=int, help="use only the first N images")
    ap.add_argument("--anchor", type=Path, default=anchor_dir() / "jpeg.json", help="anchor for BD-rates")
    ap.add_argument("--readme-only", action="store_true", help="only rebuild README.md from the JSONs in --out")
    args = ap.parse_args(argv)
    if args.readme_only:
        try:
            write_readme(args.out, args.anchor)
        except RecError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {args.out / 'README.md'}")
        return 0

    try:
        codecs = [get_codec(n) for n in args.codecs] if args.codecs else all_codecs()
        grid = parse_qualities(args.qualities) if args.qualities else None
        if grid is not None and len(codecs) != 1:
            raise RecError("--qualities needs exactly one codec in --codecs")
        images = load_images(args.data, args.limit)
    except RecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    base_meta = {
        "source": "rec scripts/run_classical.py",
        "dataset": args.data.name,
        "images": len(images),
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "command": command,
    }
    print(f"{len(images)} images from {args.data}; {base_meta['machine']}")

    def on_point(result, point, seconds):
        print(format_point(result, point, seconds), flush=True)

    for codec in codecs:
        reason = codec.unavailable_reason()
        if reason is not None:
            print(f"skip {codec.name}: {reason}")
            continue
        print(f"{codec.name}: {codec.version()}", flush=True)
        result = evaluate_classical(codec, images, grid, meta=base_meta, progress=False, on_point=on_point)
        result.write(args.out)
        write_readme(args.out, args.anchor)
    write_readme(args.out, args.anchor)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)  # one process, one thread: the machine's other job keeps priority
    sys.exit(main())
