"""Probabilistic ladder networks: PLN and γ-PLN (thesis section 3.2, Fig. 3.2), and the one-level VAE.

Data flow (N, M, F, G are the widths; thesis: 196, 128, 128, 24)::

    x ─► [conv5 d2 N, GDN] ×3, conv5 d2 2M ─► μx, log σx                 level-1 analysis (x/16)
    μx ─► conv3 F, LReLU, conv5 d2 F, LReLU, conv5 d2 2G ─► q(z2|x)     level-2 analysis (x/64)
    z2 ─► conv5ᵀ u2 F, LReLU, conv5ᵀ u2 F, LReLU, conv3 2M ─► p(z1|z2)  level-2 synthesis
    q(z1|z2,x) = combination of the encoder's N(μx, σx²) and p(z1|z2) (below)
    z1 ─► [conv5ᵀ u2 N, IGDN] ×3, conv5ᵀ u2 3 ─► Laplace mean of x̂       synthesis

p(z2) = N(0, I). The level-1 posterior q(z1|z2,x) is one of two forms (``posterior``):

* ``"precision"``, the thesis's precision weighting (Sønderby et al. 2016; the thesis
  prints it garbled, see docs/design.md)::

      σ1⁻² = σx⁻² + σp⁻²,   μ1 = (μx σx⁻² + μp σp⁻²) · σ1²

  It is a trap: a prior that shrinks σp takes the encoder's share σx⁻²/σ1⁻² of a channel
  to ~1e-4, the gradient reaching μx vanishes with it, and the channel is locked for
  good (the first γ-PLNs used 33-35 of 128 channels).
* ``"residual"``, NVAE's residual Normal (Vahdat & Kautz 2020), relative to the prior::

      μ1 = μp + Δμ,   σ1 = σp · Δσ            (Δμ, log Δσ from the encoder)

  ∂μ1/∂Δμ = 1 whatever the prior does, so no channel can be shut by the prior alone;
  KL1 = ½(Δσ² + Δμ²/σp² − 1 − log Δσ²) per dimension.
* ``"isokl"``: the residual mean, with each dimension's KL fixed to a budget κ that an
  integer network derives from z2 and β (:mod:`rec.models.isokl`, :mod:`rec.models.kappa`),
  so the coder's layout needs no side information (issue 16, item 2).

A variable-rate model (``beta_min < beta_max``) conditions every transform on β through
channel-wise modulations after each GDN / activation, and learns log γ as a function of
β (:mod:`rec.models.rate`); β is then an argument of every method below and travels in
the file header.

The likelihood is Laplace with scale γ' per pixel value (values in [0, 1]):
γ' = 1 for the PLN, γ' = max(γ, γ∞) with γ learned for the γ-PLN (section 3.3.1).
The loss per pixel is  Σ_c |x − μ|/γ' + log 2γ'  +  β(t) · (KL1 + KL2),
in nats, with the linear warm-up β(t) = min(t/W, 1)·β0. ``likelihood = "gaussian"``
(the models issue's MSE-trained kind) replaces the Laplace term by the Gaussian's
Σ_c (x − μ)²/2γ'² + log(√(2π) γ'), γ' then the learned standard deviation: the decoder
is unchanged (it outputs μ either way), only the distortion that training weighs differs.

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
from rec.models.isokl import LN2, iso_kl_posterior, shared_budgets
from rec.models.kappa import LEVELS_PER_BIT, KappaNet
from rec.samplers.budget import MAX_SHARED_BUDGET
from rec.models.layers import GDN, MirrorConv2d, MirrorConvTranspose2d
from rec.models.rate import Modulation, RateEmbedding, modulated_widths, rate_weights, run_modulated

__all__ = ["ModelConfig", "Normal", "Analysis", "Losses", "PLN", "model_input", "pad_to_multiple", "active_channels",
           "negative_log_likelihood"]

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
        posterior: level-1 posterior form, "precision" (the thesis's, a trap),
            "residual" (NVAE's) or "isokl" (KL budgets the decoder derives); see the module docstring.
        beta_min, beta_max: the β range of a variable-rate model (both 0: fixed rate
            at ``beta``); ``beta`` is then the default rate.
        knots: knots of the rate embedding (variable rate only).
        likelihood: "laplace" (the thesis's) or "gaussian" (MSE-trained); see the
            module docstring.
        group_budget: iso-KL only: the largest budget (in sixteenths of a bit) of the groups
            whose dimensions share their summed budget (:func:`rec.models.isokl.shared_budgets`);
            0: every dimension spends its own κ.
    """

    kind: str = "gamma-pln"
    N: int = 128
    M: int = 128
    F: int = 128
    G: int = 24
    beta: float = 1.0
    gamma_inf: float = 0.06
    posterior: str = "precision"
    beta_min: float = 0.0
    beta_max: float = 0.0
    knots: int = 8
    likelihood: str = "laplace"
    group_budget: int = 0

    def __post_init__(self):
        if self.kind not in ("pln", "gamma-pln", "vae"):
            raise RecError(f"unknown model kind {self.kind!r}: expected 'pln', 'gamma-pln' or 'vae'")
        if min(self.N, self.M, self.F, self.G) < 1:
            raise RecError("model widths must be positive")
        if self.posterior not in ("precision", "residual", "isokl"):
            raise RecError(f"unknown posterior {self.posterior!r}: expected 'precision', 'residual' or 'isokl'")
        if self.posterior == "isokl" and self.kind == "vae":
            raise RecError("the iso-KL posterior needs z2 (a two-level model), not the one-level VAE")
        if self.group_budget and (self.posterior != "isokl" or not 0 < self.group_budget <= MAX_SHARED_BUDGET):
            raise RecError(f"group_budget needs the iso-KL posterior and a value in (0, {MAX_SHARED_BUDGET}] sixteenths of a bit")
        if self.likelihood not in ("laplace", "gaussian"):
            raise RecError(f"unknown likelihood {self.likelihood!r}: expected 'laplace' or 'gaussian'")
        if self.variable_rate and not (0 < self.beta_min <= self.beta <= self.beta_max and self.knots >= 2):
            raise RecError(f"a variable-rate model needs 0 < beta_min ≤ beta ≤ beta_max and knots ≥ 2, "
                           f"got {self.beta_min}, {self.beta}, {self.beta_max}, {self.knots}")

    @property
    def variable_rate(self) -> bool:
        return self.beta_max > 0

    @property
    def rate_range(self) -> tuple[float, float] | None:
        """(β_min, β_max) of a variable-rate model, the range training draws β from; else None."""
        return (self.beta_min, self.beta_max) if self.variable_rate else None

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
    beta: float | torch.Tensor | None = None  # the rate it was analysed at (variable-rate models)


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
    kl1_channels: torch.Tensor  # (M,) level-1 KL per channel in bits, batch mean


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
        if c.posterior == "isokl":
            self.kappa = KappaNet(c.G, c.M)
        # log γ, learned by the γ-PLN only; one value per rate knot for a variable-rate model
        gamma_shape = (c.knots,) if c.variable_rate else ()
        self.log_gamma = nn.Parameter(torch.zeros(gamma_shape), requires_grad=c.kind == "gamma-pln")
        if c.variable_rate:
            self.rate = RateEmbedding(c.beta_min, c.beta_max, c.knots)
            self.modulations = nn.ModuleDict({
                name: nn.ModuleList(Modulation(width, c.knots) for width in modulated_widths(seq))
                for name, seq in self._transforms().items()
            })

    def _transforms(self) -> dict[str, nn.Sequential]:
        names = ("analysis1", "synthesis1") if self.config.kind == "vae" else ("analysis1", "synthesis1", "analysis2", "synthesis2")
        return {n: getattr(self, n) for n in names}

    # -- rate ------------------------------------------------------------------------------
    def rate_weights(self, beta, batch: int = 1) -> torch.Tensor | None:
        """The rate embedding (B, K) of β (a number, or a tensor (B,)); None for a fixed-rate model.

        β None means the model's default rate (``config.beta``).

        Raises:
            RecError: β given to a fixed-rate model, or outside a variable-rate model's range.
        """
        return rate_weights(self.rate if self.config.variable_rate else None, beta, self.config.beta, batch)

    def _run(self, name: str, h: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """One transform, modulated after each GDN / activation when ``weights`` is given."""
        return run_modulated(getattr(self, name), None if weights is None else self.modulations[name], h, weights)

    # -- the pieces the codec uses -------------------------------------------------
    def _analysis1(self, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """The level-1 analysis; without gradients, a large image in overlapping bands of rows
        (margin :attr:`BAND_MARGIN` latent rows, beyond the analysis's ~2 latent-row radius)."""
        b, _, height, width = x.shape
        widest = b * self.config.N * (height // 2) * (width // 2)
        if torch.is_grad_enabled() or widest <= self.BAND_VALUES:
            return self._run("analysis1", x - 0.5, w)
        h, rows = height // 16, max(self.BAND_MARGIN, self.BAND_VALUES // (b * self.config.N * 64 * (width // 16)))
        out = None
        for top in range(0, h, rows):
            lo, hi = max(0, top - self.BAND_MARGIN), min(h, top + rows + self.BAND_MARGIN)
            band = self._run("analysis1", x[:, :, 16 * lo : 16 * hi] - 0.5, w)
            if out is None:
                out = torch.empty((b, band.shape[1], h, width // 16), dtype=band.dtype, device=band.device)
            keep = min(rows, h - top)
            out[:, :, top : top + keep] = band[:, :, top - lo : top - lo + keep]
        return out

    def analyze(self, x: torch.Tensor, beta=None) -> Analysis:
        """Encoder side: level-1 encoder Gaussian and level-2 posterior of a padded image in [0, 1]."""
        w = self.rate_weights(beta, x.shape[0])
        h = self._analysis1(x, w)
        mu, log_std = h.chunk(2, dim=1)
        level1 = Normal(mu.float(), _std(log_std))
        if self.config.kind == "vae":
            return Analysis(level1, None, beta)
        g = self._run("analysis2", mu, w).float()
        mu2, log_std2 = g.chunk(2, dim=1)
        return Analysis(level1, Normal(mu2, _std(log_std2)), beta)

    def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, int, int, int], ...]:
        """Shapes of the coded latents of a height × width image, level 1 first: z1 (1, M, H'/16, W'/16)
        and, unless one-level, z2 (1, G, H'/64, W'/64), H' × W' the image padded to ``config.factor``."""
        c = self.config
        ph, pw = -(-height // c.factor) * c.factor, -(-width // c.factor) * c.factor
        z1 = (1, c.M, ph // 16, pw // 16)
        return (z1,) if c.kind == "vae" else (z1, (1, c.G, ph // 64, pw // 64))

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return self.log_gamma.device

    def _standard_normal(self, shape: torch.Size | tuple) -> Normal:
        """N(0, I) on the model's device (a prior made on the CPU fails beside CUDA posteriors)."""
        return Normal(torch.zeros(shape, device=self.device), torch.ones(shape, device=self.device))

    def level2_prior(self, shape: torch.Size | tuple) -> Normal:
        """p(z2) = N(0, I)."""
        return self._standard_normal(shape)

    def level1_prior(self, z2: torch.Tensor | None, shape=None, beta=None) -> Normal:
        """p(z1|z2) from the level-2 synthesis (N(0, I) for the one-level VAE)."""
        if z2 is None:
            return self._standard_normal(shape)
        w = self.rate_weights(beta, z2.shape[0])
        mu, log_std = self._run("synthesis2", z2, w).float().chunk(2, dim=1)
        return Normal(mu, _std(log_std))

    def level1_budget(self, z2: torch.Tensor, beta=None) -> np.ndarray | None:
        """The iso-KL model's level-1 budget levels (1, M, h, w), int32, κ = level / LEVELS_PER_BIT bits,
        computed exactly (integer network) from the coded z2 and β; None for the other posteriors."""
        if self.config.posterior != "isokl":
            return None
        return self.kappa.levels(z2, self.config.beta if beta is None else beta)

    def level1_posterior(self, level1: Normal, prior: Normal, kappa_bits: torch.Tensor | None = None) -> Normal:
        """q(z1|z2, x): the encoder's Gaussian combined with the prior (module docstring); the iso-KL
        posterior needs the budgets κ in bits (:meth:`level1_budget` / LEVELS_PER_BIT, or KappaNet's
        differentiable output in training)."""
        if self.config.kind == "vae":
            return level1
        if self.config.posterior == "isokl":
            if kappa_bits is None:
                raise RecError("the iso-KL posterior needs the level-1 budgets κ")
            return self._iso_posterior(level1, prior, self.spent_budgets(level1, kappa_bits.to(prior.mean)))
        if self.config.posterior == "residual":
            return Normal(prior.mean + level1.mean, prior.std * level1.std)
        px, pp = level1.std.pow(-2), prior.std.pow(-2)
        var = 1.0 / (px + pp)
        return Normal((level1.mean * px + prior.mean * pp) * var, var.sqrt())

    @staticmethod
    def _iso_posterior(level1: Normal, prior: Normal, spent_bits: torch.Tensor) -> Normal:
        return Normal(*iso_kl_posterior(level1.mean, prior.mean, prior.std, spent_bits * LN2))

    def spent_budgets(self, level1: Normal, kappa_bits: torch.Tensor) -> torch.Tensor:
        """The KL in bits each level-1 dimension spends: κ itself, or with ``group_budget`` each
        group's summed κ shared by the encoder (its log σx are the share logits)."""
        if not self.config.group_budget:
            return kappa_bits
        return shared_budgets(kappa_bits, level1.std.log(), self.config.group_budget)

    def draw(self, analysis: Analysis, *, mean: bool = False, generator: torch.Generator | None = None) -> Latents:
        """z2 ~ q(z2|x), then z1 ~ q(z1|z2,x) (the posterior means with ``mean=True``).

        The standard normal noise comes from ``generator`` (a CPU one, whatever the model's
        device), z2's first, so one seed gives one draw on every machine (the encoder-private
        "ideal" sample, thesis section 4.1).
        """

        def draw(q: Normal) -> torch.Tensor:
            return q.mean if mean else q.sample(torch.randn(q.mean.shape, generator=generator).to(q.mean.device))

        z2 = None if analysis.q2 is None else draw(analysis.q2)
        p1 = self.level1_prior(z2, analysis.level1.mean.shape, beta=analysis.beta)
        q1 = self.level1_posterior(analysis.level1, p1, None if z2 is None else self.budget_bits(self.level1_budget(z2, analysis.beta)))
        return Latents(z2, draw(q1), q1, p1)

    def budget_bits(self, levels: np.ndarray | None) -> torch.Tensor | None:
        """κ in bits on the model's device from the exact levels of :meth:`level1_budget` (None: None)."""
        return None if levels is None else torch.from_numpy(levels).to(self.device).float() / LEVELS_PER_BIT

    #: Without gradients, an analysis or synthesis whose widest feature map would exceed
    #: this many values runs in bands of latent rows overlapping by :attr:`BAND_MARGIN`
    #: rows (more than either transform's receptive radius of about 4 latent rows), which
    #: bounds the memory of coding a large photo.
    BAND_VALUES = 1 << 27
    BAND_MARGIN = 6

    def synthesize(self, z1: torch.Tensor, beta=None) -> torch.Tensor:
        """Laplace mean of x̂ (values near [0, 1]) for a padded latent."""
        b, _, h, w = z1.shape
        weights = self.rate_weights(beta, b)
        widest = b * self.config.N * (8 * h) * (8 * w)
        if torch.is_grad_enabled() or widest <= self.BAND_VALUES:
            return self._run("synthesis1", z1, weights).float() + 0.5
        rows = max(self.BAND_MARGIN, self.BAND_VALUES // (b * self.config.N * 64 * w))
        out = torch.empty((b, 3, 16 * h, 16 * w), device=z1.device)
        for top in range(0, h, rows):
            lo, hi = max(0, top - self.BAND_MARGIN), min(h, top + rows + self.BAND_MARGIN)
            band = self._run("synthesis1", z1[:, :, lo:hi], weights).float() + 0.5
            keep = min(rows, h - top)
            out[:, :, 16 * top : 16 * (top + keep)] = band[:, :, 16 * (top - lo) : 16 * (top - lo + keep)]
        return out

    #: With gradients, :meth:`distortion_gradient` runs the synthesis in bands whose widest
    #: feature map holds at most this many values (autograd keeps several such maps per band),
    #: overlapping by this many latent rows: the synthesis's output rows of latent row r depend
    #: on latent rows r − 1 … r + 2 only (tests/models/test_pln.py), so 3 keeps the sum exact.
    GRAD_BAND_VALUES = 1 << 25
    GRAD_BAND_MARGIN = 3

    def distortion_gradient(self, z1: torch.Tensor, target: torch.Tensor, beta=None) -> tuple[torch.Tensor, float]:
        """(∂SSE/∂z1, SSE / its number of values) at ``z1``, SSE = Σ (x̂ − x)² over the pixels of
        ``target`` (1, 3, H, W; the image without its padding, values in [0, 1]): the slope the
        encoder's distortion-guided selection tilts its candidates by.

        Large images run in bands of latent rows overlapping by :attr:`GRAD_BAND_MARGIN` (beyond
        the synthesis's receptive radius): a band's kept output rows depend on its own latent rows
        only, so the band gradients sum to the exact gradient while the autograd graph stays
        within :attr:`GRAD_BAND_VALUES`.
        """
        b, _, h, w = z1.shape
        height, width = target.shape[-2:]
        weights = self.rate_weights(beta, b)
        margin = self.GRAD_BAND_MARGIN
        rows = max(margin, self.GRAD_BAND_VALUES // (b * self.config.N * 64 * w) - 2 * margin)
        grad = torch.zeros_like(z1)
        sse = 0.0
        with torch.enable_grad():
            for top in range(0, min(h, -(-height // 16)), rows):
                lo, hi = max(0, top - margin), min(h, top + rows + margin)
                y0, y1 = 16 * top, min(16 * (top + rows), height)
                band = z1[:, :, lo:hi].detach().requires_grad_(True)
                out = self._run("synthesis1", band, weights).float() + 0.5
                err = out[:, :, y0 - 16 * lo : y1 - 16 * lo, :width] - target[:, :, y0:y1]
                loss = err.square().sum()
                grad[:, :, lo:hi] += torch.autograd.grad(loss, band)[0]
                sse += float(loss.detach())
        return grad, sse / target.numel()

    def gamma(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        """The likelihood scale γ' in use: a scalar, or (B,) at the rates of ``weights``."""
        if self.config.kind != "gamma-pln":
            return torch.ones(())
        log_gamma = self.log_gamma if weights is None else weights.to(self.log_gamma) @ self.log_gamma
        return torch.clamp(log_gamma.exp(), min=self.config.gamma_inf)

    # -- training objective -------------------------------------------------------------
    def forward(self, x: torch.Tensor, beta_scale: float = 1.0, sample: bool = True, beta: torch.Tensor | None = None) -> Losses:
        """The negative weighted ELBO of a batch in [0, 1] whose size is a multiple of 64.

        ``beta_scale`` is the warm-up factor min(t/W, 1); ``sample=False`` uses the
        posterior means (validation of the mean reconstruction). A variable-rate model
        takes one β per image (``beta``, shape (B,); default ``config.beta``).
        """
        b, _, h, w = x.shape
        pixels = h * w
        if self.config.variable_rate:
            beta = torch.full((b,), self.config.beta, dtype=torch.float64) if beta is None else beta.double()
            weights = self.rate_weights(beta)
            beta_b = beta.float().to(x.device)
        else:
            weights, beta_b = None, torch.full((b,), self.config.beta, device=x.device)
        a = self.analyze(x, beta if weights is not None else None)

        def draw(q: Normal) -> torch.Tensor:
            return q.sample(torch.randn_like(q.mean)) if sample else q.mean

        def per_image(t: torch.Tensor) -> torch.Tensor:
            return t.flatten(1).sum(1)

        if a.q2 is None:
            kl2 = torch.zeros(b, device=x.device)
            q1 = a.level1
            p1 = self.level1_prior(None, q1.mean.shape)
        else:
            z2 = draw(a.q2)
            kl2 = per_image(a.q2.kl(self.level2_prior(a.q2.mean.shape)))
            p1 = self.level1_prior(z2, beta=a.beta)
            if self.config.posterior == "isokl":
                kappa = self.spent_budgets(a.level1, self.kappa(z2, beta if beta is not None else self.config.beta))
                q1 = self._iso_posterior(a.level1, p1, kappa)
            else:
                q1 = self.level1_posterior(a.level1, p1)
        kl1_map = kappa * LN2 if self.config.posterior == "isokl" else q1.kl(p1)
        kl1 = per_image(kl1_map)
        x_hat = self.synthesize(draw(q1), a.beta)
        g = self.gamma(weights)
        g_b = g.reshape(-1, 1, 1, 1) if g.dim() else g
        distortion = per_image(negative_log_likelihood(x, x_hat, g_b, self.config.likelihood)) / pixels
        rate = (kl1 + kl2) / pixels
        loss = (distortion + beta_scale * beta_b * rate).mean()
        to_bits = 1.0 / math.log(2)
        return Losses(loss, distortion.mean(), kl1.mean() * to_bits, kl2.mean() * to_bits, rate.mean() * to_bits, x_hat, g.mean(),
                      kl1_map.detach().sum(dim=(0, 2, 3)) * to_bits / b)


def negative_log_likelihood(x: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, likelihood: str) -> torch.Tensor:
    """−log p(x | mean) per value in nats: Laplace(mean, scale) or N(mean, scale²) (module docstring)."""
    if likelihood == "gaussian":
        return (x - mean).square() / (2 * scale.square()) + torch.log(scale * math.sqrt(2 * math.pi)).expand_as(mean)
    return (x - mean).abs() / scale + torch.log(2 * scale).expand_as(mean)


def active_channels(kl1_channels: np.ndarray, share: float = 0.9) -> int:
    """The fewest level-1 channels that carry ``share`` of the level-1 KL (the rest are near the prior)."""
    ranked = np.sort(np.asarray(kl1_channels, dtype=np.float64))[::-1]
    total = ranked.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(ranked) / total, share - 1e-12) + 1)
