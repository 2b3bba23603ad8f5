"""Round trips of the mbt2018 reference on real photos at odd sizes (issue 17).

Random crops and resizes (Pillow's default filter) of the Kodak images to sizes drawn
from a range, each encoded and decoded with the shipped mbt2018 models; prints one line
per case and the failure count. Every file the encoder writes must decode to the
encoder's own reconstruction.

    python scripts/roundtrip_reference_sizes.py --models mbt2018-low mbt2018-mid --cases 4 \
        --min-width 952 --max-width 1560
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from rec import reference
from rec.errors import RecError
from rec.models.zoo import load_model


def cases(data: Path, n: int, rng: np.random.Generator, wmin: int, wmax: int, hmin: int, hmax: int):
    files = sorted(data.glob("*.png"))
    for _ in range(n):
        im = Image.open(files[rng.integers(len(files))]).convert("RGB")
        w, h = int(rng.integers(wmin, wmax + 1)), int(rng.integers(hmin, hmax + 1))
        if rng.random() < 0.5:  # a resize
            yield f"resize {w}x{h}", np.asarray(im.resize((w, h)))
        else:  # a crop of a resize to at least the size
            s = max(w / im.width, h / im.height, 1.0)
            im = im.resize((max(w, round(im.width * s)), max(h, round(im.height * s))))
            x0, y0 = int(rng.integers(im.width - w + 1)), int(rng.integers(im.height - h + 1))
            yield f"crop {w}x{h}", np.asarray(im.crop((x0, y0, x0 + w, y0 + h)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/kodak")
    ap.add_argument("--models", nargs="+", default=["mbt2018-low", "mbt2018-mid"])
    ap.add_argument("--cases", type=int, default=4, help="cases per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-width", type=int, default=952)
    ap.add_argument("--max-width", type=int, default=1560)
    ap.add_argument("--min-height", type=int, default=600)
    ap.add_argument("--max-height", type=int, default=1100)
    ap.add_argument("--kodim05", action="store_true", help="also the issue's reproducer: kodim05 resized to 1436×730")
    args = ap.parse_args(argv)
    failures = total = 0
    for name in args.models:
        model = load_model(name)
        rng = np.random.default_rng(args.seed)
        todo = list(cases(Path(args.data), args.cases, rng, args.min_width, args.max_width, args.min_height, args.max_height))
        if args.kodim05:
            im = Image.open(Path(args.data) / "kodim05.png").convert("RGB")
            todo.insert(0, ("kodim05 resize 1436x730", np.asarray(im.resize((1436, 730)))))
        for label, img in todo:
            t = time.perf_counter()
            try:
                enc = reference.encode(model, img)
                dec = reference.decode(model, enc.data)
                ok = np.array_equal(dec.image, enc.image)
                msg = "ok" if ok else "decoded to another image"
            except RecError as e:
                ok, msg = False, f"FAIL {e}"
            total += 1
            failures += not ok
            print(f"{name:14s} {label:28s} {msg} ({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"{failures} failures in {total} round trips")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
