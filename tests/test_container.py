"""The rec container: round trips, determinism, and rejection of bad input."""

import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec.container import (
    FORMAT_VERSION,
    MAGIC,
    MAX_SECTIONS,
    Container,
    Header,
    SamplerSpec,
    Section,
    SectionType,
)
from rec.errors import FormatError, RecError

names = st.text(min_size=1, max_size=20)
param_values = st.one_of(st.integers(-(2**63), 2**63 - 1),
                         st.floats(allow_nan=False), st.integers(-5, 300), st.text(max_size=20))
specs = st.builds(SamplerSpec, names,
                  st.dictionaries(names, param_values, max_size=6))
headers = st.builds(
    Header,
    width=st.integers(1, 2**16), height=st.integers(1, 2**16),
    codec_id=names, model_id=st.text(max_size=255).filter(lambda s: len(s.encode()) <= 255),
    model_hash=st.binary(max_size=64), seed=st.integers(0, 2**64 - 1),
    samplers=st.lists(specs, max_size=4).map(tuple))


@st.composite
def containers(draw):
    header = draw(headers)
    keys = draw(st.lists(st.tuples(st.sampled_from(SectionType), st.integers(0, 255)),
                         unique=True, max_size=6))
    sections = tuple(Section(k, lvl, draw(st.binary(max_size=300))) for k, lvl in keys)
    return Container(header, sections)


@settings(max_examples=150, deadline=None)
@given(containers())
def test_round_trip_is_exact_and_deterministic(c):
    data = c.to_bytes()
    back = Container.from_bytes(data)
    assert back == c
    assert back.to_bytes() == data
    for spec, spec_back in zip(c.header.samplers, back.header.samplers):
        for (_, v), (_, w) in zip(spec.params, spec_back.params):
            assert type(v) is type(w)  # ints stay ints, floats stay floats
    assert c.overhead_bytes == len(data) - sum(len(s.payload) for s in c.sections)


def small_container() -> Container:
    header = Header(
        width=768, height=512, codec_id="rec", model_id="pln-beta0.1",
        model_hash=hashlib.sha256(b"weights").digest()[:16], seed=2**63 + 12345,
        samplers=(SamplerSpec("adaptive_is", {"outlier_kl": 12.0, "bits_per_group": 20,
                                              "max_group": 16}),
                  SamplerSpec("greedy", {"shards": 30, "bits_per_shard": 14})))
    return Container(header, (
        Section(SectionType.SIDE_INFO, 2, bytes(range(40))),
        Section(SectionType.PAYLOAD_LEVEL, 2, b"\xff" * 60),
        Section(SectionType.PAYLOAD_LEVEL, 1, bytes(range(100, 200))),
    ))


def test_small_container_layout():
    c = small_container()
    data = c.to_bytes()
    assert 200 <= len(data) <= 400
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    assert struct.unpack_from("<I", data, 5)[0] == len(data)
    assert struct.unpack_from("<HH", data, 9) == (767, 511)
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])
    assert c.section(SectionType.PAYLOAD_LEVEL, 1).payload == bytes(range(100, 200))
    assert c.header.samplers[1].as_dict() == {"bits_per_shard": 14, "shards": 30}
    with pytest.raises(FormatError, match="missing section"):
        c.section(SectionType.OUTLIERS, 1)


def test_every_truncation_is_rejected():
    data = small_container().to_bytes()
    for k in range(len(data)):
        with pytest.raises(FormatError, match="truncated"):
            Container.from_bytes(data[:k])


def test_every_single_bit_flip_is_rejected():
    data = small_container().to_bytes()
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(FormatError):
                Container.from_bytes(bytes(bad))


@pytest.mark.parametrize("data, message", [
    (b"", "truncated"),
    (b"\x89RE", "truncated"),
    (b"GIF89a" + bytes(100), "bad magic"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "bad magic"),
    (MAGIC + b"\x07" + bytes(100), "unsupported format version 7"),
    (MAGIC + b"\x01\x10", "truncated: header needs 9 bytes, got 6"),
    (MAGIC + b"\x01" + struct.pack("<I", 2**31), "exceeds the limit"),
    (MAGIC + b"\x01" + struct.pack("<I", 5), "too small"),
])
def test_foreign_and_broken_prefixes(data, message):
    with pytest.raises(FormatError, match=message):
        Container.from_bytes(data)


def test_trailing_garbage_and_crc_messages():
    data = small_container().to_bytes()
    with pytest.raises(FormatError, match="trailing garbage: 1 bytes"):
        Container.from_bytes(data + b"\x00")
    bad = bytearray(data)
    bad[30] ^= 0x10
    with pytest.raises(FormatError, match="CRC mismatch"):
        Container.from_bytes(bytes(bad))


def reseal(body: bytes) -> bytes:
    """Fix length and CRC of a hand-made container so only the body is wrong."""
    body = bytearray(body)
    body[5:9] = struct.pack("<I", len(body) + 4)
    return bytes(body + struct.pack("<I", zlib.crc32(body)))


def minimal_body(**over) -> bytes:
    """Prefix + header fields of an otherwise valid container, with overrides."""
    parts = dict(dims=struct.pack("<HH", 9, 9), codec=b"\x03rec", model=b"\x00",
                 hash=b"\x00", seed=bytes(8), samplers=b"\x00", sections=b"\x00")
    parts.update(over)
    return MAGIC + b"\x01" + bytes(4) + b"".join(parts.values())


def test_minimal_body_is_valid():
    c = Container.from_bytes(reseal(minimal_body()))
    assert (c.header.width, c.header.codec_id, c.sections) == (10, "rec", ())


@pytest.mark.parametrize("over, message", [
    (dict(codec=b"\x00"), "empty codec id"),
    (dict(codec=b"\xf0rec"), "codec id needs 240 bytes, only 15 remain"),
    (dict(model=b"\x02\xff\xfe"), "not valid UTF-8"),
    (dict(hash=b"\x41" + bytes(65)), "model hash of 65 bytes"),
    (dict(samplers=b"\x11"), "17 sampler specs"),
    (dict(samplers=b"\x01\x01g\x21"), "33 parameters"),
    (dict(samplers=b"\x01\x01g\x01\x01k\x07"), "unknown type tag 7"),
    (dict(samplers=b"\x01\x01g\x01\x01k\x00\x80\x00"), "non-canonical varint"),
    (dict(samplers=b"\x01\x01g\x01\x01k\x00" + b"\xff" * 10 + b"\x01"), "longer than 10"),
    (dict(samplers=b"\x01\x01g\x02\x01k\x00\x00\x01a\x00\x00"), "not sorted"),
    (dict(samplers=b"\x01\x01g\x02\x01k\x00\x00\x01k\x00\x00"), "not sorted"),
    (dict(sections=bytes([MAX_SECTIONS + 1])), "65 sections"),
    (dict(sections=b"\x01\x09\x01\x00"), "unknown section type 9"),
    (dict(sections=b"\x01\x01\x01\xff\xff\xff\xff\x7f"), "payload of section 0 needs"),
    (dict(sections=b"\x01\x01\x01\xff\xff\xff\xff\xff\x01"), "longer than 5"),
    (dict(sections=b"\x02\x01\x01\x00\x01\x01\x00"), "only once"),
    (dict(sections=b"\x00\x00"), "1 unparsed bytes"),
])
def test_malformed_fields_with_valid_crc(over, message):
    with pytest.raises(FormatError, match=message):
        Container.from_bytes(reseal(minimal_body(**over)))


def test_constructor_validation():
    ok = dict(width=1, height=1, codec_id="rec", model_id="", model_hash=b"", seed=0)
    Header(**ok)
    for bad in [dict(width=0), dict(height=2**16 + 1), dict(codec_id=""),
                dict(model_id="x" * 256), dict(model_hash=bytes(65)), dict(seed=-1),
                dict(seed=2**64), dict(samplers=("greedy",)), dict(width=True)]:
        with pytest.raises(RecError):
            Header(**{**ok, **bad})
    assert SamplerSpec("rejection", {"table": "static"}).as_dict() == {"table": "static"}
    for params in [{"a": True}, {"a": b"1"}, {"a": "x" * 256}, {"a": 2**63}, {"": 1}, [("a", 1), ("a", 2)]]:
        with pytest.raises(RecError):
            SamplerSpec("greedy", params)
    with pytest.raises(RecError):
        Section(9, 0, b"")
    with pytest.raises(RecError):
        Section(SectionType.AUX, 256, b"")
    with pytest.raises(RecError):
        Container(Header(**ok), (Section(1, 0, b""), Section(1, 0, b"x")))
    assert SamplerSpec("g", [("b", 1), ("a", 2.5)]).params == (("a", 2.5), ("b", 1))
