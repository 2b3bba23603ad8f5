"""Conditional probability models for deep image compression (Mentzer et al. 2018, "mentzer2018").

Mentzer, Agustsson, Tschannen, Timofte and Van Gool, *Conditional Probability Models for Deep Image Compression*, CVPR 2018, section 3 and Figs. 2-3::

    x ─► normalize ─► E: conv5 s2 N/2, conv5 s2 N, residual body, conv5 s2 (M + 1) ─► z (M ch), y (1 ch)   (x/8)
    importance map (Eq. 14): y ← M·sigmoid(y);  m[k] = clamp(y − k, 0, 1), k = 0 … M − 1
         z ← z ⊙ m            (the authors' code; zero wherever ⌈m⌉ is, see "Training" below)
    quantization (Eqs. 2-4): ẑ = the nearest of L learned centres c_1 … c_L;
         backward through z̃ = Σ_j softmax(−σ(z − c_j)²)_j c_j  (σ = 1)
    P(ẑ) ─► logits of every symbol over the L centres, raster order of (c, y, x)   (rec.models.context3d)
    ẑ ─► D: deconv3 u2 N, residual body, deconv5 u2 N/2, deconv5 u2 3 ─► denormalize ─► x̂

Every convolution but the last of E and of D is followed by a normalization N and a ReLU
(Fig. 2: N is batch norm); a residual body is ``blocks`` blocks of ``units`` residual units
(conv3-N-ReLU-conv3-N plus the input), a skip around each block, then one more unit without
ReLU, plus the body's input. The default N is GDN in E and IGDN in D, without the ReLU
(``norm = "gdn"``; Fig. 2's is ``norm = "batchnorm"``): at this project's budget (batches of 4
crops, thousands of steps, not the paper's 30 and 600 000), the batch-norm autoencoder learns
far too slowly. Trained for MSE alone on the same crops and steps (no rate term), it reached
20.8 dB on validation crops after 500 steps against 26.6 dB with GDN (19.2 against 24.6 dB
with z quantized to the 6 centres; 22.7 dB with ReLU and no normalization), and the
batch-norm model of 10 000 steps with the full objective ended at 25.2 dB and 0.52 bpp on the
validation photos, and its MS-SSIM fine-tune reached Kodak MS-SSIM 0.926 at 0.39 bpp (JPEG 2000:
0.927 at 0.32 bpp).
Fig. 2 (as the authors' code, github.com/fab-jul/imgcomp-cvpr, builds it) has N = 128 and 5
blocks of 3 units; the default here is N = 64 and 3 blocks of 2 units (1.4 M weights, 2.7 MB
in fp16): the paper's 9 M weights would not fit the zoo's 10 MB per model, and this width
trains at about the speed of the other seed models on the project's 2-core CPU. P keeps the
paper's width 24. Normalize uses the authors' channel mean and variance ("obtained from a
subset of the training set", ImageNet). y is bounded to (0, M) by a sigmoid (as the authors'
code does) so that the mask's gradient never dies; the depth d = #{k : ⌈m[k]⌉ = 1} = ⌈y⌉
(1 … M) is then the number of coded channels of a location. Eq. 3 writes the distance as
‖z − c_j‖; for a scalar, |z − c_j| makes the weights depend on z only through differences
that are constant outside [min c, max c], so that no gradient reaches a value beyond the
outer centres: the soft assignment uses the squared distance, as the authors' code does.
The centres start evenly spaced over [−2, 2] (the authors' initial range).

Costs, in bits (log2):

    C(ẑ)  = Σ_i −log2 P_{i, I(ẑ_i)}              coding cost, every symbol (Eq. 13)
    MC(ẑ) = Σ_i −⌈m_i⌉ log2 P_{i, I(ẑ_i)}        masked coding cost (Eqs. 18-19): exactly the symbols
                                                  the codec codes (c < d); backward ∂MC/∂m_i = −log2 P_i
                                                  (⌈·⌉ with the identity backward), P's input ẑ constant
    L_{E,D,Q} = d(x, x̂) + β · max(MC/pixels, R_t) (Eq. 20, with the paper's clipping max(t, βH) of
                + R                               section 4: no rate gradient below the target R_t [bpp];
                                                  R keeps z within the centres' range, see outside_centres)
    L_P = MC / coded symbols                      (P's own loss, bits per coded symbol; see below)

d is 100·(1 − MS-SSIM) (the paper's) or 255²·MSE. The two losses are trained concurrently
(section 3.3) from one backward pass of their sum: MC is computed with P's weights and its
input ẑ as constants, so that its gradient reaches E through the importance map alone; P's
loss with ẑ as a constant (its gradient reaches P only). P learns from the coded symbols alone
(Eq. 18's estimate of H(ẑ | ⌈m⌉), the bits the codec writes), not from the cross-entropy C of
every voxel (Eq. 7): the masked voxels, most of the volume, are known to the decoder from the
depth map and never coded, and learning them cost the coded ones: with C, P spent 2.7-3.6 bits
on a coded symbol (more than log2 L = 2.58) after 500 steps and the map kept 8 of 32 channels
at 0.35 bpp; with MC, 1.6 bits and 14 channels, and MS-SSIM 0.80 against 0.76 at step 400.

Training, as the authors' code (github.com/fab-jul/imgcomp-cvpr) does it where it departs
from the paper's text: z is masked by m itself, not by ⌈m⌉ with an identity backward, and P's
input is a constant in the rate term ("it prevents multiple gradients flowing into the
heatmap"). With the paper's ⌈m⌉ forward and MC's gradient also flowing through P's input
into ẑ, the map shut 31 of 32 channels within 20-120 steps of training and never reopened
them (depth 1, 0.04 bpp), also after a warm-up with every channel coded; with both changes
(not tried one at a time) it holds 7-14 coded channels on average at 0.35 bpp, at learning
rates of 1e-4 and 5e-4 alike.
Masking by m keeps the symbols the codec codes exactly those MC counts: m_k = 0, hence
z_k·m_k = 0 → Q(0), wherever ⌈m_k⌉ = 0; the transition channel (k < y < k + 1) carries
z_k·(y − k). H(⌈m⌉) is not in the loss (the paper's
Eq. 17 treats it as constant); :class:`MentzerLosses` reports an estimate of it (the
empirical entropy of the depths), the codec codes the depth map (rec.codecs.mentzer2018).

Footnote 4: ⌈m⌉ is recoverable from ẑ as the trailing zero symbols Q(0) of each column
(:func:`depth_from_symbols` gives a depth ≤ d that masks ẑ to itself). The codec codes d
instead, so that the symbols it codes are exactly those MC counts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rec.errors import RecError
from rec.models.context3d import ContextModel
from rec.models.layers import GDN, MirrorConv2d, MirrorConvTranspose2d

__all__ = ["DISTORTIONS", "NORMS", "MentzerConfig", "MentzerLosses", "ContextAutoencoder", "depth_from_symbols"]

DISTORTIONS = ("ms-ssim", "mse")
NORMS = ("gdn", "batchnorm")
_MEAN = (121.85369873 / 255, 113.58860779 / 255, 100.63715363 / 255)  # Normalize / Denormalize of Fig. 2: the authors'
_STD = (4746.37695312**0.5 / 255, 4454.13964844**0.5 / 255, 4812.234375**0.5 / 255)  # statistics of their ImageNet subset
_LN2 = math.log(2.0)


@dataclass(frozen=True)
class MentzerConfig:
    """Architecture and objective of a Mentzer 2018 model.

    Attributes:
        kind: always "mentzer2018".
        N: channels of the residual bodies of E and D (the first conv of E and the last of D: N/2). Paper: 128.
        M: latent channels (the paper's K), without the importance map's channel.
        L: quantization centres (paper: 6).
        context: channels of P's hidden layers (paper: 24).
        blocks, units: residual blocks per body and residual units per block (paper: 5, 3).
        importance_map: E's extra channel masks z (section 3.4); off: every channel is coded.
        sigma: σ of the soft assignment (Eq. 3, with the squared distance; paper: 1).
        distortion: "ms-ssim" (d = 100·(1 − MS-SSIM), the paper's) or "mse" (d = 255²·MSE).
        beta: β of Eq. 20, per bpp of the masked coding cost.
        target_bpp: R_t, the clipping of section 4: the rate term is β·max(MC/pixels, R_t)
            (0: Eq. 20 as is).
        context_lr_scale: P's learning rate relative to the autoencoder's (the paper: 1e-4 against
            4e-3 at batch 30; here the autoencoder's scaled to the batch, P's kept).
        norm: the normalization of E and D: "batchnorm" (Fig. 2: batch norm then ReLU) or "gdn"
            (GDN in E, IGDN in D, no ReLU: the transforms of Ballé et al., which learn far faster
            at this project's budget; see the module docstring).
    """

    kind: str = "mentzer2018"
    N: int = 64
    M: int = 32
    L: int = 6
    context: int = 24
    blocks: int = 3
    units: int = 2
    importance_map: bool = True
    sigma: float = 1.0
    distortion: str = "ms-ssim"
    beta: float = 10.0
    target_bpp: float = 0.0
    context_lr_scale: float = 0.2
    norm: str = "gdn"

    def __post_init__(self):
        if self.kind != "mentzer2018":
            raise RecError(f"a MentzerConfig is of kind 'mentzer2018', got {self.kind!r}")
        if not (2 <= self.N <= 1024 and self.N % 2 == 0):
            raise RecError("N must be an even width in 2 .. 1024")
        if not 1 <= self.M <= 255:
            raise RecError("M (latent channels) must be in 1 .. 255")
        if not 2 <= self.L <= 64:
            raise RecError("L (centres) must be in 2 .. 64")
        if not 1 <= self.context <= 256:
            raise RecError("the context model's width must be in 1 .. 256")
        if not (0 <= self.blocks <= 32 and 1 <= self.units <= 32):
            raise RecError("blocks must be in 0 .. 32 and units in 1 .. 32")
        if self.norm not in NORMS:
            raise RecError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.distortion not in DISTORTIONS:
            raise RecError(f"distortion must be one of {DISTORTIONS}, got {self.distortion!r}")
        if not (self.sigma > 0 and self.beta >= 0 and self.target_bpp >= 0 and self.context_lr_scale > 0):
            raise RecError("σ and P's learning-rate scale must be positive, β and the target non-negative")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def rate_range(self) -> None:
        """None: a fixed-rate model (the interface of the variable-rate configs)."""
        return None

    @property
    def factor(self) -> int:
        """Downsampling of z: images are padded to a multiple of it."""
        return 8


@dataclass
class MentzerLosses:
    """One evaluation of a batch; rates per pixel of the (padded) input, bits per image.

    Attributes:
        loss: d + β·max(bpp_mc, R_t) + ce + outside (ce trains P only; see the module docstring).
        bpp: bpp_mc + bpp_map.
        bpp_mc, bits_mc: the masked coding cost MC (Eq. 19): the coded symbols under P.
        bits_ce: the coding cost C (Eq. 13) of every symbol, masked ones included.
        bpp_map, bits_map: the depths' empirical entropy × locations (an estimate of the importance
            map's cost; no gradient).
        ce: P's loss, MC per coded symbol (bits).
        distortion: d of the config's distortion; mse (values in [0, 1]); ms_ssim (None unless d is MS-SSIM).
        x_hat: the reconstruction (not clamped).
        z_hat: ẑ as D sees it (the centres' values; straight-through gradients).
        symbols: (B, M, h, w) the centre indices; depth: (B, h, w) the coded channels of each location.
        channel_bits: (M,) MC per channel, summed over the batch.
        outside: R of :meth:`ContextAutoencoder.outside_centres` (in the loss).
    """

    loss: torch.Tensor
    bpp: torch.Tensor
    bpp_mc: torch.Tensor
    bpp_map: torch.Tensor
    bits_mc: torch.Tensor
    bits_ce: torch.Tensor
    bits_map: torch.Tensor
    ce: torch.Tensor
    distortion: torch.Tensor
    mse: torch.Tensor
    ms_ssim: torch.Tensor | None
    x_hat: torch.Tensor
    z_hat: torch.Tensor
    symbols: torch.Tensor
    depth: torch.Tensor
    channel_bits: torch.Tensor
    outside: torch.Tensor

    def scalars(self) -> dict[str, float]:
        """loss, bpp (total, MC, map), bits per image (MC, C, map), ce, d, mse, psnr (dB), ms_ssim, mean depth."""
        keys = ("loss", "bpp", "bpp_mc", "bpp_map", "bits_mc", "bits_ce", "bits_map", "ce", "distortion", "mse", "outside")
        out = {k: float(getattr(self, k).detach()) for k in keys}
        out["psnr"] = -10.0 * math.log10(max(out["mse"], 1e-12))
        if self.ms_ssim is not None:
            out["ms_ssim"] = float(self.ms_ssim.detach())
        out["depth"] = float(self.depth.float().mean())
        return out


def depth_from_symbols(symbols, zero: int):
    """Footnote 4: the depth of each location recovered from the symbols, 1 + the last channel whose
    symbol is not the zero symbol (0 if none); (…, M, h, w) → (…, h, w), numpy or torch alike."""
    m = symbols.shape[-3]
    if isinstance(symbols, torch.Tensor):
        rank = torch.arange(1, m + 1, device=symbols.device).view(m, 1, 1)
        return ((symbols != zero) * rank).amax(dim=-3)
    rank = np.arange(1, m + 1).reshape(m, 1, 1)
    return ((np.asarray(symbols) != zero) * rank).max(axis=-3)


def _norm(kind: str, n: int, inverse: bool) -> nn.Module:
    """Fig. 2's normalization of ``n`` channels: batch norm, or GDN (IGDN in the decoder: ``inverse``)."""
    return nn.BatchNorm2d(n) if kind == "batchnorm" else GDN(n, inverse=inverse)


def _act(kind: str) -> nn.Module:
    """The nonlinearity after a normalization: ReLU with batch norm; none with GDN, which is one."""
    return nn.ReLU() if kind == "batchnorm" else nn.Identity()


class _Unit(nn.Module):
    """A residual unit: x + N(conv3(act(N(conv3(x))))) (without act: ``relu=False``); N is :func:`_norm`."""

    def __init__(self, n: int, norm: str, inverse: bool, relu: bool = True):
        super().__init__()
        self.f = nn.Sequential(MirrorConv2d(n, n, 3), _norm(norm, n, inverse), _act(norm) if relu else nn.Identity(),
                               MirrorConv2d(n, n, 3), _norm(norm, n, inverse))

    def forward(self, x):
        return x + self.f(x)


class _Block(nn.Module):
    """Residual units with a skip around them."""

    def __init__(self, n: int, units: int, norm: str, inverse: bool):
        super().__init__()
        self.units = nn.Sequential(*[_Unit(n, norm, inverse) for _ in range(units)])

    def forward(self, x):
        return x + self.units(x)


class _Body(nn.Module):
    """The residual body of Fig. 2: blocks, then a unit without ReLU, plus the body's input."""

    def __init__(self, n: int, blocks: int, units: int, norm: str, inverse: bool):
        super().__init__()
        self.f = nn.Sequential(*[_Block(n, units, norm, inverse) for _ in range(blocks)],
                               _Unit(n, norm, inverse, relu=False))

    def forward(self, x):
        return x + self.f(x)


def _conv_norm(conv: nn.Module, n: int, norm: str, inverse: bool) -> list[nn.Module]:
    return [conv, _norm(norm, n, inverse), _act(norm)]


class ContextAutoencoder(nn.Module):
    """The mentzer2018 model: autoencoder, importance map, learned centres and context model P; see the module docstring."""

    def __init__(self, config: MentzerConfig | None = None):
        super().__init__()
        self.config = c = config or MentzerConfig()
        n, half = c.N, c.N // 2
        self.encoder = nn.Sequential(
            *_conv_norm(MirrorConv2d(3, half, 5, 2), half, c.norm, False),
            *_conv_norm(MirrorConv2d(half, n, 5, 2), n, c.norm, False),
            _Body(n, c.blocks, c.units, c.norm, False),
            MirrorConv2d(n, c.M + int(c.importance_map), 5, 2),
        )
        self.decoder = nn.Sequential(
            *_conv_norm(MirrorConvTranspose2d(c.M, n, 3, 2), n, c.norm, True),
            _Body(n, c.blocks, c.units, c.norm, True),
            *_conv_norm(MirrorConvTranspose2d(n, half, 5, 2), half, c.norm, True),
            MirrorConvTranspose2d(half, 3, 5, 2),
        )
        self.centers = nn.Parameter(torch.linspace(-2.0, 2.0, c.L))
        self.context = ContextModel(c.L, c.context)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, int, int, int]]:
        """Shape of the symbol volume of a height × width image: (1, M, H'/8, W'/8), H' × W' padded to 8."""
        f = self.config.factor
        return ((1, self.config.M, -(-height // f), -(-width // f)),)

    # -- pieces ------------------------------------------------------------------------
    def analyze(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """E of a padded image in [0, 1]: z (B, M, h, w) float32 and the importance map y ∈ (0, M) (B, h, w), or None."""
        out = self.encoder((x - self.mean) / self.std).float()
        m = self.config.M
        if not self.config.importance_map:
            return out, None
        return out[:, :m], m * torch.sigmoid(out[:, m])

    def importance_mask(self, y: torch.Tensor | None, shape) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 14 of an importance map y, each (B, M, h, w) float32: m (z's mask), ⌈m⌉ with the identity
        backward (exactly 0 / 1 forward: MC's weights), and the depth of each location (B, h, w) int64;
        all ones and M without an importance map."""
        b, m, h, w = shape
        if y is None:
            ones = torch.ones(shape, device=self.centers.device)
            return ones, ones, torch.full((b, h, w), m, dtype=torch.long, device=ones.device)
        k = torch.arange(m, device=y.device, dtype=y.dtype).view(1, m, 1, 1)
        soft = torch.clamp(y.unsqueeze(1) - k, 0.0, 1.0)
        hard = torch.ceil(soft.detach())
        return soft, hard + (soft - soft.detach()), hard.sum(1).long()

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Q of Eq. 2: the index of the nearest centre of every value (ties: the smaller centre)."""
        c = self.centers.detach().float()
        order = torch.argsort(c, stable=True)
        s = c[order]
        return order[torch.bucketize(z.float().contiguous(), (s[1:] + s[:-1]) / 2)]

    def zero_symbol(self) -> int:
        """Q(0): the symbol of every masked value."""
        return int(self.nearest(torch.zeros(1, device=self.centers.device)))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ẑ (the centres' values, forward exactly; backward the soft assignment of Eq. 3, as Eq. 4) and the symbols."""
        symbols = self.nearest(z)
        c = self.centers.float()
        hard = c.detach()[symbols]
        if not torch.is_grad_enabled():
            return hard, symbols
        weights = torch.softmax(-self.config.sigma * (z.unsqueeze(-1) - c) ** 2, dim=-1)
        soft = (weights * c).sum(-1)
        return hard + (soft - soft.detach()), symbols

    def synthesize(self, z_hat: torch.Tensor) -> torch.Tensor:
        """x̂ = D(ẑ), denormalized (values near [0, 1], not clamped)."""
        return self.decoder(z_hat).float() * self.std + self.mean

    def adapt_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weights of a model with fewer latent channels K made to fit this one (a fine-tune's init).

        Section 4 adapts K per rate ("we adapt the target bitrate t and the number of channels K"):
        a wider model starts from a narrower one's state. The first K channels of E's last
        convolution and of D's first keep their weights, the importance map's channel moves to its
        new index M (the same sigmoid, so the depth y = M·sigmoid(·) scales with M), and the new
        channels start with E's initialization and zero weights in D: D(ẑ) is the narrow model's
        D of ẑ's first K channels until training moves them. Any other state is returned as it is.
        """
        last, first = f"encoder.{len(self.encoder) - 1}", "decoder.0.weight"
        if first not in state or not 0 < state[first].shape[0] < self.config.M:
            return state
        k, m, own = state[first].shape[0], self.config.M, self.state_dict()
        state = dict(state)
        for name in (f"{last}.weight", f"{last}.bias"):
            wide = own[name].clone()
            wide[:k] = state[name][:k]
            if self.config.importance_map and state[name].shape[0] == k + 1:
                wide[m] = state[name][k]
            state[name] = wide
        wide = torch.zeros_like(own[first])
        wide[:k] = state[first]
        state[first] = wide
        return state

    @torch.no_grad()
    def encode_latents(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The codec's input: the symbols (B, M, h, w) and depths (B, h, w) of a padded image, as in training."""
        z, y = self.analyze(x)
        mask, _, depth = self.importance_mask(y, z.shape)
        return self.nearest(z * mask), depth

    def bits(self, z_hat: torch.Tensor, symbols: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """−log2 P_{i, I(ẑ_i)} of every voxel, (B, M, h, w), in float32; ``detach``: P's weights as constants."""
        with torch.autocast(z_hat.device.type, enabled=False):
            logits = self.context(z_hat.float(), detach=detach)
            return F.cross_entropy(logits, symbols, reduction="none") / _LN2

    # -- training objective -------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> MentzerLosses:
        """The losses of a batch in [0, 1] whose size is a multiple of 8 (section 3.5's six steps)."""
        c = self.config
        b, _, height, width = x.shape
        pixels = b * height * width
        z, y = self.analyze(x)
        with torch.autocast(x.device.type, enabled=False):
            mask, coded, depth = self.importance_mask(y, z.shape)
            z_hat, symbols = self.quantize(z * mask)
        x_hat = self.synthesize(z_hat)
        bits = self.bits(z_hat.detach(), symbols, detach=True)  # MC's: constants; its gradient is the mask's
        masked = coded * bits
        bits_mc = masked.sum()
        bits_p = self.bits(z_hat.detach(), symbols) if torch.is_grad_enabled() else bits  # C's: gradient to P
        hard = coded.detach()
        ce = (hard * bits_p).sum() / hard.sum().clamp(min=1.0)  # P's loss: the coded symbols' bits (Eq. 18), per symbol
        with torch.autocast(x.device.type, enabled=False):
            xf = x.float()
            mse = torch.mean((xf - x_hat) ** 2)
            msssim = None
            if c.distortion == "ms-ssim":
                msssim = _ms_ssim(xf, x_hat)
                d = 100.0 * (1.0 - msssim)
            else:
                d = 255.0**2 * mse
        bpp_mc = bits_mc / pixels
        rate = c.beta * torch.clamp(bpp_mc, min=c.target_bpp)
        bits_map = _map_bits(depth, c.M).to(bits_mc.device)
        outside = self.outside_centres(z)  # z, not z·m: the map must not close to escape R
        return MentzerLosses(d + rate + ce + outside, bpp_mc + bits_map / pixels, bpp_mc, bits_map / pixels, bits_mc / b,
                             bits_p.detach().sum() / b, bits_map / b, ce, d, mse, msssim, x_hat, z_hat, symbols, depth,
                             masked.detach().sum(dim=(0, 2, 3)), outside)

    def outside_centres(self, z: torch.Tensor) -> torch.Tensor:
        """R = Σ max(0, |z| − max |c|)² per image: zero inside the centres' range, so it only
        brings back values that left it. Beyond the outer centres the soft assignment's gradient
        fades (exponentially in the squared distance), Adam rescales the faint push that remains
        into full steps, and z drifts away until its symbols are the two outer centres: without R
        the MSE base had |z| up to 110 (channel stds of 5-17) after 900 steps, 85 % of its
        symbols at ±2.09 and 18.5 dB (with R, z stays in range; the quality did not rise by that
        alone). It is taken of z before the mask: of z·m it shut the map (depth 1 within 100
        steps), the cheapest way to zero the excess."""
        reach = self.centers.detach().abs().max()
        return (z.float().abs() - reach).clamp(min=0.0).pow(2).sum() / z.shape[0]


def _ms_ssim(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of a batch (five scales: sides above 160 px)."""
    from pytorch_msssim import ms_ssim

    if min(x.shape[-2:]) <= 160:
        raise RecError(f"the ms-ssim distortion needs images larger than 160 px a side, got {tuple(x.shape[-2:])}: "
                       "use train.crop ≥ 168 or distortion = \"mse\"")
    return ms_ssim(x, x_hat, data_range=1.0)


@torch.no_grad()
def _map_bits(depth: torch.Tensor, m: int) -> torch.Tensor:
    """The depths' empirical entropy × locations (bits, float32): what a zeroth-order code of the map costs."""
    counts = torch.bincount(depth.flatten().cpu(), minlength=m + 1).double()
    freq = counts[counts > 0] / counts.sum()
    return ((freq * -torch.log2(freq)).sum() * depth.numel() + 0.0).float()  # + 0.0: no −0
