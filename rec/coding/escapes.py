"""Escape values of the quantized codecs: the part of an integer a bounded alphabet cannot hold.

mbt2018 codes y's integers with ``QuantizedGaussian(−R, R)`` and z's with per-channel
categoricals with one escape symbol per tail; Brummer's static tables end in an escape symbol
at each side. A symbol at an end says "the integer lies beyond"; how far beyond, an integer
in [0, 2**31), is written as a LEB128 varint of at most 5 bytes into a section of its own, in
the order the decoder meets them. The decoder takes them in that order and checks that every
value was used (:meth:`EscapeValues.check_done`), so a section that does not match its payload
is a FormatError, not a silently wrong image.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rec.bitio import VarintError, read_varint, varints
from rec.errors import FormatError, RecError

__all__ = ["MAX_ESCAPE", "EscapeValues", "escape_bytes"]

#: Escape values lie in [0, MAX_ESCAPE).
MAX_ESCAPE = 1 << 31


def escape_bytes(values: Iterable[int]) -> bytes:
    """The varints of ``values`` (b"" for none).

    Raises:
        RecError: a value out of [0, MAX_ESCAPE): a latent out of the codable range.
    """
    values = [int(v) for v in values]
    if any(v < 0 or v >= MAX_ESCAPE for v in values):
        raise RecError("a latent is out of the codable range (the model diverged?)")
    return varints(values)


class EscapeValues:
    """The escape values of one section, consumed in order by a decoder."""

    def __init__(self, payload: bytes = b""):
        values, pos = [], 0
        while pos < len(payload):
            try:
                v, pos = read_varint(payload, pos, 5, canonical=False)  # as every written file was read
            except VarintError as e:
                raise FormatError("truncated escape values" if e.reason == "truncated"
                                  else "malformed escape value") from None
            if v >= MAX_ESCAPE:
                raise FormatError("escape value out of range")
            values.append(v)
        self.values, self.pos = values, 0

    def __len__(self) -> int:
        return len(self.values)

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` values (int64)."""
        if self.pos + n > len(self.values):
            raise FormatError("the bitstream needs more escape values than it carries")
        out = np.asarray(self.values[self.pos : self.pos + n], dtype=np.int64)
        self.pos += n
        return out

    def check_done(self) -> None:
        """FormatError unless every value was taken."""
        if self.pos != len(self.values):
            raise FormatError(f"{len(self.values) - self.pos} unused escape values")
