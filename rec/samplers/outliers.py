"""Outliers: samples of q sent directly, in fixed point at the posterior's scale.

A dimension whose KL is above a sampler's outlier threshold is not coded by
candidates: the encoder draws ``u ~ q_d`` (stream 9, private), quantizes it
with a step of at most ``s/4`` (``s``: posterior std in prior units) and a
dither shared with the decoder (stream 5), and range codes the exponent, the
length and the mantissa bits (:func:`encode_outliers`). The decoder rebuilds
``(v + dither) * 2**-e`` with IEEE operations that are exact on every machine.
"""

from __future__ import annotations

import numpy as np

import rec.random as rr
from rec.bitio import bit_length, unzigzag, zigzag
from rec.coding import AdaptiveModel, RangeEncoder, UniformModel
from rec.errors import FormatError, RecError
from rec.samplers.base import STREAM_DITHER, range_decoder

__all__ = ["OUTLIER_STEP_DIV", "decode_outliers", "dequantize_outliers", "encode_outliers", "outlier_dither",
           "quantize_outliers"]

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
    if np.any(np.abs(v) > _MAX_ABS_V) or np.any((e < -_E_OFFSET) | (e >= _E_SIZE - _E_OFFSET)):
        raise RecError("outlier field out of range")
    if e.size == 0:
        return b""  # no outliers: an empty section
    enc = RangeEncoder()
    zz = zigzag(v).astype(np.int64)
    L = bit_length(zz)
    enc.encode(e + _E_OFFSET, AdaptiveModel(_E_SIZE))
    enc.encode(L - e + _LE_OFFSET, AdaptiveModel(_LE_SIZE))
    _encode_mantissas(enc, zz, L)
    return enc.finish()


# L - e lies in [0 - 55, 53 + 8]
_LE_OFFSET = 56
_LE_SIZE = 56 + 62
_MANT_CHUNK = 20  # UniformModel sizes stay below 2**24


def _encode_mantissas(enc, zz, L) -> None:
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
