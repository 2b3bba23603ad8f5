"""Bjøntegaard delta rate (BD-rate) and delta PSNR (BD-PSNR) between two RD curves.

Sources:
    G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves",
    ITU-T SG16/Q6 VCEG-M33, Austin, April 2001 — the method: fit each curve,
    integrate the horizontal (log-rate) or vertical (quality) gap over the
    interval where both curves are defined, divide by its length.

    VCEG-M33 fits a cubic *polynomial* through the points; with four points or
    with irregular curves that overshoots. The JCT-VC / JVET common test
    conditions replaced it by **piecewise cubic Hermite interpolation (PCHIP,
    Fritsch-Carlson monotone)**: F. Bossen, "Common HM test conditions and
    software reference configurations", JCTVC-L1100 (2013), and JVET-T2010
    (2020), whose Excel sheets are reproduced to 10 decimals by the FAU
    ``bjontegaard`` package (C. Herglotz et al., "The Bjøntegaard Bible",
    arXiv:2304.12852). PCHIP is the default here (``method="pchip"``), the
    polynomial of VCEG-M33 is available as ``method="polynomial"``.

BD-rate (quality → log-rate):
    with r = log10(rate), each curve gives r(D) by interpolation over its
    quality values D (PSNR or MS-SSIM in dB); over the overlap
    [max(min D_a, min D_t), min(max D_a, max D_t)]::

        Δ = (∫ r_test(D) dD - ∫ r_anchor(D) dD) / (D_hi - D_lo)
        BD-rate = (10**Δ - 1) · 100 %

    negative = the test codec needs fewer bits for the same quality.

BD-PSNR (log-rate → quality): the same with the roles swapped, the overlap taken
in log10(rate), the result in quality units (dB); positive = test is better.

Rates may be in any unit (bpp, kbit/s) as long as both curves use the same one.
Points need not be sorted; quality (resp. rate) values within a curve must be
distinct and the curve must be monotone for the fit to mean anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.interpolate import PchipInterpolator

from rec.errors import RecError

__all__ = ["BDResult", "bd_rate", "bd_psnr", "bd_metrics"]

Method = Literal["pchip", "polynomial"]


@dataclass(frozen=True)
class BDResult:
    """BD-rate (percent) and BD-quality (quality units) of a test curve against an anchor.

    Attributes:
        bd_rate: average rate difference in percent at equal quality (negative = better).
        bd_quality: average quality difference at equal rate (positive = better);
            dB for PSNR and for MS-SSIM in dB.
        overlap_quality: (lo, hi) quality interval the BD-rate integrates over.
        overlap_log10_rate: (lo, hi) interval of log10(rate) for the BD-quality.
    """

    bd_rate: float
    bd_quality: float
    overlap_quality: tuple[float, float]
    overlap_log10_rate: tuple[float, float]


def _curve(rate: Sequence[float], quality: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise RecError(f"{what}: {r.size} rates but {q.size} quality values")
    if r.size < 2:
        raise RecError(f"{what}: need at least 2 rate-distortion points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise RecError(f"{what}: rates and quality values must be finite")
    if np.any(r <= 0):
        raise RecError(f"{what}: rates must be positive")
    return np.log10(r), q


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: Method, what: str) -> float:
    """∫_lo^hi f, with f interpolating the points (x, y)."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise RecError(f"{what}: repeated abscissa {x[np.flatnonzero(np.diff(x) == 0)[0]]}")
    if method == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi))
    if method == "polynomial":
        if x.size < 4:
            raise RecError(f"{what}: the cubic polynomial of VCEG-M33 needs at least 4 points")
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    raise RecError(f"unknown BD interpolation method {method!r}; use 'pchip' or 'polynomial'")


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo = max(a.min(), b.min())
    hi = min(a.max(), b.max())
    if not hi > lo:
        raise RecError(f"the curves do not overlap in {what} ([{a.min():.4g}, {a.max():.4g}] vs [{b.min():.4g}, {b.max():.4g}])")
    return float(lo), float(hi)


def _bd_rate(lr_a, q_a, lr_t, q_t, method) -> tuple[float, tuple[float, float]]:
    lo, hi = _overlap(q_a, q_t, "quality")
    int_a = _integral(q_a, lr_a, lo, hi, method, "anchor")
    int_t = _integral(q_t, lr_t, lo, hi, method, "test")
    delta = (int_t - int_a) / (hi - lo)
    return (math.pow(10.0, delta) - 1.0) * 100.0, (lo, hi)


def _bd_quality(lr_a, q_a, lr_t, q_t, method) -> tuple[float, tuple[float, float]]:
    lo, hi = _overlap(lr_a, lr_t, "log-rate")
    int_a = _integral(lr_a, q_a, lo, hi, method, "anchor")
    int_t = _integral(lr_t, q_t, lo, hi, method, "test")
    return (int_t - int_a) / (hi - lo), (lo, hi)


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: Method = "pchip",
) -> float:
    """BD-rate in percent of the test curve against the anchor (negative = fewer bits).

    ``quality`` is PSNR in dB or MS-SSIM in dB (not linear MS-SSIM, which
    saturates near 1 and makes the interpolation ill-conditioned).

    Raises:
        RecError: fewer than 2 points, non-positive rates, mismatched lengths,
            repeated quality values, or no quality overlap.
    """
    lr_a, q_a = _curve(rate_anchor, quality_anchor, "anchor")
    lr_t, q_t = _curve(rate_test, quality_test, "test")
    return _bd_rate(lr_a, q_a, lr_t, q_t, method)[0]


def bd_psnr(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: Method = "pchip",
) -> float:
    """BD-PSNR: average quality gain of the test curve at equal rate (dB; positive = better).

    Works for any quality in dB (PSNR, MS-SSIM dB); the name follows VCEG-M33.

    Raises:
        RecError: as :func:`bd_rate`, with the overlap taken in log-rate.
    """
    lr_a, q_a = _curve(rate_anchor, quality_anchor, "anchor")
    lr_t, q_t = _curve(rate_test, quality_test, "test")
    return _bd_quality(lr_a, q_a, lr_t, q_t, method)[0]


def bd_metrics(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: Method = "pchip",
) -> BDResult:
    """Both BD-rate and BD-quality with their integration intervals."""
    lr_a, q_a = _curve(rate_anchor, quality_anchor, "anchor")
    lr_t, q_t = _curve(rate_test, quality_test, "test")
    rate, q_overlap = _bd_rate(lr_a, q_a, lr_t, q_t, method)
    gain, r_overlap = _bd_quality(lr_a, q_a, lr_t, q_t, method)
    return BDResult(bd_rate=rate, bd_quality=gain, overlap_quality=q_overlap, overlap_log10_rate=r_overlap)
