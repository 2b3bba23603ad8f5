"""The `rec` command on the shipped default model (small images keep it quick)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rec.cli import main
from rec.codecs.rec import base_samplers, parse_samplers
from rec.models.zoo import DEFAULT_MODEL, list_models, load_model
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
    size = rec_file.stat().st_size
    assert f"{size} bytes, 80×64, {8 * size / (64 * 80):.4f} bpp" in info  # width × height of the 64-row image
    assert f"codec rec, model {DEFAULT_MODEL} " in info
    level1 = parse_samplers(base_samplers(load_model(DEFAULT_MODEL)))[1].name  # budget for an iso-KL default
    assert "level 2: importance(" in info and f"level 1: {level1}(" in info
    # each level's bits, read from the file alone, as the encoder reported them
    assert main(["info", str(rec_file), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)["levels"]
    for lv, w in zip(report["levels"], written):
        assert (w["name"], w["index_bits"], w["side_bits"], w["outlier_bits"]) == (
            lv["name"], lv["index_bits"], lv["side_bits"], lv["outlier_bits"])
        assert f"{lv['name']}: {lv['index_bits'] + lv['side_bits'] + lv['outlier_bits']} bits" in info


def test_info_tells_the_format_and_the_overhead_of_an_older_file(capsys):
    path = Path(__file__).parent / "data" / "golden" / "v1" / "parrot-64x48.rec"
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == 1
    assert info["container_overhead_bytes"] + sum(s["bytes"] for s in info["sections"]) == path.stat().st_size
    assert main(["info", str(path)]) == 0
    assert f"{path.stat().st_size} bytes, 64×48" in capsys.readouterr().out


def test_models_path_names_every_zoo_folder(capsys, tmp_path, monkeypatch):
    from rec.models.zoo import pack_dir, read_index, zoo_dir

    monkeypatch.setenv("REC_ZOO", str(tmp_path / "mine"))
    assert main(["models", "--path"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"in the package: {zoo_dir()} (1 model: {DEFAULT_MODEL})")
    packed = len(read_index(pack_dir()))
    assert packed >= 10 and out[1].startswith(f"model pack rec-zoo: {pack_dir()} ({packed} models: ") and "mbt2018-vr" in out[1]
    assert out[2] == f"user zoo: {tmp_path / 'mine'} (0 models)"


def test_models_table_columns_line_up(capsys):
    """Every row's kind and step count start in the same column, however long the longest name."""
    from rec.models.zoo import list_models

    assert main(["models"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if " steps  " in r]
    entries = list_models()
    assert len(rows) == len(entries)
    for row, e in zip(rows, entries):
        assert row[2:].split()[:2] == [e.name, e.kind]
    assert len({r.index(e.kind, 2 + len(e.name)) for r, e in zip(rows, entries)}) == 1
    assert len({r.index(" steps  ") for r in rows}) == 1


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


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("command", ["encode", "decode"])
@pytest.mark.parametrize("case", ["missing directory", "existing directory", "empty", "the input", "parent is a file"])
def test_bad_output_paths_end_in_a_clear_error(png, tmp_path, capsys, command, case):
    """Issue 17: each ends in `rec: error: …`, exit 2, no traceback, nothing left behind, the input untouched."""
    source = png
    if command == "decode":
        source = tmp_path / "in.rec"
        assert main(["encode", str(png), str(source)]) == 0
    (tmp_path / "adir").mkdir()
    output = {"missing directory": str(tmp_path / "nowhere" / "x.out"), "existing directory": str(tmp_path / "adir"),
              "empty": "", "the input": str(source), "parent is a file": str(png / "x.out")}[case]
    before, content = _listing(tmp_path), source.read_bytes()
    capsys.readouterr()
    assert main([command, str(source), output]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rec: error: ") and "Traceback" not in err
    assert _listing(tmp_path) == before and source.read_bytes() == content


def test_an_unwritable_output_directory_is_a_clear_error(png, tmp_path, capsys, monkeypatch):
    import os
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(args))

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # root may write anywhere: the failure is simulated
    assert main(["encode", str(png), str(tmp_path / "x.rec")]) == 2
    assert "Permission denied" in capsys.readouterr().err
    monkeypatch.undo()
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            assert main(["encode", str(png), str(locked / "x.rec")]) == 2
            assert "not writable" in capsys.readouterr().err
        finally:
            locked.chmod(0o755)
    assert not (tmp_path / "x.rec").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_directory_mode_refuses_stem_collisions_and_bad_outputs(tmp_path, capsys, jobs):
    src = tmp_path / "in"
    src.mkdir()
    img = Image.fromarray(smooth_image(np.random.default_rng(0), 32, 32))
    img.save(src / "a.png")
    img.save(src / "a.jpg")
    img.save(src / "b.png")
    assert main(["encode", str(src), str(tmp_path / "out"), "-j", jobs]) == 2
    err = capsys.readouterr().err
    assert "a.jpg and a.png" in err and "a.rec" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    (src / "a.jpg").unlink()
    (tmp_path / "file").write_bytes(b"x")
    for out in (str(tmp_path / "file"), ""):
        assert main(["encode", str(src), out, "-j", jobs]) == 2
        assert capsys.readouterr().err.startswith("rec: error: ")
    (tmp_path / "out" / "a.rec").mkdir(parents=True)  # one output cannot be written: that file fails, cleanly
    assert main(["encode", str(src), str(tmp_path / "out"), "-j", jobs]) == 2
    captured = capsys.readouterr()
    assert "is a directory" in captured.out and "1 of 2 files failed" in captured.err and "Traceback" not in captured.err
    assert (tmp_path / "out" / "b.rec").is_file() and _listing(tmp_path / "out") == ["a.rec", "b.rec"]


def test_outputs_follow_the_umask(png, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert main(["encode", str(png), str(tmp_path / "x.rec")]) == 0
        assert main(["decode", str(tmp_path / "x.rec"), str(tmp_path / "x.png")]) == 0
    finally:
        os.umask(old)
    for name in ("x.rec", "x.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
