"""Help texts: sampler parameters from the classes, bad parameters named, defaults shown as values,
the keys of `rec train --set`, and `rec decode`'s line."""

import dataclasses
import inspect

import numpy as np
import pytest
from PIL import Image

from rec.cli import build_parser, main
from rec.codecs.rec import BUDGET_SAMPLERS, DEFAULT_SAMPLERS
from rec.models.zoo import DEFAULT_MODEL
from rec.errors import RecError
from rec.samplers import SAMPLERS, describe_samplers, make, parse_sampler, sampler_parameters
from rec.training.config import TrainConfig
from tests.conftest import smooth_image


def _help(*argv) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    p = sub[argv[0]] if argv else parser
    return p.format_help()


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_parameter_is_listed_with_default_and_meaning(name):
    cls = SAMPLERS[name]
    signature = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    params = sampler_parameters(name)
    assert [p.name for p in params] == signature
    assert all(p.meaning for p in params)  # every one documented in the class's Args:
    text = describe_samplers()
    for p in params:
        assert f"  {p.name}={p.default!r}" in text


def test_a_bad_parameter_names_the_valid_ones():
    with pytest.raises(RecError) as e:
        parse_sampler("importance(bitz=3)")
    message = str(e.value)
    assert "'bitz'" in message and "unexpected keyword" not in message
    assert all(p.name in message for p in sampler_parameters("importance"))
    with pytest.raises(RecError, match="its parameters: bits, table, alpha"):
        make("rejection", bits=8, nope=1)
    with pytest.raises(RecError, match="unknown sampler 'nope'.*aliases"):
        parse_sampler("nope")


def test_rec_samplers_lists_them(capsys):
    assert main(["samplers"]) == 0
    out = capsys.readouterr().out
    assert DEFAULT_SAMPLERS in out and BUDGET_SAMPLERS in out and DEFAULT_MODEL in out  # the default is the model's
    for name in SAMPLERS:
        assert name in out
    assert "max_group=256" in out and "shards=30" in out


def test_defaults_are_shown_as_values():
    for command in ("encode", "eval", "bench"):
        text = " ".join(_help(command).split())
        flat = "".join(_help(command).split())
        assert "DEFAULT_SAMPLERS" not in text, command
        assert "".join(DEFAULT_SAMPLERS.split()) in flat, command
        assert "".join(BUDGET_SAMPLERS.split()) in flat, command  # an iso-KL model's own pair
    assert "its parameters" not in _help("encode") and "partial_margin" in _help("encode")


def test_train_set_lists_the_keys():
    text = _help("train")
    for f in dataclasses.fields(TrainConfig):
        assert f"train.{f.name}=" in text
    assert "model.gamma_inf=0.06" in text and "model.lmbda=" in text


def test_decode_prints_one_line(tmp_path, empty_zoo, capsys):
    from tests.helpers import install, tiny_model

    install(empty_zoo, "tiny", tiny_model(0))
    png, rec_file, out = tmp_path / "in.png", tmp_path / "x.rec", tmp_path / "x.png"
    Image.fromarray(smooth_image(np.random.default_rng(0), 40, 56)).save(png)
    assert main(["encode", str(png), str(rec_file), "--model", "tiny", "--sampler", "is(bits=8):is(bits=8)"]) == 0
    capsys.readouterr()
    assert main(["decode", str(rec_file), str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} (56×40)\n"
    assert main(["encode", str(png), str(rec_file), "--model", "tiny", "--sampler", "is(bitz=8):is"]) == 2
    err = capsys.readouterr().err
    assert "has no parameter 'bitz'" in err and "its parameters: bits" in err
