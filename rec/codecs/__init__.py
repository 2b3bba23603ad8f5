"""The codecs: one module each, registered in :mod:`.registry` (docs/design.md §1, §4).

==========================  =====================================================
:mod:`.base`                the :class:`Codec` interface, :class:`Report`, the model hash
:mod:`.registry`            codec of a header id / of a model kind
:mod:`.rec`                 REC: two coded samplers per image (PLN, γ-PLN, one-level VAE)
:mod:`.mbt2018`             the quantized mbt2018 reference (rec/reference.py's engine)
:mod:`.brummer2021`         competition of static priors (Brummer & De Vleeschouwer 2021)
:mod:`.mentzer2018`         3D-CNN context model with importance map (Mentzer et al. 2018)
==========================  =====================================================

A new codec is one module that ends with ``register(TheCodec())`` and one import below.
"""

from rec.codecs.base import Codec, Compressed, LevelReport, Report, checked_device, model_hash
from rec.codecs.registry import codec_for, codec_for_kind, codecs, get_codec, model_kind, register, serves

# the members, in the order rec eval lists them
from rec.codecs import rec as _rec  # noqa: E402,F401
from rec.codecs import mbt2018 as _mbt2018  # noqa: E402,F401
from rec.codecs import brummer2021 as _brummer2021  # noqa: E402,F401
from rec.codecs import mentzer2018 as _mentzer2018  # noqa: E402,F401

__all__ = ["Codec", "Compressed", "LevelReport", "Report", "checked_device", "model_hash", "codec_for", "codec_for_kind", "codecs",
           "get_codec", "model_kind", "register", "serves"]
