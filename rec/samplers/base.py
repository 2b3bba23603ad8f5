"""What every coded sampler shares: the message type, the sampler interface,
raster grouping, side-information coding and outlier quantization (byte and
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

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from rec.bitio import ByteReader, bit_length, unzigzag, zigzag
from rec.distributions import DiagonalGaussian, LOG2E
from rec.errors import FormatError, RecError

__all__ = [
    "SampleMessage",
    "Sampler",
    "make_groups",
    "GroupLayout",
    "size_contexts",
    "quantize_outliers",
    "outlier_dither",
    "dequantize_outliers",
    "encode_outliers",
    "decode_outliers",
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

    @abstractmethod
    def encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int) -> SampleMessage:
        """Code a sample of ``posterior`` using candidates from ``prior``."""

    @abstractmethod
    def decode(self, data: bytes, prior: DiagonalGaussian, seed: int) -> np.ndarray:
        """The encoder's sample from the message bytes, the prior and the seed."""

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

    def _open_message(self, data, prior, seed) -> tuple["ByteReader", int, int]:
        """Start a decode: check the prior and seed, read the tag byte.

        Returns the reader (past the tag byte), the seed and the number of dimensions.
        """
        self._check_prior(prior)
        seed = self._check_seed(seed)
        reader = ByteReader(data)
        self._read_header_byte(reader)
        return reader, seed, prior.size

    def _read_header_byte(self, reader: "ByteReader") -> None:
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


# ---------------------------------------------------------------------------
# Raster grouping (thesis Alg. 3, lines "for i <- 1..dim(Q')")
# ---------------------------------------------------------------------------


@njit(cache=True)
def _make_groups_kernel(kl, budget, max_group, outlier_kl, sizes, gkl, outl, full):
    n = 0
    cur = 0
    cur_kl = 0.0
    for d in range(kl.shape[0]):
        k = kl[d]
        if k > outlier_kl:
            if cur > 0:
                sizes[n] = cur
                gkl[n] = cur_kl
                outl[n] = False
                full[n] = False
                n += 1
                cur = 0
                cur_kl = 0.0
            sizes[n] = 1
            gkl[n] = k
            outl[n] = True
            full[n] = False
            n += 1
            continue
        if cur > 0 and (cur_kl + k > budget or cur + 1 > max_group):
            sizes[n] = cur
            gkl[n] = cur_kl
            outl[n] = False
            full[n] = cur_kl + k > budget
            n += 1
            cur = 0
            cur_kl = 0.0
        cur += 1
        cur_kl += k
    if cur > 0:
        sizes[n] = cur
        gkl[n] = cur_kl
        outl[n] = False
        full[n] = False
        n += 1
    return n


def make_groups(kl_bits: np.ndarray, budget: float, max_group: int, outlier_kl: float = math.inf,
                return_full: bool = False):
    """Partition dimensions in raster order (thesis Alg. 3).

    A dimension whose KL exceeds ``outlier_kl`` becomes a one-dimension outlier
    group; otherwise dimensions join the current group until its KL would
    exceed ``budget`` bits or its size ``max_group``.

    Returns ``(sizes, group_kl_bits, is_outlier)`` (and ``full``: the group was
    closed because the next dimension would exceed the budget, if
    ``return_full``); ``sizes.sum() == len(kl_bits)``.
    """
    kl = np.ascontiguousarray(kl_bits, dtype=np.float64)
    n = kl.shape[0]
    sizes = np.empty(n, np.int64)
    gkl = np.empty(n, np.float64)
    outl = np.empty(n, np.bool_)
    full = np.empty(n, np.bool_)
    g = _make_groups_kernel(kl, float(budget), int(max_group), float(outlier_kl), sizes, gkl, outl, full)
    out = (sizes[:g].copy(), gkl[:g].copy(), outl[:g].copy())
    return out + (full[:g].copy(),) if return_full else out


_DIRECT_SIZES = 64


def size_contexts(levels: np.ndarray, outlier_level: int) -> np.ndarray:
    """Context of a group's size from its level: 0 level 0 (no index), 1 the
    top level ``outlier_level - 1`` (full group), 2 anything else. Levels are
    coded first, so the decoder knows every context before it decodes sizes."""
    top = outlier_level - 1
    return np.where(levels == 0, 0, np.where(levels == top, 1, 2))


@dataclass(frozen=True, eq=False)
class GroupLayout:
    """Groups in raster order, each with a size and a small integer level.

    ``level`` is sampler-specific (index width, shard count, ...); the value
    ``outlier_level`` marks a one-dimension outlier group. This is the side
    information; it is range coded with adaptive models:

    * levels: one ``AdaptiveModel(outlier_level + 1)`` symbol per group;
    * sizes of non-outlier groups, in three contexts (level 0, top level,
      other; one adaptive model each): ``size - 1`` directly when
      ``max_group <= 64``, else a symbol that is 0 for ``size == max_group``
      or the bit length, plus the bits below the leading one (Elias-gamma
      style: an adaptive model over thousands of sizes would not learn from a
      few hundred groups).
    """

    sizes: np.ndarray
    levels: np.ndarray
    max_group: int
    outlier_level: int

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def is_outlier(self) -> np.ndarray:
        return self.levels == self.outlier_level

    def group_of_dim(self) -> np.ndarray:
        return np.repeat(np.arange(self.sizes.size, dtype=np.int64), self.sizes)

    def encode(self, enc) -> None:
        from rec.coding import AdaptiveModel, UniformModel

        enc.encode(self.levels.astype(np.int64), AdaptiveModel(self.outlier_level + 1))
        keep = ~self.is_outlier
        sizes = self.sizes[keep].astype(np.int64)
        ctx = size_contexts(self.levels[keep], self.outlier_level)
        G = self.max_group
        if G <= _DIRECT_SIZES:
            for c in range(3):
                enc.encode(sizes[ctx == c] - 1, AdaptiveModel(G))
            return
        # symbol 0: size == G; k >= 1: bit length k, then its k - 1 low bits raw
        blen = np.zeros(sizes.size, np.int64)
        small = sizes < G
        blen[small] = bit_length(sizes[small])
        for c in range(3):
            enc.encode(blen[ctx == c], AdaptiveModel(int(G).bit_length() + 1))
        for e in np.unique(blen):
            if e > 1:
                sel = blen == e
                enc.encode(sizes[sel] - (1 << int(e - 1)), UniformModel(1 << int(e - 1)))

    @classmethod
    def decode(cls, dec, n_groups: int, max_group: int, outlier_level: int, n_dims: int) -> "GroupLayout":
        from rec.coding import AdaptiveModel, UniformModel

        G = max_group
        levels = dec.decode(n_groups, AdaptiveModel(outlier_level + 1)).astype(np.int64)
        outl = levels == outlier_level
        ctx = size_contexts(levels[~outl], outlier_level)
        m = ctx.size
        inner = np.ones(m, np.int64)
        if G <= _DIRECT_SIZES:
            for c in range(3):
                sel = ctx == c
                inner[sel] = dec.decode(int(sel.sum()), AdaptiveModel(G)).astype(np.int64) + 1
        else:
            blen = np.zeros(m, np.int64)
            for c in range(3):
                sel = ctx == c
                blen[sel] = dec.decode(int(sel.sum()), AdaptiveModel(int(G).bit_length() + 1)).astype(np.int64)
            inner[blen == 0] = G
            for e in np.unique(blen):
                if e > 1:
                    sel = blen == e
                    inner[sel] = dec.decode(int(sel.sum()), UniformModel(1 << int(e - 1))).astype(np.int64) + (1 << int(e - 1))
        sizes = np.ones(n_groups, np.int64)
        sizes[~outl] = inner
        if sizes.sum() != n_dims or np.any(sizes > max_group):
            raise FormatError(f"group sizes add up to {int(sizes.sum())}, the prior has {n_dims} dimensions")
        return cls(sizes, levels, max_group, outlier_level)


# ---------------------------------------------------------------------------
# Outliers: samples of q sent directly, fixed point at the posterior's scale
# ---------------------------------------------------------------------------

#: Quantization step of an outlier: the power of two at most ``s / OUTLIER_STEP_DIV``
#: (``s`` = posterior std in prior units), so the rounding noise is below
#: 0.072 s and inflates the spread of the sample by less than 0.3 %.
OUTLIER_STEP_DIV = 4.0
_E_OFFSET = 8  # exponents e in [-8, 55]: steps 2**8 .. 2**-55 prior stds
_E_SIZE = 64
_MAX_ABS_V = (1 << 52) - 1


def outlier_dither(seed: int, dims: np.ndarray) -> np.ndarray:
    """Shared subtractive dither in (-1/2, 1/2) for the outliers at raster
    positions ``dims`` (stream 5): exact, both sides compute it."""
    import rec.random as rr

    return rr.uniform(seed, STREAM_DITHER, np.asarray(dims, dtype=np.uint64)) - 0.5


def quantize_outliers(u: np.ndarray, s: np.ndarray, dither: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantize prior-standardized samples ``u`` of posteriors with std ``s``
    to ``(e, v)``: ``v = round(u * 2**e - dither)``, reconstructed as
    ``(v + dither) * 2**-e`` (subtractive dither: the error is uniform on one
    step and independent of ``u``, so the decoded value has a continuous
    distribution, q blurred by at most s/4, instead of a lattice).

    The step ``2**-e`` is the largest power of two ``<= s / 4``, but coarser
    where that would make ``|v| >= 2**51`` (``|u| / s > 2**48``) and at least
    ``2**-55``; values beyond ``2**51`` steps are clipped.
    The thesis sends 16-bit values on a fixed range; a dimension with KL well
    above 16 bits has a posterior narrower than such a grid, so the step
    follows the posterior and the value's length is variable.
    """
    u = np.asarray(u, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    e = np.ceil(np.log2(OUTLIER_STEP_DIV / s))
    e_cap = np.floor(50.0 - np.log2(np.maximum(np.abs(u), 1e-300)))  # |v| < 2**51
    e = np.clip(np.minimum(e, e_cap), -_E_OFFSET, _E_SIZE - 1 - _E_OFFSET).astype(np.int64)
    v = np.clip(np.rint(u * np.exp2(e) - dither), -_MAX_ABS_V, _MAX_ABS_V).astype(np.int64)
    return e, v


def dequantize_outliers(e: np.ndarray, v: np.ndarray, dither: np.ndarray) -> np.ndarray:
    """``(v + dither) * 2**-e`` (deterministic IEEE operations)."""
    return (np.asarray(v, dtype=np.float64) + dither) * np.exp2(-np.asarray(e, dtype=np.float64))


def encode_outliers(e: np.ndarray, v: np.ndarray) -> bytes:
    """Range code outliers: the exponent ``e`` (adaptive, 64 symbols), then
    ``L - e`` where L is the bit length of zigzag(v) (adaptive: ``L - e`` is
    about log2 of the value in prior units, so it is predictable), then the
    L - 1 bits below the leading one (uniform). About log2(|u| / step) + 3 to
    5 bits per outlier."""
    from rec.coding import AdaptiveModel, RangeEncoder, UniformModel

    if np.any(np.abs(v) > _MAX_ABS_V) or np.any((e < -_E_OFFSET) | (e >= _E_SIZE - _E_OFFSET)):
        raise RecError("outlier field out of range")
    if e.size == 0:
        return b""  # no outliers: an empty section
    enc = RangeEncoder()
    zz = zigzag(v).astype(np.int64)
    L = bit_length(zz)
    enc.encode(e + _E_OFFSET, AdaptiveModel(_E_SIZE))
    enc.encode(L - e + _LE_OFFSET, AdaptiveModel(_LE_SIZE))
    _encode_mantissas(enc, zz, L, UniformModel)
    return enc.finish()


# L - e lies in [0 - 55, 53 + 8]
_LE_OFFSET = 56
_LE_SIZE = 56 + 62
_MANT_CHUNK = 20  # UniformModel sizes stay below 2**24


def _encode_mantissas(enc, zz, L, UniformModel):
    for length in np.unique(L):
        length = int(length)
        if length <= 1:
            continue
        rest = zz[L == length] - (1 << (length - 1))  # length - 1 low bits
        nb = length - 1
        while nb > 0:
            take = min(nb, _MANT_CHUNK)
            nb -= take
            enc.encode((rest >> nb) & ((1 << take) - 1), UniformModel(1 << take))


def decode_outliers(data: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_outliers` for ``n`` outliers (FormatError on garbage)."""
    from rec.coding import AdaptiveModel, UniformModel

    if n == 0:
        if len(data):
            raise FormatError("outlier section present but no outliers")
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    dec = range_decoder(data)
    e = dec.decode(n, AdaptiveModel(_E_SIZE)).astype(np.int64) - _E_OFFSET
    L = dec.decode(n, AdaptiveModel(_LE_SIZE)).astype(np.int64) - _LE_OFFSET + e
    if np.any((L < 0) | (L > 53)):
        raise FormatError("outlier length out of range")
    zz = np.zeros(n, np.int64)
    for length in np.unique(L):
        length = int(length)
        if length == 0:
            continue
        sel = L == length
        acc = np.zeros(int(sel.sum()), np.int64)
        nb = length - 1
        while nb > 0:
            take = min(nb, _MANT_CHUNK)
            nb -= take
            acc = (acc << take) | dec.decode(acc.size, UniformModel(1 << take)).astype(np.int64)
        zz[sel] = acc + (1 << (length - 1))
    dec.finish()
    v = unzigzag(zz)
    if np.any(np.abs(v) > _MAX_ABS_V):
        raise FormatError("outlier value out of range")
    return e, v


def range_decoder(data: bytes):
    """A RangeDecoder over ``data``; coder errors surface as FormatError."""
    from rec.coding import RangeDecoder

    try:
        return RangeDecoder(data)
    except RecError as exc:
        raise FormatError(str(exc)) from exc
