"""Regenerate results/level1_margin.md: the level-1 sampler's margin against rate and quality.

    python scripts/level1_margin.py [--model NAME] [--data ../shared/data/val] [--margins -2,-1,0] [--rates 0.3,1,2,6]

The model's own pair is used (the importance sampler, or an iso-KL model's budget sampler).

The margin sets how many index bits a group gets beyond its KL: less margin, fewer bits and a
more biased sample. Whether that pays depends on the rate, so for each β of the default model
and each margin every photo of ``--data`` (the validation set: not Kodak) is encoded and
decoded. The equal-quality rate change of a margin against margin 0 is read off the margin-0
curve: Δ = ln(bpp_m / bpp_0) − (PSNR_m − PSNR_0) / s, with s the slope dPSNR / d ln(bpp) of the
margin-0 points at the neighbouring β (negative Δ: the margin saves rate at equal PSNR).
With ``--ideal`` the table adds issue 16's two figures per margin: the median over the photos of
the bytes written against the KL (target ≤ 1.20) and of the PSNR gap to the ideal
reconstruction (an exact posterior sample; target ≤ 0.1 dB).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from rec.codec import compress
from rec.codecs.rec import base_samplers, with_level1_margin
from rec.evaluation.provenance import provenance
from rec.image import image_files, read_image
from rec.models.zoo import DEFAULT_MODEL, load_model

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "val"))
    ap.add_argument("--margins", default="-2,-1,0")
    ap.add_argument("--rates", default="0.3,1,2,6", help="β of the default model")
    ap.add_argument("--ideal", action="store_true", help="also the median bytes/KL and PSNR gap to the ideal")
    ap.add_argument("--out", default=str(ROOT / "results" / "level1_margin.md"))
    args = ap.parse_args(argv)
    images = [read_image(p) for p in image_files(args.data)]
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    pair = base_samplers(load_model(args.model))
    level2, level1 = pair.split(":")
    margins = [float(m) for m in args.margins.split(",")]
    rates = sorted(float(r) for r in args.rates.split(","))
    if 0.0 not in margins:
        margins.append(0.0)
    points, ideal = {}, {}
    for rate in rates:
        for margin in margins:
            spec = with_level1_margin(margin, pair)
            size, psnr, ratio, gap = 0, [], [], []
            for rgb in images:
                data = compress(rgb, model=args.model, samplers=spec, rate=rate, verify=True, ideal=args.ideal)
                r = data.report
                size += len(data)
                psnr.append(r.psnr)
                if args.ideal:
                    ratio.append(8 * r.bytes / r.kl_bits)
                    gap.append(r.ideal_psnr - r.psnr)
            points[rate, margin] = (8 * size / pixels, float(np.mean(psnr)))
            ideal[rate, margin] = (float(np.median(ratio)), float(np.median(gap))) if args.ideal else None
            print(rate, margin, points[rate, margin], flush=True)

    def slope(i: int) -> float:  # dPSNR / d ln(bpp) of the margin-0 curve around rates[i]
        j, k = max(0, i - 1), min(len(rates) - 1, i + 1)
        (b0, p0), (b1, p1) = points[rates[j], 0.0], points[rates[k], 0.0]
        return (p1 - p0) / math.log(b1 / b0)

    lines = ["# The level-1 margin", "", provenance(__file__, argv),
             f"Model `{args.model}`; level 2 `{level2}`, level 1 `{level1}` with the margin changed; "
             f"{len(images)} photos of {os.path.relpath(args.data, ROOT)}. Δ: the rate change at equal PSNR "
             "against margin 0 (read off the margin-0 curve's slope).", "",
             "| β | margin | bpp | PSNR (dB) | Δ rate at equal PSNR |" + (" bytes/KL (median) | gap to ideal (median dB) |" if args.ideal else ""),
             "|---|---|---|---|---|" + ("---|---|" if args.ideal else "")]
    for i, rate in enumerate(rates):
        b0, p0 = points[rate, 0.0]
        for margin in margins:
            b, p = points[rate, margin]
            delta = math.log(b / b0) - (p - p0) / slope(i)
            extra = "" if ideal[rate, margin] is None else " {:.3f} | {:+.3f} |".format(*ideal[rate, margin])
            lines.append(f"| {rate:g} | {margin:g} | {b:.4f} | {p:.3f} | {100 * delta:+.1f} % |{extra}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
