"""The rec bitstream container: magic, version, header, typed sections, CRC.

Everything the decoder needs besides the model weights travels here (see
docs/design.md §1): image size, which codec and model (with a hash of the
weights, so a wrong model is caught instead of decoding noise), the sampler of
each latent level with its parameters, the seed of the shared randomness, and
the coded messages as typed sections.

Format 2 (written since 2026-12; 50-60 bytes smaller than format 1, which matters at
the lowest rates, where a REC file is a few hundred bytes). Integers little-endian;
``varint`` = unsigned LEB128, canonical; ``str8`` = u8 length + UTF-8 bytes;
``name`` = u8 code: 1 .. len(NAMES) stands for that entry of :data:`NAMES` (frozen),
0 for a str8 that follows (a name that is not in the table)::

    offset  size      field
    ------  --------  ----------------------------------------------------------
    0       4         magic b"\\x89REC"
    4       1         format version (2)
    5       varint    total length of the container in bytes, CRC included (≤ 5 bytes)
    .       2 + 2     image width - 1, image height - 1 (u16 each: 1 .. 65536)
    .       name      codec id, e.g. "rec"
    .       str8      model id (0 .. 255 bytes)
    .       1 + h     model hash: u8 length h (0 .. 64), then h bytes (8 from our codecs)
    .       varint    seed of the shared randomness (< 2**64, ≤ 10 bytes)
    .       1         number of sampler specs L (0 .. 16); each:
                        name  sampler name
                        u8    number of parameters P (0 .. 32); each, sorted by key:
                          u8  head = type << 6 | key code: 1 .. len(KEYS) an entry of
                              :data:`KEYS`, 0 a str8 key that follows (not in the table)
                          type 0 int: zigzag varint (i64); 1 float k/16: zigzag varint of
                          k (|k| ≤ 2**53); 2 any other float: f64; 3 str: str8
    .       1         number of sections S (0 .. 64); each:
                        u8 head = type << 4 | level (level < 15; 15: a u8 level ≥ 15 follows)
                        varint payload length (not for the last section: it runs to the CRC)
                        payload
    end-4   4         CRC-32 (zlib) of every byte before it (u32)

Every value has one encoding (a table entry is never spelled out, a float k/16 never
written as f64, a level below 15 never escaped), so serialization stays canonical.

Format 1 (read, and written on request: ``to_bytes(version=1)``) differs in: a u32
total length; str8 codec id and sampler names; a u64 seed; parameters as str8 key,
u8 type (0 int, 1 f64, 2 str) and value; sections as u8 type, u8 level, varint length
(every section, the last included); 16-byte model hashes.

Parsing (:meth:`Container.from_bytes`) checks, in order: magic, version,
declared length against the actual length (truncation, trailing garbage), the
CRC, then every field with its bound before reading or allocating. Anything
wrong raises :class:`rec.errors.FormatError` naming the problem; a file whose
fields all parse must also end exactly at the CRC. Serialization is
deterministic: the same :class:`Container` always gives the same bytes, and
``Container.from_bytes(b).to_bytes(v) == b`` for every accepted ``b`` of format ``v``.
"""

from __future__ import annotations

import enum
import math
import numbers
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from rec.bitio import VarintError, put_varint, read_varint, unzigzag, zigzag
from rec.errors import FormatError, RecError

__all__ = [
    "checked_rate",
    "rate_section",
    "read_rate",
    "MAGIC",
    "FORMAT_VERSION",
    "VERSIONS",
    "NAMES",
    "KEYS",
    "SectionType",
    "SamplerSpec",
    "Header",
    "Section",
    "Container",
    "MAX_DIMENSION",
    "MAX_SECTIONS",
    "MAX_LEVELS",
    "MAX_PARAMS",
    "MAX_STRING_BYTES",
    "MAX_HASH_BYTES",
    "HASH_BYTES",
    "same_weights",
    "length_field",
    "body_offset",
    "MAX_CONTAINER_BYTES",
]

MAGIC = b"\x89REC"
FORMAT_VERSION = 2
#: The versions :meth:`Container.from_bytes` reads and :meth:`Container.to_bytes` writes.
VERSIONS = (1, 2)
#: Format 2's one-byte names (codec ids and sampler names), code = index + 1. Frozen: a new name is
#: written out (code 0) until a new format version extends the table.
NAMES = ("rec", "mbt2018", "mentzer2018", "brummer2021", "importance", "greedy", "rejection", "budget",
         "gauss", "factorized", "context3d", "static-table")
#: Format 2's one-byte parameter keys, code = index + 1 (< 64). Append-only: a code never changes
#: meaning; a reader older than a key refuses a file that uses its code (FormatError naming it).
KEYS = ("bits", "max_group", "margin", "temper", "outlier_kl", "min_kl", "skip_kl", "full_width",
        "partial_margin", "shards", "group_kl", "bits_per_shard", "table", "alpha", "levels", "min", "max",
        "support", "order", "tail", "wavefront", "precision", "map", "digest", "guide")

MAX_DIMENSION = 1 << 16
MAX_SECTIONS = 64
MAX_LEVELS = 16
MAX_PARAMS = 32
MAX_STRING_BYTES = 255
MAX_HASH_BYTES = 64
#: Bytes of the weights' digest our codecs record (format-1 files recorded 16).
HASH_BYTES = 8
MAX_CONTAINER_BYTES = 1 << 28

_PREFIX_BYTES = 9  # format 1: magic + version + u32 total length
_MIN_V2_BYTES = 5 + 1 + 4  # magic + version, a one-byte total length, the CRC
_CRC_BYTES = 4
_MAX_VARINT_BYTES = 5  # for lengths (< 2**35); parameters use up to 10
_INT_TAG, _FLOAT_TAG, _STR_TAG = 0, 1, 2  # format 1
_V2_INT, _V2_SIXTEENTHS, _V2_F64, _V2_STR = 0, 1, 2, 3
_MAX_SIXTEENTHS = 1 << 53
_LEVEL_ESCAPE = 15
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


class SectionType(enum.IntEnum):
    """Tag of a section's payload."""

    #: Coded sample indices of one latent level (range-coder output).
    PAYLOAD_LEVEL = 1
    #: Side information of one level: group sizes, shard counts, ...
    SIDE_INFO = 2
    #: Directly quantized outlier dimensions of one level.
    OUTLIERS = 3
    #: Anything else the codec needs (codec-defined content).
    AUX = 4
    #: The rate parameter of a variable-rate model: β as a little-endian f64 (level 0).
    RATE = 5


# --------------------------------------------------------------------------
# dataclasses
# --------------------------------------------------------------------------


def _check_str(value, what: str, allow_empty: bool) -> None:
    if not isinstance(value, str):
        raise RecError(f"{what} must be a str, got {type(value).__name__}")
    n = len(value.encode("utf-8"))
    if n > MAX_STRING_BYTES or (n == 0 and not allow_empty):
        lo = 0 if allow_empty else 1
        raise RecError(f"{what} must be {lo} .. {MAX_STRING_BYTES} UTF-8 bytes, got {n}")


def _normalize_param(key: str, value) -> int | float | str:
    if isinstance(value, str):
        _check_str(value, f"parameter {key!r}", allow_empty=True)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RecError(f"parameter {key!r} must be an int, a float or a str, got {value!r}")
    if isinstance(value, numbers.Integral):
        value = int(value)
        if not _I64_MIN <= value <= _I64_MAX:
            raise RecError(f"parameter {key!r} = {value} does not fit in 64 bits")
        return value
    return float(value)


@dataclass(frozen=True)
class SamplerSpec:
    """The sampler of one latent level and its parameters.

    ``params`` may be given as a mapping or pairs; it is stored as a tuple of
    ``(key, value)`` sorted by key, values ``int`` (64-bit) or ``float``.

    Example: ``SamplerSpec("greedy", {"shards": 30, "bits_per_shard": 14})``.
    """

    name: str
    params: tuple[tuple[str, int | float | str], ...] = field(default_factory=tuple)

    def __post_init__(self):
        _check_str(self.name, "sampler name", allow_empty=False)
        items = self.params.items() if isinstance(self.params, Mapping) else self.params
        pairs = []
        for item in items:
            key, value = item
            _check_str(key, "parameter name", allow_empty=False)
            pairs.append((key, _normalize_param(key, value)))
        pairs.sort(key=lambda kv: kv[0])
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise RecError(f"duplicate parameter names in sampler {self.name!r}: {keys}")
        if len(pairs) > MAX_PARAMS:
            raise RecError(f"a sampler has at most {MAX_PARAMS} parameters, got {len(pairs)}")
        object.__setattr__(self, "params", tuple(pairs))

    def as_dict(self) -> dict[str, int | float | str]:
        """The parameters as a dict."""
        return dict(self.params)


@dataclass(frozen=True)
class Header:
    """Everything the decoder needs besides the sections and the model weights.

    Attributes:
        width, height: image size in pixels, 1 .. 65536 each.
        codec_id: codec name, e.g. ``"rec"`` (1 .. 255 UTF-8 bytes).
        model_id: model name in the zoo (0 .. 255 UTF-8 bytes).
        model_hash: digest of the model weights (0 .. 64 bytes, e.g. SHA-256).
        seed: seed of the shared randomness, 0 .. 2**64 - 1.
        samplers: one :class:`SamplerSpec` per latent level (0 .. 16).
    """

    width: int
    height: int
    codec_id: str
    model_id: str
    model_hash: bytes
    seed: int
    samplers: tuple[SamplerSpec, ...] = ()

    def __post_init__(self):
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) \
                    or not 1 <= v <= MAX_DIMENSION:
                raise RecError(f"image {name} must be an int in 1 .. {MAX_DIMENSION}, got {v!r}")
            object.__setattr__(self, name, int(v))
        _check_str(self.codec_id, "codec id", allow_empty=False)
        _check_str(self.model_id, "model id", allow_empty=True)
        if not isinstance(self.model_hash, (bytes, bytearray)) \
                or len(self.model_hash) > MAX_HASH_BYTES:
            raise RecError(f"model hash must be at most {MAX_HASH_BYTES} bytes")
        object.__setattr__(self, "model_hash", bytes(self.model_hash))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) \
                or not 0 <= self.seed < 1 << 64:
            raise RecError(f"seed must be an int in 0 .. 2**64 - 1, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        samplers = tuple(self.samplers)
        if len(samplers) > MAX_LEVELS or not all(isinstance(s, SamplerSpec) for s in samplers):
            raise RecError(f"samplers must be at most {MAX_LEVELS} SamplerSpec")
        object.__setattr__(self, "samplers", samplers)


def same_weights(recorded: bytes, expected: bytes) -> bool:
    """Whether a file's model hash names the weights of ``expected``: equal, or one a prefix of the other and
    both at least :data:`HASH_BYTES` long (a format-1 file's 16 bytes against today's 8)."""
    recorded, expected = bytes(recorded), bytes(expected)
    if recorded == expected:
        return True
    return min(len(recorded), len(expected)) >= HASH_BYTES and (recorded.startswith(expected) or expected.startswith(recorded))


@dataclass(frozen=True)
class Section:
    """One typed payload, e.g. the coded indices of latent level 2.

    Attributes:
        kind: the :class:`SectionType`.
        level: latent level (or other index) it belongs to, 0 .. 255.
        payload: the bytes.
    """

    kind: SectionType
    level: int
    payload: bytes

    def __post_init__(self):
        try:
            object.__setattr__(self, "kind", SectionType(self.kind))
        except ValueError:
            raise RecError(f"unknown section type {self.kind!r}") from None
        if isinstance(self.level, bool) or not isinstance(self.level, numbers.Integral) \
                or not 0 <= self.level <= 255:
            raise RecError(f"section level must be an int in 0 .. 255, got {self.level!r}")
        object.__setattr__(self, "level", int(self.level))
        if not isinstance(self.payload, (bytes, bytearray, memoryview)):
            raise RecError("section payload must be bytes")
        object.__setattr__(self, "payload", bytes(self.payload))


@dataclass(frozen=True)
class Container:
    """A header and its sections; :meth:`to_bytes` / :meth:`from_bytes`.

    Sections keep their order; each ``(kind, level)`` pair appears at most once.
    """

    header: Header
    sections: tuple[Section, ...] = ()

    def __post_init__(self):
        if not isinstance(self.header, Header):
            raise RecError("header must be a Header")
        sections = tuple(self.sections)
        if len(sections) > MAX_SECTIONS or not all(isinstance(s, Section) for s in sections):
            raise RecError(f"sections must be at most {MAX_SECTIONS} Section")
        keys = [(s.kind, s.level) for s in sections]
        if len(set(keys)) != len(keys):
            raise RecError("each (section type, level) may appear only once")
        object.__setattr__(self, "sections", sections)

    def section(self, kind: SectionType, level: int) -> Section:
        """The section of this type and level.

        Raises:
            FormatError: if the container has no such section.
        """
        for s in self.sections:
            if s.kind == kind and s.level == level:
                return s
        raise FormatError(f"missing section {SectionType(kind).name} of level {level}")

    @property
    def overhead_bytes(self) -> int:
        """Bytes of everything except the section payloads (the format's cost)."""
        return len(self.to_bytes()) - sum(len(s.payload) for s in self.sections)

    def to_bytes(self, version: int = FORMAT_VERSION) -> bytes:
        """Serialize (deterministic) in format ``version`` (module docstring; default the current one).

        Raises:
            RecError: an unknown version, or a result that would exceed MAX_CONTAINER_BYTES.
        """
        if version not in VERSIONS:
            raise RecError(f"format version must be one of {VERSIONS}, got {version!r}")
        body = _body_v1(self) if version == 1 else _body_v2(self)
        length = length_field(version, len(MAGIC) + 1 + len(body) + _CRC_BYTES)
        out = bytearray(MAGIC) + bytes([version]) + length + body
        total = len(out) + _CRC_BYTES
        if total > MAX_CONTAINER_BYTES:
            raise RecError(f"container of {total} bytes exceeds {MAX_CONTAINER_BYTES}")
        out += struct.pack("<I", zlib.crc32(out))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data) -> "Container":
        """Parse and validate a container.

        Raises:
            FormatError: on foreign, truncated, corrupted or malformed input.
        """
        data = bytes(data)
        n = len(data)
        version, declared, start = _prefix(data)
        if declared > MAX_CONTAINER_BYTES:
            raise FormatError(
                f"declared length {declared} exceeds the limit of {MAX_CONTAINER_BYTES} bytes")
        if declared < (_PREFIX_BYTES + _CRC_BYTES if version == 1 else _MIN_V2_BYTES):
            raise FormatError(f"declared length {declared} is too small for a rec file")
        if n < declared:
            raise FormatError(f"truncated: file declares {declared} bytes, got {n}")
        if n > declared:
            raise FormatError(f"trailing garbage: {n - declared} bytes after the container")
        (crc,) = struct.unpack_from("<I", data, n - _CRC_BYTES)
        if zlib.crc32(data[: n - _CRC_BYTES]) != crc:
            raise FormatError("CRC mismatch: the file is corrupted")
        reader = _Reader(data[: n - _CRC_BYTES], start)
        try:
            return _parse_v1(reader) if version == 1 else _parse_v2(reader)
        except FormatError:
            raise
        except RecError as e:  # a field that parsed but violates a dataclass invariant
            raise FormatError(f"malformed header: {e}") from None


# --------------------------------------------------------------------------
# serialization helpers
# --------------------------------------------------------------------------


def _prefix(data: bytes) -> tuple[int, int, int]:
    """(version, declared total length, offset of the header's first field) of a container's prefix.

    Raises:
        FormatError: a foreign or truncated prefix, an unknown version, a malformed length field.
    """
    n = len(data)
    if data[:4] != MAGIC[: min(n, 4)]:
        raise FormatError("not a rec file: bad magic")
    if n < 5:
        raise FormatError(f"truncated: header needs {_PREFIX_BYTES} bytes, got {n}")
    version = data[4]
    if version not in VERSIONS:
        raise FormatError(f"unsupported format version {version}")
    if version == 1:
        if n < _PREFIX_BYTES:
            raise FormatError(f"truncated: header needs {_PREFIX_BYTES} bytes, got {n}")
        return version, struct.unpack_from("<I", data, 5)[0], _PREFIX_BYTES
    try:
        declared, start = read_varint(data, 5, _MAX_VARINT_BYTES)
    except VarintError as e:
        if e.reason == "truncated":
            raise FormatError(f"truncated: header needs its total length, got {n} bytes") from None
        raise FormatError(f"malformed: {e.reason} varint in the total length") from None
    return version, declared, start


def body_offset(data: bytes) -> int:
    """Where the header's fields (image width first) start in ``data``, after the version's total length.

    Raises:
        FormatError: as :meth:`Container.from_bytes` on a bad prefix.
    """
    return _prefix(bytes(data))[2]


def _put_str(out: bytearray, s: str) -> None:
    b = s.encode("utf-8")
    out.append(len(b))
    out += b


def _varint(value: int) -> bytes:
    out = bytearray()
    put_varint(out, value)
    return bytes(out)


def length_field(version: int, rest: int) -> bytes:
    """The total-length field of a container whose other bytes number ``rest``: format 1's u32, format 2's
    varint of ``rest + k`` whose own width is k (the least such k)."""
    if version == 1:
        return struct.pack("<I", rest + 4)
    return next(v for k in range(1, _MAX_VARINT_BYTES + 1) if len(v := _varint(rest + k)) == k)


def _sixteenths(value: float) -> int | None:
    """k with value == k / 16 exactly and |k| ≤ 2**53 (format 2's short float), else None (-0.0 included)."""
    k = value * 16  # exact: a power of two, unless it overflows
    negative_zero = value == 0 and math.copysign(1.0, value) < 0
    if negative_zero or not math.isfinite(k) or not k.is_integer() or abs(k) > _MAX_SIXTEENTHS:
        return None
    return int(k)


def _put_name(out: bytearray, name: str, table: tuple[str, ...]) -> None:
    if name in table:
        out.append(table.index(name) + 1)
    else:
        out.append(0)
        _put_str(out, name)


def _body_v1(c: Container) -> bytearray:
    h = c.header
    out = bytearray(struct.pack("<HH", h.width - 1, h.height - 1))
    _put_str(out, h.codec_id)
    _put_str(out, h.model_id)
    out.append(len(h.model_hash))
    out += h.model_hash
    out += struct.pack("<Q", h.seed)
    out.append(len(h.samplers))
    for spec in h.samplers:
        _put_str(out, spec.name)
        out.append(len(spec.params))
        for key, value in spec.params:
            _put_str(out, key)
            if isinstance(value, int):
                out.append(_INT_TAG)
                put_varint(out, zigzag(value))
            elif isinstance(value, str):
                out.append(_STR_TAG)
                _put_str(out, value)
            else:
                out.append(_FLOAT_TAG)
                out += struct.pack("<d", value)
    out.append(len(c.sections))
    for s in c.sections:
        out.append(int(s.kind))
        out.append(s.level)
        put_varint(out, len(s.payload))
        out += s.payload
    return out


def _body_v2(c: Container) -> bytearray:
    h = c.header
    out = bytearray(struct.pack("<HH", h.width - 1, h.height - 1))
    _put_name(out, h.codec_id, NAMES)
    _put_str(out, h.model_id)
    out.append(len(h.model_hash))
    out += h.model_hash
    put_varint(out, h.seed)
    out.append(len(h.samplers))
    for spec in h.samplers:
        _put_name(out, spec.name, NAMES)
        out.append(len(spec.params))
        for key, value in spec.params:
            code = KEYS.index(key) + 1 if key in KEYS else 0
            if isinstance(value, int):
                kind, encoded = _V2_INT, _varint(zigzag(value))
            elif isinstance(value, str):
                kind, encoded = _V2_STR, bytes([len(value.encode("utf-8"))]) + value.encode("utf-8")
            elif (k := _sixteenths(value)) is not None:
                kind, encoded = _V2_SIXTEENTHS, _varint(zigzag(k))
            else:
                kind, encoded = _V2_F64, struct.pack("<d", value)
            out.append(kind << 6 | code)
            if not code:
                _put_str(out, key)
            out += encoded
    out.append(len(c.sections))
    for i, s in enumerate(c.sections):
        out.append(int(s.kind) << 4 | min(s.level, _LEVEL_ESCAPE))
        if s.level >= _LEVEL_ESCAPE:
            out.append(s.level)
        if i < len(c.sections) - 1:
            put_varint(out, len(s.payload))
        out += s.payload
    return out


class _Reader:
    """Bounds-checked cursor over the body (everything before the CRC)."""

    def __init__(self, data: bytes, pos: int):
        self.data = data
        self.pos = pos

    def take(self, n: int, what: str) -> bytes:
        left = len(self.data) - self.pos
        if n > left:
            raise FormatError(f"malformed: {what} needs {n} bytes, only {left} remain")
        b = self.data[self.pos: self.pos + n]
        self.pos += n
        return b

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str, allow_empty: bool) -> str:
        n = self.u8(f"length of {what}")
        if n == 0 and not allow_empty:
            raise FormatError(f"malformed: empty {what}")
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"malformed: {what} is not valid UTF-8") from None

    def varint(self, what: str, max_bytes: int) -> int:
        try:
            value, self.pos = read_varint(self.data, self.pos, max_bytes)
        except VarintError as e:
            if e.reason == "truncated":
                raise FormatError(f"malformed: {what} needs 1 bytes, only 0 remain") from None
            if e.reason == "non-canonical":
                raise FormatError(f"malformed: non-canonical varint in {what}") from None
            raise FormatError(f"malformed: varint in {what} longer than {max_bytes} bytes") from None
        return value

    def count(self, what: str, limit: int) -> int:
        n = self.u8(f"number of {what}")
        if n > limit:
            raise FormatError(f"malformed: {n} {what}, at most {limit} allowed")
        return n


def _parse_param(r: _Reader, key: str) -> int | float | str:
    tag = r.u8(f"type of parameter {key!r}")
    if tag == _INT_TAG:
        z = r.varint(f"parameter {key!r}", 10)
        if z >= 1 << 64:
            raise FormatError(f"malformed: parameter {key!r} does not fit in 64 bits")
        return unzigzag(z)
    if tag == _FLOAT_TAG:
        return r.unpack("<d", f"parameter {key!r}")
    if tag == _STR_TAG:
        return r.string(f"parameter {key!r}", allow_empty=True)
    raise FormatError(f"malformed: unknown type tag {tag} of parameter {key!r}")


def _model_hash(r: _Reader) -> bytes:
    hash_len = r.u8("length of model hash")
    if hash_len > MAX_HASH_BYTES:
        raise FormatError(f"malformed: model hash of {hash_len} bytes, at most {MAX_HASH_BYTES}")
    return r.take(hash_len, "model hash")


def _parse_v1(r: _Reader) -> Container:
    width = r.unpack("<H", "image width") + 1
    height = r.unpack("<H", "image height") + 1
    codec_id = r.string("codec id", allow_empty=False)
    model_id = r.string("model id", allow_empty=True)
    model_hash = _model_hash(r)
    seed = r.unpack("<Q", "seed")
    samplers = []
    for level in range(r.count("sampler specs", MAX_LEVELS)):
        name = r.string(f"name of sampler {level}", allow_empty=False)
        params = []
        last_key = None
        for _ in range(r.count(f"parameters of sampler {name!r}", MAX_PARAMS)):
            key = r.string(f"parameter name of sampler {name!r}", allow_empty=False)
            if last_key is not None and key <= last_key:
                raise FormatError(
                    f"malformed: parameters of sampler {name!r} not sorted and unique")
            last_key = key
            params.append((key, _parse_param(r, key)))
        samplers.append(SamplerSpec(name, tuple(params)))
    header = Header(width, height, codec_id, model_id, model_hash, seed, tuple(samplers))
    sections = []
    for i in range(r.count("sections", MAX_SECTIONS)):
        tag = r.u8(f"type of section {i}")
        try:
            kind = SectionType(tag)
        except ValueError:
            raise FormatError(f"malformed: unknown section type {tag}") from None
        level = r.u8(f"level of section {i}")
        length = r.varint(f"length of section {i}", _MAX_VARINT_BYTES)
        sections.append(Section(kind, level, r.take(length, f"payload of section {i}")))
    if r.pos != len(r.data):
        raise FormatError(f"malformed: {len(r.data) - r.pos} unparsed bytes before the CRC")
    return Container(header, tuple(sections))


def _name(r: _Reader, what: str) -> str:
    code = r.u8(f"code of {what}")
    if code == 0:
        name = r.string(what, allow_empty=False)
        if name in NAMES:
            raise FormatError(f"malformed: {what} {name!r} spelled out instead of its code")
        return name
    if code > len(NAMES):
        raise FormatError(f"malformed: unknown code {code} of {what}")
    return NAMES[code - 1]


def _param_v2(r: _Reader, head: int, sampler: str) -> tuple[str, int | float | str]:
    kind, code = head >> 6, head & 0x3F
    if code > len(KEYS):
        raise FormatError(f"malformed: unknown parameter code {code} of sampler {sampler!r}")
    if code:
        key = KEYS[code - 1]
    else:
        key = r.string(f"parameter name of sampler {sampler!r}", allow_empty=False)
        if key in KEYS:
            raise FormatError(f"malformed: parameter {key!r} of sampler {sampler!r} spelled out instead of its code")
    if kind == _V2_INT or kind == _V2_SIXTEENTHS:
        z = r.varint(f"parameter {key!r}", 10)
        if z >= 1 << 64:
            raise FormatError(f"malformed: parameter {key!r} does not fit in 64 bits")
        if kind == _V2_INT:
            return key, unzigzag(z)
        k = unzigzag(z)
        if abs(k) > _MAX_SIXTEENTHS:
            raise FormatError(f"malformed: parameter {key!r} of {k}/16 is beyond 2**53/16")
        return key, k / 16
    if kind == _V2_F64:
        value = r.unpack("<d", f"parameter {key!r}")
        if _sixteenths(value) is not None:
            raise FormatError(f"malformed: parameter {key!r} = {value!r} written as f64 instead of sixteenths")
        return key, value
    return key, r.string(f"parameter {key!r}", allow_empty=True)


def _parse_v2(r: _Reader) -> Container:
    width = r.unpack("<H", "image width") + 1
    height = r.unpack("<H", "image height") + 1
    codec_id = _name(r, "codec id")
    model_id = r.string("model id", allow_empty=True)
    model_hash = _model_hash(r)
    seed = r.varint("seed", 10)
    if seed >= 1 << 64:
        raise FormatError("malformed: seed does not fit in 64 bits")
    samplers = []
    for level in range(r.count("sampler specs", MAX_LEVELS)):
        name = _name(r, f"name of sampler {level}")
        params = []
        for _ in range(r.count(f"parameters of sampler {name!r}", MAX_PARAMS)):
            key, value = _param_v2(r, r.u8(f"parameter of sampler {name!r}"), name)
            if params and key <= params[-1][0]:
                raise FormatError(f"malformed: parameters of sampler {name!r} not sorted and unique")
            params.append((key, value))
        samplers.append(SamplerSpec(name, tuple(params)))
    header = Header(width, height, codec_id, model_id, model_hash, seed, tuple(samplers))
    sections = []
    count = r.count("sections", MAX_SECTIONS)
    for i in range(count):
        head = r.u8(f"type of section {i}")
        try:
            kind = SectionType(head >> 4)
        except ValueError:
            raise FormatError(f"malformed: unknown section type {head >> 4}") from None
        level = head & 0xF
        if level == _LEVEL_ESCAPE:
            level = r.u8(f"level of section {i}")
            if level < _LEVEL_ESCAPE:
                raise FormatError(f"malformed: level {level} of section {i} escaped")
        last = i == count - 1
        length = len(r.data) - r.pos if last else r.varint(f"length of section {i}", _MAX_VARINT_BYTES)
        sections.append(Section(kind, level, r.take(length, f"payload of section {i}")))
    if r.pos != len(r.data):
        raise FormatError(f"malformed: {len(r.data) - r.pos} unparsed bytes before the CRC")
    return Container(header, tuple(sections))


# ---------------------------------------------------------------------------
# The rate parameter of a variable-rate model (REC's β, mbt2018's λ)
# ---------------------------------------------------------------------------


def rate_section(value: float) -> Section:
    """The RATE section of a variable-rate model's file: one f64 at level 0."""
    return Section(SectionType.RATE, 0, struct.pack("<d", value))


def read_rate(container: Container) -> float | None:
    """The rate parameter of the file's RATE section (None when there is none: a fixed-rate model's file).

    Raises:
        FormatError: a RATE section that is not one finite, positive f64.
    """
    sections = [s for s in container.sections if s.kind == SectionType.RATE]
    if not sections:
        return None
    payload = sections[0].payload
    if len(payload) != 8 or sections[0].level != 0:
        raise FormatError(f"RATE section must hold one f64 at level 0, got {len(payload)} bytes at level {sections[0].level}")
    (beta,) = struct.unpack("<d", payload)
    if not (math.isfinite(beta) and beta > 0):
        raise FormatError(f"RATE section holds an invalid β {beta!r}")
    return beta


def checked_rate(container: Container, net) -> float | None:
    """The file's rate parameter (REC's β, mbt2018's λ), checked against the model: present exactly for a
    variable-rate model, within its range. ``net``: any model with ``config.variable_rate`` and a
    :class:`~rec.models.rate.RateEmbedding` ``rate``."""
    beta = read_rate(container)
    if net.config.variable_rate != (beta is not None):
        raise FormatError("file has a rate section, but its model has a fixed rate" if beta is not None else
                          "file has no rate section, but its model is variable-rate")
    if beta is not None:
        try:
            net.rate.check(beta)
        except RecError as e:
            raise FormatError(f"file's {e}") from None
    return beta
