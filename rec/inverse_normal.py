"""The inverse normal CDF Phi^-1: Wichura's algorithm AS241 (PPND16, relative error about 1e-16).

Two ways in:

* exact, for shared randomness (:func:`rec.random.normal_from_raw`): the
  probability is an odd integer times 2**-54, its tail mass is exact, and the
  logarithm is :func:`log_scaled`, evaluated with ``+ - * /`` and ``frexp`` only,
  so every machine gets the same bits (no libm ``log`` whose last bit could
  differ between builds; numba without ``fastmath`` contracts nothing into FMA);
* approximate, for encoder-side scoring only (:func:`ndtri_float` with the
  platform's ``log``, and the knots of :func:`approx_table`): the chosen
  candidate is then rebuilt exactly on both sides, so these never reach a
  decoder.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["APPROX_TABLE_BITS", "LN2_HI", "LN2_LO", "SQRT_HALF", "approx_table", "log_scaled", "ndtri_float",
           "ppnd_central", "ppnd_tail"]

LN2_HI = 6.93147180369123816490e-01  # fdlibm split: n * LN2_HI exact, |n| < 2**11
LN2_LO = 1.90821492927058770002e-10
SQRT_HALF = 0.7071067811865476


@njit(inline="always", cache=True)
def log_scaled(n, shift):
    """log(n * 2**-shift) for a positive float ``n`` holding an integer < 2**53.

    ``frexp`` is exact; ``log(m)`` for ``m`` in [sqrt(1/2), sqrt(2)) is
    ``2 atanh(s)``, ``s = (m - 1)/(m + 1)``, ``s**2 <= 0.0295``, summed to
    ``s**23`` (truncation < 1e-18). Only + - * / are used.
    """
    m, e = math.frexp(n)
    if m < SQRT_HALF:
        m = m * 2.0
        e = e - 1
    f = m - 1.0
    s = f / (m + 1.0)
    s2 = s * s
    t = 1.0 / 23.0
    t = t * s2 + 1.0 / 21.0
    t = t * s2 + 1.0 / 19.0
    t = t * s2 + 1.0 / 17.0
    t = t * s2 + 1.0 / 15.0
    t = t * s2 + 1.0 / 13.0
    t = t * s2 + 1.0 / 11.0
    t = t * s2 + 1.0 / 9.0
    t = t * s2 + 1.0 / 7.0
    t = t * s2 + 1.0 / 5.0
    t = t * s2 + 1.0 / 3.0
    logm = 2.0 * s + 2.0 * s * (s2 * t)
    k = np.float64(e - shift)
    return k * LN2_HI + (k * LN2_LO + logm)


@njit(inline="always", cache=True)
def ppnd_central(q):
    r = 0.180625 - q * q
    num = (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                + 67265.770927008700853) * r + 45921.953931549871457) * r
              + 13731.693765509461125) * r + 1971.5909503065514427) * r
            + 133.14166789178437745) * r + 3.387132872796366608)
    den = (((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                + 39307.89580009271061) * r + 21213.794301586595867) * r
              + 5394.1960214247511077) * r + 687.1870074920579083) * r
            + 42.313330701600911252) * r + 1.0)
    return q * num / den


@njit(inline="always", cache=True)
def ppnd_tail(r):
    """Upper-tail quantile for ``r = sqrt(-log(tail mass)) > 0``."""
    if r <= 5.0:
        r = r - 1.6
        num = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
        den = (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                    + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                  + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0)
    else:
        r = r - 5.0
        num = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
        den = (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                    + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                  + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0)
    return num / den


#: The table of :func:`approx_table` has ``2**APPROX_TABLE_BITS + 1`` knots.
APPROX_TABLE_BITS = 16
_table_cache: list = []


@njit(cache=True)
def ndtri_float(p):
    """Inverse normal CDF of a float ``p`` in (0, 1): AS241 with the platform's
    ``log`` in the tails. **Not bit-exact** across platforms: only for tables
    and encoder-side scoring (see :func:`approx_table`)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        return ppnd_central(q)
    r = p if q < 0 else 1.0 - p
    v = ppnd_tail(math.sqrt(-math.log(r)))
    return -v if q < 0 else v


@njit(cache=True)
def _make_approx_table(bits):
    n = 1 << bits
    t = np.zeros(n + 1)
    for k in range(1, n):
        t[k] = ndtri_float(k / n)
    return t


def approx_table() -> np.ndarray:
    """Knots ``Phi^-1(k / 2**16)``, ``k = 0 .. 2**16`` (the ends 0), of
    :func:`rec.random.normal_fill_strided_approx` and of the importance sampler's scoring
    (which reads every 4th knot: ``Phi^-1(k / 2**14)``, the same floats)."""
    if not _table_cache:
        _table_cache.append(_make_approx_table(APPROX_TABLE_BITS))
    return _table_cache[0]
