"""Old files keep decoding: bitstreams made with a shipped model, pinned with their decoded pixels.

Regenerate deliberately with scripts/make_golden.py (and bump the format version) when the
format or the shipped model changes. Decoded pixels are pinned exactly (SHA-256); on another
CPU class network outputs may differ in their last bits, so a mismatch of the hash is
accepted only within max |Δ| ≤ 1 and PSNR ≥ 60 dB of the pinned decoded image.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rec.codec import compress, decompress
from rec.models.zoo import list_models

GOLDEN = Path(__file__).parent / "data" / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text()) if (GOLDEN / "manifest.json").exists() else None

pytestmark = pytest.mark.skipif(MANIFEST is None, reason="no golden files")


def test_the_golden_models_are_shipped_unchanged():
    entries = {e.name: e for e in list_models()}
    for model, sha256 in MANIFEST["models"].items():
        assert model in entries, f"the golden files' model {model} is no longer shipped: regenerate them deliberately"
        assert entries[model].sha256 == sha256, f"the weights of {model} changed: regenerate the golden files"


@pytest.mark.parametrize("case", MANIFEST["cases"] if MANIFEST else [], ids=lambda c: c["name"])
def test_golden_file_decodes_to_the_pinned_pixels(case):
    data = (GOLDEN / f"{case['name']}.rec").read_bytes()
    assert len(data) == case["bytes"]
    decoded = decompress(data)
    if hashlib.sha256(decoded.tobytes()).hexdigest() == case["decoded_sha256"]:
        # same machine class: encoding the source again gives the same bytes
        source = np.asarray(Image.open(GOLDEN / f"{case['name']}.png"))
        again = compress(source, model=case["model"], samplers=case["samplers"], seed=case["seed"], rate=case["rate"], verify=False)
        assert bytes(again) == data
        return
    pinned = np.asarray(Image.open(GOLDEN / f"{case['name']}.decoded.png")).astype(int)
    diff = np.abs(decoded.astype(int) - pinned)
    mse = np.mean(diff**2)
    assert diff.max() <= 1 and (mse == 0 or 10 * np.log10(255**2 / mse) >= 60)
