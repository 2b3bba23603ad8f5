"""Numeric limits shared by the range coder and the frequency models.

The coder keeps a 56-bit window (see :mod:`rec.coding.range_coder`); after
renormalization its range is at least ``2**48``. Frequency totals of at most
``2**24`` leave ``range // total >= 2**24``, so the truncation of
``range * freq / total`` to an integer costs under ``2**-24`` relative, i.e.
below 1e-7 bits per symbol.
"""

__all__ = ["MAX_TOTAL", "MAX_ALPHABET", "PRECISION_BITS"]

#: Bits of frequency precision: every model's total frequency is <= 2**PRECISION_BITS.
PRECISION_BITS = 24

#: Largest total frequency a model may have (inclusive).
MAX_TOTAL = 1 << PRECISION_BITS

#: Largest alphabet of the tree-backed models (StaticModel, AdaptiveModel).
#: UniformModel accepts alphabets up to MAX_TOTAL.
MAX_ALPHABET = 1 << 20
