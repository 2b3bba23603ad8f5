"""Bit and byte I/O shared by the container, the samplers and the reference codec.

One implementation of each small encoding the formats use:

* **varint**: unsigned LEB128, 7 bits per byte, least significant group first,
  the high bit set on every byte but the last. Writers always produce the
  canonical (shortest) form; readers reject a non-canonical one (a final zero
  byte after the first) unless asked not to.
* **zigzag**: signed to unsigned, ``0, -1, 1, -2, ... -> 0, 1, 2, 3, ...``
  (``v >= 0: 2 v``, ``v < 0: -2 v - 1``), for Python ints and integer arrays.
* :class:`ByteWriter` / :class:`ByteReader`: the message I/O of the samplers
  (bytes, varints, length-prefixed blobs; every overrun a FormatError).
* :func:`pack_bits` / :func:`unpack_bits`: fixed-width fields, MSB first,
  zero-padded to a whole byte.
* :func:`bit_length`: exact bit length of int64 arrays.

The byte layouts that use them are described where they are used
(:mod:`rec.container`, :mod:`rec.samplers.base`, :mod:`rec.reference`) and in
docs/design.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rec.errors import FormatError, RecError

__all__ = [
    "VarintError",
    "put_varint",
    "varints",
    "read_varint",
    "zigzag",
    "unzigzag",
    "bit_length",
    "ByteWriter",
    "ByteReader",
    "pack_bits",
    "unpack_bits",
]

# ---------------------------------------------------------------------------
# Varints (LEB128) and zigzag
# ---------------------------------------------------------------------------


class VarintError(FormatError):
    """A varint that cannot be read; ``reason`` is ``"truncated"``,
    ``"non-canonical"`` or ``"too long"`` (callers phrase their own message)."""

    def __init__(self, reason: str):
        super().__init__(f"{reason} varint")
        self.reason = reason


def put_varint(out: bytearray, v: int) -> None:
    """Append the canonical LEB128 encoding of ``v >= 0`` to ``out``."""
    v = int(v)
    if v < 0:
        raise RecError("varint must be non-negative")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def varints(values) -> bytes:
    """The concatenated varints of ``values`` (non-negative integers)."""
    out = bytearray()
    for v in values:
        put_varint(out, v)
    return bytes(out)


def read_varint(data, pos: int, max_bytes: int, canonical: bool = True) -> tuple[int, int]:
    """Read one varint of at most ``max_bytes`` bytes at ``data[pos]``.

    Returns:
        ``(value, position after it)``.

    Raises:
        VarintError: ``"truncated"`` (the data ends inside it), ``"too long"``
            (``max_bytes`` bytes all with the continuation bit) or, when
            ``canonical``, ``"non-canonical"`` (a final zero byte after the first).
    """
    value = shift = 0
    n = len(data)
    for i in range(max_bytes):
        if pos >= n:
            raise VarintError("truncated")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if canonical and b == 0 and i > 0:
                raise VarintError("non-canonical")
            return value, pos
    raise VarintError("too long")


def zigzag(v):
    """``v >= 0: 2 v``, ``v < 0: -2 v - 1`` (a Python int, or elementwise on an integer array)."""
    if isinstance(v, np.ndarray):
        return np.where(v >= 0, 2 * v, -2 * v - 1)
    return 2 * v if v >= 0 else -2 * v - 1


def unzigzag(z):
    """Inverse of :func:`zigzag` (a Python int, or elementwise on an integer array)."""
    if isinstance(z, np.ndarray):
        return np.where(z & 1, -(z >> 1) - 1, z >> 1)
    return -(z >> 1) - 1 if z & 1 else z >> 1


def bit_length(x: np.ndarray) -> np.ndarray:
    """Exact bit length of non-negative int64 values (< 2**62), elementwise (0 for 0)."""
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros(x.shape, np.int64)
    v = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = v >= (1 << shift)
        out[big] += shift
        v[big] >>= shift
    return out + (v > 0)


# ---------------------------------------------------------------------------
# Byte streams
# ---------------------------------------------------------------------------


class ByteWriter:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def byte(self, v: int) -> None:
        self._parts.append(bytes([v]))

    def varint(self, v: int) -> None:
        out = bytearray()
        put_varint(out, v)
        self._parts.append(bytes(out))

    def blob(self, data: bytes) -> None:
        """A varint length followed by the bytes."""
        self.varint(len(data))
        self._parts.append(bytes(data))

    def raw(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


_VARINT_MESSAGES = {"truncated": "message truncated", "non-canonical": "non-canonical varint",
                    "too long": "varint too long"}


class ByteReader:
    """Bounds-checked reader: every overrun or malformed field is a FormatError."""

    def __init__(self, data) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise FormatError(f"message must be bytes, got {type(data).__name__}")
        self.data = bytes(data)
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FormatError("message truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self, limit: int) -> int:
        """A LEB128 varint in ``[0, limit]`` (canonical encoding only, at most 10 bytes)."""
        try:
            v, self.pos = read_varint(self.data, self.pos, 10)
        except VarintError as e:
            raise FormatError(_VARINT_MESSAGES[e.reason]) from None
        if v > limit:
            raise FormatError(f"field value {v} exceeds its limit {limit}")
        return v

    def blob(self, limit: int) -> bytes:
        n = self.varint(limit)
        return self.take(n)

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise FormatError("message truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


# ---------------------------------------------------------------------------
# Fixed-width bit fields
# ---------------------------------------------------------------------------


@njit(cache=True)
def _pack_kernel(values, widths, out):
    pos = 0
    for i in range(values.shape[0]):
        w = widths[i]
        v = values[i]
        for b in range(w - 1, -1, -1):
            if (v >> np.uint64(b)) & np.uint64(1):
                out[pos >> 3] |= np.uint8(0x80 >> (pos & 7))
            pos += 1


@njit(cache=True)
def _unpack_kernel(data, widths, out):
    pos = 0
    for i in range(widths.shape[0]):
        w = widths[i]
        v = np.uint64(0)
        for _ in range(w):
            bit = (data[pos >> 3] >> (7 - (pos & 7))) & 1
            v = (v << np.uint64(1)) | np.uint64(bit)
            pos += 1
        out[i] = v


def pack_bits(values, widths) -> bytes:
    """Concatenate ``values[i]`` in ``widths[i]`` bits (MSB first), zero-padded."""
    values = np.ascontiguousarray(values, dtype=np.uint64).reshape(-1)
    widths = np.broadcast_to(np.asarray(widths, dtype=np.int64), values.shape).copy()
    if np.any((widths < 0) | (widths > 64)):
        raise RecError("bit widths must lie in [0, 64]")
    small = widths < 64
    if np.any(values[small] >> widths[small].astype(np.uint64)):
        raise RecError("a value does not fit its bit width")
    total = int(widths.sum())
    out = np.zeros((total + 7) // 8, np.uint8)
    _pack_kernel(values, widths, out)
    return out.tobytes()


def unpack_bits(data: bytes, widths) -> np.ndarray:
    """Inverse of :func:`pack_bits`; ``data`` must be exactly the padded field
    (FormatError on a length mismatch or non-zero padding)."""
    widths = np.ascontiguousarray(widths, dtype=np.int64).reshape(-1)
    total = int(widths.sum())
    if len(data) != (total + 7) // 8:
        raise FormatError(f"raw field has {len(data)} bytes, expected {(total + 7) // 8}")
    arr = np.frombuffer(data, np.uint8)
    if total % 8 and arr.size and (arr[-1] & ((1 << (8 - total % 8)) - 1)):
        raise FormatError("non-zero padding bits")
    out = np.empty(widths.shape[0], np.uint64)
    _unpack_kernel(arr, widths, out)
    return out
