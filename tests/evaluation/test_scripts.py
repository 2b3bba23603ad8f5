"""Smoke tests of scripts/run_classical.py and scripts/plot_rd.py on generated images."""

import json

import pytest
from PIL import Image

from rec.evaluation.results import RDCurve, load_curve, save_curve
from tests.helpers import install, lively_mbt, load_script


@pytest.fixture
def anchors(tmp_path):
    d = tmp_path / "anchors"
    d.mkdir()
    jpeg = RDCurve(name="JPEG", bpp=[0.5, 1.0, 2.0, 4.0], psnr=[22, 27, 32, 38], ms_ssim=[0.8, 0.9, 0.96, 0.99])
    save_curve(jpeg, d / "jpeg.json")
    save_curve(RDCurve(name="paper", bpp=[0.5, 1.0], psnr=[30, 33]), d / "paper-x.json")
    return d


def test_run_classical_writes_json_csv_and_readme(tmp_path, anchors, make_image):
    data = tmp_path / "images"
    data.mkdir()
    for i in range(2):
        Image.fromarray(make_image(10 + i, 176, 168)).save(data / f"im{i}.png")
    out = tmp_path / "out"
    run = load_script("run_classical")
    argv = ["--data", str(data), "--out", str(out), "--codecs", "jpeg", "--qualities", "20,60", "--anchor", str(anchors / "jpeg.json")]
    assert run.main(argv) == 0
    curve = load_curve(out / "jpeg.json")
    assert curve.extra["quality"] == (20.0, 60.0)
    assert curve.bpp[0] < curve.bpp[1] and curve.psnr[0] < curve.psnr[1]
    assert curve.meta["images"] == 2 and curve.meta["library"].startswith("Pillow")
    assert len((out / "jpeg.per_image.csv").read_text().splitlines()) == 1 + 2 * 2
    readme = (out / "README.md").read_text()
    assert "| `jpeg` JPEG 4:2:0 (Pillow)" in readme and "Sanity check" in readme


def test_run_classical_rejects_bad_arguments(tmp_path):
    run = load_script("run_classical")
    (tmp_path / "empty").mkdir()
    assert run.main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert run.main(["--codecs", "nope", "--out", str(tmp_path / "o")]) == 2
    assert run.main(["--codecs", "jpeg", "webp", "--qualities", "5", "--out", str(tmp_path / "o")]) == 2


def test_plot_rd_writes_png_and_svg_with_the_ideal_curve_and_published_labels(tmp_path, anchors):
    pytest.importorskip("matplotlib")
    plot = load_script("plot_rd")
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(RDCurve(name="ours", bpp=[0.3, 0.8], psnr=[29, 33], ms_ssim=[0.93, 0.97],
                                       extra={"kl_bpp": [0.2, 0.6], "ideal_psnr": [29.5, 33.4],
                                              "ideal_ms_ssim": [0.94, 0.975]}).to_json()))
    png = tmp_path / "rd.png"
    assert plot.main([str(ours), "--out", str(png), "--anchor-dir", str(anchors), "--anchors", "jpeg", "paper-x"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = png.with_suffix(".svg").read_text()
    assert "ours, ideal (KL rate, exact sample)" in svg and "(published)" in svg and "measured here" in svg
    assert plot.main([str(ours), "--out", str(png), "--anchor-dir", str(anchors), "--anchors", "vtm"]) == 2


def test_reference_report_figures_and_no_model_exit(tmp_path, make_image, empty_zoo, capsys):
    """scripts/reference_report.py on a tiny mbt2018 model of a temporary zoo and two generated images."""
    pytest.importorskip("matplotlib")
    from rec.evaluation.runner import evaluate_mbt2018, load_images

    zoo_path = empty_zoo
    data = tmp_path / "kodak"
    data.mkdir()
    for i in range(2):
        Image.fromarray(make_image(20 + i, 176, 192)).save(data / f"kodim{i + 1:02d}.png")
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    save_curve(RDCurve(name="official mbt2018", bpp=[0.1, 0.5, 1.0], psnr=[27, 33, 37]), anchors / "paper-mbt2018.json")
    report = load_script("reference_report")
    md, png = tmp_path / "out" / "reference.md", tmp_path / "out" / "reference_rd.png"
    common = ["--kodak", str(data), "--out", str(md), "--plot", str(png), "--anchor-dir", str(anchors), "--seeds", "2"]

    assert report.main(common) == 1  # the zoo has no mbt2018 model: nothing written
    assert "no mbt2018 model installed" in capsys.readouterr().err and not md.exists()

    install(zoo_path, "mbt-test", lively_mbt())
    assert report.main(common) == 0
    text = md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "![RD" in text and "reference_rd.png" in text
    for heading in ("## Models", "## Rate-distortion and the bits of y and z", "## Fragility", "## Oracle"):
        assert heading in text
    models_row, row = [line for line in text.splitlines() if line.startswith("| `mbt-test` | 0.013 |")][:2]
    assert models_row.startswith("| `mbt-test` | 0.013 | 8 | 6 | 8 | 8 | 0 |")  # the zoo entry: λ, N, M, F, G, steps
    bpp, bpp_y, bpp_z, header = (float(v) for v in row.split("|")[3:7])
    assert bpp > 0 and bpp_y > 0 and bpp_z > 0 and bpp == pytest.approx(bpp_y + bpp_z + header, abs=2e-4)
    assert "| `mbt-test` | 64-entry scale table (the codec) | 4 |" in text  # 2 images × 2 seeds
    assert "same number of bytes as the RD measurement for 2 of 2" in text
    assert "wavefront" in text and "machine:" in text and "`python scripts/reference_report.py --kodak" in text

    # the RD measurement read from rec eval's output instead of coded again
    out = tmp_path / "rec"
    evaluate_mbt2018(load_images(data), ["mbt-test"], progress=False).write(out)
    assert report.main(common + ["--from-results", str(out / "mbt2018.json"), "--limit", "1"]) == 0
    text = md.read_text()
    assert "read from" in text and "1 images" in text and "for 1 of 1" in text
    assert report.main(common + ["--models", "nope"]) == 2


def test_sampler_real_latents_computes_its_own_latents(tmp_path, make_image):
    import numpy as np

    from tests.helpers import tiny_model

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (w, h) in enumerate([(150, 100), (97, 131)]):
        Image.fromarray(make_image(30 + i, h, w)).save(photos / f"p{i}.png")
    script = load_script("sampler_real_latents")
    latents = script.model_latents(tiny_model(2), None, photos, ["p0", "p1"])
    assert latents["p1_q1_mean"].shape == (8, 192 // 16, 128 // 16)  # 131 × 97 padded to 192 × 128
    assert latents["p1_q2_std"].shape == (4, 3, 2) and "p1_p2_mean" not in latents  # p(z2) = N(0, I)
    np.savez(tmp_path / "lat.npz", **latents)
    out = tmp_path / "report.md"
    argv = ["--latents", str(tmp_path / "lat.npz"), "--images", "p0,p1", "--level1", "importance(bits=8,max_group=16)",
            "--level2", "importance(bits=8,max_group=16)", "--out", str(out)]
    assert script.main(argv) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `importance(bits=8,max_group=16)` | p")]
    assert len(rows) == 4 and all(row.rstrip().endswith("| yes |") for row in rows)  # each decode is bit-exact
    assert "## Findings that chose the samplers" in text  # the dated notes, from the repository
