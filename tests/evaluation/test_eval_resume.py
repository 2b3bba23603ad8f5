"""`rec eval` writes each measurement as it is made, survives failing images and resumes where it stopped."""

import csv
import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from rec.cli import main
from rec.errors import RecError
from rec.evaluation.classical import JPEG
from rec.evaluation.results import RDCurve, save_curve
from rec.evaluation.runner import evaluate, write_results
from tests.conftest import smooth_image

QUALITIES = [20, 50, 80]
TIMES = ("encoding_time", "decoding_time")


@pytest.fixture
def three_images(tmp_path):
    """Three generated PNGs; the last one is taller (so a test can make only it fail)."""
    d = tmp_path / "images"
    d.mkdir()
    rng = np.random.default_rng(11)
    for i, (h, w) in enumerate([(40, 56), (40, 56), (48, 56)]):
        Image.fromarray(smooth_image(rng, h, w)).save(d / f"im{i}.png")
    return d


@pytest.fixture
def encodes(monkeypatch):
    """Every JPEG encode as (image height, quality), in order."""
    calls = []
    original = JPEG._encode

    def counted(self, rgb, quality):
        calls.append((rgb.shape[0], float(quality)))
        return original(self, rgb, quality)

    monkeypatch.setattr(JPEG, "_encode", counted)
    return calls


def _without_times(path):
    raw = json.loads(path.read_text())
    for key in TIMES:
        raw["results"].pop(key)
    return raw


def _csv_without_times(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMES} for row in csv.DictReader(f)]


class Stop(Exception):
    pass


def test_an_interrupted_eval_resumes_without_redoing_finished_points(three_images, tmp_path, encodes):
    quiet = dict(progress=False, log=lambda m: None)
    (whole,) = evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=tmp_path / "whole", **quiet)
    write_results([whole], tmp_path / "whole")
    encodes.clear()

    def stop_after_first(result, point, seconds):
        raise Stop  # the run dies after its first rate point (a crash, a kill, a closed laptop)

    out = tmp_path / "run"
    with pytest.raises(Stop):
        evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, on_point=stop_after_first, **quiet)
    assert [q for _, q in encodes] == [20.0] * 3
    lines = [json.loads(line) for line in (out / "jpeg.points.jsonl").read_text().splitlines()]
    assert [(r["image"], r["result"]["setting"]) for r in lines] == [("im0.png", 20.0), ("im1.png", 20.0), ("im2.png", 20.0)]

    encodes.clear()
    messages = []
    (resumed,) = evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, progress=False, log=messages.append)
    assert 20.0 not in [q for _, q in encodes] and len(encodes) == 6  # the first point is read back, not recomputed
    assert any("3 of 9 measurements read back" in m for m in messages)
    write_results([resumed], out)
    assert _without_times(out / "jpeg.json") == _without_times(tmp_path / "whole" / "jpeg.json")
    assert _csv_without_times(out / "jpeg.per_image.csv") == _csv_without_times(tmp_path / "whole" / "jpeg.per_image.csv")

    encodes.clear()  # a third run has nothing left to measure ...
    evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, **quiet)
    assert encodes == []
    evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, resume=False, **quiet)
    assert len(encodes) == 9  # ... unless told not to resume
    encodes.clear()  # a changed image is measured again, the others are not
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(three_images / "im1.png")
    evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, **quiet)
    assert len(encodes) == 3


def test_a_failing_image_is_recorded_and_its_point_left_out(three_images, tmp_path, monkeypatch):
    original = JPEG._encode
    broken = {"on": True}

    def fails_on_the_tall_image_at_50(self, rgb, quality):
        if broken["on"] and rgb.shape[0] == 48 and quality == 50:
            raise RecError("undecodable payload")
        return original(self, rgb, quality)

    monkeypatch.setattr(JPEG, "_encode", fails_on_the_tall_image_at_50)
    out = tmp_path / "out"
    (res,) = evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, progress=False, log=lambda m: None)
    assert [p.complete for p in res.points] == [True, False, True]
    (failure,) = res.failures
    assert failure.image == "im2.png" and failure.setting == 50.0 and "undecodable payload" in failure.error
    json_path, csv_path = write_results([res], out)
    raw = json.loads(json_path.read_text())
    assert raw["results"]["quality"] == [20, 80]  # no mean over a subset of the images
    assert raw["meta"]["failures"] == [{"image": "im2.png", "setting": 50.0, "error": failure.error}]
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and [r["error"] for r in rows if r["error"]] == [failure.error]

    broken["on"] = False  # failures are measured again on the next run, and only they
    (again,) = evaluate(three_images, ["jpeg"], qualities=QUALITIES, points_dir=out, progress=False, log=lambda m: None)
    assert all(p.complete for p in again.points) and again.failures == []


def test_cli_eval_summary_bd_rates_and_interrupt(three_images, tmp_path, monkeypatch, capsys):
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    save_curve(RDCurve(name="JPEG (published)", bpp=[0.5, 1.0, 2.0, 4.0], psnr=[22.0, 26.0, 30.0, 34.0]),
               anchors / "published-jpeg.json")
    monkeypatch.setenv("REC_ANCHOR_DIR", str(anchors))
    out = tmp_path / "out"
    argv = ["eval", str(three_images), "--codec", "jpeg", "--qualities", "20,50,80", "--quiet",
            "--anchor", "published-jpeg", "--out", str(out)]
    original = JPEG._encode
    calls, interrupt = [], [True]

    def interrupted_at_the_second_quality(self, rgb, quality):  # Ctrl-C in the middle of the run
        calls.append(quality)
        if quality == 50 and interrupt[0]:
            raise KeyboardInterrupt
        return original(self, rgb, quality)

    monkeypatch.setattr(JPEG, "_encode", interrupted_at_the_second_quality)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rec: error: interrupted by SIGINT" in err and "the same command resumes" in err and "Traceback" not in err
    assert calls == [20, 20, 20, 50] and not (out / "jpeg.json").exists()

    calls.clear()
    interrupt[0] = False
    assert main(argv) == 0
    assert 20 not in calls and len(calls) == 6
    text = capsys.readouterr().out
    table = text[text.index("codec"):].splitlines()
    assert table[0].split() == ["codec", "setting", "bpp", "PSNR", "MS-SSIM"]
    assert [line.split()[:2] for line in table[1:4]] == [["jpeg", "q=20"], ["jpeg", "q=50"], ["jpeg", "q=80"]]
    bd = text[text.index("BD-rate against"):]
    assert "the published anchor 'published-jpeg'" in bd and "jpeg" in bd.splitlines()[1] and "PSNR" in bd
    if importlib.util.find_spec("matplotlib") is not None:  # the eval extra: the RD plot, raster and vector
        assert (out / "rd.png").read_bytes()[:4] == b"\x89PNG" and "<svg" in (out / "rd.svg").read_text()
        assert f"wrote {out / 'rd.svg'}" in text
