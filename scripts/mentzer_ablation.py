"""Regenerate results/mentzer_ablation.md: Table 1 of Mentzer et al. 2018 on our mentzer2018 models.

    python scripts/mentzer_ablation.py [--kodak DIR] [--models a,b] [--limit N]

For each installed mentzer2018 model (or those of ``--models``), the same autoencoder's coded
symbols on Kodak priced by a uniform, a zeroth-order, a first-order and the 3D-CNN context
model (:mod:`rec.evaluation.mentzer_ablation`), in bpp, beside the importance map's bits.
With no mentzer2018 model installed it says so and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from rec.codec import resolve_model
from rec.codecs import codec_for_kind
from rec.codecs.mentzer2018 import encode_map
from rec.evaluation.mentzer_ablation import ablation, image_symbols
from rec.evaluation.model_choice import zoo_models
from rec.evaluation.provenance import provenance
from rec.image import LOSSLESS_SUFFIXES, image_files, read_image

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--models", help="comma-separated model names (default: every installed mentzer2018 model)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images")
    ap.add_argument("--out", default=str(ROOT / "results" / "mentzer_ablation.md"))
    args = ap.parse_args(argv)
    names = args.models.split(",") if args.models else zoo_models("mentzer2018")
    if not names:
        print("no mentzer2018 model installed (scripts/train_zoo.py trains them): nothing to report")
        return 0
    paths = image_files(args.kodak, LOSSLESS_SUFFIXES)[: args.limit or None]
    images = [(p.name, read_image(p)) for p in paths]
    lines = ["# Mentzer et al. 2018, Table 1, on our models", "", provenance(__file__, argv),
             f"{len(images)} images of {os.path.relpath(args.kodak, ROOT)}. Bits per pixel of the coded symbols "
             "(those the importance map keeps) under four probability models of the same autoencoder "
             "(rec.evaluation.mentzer_ablation); the importance map's own bits apart.", ""]
    for name in names:
        net = resolve_model(name)
        if codec_for_kind(net.config.kind).codec_id != "mentzer2018":
            raise SystemExit(f"{name} is not a mentzer2018 model")
        symbols = [image_symbols(net, n, rgb) for n, rgb in images]
        map_bpp = np.mean([8 * len(encode_map(s.depth, net.config.M)[0]) / s.pixels for s in symbols])
        lines += [f"## `{name}`", "", "| probability model | bpp |", "|---|---|"]
        lines += [f"| {row.model} | {row.bpp:.4f} |" for row in ablation(symbols, net.config.L)]
        lines += [f"| (importance map, coded apart) | {map_bpp:.4f} |", ""]
        print(f"{name}: done", flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
