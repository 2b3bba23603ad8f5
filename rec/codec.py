"""The front door: :func:`compress` and :func:`decompress` for every codec of the registry.

``rec.compress(image, model=NAME)`` resolves the model (a zoo name, a training checkpoint,
a shard folder or a model object), asks the registry (:mod:`rec.codecs`) for the codec of
its kind and lets it code; :func:`decompress` finds the codec by the header's codec id.
The codecs themselves are :mod:`rec.codecs.rec` (REC) and :mod:`rec.codecs.mbt2018`
(the quantized reference); data flow and format: docs/design.md §1, §4.

The names of the REC codec that callers have always taken from here (``DEFAULT_SAMPLERS``,
``parse_samplers``, ``read_rate``, ``Report`` …) stay importable from this module.
"""

from __future__ import annotations

import copy
import functools
import time
from pathlib import Path

import numpy as np
import torch

from rec.codecs import Compressed, LevelReport, Report, checked_device, codec_for, get_codec, model_hash, serves
from rec.codecs.base import LevelBits, check_header_size, distortion
from rec.codecs.rec import CODEC_ID, DEFAULT_SAMPLERS, parse_samplers
from rec.container import Container, read_rate
from rec.errors import FormatError, RecError
from rec.image import to_rgb_array

__all__ = [
    "CODEC_ID",
    "DEFAULT_SAMPLERS",
    "LevelReport",
    "Report",
    "Compressed",
    "parse_samplers",
    "compress",
    "decompress",
    "inspect",
    "LevelBits",
    "read_header",
    "resolve_model",
    "model_hash",
    "read_rate",
]


def resolve_model(model, device=None):
    """The model object of a zoo name (None: the zoo's default), a training checkpoint (``.pt``),
    a device run's shard folder or a model object, prepared for its codec (eval mode, layout).

    ``device`` (None: where the model is; zoo models load on the CPU) moves it: a zoo model
    is copied (the CPU one stays cached), a model object is moved itself. RecError for a
    device its codec does not run on (:func:`rec.codecs.base.checked_device`).
    """
    from rec.models.zoo import DEFAULT_MODEL, load_model

    zoo = model is None or (isinstance(model, str) and not (model.endswith(".pt") or Path(model).is_dir()))
    if model is None:
        model = load_model(DEFAULT_MODEL)
    elif isinstance(model, str):
        if zoo:
            model = load_model(model)
        else:  # a training checkpoint or a device run's shards
            from rec.training.checkpoint import load_model_file

            model = load_model_file(model)
    codec = codec_for(model)
    model = codec.prepare(model)
    if device is None:
        return model
    dev = checked_device(codec, device)
    if next(model.parameters()).device == dev:
        return model
    return _moved(model, dev) if zoo else model.to(dev)


@functools.lru_cache(maxsize=4)
def _moved(model, device):
    """A copy of a (cached) zoo model on ``device`` (its name and weights hash with it), kept for the next call."""
    return copy.deepcopy(model).to(device)


@torch.no_grad()
def compress(image, model=None, samplers=None, seed: int = 0, verify: bool = True, ideal: bool = False,
             beta: float | None = None, rate: float | None = None, device=None) -> Compressed:
    """Encode an image into the bytes of a .rec file.

    Args:
        image: a path, PIL image or array (see :func:`rec.image.to_rgb_array`).
        model: a zoo name (default: the zoo's default), a checkpoint or shard folder, or a model
            object: a :class:`~rec.models.pln.PLN` (REC) or a :class:`~rec.models.joint.JointPrior`
            (the quantized mbt2018 reference; samplers and seed unused).
        samplers: REC's ``"LEVEL2:LEVEL1"`` or a pair of samplers (default, or ``"default"``: the model's
            own pair at the rate, :func:`rec.codecs.rec.default_samplers`).
        seed: seed of the shared randomness, 0 .. 2**64 - 1 (written in the header).
        verify: decode the bytes and report PSNR / MS-SSIM of the decoded image; a file
            that does not decode raises :class:`FormatError` here. With False the bytes are
            not decoded, and a file that is not decoded is not known to decode: write it
            only if something else decodes it (``rec encode`` verifies every file it
            writes unless given ``--no-verify``).
        ideal: also report the reconstruction from an exact posterior sample (REC).
        rate: the rate parameter of a variable-rate model, within its range: β of a γ-PLN
            (larger β, fewer bits), λ of an mbt2018 (larger λ, more bits); default the
            model's own (``config.beta`` / ``config.lmbda``). Written in the file; a
            fixed-rate model refuses it. The report's ``beta`` holds it.
        beta: the same as ``rate`` (its older name); give one of the two.
        device: where the networks run ("cpu", "cuda"; None: where the model is, the CPU for
            a zoo model). REC runs on either, and its files decode on either; the quantized
            codecs run on the CPU only (RecError otherwise).

    Returns:
        :class:`Compressed` bytes with the :class:`Report` as ``.report``.
    """
    started = time.perf_counter()
    if beta is not None and rate is not None and beta != rate:
        raise RecError(f"rate = {rate!r} and beta = {beta!r} name the same setting: give one of them")
    rate = beta if rate is None else rate
    rgb = to_rgb_array(image)
    net = resolve_model(model, device)
    # the codecs take the rate parameter as ``beta`` (rec.codecs.base.Codec.compress)
    data = codec_for(net).compress(rgb, net, samplers=samplers, seed=seed, beta=rate, ideal=ideal, started=started)
    if verify:
        t = time.perf_counter()
        data.decoded = decompress(data, model=net)
        data.report.decode_seconds = time.perf_counter() - t
        data.report.psnr, data.report.ms_ssim = distortion(rgb, data.decoded)
    return data


def read_header(data: bytes) -> Container:
    """Parse and validate a .rec file's container (header and sections), without decoding."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RecError("data must be bytes")
    container = Container.from_bytes(bytes(data))
    get_codec(container.header.codec_id)  # FormatError for a codec no one registered
    return container


@torch.no_grad()
def decompress(data: bytes, model=None, device=None) -> np.ndarray:
    """Decode the bytes of a .rec file into an RGB uint8 array (H, W, 3).

    Args:
        data: the file's bytes.
        model: the model to decode with; by default the zoo model named in the header.
        device: where the networks run (as :func:`compress`).

    Raises:
        FormatError: malformed, truncated or corrupted data; the file's model is not
            installed, or its weights differ from the encoder's.
    """
    container = read_header(data)
    codec, net = _codec_and_model(container, model, device)
    return codec.decompress(bytes(data), container, net)


def inspect(data: bytes, model=None) -> list[LevelBits]:
    """How the bits of each latent level of a file divide (index, side, outlier bits; groups), read
    from the file and its model's latent shapes, without decoding the image (``rec info``).

    Raises:
        FormatError: as :func:`decompress`.
    """
    container = read_header(data)
    codec, net = _codec_and_model(container, model)
    return codec.written(container, net)


def _codec_and_model(container: Container, model, device=None):
    """The codec of a file and the model it decodes with (by default the zoo model of its header)."""
    h = container.header
    check_header_size(h)  # before a model is loaded or anything of the image's size allocated
    if model is None:
        from rec.models.zoo import PACK_HINT, list_models, pack_dir

        installed = {e.name for e in list_models()}
        if h.model_id not in installed:
            hint = "" if pack_dir() is not None else f"; {PACK_HINT}"
            raise FormatError(f"file was made with model {h.model_id!r} (weights {h.model_hash.hex()[:16]}), which is "
                              f"not installed (installed: {', '.join(sorted(installed)) or 'none'}){hint}")
    net = resolve_model(model if model is not None else h.model_id, device)
    codec = get_codec(h.codec_id)
    if not serves(codec, net):
        raise FormatError(f"file was coded by {codec.label}; model {getattr(net, 'name', '')!r} is a "
                          f"{codec_for(net).label} model")
    return codec, net
