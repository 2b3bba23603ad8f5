"""rec.codecs.mentzer2018: range coding under the 3D context model over wavefronts, byte-exact and at the model's own rate."""

import json
from importlib.resources import files

import numpy as np
import pytest
import torch

from rec.codec import compress, decompress, read_header
from rec.codecs import mentzer2018 as codec
from rec.container import Container, Header, SamplerSpec, Section, SectionType
from rec.errors import FormatError, RecError
from rec.image import read_image
from rec.models.context3d import wavefront_steps
from rec.models.pln import model_input
from rec.models.zoo import list_models
from tests.conftest import smooth_image
from tests.helpers import image_batch, install, tiny_mentzer

M = 4


@pytest.fixture(scope="module")
def net():
    return tiny_mentzer(M=M, gain=20.0).eval()


@pytest.fixture(scope="module")
def photo():
    return read_image(files("rec") / "data" / "kodim23.png")  # 768 × 512, the packaged sample


def _image(h, w, seed=1):
    return smooth_image(np.random.default_rng(seed), h, w)


@pytest.mark.parametrize("height,width", [(5, 7), (37, 53), (65, 130), (17, 200)])
def test_a_tiny_model_round_trips_bytes_exactly(net, height, width):
    image = _image(height, width)
    r = codec.encode(net, image)
    d = codec.decode(net, r.data)
    assert d.image.shape == (height, width, 3) and d.image.dtype == np.uint8
    assert np.array_equal(d.image, r.image)  # decode(encode(x)) is the encoder's reconstruction
    assert np.array_equal(d.symbols, r.symbols) and np.array_equal(d.depth, r.depth) and d.map_method == r.map_method
    _, m, h, w = net.latent_shapes(height, width)[0]
    assert r.steps == d.steps == wavefront_steps(m, h, w)


def test_a_real_photo_round_trips_in_one_network_step_per_wavefront(net, photo):
    for image in (photo, photo[11:400, 3:516]):  # 768 × 512 and an odd 513 × 389 crop
        r = codec.encode(net, image)
        d = codec.decode(net, r.data)
        assert np.array_equal(d.image, r.image) and np.array_equal(d.symbols, r.symbols)
        _, m, h, w = net.latent_shapes(*image.shape[:2])[0]
        assert d.steps == r.steps == wavefront_steps(m, h, w) == 4 * (m - 1) + 2 * (h - 1) + w
        assert 0 < r.coded < m * h * w and 20 * d.steps < m * h * w  # far fewer network steps than symbols
    assert (h, w, d.steps) == (49, 65, 173)
    assert wavefront_steps(32, 64, 96) == 346  # the default M = 32 on the 768 × 512 photo


def test_bits_written_match_the_models_masked_coding_cost(photo):
    """The payload is within 0.5 % + 64 bits of −Σ log2 of the coded integer probabilities (the range coder's
    overhead: its final words and its 24-bit fixed point, which constriction's categorical uses exactly as given),
    and those within 1e-4 of the model's own float32 masked coding cost MC (Eq. 19) of the same symbols
    (the counts differ from P's probabilities by < (L + 1)/2**24 each, far below one bit over the image)."""
    net = tiny_mentzer(M=6, gain=8.0).eval()
    image = photo[:256, :384]
    r = codec.encode(net, image, reconstruct=False)
    with torch.no_grad():
        losses = net(model_input(image, 8, channels_last=False))
    mc = float(losses.bits_mc)
    assert r.coded == int(losses.depth.sum()) and np.array_equal(r.depth, losses.depth[0].numpy())
    assert np.array_equal(r.symbols, losses.symbols[0].numpy())
    assert r.estimated_bits > 5000
    assert abs(r.estimated_bits - mc) <= 1e-4 * mc
    assert abs(r.bits_z - r.estimated_bits) <= 0.005 * r.estimated_bits + 64
    assert 8 * len(r.data) == r.bits_z + r.bits_map + r.overhead_bits


SHIPPED = sorted(e.name for e in list_models() if e.kind == "mentzer2018")


@pytest.mark.skipif(not SHIPPED, reason="no mentzer2018 model installed (the model pack)")
def test_a_shipped_model_round_trips_an_odd_crop_of_the_photo_at_its_own_rate(photo):
    """The first shipped model by name, through the front door and back from the header: bit-exact, and the
    payload within 2 % of the model's −Σ log2 P (issue 19's acceptance, on a trained model)."""
    image = photo[37:290, 101:434]  # 333 × 253
    data = compress(image, model=SHIPPED[0])
    assert read_header(data).header.codec_id == codec.CODEC_ID
    assert np.array_equal(decompress(bytes(data)), data.decoded)
    (level,) = data.report.levels
    assert level.kl_bits > 5000 and abs(level.index_bits - level.kl_bits) <= 0.02 * level.kl_bits
    assert data.report.psnr > 20


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (13, 17), (40, 61)])
def test_the_importance_map_round_trips(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    h, w = shape
    noisy = rng.integers(0, 9, shape)
    smooth = np.clip(np.round(4 + 3 * np.sin(np.arange(h)[:, None] / 5) * np.cos(np.arange(w)[None] / 7)), 0, 8).astype(np.int64)
    for depth in (noisy, smooth, np.full(shape, 8)):
        r = codec.map_residuals(depth, 8)
        assert r.shape == (h * w,) and r.min() >= 0 and r.max() <= 8
        assert np.array_equal(codec.map_from_residuals(r, h, w, 8), depth)
        payload, method = codec.encode_map(depth, 8)
        back, method2 = codec.decode_map(payload, h, w, 8)
        assert np.array_equal(back, depth) and method2 == method
    if h * w > 100:  # the prediction pays on a smooth map: mostly zero residuals
        assert np.mean(codec.map_residuals(smooth, 8) == 0) > 0.5
    with pytest.raises(FormatError, match="importance map"):
        codec.decode_map(payload, h + 1, w, 8)
    with pytest.raises(FormatError, match="importance map"):
        codec.decode_map(bytes([9]) + payload[1:], h, w, 8)


def test_a_model_without_importance_map_codes_every_symbol():
    net = tiny_mentzer(M=3, importance_map=False).eval()
    r = codec.encode(net, _image(40, 48))
    assert r.map_method == "none" and r.bits_map == 0 and r.coded == 3 * 5 * 6
    d = codec.decode(net, r.data)
    assert np.array_equal(d.image, r.image)
    with pytest.raises(FormatError):
        codec.decode(tiny_mentzer(M=3).eval(), r.data)  # another model (hash)


def _reseal(data: bytes, header=None, sections=None) -> bytes:
    c = Container.from_bytes(data)
    return Container(header or c.header, tuple(sections) if sections is not None else c.sections).to_bytes()


def test_a_corrupted_truncated_or_foreign_file_gives_a_format_error(net):
    r = codec.encode(net, _image(40, 48), reconstruct=False)
    data = bytearray(r.data)
    for pos in (len(data) // 2, len(data) - 10, 30, 5):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises(FormatError):
            codec.decode(net, bytes(bad))
    for cut in (1, 7, len(data) // 2, len(data) - 1):
        with pytest.raises(FormatError):
            codec.decode(net, bytes(data[:-cut]))
    import rec

    with pytest.raises(FormatError):  # the front door alike
        rec.decompress(bytes(data[:-3]), model=net)
    with pytest.raises(FormatError, match="another model"):
        codec.decode(tiny_mentzer(M=M, gain=19.0).eval(), r.data)
    c = Container.from_bytes(r.data)
    h = c.header
    other = Header(h.width, h.height, h.codec_id, h.model_id, h.model_hash, 0, (SamplerSpec("context3d", {"precision": 16}),))
    with pytest.raises(FormatError, match="other coding parameters"):
        codec.decode(net, _reseal(r.data, header=other))
    for width, height in ((16, 16), (400, 480)):  # the sections of the image under a smaller or larger header
        with pytest.raises(FormatError):
            codec.decode(net, _reseal(r.data, header=Header(width, height, h.codec_id, h.model_id, h.model_hash, 0, h.samplers)))
    huge = Header(65536, 65536, h.codec_id, h.model_id, h.model_hash, 0, h.samplers)
    with pytest.raises(FormatError, match="cannot decode"):  # refused before anything of that size is allocated
        codec.decode(net, _reseal(r.data, header=huge))
    payload = c.section(SectionType.PAYLOAD_LEVEL, 1)
    side = c.section(SectionType.SIDE_INFO, 1)
    with pytest.raises(FormatError, match="missing importance map"):
        codec.decode(net, _reseal(r.data, sections=[payload]))
    with pytest.raises(FormatError, match="32-bit words"):
        codec.decode(net, _reseal(r.data, sections=[Section(SectionType.PAYLOAD_LEVEL, 1, payload.payload[:-1]), side]))
    with pytest.raises(FormatError, match="longer"):
        codec.decode(net, _reseal(r.data, sections=[Section(SectionType.PAYLOAD_LEVEL, 1, payload.payload + bytes(8)), side]))


def test_resealed_garbage_decodes_or_fails_cleanly(net):
    """Payload edits behind a valid CRC: a FormatError or some image, never another exception."""
    r = codec.encode(net, _image(40, 48), reconstruct=False)
    c = Container.from_bytes(r.data)
    payload, side = c.section(SectionType.PAYLOAD_LEVEL, 1).payload, c.section(SectionType.SIDE_INFO, 1).payload
    rng = np.random.default_rng(0)
    for i in range(30):
        p, s = bytearray(payload), bytearray(side)
        target = p if i % 2 else s
        if len(target):
            target[rng.integers(len(target))] ^= int(rng.integers(1, 256))
        if i % 5 == 0:
            p = p[: max(0, len(p) - 4)]
        try:
            d = codec.decode(net, _reseal(r.data, sections=[Section(SectionType.PAYLOAD_LEVEL, 1, bytes(p)),
                                                            Section(SectionType.SIDE_INFO, 1, bytes(s))]))
            assert d.image.shape == (40, 48, 3)
        except FormatError:
            pass


def test_the_front_door_and_the_trainer_hooks(net):
    import rec
    from rec.codecs import codec_for, codec_for_kind

    c = codec_for(net)
    assert c.codec_id == "mentzer2018" and codec_for_kind("mentzer2018") is c
    image = _image(70, 90)
    data = rec.compress(image, model=net)
    assert np.array_equal(rec.decompress(data, model=net), data.decoded)
    report = data.report.to_dict()
    assert report["bytes"] == len(data) and report["samplers"].startswith("context3d, map: ")
    (level,) = report["levels"]
    assert level["side_bits"] > 0 and level["index_bits"] > 0 and level["outlier_bits"] == 0
    with pytest.raises(RecError, match="fixed rate"):
        rec.compress(image, model=net, beta=1.0)
    assert len(c.rate_label(net.config)) == 28
    groups = c.parameter_groups(net, 50.0)
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert groups[1]["lr_scale"] == net.config.context_lr_scale and groups[1]["params"][0] is net.context.conv0.weight
    train = tiny_mentzer(M=M).train()
    losses = c.losses(train, image_batch(6), warmup=1.0, sample=True, beta=None)
    losses.loss.backward()
    assert {"loss", "bpp", "mse", "psnr"} <= set(c.log_scalars(losses))
    b1, b2 = c.level_bits(losses)
    assert float(b1.detach()) > 0 and float(b2) >= 0 and c.level1_channels(losses).shape == (M,)
    with pytest.raises(RecError, match="ContextAutoencoder"):
        codec.encode(tiny_mentzer().encoder, image)


def test_rec_train_runs_three_steps_and_its_checkpoint_codes(image_dir, tmp_path):
    from rec.cli import main

    config = tmp_path / "tiny.toml"
    config.write_text(f"""
[model]
kind = "mentzer2018"
N = 8
M = 4
context = 4
blocks = 1
units = 1
distortion = "mse"
beta = 50.0
[train]
data = "{image_dir}"
val = "{image_dir}"
crop = 64
batch = 2
steps = 3
schedule = "cosine"
lr = 5e-4
lr_warmup = 1
ema = 0.9
warmup = 0
bf16 = false
val_every = 3
checkpoint_every = 3
""")
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["bpp"]) for r in records)
    assert np.isfinite(records[-1]["val"]["loss"]) and records[-1]["val"]["active_channels"] >= 1
    import rec

    image = _image(48, 56)
    data = rec.compress(image, model=str(out / "last.pt"))
    assert np.array_equal(rec.decompress(data, model=str(out / "last.pt")), data.decoded)


def test_rec_eval_codes_zoo_models_through_the_front_door_one_curve_per_objective(empty_zoo):
    from rec.evaluation.runner import EvalImage, evaluate

    install(empty_zoo, "tiny-mentzer", tiny_mentzer(M=M, distortion="ms-ssim").eval())
    install(empty_zoo, "tiny-mentzer-mse", tiny_mentzer(M=M, target_bpp=0.5).eval())
    images = [EvalImage(f"im{i}.png", _image(48, 80, seed=i)) for i in range(2)]
    results = evaluate(images, ["mentzer2018"], models=["tiny-mentzer-mse", "tiny-mentzer"], progress=False,
                       log=lambda m: None)
    assert [r.codec for r in results] == ["mentzer2018-ms-ssim", "mentzer2018-mse"]
    for result, name, target in zip(results, ("tiny-mentzer", "tiny-mentzer-mse"), (0.0, 0.5)):
        (point,) = result.points
        assert point.setting == name and len(point.images) == 2 and result.extra["target_bpp"] == [target]
        assert point.bpp > 0 and np.isfinite(point.psnr)
