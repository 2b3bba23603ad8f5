"""The codec registry: which codec writes a file (its header id) and which codes with a model (its kind).

A codec registers itself once, at the end of its module (``register(MyCodec())``), and
:mod:`rec.codecs` imports the module: a new codec is one module plus one line there.
Nothing else in the package asks which kind of model it holds.
"""

from __future__ import annotations

from typing import Any

from rec.codecs.base import Codec
from rec.errors import FormatError, RecError

__all__ = ["register", "codecs", "get_codec", "codec_for_kind", "codec_for", "model_kind", "serves"]

_BY_ID: dict[str, Codec] = {}


def register(codec: Codec) -> Codec:
    """Add ``codec``; its id and kinds must be new."""
    if not isinstance(codec, Codec):
        raise TypeError(f"{codec!r} does not implement rec.codecs.Codec")
    if codec.codec_id in _BY_ID:
        raise ValueError(f"codec {codec.codec_id!r} is registered already")
    taken = {k for c in _BY_ID.values() for k in c.kinds} & set(codec.kinds)
    if taken:
        raise ValueError(f"model kinds {sorted(taken)} have a codec already")
    _BY_ID[codec.codec_id] = codec
    return codec


def codecs() -> list[Codec]:
    """Every registered codec, in the order of registration."""
    return list(_BY_ID.values())


def get_codec(codec_id: str) -> Codec:
    """The codec of a header's codec id; FormatError for an unknown one."""
    if codec_id not in _BY_ID:
        raise FormatError(f"unknown codec {codec_id!r} in the header")
    return _BY_ID[codec_id]


def codec_for_kind(kind: str) -> Codec:
    """The codec that codes with models of ``kind`` (a zoo entry's or a config's ``kind``)."""
    for codec in _BY_ID.values():
        if kind in codec.kinds:
            return codec
    raise RecError(f"no codec codes with models of kind {kind!r}")


def model_kind(model: Any) -> str | None:
    """``model.config.kind``, or None for an object that is no model."""
    kind = getattr(getattr(model, "config", None), "kind", None)
    return kind if isinstance(kind, str) else None


def serves(codec: Codec, model: Any) -> bool:
    """Whether ``codec`` codes with ``model``."""
    return model_kind(model) in codec.kinds


def codec_for(model: Any) -> Codec:
    """The codec of a model object (by its config's kind); RecError for anything else."""
    kind = model_kind(model)
    if kind is None or not any(kind in c.kinds for c in _BY_ID.values()):
        kinds = ", ".join(k for c in _BY_ID.values() for k in c.kinds)
        raise RecError(f"model must be a zoo name or a model of a known kind ({kinds}), got {type(model).__name__}")
    return codec_for_kind(kind)
