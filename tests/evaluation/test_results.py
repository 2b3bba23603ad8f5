import json
from pathlib import Path

import pytest

import rec
from rec.errors import RecError
from rec.evaluation.results import RDCurve, anchor_dir, list_anchors, load_anchor, load_curve, save_curve

COMPRESSAI_STYLE = {
    "name": "JPEG",
    "description": "JPEG. Pillow version 7.1.2",
    "results": {
        "psnr-rgb": [23.779894921045457, 26.57723034342358],
        "ms-ssim-rgb": [0.8030709524949392, 0.8898622319102287],
        "bpp": [0.22115325927734372, 0.32661437988281244],
        "encoding_time": [0.0123, 0.0125],
        "decoding_time": [0.005, 0.0051],
    },
}

PAPER_STYLE = {
    "name": "cheng2020-checkerboard-6M",
    "description": "official results",
    "meta": {"source": "paper", "dataset": "kodak", "device": None},
    "results": {"bpp": [0.0982, 0.1636], "psnr-rgb": [27.829, 29.525], "ms-ssim-db-rgb": [10.492, 12.292]},
}


@pytest.mark.parametrize("obj", [COMPRESSAI_STYLE, PAPER_STYLE])
def test_json_round_trip_is_lossless(tmp_path, obj):
    path = tmp_path / "curve.json"
    path.write_text(json.dumps(obj))
    curve = load_curve(path)
    assert curve.to_json() == obj
    save_curve(curve, tmp_path / "again.json")
    assert load_curve(tmp_path / "again.json") == curve
    assert json.loads((tmp_path / "again.json").read_text()) == obj


def test_fields_and_derived_ms_ssim_db():
    c = RDCurve.from_json(COMPRESSAI_STYLE)
    assert c.name == "JPEG" and len(c) == 2
    assert c.psnr == (23.779894921045457, 26.57723034342358)
    assert c.values("ms-ssim-db")[0] == pytest.approx(7.0569022, abs=1e-6)
    p = RDCurve.from_json(PAPER_STYLE)
    assert p.values("ms-ssim-db") == (10.492, 12.292)
    assert not p.has("ms-ssim")
    with pytest.raises(RecError):
        p.values("ms-ssim")


def test_extra_lists_are_kept(tmp_path):
    c = RDCurve(name="webp", bpp=[0.1, 0.2], psnr=[28, 30], extra={"quality": [10, 20]})
    save_curve(c, tmp_path / "w.json")
    back = load_curve(tmp_path / "w.json")
    assert back.extra == {"quality": (10.0, 20.0)} and back == c


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"name": "x"},
        {"name": "x", "results": {"psnr-rgb": [1.0]}},
        {"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30.0]}},
        {"name": "x", "results": {"bpp": [0.1], "psnr-rgb": ["a"]}},
        {"results": {"bpp": [0.1]}},
    ],
)
def test_invalid_objects_raise(obj):
    with pytest.raises(RecError):
        RDCurve.from_json(obj)


def test_non_finite_values_are_not_written(tmp_path):
    with pytest.raises(RecError):
        save_curve(RDCurve(name="x", bpp=[1.0], psnr=[float("inf")]), tmp_path / "x.json")


def test_bad_files_raise(tmp_path):
    with pytest.raises(RecError):
        load_curve(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RecError):
        load_curve(tmp_path / "bad.json")


def test_anchor_directory(tmp_path):
    (tmp_path / "jpeg.json").write_text(json.dumps(COMPRESSAI_STYLE))
    (tmp_path / "paper-x.json").write_text(json.dumps(PAPER_STYLE))
    assert list_anchors(tmp_path) == ["jpeg", "paper-x"]
    assert load_anchor("jpeg", tmp_path).name == "JPEG"
    with pytest.raises(RecError, match="no anchor"):
        load_anchor("vtm", tmp_path)
    with pytest.raises(RecError):
        list_anchors(tmp_path / "nowhere")


def test_the_published_anchors_ship_with_the_package(monkeypatch):
    monkeypatch.delenv("REC_ANCHOR_DIR", raising=False)
    assert anchor_dir().is_relative_to(Path(rec.__file__).parent)  # found in any installation, not beside a checkout
    names = list_anchors()
    assert {"jpeg", "vtm", "paper-mbt2018", "paper-bmshj2018-hyperprior"} <= set(names)
    jpeg = load_anchor("jpeg")
    assert len(jpeg.bpp) >= 5 and all(b > 0 for b in jpeg.bpp)
    by_rate = [q for _, q in sorted(zip(jpeg.bpp, jpeg.psnr))]
    assert by_rate == sorted(by_rate)  # quality rises with rate
