"""What ``rec eval`` measures, and how it is written: an image, its result at a rate point, a rate
point of many images, and a codec's points as a CompressAI curve plus a per-image CSV.

==================  ==========================================================================
:class:`EvalImage`  one test image: file name and RGB pixels (and the digest a measurement is bound to)
:class:`ImageResult` one image coded at one rate point: bytes, bpp, PSNR, MS-SSIM, times (REC: KL, bound)
:class:`Failure`    one image that could not be measured at a rate point: the error instead
:class:`RatePoint`  the images of one rate point and their means (CompressAI: plain means)
:class:`CodecResult` one codec's rate points → ``<codec>.json`` (:class:`RDCurve`) + ``<codec>.per_image.csv``
==================  ==========================================================================

Means follow CompressAI: every number of a rate point is the plain mean over the images of the
per-image values; MS-SSIM in dB of a point is -10·log10(1 - mean MS-SSIM). A point with any
failure is not :attr:`~RatePoint.complete` and stays out of the curve (never a mean over a
subset of the images).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.results import RDCurve, save_curve
from rec.metrics import ms_ssim_db

__all__ = ["EvalImage", "ImageResult", "Failure", "RatePoint", "CodecResult"]


@dataclass(frozen=True, eq=False)
class EvalImage:
    """One test image: its file name and RGB uint8 pixels (H, W, 3)."""

    name: str
    rgb: np.ndarray

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the pixels and their shape: what a stored measurement of this image is bound to."""
        h = hashlib.sha256(repr(tuple(self.rgb.shape)).encode())
        h.update(np.ascontiguousarray(self.rgb).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class ImageResult:
    """One image coded at one rate point.

    Attributes:
        image: file name.
        setting: the rate point: a quality (classical codecs), a model name, or a model name and
            rate for a variable-rate model (``gamma-pln-vr4 β=0.5``).
        width, height: image size.
        bytes: size of the compressed file; ``bpp`` = 8·bytes / (W·H).
        psnr: RGB PSNR (dB) of the decoded image.
        ms_ssim: RGB MS-SSIM (linear), None when a side is < 161 px.
        ms_ssim_db: -10·log10(1 - ms_ssim), None with it.
        encoding_time, decoding_time: wall seconds.
        kl_bpp, bound_bpp: ``rec`` only: KL I and I + 2·log2(I + 1) per pixel (bits).
        ideal_psnr, ideal_ms_ssim: ``rec`` only: quality of the exact posterior sample.
    """

    image: str
    setting: float | str
    width: int
    height: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    encoding_time: float
    decoding_time: float
    kl_bpp: float | None = None
    bound_bpp: float | None = None
    ideal_psnr: float | None = None
    ideal_ms_ssim: float | None = None


@dataclass(frozen=True)
class Failure:
    """One image that could not be measured at one rate point: the error in place of the numbers."""

    image: str
    setting: float | str
    error: str


#: Per-image fields averaged into a rate point (``ms_ssim_db`` is derived from the mean instead).
@dataclass(frozen=True)
class RatePoint:
    """One rate point: the per-image results and their means (CompressAI: plain means over images).

    ``failures``: the images that could not be measured; a point with any is not
    :attr:`complete` and stays out of the curve (its means are over the other images).
    """

    setting: float | str
    images: tuple[ImageResult, ...]
    failures: tuple[Failure, ...] = ()

    @property
    def complete(self) -> bool:
        """Measured on every image (no failure)."""
        return bool(self.images) and not self.failures

    def mean(self, attr: str) -> float | None:
        """Mean of a per-image field over the images; None if any image lacks it."""
        values = [getattr(r, attr) for r in self.images]
        if not values or any(v is None for v in values):
            return None
        return float(np.mean(values))

    @property
    def bpp(self) -> float:
        return self.mean("bpp")  # type: ignore[return-value]

    @property
    def psnr(self) -> float:
        return self.mean("psnr")  # type: ignore[return-value]

    @property
    def ms_ssim(self) -> float | None:
        return self.mean("ms_ssim")

    @property
    def ms_ssim_db(self) -> float | None:
        """-10·log10(1 - mean MS-SSIM): the dB of the mean, as CompressAI and :class:`RDCurve`."""
        m = self.ms_ssim
        return None if m is None else ms_ssim_db(min(max(m, -1.0), 1.0))

    @property
    def encoding_time(self) -> float:
        return self.mean("encoding_time")  # type: ignore[return-value]

    @property
    def decoding_time(self) -> float:
        return self.mean("decoding_time")  # type: ignore[return-value]

    @property
    def kl_bpp(self) -> float | None:
        return self.mean("kl_bpp")

    @property
    def bound_bpp(self) -> float | None:
        return self.mean("bound_bpp")

    @property
    def ideal_psnr(self) -> float | None:
        return self.mean("ideal_psnr")

    @property
    def ideal_ms_ssim(self) -> float | None:
        return self.mean("ideal_ms_ssim")


@dataclass
class CodecResult:
    """One codec's measurements: rate points in order, and what to write about them.

    Attributes:
        codec: short name, the stem of the output files (``"jpeg"``, ``"rec-gamma-pln"``...).
        name: the curve's human name (``name`` of the JSON).
        description: library, versions, settings.
        setting_name: what a point's ``setting`` is: ``"quality"`` or ``"model"``.
        points: the rate points, complete or not (only complete ones form the curve).
        meta: free-form ``meta`` of the JSON (data set, machine, date, command...).
        extra: further per-point numeric lists for ``results`` (e.g. ``lambda``, ``beta``: the rate
            parameter of each point), one value per *complete* point.
    """

    codec: str
    name: str
    description: str
    setting_name: str
    points: list[RatePoint] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def rows(self) -> list[ImageResult]:
        return [r for p in self.points for r in p.images]

    @property
    def failures(self) -> list[Failure]:
        return [f for p in self.points for f in p.failures]

    @property
    def complete_points(self) -> list[RatePoint]:
        """The points measured on every image: those of the curve."""
        return [p for p in self.points if p.complete]

    @staticmethod
    def _column(points: Sequence[RatePoint], attr: str) -> list[float] | None:
        values = [getattr(p, attr) for p in points]
        return None if any(v is None for v in values) else values

    def curve(self) -> RDCurve:
        """The CompressAI curve: one entry per complete point, each the mean over the images.

        Failures, if any, are listed in ``meta["failures"]``.

        Raises:
            RecError: no point was measured on every image.
        """
        points = self.complete_points
        if not points:
            raise RecError(f"{self.codec}: no rate point measured on every image")
        extra: dict[str, list[float]] = {}
        if self.setting_name == "quality":
            extra["quality"] = [float(p.setting) for p in points]
        for attr in ("kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim"):
            if any(getattr(r, attr) is not None for p in points for r in p.images):
                col = self._column(points, attr)
                if col is not None:
                    extra[attr] = col
        extra.update(self.extra)
        meta = self.meta
        if self.failures:
            meta = dict(meta, failures=[asdict(f) for f in self.failures])
        return RDCurve(
            name=self.name,
            description=self.description,
            bpp=[p.bpp for p in points],
            psnr=[p.psnr for p in points],
            ms_ssim=self._column(points, "ms_ssim"),
            encoding_time=[p.encoding_time for p in points],
            decoding_time=[p.decoding_time for p in points],
            extra=extra,
            meta=meta,
        )

    def csv_columns(self) -> list[str]:
        """Columns of the per-image CSV: run_classical's, then MS-SSIM dB, then those the codec has."""
        cols = ["image", self.setting_name, "bytes", "bpp", "psnr", "ms_ssim", "encoding_time", "decoding_time", "ms_ssim_db"]
        rows = self.rows
        for attr in ("kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim"):
            if any(getattr(r, attr) is not None for r in rows):
                cols.append(attr)
        if self.failures:
            cols.append("error")
        return cols

    def write_csv(self, path: str | os.PathLike) -> None:
        """The per-image measurements, floats with 6 significant digits, None as empty; failed images
        last, with only the image, the setting and the ``error``."""
        cols = self.csv_columns()
        with Path(path).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in [*self.rows, *self.failures]:
                row = []
                for c in cols:
                    v = r.setting if c == self.setting_name else getattr(r, c, None)
                    row.append("" if v is None else f"{v:.6g}" if isinstance(v, float) else v)
                w.writerow(row)

    def write(self, out: str | os.PathLike) -> tuple[Path, ...]:
        """Write ``<out>/<codec>.json`` and ``<out>/<codec>.per_image.csv``; returns the paths written.

        Without a complete point there is no curve: only the CSV is written (and a JSON of an
        earlier run removed, which would otherwise pass for this one's).
        """
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = d / f"{self.codec}.json", d / f"{self.codec}.per_image.csv"
        paths: tuple[Path, ...] = (csv_path,)
        if self.complete_points:
            save_curve(self.curve(), json_path)
            paths = (json_path, csv_path)
        elif json_path.exists():
            json_path.unlink()
        self.write_csv(csv_path)
        return paths

