"""rec.codecs.brummer2021: static-table coding of the competition of priors, bit-exact and within 1 % of the table's −log2 p.

The codec module registers itself when imported; rec.codecs does not import it yet (the
registry's list is pinned by tests/test_codecs.py), so this module imports it in a fixture
and takes it out of the registry again afterwards, whatever the order of the test files.
"""

import importlib
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from rec.container import Container, Header, SamplerSpec
from rec.errors import FormatError, RecError
from tests.conftest import smooth_image
from tests.helpers import image_batch, install, tiny_brummer

NAME = "rec.codecs.brummer2021"


@pytest.fixture(scope="module")
def codec():
    from rec.codecs import registry

    registered = "brummer2021" in registry._BY_ID
    module = importlib.import_module(NAME)
    yield module
    if not registered:
        registry._BY_ID.pop("brummer2021", None)
        sys.modules.pop(NAME, None)


@pytest.fixture(scope="module")
def net():
    return tiny_brummer(gain=1000.0, support=8).eval()  # several winning priors, escapes


def _image(h, w, seed=1):
    return smooth_image(np.random.default_rng(seed), h, w)


@pytest.mark.parametrize("n_priors,kind", [(4, "skewed"), (64, "uniform"), (64, "skewed"), (300, "uniform")])
def test_the_index_side_information_round_trips_and_the_smaller_coding_is_kept(codec, n_priors, kind):
    rng = np.random.default_rng(n_priors)
    n = 777
    if kind == "uniform":
        indices = rng.integers(0, n_priors, n)
    else:
        indices = np.minimum(rng.geometric(0.6, n) - 1, n_priors - 1)
    payload, method = codec.encode_indices(indices, n_priors)
    decoded, method2 = codec.decode_indices(payload, n, n_priors)
    assert np.array_equal(decoded, indices) and method2 == method
    assert method in codec.INDEX_METHODS and payload[0] == codec.INDEX_METHODS.index(method)
    # constant indices and a single prior
    p, _ = codec.encode_indices(np.zeros(50, np.int64), n_priors)
    assert np.array_equal(codec.decode_indices(p, 50, n_priors)[0], np.zeros(50))
    assert codec.encode_indices(np.zeros(9, np.int64), 1) == (b"", "none")
    with pytest.raises(FormatError):
        codec.decode_indices(payload, n + 1, n_priors)
    with pytest.raises(FormatError):
        codec.decode_indices(bytes([7]) + payload[1:], n, n_priors)


def test_the_kept_coding_is_the_smaller_one(codec):
    import lzma

    rng = np.random.default_rng(0)
    skewed = np.minimum(rng.geometric(0.5, 1536) - 1, 63)
    periodic = np.tile(np.arange(64), 24)  # a pattern LZMA finds and a histogram does not
    for indices, expected in ((skewed, "categorical"), (periodic, "lzma")):
        payload, method = codec.encode_indices(indices, 64)
        lz = 1 + len(lzma.compress(indices.astype(np.uint8).tobytes(), format=lzma.FORMAT_RAW, filters=codec._LZMA_FILTERS))
        assert method == expected
        assert len(payload) <= lz


@pytest.mark.parametrize("height,width", [(5, 7), (37, 53), (65, 130), (17, 200)])
def test_a_tiny_model_round_trips_bytes_exactly(codec, net, height, width):
    image = _image(height, width)
    r = codec.encode(net, image)
    decoded, q, indices, method = codec.decode(net, r.data)
    assert decoded.shape == (height, width, 3) and decoded.dtype == np.uint8
    assert np.array_equal(decoded, r.image)  # decode(encode(x)) is the encoder's reconstruction
    assert torch.equal(q, r.q) and np.array_equal(indices, r.indices) and method == r.index_method
    # the encoder's choice is the cheapest prior of every location
    table = codec.coding_table(net)
    symbols, _ = table.table.to_symbols(r.q.reshape(8, -1).numpy().astype(np.int64))
    costs = table.costs[:, np.arange(8)[:, None], symbols].sum(axis=1)
    assert np.array_equal(indices.ravel(), costs.argmin(axis=0))


def test_several_priors_and_escapes_are_exercised(codec, net):
    r = codec.encode(net, _image(96, 80))
    assert len(np.unique(r.indices)) >= 2 and r.bits_escapes > 0 and r.bits_index > 0
    assert np.array_equal(codec.decode(net, r.data)[0], r.image)


def test_bytes_written_are_within_one_percent_of_the_tables_estimate_plus_side_information(codec):
    net = tiny_brummer(gain=30.0).eval()
    r = codec.encode(net, _image(256, 256, seed=3), reconstruct=False)
    assert r.estimated_bits > 5000
    assert abs(r.bits_y - r.estimated_bits) <= 0.01 * r.estimated_bits
    side = r.bits_index + r.bits_escapes
    assert 8 * len(r.data) == r.bits_y + side + r.overhead_bits
    assert abs(r.bits_y + side - (r.estimated_bits + side)) <= 0.01 * (r.estimated_bits + side)


def test_a_corrupted_or_foreign_file_gives_a_format_error(codec, net):
    r = codec.encode(net, _image(40, 48), reconstruct=False)
    data = bytearray(r.data)
    for pos in (len(data) // 2, len(data) - 10, 30):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises(FormatError):
            codec.decode(net, bytes(bad))
    with pytest.raises(FormatError):
        codec.decode(net, bytes(data[:-7]))
    with pytest.raises(FormatError, match="another model"):
        codec.decode(tiny_brummer(gain=999.0, support=8).eval(), r.data)
    # the same bytes under a header that pins another table
    c = Container.from_bytes(r.data)
    h = c.header
    other = Header(h.width, h.height, h.codec_id, h.model_id, h.model_hash, 0, (SamplerSpec("static-table", {"digest": 1}),))
    with pytest.raises(FormatError, match="another static table"):
        codec.decode(net, Container(other, c.sections).to_bytes())
    # the sections of a larger image under a smaller header
    small = Header(16, 16, h.codec_id, h.model_id, h.model_hash, 0, h.samplers)
    with pytest.raises(FormatError):
        codec.decode(net, Container(small, c.sections).to_bytes())


def test_the_front_door_and_the_trainer_hooks(codec, net):
    import rec
    from rec.codecs import codec_for, codec_for_kind

    assert codec_for(net).codec_id == "brummer2021" and codec_for_kind("brummer2021") is codec_for(net)
    image = _image(70, 90)
    data = rec.compress(image, model=net)
    assert np.array_equal(rec.decompress(data, model=net), data.decoded)
    report = data.report.to_dict()
    assert report["bytes"] == len(data) and report["samplers"].startswith("static-table, indices: ")
    (level,) = report["levels"]
    assert level["side_bits"] > 0 and level["bits"] == level["index_bits"] + level["side_bits"] + level["outlier_bits"]
    with pytest.raises(RecError, match="fixed rate"):
        rec.compress(image, model=net, beta=1.0)
    c = codec_for(net)
    assert len(c.rate_label(net.config)) == 28
    groups = c.parameter_groups(net, 50.0)
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters())) and groups[1]["lr_scale"] == 10.0
    train = tiny_brummer(gain=1000.0).train()
    losses = c.losses(train, image_batch(6), warmup=1.0, sample=True, beta=None)
    losses.loss.backward()
    assert set(c.log_scalars(losses)) >= {"loss", "bpp", "mse", "psnr"} and c.level1_channels(losses) is None
    b1, b2 = c.level_bits(losses)
    assert float(b1.detach()) > 0 and float(b2.detach()) >= 0


def test_rec_eval_codes_a_zoo_model_through_the_front_door(empty_zoo):
    from rec.evaluation.runner import EvalImage, evaluate

    install(empty_zoo, "tiny-brummer", tiny_brummer(gain=30.0).eval())
    images = [EvalImage(f"im{i}.png", _image(48, 80, seed=i)) for i in range(2)]
    (result,) = evaluate(images, ["brummer2021"], models=["tiny-brummer"], progress=False, log=lambda m: None)
    (point,) = result.points
    assert result.codec == "brummer2021" and point.setting == "tiny-brummer" and len(point.images) == 2
    assert point.bpp > 0 and np.isfinite(point.psnr)


def test_the_segmentation_figure_of_an_installed_model(tmp_path, monkeypatch):
    """scripts/figure_brummer_priors.py (the paper's Fig. 2) on a tiny model of a temporary user zoo."""
    pytest.importorskip("matplotlib")
    from rec.models import zoo
    from tests.helpers import load_script

    user = tmp_path / "zoo"
    user.mkdir()
    install(user, "brummer-test", tiny_brummer())
    monkeypatch.setenv("REC_ZOO", str(user))
    zoo.load_model.cache_clear()
    image = tmp_path / "im.png"
    Image.fromarray(smooth_image(np.random.default_rng(3), 96, 128)).save(image)
    assert load_script("figure_brummer_priors").main(["--image", str(image), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "brummer_priors_brummer-test_im.png").read_bytes()[:4] == b"\x89PNG"
    zoo.load_model.cache_clear()


def test_the_study_script_measures_rd_bits_and_stage_times(empty_zoo, tmp_path):
    """scripts/brummer_study.py's rd and timing parts on tiny models installed under the study's names."""
    import dataclasses

    from tests.helpers import lively_mbt, load_script

    net = tiny_brummer(gain=30.0)
    install(empty_zoo, "brummer2021-mid", net)
    other = tiny_brummer(gain=10.0)
    other.config = dataclasses.replace(other.config, lmbda=0.05)
    install(empty_zoo, "brummer2021-high", other)
    install(empty_zoo, "mbt2018-mid", lively_mbt())
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    for i, (h, w) in enumerate(((48, 80), (64, 48))):
        Image.fromarray(_image(h, w, seed=i)).save(kodak / f"kodim{i:02d}.png")
    out = tmp_path / "out"
    from rec.evaluation.runner import evaluate, write_results

    write_results(evaluate(str(kodak), ["brummer2021"], progress=False, log=lambda m: None), tmp_path / "rec")
    script = load_script("brummer_study")
    assert script.main(["--kodak", str(kodak), "--runs", str(tmp_path / "runs"), "--parts", "rd", "timing",
                        "--out", str(out), "--curve", str(tmp_path / "rec" / "brummer2021.json")]) == 0
    bits = json.loads((out / "bits.json").read_text())
    assert {r["model"] for r in bits["models"]} == {"brummer2021-mid", "brummer2021-high"}
    assert all(1.0 <= r["payload_over_estimate_max"] < 1.5 for r in bits["models"])  # tiny images: the flush counts
    timing = json.loads((out / "timing.json").read_text())["models"]
    assert set(timing) == {"brummer2021-mid", "mbt2018-mid"}
    assert timing["brummer2021-mid"]["decode"]["cdf"] > 0 and timing["mbt2018-mid"]["decode"]["nn_hyper"] > 0
    text = (out / "README.md").read_text()
    assert "| brummer2021 (static priors) | 0.05 |" in text and "Table 1" in text and "the ratio is" in text
    assert not (out / "mbt2018-hyperprior.json").exists()  # no baseline run: no baseline curve
