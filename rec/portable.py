"""Elementary functions that give the same bits on every machine.

What a decoder derives from floats must come out identically on the encoder's machine
and on its own: a last-bit difference in a coding probability or a scale moves a
quantized frequency and desynchronizes the range decoder. ``+ − × ÷`` are correctly
rounded by IEEE 754, hence identical on every machine, SIMD or not; ``exp``, ``log`` and
``tanh`` are not: torch and numpy dispatch them to implementations that differ between
instruction sets (SLEEF / SVML for AVX2, AVX-512 or none), and the tables of the
quantized codecs differed between two of our machines (issue 17). These functions use
only ``+ − × ÷`` in a fixed order, ``floor``, ``frexp`` and ``ldexp`` (exact), in float64
numpy; elementwise, so no reduction order enters either.

Accuracy: a few ulp (``exp``: Taylor series of degree 13 after reduction by ln 2,
|r| ≤ ln2/2, truncation < 1e-17; ``log``: ``2 atanh(s)`` summed to ``s**23`` as
:func:`rec.random` does for its deterministic logarithm).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

__all__ = ["exp", "log", "tanh", "sigmoid", "softplus"]

_LN2_HI = 6.93147180369123816490e-01  # fdlibm split: n * _LN2_HI exact for |n| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
_SQRT_HALF = 0.7071067811865476
_EXP_TERMS = 13
_BLOCK = 1 << 15  # values per block of the elementwise functions (_blockwise)


def _f64(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def _blockwise(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[object], np.ndarray]:
    """``f`` (elementwise, float64) applied to blocks of :data:`_BLOCK` values of a large array: the
    same operations in the same order on every value (so the same bits) as on the whole array,
    several times faster (the blocks' temporaries stay in the cache)."""

    @functools.wraps(f)
    def blocked(x) -> np.ndarray:
        x = _f64(x)
        if x.size <= _BLOCK:
            return f(x)
        flat = x.reshape(-1)
        out = np.empty_like(flat)
        for start in range(0, flat.size, _BLOCK):
            out[start : start + _BLOCK] = f(flat[start : start + _BLOCK])
        return out.reshape(x.shape)

    return blocked


@_blockwise
def exp(x: np.ndarray) -> np.ndarray:
    """e**x (float64 array); 0 below −745, inf above 709.78."""
    return _exp_block(x)


def _exp_block(x: np.ndarray) -> np.ndarray:
    big = x > 709.782712893384
    xc = np.clip(np.nan_to_num(x), -745.2, 709.7)
    n = np.floor(xc * _INV_LN2 + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = np.ones_like(r)
    term = np.empty_like(r)
    for k in range(_EXP_TERMS, 0, -1):  # Horner: 1 + r(1 + r/2(1 + r/3(…))), each step 1 + (r / k)·p
        np.divide(r, k, out=term)
        np.multiply(term, p, out=p)
        np.add(p, 1.0, out=p)
    out = np.ldexp(p, n.astype(np.int64))
    return np.where(big, np.inf, np.where(np.isnan(x), np.nan, out))


@_blockwise
def log(x) -> np.ndarray:
    """Natural logarithm (float64 array); −inf at 0, nan below."""
    x = _f64(x)
    pos = x > 0
    m, e = np.frexp(np.where(pos & np.isfinite(x), x, 1.0))  # x = m 2**e, m in [1/2, 1)
    low = m < _SQRT_HALF
    m = np.where(low, 2.0 * m, m)
    e = (e - low).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)  # |s| <= 0.172
    s2 = s * s
    series = np.full_like(s, 1.0 / 23)
    for k in range(21, 0, -2):
        series = 1.0 / k + s2 * series
    out = e * _LN2_HI + (e * _LN2_LO + 2.0 * s * series)
    out = np.where(pos, out, np.where(x == 0, -np.inf, np.nan))
    return np.where(np.isposinf(x), np.inf, out)


@_blockwise
def tanh(x) -> np.ndarray:
    """tanh x = sign(x) (1 − 2 / (e**(2|x|) + 1)); below |x| = 0.02 its series to x⁷."""
    x = _f64(x)
    a = np.abs(x)
    a2 = a * a
    t = np.where(a < 0.02, a * (1.0 + a2 * (-1.0 / 3 + a2 * (2.0 / 15 + a2 * (-17.0 / 315)))),
                 1.0 - 2.0 / (exp(2.0 * a) + 1.0))
    return np.where(x < 0, -t, t)


@_blockwise
def sigmoid(x) -> np.ndarray:
    """1 / (1 + e**−x), evaluated on the side where e**(−|x|) ≤ 1."""
    x = _f64(x)
    e = exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@_blockwise
def softplus(x) -> np.ndarray:
    """log(1 + e**x) = max(x, 0) + log(1 + e**−|x|), the last term by its series
    ``u − u²/2 + … + u⁵/5`` when u = e**−|x| < 1e-3."""
    x = _f64(x)
    u = exp(-np.abs(x))
    series = u * (1.0 + u * (-1.0 / 2 + u * (1.0 / 3 + u * (-1.0 / 4 + u * (1.0 / 5)))))
    return np.maximum(x, 0.0) + np.where(u < 1e-3, series, log(1.0 + u))
