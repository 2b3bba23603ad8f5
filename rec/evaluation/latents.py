"""Exact per-level KLs of a PLN on an image, and the reconstruction from a posterior draw.

Source: thesis section 4.3 ("contribution of the second level", Fig. 4.2) and the
"theoretically optimal" point of section 4.2. For a two-level PLN / γ-PLN
(:mod:`rec.models.pln`) the rate a perfect relative entropy coder approaches is the
sum of two analytic Gaussian KLs, taken the way the codec takes them — level 2
first, then level 1 *given the z2 that was drawn*::

    z2 ~ q(z2|x)                 KL2 = KL[q(z2|x) ‖ N(0, I)]
    z1 ~ q(z1|z2, x)             KL1 = KL[q(z1|z2, x) ‖ p(z1|z2)]
    x̂ = synthesis(z1)

(the codec draws z2 with its level-2 sampler; here z2 is an exact posterior sample,
or the posterior mean with ``mean=True``). KL1 depends on z2, KL2 does not. The
one-level VAE has KL2 = 0.

Invariants: both KLs are ≥ 0; :attr:`LevelKL.level2_share` is in [0, 1];
``draw_latents`` consumes the generator in a fixed order (z2 first, then z1), so
a seeded generator reproduces the same draws.

Typical use::

    from rec.evaluation.latents import image_kl, mean_kl
    kls = [image_kl(model, rgb, generator) for rgb in images]
    summary = mean_kl(kls)          # LevelKL of the mean rates: kl1_bpp, kl2_bpp, level2_share
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rec.errors import RecError
from rec.evaluation.metrics import ms_ssim, psnr
from rec.image import tensor_image
from rec.models.pln import PLN, Analysis, active_channels, model_input

__all__ = ["LevelKL", "PosteriorDraw", "IdealPoint", "draw_latents", "reconstruct", "image_kl", "mean_kl", "ideal_point",
           "active_channels"]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class LevelKL:
    """The KL of each latent level of one image (or the mean over images), in bits.

    Attributes:
        pixels: pixels of the image (W·H, before padding); for a mean, the mean pixels.
        kl1_bits: KL[q(z1|z2,x) ‖ p(z1|z2)] at the drawn z2.
        kl2_bits: KL[q(z2|x) ‖ p(z2)] (0 for the one-level VAE).
    """

    pixels: float
    kl1_bits: float
    kl2_bits: float

    def __post_init__(self) -> None:
        if not self.pixels > 0:
            raise RecError(f"pixels must be positive, got {self.pixels}")

    @property
    def kl_bits(self) -> float:
        """The total KL I = KL1 + KL2 in bits."""
        return self.kl1_bits + self.kl2_bits

    @property
    def kl1_bpp(self) -> float:
        return self.kl1_bits / self.pixels

    @property
    def kl2_bpp(self) -> float:
        return self.kl2_bits / self.pixels

    @property
    def kl_bpp(self) -> float:
        return self.kl_bits / self.pixels

    @property
    def level2_share(self) -> float:
        """KL2 / (KL1 + KL2), in [0, 1] (0 when the total is 0)."""
        total = self.kl_bits
        return self.kl2_bits / total if total > 0 else 0.0


@dataclass(frozen=True)
class PosteriorDraw:
    """One draw of the latents of an image and the KLs at that draw.

    Attributes:
        z2: level-2 latent (None for the one-level VAE), padded layout (1, G, h/64, w/64).
        z1: level-1 latent, (1, M, h/16, w/16).
        kl: the per-level KLs (:class:`LevelKL`), level 1 conditioned on this ``z2``.
        kl1_channels: level 1's KL in bits per channel (M,), summing to ``kl.kl1_bits``.
    """

    z2: torch.Tensor | None
    z1: torch.Tensor
    kl: LevelKL
    kl1_channels: np.ndarray


@torch.no_grad()
def draw_latents(model: PLN, analysis: Analysis, pixels: int, *, mean: bool = False,
                 generator: torch.Generator | None = None) -> PosteriorDraw:
    """Draw z2 ~ q(z2|x), then z1 ~ q(z1|z2,x) (or take the means), with the exact KLs.

    Args:
        model: the PLN whose :meth:`~rec.models.pln.PLN.analyze` gave ``analysis``.
        analysis: the encoder's Gaussians of one (padded) image.
        pixels: pixels of the unpadded image, the denominator of the bpp figures.
        mean: use the posterior means instead of samples.
        generator: the randomness of the samples (z2 drawn first, then z1).
    """
    d = model.draw(analysis, mean=mean, generator=generator)
    kl2 = 0.0 if analysis.q2 is None else analysis.q2.kl(model.level2_prior(analysis.q2.mean.shape)).sum().item()
    channels = d.q1.kl(d.p1)[0].sum(dim=(1, 2)).double().numpy() / _LN2
    return PosteriorDraw(d.z2, d.z1, LevelKL(pixels, float(channels.sum()), kl2 / _LN2), channels)


@torch.no_grad()
def reconstruct(model: PLN, z1: torch.Tensor, height: int, width: int, beta: float | None = None) -> np.ndarray:
    """x̂ = synthesis(z1) (at rate ``beta`` for a variable-rate model), cropped to (height, width), rounded to uint8 RGB."""
    return tensor_image(model.synthesize(z1, beta), height, width)


@torch.no_grad()
def image_kl(model: PLN, rgb: np.ndarray, generator: torch.Generator | None = None, beta: float | None = None) -> LevelKL:
    """The exact per-level KLs of one image, z2 drawn from its posterior (see the module docstring)."""
    h, w = rgb.shape[:2]
    analysis = model.analyze(model_input(rgb, model.config.factor), beta)
    return draw_latents(model, analysis, h * w, generator=generator).kl


def mean_kl(kls: Sequence[LevelKL]) -> LevelKL:
    """The mean over images of each level's rate in bpp, as a :class:`LevelKL` of one pixel.

    Its ``level2_share`` is the share of the *mean* rate (mean KL2 bpp / mean total bpp),
    which weighs the images by their rate, unlike the mean of the per-image shares.

    Raises:
        RecError: no image.
    """
    if not kls:
        raise RecError("mean_kl needs at least one image")
    return LevelKL(1.0, float(np.mean([k.kl1_bpp for k in kls])), float(np.mean([k.kl2_bpp for k in kls])))


@dataclass(frozen=True)
class IdealPoint:
    """A model's ideal operating point on a set of images, at one rate.

    Attributes:
        beta: the rate parameter it was measured at (None: a fixed-rate model's one rate).
        kl: the mean per-level KLs of an exact posterior sample (:func:`mean_kl`): the rate a
            perfect relative entropy coder approaches.
        active_channels: level-1 channels carrying 90 % of level 1's KL over the images.
        psnr, ms_ssim: quality of the reconstruction from that exact sample (the "ideal").
        psnr_mean, ms_ssim_mean: quality of the reconstruction from the posterior means.
    """

    beta: float | None
    kl: LevelKL
    active_channels: int
    psnr: float
    ms_ssim: float
    psnr_mean: float
    ms_ssim_mean: float


@torch.no_grad()
def ideal_point(model: PLN, images: Sequence[np.ndarray], beta: float | None = None, seed: int = 0) -> IdealPoint:
    """Mean KL, active channels and ideal / posterior-mean quality of ``model`` on ``images`` at ``beta``.

    The samples come from one generator seeded with ``seed``, consumed image by image
    (the mean draw first, then the exact sample), so a call is reproducible.
    """
    g = torch.Generator().manual_seed(seed)
    kls, channels, sample_q, mean_q = [], 0.0, [], []
    for rgb in images:
        h, w = rgb.shape[:2]
        analysis = model.analyze(model_input(rgb, model.config.factor), beta)
        for mean, quality in ((True, mean_q), (False, sample_q)):
            draw = draw_latents(model, analysis, h * w, mean=mean, generator=g)
            x = reconstruct(model, draw.z1, h, w, beta)
            quality.append((psnr(rgb, x), ms_ssim(rgb, x)))
        kls.append(draw.kl)
        channels = channels + draw.kl1_channels
    (p, m), (pm, mm) = np.mean(sample_q, axis=0), np.mean(mean_q, axis=0)
    return IdealPoint(beta, mean_kl(kls), active_channels(channels), float(p), float(m), float(pm), float(mm))
