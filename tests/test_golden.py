"""Old files keep decoding: bitstreams made with a shipped model, pinned with their decoded pixels.

Regenerate deliberately with scripts/make_golden.py (and bump the format version) when the
format or the shipped model changes. Decoded pixels are pinned exactly (SHA-256); on another
CPU class network outputs may differ in their last bits, so a mismatch of the hash is
accepted only within max |Δ| ≤ 1 and PSNR ≥ 60 dB of the pinned decoded image. Encoding the
source again is compared with the file only on the CPU class the files were made on (the
manifest's torch ``cpu_capability``): elsewhere the importance sampler's float layout may
group differently, and the file is still a valid one.

tests/data/golden/ holds files of the current format; v1/ those of format 1, written before
format 2 and kept: they decode as they did, and coding their source again gives the same
header (but for the shorter model hash) and the same sections, only framed in format 2.
"""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rec.codec import compress, decompress
from rec.container import FORMAT_VERSION, HASH_BYTES, Container
from rec.models.zoo import list_models
from rec.samplers import make

GOLDEN = Path(__file__).parent / "data" / "golden"
FOLDERS = {FORMAT_VERSION: GOLDEN, 1: GOLDEN / "v1"}
MANIFESTS = {version: json.loads((folder / "manifest.json").read_text())
             for version, folder in FOLDERS.items() if (folder / "manifest.json").exists()}
CASES = [(version, case) for version, manifest in MANIFESTS.items() for case in manifest["cases"]]

pytestmark = pytest.mark.skipif(FORMAT_VERSION not in MANIFESTS, reason="no golden files")


@pytest.mark.parametrize("version", sorted(MANIFESTS))
def test_the_golden_models_are_shipped_unchanged(version):
    entries = {e.name: e for e in list_models()}
    for model, sha256 in MANIFESTS[version]["models"].items():
        assert model in entries, f"the golden files' model {model} is no longer shipped: regenerate them deliberately"
        assert entries[model].sha256 == sha256, f"the weights of {model} changed: regenerate the golden files"


@pytest.mark.parametrize("version, case", CASES, ids=[f"v{v}-{c['name']}" for v, c in CASES])
def test_golden_file_decodes_to_the_pinned_pixels(version, case):
    folder = FOLDERS[version]
    data = (folder / f"{case['name']}.rec").read_bytes()
    assert len(data) == case["bytes"] and data[4] == version
    decoded = decompress(data)
    same_class = MANIFESTS[version].get("cpu_capability") == torch.backends.cpu.get_cpu_capability()
    if hashlib.sha256(decoded.tobytes()).hexdigest() == case["decoded_sha256"] and same_class:
        # same machine class: encoding the source again gives the same bytes (an older format: the same content,
        # coded with the samplers its header names, since a model's own pair may have changed since)
        source = np.asarray(Image.open(folder / f"{case['name']}.png"))
        old = Container.from_bytes(data)
        samplers = case["samplers"]
        if version != FORMAT_VERSION and old.header.codec_id == "rec":
            samplers = tuple(make(spec.name, **spec.as_dict()) for spec in old.header.samplers)
        again = compress(source, model=case["model"], samplers=samplers, seed=case["seed"], rate=case["rate"], verify=False)
        if version == FORMAT_VERSION:
            assert bytes(again) == data
        else:
            new = Container.from_bytes(bytes(again))
            assert new.sections == old.sections
            assert new.header == replace(old.header, model_hash=old.header.model_hash[:HASH_BYTES])
        return
    pinned = np.asarray(Image.open(folder / f"{case['name']}.decoded.png")).astype(int)
    diff = np.abs(decoded.astype(int) - pinned)
    mse = np.mean(diff**2)
    assert diff.max() <= 1 and (mse == 0 or 10 * np.log10(255**2 / mse) >= 60)
