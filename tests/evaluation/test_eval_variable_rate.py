"""`rec eval` with variable-rate models (one rate point per rate) and models given as files."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

import rec.codec
from rec.errors import RecError
from rec.evaluation.classical import JPEG
from rec.evaluation.cli_eval import add_parser
from rec.evaluation.model_choice import model_rates, parse_rates
from rec.evaluation.results import load_curve
from rec.evaluation.runner import EvalImage, evaluate, evaluate_mbt2018, write_results
from rec.models.joint import JointConfig
from rec.models.rate import standard_rates
from rec.training.checkpoint import save_checkpoint
from rec.training.config import RunConfig
from tests.conftest import smooth_image
from tests.helpers import FAST, FAST_STEM, lively_mbt, tiny_model, tiny_variable_rate_model

RATES = [0.2, 3.0]
QUIET = dict(progress=False, log=lambda m: None)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return [EvalImage(f"im{i}.png", smooth_image(rng, 48, 64)) for i in range(2)]


@pytest.fixture(scope="module")
def vr():
    return tiny_variable_rate_model()


@pytest.fixture
def compressions(monkeypatch):
    """Every call of the front door's compress, as (model name, rate)."""
    calls = []
    original = rec.codec.compress

    def counted(image, model=None, *args, rate=None, **kw):
        calls.append((getattr(model, "name", model), rate))
        return original(image, model, *args, rate=rate, **kw)

    monkeypatch.setattr(rec.codec, "compress", counted)
    return calls


def _cli(argv):
    parser = argparse.ArgumentParser(prog="rec")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


def _without_times(path):
    raw = json.loads(path.read_text())
    for key in ("encoding_time", "decoding_time"):
        raw["results"].pop(key)
    return raw


def test_a_variable_rate_model_makes_one_point_per_rate_and_a_curve_of_its_own(images, vr, tmp_path):
    fixed = tiny_model(1)
    seen = []
    results = evaluate(images, ["rec"], models=[fixed, vr], samplers=FAST, rates=RATES, points_dir=tmp_path,
                       on_point=lambda r, p, s: seen.append(p.setting), **QUIET)
    assert [r.codec for r in results] == [f"rec-gamma-pln-{FAST_STEM}", f"rec-tiny-vr-0-{FAST_STEM}"]
    family, own = results
    assert [p.setting for p in family.points] == ["tiny-1"] and "rate_parameter" not in family.meta
    assert "beta" not in family.curve().extra  # a fixed-rate model has no rate of its own to list
    assert sorted(seen) == ["tiny-1", "tiny-vr-0 β=0.2", "tiny-vr-0 β=3"]
    assert own.name == "REC tiny-vr-0, IS(bits=10,max_group=8):GS(bits=8,shards=4)"
    assert all(p.complete for p in own.points)

    json_path, csv_path = own.write(tmp_path)
    raw = json.loads(json_path.read_text())
    assert json_path.name == f"rec-tiny-vr-0-{FAST_STEM}.json"
    # fewer bits first: a larger β first, the rate parameter monotone through the file
    assert raw["results"]["beta"] == [3.0, 0.2]
    assert raw["meta"]["models"] == ["tiny-vr-0 β=3", "tiny-vr-0 β=0.2"]
    assert raw["meta"]["rates"] == [3.0, 0.2] and raw["meta"]["rate_parameter"] == "beta"
    assert len(raw["results"]["bpp"]) == 2 and raw["results"]["bpp"][0] != raw["results"]["bpp"][1]
    for key in ("kl_bpp", "bound_bpp", "ideal_psnr"):
        assert len(raw["results"][key]) == 2
    assert "tiny-vr-0 β=0.2" in csv_path.read_text()

    # each point is what the front door writes at that β, and the points file binds it to the β and the weights
    row = next(r for r in own.rows if r.setting == "tiny-vr-0 β=0.2" and r.image == "im0.png")
    data = rec.codec.compress(images[0].rgb, model=vr, samplers=FAST, rate=0.2, verify=False)
    assert row.bytes == len(data) and data.report.beta == 0.2
    lines = [json.loads(line) for line in (tmp_path / f"rec-tiny-vr-0-{FAST_STEM}.points.jsonl").read_text().splitlines()]
    ids = {line["setting_id"] for line in lines}
    digest = rec.codec.model_hash(vr).hex()
    assert ids == {f"tiny-vr-0 {digest} beta=0.2", f"tiny-vr-0 {digest} beta=3.0"}


def test_by_default_six_rates_log_spaced_over_the_range(vr):
    assert standard_rates(0.1, 4.0) == [0.1, 0.2091, 0.4373, 0.9146, 1.913, 4.0]
    assert model_rates("tiny-vr-0", vr.config, None, "β") == tuple(standard_rates(0.1, 4.0))
    assert model_rates("tiny-1", tiny_model(1).config, RATES, "β") == (None,)  # a fixed-rate model: its one rate
    assert parse_rates("0.5, 2,0.5") == [0.5, 2.0] and parse_rates(None) is None
    for bad in ("", "0", "-1", "x"):
        with pytest.raises(RecError, match="--rates must be"):
            parse_rates(bad)


def test_a_rate_outside_the_range_is_refused_before_any_coding(images, vr, tmp_path, compressions, monkeypatch):
    encodes = []
    monkeypatch.setattr(JPEG, "_encode", lambda self, rgb, q: encodes.append(q))
    with pytest.raises(RecError, match=r"tiny-vr-0: β = 10 is outside the model's range \[0.1, 4\]"):
        evaluate(images, ["jpeg", "rec"], models=[vr], samplers=FAST, rates=[0.2, 10.0], points_dir=tmp_path, **QUIET)
    assert encodes == [] and compressions == [] and list(tmp_path.iterdir()) == []
    messages = []  # rates given to a run without a variable-rate model are said to be ignored
    (res,) = evaluate(images[:1], ["rec"], models=[tiny_model(1)], samplers=FAST, rates=RATES, progress=False,
                      log=messages.append)
    assert len(res.points) == 1 and any("no variable-rate model" in m for m in messages)


def test_a_variable_rate_mbt2018_lists_its_lambdas_beside_the_fixed_models(images):
    config = JointConfig(N=8, M=6, F=8, G=8, lmbda=0.01, lmbda_min=0.002, lmbda_max=0.05, knots=4)
    vr, fixed = lively_mbt(config=config), lively_mbt(1)
    alone = evaluate_mbt2018(images[:1], [vr], rates=[0.04, 0.004], **QUIET)
    assert [p.setting for p in alone.points] == ["mbt-vr-0 λ=0.004", "mbt-vr-0 λ=0.04"]  # larger λ, more bits
    assert alone.curve().extra["lambda"] == (0.004, 0.04) and alone.meta["rates"] == [0.004, 0.04]
    both = evaluate_mbt2018(images[:1], [fixed, vr], rates=[0.004], **QUIET)  # one result for the codec
    assert sorted(p.setting for p in both.points) == ["mbt-1", "mbt-vr-0 λ=0.004"]
    lambdas = dict(zip(both.meta["models"], both.curve().extra["lambda"]))
    assert lambdas == {"mbt-1": pytest.approx(fixed.config.lmbda), "mbt-vr-0 λ=0.004": 0.004}
    assert dict(zip(both.meta["models"], both.meta["rates"])) == {"mbt-1": None, "mbt-vr-0 λ=0.004": 0.004}


def test_resume_across_a_variable_rate_run(images, vr, tmp_path, compressions):
    (whole,) = evaluate(images, ["rec"], models=[vr], samplers=FAST, rates=RATES, points_dir=tmp_path / "whole", **QUIET)
    write_results([whole], tmp_path / "whole")
    compressions.clear()

    class Stop(Exception):
        pass

    def stop(result, point, seconds):
        raise Stop

    out = tmp_path / "run"
    with pytest.raises(Stop):
        evaluate(images, ["rec"], models=[vr], samplers=FAST, rates=RATES, points_dir=out, on_point=stop, **QUIET)
    assert compressions == [("tiny-vr-0", 0.2)] * 2
    compressions.clear()
    (resumed,) = evaluate(images, ["rec"], models=[vr], samplers=FAST, rates=RATES, points_dir=out, **QUIET)
    assert compressions == [("tiny-vr-0", 3.0)] * 2  # only the rate not measured yet
    (path,) = [p for p in write_results([resumed], out) if p.suffix == ".json"]
    assert _without_times(path) == _without_times(tmp_path / "whole" / path.name)
    compressions.clear()
    (more,) = evaluate(images, ["rec"], models=[vr], samplers=FAST, rates=[0.2, 1.0, 3.0], points_dir=out, **QUIET)
    assert compressions == [("tiny-vr-0", 1.0)] * 2 and more.curve().extra["beta"] == (3.0, 1.0, 0.2)


def test_cli_eval_takes_checkpoints_labelled_by_their_stem(tmp_path, vr):
    data = tmp_path / "images"
    data.mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(8), 48, 64)).save(data / "a.png")
    paths = []
    for stem, model in (("mine", tiny_model(2)), ("vr", vr)):
        paths.append(tmp_path / f"{stem}.pt")
        save_checkpoint(paths[-1], model, torch.optim.Adam(model.parameters()), 0, RunConfig(model=model.config))
    out = tmp_path / "res"
    _cli(["eval", str(data), "--codec", "rec", "--models", ",".join(map(str, paths)), "--rates", "3,0.2",
          "--samplers", FAST, "--quiet", "--out", str(out)])
    family = load_curve(out / f"rec-gamma-pln-{FAST_STEM}.json")
    assert family.meta["models"] == ["mine"] and len(family) == 1 and "failures" not in family.meta
    own = load_curve(out / f"rec-vr-{FAST_STEM}.json")  # decoded with the model object: the zoo has no "vr"
    assert own.meta["models"] == ["vr β=3", "vr β=0.2"] and own.extra["beta"] == (3.0, 0.2)
    assert "--rates 3,0.2" in own.meta["command"] and "failures" not in own.meta
    with pytest.raises(RecError, match="unknown model 'missing.pt'.*zoo models"):
        _cli(["eval", str(data), "--codec", "rec", "--models", "missing.pt", "--out", str(out)])
    with pytest.raises(RecError, match=r"vr: β = 9 is outside the model's range \[0.1, 4\]"):
        _cli(["eval", str(data), "--codec", "rec", "--models", str(paths[1]), "--rates", "9", "--out", str(out)])
