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
``"budget"``           :class:`BudgetSampler`         Alg. 5 in groups derived
                                                      from exact KL budgets
                                                      (iso-KL models, issue 16)
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

import inspect
import re
from dataclasses import dataclass

from rec.errors import RecError
from rec.samplers.base import SampleMessage, Sampler
from rec.samplers.budget import BudgetSampler
from rec.samplers.greedy import GreedySampler
from rec.samplers.importance import ImportanceSampler
from rec.samplers.rejection import RejectionSampler

__all__ = [
    "SampleMessage",
    "Sampler",
    "RejectionSampler",
    "GreedySampler",
    "ImportanceSampler",
    "BudgetSampler",
    "SAMPLERS",
    "ALIASES",
    "make",
    "parse_sampler",
    "SamplerParameter",
    "sampler_parameters",
    "describe_samplers",
    "non_default_params",
]

SAMPLERS: dict[str, type[Sampler]] = {
    RejectionSampler.name: RejectionSampler,
    GreedySampler.name: GreedySampler,
    ImportanceSampler.name: ImportanceSampler,
    BudgetSampler.name: BudgetSampler,
}


@dataclass(frozen=True)
class SamplerParameter:
    """One constructor parameter of a sampler class: its name, default and meaning (from the
    ``Args:`` section of the class docstring)."""

    name: str
    default: object
    meaning: str


def _docstring_args(cls: type) -> dict[str, str]:
    """``name -> meaning`` of the ``Args:`` section of ``cls``'s docstring (continuation lines joined)."""
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    out: dict[str, str] = {}
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return out
    indent = len(lines[start]) - len(lines[start].lstrip())
    current = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth <= indent:  # the section ends at the next paragraph of the docstring's own indentation
            break
        m = re.match(r"\s*([A-Za-z_]\w*):\s*(.*)", line)
        if m and (current is None or depth <= out[current][1]):
            current = m.group(1)
            out[current] = (m.group(2).strip(), depth)
        elif current is not None:
            text, d = out[current]
            out[current] = (f"{text} {line.strip()}".strip(), d)
    return {k: v[0] for k, v in out.items()}


def sampler_parameters(name: str) -> list[SamplerParameter]:
    """The parameters of sampler ``name`` (an alias allowed), in the order of its constructor,
    read from the class itself: defaults from the signature, meanings from its docstring."""
    cls = SAMPLERS.get(ALIASES.get(name, name))
    if cls is None:
        raise RecError(f"unknown sampler {name!r}; known: {', '.join(sorted(SAMPLERS))}")
    meanings = _docstring_args(cls)
    return [SamplerParameter(p.name, p.default, meanings.get(p.name, ""))
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def describe_samplers(width: int = 100) -> str:
    """Every sampler with its aliases and parameters (default and meaning), as text for help output."""
    import textwrap

    aliases = {v: k for k, v in ALIASES.items()}
    blocks = []
    for name, cls in SAMPLERS.items():
        summary = (inspect.getdoc(cls) or "").splitlines()[0] if inspect.getdoc(cls) else ""
        lines = [f"{name} ({aliases[name]}): {summary}" if name in aliases else f"{name}: {summary}"]
        for p in sampler_parameters(name):
            head = f"  {p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else f"  {p.name}"
            lines += textwrap.wrap(p.meaning or "-", width=width, initial_indent=f"{head:<22}",
                                   subsequent_indent=" " * 22) if len(head) < 22 else \
                [head] + textwrap.wrap(p.meaning or "-", width=width, initial_indent=" " * 22, subsequent_indent=" " * 22)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def non_default_params(sampler: Sampler) -> dict:
    """The parameters of ``sampler`` that its class would not set by itself: those that change
    its ``params`` when left out (so a derived default, greedy's ``group_kl``, is not listed)."""
    params = sampler.params
    out = {}
    for key, value in params.items():
        try:
            same = type(sampler)(**{k: v for k, v in params.items() if k != key}).params.get(key) == value
        except (RecError, TypeError, ValueError):
            same = False
        if not same:
            out[key] = value
    return out


def make(name: str, **params) -> Sampler:
    """Build a sampler by name: ``make(s.name, **s.params)`` rebuilds ``s``.

    Raises:
        RecError: an unknown sampler, or a parameter it does not take (the message names
            the valid ones), or a value out of its range.
    """
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise RecError(f"unknown sampler {name!r}; known: {', '.join(sorted(SAMPLERS))} "
                       f"(aliases: {', '.join(f'{k}={v}' for k, v in ALIASES.items())})") from None
    valid = [p.name for p in sampler_parameters(name)]
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise RecError(f"sampler {name!r} has no parameter{'s' if len(unknown) > 1 else ''} "
                       f"{', '.join(repr(k) for k in unknown)}; its parameters: {', '.join(valid)} "
                       f"(see `rec samplers`)")
    try:
        return cls(**params)
    except TypeError as exc:
        raise RecError(f"bad parameters for sampler {name!r}: {exc}; its parameters: {', '.join(valid)}") from None


#: Short names :func:`parse_sampler` accepts.
ALIASES = {"is": "importance", "gs": "greedy", "rs": "rejection", "bs": "budget"}


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
