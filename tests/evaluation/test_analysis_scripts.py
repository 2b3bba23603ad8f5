"""The thesis-analysis scripts on fabricated curves and a tiny temporary zoo:
analysis_bound (a), analysis_samplers (b), analysis_level2_share (c), bd_table (d)."""

import numpy as np
import pytest
import torch
from PIL import Image

import rec.models.zoo as zoo
from rec.evaluation.latents import image_kl, mean_kl
from rec.evaluation.results import RDCurve, save_curve
from tests.conftest import smooth_image
from tests.helpers import install, load_script, rec_curve, tiny_model

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def _table(md: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the markdown table whose header starts with ``| first_header``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header}"))
    header = [h.strip() for h in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


@pytest.fixture
def tiny_zoo(empty_zoo):
    """A temporary zoo of one untrained PLN (tiny-p) and one untrained γ-PLN (tiny-g)."""
    install(empty_zoo, "tiny-p", tiny_model(0, kind="pln"))
    install(empty_zoo, "tiny-g", tiny_model(1))
    return empty_zoo


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    rng = np.random.default_rng(7)
    for i in range(2):
        Image.fromarray(smooth_image(rng, 64, 96)).save(d / f"im{i}.png")
    return d


# -- a: theoretical against actual points ---------------------------------------------------


def test_analysis_bound(tmp_path):
    ev = tmp_path / "eval"
    ev.mkdir()
    save_curve(rec_curve(models=["g-lo", "g-mid", "g-hi"]), ev / "rec-gamma-pln.json")
    save_curve(rec_curve("REC PLN", kl=(0.3,), models=["p"]), ev / "rec-pln.json")
    save_curve(RDCurve(name="JPEG", bpp=[0.2, 1.0, 2.0], psnr=[23, 30, 35], ms_ssim=[0.8, 0.95, 0.98]), ev / "jpeg.json")
    out = tmp_path / "res" / "bound.md"
    script = load_script("analysis_bound")
    assert script.main([str(ev), "--out", str(out), "--reference", str(ev / "jpeg.json")]) == 0
    assert out.with_suffix(".png").read_bytes()[:8] == PNG
    md = out.read_text()
    assert "machine:" in md and "analysis_bound.py" in md and "models g-lo, g-mid, g-hi" in md and "![" in md
    rows = _table(md, "curve")
    assert [r["model"] for r in rows] == ["g-lo", "g-mid", "g-hi", "p"]
    for r in rows:
        kl, bound, bpp = float(r["KL bpp"]), float(r["bound bpp"]), float(r["bpp written"])
        assert bound >= kl and float(r["bpp / bound"]) == pytest.approx(bpp / bound, abs=2e-3)
        assert float(r["bpp / KL"]) == pytest.approx(1.4, abs=1e-3) and float(r["PSNR gap"]) == pytest.approx(-0.05, abs=0.01)
        assert float(r["MS-SSIM dB gap"]) < 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert script.main([str(empty), "--out", str(out)]) == 2


# -- d: BD-rate table -------------------------------------------------------------------------


def test_bd_table(tmp_path):
    jpeg = RDCurve(name="JPEG", bpp=[0.2, 0.4, 0.8, 1.6], psnr=[24, 27, 30, 34], ms_ssim=[0.85, 0.92, 0.96, 0.985])
    heic = RDCurve(name="HEIC", bpp=[b * 0.4 for b in jpeg.bpp], psnr=jpeg.psnr, ms_ssim=jpeg.ms_ssim)
    half = RDCurve(name="half JPEG", bpp=[b / 2 for b in jpeg.bpp], psnr=jpeg.psnr, ms_ssim=jpeg.ms_ssim)
    classical, ours, anchors = tmp_path / "classical", tmp_path / "rec", tmp_path / "anchors"
    for d in (classical, ours, anchors):
        d.mkdir()
    save_curve(jpeg, classical / "jpeg.json")
    save_curve(heic, classical / "heic.json")
    save_curve(half, classical / "half.json")
    # γ-PLN: written bits 1.4× KL; ideal PSNR 24 + 6·KL spans 25.2-30 dB, inside JPEG's range
    save_curve(rec_curve(kl=(0.2, 0.5, 1.0)), ours / "rec-gamma-pln.json")
    save_curve(rec_curve("REC PLN", kl=(0.3,)), ours / "rec-pln.json")
    save_curve(jpeg, anchors / "jpeg.json")
    twin = RDCurve(name="JPEG", bpp=[b * (1 + 1e-6) for b in jpeg.bpp], psnr=jpeg.psnr, ms_ssim=jpeg.ms_ssim)
    save_curve(twin, anchors / "x_cuda.json")
    save_curve(RDCurve(name="far", bpp=[0.1, 0.2], psnr=[40, 45]), anchors / "far.json")
    out = tmp_path / "bd.md"
    script = load_script("bd_table")
    argv = ["--ours", str(ours / "rec-gamma-pln.json"), str(ours / "rec-pln.json"), "--classical", *map(str, sorted(classical.glob("*.json"))),
            "--anchor-dir", str(anchors), "--jpeg", str(classical / "jpeg.json"), "--heic", str(classical / "heic.json"), "--out", str(out)]
    assert script.main(argv) == 0
    md = out.read_text()
    rows = {r["curve"].split(" (`")[0]: r for r in _table(md, "group | curve")}
    jp, hf = rows["JPEG"], rows["half JPEG"]  # "JPEG" is ours (first) and the anchor: same curve
    for metric in ("PSNR", "MS-SSIM dB"):
        assert jp[f"vs JPEG (ours), {metric}"] == "+0.0 %" and hf[f"vs JPEG (ours), {metric}"] == "-50.0 %"
        assert float(jp[f"vs HEIC (ours), {metric}"].split()[0]) == pytest.approx(150.0, abs=0.1)  # 1/0.4 - 1
        assert float(hf[f"vs HEIC (ours), {metric}"].split()[0]) == pytest.approx(25.0, abs=0.1)
        assert rows["REC PLN"][f"vs JPEG (ours), {metric}"] == "n/a (one point)"
        assert rows["far"][f"vs JPEG (ours), {metric}"].startswith("n/a (")
    assert "`x_cuda` (= `jpeg`)" in md  # the twin is left out
    ideal = {r["curve"]: r for r in _table(md, "group | curve | points | bpp range | vs JPEG (ours), PSNR | vs JPEG (ours), MS-SSIM dB | vs JPEG (published)")}
    actual, at_kl = ideal["REC γ-PLN: actual (bytes written, decoded)"], ideal["REC γ-PLN: ideal at the KL"]
    bd_actual = float(actual["vs JPEG (ours), PSNR"].split()[0])
    bd_ideal = float(at_kl["vs JPEG (ours), PSNR"].split()[0])
    assert bd_ideal < bd_actual  # the KL is 1/1.4 of the bits written, at higher quality
    assert at_kl["vs JPEG (ours), PSNR"] == at_kl["vs JPEG (published), PSNR"]  # the published anchor is the same curve here
    assert "Issue 4's target" in md and "target ≤ -45 %" in md and "target ≤ -60 %" in md
    assert script.main(argv[:-2] + ["--min-overlap", "2", "--out", str(out)]) == 2


# -- c: level 2's share ------------------------------------------------------------------------


def test_analysis_level2_share(tiny_zoo, images, tmp_path):
    out = tmp_path / "share.md"
    script = load_script("analysis_level2_share")
    assert script.main(["--kodak", str(images), "--out", str(out), "--seed", "3"]) == 0
    assert out.with_suffix(".png").read_bytes()[:8] == PNG
    md = out.read_text()
    assert "the first 2 images" in md and "machine:" in md
    rows = {r["model"]: r for r in _table(md, "model")}
    assert {rows["tiny-p"]["kind"], rows["tiny-g"]["kind"]} == {"PLN", "γ-PLN"}
    for name, r in rows.items():
        kl1, kl2, total = float(r["KL1 bpp"]), float(r["KL2 bpp"]), float(r["total KL bpp"])
        share = float(r["level-2 share"].rstrip(" %")) / 100
        lo, hi = (float(v) / 100 for v in r["per-image share"].rstrip(" %").split("-"))
        assert kl1 > 0 and kl2 >= 0 and total == pytest.approx(kl1 + kl2, abs=2e-4)
        assert 0 < share < 1 and 0 <= lo <= share <= hi <= 1 and share == pytest.approx(kl2 / total, abs=1e-3)
        # the same figures as the library's, with the same seed
        g = torch.Generator().manual_seed(3)
        model = zoo.load_model(name)
        expected = mean_kl([image_kl(model, np.asarray(Image.open(p)), g) for p in sorted(images.glob("*.png"))])
        assert total == pytest.approx(expected.kl_bpp, abs=1e-4)
    assert script.main(["--kodak", str(images), "--models", "nope", "--out", str(out)]) == 2


# -- b: samplers and coding time against rate ------------------------------------------------


def test_analysis_samplers_several_models(tiny_zoo, images, tmp_path):
    out = tmp_path / "samplers.md"
    script = load_script("analysis_samplers")
    keep = ["IS-IS (default)", "IS-IS, 9 bits"]
    skip = [label for label, _ in script.PAIRS if label not in keep]
    argv = ["--model", "tiny-g", "--models", "tiny-g,tiny-p", "--kodak", str(images), "--limit", "1", "--out", str(out),
            "--short", "IS-IS (default)", "--skip", *skip]
    assert script.main(argv) == 0
    assert (tmp_path / "samplers_time_rate.png").read_bytes()[:8] == PNG
    md = out.read_text()
    full = _table(md, "pair")
    assert [r["pair (level 2 : level 1)"] for r in full] == keep
    timing = _table(md, "model | kind")
    assert sorted((r["model"], r["pair"]) for r in timing) == [("tiny-g", "IS-IS (default)"), ("tiny-p", "IS-IS (default)")]
    for r in timing:
        assert float(r["bits / KL"]) >= 1.0 and float(r["bpp"]) >= float(r["KL bpp"]) and float(r["encode s"]) > 0
    assert script.main(argv + ["--short", "no such pair"]) == 2
