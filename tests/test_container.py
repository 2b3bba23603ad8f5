"""The rec container: round trips, determinism, and rejection of bad input."""

import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec.bitio import put_varint, read_varint
from rec.container import (
    FORMAT_VERSION,
    KEYS,
    MAGIC,
    MAX_SECTIONS,
    NAMES,
    VERSIONS,
    Container,
    Header,
    SamplerSpec,
    Section,
    SectionType,
)
from rec.errors import FormatError, RecError

names = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(NAMES))
keys = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(KEYS))
param_values = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                         st.integers(-(2**54), 2**54).map(lambda k: k / 16), st.sampled_from([-0.0, 0.0, 2.0**49, 2.0**-20]),
                         st.integers(-5, 300), st.text(max_size=20))
specs = st.builds(SamplerSpec, names,
                  st.dictionaries(keys, param_values, max_size=6))
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
@given(containers(), st.sampled_from(VERSIONS))
def test_round_trip_is_exact_and_deterministic(c, version):
    data = c.to_bytes(version)
    assert data[4] == version
    back = Container.from_bytes(data)
    assert back == c
    assert back.to_bytes(version) == data
    for spec, spec_back in zip(c.header.samplers, back.header.samplers):
        for (_, v), (_, w) in zip(spec.params, spec_back.params):
            assert type(v) is type(w)  # ints stay ints, floats stay floats
            assert str(v) == str(w)  # bit for bit: -0.0 stays -0.0
    assert c.overhead_bytes == len(c.to_bytes()) - sum(len(s.payload) for s in c.sections)


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
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION == 2
    total, pos = read_varint(data, 5, 5)
    assert total == len(data) and pos == 7
    assert struct.unpack_from("<HH", data, pos) == (767, 511)
    assert data[pos + 4] == NAMES.index("rec") + 1  # the codec id by its code
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])
    old = c.to_bytes(1)
    assert struct.unpack_from("<I", old, 5)[0] == len(old) and struct.unpack_from("<HH", old, 9) == (767, 511)
    # format 2 saves: length 2, "rec" 3, "greedy" 6, keys of the table 11 + 10 + 7 + 15, 12.0 as 192/16 6,
    # sections' framing 4; and pays: "adaptive_is" not in the table 1, a seed ≥ 2**63 as a varint 2
    assert len(old) - len(data) == 2 + 3 + 6 + 43 + 6 + 4 - 1 - 2
    assert c.section(SectionType.PAYLOAD_LEVEL, 1).payload == bytes(range(100, 200))
    assert c.header.samplers[1].as_dict() == {"bits_per_shard": 14, "shards": 30}
    with pytest.raises(FormatError, match="missing section"):
        c.section(SectionType.OUTLIERS, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_truncation_is_rejected(version):
    data = small_container().to_bytes(version)
    for k in range(len(data)):
        with pytest.raises(FormatError, match="truncated"):
            Container.from_bytes(data[:k])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_single_bit_flip_is_rejected(version):
    data = small_container().to_bytes(version)
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
    (MAGIC + b"\x02", "truncated: header needs its total length"),
    (MAGIC + b"\x02\x80", "truncated: header needs its total length"),
    (MAGIC + b"\x02\x80\x00" + bytes(10), "non-canonical varint in the total length"),
    (MAGIC + b"\x02\x09" + bytes(10), "too small"),
    (MAGIC + b"\x02\xff\xff\xff\xff\x0f", "exceeds the limit"),
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


def reseal_v2(body: bytes) -> bytes:
    """A format-2 container around ``body`` (everything after the total length), with a valid CRC."""
    for k in range(1, 6):
        out = bytearray()
        put_varint(out, 5 + k + len(body) + 4)
        if len(out) == k:
            data = MAGIC + b"\x02" + bytes(out) + body
            return data + struct.pack("<I", zlib.crc32(data))
    raise AssertionError


def minimal_body_v2(**over) -> bytes:
    parts = dict(dims=struct.pack("<HH", 9, 9), codec=b"\x01", model=b"\x00", hash=b"\x00", seed=b"\x00",
                 samplers=b"\x00", sections=b"\x00")
    parts.update(over)
    return b"".join(parts.values())


def test_minimal_format_2_body_is_valid():
    c = Container.from_bytes(reseal_v2(minimal_body_v2(samplers=b"\x01\x05\x02\x01\x04\x43\x20",
                                                       sections=b"\x02\x12\x01x\x1f\x20yz")))
    assert (c.header.width, c.header.codec_id) == (10, "rec")
    assert c.header.samplers == (SamplerSpec("importance", {"bits": 2, "margin": 1.0}),)  # 1.0 as 16/16
    assert c.sections == (Section(SectionType.PAYLOAD_LEVEL, 2, b"x"), Section(SectionType.PAYLOAD_LEVEL, 32, b"yz"))


@pytest.mark.parametrize("over, message", [
    (dict(codec=b"\x00\x03rec"), "codec id 'rec' spelled out"),
    (dict(codec=bytes([len(NAMES) + 1])), f"unknown code {len(NAMES) + 1} of codec id"),
    (dict(seed=b"\xff" * 9 + b"\x7f"), "seed does not fit in 64 bits"),
    (dict(samplers=b"\x01\x00\x06greedy\x00"), "name of sampler 0 'greedy' spelled out"),
    (dict(samplers=b"\x01\x05\x01\x3f\x00"), "unknown parameter code 63"),
    (dict(samplers=b"\x01\x05\x01\x00\x04bits\x00"), "parameter 'bits' of sampler 'importance' spelled out"),
    (dict(samplers=b"\x01\x05\x01\x83" + struct.pack("<d", 1.5)), "written as f64 instead of sixteenths"),
    (dict(samplers=b"\x01\x05\x01\x43" + b"\x82\x80\x80\x80\x80\x80\x80\x80\x01"), "beyond 2\\*\\*53/16"),
    (dict(samplers=b"\x01\x05\x02\x03\x00\x01\x00"), "not sorted"),
    (dict(sections=b"\x01\x6f"), "unknown section type 6"),
    (dict(sections=b"\x01\x1f\x02"), "level 2 of section 0 escaped"),
    (dict(sections=b"\x02\x12\x05x"), "payload of section 0 needs 5 bytes"),
    (dict(sections=b"\x02\x12\x00\x12"), "only once"),
    (dict(sections=b"\x00\x00"), "1 unparsed bytes"),
])
def test_malformed_format_2_fields_with_valid_crc(over, message):
    with pytest.raises(FormatError, match=message):
        Container.from_bytes(reseal_v2(minimal_body_v2(**over)))


def test_only_known_versions_are_written():
    with pytest.raises(RecError, match="format version must be one of"):
        small_container().to_bytes(3)


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
