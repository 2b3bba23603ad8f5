"""The variable-rate mbt2018 reference end to end: λ in the file (the RATE section), the decoder at the
file's λ, refusals of crafted files, fixed-rate files unchanged, training with per-crop λ, `rec encode --rate`."""

import json
import math
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from rec import reference
from rec.cli import main
from rec.codec import compress, decompress, read_header, read_rate
from rec.codecs import model_hash
from rec.container import Container, Section, SectionType
from rec.errors import FormatError, RecError
from rec.models.joint import JointConfig, JointPrior
from rec.training import load_config
from rec.training.loop import Trainer
from tests.conftest import smooth_image
from tests.helpers import lively_mbt

M = 6
RANGE = dict(lmbda=0.01, lmbda_min=0.002, lmbda_max=0.05, knots=4)


@pytest.fixture(scope="module")
def model():
    return lively_mbt(config=JointConfig(N=8, M=M, F=8, G=8, **RANGE))


@pytest.fixture(scope="module")
def fixed():
    return lively_mbt(config=JointConfig(N=8, M=M, F=8, G=8, lmbda=0.01))


@pytest.fixture(scope="module")
def image():
    return smooth_image(np.random.default_rng(3), 70, 100)


def test_files_carry_their_lambda_and_decode_at_it(model, image):
    files = {lam: compress(image, model=model, rate=lam) for lam in (0.003, 0.04)}
    assert bytes(files[0.003]) != bytes(files[0.04])
    for lam, data in files.items():
        assert data.report.beta == lam and read_rate(read_header(data)) == lam
        # byte-exact: the decoder's image is the encoder's own reconstruction at that λ, and no other λ's
        own = reference.encode(model, image, model.name, model_hash(model), lmbda=lam)
        assert own.data == bytes(data) and own.lmbda == lam
        dec = reference.decode(model, bytes(data), model_hash(model))
        assert dec.lmbda == lam and torch.equal(dec.symbols, own.symbols) and torch.equal(dec.y_hat, own.y_hat)
        assert np.array_equal(dec.image, own.image) and np.array_equal(data.decoded, own.image)
        assert np.array_equal(decompress(data, model=model), own.image)
    other = reference.encode(model, image, lmbda=0.04)
    assert not np.array_equal(other.image, reference.encode(model, image, lmbda=0.003).image)
    # the default rate is the config's; beta= is the older name of rate=
    assert compress(image, model=model).report.beta == 0.01
    assert bytes(compress(image, model=model, beta=0.003)) == bytes(files[0.003])
    with pytest.raises(RecError, match="same setting"):
        compress(image, model=model, rate=0.003, beta=0.004)
    with pytest.raises(RecError, match="λ = 0.5 is outside this model's range"):
        compress(image, model=model, rate=0.5)


def test_a_file_with_its_lambda_removed_edited_or_out_of_range_is_refused(model, fixed, image):
    data = compress(image, model=model, rate=0.003)
    c = read_header(data)
    other = [s for s in c.sections if s.kind != SectionType.RATE]
    assert len(other) == len(c.sections) - 1
    for sections, match in ((other, "no rate section"),
                            ([Section(SectionType.RATE, 0, struct.pack("<d", 0.5)), *other], "λ = 0.5 is outside"),
                            ([Section(SectionType.RATE, 0, struct.pack("<d", 0.001)), *other], "outside"),
                            ([Section(SectionType.RATE, 0, b"\x00" * 8), *other], "invalid"),
                            ([Section(SectionType.RATE, 0, b"\x00" * 4), *other], "one f64")):
        crafted = Container(c.header, tuple(sections)).to_bytes()  # CRC resealed
        with pytest.raises(FormatError, match=match):
            decompress(crafted, model=model)
        with pytest.raises(FormatError, match=match):
            reference.decode(model, crafted)
    # another λ of the range: decoded at that λ (so not into the encoder's image), or refused
    edited = Container(c.header, (Section(SectionType.RATE, 0, struct.pack("<d", 0.04)), *other)).to_bytes()
    try:
        assert not np.array_equal(reference.decode(model, edited).image, data.decoded)
    except FormatError:
        pass
    # a fixed-rate model's file has no RATE section, and a RATE section in one is refused
    plain = compress(image, model=fixed)
    pc = read_header(plain)
    assert plain.report.beta is None and read_rate(pc) is None
    assert all(s.kind != SectionType.RATE for s in pc.sections)
    with pytest.raises(FormatError, match="fixed rate"):
        decompress(Container(pc.header, (Section(SectionType.RATE, 0, struct.pack("<d", 0.01)), *pc.sections)).to_bytes(),
                   model=fixed)
    with pytest.raises(RecError, match="fixed rate: it takes no λ"):
        compress(image, model=fixed, rate=0.01)


def test_fixed_rate_files_are_what_the_fixed_rate_model_writes(fixed, image):
    """A variable-rate model loaded from fixed-rate weights (modulations at identity) computes the same
    latents at every λ; its files differ from the fixed-rate model's by the RATE section only."""
    from rec.models.zoo import load_state

    vr = JointPrior(JointConfig(N=8, M=M, F=8, G=8, **RANGE)).eval()
    load_state(vr, fixed.state_dict(), strict=False)
    a = reference.encode(fixed, image, "m", b"\x02" * 16)
    for lam in (0.002, 0.01, 0.05):
        b = reference.encode(vr, image, "m", b"\x02" * 16, lmbda=lam)
        assert torch.equal(a.symbols, b.symbols) and np.array_equal(a.image, b.image)
        ca, cb = Container.from_bytes(a.data), Container.from_bytes(b.data)
        assert cb.sections[0] == Section(SectionType.RATE, 0, struct.pack("<d", lam)) and cb.sections[1:] == ca.sections


VR = ["model.kind=mbt2018", "model.N=8", f"model.M={M}", "model.F=8", "model.G=4", "model.lmbda=0.01", "model.lmbda_min=0.002",
      "model.lmbda_max=0.05", "model.knots=4"]


def test_training_draws_lambda_per_crop_and_validates_at_the_range(image_dir, tmp_path, monkeypatch):
    config = load_config(None, VR + [f"train.data={image_dir}", f"train.val={image_dir}", "train.crop=64", "train.batch=2",
                                     "train.bf16=false", "train.steps=3", "train.val_every=3", "train.checkpoint_every=3",
                                     "train.schedule=cosine", "train.lr_warmup=1", "train.ema=0.9", "train.warmup=0"])
    assert config.model.rate_range == (0.002, 0.05)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    seen = []
    losses = trainer.codec.losses

    def recording(net, x, *, warmup, sample, beta):
        seen.append((sample, None if beta is None else beta.clone()))
        return losses(net, x, warmup=warmup, sample=sample, beta=beta)

    monkeypatch.setattr(trainer.codec, "losses", recording)
    trainer.run()
    log = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert [r["step"] for r in log] == [1, 2, 3] and all(math.isfinite(r["loss"]) for r in log)
    train = [b for sample, b in seen if sample]
    assert len(train) == 3 and all(b.shape == (2,) and ((0.002 <= b) & (b <= 0.05)).all() for b in train)
    assert len({float(b[0]) for b in train}) == 3  # a new draw every step
    val = log[-1]["val"]
    assert [v["beta"] for v in val] == pytest.approx([0.002, math.sqrt(0.002 * 0.05), 0.05], rel=1e-4)
    assert all(math.isfinite(v["loss"]) and v["active_channels"] is None for v in val)
    assert (tmp_path / "run" / "last.pt").exists()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from rec.training.checkpoint import save_checkpoint

    config = load_config(None, VR)
    model = lively_mbt(config=config.model)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-vr.pt"
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(path, model, optimizer, 0, config)
    return path


def test_rec_encode_rate_and_info_name_lambda(checkpoint, tmp_path, capsys):
    png, out, alias = tmp_path / "in.png", tmp_path / "x.rec", tmp_path / "y.rec"
    Image.fromarray(smooth_image(np.random.default_rng(0), 64, 80)).save(png)
    assert main(["encode", str(png), str(out), "--model", str(checkpoint), "--rate", "0.02", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lambda"] == 0.02 and report["beta"] is None and report["rate_parameter"] == "lambda"
    assert main(["encode", str(png), str(alias), "--model", str(checkpoint), "--beta", "0.02"]) == 0
    assert "λ 0.02" in capsys.readouterr().out
    assert alias.read_bytes() == out.read_bytes()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["lambda"] == 0.02 and info["beta"] is None and info["rate_parameter"] == "lambda"
    assert "RATE" in [s["type"] for s in info["sections"]]
    assert main(["info", str(out)]) == 0
    assert "rate λ = 0.02" in capsys.readouterr().out
    assert main(["decode", str(out), str(tmp_path / "x.png"), "--model", str(checkpoint)]) == 0
    assert main(["encode", str(png), str(tmp_path / "z.rec"), "--model", str(checkpoint), "--rate", "1"]) == 2
    assert "outside this model's range" in capsys.readouterr().err
