"""The `rec` command on the shipped default model (small images keep it quick)."""

import json

import numpy as np
import pytest
from PIL import Image

from rec.cli import main
from rec.models.zoo import DEFAULT_MODEL, list_models
from tests.conftest import smooth_image

pytestmark = pytest.mark.skipif(DEFAULT_MODEL not in {e.name for e in list_models()}, reason="no shipped default model")


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(smooth_image(np.random.default_rng(0), 64, 80)).save(path)
    return path


def test_encode_json_decode_info(png, tmp_path, capsys):
    rec_file, out_png = tmp_path / "x.rec", tmp_path / "x.png"
    assert main(["encode", str(png), str(rec_file), "--json", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("width", "height", "bytes", "bpp", "levels", "kl_bits", "bound_bits", "psnr", "ms_ssim", "ideal_psnr", "encode_seconds"):
        assert key in report
    assert report["bytes"] == rec_file.stat().st_size
    assert report["bpp"] == pytest.approx(8 * report["bytes"] / (64 * 80))
    assert [lv["name"] for lv in report["levels"]] == ["z2", "z1"]
    for lv in report["levels"]:
        assert {"name", "kl_bits", "index_bits", "side_bits", "outlier_bits"} <= set(lv)
    assert main(["decode", str(rec_file), str(out_png)]) == 0
    decoded = np.asarray(Image.open(out_png))
    original = np.asarray(Image.open(png))
    mse = np.mean((decoded.astype(float) - original) ** 2)
    assert 10 * np.log10(255**2 / mse) == pytest.approx(report["psnr"], abs=1e-6)
    assert main(["info", str(rec_file)]) == 0
    info = capsys.readouterr().out
    assert "64" in info and DEFAULT_MODEL in info and "importance" in info


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert DEFAULT_MODEL in [m["name"] for m in models]
    assert {"name", "kind", "beta", "gamma_inf", "steps", "sha256"} <= set(models[0])


def test_errors_are_clear_and_leave_no_output(tmp_path, png, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert main(["encode", str(text), str(tmp_path / "a.rec")]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main(["encode", str(png), str(tmp_path / "b.rec"), "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    garbage = tmp_path / "g.rec"
    garbage.write_bytes(b"\x89REC" + bytes(40))
    assert main(["decode", str(garbage), str(tmp_path / "g.png")]) == 2
    assert "rec: error" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.rec", "in.png", "notes.txt"]


def test_file_of_a_model_that_is_not_installed(png, tmp_path, capsys):
    from dataclasses import replace

    from rec.container import Container

    rec_file = tmp_path / "x.rec"
    assert main(["encode", str(png), str(rec_file)]) == 0
    c = Container.from_bytes(rec_file.read_bytes())
    ghost = Container(replace(c.header, model_id="ghost-model"), c.sections)
    rec_file.write_bytes(ghost.to_bytes())
    capsys.readouterr()
    assert main(["decode", str(rec_file), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "ghost-model" in err and "not installed" in err
    assert not (tmp_path / "x.png").exists()
