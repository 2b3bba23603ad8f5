import os
import stat
import tempfile

import numpy as np
import pytest
from PIL import Image

from rec.errors import RecError
from rec.image import AlphaDroppedWarning, check_output_path, read_image, to_rgb_array, write_atomic


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)


def test_rgb_passes_through(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)
    assert np.array_equal(to_rgb_array(rgb), rgb)


def test_grayscale_and_palette_become_rgb(tmp_path, rgb):
    gray = rgb[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (9, 11, 3) and np.array_equal(out[..., 2], gray)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").shape == (9, 11, 3)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg")
    assert read_image(tmp_path / "c.jpg").shape == (9, 11, 3)


def test_alpha_is_dropped_with_a_warning(tmp_path, rgb):
    rgba = np.concatenate([rgb, np.full((9, 11, 1), 7, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(AlphaDroppedWarning):
        out = read_image(tmp_path / "a.png")
    assert np.array_equal(out, rgb)


def test_sixteen_bit_is_rescaled(tmp_path):
    a = np.array([[0, 257, 65535]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "s.png")
    out = read_image(tmp_path / "s.png")
    assert out[0, :, 0].tolist() == [0, 1, 255]
    assert to_rgb_array(np.stack([a] * 3, -1))[0, :, 1].tolist() == [0, 1, 255]


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"])
def test_non_images_are_refused(tmp_path, content):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(RecError):
        read_image(path)


def test_truncated_png_is_refused(tmp_path, rgb):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecError):
        read_image(tmp_path / "cut.png")


def test_missing_file_and_bad_arrays(tmp_path):
    with pytest.raises(RecError, match="no such file"):
        read_image(tmp_path / "missing.png")
    for bad in (np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.full((2, 2, 3), np.nan), np.zeros((2, 2, 3), np.int32)):
        with pytest.raises(RecError):
            to_rgb_array(bad)
    with pytest.raises(RecError):
        to_rgb_array(42)


def test_write_atomic_leaves_nothing_behind_on_failure(tmp_path):
    write_atomic(tmp_path / "ok.bin", b"abc")
    assert (tmp_path / "ok.bin").read_bytes() == b"abc"
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "bad.bin", object())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.bin"]


def test_exif_orientation_is_applied(tmp_path):
    """A portrait photo stored landscape with orientation 6 (rotate 90° clockwise to view) comes back upright."""
    stored = np.zeros((20, 30, 3), np.uint8)
    stored[:5, :5] = 255  # top-left corner as stored
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "p.png", exif=exif.tobytes())
    im.save(tmp_path / "p.jpg", exif=exif.tobytes(), quality=95)
    for name in ("p.png", "p.jpg"):
        out = read_image(tmp_path / name)
        assert out.shape == (30, 20, 3), name
        assert out[:5, -5:].mean() > 200 and out[:5, :5].mean() < 50, name  # the stored top-left is now top-right
        with Image.open(tmp_path / name) as opened:
            assert to_rgb_array(opened).shape == (30, 20, 3)


def test_a_float_tiff_with_nan_is_refused(tmp_path):
    a = np.full((8, 9), 0.5, np.float32)
    a[3, 4] = np.nan
    Image.fromarray(a, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(RecError, match="NaN"):
        read_image(tmp_path / "nan.tif")
    a[3, 4] = np.inf
    Image.fromarray(a, mode="F").save(tmp_path / "inf.tif")
    with pytest.raises(RecError, match="NaN or infinite"):
        read_image(tmp_path / "inf.tif")
    a[3, 4] = 0.25
    Image.fromarray(a, mode="F").save(tmp_path / "ok.tif")
    assert read_image(tmp_path / "ok.tif")[0, 0].tolist() == [128, 128, 128]


def test_closed_and_lazily_truncated_pil_images_raise_rec_error(tmp_path, rgb):
    im = Image.fromarray(rgb)
    im.close()
    with pytest.raises(RecError, match="closed"):
        to_rgb_array(im)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "a.png").read_bytes()[:-300])
    with Image.open(tmp_path / "cut.png") as lazy:  # opened, not loaded: the truncation shows on reading
        with pytest.raises(RecError, match="truncated"):
            to_rgb_array(lazy)


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.bin", b"x")
        os.umask(0o027)
        write_atomic(tmp_path / "b.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o640


def test_write_atomic_refuses_bad_outputs_with_rec_error(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"keep")
    cases = {"": "empty", tmp_path / "missing" / "x.bin": "does not exist", tmp_path / "d": "is a directory",
             tmp_path / "f" / "x.bin": "not a directory"}
    for path, message in cases.items():
        with pytest.raises(RecError, match=message):
            write_atomic(path, b"abc")
    with pytest.raises(RecError, match="is the input"):
        check_output_path(tmp_path / "f", tmp_path / "." / "f")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(RecError, match="Permission denied"):
        write_atomic(tmp_path / "x.bin", b"abc")
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(RecError, match="Permission denied"):
        write_atomic(tmp_path / "y.bin", b"abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"] and (tmp_path / "f").read_bytes() == b"keep"


def test_image_files_lists_one_folder_by_suffix_in_any_case_sorted(tmp_path):
    from rec.image import LOSSLESS_SUFFIXES, image_files

    for name in ("b.PNG", "a.jpg", "c.tif", "notes.txt", "d.webp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "e.png").mkdir()  # a folder named like an image is not one
    assert [p.name for p in image_files(tmp_path)] == ["a.jpg", "b.PNG", "c.tif", "d.webp"]
    assert [p.name for p in image_files(tmp_path, LOSSLESS_SUFFIXES)] == ["b.PNG", "c.tif"]
    with pytest.raises(RecError, match="no such directory"):
        image_files(tmp_path / "a.jpg")
