"""Names of sampler pairs for curves and files: what ``rec eval`` and ``rec bench`` call a run.

A pair ``"LEVEL2:LEVEL1"`` is named by its samplers' short names (``IS``, ``GS``, ``RS``, ``BS``) and
the parameters each sets that its class would not set by itself
(:func:`rec.samplers.non_default_params`), so two spellings of one pair (aliases, spaces,
parameters given at their defaults) get one name, and two different pairs two names::

    pair_label("importance(bits=16,temper=8):greedy(bits=8,shards=30)")  # 'IS(bits=16,temper=8):GS(bits=8,shards=30)'
    pair_slug("importance(bits=16,temper=8):greedy(bits=8,shards=30)")   # 'is-bits16-temper8_gs-bits8-shards30'
    is_default_pair(None), is_default_pair("default")                     # True, True
"""

from __future__ import annotations

import re

__all__ = ["SHORT_NAMES", "canonical_pair", "pair_label", "pair_slug", "is_default_pair", "run_suffix"]

#: The short name of each sampler in labels (the aliases of ``rec.samplers.ALIASES``, upper case).
SHORT_NAMES = {"importance": "IS", "greedy": "GS", "rejection": "RS", "budget": "BS"}


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def canonical_pair(spec) -> tuple:
    """``((name, {param: value}), ...)`` of a pair spec (None: the default pair), level 2 first;
    the parameters are those the sampler sets beyond its class's defaults."""
    from rec.codecs.rec import parse_samplers
    from rec.samplers import non_default_params

    return tuple((s.name, non_default_params(s)) for s in parse_samplers(spec))


def is_default_pair(spec) -> bool:
    """Whether ``spec`` (a string, a pair of samplers or None) asks for the default, each model's own
    pair at its rate (None or ``"default"``). A pair spelled out is not the default even when it
    reads like one: the default's level-1 margin and sampler depend on the model and the rate."""
    from rec.codecs.rec import OWN_PAIR

    return spec is None or (isinstance(spec, str) and spec.strip() == OWN_PAIR)


def pair_label(spec) -> str:
    """A readable name of a pair: ``IS(bits=16,temper=8):GS(bits=8,shards=30)``."""
    parts = []
    for name, params in canonical_pair(spec):
        args = ",".join(f"{k}={_value(v)}" for k, v in params.items())
        parts.append(SHORT_NAMES.get(name, name) + (f"({args})" if args else ""))
    return ":".join(parts)


def pair_slug(spec) -> str:
    """A file-name part of a pair: ``is-bits16-temper8_gs-bits8-shards30`` (letters, digits, ``.-_``)."""
    parts = []
    for name, params in canonical_pair(spec):
        words = [SHORT_NAMES.get(name, name).lower()] + [f"{k.replace('_', '')}{_value(v)}" for k, v in params.items()]
        parts.append("-".join(words))
    return re.sub(r"[^A-Za-z0-9._-]", "", "_".join(parts))


def run_suffix(spec, seed: int = 0) -> tuple[str, str]:
    """What a run adds to a curve's file stem and to its name: the pair unless it is the default,
    the seed unless it is 0. ``("", "")`` for the default run; else e.g.
    ``("-is-bits16_gs-bits8-seed7", ", IS(bits=16):GS(bits=8), seed 7")``."""
    stem, name = "", ""
    if not is_default_pair(spec):
        stem += f"-{pair_slug(spec)}"
        name += f", {pair_label(spec)}"
    if seed:
        stem += f"-seed{seed}"
        name += f", seed {seed}"
    return stem, name
