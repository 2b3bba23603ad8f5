"""Coded samplers: turn a sample of the posterior q into about KL[q || p] bits
using candidates drawn from the prior p with randomness shared by sender and
receiver (:mod:`rec.random`).

One file per algorithm of the thesis (Flamich 2019):

=====================  =============================  ==========================
name                   class                          thesis
=====================  =============================  ==========================
``"rejection"``        :class:`RejectionSampler`      Alg. 1 + 4 (Harsha), 3.4.1
``"greedy"``           :class:`GreedySampler`         Alg. 2, 3.4.2
``"importance"``       :class:`ImportanceSampler`     Alg. 3 + 5, 3.4.3
=====================  =============================  ==========================

Common interface (:class:`~rec.samplers.base.Sampler`)::

    sampler = make("importance", bits=20, max_group=16, outlier_kl=12.0)
    sampler = parse_sampler("importance(bits=20,max_group=16,outlier_kl=12)")  # the same
    msg = sampler.encode(posterior, prior, seed)     # -> SampleMessage
    data = msg.to_bytes()                            # 8 * len(data) == msg.total_bits
    z = sampler.decode(data, prior, seed)            # == msg.sample, bit for bit

Messages carry their discrete parameters, so any instance of the right
sampler class decodes them. Streams of the seed used by the samplers are
listed in :mod:`rec.samplers.base`.
"""

from __future__ import annotations

import re

from rec.errors import RecError
from rec.samplers.base import SampleMessage, Sampler
from rec.samplers.greedy import GreedySampler
from rec.samplers.importance import ImportanceSampler
from rec.samplers.rejection import RejectionSampler

__all__ = [
    "SampleMessage",
    "Sampler",
    "RejectionSampler",
    "GreedySampler",
    "ImportanceSampler",
    "SAMPLERS",
    "ALIASES",
    "make",
    "parse_sampler",
]

SAMPLERS: dict[str, type[Sampler]] = {
    RejectionSampler.name: RejectionSampler,
    GreedySampler.name: GreedySampler,
    ImportanceSampler.name: ImportanceSampler,
}


def make(name: str, **params) -> Sampler:
    """Build a sampler by name: ``make(s.name, **s.params)`` rebuilds ``s``."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise RecError(f"unknown sampler {name!r}; known: {sorted(SAMPLERS)}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise RecError(f"bad parameters for sampler {name!r}: {exc}") from None


#: Short names :func:`parse_sampler` accepts.
ALIASES = {"is": "importance", "gs": "greedy", "rs": "rejection"}


def parse_sampler(text: str) -> Sampler:
    """A sampler from ``name`` or ``name(key=value,...)``, e.g.
    ``"importance(bits=16,max_group=8)"`` (spaces are ignored; a name may be
    one of :data:`ALIASES`); each value is read as an int, else a float, else a
    string."""
    text = text.replace(" ", "")
    m = re.fullmatch(r"([a-z_]+)(?:\((.*)\))?", text)
    if not m:
        raise RecError(f"bad sampler {text!r}")
    name = ALIASES.get(m.group(1), m.group(1))
    params = {}
    for item in filter(None, (m.group(2) or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise RecError(f"bad sampler parameter {item!r} in {text!r}: expected key=value")
        try:
            params[key] = int(value)
        except ValueError:
            try:
                params[key] = float(value)
            except ValueError:
                params[key] = value
    return make(name, **params)
