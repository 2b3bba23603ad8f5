"""Where the networks run (``device``): rec.codecs.base.checked_device, the front door and the CLI.

This machine may have no CUDA device: the tests check that the CPU path is the same as no
device at all, that every refusal is a RecError naming the problem before any work, and
that nothing is written when a device is refused.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from rec.cli import main
from rec.codec import compress, decompress, resolve_model
from rec.codecs import checked_device, get_codec
from rec.errors import RecError
from rec.evaluation.measurements import EvalImage
from rec.evaluation.runner import evaluate
from rec.fuzzing import smooth_image
from tests.helpers import FAST, tiny_mbt, tiny_model

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture
def rgb():
    return smooth_image(np.random.default_rng(4), 70, 90)


def test_checked_device_names_the_codec_and_the_device():
    assert checked_device(get_codec("rec"), "cpu") == torch.device("cpu")
    assert checked_device(get_codec("rec"), torch.device("cpu")) == torch.device("cpu")
    for codec in ("mbt2018", "mentzer2018", "brummer2021"):
        with pytest.raises(RecError, match="runs on cpu, not on cuda"):
            checked_device(get_codec(codec), "cuda")
    with pytest.raises(RecError, match="unknown device 'gpu7'"):
        checked_device(get_codec("rec"), "gpu7")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(RecError, match="sees no CUDA device"):
        checked_device(get_codec("rec"), "cuda")


def test_rec_on_the_cpu_writes_the_same_bytes_as_no_device(rgb):
    net = tiny_model(3)
    plain = compress(rgb, model=net, samplers=FAST, seed=5)
    on_cpu = compress(rgb, model=net, samplers=FAST, seed=5, device="cpu")
    assert bytes(on_cpu) == bytes(plain)
    assert np.array_equal(decompress(bytes(on_cpu), model=net, device="cpu"), plain.decoded)


def test_a_zoo_model_stays_where_it_is_cached():
    from rec.models.zoo import DEFAULT_MODEL, list_models

    if DEFAULT_MODEL not in {e.name for e in list_models()}:
        pytest.skip("no shipped default model")
    assert resolve_model(DEFAULT_MODEL, "cpu") is resolve_model(DEFAULT_MODEL)


def test_quantized_codecs_refuse_cuda_before_any_work(rgb):
    with pytest.raises(RecError, match="runs on cpu, not on cuda"):
        compress(rgb, model=tiny_mbt(), device="cuda")
    data = compress(rgb, model=tiny_mbt(), device="cpu")
    with pytest.raises(RecError, match="runs on cpu, not on cuda"):
        decompress(bytes(data), model=tiny_mbt(), device="cuda")


def test_eval_checks_the_device_of_every_learned_codec_first():
    image = EvalImage("a", smooth_image(np.random.default_rng(1), 64, 64))
    with pytest.raises(RecError, match="mbt2018.*runs on cpu, not on cuda"):
        evaluate([image], ["mbt2018", "rec"], models=[tiny_mbt(), tiny_model()], samplers=FAST, device="cuda")
    messages = []
    results = evaluate([image], ["jpeg"], qualities=[50], device="cuda", log=messages.append)  # nothing learned
    assert results and "--device: no learned codec in this run: ignored" in messages


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_cli_refuses_an_absent_device_and_writes_nothing(tmp_path, capsys):
    png = tmp_path / "in.png"
    Image.fromarray(smooth_image(np.random.default_rng(0), 64, 80)).save(png)
    out = tmp_path / "x.rec"
    assert main(["encode", str(png), str(out), "--device", "cuda"]) == 2
    assert "sees no CUDA device" in capsys.readouterr().err
    assert not out.exists()
    assert main(["encode", str(tmp_path), str(tmp_path / "out"), "--device", "cuda"]) == 2
    assert "a directory is coded on the CPU" in capsys.readouterr().err


def test_the_device_check_script_runs_on_the_cpu(tmp_path):
    from rec.models.zoo import DEFAULT_MODEL, list_models
    from tests.helpers import load_script

    if DEFAULT_MODEL not in {e.name for e in list_models()}:
        pytest.skip("no shipped default model")
    out = tmp_path / "device_codec.md"
    assert load_script("check_device_codec").main(["--device", "cpu", "--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| cpu |")]
    assert len(rows) == 4
    assert len({row.split("|")[4] for row in rows}) == 1  # one PSNR: the CPU decodes its own file identically
    assert "wrote the same bytes" in out.read_text()
