"""What every coded sampler shares: the message type, the sampler interface,
the random streams and the prior-standardized coefficients (group layouts:
:mod:`rec.samplers.layout`; outliers: :mod:`rec.samplers.outliers`; byte and
bit I/O: :mod:`rec.bitio`).

Message layout (all samplers)::

    byte 0        tag: sampler id << 4 | format version
    varints       the sampler's discrete parameters and counts (header)
    varint + AC   range-coded section (rec.coding): group sizes and levels
                  (rejection: the per-dimension index symbols)
    varint + AC   range-coded outlier values, empty when there are none
                  (rejection: no length, the rest of the message)
    raw bits      fixed-width candidate indices, MSB first, zero-padded
                  (importance, greedy)

Bits are accounted exactly: ``index_bits`` and ``outlier_bits`` count the
fields/sections they name, ``side_bits`` is everything else (header, length
fields, the range-coded side information, padding), so
``index + side + outlier == 8 * len(bytes)``.

Streams of :mod:`rec.random` used under the seed a sampler is handed:

=========  =========================================================
stream     use
=========  =========================================================
1          greedy candidates, index ``(shard * 2**B + n) * D + d``
2          importance candidates 2j, 2j+1: halves of ``j * D + d``
3          rejection candidates, index ``i * D + d``
5          dither of directly sent outlier values, index ``d``
8          encoder-private: selection (Gumbel / inverse CDF), acceptance
9          encoder-private: outlier samples from q
=========  =========================================================

``D`` is the number of dimensions and ``d`` the raster (C-order) position of
a dimension, so a candidate's value does not depend on the group layout. The
codec must give each level (and anything else it draws) its own seed; streams
0, 4, 6, 7 and 10-15 are left unused.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from rec.bitio import ByteReader
from rec.coding import RangeDecoder
from rec.distributions import DiagonalGaussian, LOG2E
from rec.errors import FormatError, RecError

__all__ = [
    "MessageBits",
    "SampleMessage",
    "Sampler",
    "kl_bits_per_dim",
    "range_decoder",
    "standardized_coefficients",
    "check_guide",
    "guided_coefficients",
    "STREAM_GREEDY",
    "STREAM_IMPORTANCE",
    "STREAM_REJECTION",
    "STREAM_DITHER",
    "STREAM_SELECT",
    "STREAM_OUTLIER",
]

STREAM_GREEDY = 1
STREAM_IMPORTANCE = 2
STREAM_REJECTION = 3
STREAM_DITHER = 5
STREAM_SELECT = 8
STREAM_OUTLIER = 9

# ---------------------------------------------------------------------------
# Message and interface
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SampleMessage:
    """The result of :meth:`Sampler.encode`.

    Attributes:
        sample: the encoder's sample, float64, posterior's shape; the decoder
            returns exactly these bits.
        payload: the serialized message (:meth:`to_bytes`).
        index_bits: bits of candidate indices (for rejection: the whole
            range-coded index stream, escapes included).
        outlier_bits: bits of the range-coded section of directly sent
            outlier values (:func:`encode_outliers`).
        side_bits: everything else: header, group sizes/levels, padding.
        kl_bits: KL[q || p] in bits, for reference.
        stats: sampler-specific counts (groups, outliers, ...).
    """

    sample: np.ndarray
    payload: bytes
    index_bits: int
    outlier_bits: int
    side_bits: int
    kl_bits: float
    stats: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.index_bits + self.outlier_bits + self.side_bits != 8 * len(self.payload):
            raise AssertionError("bit accounting does not add up")

    @property
    def total_bits(self) -> int:
        return 8 * len(self.payload)

    def to_bytes(self) -> bytes:
        return self.payload

    @classmethod
    def accounted(cls, sample: np.ndarray, payload: bytes, index_bits: int, outlier_bits: int, kl_bits: float,
                  **stats) -> "SampleMessage":
        """The message whose side bits are everything but its index and outlier bits."""
        return cls(sample, payload, index_bits, outlier_bits, 8 * len(payload) - index_bits - outlier_bits, kl_bits,
                   stats)


@dataclass(frozen=True)
class MessageBits:
    """How a message's bits divide, read from the message and the latent's shape alone
    (:meth:`Sampler.inspect`); the same figures as the encoder's :class:`SampleMessage`.

    ``groups``: the groups coded by an index (None for a sampler that codes dimension by dimension).
    """

    index_bits: int
    side_bits: int
    outlier_bits: int
    groups: int | None
    outliers: int


class Sampler(ABC):
    """A coded sampler: ``encode(q, p, seed) -> SampleMessage``,
    ``decode(bytes, p, seed) -> sample`` with ``decode(encode(...).to_bytes())``
    equal bit for bit to ``encode(...).sample``.

    The decoder reads its discrete parameters from the message, so a decoder
    built with other parameters still decodes correctly.
    """

    name: str = ""
    tag: int = 0  # sampler id in the high nibble of byte 0
    version: int = 1

    @property
    @abstractmethod
    def params(self) -> dict:
        """The constructor arguments (``make(name, **params)`` rebuilds it)."""

    def encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int,
               slope: np.ndarray | None = None) -> SampleMessage:
        """Code a sample of ``posterior`` using candidates from ``prior``.

        ``slope``: encoder-only, for a sampler with a ``guide`` (importance, budget): the
        gradient of the distortion (nats) in the prior-standardized coordinates
        e = (z − μ_p) / σ_p, one value per dimension (:func:`guided_coefficients`); ignored by
        the other samplers and at ``guide=0``. The decoder never sees it.

        Raises:
            RecError: posterior and prior not DiagonalGaussians of one shape, a seed not in [0, 2**64),
                a slope of another size or not finite.
        """
        self._check_pair(posterior, prior)
        seed = self._check_seed(seed)
        if slope is None or not getattr(self, "guide", 0.0):
            return self._encode(posterior, prior, seed)
        slope = np.asarray(slope, dtype=np.float64).reshape(-1)
        if slope.size != prior.size or not np.all(np.isfinite(slope)):
            raise RecError(f"slope: need {prior.size} finite values, got {slope.size}")
        return self._encode(posterior, prior, seed, slope=slope)

    def decode(self, data: bytes, prior: DiagonalGaussian, seed: int) -> np.ndarray:
        """The encoder's sample from the message bytes, the prior and the seed.

        Raises:
            RecError: a bad prior or seed.
            FormatError: bytes that are not a message of this sampler (any malformed field).
        """
        self._check_prior(prior)
        seed = self._check_seed(seed)
        return self._reconstruct(prior, seed, self._parse_message(data, prior.shape))

    def inspect(self, data: bytes, shape: tuple[int, ...]) -> MessageBits:
        """How the bits of a message for a latent of ``shape`` divide (no prior, no seed needed).

        Raises:
            FormatError: as :meth:`decode`.
        """
        return self._parse_message(data, tuple(shape)).bits

    def _parse_message(self, data: bytes, shape: tuple[int, ...]):
        reader = ByteReader(data)
        self._read_header_byte(reader)
        try:
            return self._parse(reader, shape)
        except FormatError:
            raise
        except RecError as exc:
            raise FormatError(f"malformed {self.name} message: {exc}") from exc

    @abstractmethod
    def _encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int) -> SampleMessage:
        """:meth:`encode` with checked arguments."""

    @abstractmethod
    def _parse(self, reader: ByteReader, shape: tuple[int, ...]):
        """The message after its tag byte, for a latent of ``shape``: what :meth:`_reconstruct`
        needs, with its :class:`MessageBits` as ``.bits``; a RecError becomes a FormatError."""

    @abstractmethod
    def _reconstruct(self, prior: DiagonalGaussian, seed: int, parsed) -> np.ndarray:
        """The sample from a parsed message."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # -- helpers for subclasses ----------------------------------------------
    @staticmethod
    def _check_pair(posterior, prior) -> None:
        if not isinstance(posterior, DiagonalGaussian) or not isinstance(prior, DiagonalGaussian):
            raise RecError("posterior and prior must be DiagonalGaussian")
        if posterior.shape != prior.shape:
            raise RecError(f"posterior shape {posterior.shape} != prior shape {prior.shape}")

    @staticmethod
    def _check_seed(seed) -> int:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise RecError("seed must be an integer")
        seed = int(seed)
        if not 0 <= seed < 2**64:
            raise RecError("seed must be in [0, 2**64)")
        return seed

    @staticmethod
    def _check_prior(prior) -> None:
        if not isinstance(prior, DiagonalGaussian):
            raise RecError("prior must be a DiagonalGaussian")

    def _header_byte(self) -> int:
        return (self.tag << 4) | self.version

    def _read_header_byte(self, reader: ByteReader) -> None:
        b = reader.byte()
        if b != self._header_byte():
            raise FormatError(
                f"not a {self.name} v{self.version} message (tag byte 0x{b:02x}, "
                f"expected 0x{self._header_byte():02x})")


def kl_bits_per_dim(posterior: DiagonalGaussian, prior: DiagonalGaussian) -> np.ndarray:
    """Per-dimension KL in bits, flattened in raster order."""
    return (posterior.kl(prior) * LOG2E).reshape(-1)


def standardized_coefficients(posterior: DiagonalGaussian, prior: DiagonalGaussian):
    """``(m, s, a, b)`` flattened: q in prior-standardized coordinates is N(m, s**2)
    and ``log q(e) - log p(e) = a e**2 + b e + const`` for candidates ``e ~ N(0, 1)``."""
    qs = posterior.standardize(prior).flatten()
    m, s = qs.mean, qs.std
    inv_v = 1.0 / (s * s)
    return m, s, 0.5 * (1.0 - inv_v), m * inv_v


def check_guide(guide: float) -> float:
    """A sampler's ``guide`` strength (:func:`guided_coefficients`), checked: finite, in [0, 16]."""
    if not 0.0 <= float(guide) <= 16.0:
        raise RecError("guide must lie in [0, 16] (0: no distortion guide)")
    return float(guide)


def guided_coefficients(a: np.ndarray, b: np.ndarray, temper: float, guide: float,
                        slope: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The scoring coefficients of an importance-type sampler: a candidate e scores
    ``temper · (a e² + b e) − guide · slope · e`` (summed over a group's dimensions), i.e.
    ``temper · log q/p`` tilted against the distortion's linear change (*distortion-guided
    selection*, encoder-only: it changes which candidate is chosen, not the index's range,
    so the rate stays and the decoder is unchanged; the sample is then no longer an exact
    draw of q but one nearer the reconstruction's optimum). Returns (a', b')."""
    a, b = a * temper, b * temper
    if slope is not None and guide:
        b = b - guide * slope
    return a, b


def range_decoder(data: bytes):
    """A RangeDecoder over ``data``; coder errors surface as FormatError."""
    try:
        return RangeDecoder(data)
    except RecError as exc:
        raise FormatError(str(exc)) from exc
