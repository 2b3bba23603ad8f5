"""What the mbt2018 reference codec's RD point does not say: where the bits go, and fragility.

The RD point of a model (bpp from the file bytes, PSNR, MS-SSIM, times) is measured by
:func:`rec.evaluation.runner.evaluate_mbt2018` (``rec eval --codec mbt2018``). This module
adds, per image and model, what only :func:`rec.reference.encode` and
:func:`fragility_trial` sees::

    image ─► encode (with reconstruction) ─► bytes = header + y section + z section
                │                             bits_y: PAYLOAD_LEVEL 1 + SIDE_INFO 1 (escapes of y)
                │                             bits_z: PAYLOAD_LEVEL 2 + SIDE_INFO 2 (escapes of z)
                │                             overhead: header, section framing, CRC
                │                             estimated bits: −Σ log₂ p(ŷ), −Σ log₂ p(ẑ) (the model's)
                └─► for each seed: decode with ψ = h_s(ẑ) · (1 + ε·rel_noise), ε ~ N(0, 1)
                                   ─► wrong? (any integer latent differs, pixels off by > 1,
                                              or decoding raised); how wrong: fraction of the
                                              integer latents that differ, PSNR drop

The perturbation stands in for the last-bit differences of h_s between an encoder's and
a decoder's machine (CompressAI issues 279, 309, 340) in a float pipeline; the codec's h_s,
context model and g_ep run in fixed point, so its ψ cannot differ between machines and the
trial measures the risk that design removed (see :mod:`rec.reference`).

Means over images follow the runner (CompressAI): the plain mean of per-image values.
The encodes here use the runner's model id and hash, so their bytes are those ``rec eval``
measured (:attr:`ImageStudy.bytes`, checked by the report).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rec.errors import RecError
from rec.metrics import psnr
from rec.models.joint import JointPrior
from rec.reference import CodecParams, EncodeResult, decode, encode

__all__ = ["FragilityResult", "fragility_trial", "TrialOutcome", "ImageStudy", "FragilitySummary", "PointStudy", "wavefront_steps", "study_image",
           "study_point"]


@dataclass
class FragilityResult:
    """One decode with ψ = h_s(ẑ) perturbed to ψ·(1 + ε·rel_noise), ε ~ N(0, 1).

    Attributes:
        symbols_equal: every integer latent q decoded as encoded.
        symbol_errors, total_symbols: how many of the y integers differ.
        max_latent_error: max |ŷ_decoded − ŷ_encoded| (inf if decoding raised).
        max_pixel_error: max |Δ| of the uint8 pixels (255 if decoding raised).
        error: the message of the exception decoding raised, or "".
        image: the perturbed decode's image, uint8 (H, W, 3), or None if decoding raised
            (to measure how wrong a wrong decode looks, e.g. its PSNR).
    """

    rel_noise: float
    seed: int
    symbols_equal: bool
    symbol_errors: int
    total_symbols: int
    max_latent_error: float
    max_pixel_error: int
    error: str = ""
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Decoded correctly: same integers, pixels within one level."""
        return not self.error and self.symbols_equal and self.max_pixel_error <= 1


def fragility_trial(model: JointPrior, image: np.ndarray, rel_noise: float = 1e-5, seed: int = 0,
                    encoded: EncodeResult | None = None) -> FragilityResult:
    """Decode with ψ = h_s(ẑ) perturbed by relative Gaussian noise and compare with the encoder.

    ψ' = ψ · (1 + rel_noise · ε), ε ~ N(0, I) from a generator seeded with ``seed``:
    a stand-in for the last-bit differences between the encoder's and the
    decoder's machines (CompressAI issues 279, 309, 340). Never raises on a
    failed decode; the failure is the result.
    """
    if encoded is None or encoded.image is None:
        encoded = encode(model, image)
    gen = torch.Generator().manual_seed(seed)

    def perturb(psi: torch.Tensor) -> torch.Tensor:
        return psi * (1.0 + rel_noise * torch.randn(psi.shape, generator=gen))

    total = encoded.symbols.numel()
    try:
        dec = decode(model, encoded.data, psi_transform=perturb)
    except RecError as e:
        return FragilityResult(rel_noise, seed, False, total, total, math.inf, 255, str(e))
    wrong = int((dec.symbols != encoded.symbols).sum())
    latent_error = float((dec.y_hat - encoded.y_hat).abs().max())
    pixel_error = int(np.abs(dec.image.astype(np.int16) - encoded.image.astype(np.int16)).max())
    return FragilityResult(rel_noise, seed, wrong == 0, wrong, total, latent_error, pixel_error, image=dec.image)


def wavefront_steps(height: int, width: int) -> tuple[int, int]:
    """(wavefront steps, raster steps) of the autoregressive pass for an image of this size.

    y is (H, W) padded to a multiple of 64, divided by 16: h × w positions; the wavefront
    of :func:`rec.models.context2d.wavefront_schedule` needs 3(h − 1) + w steps, raster order h·w.
    """
    h, w = -(-height // 64) * 4, -(-width // 64) * 4
    return 3 * (h - 1) + w, h * w


@dataclass(frozen=True)
class TrialOutcome:
    """One perturbed decode (from :class:`FragilityResult`).

    Attributes:
        seed: the noise's seed.
        ok: decoded correctly (every integer latent equal, pixels within one level).
        error: the message if decoding raised, else "".
        symbol_fraction: fraction of the integer latents of y that differ (None if raised).
        max_latent_error: max |Δŷ| (inf if raised).
        psnr_drop: PSNR of the correct decode minus that of this one (dB; None if raised).
    """

    seed: int
    ok: bool
    error: str
    symbol_fraction: float | None
    max_latent_error: float
    psnr_drop: float | None

    @property
    def raised(self) -> bool:
        return bool(self.error)


@dataclass(frozen=True)
class ImageStudy:
    """One image coded by one model.

    Attributes:
        image: file name; width, height: its size.
        bytes: size of the file.
        bits_y, bits_z: the y and z sections, escapes (side info) included.
        overhead_bits: header, framing and CRC.
        estimated_bits_y, estimated_bits_z: the model's −Σ log₂ likelihoods.
        escapes_y, escapes_z: values coded through the escape lists.
        psnr: PSNR of the (correctly) decoded image.
        trials: the perturbed decodes.
    """

    image: str
    width: int
    height: int
    bytes: int
    bits_y: int
    bits_z: int
    overhead_bits: int
    estimated_bits_y: float
    estimated_bits_z: float
    escapes_y: int
    escapes_z: int
    psnr: float
    trials: tuple[TrialOutcome, ...]

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class FragilitySummary:
    """The trials of a rate point taken together.

    Attributes:
        trials: number of perturbed decodes; wrong: how many were not ok; raised: how
            many of those raised instead of returning an image.
        images_wrong: images with at least one wrong decode.
        symbol_fraction_median, symbol_fraction_max: over the wrong decodes that returned
            an image (None if there is none).
        psnr_drop_median, psnr_drop_max: likewise, in dB.
        max_latent_error_ok: max |Δŷ| over the correct decodes (None if there is none).
    """

    trials: int
    wrong: int
    raised: int
    images_wrong: int
    symbol_fraction_median: float | None
    symbol_fraction_max: float | None
    psnr_drop_median: float | None
    psnr_drop_max: float | None
    max_latent_error_ok: float | None

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.trials if self.trials else math.nan


@dataclass(frozen=True)
class PointStudy:
    """One model on every image: the rate split and the fragility trials.

    Attributes:
        model: the model's name; rel_noise: the relative noise of the trials;
        scale_levels: the coding's scale table (0: continuous σ); images: per image.
    """

    model: str
    rel_noise: float
    scale_levels: int
    images: tuple[ImageStudy, ...]

    def _mean(self, per_image: Callable[[ImageStudy], float]) -> float:
        return float(np.mean([per_image(s) for s in self.images]))

    @property
    def bpp(self) -> float:
        return self._mean(lambda s: 8.0 * s.bytes / s.pixels)

    @property
    def bpp_y(self) -> float:
        return self._mean(lambda s: s.bits_y / s.pixels)

    @property
    def bpp_z(self) -> float:
        return self._mean(lambda s: s.bits_z / s.pixels)

    @property
    def bpp_overhead(self) -> float:
        return self._mean(lambda s: s.overhead_bits / s.pixels)

    @property
    def coded_over_estimated(self) -> float:
        """Σ (bits_y + bits_z) / Σ estimated bits − 1: the coder's cost beyond the model's rate."""
        coded = sum(s.bits_y + s.bits_z for s in self.images)
        estimated = sum(s.estimated_bits_y + s.estimated_bits_z for s in self.images)
        return coded / estimated - 1.0 if estimated > 0 else math.nan

    @property
    def escapes(self) -> int:
        return sum(s.escapes_y + s.escapes_z for s in self.images)

    def fragility(self) -> FragilitySummary:
        trials = [t for s in self.images for t in s.trials]
        wrong = [t for t in trials if not t.ok]
        decoded = [t for t in wrong if not t.raised]
        fractions = [t.symbol_fraction for t in decoded if t.symbol_fraction is not None]
        drops = [t.psnr_drop for t in decoded if t.psnr_drop is not None]
        ok_errors = [t.max_latent_error for t in trials if t.ok]

        def med(v):
            return float(statistics.median(v)) if v else None

        return FragilitySummary(
            trials=len(trials), wrong=len(wrong), raised=sum(t.raised for t in wrong),
            images_wrong=sum(any(not t.ok for t in s.trials) for s in self.images),
            symbol_fraction_median=med(fractions), symbol_fraction_max=max(fractions) if fractions else None,
            psnr_drop_median=med(drops), psnr_drop_max=max(drops) if drops else None,
            max_latent_error_ok=max(ok_errors) if ok_errors else None)


def _psnr_drop(original: np.ndarray, clean: float, decoded: np.ndarray | None) -> float | None:
    if decoded is None:
        return None
    p = psnr(original, decoded)
    return 0.0 if p == clean else clean - p  # both inf (lossless): no drop


def study_image(model, name: str, rgb: np.ndarray, *, model_id: str = "", model_hash: bytes = b"",
                seeds: Sequence[int] = (0, 1, 2), rel_noise: float = 1e-5, scale_levels: int = 64) -> ImageStudy:
    """Encode ``rgb`` once (reconstructing), split its bits, and decode it perturbed once per seed.

    Raises:
        RecError: a bad image or model (from :func:`rec.reference.encode`).
    """

    params = CodecParams(scale_levels=scale_levels)
    enc = encode(model, rgb, model_id=model_id, model_hash=model_hash, params=params, reconstruct=True)
    clean = psnr(rgb, enc.image)
    trials = []
    for seed in seeds:
        r = fragility_trial(model, rgb, rel_noise, int(seed), enc)
        raised = bool(r.error)
        trials.append(TrialOutcome(
            seed=int(seed), ok=r.ok, error=r.error,
            symbol_fraction=None if raised else r.symbol_errors / max(r.total_symbols, 1),
            max_latent_error=r.max_latent_error,
            psnr_drop=None if raised else _psnr_drop(rgb, clean, r.image)))
    h, w = rgb.shape[:2]
    return ImageStudy(name, w, h, len(enc.data), enc.bits_y, enc.bits_z, enc.overhead_bits, enc.estimated_bits_y,
                      enc.estimated_bits_z, enc.escapes_y, enc.escapes_z, clean, tuple(trials))


def study_point(model, name: str, images: Sequence, *, model_hash: bytes = b"", seeds: Sequence[int] = (0, 1, 2),
                rel_noise: float = 1e-5, scale_levels: int = 64,
                on_image: Callable[[ImageStudy], None] | None = None) -> PointStudy:
    """:func:`study_image` for every image (:class:`rec.evaluation.runner.EvalImage`) with one model.

    ``name`` and ``model_hash`` go into the header as the runner writes them, so that the
    file sizes are the ones ``rec eval`` measures.

    Raises:
        RecError: no images, or a coding failure.
    """
    if not images:
        raise RecError("no images to study")
    if not rel_noise >= 0:
        raise RecError(f"the relative noise must be ≥ 0, got {rel_noise}")
    out = []
    for im in images:
        s = study_image(model, im.name, im.rgb, model_id=name, model_hash=model_hash, seeds=seeds,
                        rel_noise=rel_noise, scale_levels=scale_levels)
        out.append(s)
        if on_image is not None:
            on_image(s)
    return PointStudy(name, float(rel_noise), int(scale_levels), tuple(out))
