"""The user zoo (issue 21): `rec export` puts a trained model beside the shipped ones, by name."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rec.cli import main
from rec.codec import compress, decompress, read_header
from rec.errors import RecError
from rec.models.zoo import list_models, load_model, user_zoo_dir
from rec.training import load_config
from rec.training.checkpoint import export_model, save_checkpoint
from tests.conftest import smooth_image

TINY = ["model.kind=gamma-pln", "model.N=8", "model.M=6", "model.F=8", "model.G=4"]


@pytest.fixture
def user_zoo(tmp_path, monkeypatch):
    d = tmp_path / "my-zoo"
    monkeypatch.setenv("REC_ZOO", str(d))
    load_model.cache_clear()
    yield d
    load_model.cache_clear()


@pytest.fixture
def checkpoint(tmp_path):
    config = load_config(None, TINY)
    torch.manual_seed(0)
    from rec.models.kinds import build

    model = build(config.model)
    path = tmp_path / "run" / "last.pt"
    path.parent.mkdir()
    save_checkpoint(path, model, torch.optim.Adam(model.parameters()), 7, config)
    return path


def test_the_user_zoo_follows_rec_zoo_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("REC_ZOO", str(tmp_path / "a"))
    assert user_zoo_dir() == tmp_path / "a"
    monkeypatch.delenv("REC_ZOO")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_zoo_dir() == tmp_path / "xdg" / "rec" / "zoo"


def test_rec_export_then_encode_and_decode_by_name(user_zoo, checkpoint, tmp_path, capsys):
    shipped = {e.name for e in list_models()}
    assert main(["export", str(checkpoint), "my-tiny", "--description", "a tiny test model"]) == 0
    assert "my-tiny" in capsys.readouterr().out
    assert (user_zoo / "my-tiny.safetensors").exists() and "my-tiny" in json.loads((user_zoo / "index.json").read_text())
    entries = {e.name: e for e in list_models()}
    assert set(entries) == shipped | {"my-tiny"}
    mine = entries["my-tiny"]
    assert not mine.shipped and mine.steps == 7 and mine.kind == "gamma-pln" and mine.description == "a tiny test model"
    assert all(entries[n].shipped for n in shipped)
    rgb = smooth_image(np.random.default_rng(0), 48, 72)
    data = compress(rgb, model="my-tiny", samplers="importance(bits=6):importance(bits=6)", verify=False)
    assert read_header(data).header.model_id == "my-tiny"
    decoded = decompress(bytes(data))  # the model found by the name in the header, in the user zoo
    assert decoded.shape == rgb.shape
    png = tmp_path / "in.png"
    Image.fromarray(rgb).save(png)
    assert main(["encode", str(png), str(tmp_path / "x.rec"), "--model", "my-tiny", "--sampler", "is(bits=6):is(bits=6)"]) == 0
    assert main(["decode", str(tmp_path / "x.rec"), str(tmp_path / "x.png")]) == 0
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["my-tiny"]["shipped"] is False and listed["my-tiny"]["path"] == str(user_zoo / "my-tiny.safetensors")


def test_export_refuses_a_shipped_name_and_bad_names(user_zoo, checkpoint, capsys):
    taken = list_models()[0].name if list_models() else None
    if taken is not None:
        with pytest.raises(RecError, match="already has a model named"):
            export_model(checkpoint, taken, wall_hours=0, data="", zoo=user_zoo)
    for bad in ("../evil", "a/b", "", ".hidden"):
        assert main(["export", str(checkpoint), bad]) == 2
        assert "model name" in capsys.readouterr().err
    assert not user_zoo.exists() or not list(user_zoo.glob("*.safetensors"))


def test_a_user_zoo_entry_with_a_shipped_name_or_tampered_weights_is_refused(user_zoo, checkpoint):
    export_model(checkpoint, "mine", wall_hours=0, data="", zoo=user_zoo)
    weights = user_zoo / "mine.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(RecError, match="do not match the zoo"):
        load_model("mine")
    if list_models():
        index = json.loads((user_zoo / "index.json").read_text())
        shipped = next(e.name for e in list_models() if e.shipped)
        index[shipped] = dict(index["mine"], name=shipped)
        (user_zoo / "index.json").write_text(json.dumps(index))
        with pytest.raises(RecError, match="name of a shipped model"):
            list_models()
