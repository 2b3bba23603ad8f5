"""rec.codecs: the registry answers which codec serves a model or wrote a file; models answer their latent shapes."""

import numpy as np
import pytest
import torch

import rec.codecs as codecs
from rec.codec import compress, decompress, read_header
from rec.container import Container, Header
from rec.errors import FormatError, RecError
from rec.models.pln import PLN, ModelConfig, model_input
from tests.conftest import smooth_image
from tests.helpers import FAST, tiny_brummer, tiny_mbt, tiny_mentzer



def _pln(kind="gamma-pln"):
    torch.manual_seed(0)
    return PLN(ModelConfig(kind=kind, N=8, M=8, F=8, G=4)).eval()


def test_the_registry_holds_rec_and_mbt2018_and_finds_codecs_by_id_kind_and_model():
    assert [c.codec_id for c in codecs.codecs()] == ["rec", "mbt2018", "brummer2021", "mentzer2018"]
    assert all(isinstance(c, codecs.Codec) for c in codecs.codecs())
    assert codecs.get_codec("mbt2018").kinds == ("mbt2018",)
    with pytest.raises(FormatError, match="unknown codec 'nope'"):
        codecs.get_codec("nope")
    for kind in ("pln", "gamma-pln", "vae"):
        assert codecs.codec_for_kind(kind).codec_id == "rec"
        assert codecs.codec_for(_pln(kind)).codec_id == "rec"
    assert codecs.codec_for(tiny_mbt(M=8, G=8)).codec_id == "mbt2018"
    with pytest.raises(RecError, match="model of a known kind"):
        codecs.codec_for(object())
    with pytest.raises(ValueError, match="registered already"):
        codecs.register(codecs.get_codec("rec"))


def test_a_file_of_an_unregistered_codec_is_refused():
    data = Container(Header(8, 8, "other", "m", bytes(16), 0, ()), ()).to_bytes()
    with pytest.raises(FormatError, match="unknown codec 'other'"):
        read_header(data)
    with pytest.raises(FormatError, match="unknown codec 'other'"):
        decompress(data, model=_pln())


def test_a_file_decoded_with_a_model_of_another_codec_is_refused():
    data = compress(smooth_image(np.random.default_rng(0), 24, 32), model=_pln(), samplers=FAST, verify=False)
    with pytest.raises(FormatError, match="coded by REC; model .* is a mbt2018"):
        decompress(data, model=tiny_mbt(M=8, G=8))


@pytest.mark.parametrize("height,width", [(5, 7), (64, 64), (65, 130)])
def test_models_answer_the_shapes_of_their_coded_latents(height, width):
    rgb = np.zeros((height, width, 3), np.uint8)
    for kind in ("gamma-pln", "vae"):
        net = _pln(kind)
        a = net.analyze(model_input(rgb, net.config.factor))
        expected = (tuple(a.level1.mean.shape),) + ((tuple(a.q2.mean.shape),) if a.q2 is not None else ())
        assert net.latent_shapes(height, width) == expected
    joint = tiny_mbt(M=8, G=8)
    with torch.no_grad():
        y = joint.analyze(model_input(rgb, joint.config.factor, channels_last=False))
        z = joint.hyper_analyze(y)
    assert joint.latent_shapes(height, width) == (tuple(y.shape), tuple(z.shape))


def test_every_codec_splits_a_files_bits_by_level_from_the_file_alone():
    from rec.codec import inspect

    image = smooth_image(np.random.default_rng(2), 72, 88)
    for model in (_pln(), _pln("vae"), tiny_mbt(M=8, G=8), tiny_brummer(), tiny_mentzer()):
        data = compress(image, model=model, samplers=FAST if codecs.codec_for(model).codec_id == "rec" else None,
                        verify=False)
        written = inspect(bytes(data), model=model)
        assert [w.name for w in written] == [lv.name for lv in data.report.levels]
        assert sum(w.bits for w in written) + 8 * read_header(bytes(data)).overhead_bytes == 8 * len(data)
        if codecs.codec_for(model).codec_id == "rec":
            assert [(w.index_bits, w.side_bits, w.outlier_bits, w.groups) for w in written] == [
                (lv.index_bits, lv.side_bits, lv.outlier_bits, lv.groups) for lv in data.report.levels]
