import numpy as np
import pytest

from rec.errors import RecError
from rec.evaluation.classical import all_codecs, available_codecs, get_codec, unavailable_codecs
from rec.evaluation.metrics import psnr

CODECS = all_codecs()


@pytest.mark.parametrize("codec", CODECS, ids=[c.name for c in CODECS])
def test_round_trip_and_rate_grows_with_quality(codec, small_image):
    if not codec.available:
        pytest.skip(f"{codec.name}: {codec.unavailable_reason()}")
    qs = codec.qualities
    low, mid, high = qs[1], qs[len(qs) // 2], qs[-1]
    sizes, psnrs = [], []
    for q in (low, mid, high):
        data = codec.encode(small_image, q)
        out = codec.decode(data)
        assert out.shape == small_image.shape and out.dtype == np.uint8
        sizes.append(len(data))
        psnrs.append(psnr(small_image, out))
    assert sizes[0] < sizes[1] < sizes[2], sizes
    assert psnrs[0] < psnrs[2], psnrs
    assert psnrs[2] > 25


def test_grids_are_increasing_and_in_range():
    for c in CODECS:
        assert list(c.qualities) == sorted(set(c.qualities)), c.name
        lo, hi = c.quality_range
        assert lo <= c.qualities[0] and c.qualities[-1] <= hi, c.name
        assert c.name and c.label and c.quality_meaning


def test_pillow_codecs_always_there_and_reasons_for_the_rest():
    names = {c.name for c in available_codecs()}
    assert {"jpeg", "jpeg444", "webp"} <= names
    missing = unavailable_codecs()
    assert set(missing) | names == {c.name for c in CODECS}
    assert all(isinstance(r, str) and r for r in missing.values())


def test_jpeg_444_spends_more_bits_than_420(small_image):
    a = get_codec("jpeg").encode(small_image, 50)
    b = get_codec("jpeg444").encode(small_image, 50)
    assert len(b) > len(a)


def test_bad_input():
    jpeg = get_codec("jpeg")
    with pytest.raises(RecError):
        jpeg.encode(np.zeros((8, 8), np.uint8), 50)
    with pytest.raises(RecError):
        jpeg.encode(np.zeros((8, 8, 3), np.float32), 50)
    with pytest.raises(RecError):
        jpeg.encode(np.zeros((8, 8, 3), np.uint8), 500)
    with pytest.raises(RecError):
        jpeg.decode(b"not a jpeg")
    with pytest.raises(RecError):
        jpeg.decode(b"")
    with pytest.raises(RecError, match="unknown codec"):
        get_codec("bpg")


def test_missing_library_is_reported_not_a_crash(monkeypatch, small_image):
    import importlib

    real = importlib.import_module

    def no_optional_libs(name, *args, **kwargs):
        if name in ("imagecodecs", "pillow_heif"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_optional_libs)
    missing = unavailable_codecs()
    assert "not installed" in missing["jpegxl"] and "not installed" in missing["heic"]
    assert "jpegxl" not in {c.name for c in available_codecs()}
    with pytest.raises(RecError, match="unavailable"):
        get_codec("jpegxl").encode(small_image, 50)


def test_avif_falls_back_to_pillow_plugin(monkeypatch, small_image):
    from rec.evaluation import classical

    if classical._pillow_feature("avif") is not None:
        pytest.skip("Pillow has no AVIF plugin")
    monkeypatch.setattr(classical, "_imagecodecs", lambda name: "imagecodecs is not installed")
    codec = classical.AVIF()
    assert codec.available and "Pillow" in codec.version()
    small, big = (codec.encode(small_image, q) for q in (10, 70))
    assert len(small) < len(big)
    assert codec.decode(big).shape == small_image.shape
