"""rec.evaluation.mentzer_ablation: Table 1 of Mentzer et al. 2018 on a tiny model's symbols."""

import json

import numpy as np
import pytest

from rec.codecs.mentzer2018 import encode
from rec.evaluation.mentzer_ablation import ablation, image_symbols
from tests.conftest import smooth_image
from tests.helpers import tiny_mentzer


def test_the_four_probability_models_price_the_same_coded_symbols():
    net = tiny_mentzer(M=6, gain=40.0)
    images = [smooth_image(np.random.default_rng(seed), 64, 80) for seed in (1, 2)]  # one size: pooled = mean
    symbols = [image_symbols(net, f"im{i}", rgb) for i, rgb in enumerate(images)]
    rows = {r.model: r.bpp for r in ablation(symbols, net.config.L)}
    assert list(rows) == ["uniform", "zeroth order", "first order", "context model"]
    coded = np.mean([s.coded.sum() for s in symbols])
    assert 0 < coded < symbols[0].symbols.size  # the importance map leaves some voxels out
    assert rows["uniform"] == pytest.approx(coded * np.log2(net.config.L) / (64 * 80))
    # plug-in entropies of the pooled symbols: conditioning never adds bits, nor does the marginal over log2 L
    assert rows["first order"] <= rows["zeroth order"] + 1e-9 <= rows["uniform"] + 2e-9
    # the context model's bits are what the codec estimates (its integer probabilities move them slightly)
    estimate = np.mean([encode(net, rgb).estimated_bits for rgb in images]) / (64 * 80)
    assert rows["context model"] == pytest.approx(estimate, rel=0.02)


def test_the_study_script_writes_bits_table_1_and_times(empty_zoo, tmp_path):
    """scripts/mentzer_study.py on tiny models installed under the study's names, with rec eval's curves."""
    from PIL import Image

    from rec.evaluation.runner import evaluate, write_results
    from tests.helpers import install, lively_mbt, load_script

    install(empty_zoo, "mentzer2018-msssim-mid", tiny_mentzer(M=6, gain=40.0, distortion="ms-ssim", target_bpp=0.35))
    install(empty_zoo, "mentzer2018-mse-mid", tiny_mentzer(M=6, gain=20.0, target_bpp=0.35))
    install(empty_zoo, "mbt2018-mid", lively_mbt())
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    for seed, (h, w) in ((1, (64, 80)), (2, (48, 72))):
        Image.fromarray(smooth_image(np.random.default_rng(seed), h, w)).save(kodak / f"kodim{seed:02d}.png")
    results = tmp_path / "results"
    write_results(evaluate(str(kodak), ["mentzer2018", "mbt2018"], progress=False, log=lambda m: None), results / "rec")
    out = tmp_path / "out"
    script = load_script("mentzer_study")
    assert script.main(["--kodak", str(kodak), "--out", str(out), "--results", str(results)]) == 0
    bits = json.loads((out / "bits.json").read_text())["models"]
    assert sorted(r["model"] for r in bits) == ["mentzer2018-mse-mid", "mentzer2018-msssim-mid"]
    assert all(1.0 <= r["payload_over_estimate_max"] < 1.5 and r["network_steps_mean"] > 0 for r in bits)
    (first, _) = json.loads((out / "ablation.json").read_text())["models"]
    assert list(first["rows"]) == ["uniform", "zeroth order", "first order", "context model"] and first["map_bpp"] > 0
    timing = json.loads((out / "timing.json").read_text())["models"]
    assert list(timing) == ["mentzer2018-msssim-mid", "mbt2018-mid"]
    assert timing["mentzer2018-msssim-mid"]["network_steps"] > timing["mbt2018-mid"]["network_steps"] > 0
    text = (out / "README.md").read_text()
    assert "| mentzer2018, ms-ssim | 0.35 |" in text and "| mentzer2018, mse | 0.35 |" in text
    assert "mbt2018 (per-rate models)" in text and "## Table 1" in text and "network steps per image" in text
