"""Regenerate results/level2_budget.md: the level-2 sampler's budget B against time and rate.

    python scripts/level2_budget.py [--data ../shared/data/val] [--bits 16,13,12] [--rates 2,8]

Level 2 (z2, 24 × h/64 × w/64) carries under 1 % of a file's bits, but importance sampling
it with 2**16 candidates per group took a quarter of the default encode. For each budget B
of the level-2 importance sampler (level 1 at its default) and each β of the default model,
every image of ``--data`` is encoded, decoded (the report's PSNR is the decoded image's)
and timed. The default is chosen on the validation photos, not on Kodak.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from rec.codec import DEFAULT_SAMPLERS, compress, parse_samplers
from rec.evaluation.provenance import provenance
from rec.image import image_files, read_image
from rec.models.zoo import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "val"))
    ap.add_argument("--bits", default="16,13,12")
    ap.add_argument("--rates", default="2,8", help="β of the default model")
    ap.add_argument("--out", default=str(ROOT / "results" / "level2_budget.md"))
    args = ap.parse_args(argv)
    images = [read_image(p) for p in image_files(args.data)]
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    level1 = DEFAULT_SAMPLERS.split(":")[1]
    compress(images[0], verify=False)  # numba compiles its kernels
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        for bits in (int(b) for b in args.bits.split(",")):
            spec = f"importance(bits={bits},max_group=256,margin=0,temper=8):{level1}"
            parse_samplers(spec)
            seconds, size, psnr, z2_bits, z2_kl = 0.0, 0, [], 0, 0.0
            for rgb in images:
                data = compress(rgb, samplers=spec, rate=rate, verify=True)
                seconds += data.report.encode_seconds
                size += len(data)
                psnr.append(data.report.psnr)
                z2_bits += data.report.levels[0].bits
                z2_kl += data.report.levels[0].kl_bits
            rows.append((rate, bits, seconds / pixels * 1e6, 8 * size / pixels, float(np.mean(psnr)), z2_bits / z2_kl,
                         z2_bits / (8 * size)))
            print(rows[-1], flush=True)
    lines = ["# The level-2 budget", "", provenance(__file__, argv),
             f"Model `{DEFAULT_MODEL}`; level 1 `{level1}`; {len(images)} photos of {os.path.relpath(args.data, ROOT)} "
             f"({pixels / 1e6:.2f} Mpx). Encode seconds per megapixel (networks included), bpp of the files, mean "
             "PSNR of the decoded images, level 2's bits over its KL and its share of the files.", "",
             "| β | level-2 B | encode s / Mpx | bpp | PSNR (dB) | z2 bits / KL | z2 share |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r:g} | {b} | {s:.2f} | {bpp:.4f} | {p:.3f} | {ratio:.3f} | {100 * share:.2f} % |"
              for r, b, s, bpp, p, ratio, share in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
