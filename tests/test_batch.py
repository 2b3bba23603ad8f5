import numpy as np
from PIL import Image

from rec.batch import encode_directory, estimated_memory_gb
from tests.conftest import smooth_image
from tests.test_codec import FAST, tiny_model


def test_parallel_batch_is_byte_identical_to_sequential(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(20, 30), (50, 40), (33, 65), (64, 64)]):
        Image.fromarray(smooth_image(rng, h, w)).save(src / f"im{i}.png")
    (src / "broken.png").write_bytes(b"not a png")
    model = tiny_model()
    seq = encode_directory(src, tmp_path / "seq", model=model, samplers=FAST, seed=3, jobs=1)
    par = encode_directory(src, tmp_path / "par", model=model, samplers=FAST, seed=3, jobs=2, max_memory_gb=1.3)
    assert [i.error is None for i in seq] == [False, True, True, True, True]
    assert "not an image" in seq[0].error
    for a, b in zip(seq, par):
        assert (a.bytes, a.error) == (b.bytes, b.error)
        if a.error is None:
            assert (tmp_path / "seq" / a.output.split("/")[-1]).read_bytes() == (tmp_path / "par" / b.output.split("/")[-1]).read_bytes()
    assert not (tmp_path / "seq" / "broken.rec").exists()


def test_memory_estimate_grows_with_pixels():
    assert estimated_memory_gb(4000, 3000) > 3 * estimated_memory_gb(768, 512)
