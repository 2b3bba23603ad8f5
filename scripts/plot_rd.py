"""Plot rate-distortion curves on Kodak: RGB PSNR and MS-SSIM (dB) against bpp.

Usage:
    python scripts/plot_rd.py RESULT.json [RESULT.json ...] --out rd.png
                              [--anchors jpeg webp ...|none] [--anchor-dir DIR]
                              [--xmax 2.0] [--title TEXT]

Every RESULT.json (CompressAI results format, e.g. ``results/classical/*.json`` or our
codec's) is drawn as measured here, the published anchors (file stems in
``rec/evaluation/anchors/kodak``) dashed: :func:`rec.evaluation.rd_plot.plot_rd`. Two panels,
written to ``--out`` (PNG) and beside it as SVG.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rec.errors import RecError
from rec.evaluation.rd_plot import DEFAULT_ANCHORS, plot_rd
from rec.evaluation.results import anchor_dir, load_anchor, load_curve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="*", type=Path, help="CompressAI-format result JSON files")
    ap.add_argument("--out", type=Path, required=True, help="PNG file to write (and an SVG beside it)")
    ap.add_argument(
        "--anchors",
        nargs="+",
        default=list(DEFAULT_ANCHORS),
        help=f"anchor names (file stems), or 'none' (default: {' '.join(DEFAULT_ANCHORS)})",
    )
    ap.add_argument("--anchor-dir", type=Path, default=None, help=f"default: {anchor_dir()}")
    ap.add_argument("--xmax", type=float, default=2.0, help="largest bpp shown (default 2)")
    ap.add_argument("--title", default="Kodak (24 images)")
    args = ap.parse_args(argv)
    try:
        curves = [load_curve(p) for p in args.results]
        names = [] if args.anchors == ["none"] else args.anchors
        anchors = [load_anchor(n, args.anchor_dir) for n in names]
        if not curves and not anchors:
            raise RecError("nothing to plot: give result files or anchors")
        if args.xmax <= 0:
            raise RecError("--xmax must be positive")
        plot_rd(curves, anchors, args.out, args.xmax, args.title)
    except RecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
