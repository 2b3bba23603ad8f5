"""Probabilistic ladder networks: PLN and γ-PLN (thesis section 3.2, Fig. 3.2), and the one-level VAE.

Data flow (N, M, F, G are the widths; thesis: 196, 128, 128, 24)::

    x ─► [conv5 d2 N, GDN] ×3, conv5 d2 2M ─► μx, log σx                 level-1 analysis (x/16)
    μx ─► conv3 F, LReLU, conv5 d2 F, LReLU, conv5 d2 2G ─► q(z2|x)     level-2 analysis (x/64)
    z2 ─► conv5ᵀ u2 F, LReLU, conv5ᵀ u2 F, LReLU, conv3 2M ─► p(z1|z2)  level-2 synthesis
    q(z1|z2,x) = precision-weighted combination of N(μx, σx²) and p(z1|z2)
    z1 ─► [conv5ᵀ u2 N, IGDN] ×3, conv5ᵀ u2 3 ─► Laplace mean of x̂       synthesis

p(z2) = N(0, I). The precision-weighted posterior (Sønderby et al. 2016; the
thesis prints it garbled, see DESIGN.md section 3) is::

    σ1⁻² = σx⁻² + σp⁻²,   μ1 = (μx σx⁻² + μp σp⁻²) · σ1²

The likelihood is Laplace with scale γ' per pixel value (values in [0, 1]):
γ' = 1 for the PLN, γ' = max(γ, γ∞) with γ learned for the γ-PLN (section 3.3.1).
The loss per pixel is  Σ_c |x − μ|/γ' + log 2γ'  +  β(t) · (KL1 + KL2),
in nats, with the linear warm-up β(t) = min(t/W, 1)·β0.

The codec needs the pieces separately, on both sides, from *coded* latents:
:meth:`PLN.analyze` (encoder only), :meth:`PLN.level1_prior`,
:meth:`PLN.level1_posterior` and :meth:`PLN.synthesize`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rec.errors import RecError
from rec.image import check_size, image_tensor
from rec.models.layers import GDN, MirrorConv2d, MirrorConvTranspose2d

__all__ = ["ModelConfig", "Normal", "Analysis", "Losses", "PLN", "model_input", "pad_to_multiple", "build_model"]

LOG_STD_MIN, LOG_STD_MAX = -9.0, 4.0


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and objective of a model.

    Attributes:
        kind: "pln" (unit-scale Laplace), "gamma-pln" (learned γ) or "vae" (one level).
        N, M, F, G: widths: analysis/synthesis channels, level-1 latent channels,
            level-2 hidden channels, level-2 latent channels.
        beta: target KL weight β0.
        gamma_inf: lower bound γ∞ of the learned likelihood scale (γ-PLN only).
    """

    kind: str = "gamma-pln"
    N: int = 128
    M: int = 128
    F: int = 128
    G: int = 24
    beta: float = 1.0
    gamma_inf: float = 0.06

    def __post_init__(self):
        if self.kind not in ("pln", "gamma-pln", "vae"):
            raise RecError(f"unknown model kind {self.kind!r}: expected 'pln', 'gamma-pln' or 'vae'")
        if min(self.N, self.M, self.F, self.G) < 1:
            raise RecError("model widths must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def factor(self) -> int:
        """Downsampling of the deepest latent: images are padded to a multiple of it."""
        return 16 if self.kind == "vae" else 64


@dataclass
class Normal:
    """A diagonal Gaussian as torch tensors (mean, std) of shape (B, C, H, W)."""

    mean: torch.Tensor
    std: torch.Tensor

    def sample(self, eps: torch.Tensor) -> torch.Tensor:
        return self.mean + self.std * eps

    def kl(self, prior: "Normal") -> torch.Tensor:
        """KL[self ‖ prior] per dimension, in nats (analytic)."""
        ratio = (self.std / prior.std) ** 2
        return 0.5 * (ratio + ((self.mean - prior.mean) / prior.std) ** 2 - 1.0 - torch.log(ratio))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((z - self.mean) / self.std) ** 2 - torch.log(self.std) - 0.5 * math.log(2 * math.pi)


@dataclass
class Analysis:
    """What the encoder computes from x before any coding.

    ``level1`` is the level-1 encoder's own Gaussian N(μx, σx²), before the
    precision weighting with the prior; ``q2`` is the level-2 posterior.
    """

    level1: Normal
    q2: Normal | None


@dataclass
class Latents:
    """One ancestral draw z2 ~ q(z2|x), z1 ~ q(z1|z2,x) and the level-1 Gaussians it conditioned."""

    z2: torch.Tensor | None
    z1: torch.Tensor
    q1: Normal
    p1: Normal


@dataclass
class Losses:
    """One training or validation evaluation, averaged per pixel (nats) unless named bits."""

    loss: torch.Tensor
    distortion: torch.Tensor
    kl1_bits: torch.Tensor  # per image, summed over dimensions, batch mean
    kl2_bits: torch.Tensor
    bpp: torch.Tensor
    x_hat: torch.Tensor
    gamma: torch.Tensor


def _std(log_std: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.clamp(log_std.float(), LOG_STD_MIN, LOG_STD_MAX))


def model_input(rgb: np.ndarray, factor: int, channels_last: bool = True) -> torch.Tensor:
    """uint8 RGB (H, W, 3) → (1, 3, H', W') float in [0, 1], mirror-padded to multiples of ``factor``.

    The one way an image enters a model (the codecs and the evaluation alike), in the memory
    layout the caller's convolutions run in: channels-last (the PLN's, about 1.5× faster on
    the CPU) or contiguous (the reference codec's, see rec.reference).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise RecError(f"expected a uint8 RGB array (H, W, 3), got {rgb.dtype} {rgb.shape}")
    check_size(rgb.shape[1], rgb.shape[0])  # before padding allocates
    x = pad_to_multiple(image_tensor(rgb), factor)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def pad_to_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Mirror-pad (B, C, H, W) at the bottom/right to multiples of ``factor``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if ph == 0 and pw == 0:
        return x
    # reflection needs pad < size; replicate is the fallback for tiny images
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class PLN(nn.Module):
    """PLN / γ-PLN (two levels) or the one-level VAE baseline; see the module docstring."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        self.analysis1 = nn.Sequential(
            MirrorConv2d(3, c.N, 5, 2), GDN(c.N),
            MirrorConv2d(c.N, c.N, 5, 2), GDN(c.N),
            MirrorConv2d(c.N, c.N, 5, 2), GDN(c.N),
            MirrorConv2d(c.N, 2 * c.M, 5, 2),
        )
        self.synthesis1 = nn.Sequential(
            MirrorConvTranspose2d(c.M, c.N, 5, 2), GDN(c.N, inverse=True),
            MirrorConvTranspose2d(c.N, c.N, 5, 2), GDN(c.N, inverse=True),
            MirrorConvTranspose2d(c.N, c.N, 5, 2), GDN(c.N, inverse=True),
            MirrorConvTranspose2d(c.N, 3, 5, 2),
        )
        if c.kind != "vae":
            self.analysis2 = nn.Sequential(
                MirrorConv2d(c.M, c.F, 3), nn.LeakyReLU(0.2),
                MirrorConv2d(c.F, c.F, 5, 2), nn.LeakyReLU(0.2),
                MirrorConv2d(c.F, 2 * c.G, 5, 2),
            )
            self.synthesis2 = nn.Sequential(
                MirrorConvTranspose2d(c.G, c.F, 5, 2), nn.LeakyReLU(0.2),
                MirrorConvTranspose2d(c.F, c.F, 5, 2), nn.LeakyReLU(0.2),
                MirrorConv2d(c.F, 2 * c.M, 3),
            )
        # log γ, learned by the γ-PLN only
        self.log_gamma = nn.Parameter(torch.zeros(()), requires_grad=c.kind == "gamma-pln")

    # -- the pieces the codec uses -------------------------------------------------
    def _analysis1(self, x: torch.Tensor) -> torch.Tensor:
        """The level-1 analysis; without gradients, a large image in overlapping bands of rows
        (margin :attr:`BAND_MARGIN` latent rows, beyond the analysis's ~2 latent-row radius)."""
        b, _, height, width = x.shape
        widest = b * self.config.N * (height // 2) * (width // 2)
        if torch.is_grad_enabled() or widest <= self.BAND_VALUES:
            return self.analysis1(x - 0.5)
        h, rows = height // 16, max(self.BAND_MARGIN, self.BAND_VALUES // (b * self.config.N * 64 * (width // 16)))
        out = None
        for top in range(0, h, rows):
            lo, hi = max(0, top - self.BAND_MARGIN), min(h, top + rows + self.BAND_MARGIN)
            band = self.analysis1(x[:, :, 16 * lo : 16 * hi] - 0.5)
            if out is None:
                out = torch.empty((b, band.shape[1], h, width // 16), dtype=band.dtype)
            keep = min(rows, h - top)
            out[:, :, top : top + keep] = band[:, :, top - lo : top - lo + keep]
        return out

    def analyze(self, x: torch.Tensor) -> Analysis:
        """Encoder side: level-1 encoder Gaussian and level-2 posterior of a padded image in [0, 1]."""
        h = self._analysis1(x)
        mu, log_std = h.chunk(2, dim=1)
        level1 = Normal(mu.float(), _std(log_std))
        if self.config.kind == "vae":
            return Analysis(level1, None)
        g = self.analysis2(mu).float()
        mu2, log_std2 = g.chunk(2, dim=1)
        return Analysis(level1, Normal(mu2, _std(log_std2)))

    def level2_prior(self, shape: torch.Size | tuple) -> Normal:
        """p(z2) = N(0, I)."""
        return Normal(torch.zeros(shape), torch.ones(shape))

    def level1_prior(self, z2: torch.Tensor | None, shape=None) -> Normal:
        """p(z1|z2) from the level-2 synthesis (N(0, I) for the one-level VAE)."""
        if z2 is None:
            return Normal(torch.zeros(shape), torch.ones(shape))
        mu, log_std = self.synthesis2(z2).float().chunk(2, dim=1)
        return Normal(mu, _std(log_std))

    def level1_posterior(self, level1: Normal, prior: Normal) -> Normal:
        """q(z1|z2, x): precision-weighted combination of the encoder's Gaussian and the prior."""
        if self.config.kind == "vae":
            return level1
        px, pp = level1.std.pow(-2), prior.std.pow(-2)
        var = 1.0 / (px + pp)
        return Normal((level1.mean * px + prior.mean * pp) * var, var.sqrt())

    def draw(self, analysis: Analysis, *, mean: bool = False, generator: torch.Generator | None = None) -> Latents:
        """z2 ~ q(z2|x), then z1 ~ q(z1|z2,x) (the posterior means with ``mean=True``).

        The standard normal noise comes from ``generator``, z2's first, so one seed gives
        one draw on every machine (the encoder-private "ideal" sample, thesis section 4.1).
        """

        def draw(q: Normal) -> torch.Tensor:
            return q.mean if mean else q.sample(torch.randn(q.mean.shape, generator=generator))

        z2 = None if analysis.q2 is None else draw(analysis.q2)
        p1 = self.level1_prior(z2, analysis.level1.mean.shape)
        q1 = self.level1_posterior(analysis.level1, p1)
        return Latents(z2, draw(q1), q1, p1)

    #: Without gradients, an analysis or synthesis whose widest feature map would exceed
    #: this many values runs in bands of latent rows overlapping by :attr:`BAND_MARGIN`
    #: rows (more than either transform's receptive radius of about 4 latent rows), which
    #: bounds the memory of coding a large photo.
    BAND_VALUES = 1 << 27
    BAND_MARGIN = 6

    def synthesize(self, z1: torch.Tensor) -> torch.Tensor:
        """Laplace mean of x̂ (values near [0, 1]) for a padded latent."""
        b, _, h, w = z1.shape
        widest = b * self.config.N * (8 * h) * (8 * w)
        if torch.is_grad_enabled() or widest <= self.BAND_VALUES:
            return self.synthesis1(z1).float() + 0.5
        rows = max(self.BAND_MARGIN, self.BAND_VALUES // (b * self.config.N * 64 * w))
        out = torch.empty((b, 3, 16 * h, 16 * w))
        for top in range(0, h, rows):
            lo, hi = max(0, top - self.BAND_MARGIN), min(h, top + rows + self.BAND_MARGIN)
            band = self.synthesis1(z1[:, :, lo:hi]).float() + 0.5
            keep = min(rows, h - top)
            out[:, :, 16 * top : 16 * (top + keep)] = band[:, :, 16 * (top - lo) : 16 * (top - lo + keep)]
        return out

    def gamma(self) -> torch.Tensor:
        """The likelihood scale γ' in use."""
        if self.config.kind == "gamma-pln":
            return torch.clamp(self.log_gamma.exp(), min=self.config.gamma_inf)
        return torch.ones(())

    # -- training objective -------------------------------------------------------------
    def forward(self, x: torch.Tensor, beta_scale: float = 1.0, sample: bool = True) -> Losses:
        """The negative weighted ELBO of a batch in [0, 1] whose size is a multiple of 64.

        ``beta_scale`` is the warm-up factor min(t/W, 1); ``sample=False`` uses the
        posterior means (validation of the mean reconstruction).
        """
        b, _, h, w = x.shape
        pixels = h * w
        a = self.analyze(x)

        def draw(q: Normal) -> torch.Tensor:
            return q.sample(torch.randn_like(q.mean)) if sample else q.mean

        if a.q2 is None:
            kl2 = torch.zeros((), device=x.device)
            q1 = a.level1
            p1 = self.level1_prior(None, q1.mean.shape)
        else:
            z2 = draw(a.q2)
            kl2 = a.q2.kl(self.level2_prior(a.q2.mean.shape)).sum() / b
            p1 = self.level1_prior(z2)
            q1 = self.level1_posterior(a.level1, p1)
        kl1 = q1.kl(p1).sum() / b
        x_hat = self.synthesize(draw(q1))
        g = self.gamma()
        distortion = ((x - x_hat).abs() / g + torch.log(2 * g)).sum() / (b * pixels)
        rate = (kl1 + kl2) / pixels
        loss = distortion + beta_scale * self.config.beta * rate
        to_bits = 1.0 / math.log(2)
        return Losses(loss, distortion, kl1 * to_bits, kl2 * to_bits, rate * to_bits, x_hat, g)


def build_model(config: ModelConfig) -> PLN:
    return PLN(config)
