"""scripts/eval_variable_rate.py: a variable-rate model's curve over its rates, ideal and coded."""

import json

import numpy as np
from PIL import Image

from tests.conftest import smooth_image
from tests.helpers import install, load_script, tiny_variable_rate_model


def test_the_script_writes_ideal_and_coded_curves_of_a_variable_rate_model(tmp_path, empty_zoo):
    install(empty_zoo, "tiny-vr-0", tiny_variable_rate_model(0))
    data = tmp_path / "photos"
    data.mkdir()
    rng = np.random.default_rng(2)
    for i, (h, w) in enumerate([(170, 190), (165, 201)]):  # MS-SSIM needs 161 px a side; odd sizes
        Image.fromarray(smooth_image(rng, h, w)).save(data / f"p{i}.png")
    script = load_script("eval_variable_rate")
    out = tmp_path / "results"
    script.main(["--model", "tiny-vr-0", "--data", str(data), "--rates", "0.2,3", "--coded", "--out", str(out)])
    curve = json.loads((out / "rec" / "rec-tiny-vr-0.json").read_text())
    r, meta = curve["results"], curve["meta"]
    assert r["beta"] == [3.0, 0.2] and meta["rates"] == [3.0, 0.2] and meta["rate_parameter"] == "beta"
    assert meta["kl_bpp"] == sorted(meta["kl_bpp"]) and r["kl_bpp"] == meta["kl_bpp"]  # sorted by KL
    assert all(b > k for b, k in zip(r["bpp"], r["kl_bpp"]))  # the file costs more than the KL
    assert all(b >= k for b, k in zip(r["bound_bpp"], r["kl_bpp"]))
    assert len(r["ideal_psnr"]) == len(r["psnr-rgb"]) == 2 and all(np.isfinite(r["psnr-rgb"])) and all(np.isfinite(r["ideal_psnr"]))
    table = (out / "variable_rate_tiny-vr-0.md").read_text()
    assert "| 3 |" in table and "| 0.2 |" in table and "Rate monotone in β" in table


def test_the_likelihood_comparison_tables_each_model_and_its_bd_rate(tmp_path, empty_zoo):
    """scripts/compare_likelihood.py: each model's ideal points, as eval_variable_rate measures them, and a BD row."""
    for seed in (0, 1):
        install(empty_zoo, f"tiny-vr-{seed}", tiny_variable_rate_model(seed))
    data = tmp_path / "photos"
    data.mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(3), 181, 163)).save(data / "p.png")
    out = tmp_path / "likelihood.md"
    script = load_script("compare_likelihood")
    script.main(["--models", "tiny-vr-0", "tiny-vr-1", "--labels", "a", "b", "--data", str(data), "--rates", "0.1,4",
                 "--coded", "--note", "how they were trained", "--out", str(out)])
    md = out.read_text()
    assert md.count("| β | KL bpp |") == 2 and "1 images of" in md and "how they were trained" in md
    assert md.count("bpp written | written/KL |") == 2 and "coded curves" in md and "ideal curves" in md
    from rec.codec import resolve_model
    from rec.image import read_image

    expected = script.ideal_row(resolve_model("tiny-vr-1"), [read_image(data / "p.png")], 4.0)
    assert f"| 4 | {expected['kl_bpp']:.3f} | {expected['ideal_psnr']:.2f} |" in md.split("## b")[1]
    assert md.splitlines()[-1].startswith("| b |")
