"""The zoo's storage: packed masked kernels, strict and partial loading."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rec.codec import compress, decompress, read_header
from rec.errors import RecError
from rec.evaluation.metrics import psnr
from rec.models.context2d import MaskedConv2d
from rec.models.zoo import list_models, load_model, stored_state
from rec.training.checkpoint import load_weights_into
from tests.conftest import smooth_image
from tests.helpers import tiny_mbt


@pytest.mark.parametrize("mask_type, kept", [("A", 12), ("B", 13)])
def test_pack_keeps_exactly_the_unmasked_taps(mask_type, kept):
    conv = MaskedConv2d(3, 4, 5, mask_type)
    packed = conv.pack(conv.weight)
    assert packed.shape == (4, 3, kept)
    full = conv.unpack(packed)
    assert torch.equal(full * conv.mask, conv.weight * conv.mask)
    assert torch.all(full[..., conv.mask == 0] == 0)


def test_stored_state_round_trips_through_safetensors(tmp_path):
    model = tiny_mbt()
    stored = stored_state(model)
    assert stored["context.weight"].shape == (12, 6, 12)  # 12 of the 25 taps of a type-A 5×5 kernel
    assert all(v.dtype == torch.float16 for v in stored.values())
    save_file(stored, str(tmp_path / "m.safetensors"))
    other = tiny_mbt(seed=1)
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
    source = tiny_mbt()
    save_file(stored_state(source), str(tmp_path / "wide.safetensors"))
    narrow = tiny_mbt(seed=1, G=2)  # another hyper-latent width: h_a's last layer, h_s's first and the density differ
    with pytest.raises(RecError, match=r"h_a\.4\.\w+ has shape"):
        load_weights_into(narrow, str(tmp_path / "wide.safetensors"))
    fresh = load_weights_into(narrow, str(tmp_path / "wide.safetensors"), strict=False)
    assert "h_a.4.weight" in fresh and "h_s.0.weight" in fresh and any(k.startswith("z_density.") for k in fresh)
    assert not any(k.startswith(("g_a.", "g_s.", "context.", "entropy_parameters.")) for k in fresh)
    assert torch.equal(narrow.g_a[0].weight, source.g_a[0].weight.half().float())
    unknown = {**load_file(str(tmp_path / "wide.safetensors")), "extra.weight": torch.zeros(1)}
    save_file(unknown, str(tmp_path / "extra.safetensors"))
    with pytest.raises(RecError, match="unexpected"):
        load_weights_into(tiny_mbt(), str(tmp_path / "extra.safetensors"))


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


def _zoo_with(tmp_path, monkeypatch, entries: dict, files: dict | None = None):
    import json

    import rec.models.zoo as zoo

    d = tmp_path / "zoo"
    d.mkdir(exist_ok=True)
    for name, data in (files or {}).items():
        (d / name).write_bytes(data)
    (d / "index.json").write_text(json.dumps(entries))
    monkeypatch.setattr(zoo, "zoo_dir", lambda: d)
    zoo.load_model.cache_clear()
    return d


def _entry(name, sha="0" * 64, **config):
    return {"name": name, "config": {**tiny_mbt().config.to_dict(), **config}, "steps": 0, "wall_hours": 0.0, "data": "test",
            "sha256": sha, "description": "", "parent": "", "extra": {}}


def test_load_model_refuses_a_name_that_is_not_a_string():
    for bad in ([1], None, 3, b"mbt2018-low"):
        with pytest.raises(RecError, match="must be a string"):
            load_model(bad)


@pytest.mark.parametrize("entry", [
    _entry("../../outside"),  # a name other than the key: weights from outside the zoo
    _entry("ok", N=10**6),  # absurd widths would allocate gigabytes
    _entry("ok", M=0),
    _entry("ok", sha="not a hash"),
])
def test_index_entries_that_point_outside_the_zoo_or_are_absurd_are_refused(tmp_path, monkeypatch, entry):
    _zoo_with(tmp_path, monkeypatch, {"ok": entry})
    with pytest.raises(RecError, match="zoo index"):
        load_model("ok")
    with pytest.raises(RecError, match="zoo index"):
        list_models()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the planted pickle's protocol, from torch.load
def test_malformed_weights_and_checkpoints_raise_rec_error(tmp_path, monkeypatch):
    import hashlib
    import pickle

    junk = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"  # a safetensors header length, then garbage
    _zoo_with(tmp_path, monkeypatch, {"bad": _entry("bad", sha=hashlib.sha256(junk).hexdigest())}, {"bad.safetensors": junk})
    with pytest.raises(RecError, match="cannot read weights"):
        load_model("bad")  # the hash matches: the file itself is malformed
    (tmp_path / "x.safetensors").write_bytes(junk)
    with pytest.raises(RecError, match="cannot read weights"):
        load_weights_into(tiny_mbt(), str(tmp_path / "x.safetensors"))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": Evil()}))
    torch.save({"model": {}, "config": "{not json"}, tmp_path / "nojson.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 junk")
    for name in ("evil.pt", "nojson.pt", "list.pt", "junk.pt"):
        with pytest.raises(RecError):
            load_weights_into(tiny_mbt(), str(tmp_path / name))


def test_rec_ships_only_the_default_model_and_its_wheel_stays_under_20_mb():
    """The package data pyproject.toml gives rec (and every module) weigh under 20 MB: the
    models beside the default are the model pack's (zoo/), a distribution of their own."""
    import glob
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    from rec.models.zoo import DEFAULT_MODEL, PACK, zoo_dir

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["rec"]
    files = {Path(f) for pattern in patterns for f in glob.glob(str(root / "rec" / pattern))}
    files |= set((root / "rec").rglob("*.py"))
    assert sorted(p.name for p in files if p.suffix == ".safetensors") == [f"{DEFAULT_MODEL}.safetensors"]
    assert sum(p.stat().st_size for p in files if p.is_file()) < 20 * 2**20
    assert sorted(p.stem for p in zoo_dir().glob("*.safetensors")) == [DEFAULT_MODEL]
    pack = tomllib.loads((root / "zoo" / "pyproject.toml").read_text())
    assert pack["tool"]["setuptools"]["packages"] == [PACK]


def test_without_the_model_pack_its_models_are_missing_with_a_hint(monkeypatch):
    import rec.models.zoo as zoo

    assert zoo.pack_dir() is not None  # the test environment installs it (.ci/run, the README)
    names = {e.name: e for e in list_models()}
    assert "mbt2018-mid" in names and names["mbt2018-mid"].shipped
    data = bytes(compress(smooth_image(np.random.default_rng(0), 40, 48), model="mbt2018-mid"))
    monkeypatch.setattr(zoo, "pack_dir", lambda: None)
    zoo.load_model.cache_clear()
    try:
        assert [e.name for e in list_models()] == [zoo.DEFAULT_MODEL]
        with pytest.raises(RecError, match=r"pip install \./zoo"):
            load_model("mbt2018-mid")
        with pytest.raises(RecError, match=r"model 'mbt2018-mid' \(weights [0-9a-f]{16}\), which is not installed.*pip install \./zoo"):
            decompress(data)
    finally:
        zoo.load_model.cache_clear()


def test_every_kind_says_whether_it_is_variable_rate():
    """``config.rate_range`` is part of every config: None for a fixed-rate model (scripts and the
    trainer ask any model for it; a Brummer config without it broke the round-trip script)."""
    from rec.models.kinds import KINDS

    for name, kind in KINDS.items():
        config = kind.config(kind=name) if "kind" in kind.config.__dataclass_fields__ else kind.config()
        assert config.rate_range is None, name
