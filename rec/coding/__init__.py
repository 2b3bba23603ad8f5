"""Entropy coding: a range coder, an AVL tree of frequencies, frequency models.

Thesis sections 3.5.1-3.5.2 (Flamich 2019). Public API::

    from rec.coding import RangeEncoder, RangeDecoder, StaticModel, AdaptiveModel

    enc = RangeEncoder()
    enc.encode(symbols, model)        # any number of calls, any models
    data = enc.finish()
    dec = RangeDecoder(data)
    out = dec.decode(len(symbols), model_built_the_same_way)
    dec.finish()                      # optional: rejects trailing bytes

Limits: total frequency <= MAX_TOTAL = 2**24; tree-model alphabets up to
MAX_ALPHABET = 2**20 symbols; UniformModel up to 2**24 symbols.

:mod:`rec.coding.context_coder` is a second, binary coder with a context per
symbol (LZMA style), for the importance sampler's group layouts.
"""

from rec.coding.avl import AVLTree
from rec.coding.limits import MAX_ALPHABET, MAX_TOTAL, PRECISION_BITS
from rec.coding.models import (
    AdaptiveModel,
    FrequencyModel,
    StaticModel,
    UniformModel,
    quantize_probabilities,
)
from rec.coding.range_coder import TAIL_BYTES, RangeDecoder, RangeEncoder

__all__ = [
    "AVLTree",
    "AdaptiveModel",
    "FrequencyModel",
    "MAX_ALPHABET",
    "MAX_TOTAL",
    "PRECISION_BITS",
    "RangeDecoder",
    "RangeEncoder",
    "StaticModel",
    "TAIL_BYTES",
    "UniformModel",
    "quantize_probabilities",
]
