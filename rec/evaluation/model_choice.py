"""The models of the learned codecs in ``rec eval``: which ones, under what names, at which rates.

A model is given as a zoo name, a path (whatever :func:`rec.codec.resolve_model` reads, as
``rec encode --model`` does: a training checkpoint ``.pt``, a device run's shard folder) or a
model object. Each learned codec of the registry takes the
models of its kind among them, or every zoo model of its kind when none is
(:func:`models_for`). A path model is named after its file (the stem, or the folder's name)
and decoded with the model object, as the file's header names a model the zoo does not hold.

A fixed-rate model makes one rate point; a variable-rate model (``config.rate_range`` not
None) one per rate: the rates given (each inside its range, else an error naming the range)
or :func:`rec.models.rate.standard_rates` over its range (:func:`model_rates`). An
:class:`EvalModel` is a loaded model with its rates; its points are labelled
``gamma-pln-vr4 β=0.5`` and bound in the points file to its weights hash and the rate
(:meth:`EvalModel.setting_id`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rec.errors import RecError

__all__ = ["EvalModel", "learned_codecs", "zoo_kinds", "zoo_models", "load_mbt2018", "parse_models", "parse_rates",
           "is_model_path", "open_models", "model_kind", "models_for", "model_name", "rate_of", "model_rates",
           "check_rates", "load_models"]


def learned_codecs() -> tuple[str, ...]:
    """The learned codecs besides the classical ones: the registry's (rec.codecs), in its order."""
    from rec.codecs import codecs

    return tuple(c.codec_id for c in codecs())


def zoo_kinds() -> dict[str, str]:
    """Zoo model name → kind (``"gamma-pln"``, ``"pln"``, ``"vae"``, ``"mbt2018"`` …)."""
    from rec.models.zoo import list_models

    return {e.name: e.kind for e in list_models()}


def zoo_models(codec: str) -> list[str]:
    """Names of the zoo models a learned codec can use: PLN models for ``rec``, mbt2018 ones for ``mbt2018``."""
    from rec.codecs import get_codec

    learned = learned_codecs()
    if codec not in learned:
        raise RecError(f"zoo models are for {' and '.join(learned)}, not {codec!r}")
    kinds = get_codec(codec).kinds
    return [name for name, kind in zoo_kinds().items() if kind in kinds]


def load_mbt2018(name: str):
    """The mbt2018 zoo model ``name`` (a :class:`JointPrior`, eval, float32), hash-checked.

    Its weights are ``<name>.safetensors`` of a zoo folder (the model pack's, for the shipped
    ones), described in the folder's ``index.json`` with a config of kind ``"mbt2018"`` (a :class:`rec.models.joint.JointConfig`).

    Raises:
        RecError: unknown name, not an mbt2018 model, missing file or a hash mismatch.
    """
    from rec.models.zoo import load_model

    if name not in zoo_models("mbt2018"):
        raise RecError(f"no mbt2018 model {name!r} in the zoo; mbt2018 models: {', '.join(zoo_models('mbt2018')) or 'none'}")
    return load_model(name)


# -- the command line -------------------------------------------------------------------------


def parse_models(text: str) -> list[str]:
    """``"a,b,c"`` → ["a", "b", "c"] (order kept, duplicates dropped): zoo names or paths."""
    names = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not names:
        raise RecError("--models is empty")
    return names


def parse_rates(text: str | None, flag: str = "--rates") -> list[float] | None:
    """``"0.1,0.3"`` → [0.1, 0.3] (positive numbers, order kept, duplicates dropped); None stays None.

    ``flag`` names the option in messages (``rec bench`` calls its rates ``--betas``).
    """
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise RecError(f"{flag} must be comma-separated numbers: {e}") from None
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise RecError(f"{flag} must be positive numbers, got {text!r}")
    return list(dict.fromkeys(values))


# -- which models -----------------------------------------------------------------------------


def is_model_path(model: Any) -> bool:
    """Whether ``model`` names a model file or folder: a path (str or os.PathLike) that exists and,
    a str, is no zoo name (a zoo name wins)."""
    if isinstance(model, os.PathLike):
        return Path(model).exists()
    return isinstance(model, str) and model not in zoo_kinds() and Path(model).exists()


def _open_path(path: str | os.PathLike):
    """The model of a path (:func:`rec.codec.resolve_model`), named after the file if the loader left it unnamed."""
    from rec.codec import resolve_model

    p = Path(path)
    net = resolve_model(str(p))
    if not getattr(net, "name", ""):
        net.name = p.name if p.is_dir() else p.stem
    return net


def open_models(models: Sequence[Any] | None) -> list[Any] | None:
    """``models`` with every path replaced by its loaded model object (zoo names and objects as they are)."""
    if models is None:
        return None
    return [_open_path(m) if is_model_path(m) else m for m in models]


def model_kind(model: Any) -> str:
    """The id of the learned codec a model (object, zoo name or path) belongs to (the registry's answer).

    Raises:
        RecError: a name that is neither a zoo model nor an existing file or folder.
    """
    from rec.codecs import codec_for, codec_for_kind

    if isinstance(model, (str, os.PathLike)):
        kinds = zoo_kinds()
        if isinstance(model, str) and model in kinds:
            return codec_for_kind(kinds[model]).codec_id
        if not is_model_path(model):
            raise RecError(f"unknown model {str(model)!r} (neither a zoo name nor an existing file or folder); "
                           f"zoo models: {', '.join(kinds) or 'none'}")
        model = _open_path(model)
    return codec_for(model).codec_id


def models_for(codec: str, models: Sequence[Any] | None, log: Callable[[str], None]) -> list[Any]:
    """The models of ``codec``'s kind among ``models``; every zoo model of that kind if none is."""
    if models is not None:
        mine = [m for m in models if model_kind(m) == codec]
        if mine:
            return mine
        log(f"{codec}: none of the given models is for {codec}: using every zoo model for it")
    return list(zoo_models(codec))


def model_name(model: Any, i: int) -> str:
    """A model's name in labels: the zoo name, the object's ``name``, else ``model<i>``."""
    return model if isinstance(model, str) else (getattr(model, "name", "") or f"model{i}")


# -- at which rates ---------------------------------------------------------------------------


def rate_of(codec_id: str) -> tuple[str, str, bool]:
    """The rate parameter of a codec's variable-rate models: name, symbol, and whether a larger
    value writes more bits (``("beta", "β", False)`` for REC, ``("lambda", "λ", True)`` for mbt2018)."""
    from rec.codecs import get_codec

    codec = get_codec(codec_id)
    return (getattr(codec, "rate_name", "rate"), getattr(codec, "rate_symbol", "rate"),
            bool(getattr(codec, "larger_rate_more_bits", True)))


def model_rates(name: str, config: Any, rates: Sequence[float] | None, symbol: str) -> tuple[float | None, ...]:
    """The rates a model is evaluated at: ``(None,)`` (its one rate) for a fixed-rate model; for a
    variable-rate one ``rates``, or by default :func:`~rec.models.rate.standard_rates` over its range.

    Raises:
        RecError: a rate outside the model's range (the message names the range).
    """
    span = getattr(config, "rate_range", None)
    if span is None:
        return (None,)
    lo, hi = span
    if rates is None:
        from rec.models.rate import standard_rates

        return tuple(standard_rates(lo, hi))
    for r in rates:
        if not lo <= r <= hi:
            raise RecError(f"{name}: {symbol} = {r:g} is outside the model's range [{lo:g}, {hi:g}]")
    return tuple(float(r) for r in rates)


def check_rates(codec: str, models: Sequence[Any] | None, rates: Sequence[float] | None) -> int:
    """Check ``rates`` against the range of every variable-rate model ``codec`` would take from
    ``models``, without loading zoo weights (:func:`model_rates`); returns how many models are
    variable-rate. ``models``: as :func:`open_models` leaves them (no paths)."""
    from rec.models.zoo import get_entry

    symbol = rate_of(codec)[1]
    variable = 0
    for i, m in enumerate(models_for(codec, models, lambda message: None)):
        config = get_entry(m).config if isinstance(m, str) else m.config
        variable += model_rates(model_name(m, i), config, rates, symbol) != (None,)
    return variable


@dataclass(frozen=True, eq=False)
class EvalModel:
    """A model loaded for ``rec eval``, with the rates it is evaluated at.

    Attributes:
        name: its name in labels and descriptions.
        net: the model object, prepared for its codec.
        from_zoo: a zoo model, which the decoder finds from the file's header; else it is given
            the object (a path or a model object).
        digest: the model hash (:func:`rec.codecs.model_hash`: the first bytes of the weights' SHA-256).
        rates: ``(None,)`` for a fixed-rate model, else the rates of its points.
        symbol, rate_name: the rate parameter (``"β"``, ``"beta"``).
    """

    name: str
    net: Any
    from_zoo: bool
    digest: bytes
    rates: tuple[float | None, ...]
    symbol: str = "β"
    rate_name: str = "beta"

    @property
    def variable_rate(self) -> bool:
        return self.rates != (None,)

    def label(self, rate: float | None) -> str:
        """A point's label: the model's name, and for a variable-rate model its rate (``gamma-pln-vr4 β=0.5``)."""
        return self.name if rate is None else f"{self.name} {self.symbol}={rate:g}"

    def setting_id(self, rate: float | None) -> str:
        """What a measurement in the points file is bound to: name, weights hash and rate."""
        base = f"{self.name} {self.digest.hex()}"
        return base if rate is None else f"{base} {self.rate_name}={rate!r}"


def load_models(codec: str, models: Sequence[Any] | None, rates: Sequence[float] | None,
                log: Callable[[str], None]) -> list[EvalModel]:
    """The models ``codec`` evaluates (:func:`models_for`), loaded and hash-checked outside the timed
    code, with their rates (:func:`model_rates`); empty when there is none.

    Raises:
        RecError: unknown model, two models of one name, a rate outside a model's range.
    """
    from rec.codec import resolve_model
    from rec.codecs import model_hash

    rate_name, symbol, _ = rate_of(codec)
    chosen = models_for(codec, open_models(models), log)
    loaded = []
    for i, m in enumerate(chosen):
        net = resolve_model(m)
        name = model_name(m, i)
        loaded.append(EvalModel(name, net, isinstance(m, str), model_hash(net), model_rates(name, net.config, rates, symbol),
                                symbol, rate_name))
    names = [m.name for m in loaded]
    if len(set(names)) != len(names):
        raise RecError(f"{codec}: models need distinct names, got {names}")
    return loaded
