"""Regenerate results/level1_guide*.md (and level1_margin_vr4.md): the level-1 sampler's margin (and distortion guide) against rate and quality.

    python scripts/level1_margin.py [--model NAME] [--data ../shared/data/val] [--margins -2,-1,0] [--rates 0.3,1,2,6]
                                    [--guides 0,0.125] [--ideal]

The model's own pair is used (the importance sampler, or an iso-KL model's budget sampler).

The margin sets how many index bits a group gets beyond its KL: less margin, fewer bits and a
more biased sample. Whether that pays depends on the rate, so for each β of the default model
and each margin every photo of ``--data`` (the validation set: not Kodak) is encoded and
decoded. The equal-quality rate change of a margin against margin 0 is read off the margin-0
curve: Δ = ln(bpp_m / bpp_0) − (PSNR_m − PSNR_0) / s, with s the slope dPSNR / d ln(bpp) of the
margin-0 points at the neighbouring β (negative Δ: the margin saves rate at equal PSNR).
With ``--guides`` every margin is also tried with those strengths of the distortion-guided
selection (rec.samplers.base.guided_coefficients; Δ still against margin 0 without a guide).
With ``--ideal`` the table adds issue 16's two figures per setting: the median over the photos of
the bytes written against the KL (target ≤ 1.20) and of the PSNR gap to the ideal
reconstruction (an exact posterior sample; target ≤ 0.1 dB), and the rate against the ideal
curve at equal PSNR, what the coded curve's BD-rate against its ideal integrates:
ln(bpp / KL bpp) − (PSNR − ideal PSNR) / s_ideal, s_ideal the ideal points' slope at the
neighbouring β; the best setting per β is marked.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from rec.codec import compress
from rec.codecs.rec import base_samplers, with_level1_knobs
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
    ap.add_argument("--guides", default="0", help="strengths of the distortion guide to try with each margin")
    ap.add_argument("--ideal", action="store_true", help="also the median bytes/KL and PSNR gap to the ideal")
    ap.add_argument("--out", default=str(ROOT / "results" / "level1_guide.md"))
    args = ap.parse_args(argv)
    images = [read_image(p) for p in image_files(args.data)]
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    pair = base_samplers(load_model(args.model))
    level2, level1 = pair.split(":")
    margins = [float(m) for m in args.margins.split(",")]
    guides = [float(g) for g in args.guides.split(",")]
    rates = sorted(float(r) for r in args.rates.split(","))
    settings = [(m, g) for m in margins for g in guides]
    if (0.0, 0.0) not in settings:
        settings.insert(0, (0.0, 0.0))
    points, ideal, ideal_curve = {}, {}, {}
    for rate in rates:
        for margin, guide in settings:
            spec = with_level1_knobs(margin, pair, guide=guide)
            size, psnr, ratio, gap, kl, ideal_psnr = 0, [], [], [], 0.0, []
            for rgb in images:
                data = compress(rgb, model=args.model, samplers=spec, rate=rate, verify=True, ideal=args.ideal)
                r = data.report
                size += len(data)
                psnr.append(r.psnr)
                if args.ideal:
                    ratio.append(8 * r.bytes / r.kl_bits)
                    gap.append(r.ideal_psnr - r.psnr)
                    kl += r.kl_bits
                    ideal_psnr.append(r.ideal_psnr)
            points[rate, margin, guide] = (8 * size / pixels, float(np.mean(psnr)))
            if args.ideal:
                ideal[rate, margin, guide] = (float(np.median(ratio)), float(np.median(gap)))
                ideal_curve[rate] = (kl / pixels, float(np.mean(ideal_psnr)))  # the same for every setting
            print(rate, margin, guide, points[rate, margin, guide], flush=True)

    def slope(i: int, curve) -> float:  # dPSNR / d ln(bpp) of a curve {β: (bpp, PSNR)} around rates[i]
        j, k = max(0, i - 1), min(len(rates) - 1, i + 1)
        (b0, p0), (b1, p1) = curve[rates[j]], curve[rates[k]]
        return (p1 - p0) / math.log(b1 / b0)

    reference = {rate: points[rate, 0.0, 0.0] for rate in rates}

    lines = ["# The level-1 margin" + (" and distortion guide" if guides != [0.0] else ""), "", provenance(__file__, argv),
             f"Model `{args.model}`; level 2 `{level2}`, level 1 `{level1}` with the margin (and guide) changed; "
             f"{len(images)} photos of {os.path.relpath(args.data, ROOT)}. Δ: the rate change at equal PSNR "
             "against margin 0 without a guide (read off that curve's slope)"
             + ("; vs ideal: the rate against the ideal curve at equal PSNR (**bold**: the least per β)." if args.ideal else "."), "",
             "| β | margin | guide | bpp | PSNR (dB) | Δ rate at equal PSNR |"
             + (" bytes/KL (median) | gap to ideal (median dB) | vs ideal |" if args.ideal else ""),
             "|---|---|---|---|---|---|" + ("---|---|---|" if args.ideal else "")]
    for i, rate in enumerate(rates):
        b0, p0 = reference[rate]
        if args.ideal:
            kl_bpp, ideal_db = ideal_curve[rate]
            s_ideal = slope(i, ideal_curve)
            versus = {key: math.exp(math.log(points[rate, *key][0] / kl_bpp) - (points[rate, *key][1] - ideal_db) / s_ideal)
                      for key in settings}
            best = min(versus, key=versus.get)
        for margin, guide in settings:
            b, p = points[rate, margin, guide]
            delta = math.log(b / b0) - (p - p0) / slope(i, reference)
            extra = ""
            if args.ideal:
                vs = f"{versus[margin, guide]:.3f}"
                extra = " {:.3f} | {:+.3f} | {} |".format(*ideal[rate, margin, guide], f"**{vs}**" if (margin, guide) == best else vs)
            lines.append(f"| {rate:g} | {margin:g} | {guide:g} | {b:.4f} | {p:.3f} | {100 * delta:+.1f} % |{extra}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
