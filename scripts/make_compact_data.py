"""Write a compact copy of a training folder (JPEG, quality 95, 4:4:4) that travels with the code.

The device machine gets only the repository (64 MiB at most, see scripts/train_device.py),
not ../shared; this copy of the 248 training photos is about a fifth of the PNGs' size.

    python scripts/make_compact_data.py ../shared/data/train data/train-compact   # ≤ 40 MiB
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from rec.image import image_files

LIMIT = 40 << 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--quality", type=int, default=95)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = image_files(args.source)
    total = 0
    for p in files:
        target = out / f"{p.stem}.jpg"
        Image.open(p).convert("RGB").save(target, quality=args.quality, subsampling=0)
        total += target.stat().st_size
    print(f"{len(files)} images, {total / 2**20:.1f} MiB in {out}")
    if total > LIMIT:
        raise SystemExit(f"the compact set is over {LIMIT >> 20} MiB: lower --quality")


if __name__ == "__main__":
    main()
