"""The theoretical and the actual point of each REC model (thesis section 4.2, analysis a).

Source: thesis section 4.2 / Fig. 4.1. For each model the thesis plots two points:

- *theoretical*: x = the bound I + 2·log2(I + 1) bits per image (Harsha et al. 2007,
  without the constant), in bpp; y = quality of the reconstruction from an exact
  posterior sample (no coding), the "ideal";
- *actual*: x = the bytes written, in bpp; y = quality of the image decoded from them.

"any actual method's performance using the same setup must appear to the right of
(less efficient compression) or below (worse reconstruction quality) the theoretical
position". We add the *KL point* (x = I in bpp, y = ideal quality): the rate a perfect
coder would approach, left of the bound.

The inputs are the ``rec-*.json`` curves of ``rec eval`` (:mod:`rec.evaluation.runner`):
one point per model, ``meta.models`` naming them in order, with ``kl_bpp``,
``bound_bpp``, ``ideal_psnr`` and ``ideal_ms_ssim`` under ``results`` beside the
CompressAI lists.

Invariants (of the data, checked by the tests): bound ≥ KL per image, hence per mean;
``bpp_over_bound`` ≥ 1 would mean the coder writes more than the bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rec.errors import RecError
from rec.metrics import ms_ssim_db
from rec.evaluation.results import RDCurve, load_curve

__all__ = ["SPAN_KL_BPP", "BoundPoint", "bound_points", "ideal_curve", "load_rec_curves", "within_span"]

#: Issue 4's rate span for the γ-PLNs: "about 0.1 to 1.0 bpp" of KL on Kodak.
SPAN_KL_BPP = 1.1


@dataclass(frozen=True)
class BoundPoint:
    """One model's theoretical, KL and actual points (means over the images).

    Attributes:
        family: the curve's name (``"REC γ-PLN"``...).
        model: the model's name (``meta.models``), or ``"point i"``.
        kl_bpp: the KL I in bpp.
        bound_bpp: I + 2·log2(I + 1) per image, in bpp.
        bpp: bits written per pixel.
        psnr, ideal_psnr: PSNR of the decoded / ideal reconstruction (dB).
        ms_ssim_db, ideal_ms_ssim_db: MS-SSIM in dB of the same, or None (small images).
    """

    family: str
    model: str
    kl_bpp: float
    bound_bpp: float
    bpp: float
    psnr: float
    ideal_psnr: float
    ms_ssim_db: float | None = None
    ideal_ms_ssim_db: float | None = None

    @property
    def bpp_over_bound(self) -> float:
        """Bits written / the bound (1 = the coder meets the bound exactly)."""
        return self.bpp / self.bound_bpp

    @property
    def bpp_over_kl(self) -> float:
        return self.bpp / self.kl_bpp

    @property
    def psnr_gap(self) -> float:
        """Decoded − ideal PSNR (dB): negative when coding loses quality."""
        return self.psnr - self.ideal_psnr

    @property
    def ms_ssim_db_gap(self) -> float | None:
        if self.ms_ssim_db is None or self.ideal_ms_ssim_db is None:
            return None
        return self.ms_ssim_db - self.ideal_ms_ssim_db


def _require(curve: RDCurve, key: str) -> tuple[float, ...]:
    values = curve.extra.get(key)
    if values is None:
        raise RecError(f"{curve.name}: no {key!r} list: not a rec eval curve")
    return values


def _models(curve: RDCurve) -> list[str]:
    """A label per point: its model, or a variable-rate model's name and the point's rate."""
    meta = curve.meta or {}
    names = meta.get("models")
    if isinstance(names, list) and len(names) == len(curve):
        return [str(n) for n in names]
    parameter = meta.get("rate_parameter")
    rates = curve.extra.get(parameter) if parameter else None
    if meta.get("model") and rates is not None and len(rates) == len(curve):
        symbol = {"beta": "β", "lambda": "λ"}.get(parameter, parameter)
        return [f"{meta['model']} {symbol}={r:g}" for r in rates]
    return [f"point {i}" for i in range(len(curve))]


def bound_points(curve: RDCurve) -> list[BoundPoint]:
    """The :class:`BoundPoint` of every model of a ``rec eval`` curve, in the curve's order.

    Raises:
        RecError: the curve lacks ``kl_bpp``, ``bound_bpp``, ``ideal_psnr`` or PSNR.
    """
    kl, bound, ideal = (_require(curve, k) for k in ("kl_bpp", "bound_bpp", "ideal_psnr"))
    if curve.psnr is None:
        raise RecError(f"{curve.name}: no PSNR values")
    ideal_ms = curve.extra.get("ideal_ms_ssim")
    ms = curve.values("ms-ssim-db") if curve.has("ms-ssim-db") else None
    points = []
    for i, model in enumerate(_models(curve)):
        points.append(BoundPoint(
            family=curve.name, model=model, kl_bpp=kl[i], bound_bpp=bound[i], bpp=curve.bpp[i], psnr=curve.psnr[i],
            ideal_psnr=ideal[i], ms_ssim_db=None if ms is None else ms[i],
            ideal_ms_ssim_db=None if ideal_ms is None else ms_ssim_db(ideal_ms[i])))
    return points


def ideal_curve(curve: RDCurve, rate: str = "kl_bpp") -> RDCurve:
    """The curve of the ideal reconstruction: x = ``kl_bpp`` (or ``bound_bpp``), y = ideal PSNR / MS-SSIM.

    Named ``"<name> (ideal, <rate>)"``; its ``ms_ssim`` is the linear mean of the
    ideal MS-SSIM, so :meth:`RDCurve.values` derives the dB as for any curve.

    Raises:
        RecError: the curve lacks those lists, or ``rate`` is neither key.
    """
    if rate not in ("kl_bpp", "bound_bpp"):
        raise RecError(f"rate must be 'kl_bpp' or 'bound_bpp', got {rate!r}")
    return RDCurve(name=f"{curve.name} (ideal, {rate})", bpp=_require(curve, rate), psnr=_require(curve, "ideal_psnr"),
                   ms_ssim=curve.extra.get("ideal_ms_ssim"),
                   description=f"ideal reconstruction (exact posterior sample) of {curve.name} at its {rate}",
                   meta=curve.meta)


def within_span(curve: RDCurve) -> RDCurve | None:
    """The points of a ``rec-*.json`` curve whose KL is at most :data:`SPAN_KL_BPP`, when that leaves
    some out and keeps two or more (else None): the BD-rate over the issue's span alone."""
    keep = [i for i, kl in enumerate(_require(curve, "kl_bpp")) if kl <= SPAN_KL_BPP]
    if not 2 <= len(keep) < len(curve):
        return None
    return curve.subset(keep, f"{curve.name}, KL ≤ {SPAN_KL_BPP} bpp")


def load_rec_curves(directory: str | os.PathLike) -> list[tuple[Path, RDCurve]]:
    """The ``rec-*.json`` curves of an eval directory (sorted by file name), with their paths.

    Raises:
        RecError: no such directory, or an unreadable file.
    """
    d = Path(directory)
    if not d.is_dir():
        raise RecError(f"no such directory: {d}")
    return [(p, load_curve(p)) for p in sorted(d.glob("rec-*.json"))]
