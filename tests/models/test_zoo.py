"""The zoo's storage: packed masked kernels, strict and partial loading."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rec.codec import compress, decompress, read_header
from rec.errors import RecError
from rec.evaluation.metrics import psnr
from rec.models.joint import JointConfig, JointPrior, MaskedConv2d
from rec.models.zoo import list_models, load_model, load_weights_into, stored_state
from tests.conftest import smooth_image


def tiny(seed: int = 0, **widths) -> JointPrior:
    torch.manual_seed(seed)
    return JointPrior(JointConfig(**{"N": 8, "M": 6, "F": 8, "G": 4, **widths})).eval()


@pytest.mark.parametrize("mask_type, kept", [("A", 12), ("B", 13)])
def test_pack_keeps_exactly_the_unmasked_taps(mask_type, kept):
    conv = MaskedConv2d(3, 4, 5, mask_type)
    packed = conv.pack(conv.weight)
    assert packed.shape == (4, 3, kept)
    full = conv.unpack(packed)
    assert torch.equal(full * conv.mask, conv.weight * conv.mask)
    assert torch.all(full[..., conv.mask == 0] == 0)


def test_stored_state_round_trips_through_safetensors(tmp_path):
    model = tiny()
    stored = stored_state(model)
    assert stored["context.weight"].shape == (12, 6, 12)  # 12 of the 25 taps of a type-A 5×5 kernel
    assert all(v.dtype == torch.float16 for v in stored.values())
    save_file(stored, str(tmp_path / "m.safetensors"))
    other = tiny(seed=1)
    assert load_weights_into(other, str(tmp_path / "m.safetensors")) == []
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        # the fp16 copy of the weights gives the same model up to fp16 rounding
        for k, v in other.state_dict().items():
            ref = model.state_dict()[k]
            if k == "context.weight":
                v, ref = v * other.context.mask, ref * model.context.mask
            assert torch.equal(v, ref.half().float()), k
        assert other.hyper_analyze(other.analyze(x)).shape == (1, 4, 1, 1)


def test_partial_load_takes_what_fits_and_names_the_rest(tmp_path):
    source = tiny()
    save_file(stored_state(source), str(tmp_path / "wide.safetensors"))
    narrow = tiny(seed=1, G=2)  # another hyper-latent width: h_a's last layer, h_s's first and the density differ
    with pytest.raises(RecError, match=r"h_a\.4\.\w+ has shape"):
        load_weights_into(narrow, str(tmp_path / "wide.safetensors"))
    fresh = load_weights_into(narrow, str(tmp_path / "wide.safetensors"), strict=False)
    assert "h_a.4.weight" in fresh and "h_s.0.weight" in fresh and any(k.startswith("z_density.") for k in fresh)
    assert not any(k.startswith(("g_a.", "g_s.", "context.", "entropy_parameters.")) for k in fresh)
    assert torch.equal(narrow.g_a[0].weight, source.g_a[0].weight.half().float())
    unknown = {**load_file(str(tmp_path / "wide.safetensors")), "extra.weight": torch.zeros(1)}
    save_file(unknown, str(tmp_path / "extra.safetensors"))
    with pytest.raises(RecError, match="unexpected"):
        load_weights_into(tiny(), str(tmp_path / "extra.safetensors"))


def test_every_shipped_model_loads_within_the_size_limit():
    entries = list_models()
    assert {e.kind for e in entries} >= {"gamma-pln", "pln", "mbt2018"}
    for e in entries:
        assert e.path.stat().st_size <= 10_000_000, f"{e.name}: {e.path.stat().st_size:,} bytes"
        model = load_model(e.name)  # hash-checked, strict
        assert model.name == e.name and not model.training


@pytest.mark.skipif(not any(e.kind == "mbt2018" for e in list_models()), reason="no shipped mbt2018 model")
def test_a_shipped_reference_model_round_trips_by_name():
    name = min(e.name for e in list_models() if e.kind == "mbt2018")
    img = smooth_image(np.random.default_rng(3), 70, 90)
    data = compress(img, model=name)
    assert read_header(data).header.codec_id == "mbt2018"
    assert data.report.psnr == pytest.approx(psnr(img, decompress(data)))
