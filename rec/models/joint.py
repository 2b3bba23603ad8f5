"""Joint autoregressive + hierarchical prior (Minnen, Ballé, Toderici 2018, "mbt2018").

The quantized reference codec beside rec's relative-entropy codecs. Data flow
(Minnen 2018, Fig. 1 and Table 1; N, M, F, G are the widths)::

    x ─► g_a: [conv5 s2 N, GDN] ×3, conv5 s2 M ─► y                         (x/16)
    y ─► h_a: conv3 F, LReLU, conv5 s2 F, LReLU, conv5 s2 G ─► z           (x/64)
    z ─► Q ─► ẑ ~ factorized density (Ballé 2018, appendix 6.1)
    ẑ ─► h_s: conv5ᵀ u2 F, LReLU, conv5ᵀ u2 F, LReLU, conv3 2M ─► ψ
    ŷ_<i ─► g_cm: masked conv5 (type A) 2M ─► φ_i
    (ψ_i, φ_i) ─► g_ep: 1×1 convs 4M → 10M/3 → 8M/3 → 2M ─► μ_i, σ_i
    ŷ_i ~ N(μ_i, σ_i²) ∗ U(−½, ½)                                          (eq. 2)
    ŷ ─► g_s: [conv5ᵀ u2 N, IGDN] ×3, conv5ᵀ u2 3 ─► x̂

The layers are Table 1's; the widths are the PLN's (rec.models.pln: N = M = F = 128,
G = 24), so that the two families compare with equal transforms: g_a, g_s as the
PLN's level 1, h_a, h_s as its level 2. Table 1's hyperprior (widths N, N, N and
M, 3M/2) at N = M = 128 needs 12.6 MB in fp16, over the zoo's 10 MB, and a model
trained with it spent only ~360 bits per validation image on z; the same model
retrained 1 500 steps with these widths did not lose (validation loss 1.99 → 1.91).

Table 1's entropy-parameter widths 640, 512, 384 for M = 192 are 10M/3, 8M/3,
2M (integer division), as in CompressAI. The context model and g_ep see only
ŷ_<i in raster order, so the receiver can run them as it decodes.

Quantization (section 2):

* training: additive uniform noise, ỹ = y + u, z̃ = z + u, u ~ U(−½, ½), and the
  densities are evaluated at the noisy values (Ballé 2018, section 2).
* inference: ẑ = round(z − m) + m with m the per-channel median of the
  factorized density, and ŷ_i = round(y_i − μ_i) + μ_i, i.e. y is rounded
  *around its predicted mean*. Because μ_i depends on ŷ_<i this is sequential
  on the encoder side too: :meth:`JointPrior.autoregress` runs it, and the
  codec (:mod:`rec.reference`) runs the very same function on both sides.

Loss (Minnen 2018, eq. 3, scaled as CompressAI's ``RateDistortionLoss``)::

    L = R + λ · 255² · MSE,   R = −(Σ log₂ p(ŷ) + Σ log₂ p(ẑ)) / pixels  [bpp]

with MSE over RGB values in [0, 1] (so 255²·MSE is the MSE in 8-bit units).
CompressAI's quality levels 1-8 use λ = 0.0018, 0.0035, 0.0067, 0.0130,
0.0250, 0.0483, 0.0932, 0.18.

Variable rate (``lmbda_min < lmbda_max``), as the γ-PLN's (rec.models.pln, rec.models.rate):
λ is drawn log-uniformly per crop in training, embedded as hat functions of log λ, and every
GDN / IGDN of g_a, g_s and every activation of h_a, h_s is followed by a per-channel
:class:`~rec.models.rate.Modulation`. The loss is then the batch mean of
bpp_i + λ_i·255²·MSE_i. g_cm and g_ep are not modulated: they see λ through ψ = h_s(ẑ, λ),
so the autoregressive pass below is the fixed-rate one. Every method that runs a transform
takes ``lmbda`` (None: the default ``config.lmbda``; a fixed-rate model refuses any), and
the codec writes λ into the file (rec.reference). At gain 1 and shift 0 a variable-rate
model is its fixed-rate self, so it starts from fixed-rate weights loaded non-strictly.

Autoregressive pass: :mod:`rec.models.context2d` (the masked 5×5 context model's pieces and
the wavefront schedule that codes all positions of an anti-diagonal t = 3i + j together).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rec.errors import RecError
from rec.models.context2d import SCHEDULES, AutoregressiveResult, MaskedConv2d, Step
from rec.models.entropy import DiscretizedGaussian, FactorizedDensity
from rec.models.fixed_point import FixedPointSequential, StepNetworks
from rec.models.fixed_point import rate_weights as fixed_point_rate_weights
from rec.models.layers import GDN, MirrorConv2d, MirrorConvTranspose2d
from rec.models.rate import Modulation, RateEmbedding, modulated_widths, rate_weights, run_modulated

__all__ = ["JointConfig", "JointLatents", "JointLosses", "JointPrior"]


@dataclass(frozen=True)
class JointConfig:
    """Architecture and objective of the mbt2018 model.

    Attributes:
        kind: always "mbt2018" (tells training configs apart from the PLN's ModelConfig).
        N: channels of g_a / g_s.
        M: channels of the latent y (the bottleneck).
        F: channels of h_a / h_s (the PLN's level-2 width).
        G: channels of the hyper-latent z (the PLN's level-2 latent).
        lmbda: rate-distortion weight λ of L = R + λ·255²·MSE; the default rate of a variable-rate model.
        slope: negative slope of the LeakyReLUs (TensorFlow's default 0.2, as the paper's code).
        context_kernel: size of the masked convolution (Table 1: 5).
        context: False for the paper's hyperprior-only variant (Fig. 2 right, section 5: mean and
            scale from the hyperprior alone): no context model, g_ep sees (ψ, 0); the codec runs
            the same pass with φ ≡ 0.
        scale_bound: lower bound on σ (CompressAI: 0.11).
        likelihood_bound: lower bound on likelihoods.
        lmbda_min, lmbda_max: the λ range of a variable-rate model (both 0: fixed rate at ``lmbda``).
        knots: knots of the rate embedding (variable rate only).
    """

    kind: str = "mbt2018"
    N: int = 128
    M: int = 128
    F: int = 128
    G: int = 24
    lmbda: float = 0.0130
    slope: float = 0.2
    context_kernel: int = 5
    context: bool = True
    scale_bound: float = 0.11
    likelihood_bound: float = 1e-9
    lmbda_min: float = 0.0
    lmbda_max: float = 0.0
    knots: int = 8

    def __post_init__(self):
        if self.kind != "mbt2018":
            raise RecError(f"a JointConfig is of kind 'mbt2018', got {self.kind!r}")
        if min(self.N, self.M, self.F, self.G) < 1:
            raise RecError("model widths must be positive")
        if self.context_kernel < 3 or self.context_kernel % 2 == 0:
            raise RecError("the context kernel must be odd and at least 3")
        if not self.lmbda > 0:
            raise RecError("λ must be positive")
        if self.variable_rate and not (0 < self.lmbda_min <= self.lmbda <= self.lmbda_max and self.lmbda_min < self.lmbda_max
                                       and self.knots >= 2):
            raise RecError(f"a variable-rate model needs 0 < lmbda_min ≤ lmbda ≤ lmbda_max (lmbda_min < lmbda_max) and "
                           f"knots ≥ 2, got {self.lmbda_min}, {self.lmbda}, {self.lmbda_max}, {self.knots}")

    @property
    def variable_rate(self) -> bool:
        return self.lmbda_max > 0

    @property
    def rate_range(self) -> tuple[float, float] | None:
        """(λ_min, λ_max) of a variable-rate model, the range training draws λ from; else None."""
        return (self.lmbda_min, self.lmbda_max) if self.variable_rate else None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def factor(self) -> int:
        """Downsampling of z: images are padded to a multiple of it."""
        return 64


class JointLatents(NamedTuple):
    """The latents of a batch (:meth:`JointPrior.latents`): ŷ and ẑ, and ŷ's Gaussian (mean, scale)."""

    y_hat: torch.Tensor
    z_hat: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor


@dataclass
class JointLosses:
    """One evaluation of a batch; rates per pixel of the (padded) input.

    Attributes:
        loss: bpp + λ·255²·mse (variable rate: the batch mean of bpp_i + λ_i·255²·mse_i).
        bpp: bpp_y + bpp_z.
        bpp_y, bpp_z: −Σ log₂ p / (B·H·W) of the latents and hyper-latents.
        bits_y, bits_z: the same per image (−Σ log₂ p / B).
        mse: mean squared error of x̂ (values in [0, 1]).
        x_hat: the reconstruction (not clamped).
        y_hat: the (noisy or quantized) latent fed to g_s.
    """

    loss: torch.Tensor
    bpp: torch.Tensor
    bpp_y: torch.Tensor
    bpp_z: torch.Tensor
    bits_y: torch.Tensor
    bits_z: torch.Tensor
    mse: torch.Tensor
    x_hat: torch.Tensor
    y_hat: torch.Tensor

    def scalars(self) -> dict[str, float]:
        """The numbers to log: loss, bpp (total, y, z), bits per image (y, z), mse, psnr (dB)."""
        out = {k: float(getattr(self, k).detach()) for k in ("loss", "bpp", "bpp_y", "bpp_z", "bits_y", "bits_z", "mse")}
        out["psnr"] = -10.0 * math.log10(max(out["mse"], 1e-12))
        return out


class JointPrior(nn.Module):
    """mbt2018: GDN autoencoder, hyperprior and 5×5 context model; see the module docstring."""

    def __init__(self, config: JointConfig | None = None):
        super().__init__()
        self.config = c = config or JointConfig()
        N, M, s = c.N, c.M, c.slope
        self.g_a = nn.Sequential(
            MirrorConv2d(3, N, 5, 2), GDN(N),
            MirrorConv2d(N, N, 5, 2), GDN(N),
            MirrorConv2d(N, N, 5, 2), GDN(N),
            MirrorConv2d(N, M, 5, 2),
        )
        self.g_s = nn.Sequential(
            MirrorConvTranspose2d(M, N, 5, 2), GDN(N, inverse=True),
            MirrorConvTranspose2d(N, N, 5, 2), GDN(N, inverse=True),
            MirrorConvTranspose2d(N, N, 5, 2), GDN(N, inverse=True),
            MirrorConvTranspose2d(N, 3, 5, 2),
        )
        self.h_a = nn.Sequential(
            MirrorConv2d(M, c.F, 3), nn.LeakyReLU(s),
            MirrorConv2d(c.F, c.F, 5, 2), nn.LeakyReLU(s),
            MirrorConv2d(c.F, c.G, 5, 2),
        )
        self.h_s = nn.Sequential(
            MirrorConvTranspose2d(c.G, c.F, 5, 2), nn.LeakyReLU(s),
            MirrorConvTranspose2d(c.F, c.F, 5, 2), nn.LeakyReLU(s),
            MirrorConv2d(c.F, 2 * M, 3),
        )
        self.context = MaskedConv2d(M, 2 * M, c.context_kernel, "A")
        self.entropy_parameters = nn.Sequential(
            nn.Conv2d(4 * M, 10 * M // 3, 1), nn.LeakyReLU(s),
            nn.Conv2d(10 * M // 3, 8 * M // 3, 1), nn.LeakyReLU(s),
            nn.Conv2d(8 * M // 3, 2 * M, 1),
        )
        self.z_density = FactorizedDensity(c.G, likelihood_bound=c.likelihood_bound)
        self.y_density = DiscretizedGaussian(c.scale_bound, c.likelihood_bound)
        if c.variable_rate:
            self.rate = RateEmbedding(c.lmbda_min, c.lmbda_max, c.knots, name="lmbda", symbol="λ")
            self.modulations = nn.ModuleDict({
                name: nn.ModuleList(Modulation(width, c.knots) for width in modulated_widths(getattr(self, name)))
                for name in self.MODULATED
            })

    #: The transforms a variable-rate model modulates (after each GDN / IGDN / activation).
    MODULATED = ("g_a", "g_s", "h_a", "h_s")

    # -- rate ------------------------------------------------------------------------------
    def rate_weights(self, lmbda, batch: int = 1) -> torch.Tensor | None:
        """The rate embedding (B, K) of λ (a number, or a tensor (B,)); None for a fixed-rate model.

        λ None means the model's default rate (``config.lmbda``).

        Raises:
            RecError: λ given to a fixed-rate model, or outside a variable-rate model's range.
        """
        c = self.config
        return rate_weights(self.rate if c.variable_rate else None, lmbda, c.lmbda, batch, symbol="λ")

    def _run(self, name: str, h: torch.Tensor, lmbda) -> torch.Tensor:
        """One transform at rate ``lmbda`` (modulated for a variable-rate model; exactly ``seq(h)`` otherwise)."""
        weights = self.rate_weights(lmbda, h.shape[0])
        return run_modulated(getattr(self, name), None if weights is None else self.modulations[name], h, weights)

    def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """Shapes of the coded latents of a height × width image: y (1, M, H'/16, W'/16) and
        z (1, G, H'/64, W'/64), H' × W' the image padded to ``config.factor`` (64)."""
        c = self.config
        ph, pw = -(-height // c.factor) * c.factor, -(-width // c.factor) * c.factor
        return (1, c.M, ph // 16, pw // 16), (1, c.G, ph // 64, pw // 64)

    # -- pieces ------------------------------------------------------------------------
    # ``lmbda``: the rate, a number or a tensor (B,) (variable-rate models; None: config.lmbda)
    def analyze(self, x: torch.Tensor, lmbda=None) -> torch.Tensor:
        """y = g_a(x − ½) for a padded image in [0, 1]."""
        return self._run("g_a", x - 0.5, lmbda)

    def hyper_analyze(self, y: torch.Tensor, lmbda=None) -> torch.Tensor:
        """z = h_a(y)."""
        return self._run("h_a", y, lmbda)

    def hyper_synthesize(self, z_hat: torch.Tensor, lmbda=None) -> torch.Tensor:
        """ψ = h_s(ẑ), 2M channels at the resolution of y."""
        return self._run("h_s", z_hat, lmbda)

    def synthesize(self, y_hat: torch.Tensor, lmbda=None) -> torch.Tensor:
        """x̂ = g_s(ŷ) + ½ (values near [0, 1], not clamped)."""
        return self._run("g_s", y_hat, lmbda).float() + 0.5

    def quantize_z(self, z: torch.Tensor, medians: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference quantization of z: integers q = round(z − m) and ẑ = q + m (m: the medians)."""
        m = (self.z_density.medians() if medians is None else medians).view(1, -1, 1, 1)
        q = torch.round(z.float() - m)
        return q, q + m

    def phi(self, y_hat: torch.Tensor) -> torch.Tensor:
        """φ = g_cm(ŷ) over a whole map (training path); zeros without a context model."""
        if self.config.context:
            return self.context(y_hat)
        return y_hat.new_zeros(y_hat.shape[0], 2 * self.config.M, *y_hat.shape[2:])

    def gaussian_parameters(self, psi: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ, σ (unbounded) = g_ep(ψ, φ) over whole maps (training path)."""
        mean, scale = self.entropy_parameters(torch.cat([psi, phi], dim=1)).float().chunk(2, dim=1)
        return mean, scale

    # -- the autoregressive pass (inference, both sides of the codec) -------------------------
    @torch.no_grad()
    def autoregress(
        self,
        psi: torch.Tensor,
        decide: Callable[[Step], torch.Tensor],
        schedule: str = "wavefront",
        networks: StepNetworks | None = None,
    ) -> AutoregressiveResult:
        """Run g_cm and g_ep position by position, as a decoder must.

        At every step of the schedule, the Gaussian parameters of its positions are
        computed from the local causal windows of the ŷ decoded so far (zeros
        elsewhere) and ψ at those positions; ``decide(step)`` returns the integers
        q (B, K, M) for them (the encoder: round(y − μ); the decoder: the symbols it
        decodes), and ŷ = q + μ is written back. Encoder and decoder call this same
        function, so their μ and σ agree bit for bit on one machine.

        Args:
            psi: h_s(ẑ), (B, 2M, h, w), float32.
            decide: the step's integers from its (bounded) Gaussian parameters.
            schedule: "wavefront" (3(h−1) + w steps) or "raster" (h·w steps).
            networks: g_cm and g_ep as computed (default :meth:`step_networks`, float32; the
                codec passes the fixed-point ones, which agree on every machine).
        """
        if schedule not in SCHEDULES:
            raise RecError(f"unknown schedule {schedule!r}: expected one of {sorted(SCHEDULES)}")
        nets = networks or self.step_networks()
        dt = nets.dtype
        psi = psi.to(dt).contiguous()
        b, _, h, w = psi.shape
        m = self.config.M
        k = self.config.context_kernel
        r = k // 2
        taps = self.context.taps
        dr, dc = taps // k, taps % k  # offsets of the kept taps in the window
        w_ctx, b_ctx = nets.context
        slope = self.config.slope
        # ŷ with a zero border of r on every side: window (i, j) starts at (i, j)
        buf = torch.zeros(b, m, h + 2 * r, w + 2 * r, dtype=dt)
        mean_map = torch.zeros(b, m, h, w, dtype=dt)
        scale_map = torch.zeros(b, m, h, w, dtype=dt)
        sym_map = torch.zeros(b, m, h, w, dtype=dt)
        psi_t = psi.permute(0, 2, 3, 1)  # (B, h, w, 2M)
        for index, (rows, cols) in enumerate(SCHEDULES[schedule](h, w)):
            kk = rows.numel()
            win = buf[:, :, rows[:, None] + dr[None, :], cols[:, None] + dc[None, :]]  # (B, M, K, T)
            win = win.permute(0, 2, 1, 3).reshape(b * kk, -1)
            phi = nets.settle(F.linear(nets.settle(win), w_ctx, b_ctx))
            hdn = torch.cat([psi_t[:, rows, cols].reshape(b * kk, -1), phi], dim=1)
            for n, (wt, bs) in enumerate(nets.layers):
                hdn = nets.settle(F.linear(hdn, wt, bs))
                if n < len(nets.layers) - 1:
                    hdn = nets.settle(F.leaky_relu(hdn, slope))
            mean, scale = hdn.view(b, kk, 2 * m).chunk(2, dim=2)
            scale = self.y_density.bounded_scale(scale)
            q = decide(Step(index, rows, cols, mean, scale)).to(dt)
            buf[:, :, rows + r, cols + r] = (q + mean).permute(0, 2, 1)
            mean_map[:, :, rows, cols] = mean.permute(0, 2, 1)
            scale_map[:, :, rows, cols] = scale.permute(0, 2, 1)
            sym_map[:, :, rows, cols] = q.permute(0, 2, 1)
        y_hat = buf[:, :, r : r + h, r : r + w].contiguous()
        return AutoregressiveResult(y_hat, mean_map, scale_map, sym_map)

    def step_networks(self, fixed_point: bool = False) -> StepNetworks:
        """g_cm (its kept taps as a matrix) and g_ep's 1×1 convolutions as (matrix, bias) pairs, in
        float32 or in fixed point (:mod:`rec.models.fixed_point`)."""
        layers = [layer for layer in self.entropy_parameters if isinstance(layer, nn.Conv2d)]
        context = (self.context.local_weight().float(), self.context.bias.float())
        if not self.config.context:  # φ ≡ 0 whatever weights the file holds
            context = tuple(torch.zeros_like(t) for t in context)
        pairs = tuple((l.weight.float().flatten(1), l.bias.float()) for l in layers)
        return StepNetworks.exact(context, pairs) if fixed_point else StepNetworks(context, pairs, torch.float32)

    def fixed_point_hyper_synthesis(self, lmbda=None) -> FixedPointSequential:
        """h_s at rate ``lmbda`` in fixed point: ψ with the same bits on every machine."""
        if not self.config.variable_rate:
            return FixedPointSequential(self.h_s)
        self.rate_weights(lmbda)  # refuses a λ outside the range
        lmbda = self.rate.check(self.config.lmbda if lmbda is None else lmbda)
        return FixedPointSequential(self.h_s, self.modulations["h_s"], fixed_point_rate_weights(self.rate, lmbda))

    def quantize_y(self, y: torch.Tensor, psi: torch.Tensor, schedule: str = "wavefront") -> AutoregressiveResult:
        """Inference quantization ŷ_i = round(y_i − μ_i) + μ_i, sequentially (encoder side)."""
        y_t = y.float().permute(0, 2, 3, 1)  # (B, h, w, M)
        return self.autoregress(psi, lambda s: torch.round(y_t[:, s.rows, s.cols] - s.mean), schedule)

    # -- training objective -------------------------------------------------------------
    def latents(self, x: torch.Tensor, noise: bool, lmbda: torch.Tensor | None = None) -> JointLatents:
        """ŷ, ẑ and the entropy model of ŷ for a batch in [0, 1]: with ``noise`` the additive-uniform-noise
        proxy of training, else the inference quantization (ẑ around the medians, ŷ around the predicted
        means by the sequential pass: what the codec writes). ``lmbda``: one λ per image of a variable-rate model."""
        # float32 latents: under bf16 autocast, y + U(−½, ½) in bf16 would be quantized
        # to steps of 1/4 already for |y| ≥ 32
        y = self.analyze(x, lmbda).float()
        z = self.hyper_analyze(y, lmbda).float()
        if noise:
            z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            mean, scale = self.gaussian_parameters(self.hyper_synthesize(z_hat, lmbda), self.phi(y_hat))
            return JointLatents(y_hat, z_hat, mean, scale)
        _, z_hat = self.quantize_z(z)
        ar = self.quantize_y(y, self.hyper_synthesize(z_hat, lmbda))
        return JointLatents(ar.y_hat, z_hat, ar.mean, ar.scale)

    def element_bits(self, lat: JointLatents) -> tuple[torch.Tensor, torch.Tensor]:
        """−log₂ p of every element of ŷ and of ẑ (shapes of ŷ and ẑ): the rate the entropy coder approaches."""
        return (-torch.log2(self.y_density.likelihood(lat.y_hat, lat.mean, lat.scale)),
                -torch.log2(self.z_density.likelihood(lat.z_hat)))

    def forward(self, x: torch.Tensor, noise: bool | None = None, lmbda: torch.Tensor | None = None) -> JointLosses:
        """Rate-distortion loss of a batch in [0, 1] whose size is a multiple of 64.

        ``noise`` (default: ``self.training``) selects the additive-uniform-noise
        proxy; without it the inference quantization is used (ẑ around the
        medians, ŷ around the predicted means by the sequential pass), so the
        rate is the model's estimate of what the codec writes. A variable-rate
        model takes one λ per image (``lmbda``, shape (B,); default ``config.lmbda``)
        and its loss is the batch mean of bpp_i + λ_i·255²·mse_i.
        """
        noise = self.training if noise is None else noise
        b, _, h, w = x.shape
        pixels = b * h * w
        if self.config.variable_rate:
            lmbda = torch.full((b,), self.config.lmbda, dtype=torch.float64) if lmbda is None else lmbda.double()
            if lmbda.shape != (b,):
                raise RecError(f"λ must be one value per image, shape ({b},), got {tuple(lmbda.shape)}")
        else:
            self.rate_weights(lmbda)  # a fixed-rate model refuses a λ
        lat = self.latents(x, noise, lmbda)
        x_hat = self.synthesize(lat.y_hat, lmbda)
        element_bits_y, element_bits_z = self.element_bits(lat)
        if lmbda is None:  # fixed rate: the original objective, computed as it always was
            bits_y, bits_z = element_bits_y.sum(), element_bits_z.sum()
            mse = torch.mean((x.float() - x_hat) ** 2)
            bpp_y, bpp_z = bits_y / pixels, bits_z / pixels
            bpp = bpp_y + bpp_z
            loss = bpp + self.config.lmbda * 255.0**2 * mse
            return JointLosses(loss, bpp, bpp_y, bpp_z, bits_y / b, bits_z / b, mse, x_hat, lat.y_hat)
        # per image: bits_i, mse_i, and the loss at its own λ_i
        image_bits_y, image_bits_z = element_bits_y.flatten(1).sum(1), element_bits_z.flatten(1).sum(1)
        image_mse = ((x.float() - x_hat) ** 2).flatten(1).mean(1)
        bits_y, bits_z = image_bits_y.sum(), image_bits_z.sum()
        bpp_y, bpp_z = bits_y / pixels, bits_z / pixels
        bpp = bpp_y + bpp_z
        image_bpp = (image_bits_y + image_bits_z) / (h * w)
        loss = (image_bpp + lmbda.to(x_hat.device, torch.float32) * 255.0**2 * image_mse).mean()
        return JointLosses(loss, bpp, bpp_y, bpp_z, bits_y / b, bits_z / b, image_mse.mean(), x_hat, lat.y_hat)
