"""rec.evaluation.runner and `rec eval` on small generated images and tiny seeded models."""

import argparse
import csv
import json

import numpy as np
import pytest
from PIL import Image

from rec.codec import compress, decompress
from rec.errors import RecError
from rec.evaluation.classical import get_codec
from rec.evaluation.cli_eval import add_parser
from rec.evaluation.results import load_curve
from rec.evaluation.runner import (EvalImage, evaluate, evaluate_mbt2018, evaluate_rec, load_images, load_mbt2018,
                                   write_results, zoo_models)
from rec.models.joint import JointPrior
from tests.conftest import smooth_image
from tests.helpers import FAST, FAST_STEM, install, lively_mbt, tiny_model

COMPRESSAI_KEYS = {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Two 176×168 PNGs (large enough for MS-SSIM) and a text file to ignore."""
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(5)
    for i in range(2):
        Image.fromarray(smooth_image(rng, 176, 168)).save(d / f"im{i}.png")
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def images(image_dir):
    return load_images(image_dir)


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_load_images_sorted_limited_and_lossless_only(image_dir, tmp_path):
    ims = load_images(image_dir)
    assert [im.name for im in ims] == ["im0.png", "im1.png"]
    assert ims[0].rgb.shape == (176, 168, 3) and ims[0].rgb.dtype == np.uint8 and ims[0].pixels == 176 * 168
    assert [im.name for im in load_images(image_dir, limit=1)] == ["im0.png"]
    (tmp_path / "e").mkdir()
    with pytest.raises(RecError, match="no lossless images"):
        load_images(tmp_path / "e")
    with pytest.raises(RecError, match="no such directory"):
        load_images(tmp_path / "missing")
    with pytest.raises(RecError, match="at least 1"):
        load_images(image_dir, limit=0)


def test_classical_sweep_json_csv_and_bpp_from_bytes(image_dir, images, tmp_path):
    (res,) = evaluate(image_dir, ["jpeg"], qualities=[10, 50, 90], progress=False, log=lambda m: None)
    assert [p.setting for p in res.points] == [10.0, 50.0, 90.0]
    bpps = [p.bpp for p in res.points]
    assert bpps == sorted(bpps) and bpps[0] < bpps[-1]
    assert [p.psnr for p in res.points] == sorted(p.psnr for p in res.points)
    json_path, csv_path = write_results([res], tmp_path / "out")
    assert json_path == tmp_path / "out" / "jpeg.json" and csv_path == tmp_path / "out" / "jpeg.per_image.csv"

    raw = json.loads(json_path.read_text())  # CompressAI's layout
    assert raw["name"] == "JPEG 4:2:0 (Pillow)" and "Pillow" in raw["description"]
    assert COMPRESSAI_KEYS <= set(raw["results"]) and raw["results"]["quality"] == [10, 50, 90]
    assert all(len(v) == 3 for v in raw["results"].values())
    assert raw["meta"]["images"] == 2 and raw["meta"]["dataset"] == image_dir.name
    curve = load_curve(json_path)
    assert curve.bpp == pytest.approx(bpps) and curve.ms_ssim is not None

    rows = _csv(csv_path)
    assert len(rows) == 3 * 2
    assert list(rows[0])[:9] == ["image", "quality", "bytes", "bpp", "psnr", "ms_ssim", "encoding_time",
                                 "decoding_time", "ms_ssim_db"]
    codec = get_codec("jpeg")
    by_name = {im.name: im for im in images}
    for row in rows:
        im = by_name[row["image"]]
        data = codec.encode(im.rgb, float(row["quality"]))  # deterministic: the very file measured
        assert int(row["bytes"]) == len(data)
        assert float(row["bpp"]) == pytest.approx(8 * len(data) / (176 * 168), rel=1e-5)
        assert float(row["ms_ssim_db"]) == pytest.approx(-10 * np.log10(1 - float(row["ms_ssim"])), rel=1e-4)
    for i, p in enumerate(res.points):  # means over images
        part = [r for r in rows if float(r["quality"]) == p.setting]
        assert curve.bpp[i] == pytest.approx(np.mean([float(r["bpp"]) for r in part]), rel=1e-5)
        assert curve.psnr[i] == pytest.approx(np.mean([float(r["psnr"]) for r in part]), rel=1e-5)
        assert p.ms_ssim_db == pytest.approx(curve.values("ms-ssim-db")[i])


def test_rec_with_model_objects(images, tmp_path):
    models = [tiny_model(0), tiny_model(1)]
    seen = []
    (res,) = evaluate_rec(images, models, samplers=FAST, seed=7, progress=False,
                          on_point=lambda r, p, s: seen.append(p.setting))
    assert sorted(seen) == ["tiny-0", "tiny-1"] and len(res.points) == 2
    assert [p.bpp for p in res.points] == sorted(p.bpp for p in res.points)
    for p in res.points:
        assert p.bpp > 0 and p.kl_bpp > 0 and p.bound_bpp >= p.kl_bpp
        assert p.bpp >= p.kl_bpp * 0.5  # written bits are of the order of the KL
        assert np.isfinite(p.psnr) and 0 < p.ms_ssim <= 1 and p.ideal_psnr is not None and p.ideal_ms_ssim is not None
        assert p.encoding_time > 0 and p.decoding_time > 0
    # the bytes measured are compress()'s, and the quality is that of decompress() of them
    row = res.points[0].images[0]
    net = {m.name: m for m in models}[row.setting]
    data = compress(images[0].rgb, model=net, samplers=FAST, seed=7, verify=False)
    assert row.bytes == len(data) and row.bpp == pytest.approx(8 * len(data) / images[0].pixels)
    decoded = decompress(bytes(data), model=net)
    mse = np.mean((decoded.astype(float) - images[0].rgb) ** 2)
    assert row.psnr == pytest.approx(10 * np.log10(255**2 / mse))
    assert row.kl_bpp == pytest.approx(data.report.kl_bits / images[0].pixels)

    json_path, csv_path = res.write(tmp_path)
    raw = json.loads(json_path.read_text())
    assert json_path.name == f"rec-gamma-pln-{FAST_STEM}-seed7.json" and COMPRESSAI_KEYS <= set(raw["results"])
    assert raw["name"] == "REC γ-PLN, IS(bits=10,max_group=8):GS(bits=8,shards=4), seed 7"
    for key in ("kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim"):
        assert len(raw["results"][key]) == 2
    assert raw["meta"]["models"] == [p.setting for p in res.points] and raw["meta"]["samplers"] == FAST
    curve = load_curve(json_path)
    assert all(b >= k for b, k in zip(curve.extra["bound_bpp"], curve.extra["kl_bpp"]))
    rows = _csv(csv_path)
    assert len(rows) == 4 and {"model", "kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim"} <= set(rows[0])


def test_rec_one_curve_per_model_family(images, tmp_path):
    models = [tiny_model(0, kind="pln"), tiny_model(1), tiny_model(2, kind="pln")]
    results = evaluate_rec(images[:1], models, samplers=FAST, progress=False)
    assert [r.codec for r in results] == [f"rec-gamma-pln-{FAST_STEM}", f"rec-pln-{FAST_STEM}"]
    assert [r.name for r in results] == ["REC γ-PLN, IS(bits=10,max_group=8):GS(bits=8,shards=4)",
                                         "REC PLN, IS(bits=10,max_group=8):GS(bits=8,shards=4)"]
    assert results[0].meta["models"] == ["tiny-1"]
    assert sorted(results[1].meta["models"]) == ["tiny-pln-0", "tiny-pln-2"]
    paths = write_results(results, tmp_path)
    assert sorted(p.name for p in paths) == [f"rec-gamma-pln-{FAST_STEM}.json", f"rec-gamma-pln-{FAST_STEM}.per_image.csv",
                                             f"rec-pln-{FAST_STEM}.json", f"rec-pln-{FAST_STEM}.per_image.csv"]


def test_small_images_have_no_ms_ssim(tmp_path):
    rng = np.random.default_rng(2)
    ims = [EvalImage(f"s{i}", smooth_image(rng, 64, 80)) for i in range(2)]
    messages = []
    (res,) = evaluate(ims, ["webp"], qualities=[50], progress=False, log=messages.append)
    assert any("no MS-SSIM" in m for m in messages)
    assert res.points[0].ms_ssim is None and res.points[0].images[0].ms_ssim_db is None
    json_path, csv_path = res.write(tmp_path)
    assert "ms-ssim-rgb" not in json.loads(json_path.read_text())["results"]
    assert _csv(csv_path)[0]["ms_ssim"] == ""


def test_mbt2018_skipped_without_zoo_models(images, empty_zoo):
    messages = []
    assert zoo_models("mbt2018") == [] and zoo_models("rec") == []
    assert evaluate(images, ["mbt2018"], progress=False, log=messages.append) == []
    assert any("mbt2018: skipped" in m and "no mbt2018 model" in m for m in messages)


def test_mbt2018_model_object_and_zoo_loading(images, empty_zoo, tmp_path):
    net = lively_mbt()
    res = evaluate_mbt2018(images[:1], [net], progress=False)
    (p,) = res.points
    assert p.setting == "mbt-0" and p.bpp > 0 and np.isfinite(p.psnr)
    raw = json.loads(res.write(tmp_path)[0].read_text())
    assert raw["results"]["lambda"] == [pytest.approx(net.config.lmbda)] and COMPRESSAI_KEYS <= set(raw["results"])

    install(empty_zoo, "mbt-zoo", net)
    assert zoo_models("mbt2018") == ["mbt-zoo"]
    loaded = load_mbt2018("mbt-zoo")
    assert isinstance(loaded, JointPrior) and loaded.name == "mbt-zoo"
    with pytest.raises(RecError, match="no mbt2018 model"):
        load_mbt2018("nope")
    (res,) = evaluate(images[:1], ["mbt2018"], progress=False, log=lambda m: None)
    assert res.meta["models"] == ["mbt-zoo"]


def test_bad_arguments(image_dir, images):
    with pytest.raises(RecError, match="unknown codec 'nope'"):
        evaluate(image_dir, ["nope"])
    with pytest.raises(RecError, match="exactly one classical codec"):
        evaluate(image_dir, ["jpeg", "webp"], qualities=[10])
    with pytest.raises(RecError, match="unknown model 'no-such-model'"):
        evaluate(image_dir, ["rec"], models=["no-such-model"])
    with pytest.raises(RecError, match="quality must be in"):
        evaluate(images, ["jpeg"], qualities=[500], progress=False)
    with pytest.raises(RecError, match="no codec"):
        evaluate(image_dir, [])


def _cli(argv):
    parser = argparse.ArgumentParser(prog="rec")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


def test_cli_eval_zoo_model_decoded_from_header(image_dir, empty_zoo, tmp_path, capsys):
    install(empty_zoo, "tiny", tiny_model(3))
    out = tmp_path / "res"
    _cli(["eval", str(image_dir), "--codec", "jpeg", "--codec", "rec", "--codec", "mbt2018", "--models", "tiny",
          "--samplers", FAST, "--qualities", "20,60", "--limit", "1", "--quiet", "--out", str(out)])
    text = capsys.readouterr().out
    assert "wrote" in text and "mbt2018: skipped" in text
    rec = f"rec-gamma-pln-{FAST_STEM}"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("rd.")) == [
        "jpeg.json", "jpeg.per_image.csv", "jpeg.points.jsonl", f"{rec}.json", f"{rec}.per_image.csv", f"{rec}.points.jsonl"]
    rec_curve, jpeg_curve = load_curve(out / f"{rec}.json"), load_curve(out / "jpeg.json")
    assert len(rec_curve) == 1 and rec_curve.meta["models"] == ["tiny"] and rec_curve.meta["images"] == 1
    assert rec_curve.meta["command"].startswith("rec eval ") and "--models tiny" in rec_curve.meta["command"]
    assert rec_curve.extra["bound_bpp"][0] >= rec_curve.extra["kl_bpp"][0] > 0 and rec_curve.bpp[0] > 0
    assert jpeg_curve.extra["quality"] == (20.0, 60.0) and jpeg_curve.bpp[0] < jpeg_curve.bpp[1]
    with pytest.raises(SystemExit):
        _cli(["eval", str(image_dir), "--out", str(out)])  # --codec is required
