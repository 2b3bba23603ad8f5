"""Regenerate tests/data/golden/: small images coded with a shipped model, for tests/test_golden.py.

    python scripts/make_golden.py [--model NAME]

Run it deliberately, when the format version, a sampler's message layout or the shipped
model changes: old files then stop decoding, and that is what the golden test guards.
Writes, per case, the source PNG, the .rec file and the decoded PNG, and manifest.json with
the SHA-256 of the decoded pixels, the model, its weights hash and the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from pathlib import Path

import numpy as np
from PIL import Image

from rec.codec import compress, decompress
from rec.image import read_image
from rec.models.zoo import DEFAULT_MODEL, get_entry

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "golden"
# (name, top, left, height, width, samplers, seed): crops of the bundled sample photo
CASES = [
    ("parrot-64x48", 200, 300, 48, 64, None, 0),
    ("beak-7x5", 260, 420, 5, 7, None, 1),
    ("feathers-96x80-isgs", 100, 100, 80, 96, "importance:greedy(bits=6,shards=4)", 2),
    ("eye-40x40-rs", 150, 500, 40, 40, "rejection(bits=6):rejection(bits=6,table=adaptive)", 3),
]


def pixels_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    photo = read_image(ROOT / "rec" / "data" / "kodim23.png")
    manifest = {"model": args.model, "weights_sha256": get_entry(args.model).sha256, "machine": platform.machine(), "cases": []}
    for name, top, left, h, w, samplers, seed in CASES:
        rgb = photo[top : top + h, left : left + w]
        Image.fromarray(rgb).save(OUT / f"{name}.png")
        data = compress(rgb, model=args.model, samplers=samplers, seed=seed, verify=False)
        (OUT / f"{name}.rec").write_bytes(data)
        decoded = decompress(bytes(data))
        Image.fromarray(decoded).save(OUT / f"{name}.decoded.png")
        manifest["cases"].append({"name": name, "samplers": samplers, "seed": seed, "bytes": len(data),
                                  "decoded_sha256": pixels_sha256(decoded)})
        print(name, len(data), "bytes")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
