"""Regenerate tests/data/golden/: small images coded with shipped models, for tests/test_golden.py.

    python scripts/make_golden.py [--model NAME] [--reference NAME] [--reference-only]

Run it deliberately, when the format version, a sampler's message layout or the shipped
model changes: old files then stop decoding, and that is what the golden test guards. Files of
an older format version stay in a subfolder (tests/data/golden/v1/: format 1), which this
script leaves alone: they must keep decoding.
Writes, per case, the source PNG, the .rec file and the decoded PNG, and manifest.json with
the SHA-256 of the decoded pixels, each case's model and rate, the models' weights hashes and
the machine. Cases: the REC model (default: the zoo's default) with five sampler pairs and, if
it is variable-rate, at another rate; the reference (default: the zoo's variable-rate mbt2018,
else its first) once, at another rate if it is variable-rate. ``--reference-only`` replaces the reference's
case and keeps the REC cases (and the machine they were made on) as they are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rec.codec import compress, decompress
from rec.codecs.rec import DEFAULT_SAMPLERS
from rec.image import read_image
from rec.models.zoo import DEFAULT_MODEL, get_entry, list_models, load_model

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "golden"
# (name, top, left, height, width, samplers, seed): crops of the bundled sample photo, for the REC model
CASES = [
    ("parrot-64x48", 200, 300, 48, 64, None, 0),
    ("beak-7x5", 260, 420, 5, 7, None, 1),
    ("feathers-96x80-isgs", 100, 100, 80, 96, "importance:greedy(bits=6,shards=4)", 2),
    ("eye-40x40-rs", 150, 500, 40, 40, "rejection(bits=6):rejection(bits=6,table=adaptive)", 3),
    ("wing-88x72-is", 300, 150, 72, 88, DEFAULT_SAMPLERS, 5),  # the importance sampler on level 1 (an iso-KL default codes it with the budget sampler)
]
#: A variable-rate model's extra case, at the geometric mean of its range; the reference's case.
RATE_CASE = ("parrot-64x48-rate", 200, 300, 48, 64, None, 4)
REFERENCE_CASE = ("head-72x56-reference", 120, 260, 56, 72, None, 0)


def middle_rate(model: str) -> float | None:
    span = load_model(model).config.rate_range
    return None if span is None else round(float(np.sqrt(span[0] * span[1])), 6)


def pixels_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--reference", default=next((e.name for e in sorted(list_models(), key=lambda e: e.config.rate_range is None)
                                                   if e.kind == "mbt2018"), None), help="default: the variable-rate mbt2018")
    ap.add_argument("--reference-only", action="store_true", help="keep the REC cases, redo the reference's")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    photo = read_image(ROOT / "rec" / "data" / "kodim23.png")
    todo, kept = [], []
    if args.reference_only:
        old = json.loads((OUT / "manifest.json").read_text())
        kept = [c for c in old["cases"] if c["name"] != REFERENCE_CASE[0]]
        for f in OUT.glob(f"{REFERENCE_CASE[0]}.*"):
            f.unlink()
    else:
        for f in OUT.glob("*.*"):  # files only: the older formats' subfolders stay
            f.unlink()
        todo = [(case, args.model, None) for case in CASES]
        if middle_rate(args.model) is not None:
            todo.append((RATE_CASE, args.model, middle_rate(args.model)))
    if args.reference:
        todo.append((REFERENCE_CASE, args.reference, middle_rate(args.reference)))
    models = dict.fromkeys([c["model"] for c in kept] + [m for _, m, _ in todo])
    # the torch kernels' instruction set: encoders whose float layout (the importance sampler's groups) moves
    # with the last bits of the networks re-encode to the same bytes only on the same class of CPU
    manifest = {"models": {m: get_entry(m).sha256 for m in models}, "machine": platform.machine(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cases": kept}
    for (name, top, left, h, w, samplers, seed), model, rate in todo:
        rgb = photo[top : top + h, left : left + w]
        Image.fromarray(rgb).save(OUT / f"{name}.png")
        data = compress(rgb, model=model, samplers=samplers, seed=seed, rate=rate, verify=False)
        (OUT / f"{name}.rec").write_bytes(data)
        decoded = decompress(bytes(data))
        Image.fromarray(decoded).save(OUT / f"{name}.decoded.png")
        manifest["cases"].append({"name": name, "model": model, "rate": rate, "samplers": samplers, "seed": seed,
                                  "bytes": len(data), "decoded_sha256": pixels_sha256(decoded)})
        print(name, model, rate, len(data), "bytes")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
