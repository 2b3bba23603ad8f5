"""Model kinds: the config class and the network class of every kind of model.

The one place that maps a config's ``kind`` (a zoo entry's, a training config's) to
Python classes; the zoo, training and the codecs ask here (the codecs' own registry,
:mod:`rec.codecs.registry`, maps kinds to codecs)::

    ==============================  ===================  =================================
    kind                            config               network
    ==============================  ===================  =================================
    gamma-pln, pln, vae             ModelConfig          PLN (rec.models.pln)
    mbt2018                         JointConfig          JointPrior (rec.models.joint)
    brummer2021                     BrummerConfig        ManyPriors (rec.models.brummer)
    mentzer2018                     MentzerConfig        ContextAutoencoder (rec.models.mentzer)
    ==============================  ===================  =================================

A config without a kind (the first index entries) is a γ-PLN's ModelConfig.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rec.errors import RecError
from rec.models.brummer import BrummerConfig, ManyPriors
from rec.models.joint import JointConfig, JointPrior
from rec.models.mentzer import ContextAutoencoder, MentzerConfig
from rec.models.pln import PLN, ModelConfig

__all__ = ["Kind", "KINDS", "kind_of", "config_class", "model_config", "build", "inference_layout"]


@dataclass(frozen=True)
class Kind:
    """The classes of one model kind.

    Attributes:
        config: the frozen config dataclass (``config(**d)`` validates ``d``).
        network: the ``torch.nn.Module`` built from a config.
        channels_last: run inference in channels-last memory (about 1.5× faster convolutions
            on the CPU); False where the codec's arithmetic assumes the contiguous layout
            (mbt2018's reference coder computes its entropy parameters in it).
    """

    config: type
    network: type
    channels_last: bool = True


_PLN = Kind(ModelConfig, PLN)
KINDS: dict[str, Kind] = {
    "gamma-pln": _PLN, "pln": _PLN, "vae": _PLN,
    "mbt2018": Kind(JointConfig, JointPrior, channels_last=False),
    "brummer2021": Kind(BrummerConfig, ManyPriors),
    "mentzer2018": Kind(MentzerConfig, ContextAutoencoder),
}


def kind_of(kind: str | None) -> Kind:
    """The :class:`Kind` of ``kind`` (None: a γ-PLN); RecError for an unknown kind."""
    if kind is None:
        return _PLN
    if kind not in KINDS:
        raise RecError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind]


def config_class(kind: str | None) -> type:
    """The config dataclass of a model kind."""
    return kind_of(kind).config


def model_config(d: dict):
    """The config of a dict (a zoo entry's or a checkpoint's ``config``), validated by its class."""
    return config_class(d.get("kind"))(**d)


def build(config) -> torch.nn.Module:
    """A freshly initialized network for ``config``."""
    return kind_of(config.kind).network(config)


def inference_layout(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in eval mode, in the memory layout its kind runs inference in."""
    model = model.eval()
    return model.to(memory_format=torch.channels_last) if kind_of(model.config.kind).channels_last else model
