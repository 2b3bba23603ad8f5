"""rec.coding.escapes: escape values round-trip in order; every mismatch with the payload is a FormatError."""

import numpy as np
import pytest

from rec.coding.escapes import MAX_ESCAPE, EscapeValues, escape_bytes
from rec.errors import FormatError, RecError


def test_values_round_trip_in_order_and_all_must_be_used():
    values = [0, 5, 127, 128, MAX_ESCAPE - 1, 3]
    esc = EscapeValues(escape_bytes(values))
    assert len(esc) == 6
    assert list(esc.take(2)) == [0, 5] and esc.take(0).size == 0
    with pytest.raises(FormatError, match="1 unused"):
        esc.take(3)
        esc.check_done()
    with pytest.raises(FormatError, match="needs more escape values"):
        esc.take(2)
    assert list(esc.take(1)) == [3]
    esc.check_done()
    assert escape_bytes([]) == b"" and len(EscapeValues()) == 0


def test_out_of_range_values_are_refused_on_both_sides():
    with pytest.raises(RecError, match="out of the codable range"):
        escape_bytes([MAX_ESCAPE])
    with pytest.raises(RecError):
        escape_bytes([-1])
    with pytest.raises(FormatError, match="out of range"):
        EscapeValues(bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))  # 2**32 - 1, a valid 5-byte varint
    with pytest.raises(FormatError, match="truncated"):
        EscapeValues(bytes([0x80]))
    with pytest.raises(FormatError, match="malformed"):
        EscapeValues(bytes([0x80] * 6))
    assert np.array_equal(EscapeValues(bytes([0x85, 0x00])).take(1), [5])  # non-canonical: as files were always read
