"""rec.evaluation.mentzer_ablation: Table 1 of Mentzer et al. 2018 on a tiny model's symbols."""

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


def test_the_script_writes_table_1_for_an_installed_model(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from rec.models import zoo
    from tests.helpers import install, load_script

    user = tmp_path / "zoo"
    user.mkdir()
    install(user, "mentzer-test", tiny_mentzer(M=6, gain=40.0))
    monkeypatch.setenv("REC_ZOO", str(user))
    zoo.load_model.cache_clear()
    data = tmp_path / "images"
    data.mkdir()
    for seed in (1, 2):
        Image.fromarray(smooth_image(np.random.default_rng(seed), 64, 80)).save(data / f"im{seed}.png")
    out = tmp_path / "ablation.md"
    script = load_script("mentzer_ablation")
    assert script.main(["--kodak", str(data), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## `mentzer-test`" in text and "| uniform |" in text and "| context model |" in text
    assert "(importance map, coded apart)" in text
    zoo.load_model.cache_clear()
