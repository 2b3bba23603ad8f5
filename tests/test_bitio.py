"""rec.bitio: varints, zigzag, bit lengths, bounds-checked byte streams and fixed-width bit fields."""

import numpy as np
import pytest

from rec.bitio import (ByteReader, ByteWriter, VarintError, bit_length, pack_bits, read_varint, unpack_bits,
                       unzigzag, varints, zigzag)
from rec.errors import FormatError, RecError


def test_varints_round_trip_and_refuse_what_a_writer_never_writes():
    values = [0, 1, 127, 128, 300, 2**35 + 7, 2**63 - 1]
    data = varints(values)
    pos, back = 0, []
    for _ in values:
        v, pos = read_varint(data, pos, 10)
        back.append(v)
    assert back == values and pos == len(data)
    for data, reason in ((b"\x80", "truncated"), (b"\x80\x00", "non-canonical"), (b"\xff" * 3, "too long")):
        with pytest.raises(VarintError) as err:
            read_varint(data, 0, 3)
        assert err.value.reason == reason
    assert read_varint(b"\x80\x00", 0, 3, canonical=False) == (0, 2)
    with pytest.raises(RecError):
        varints([-1])


def test_zigzag_and_bit_length_agree_with_python_ints():
    v = np.array([0, -1, 1, -2, 2**40, -(2**40) - 3], np.int64)
    z = zigzag(v)
    assert list(z) == [zigzag(int(x)) for x in v] and list(unzigzag(z)) == list(v)
    x = np.array([0, 1, 2, 3, 255, 256, 2**61 + 5], np.int64)
    assert list(bit_length(x)) == [int(a).bit_length() for a in x]


def test_byte_reader_bounds_every_field():
    w = ByteWriter()
    w.byte(7)
    w.varint(1000)
    w.blob(b"abc")
    w.raw(b"xy")
    r = ByteReader(w.getvalue())
    assert (r.byte(), r.varint(1000), r.blob(3), r.rest()) == (7, 1000, b"abc", b"xy")
    with pytest.raises(FormatError, match="truncated"):
        r.byte()
    with pytest.raises(FormatError, match="exceeds its limit"):
        ByteReader(varints([1001])).varint(1000)
    with pytest.raises(FormatError, match="truncated"):
        ByteReader(varints([5]) + b"abc").blob(10)
    with pytest.raises(FormatError, match="must be bytes"):
        ByteReader("text")


def test_pack_bits_roundtrip():
    rng = np.random.default_rng(1)
    widths = rng.integers(0, 65, size=500)
    vals = np.array([int(rng.integers(0, 2**63)) >> (63 - w) if w else 0 for w in widths], np.uint64)
    vals[widths == 64] = np.uint64(2**64 - 1)
    data = pack_bits(vals, widths)
    assert len(data) == (int(widths.sum()) + 7) // 8
    assert np.array_equal(unpack_bits(data, widths), vals)
    with pytest.raises(RecError):
        pack_bits([4], [2])
    with pytest.raises(FormatError):
        unpack_bits(data + b"\x00", widths)
