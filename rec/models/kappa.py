"""KappaNet: level-1 KL budgets from z2 and β in integer arithmetic (issue 16, item 2).

Ballé, Johnston & Minnen 2019 (*Integer networks for data compression with latent-variable
models*): a network whose every operation is on integers gives identical outputs on every
machine, so the decoder may take discrete decisions from it. KappaNet maps the coded z2
(bit-exact on both sides: it is rebuilt from shared randomness) and β (from the file
header) to one budget level per level-1 dimension, κ = level / :data:`LEVELS_PER_BIT` bits,
0 ≤ level ≤ :data:`MAX_LEVEL`. The iso-KL posterior (:mod:`rec.models.isokl`) spends exactly
κ in each dimension, so the coder's layout follows from the levels alone.

Network (activations integers in [0, 255] read as value/16, weights integers read as
value/2^7, every layer ``y = clip(floor((W ∗ x + b) / 2^7), 0, 255)``)::

    [round(16 z2) clipped to ±127, ⌊16 log2 β⌋ (piecewise linear, from the float's bits)]
      ─► conv3 64 ─► convᵀ k4 s4 64 ─► conv3 64 ─► conv1 M, clipped to [0, MAX_LEVEL]

Inference (:meth:`KappaNet.levels`) runs the convolutions in float64 on integer values with
integer weights: every partial sum stays far below 2^53, so it is exact whatever the order
of summation, the thread count or the BLAS. Training (:meth:`KappaNet.forward`) runs the same
graph in float with straight-through rounding, and returns κ in bits; the final clip lets
gradients through from below, so a budget at 0 can come back.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rec.samplers.budget import LEVELS_PER_BIT  # the budget sampler's unit: levels are sixteenths of a bit

__all__ = ["KappaNet", "LEVELS_PER_BIT", "MAX_LEVEL", "beta_feature"]

MAX_LEVEL = 10 * LEVELS_PER_BIT  # at most 10 bits of KL in one dimension
_ACT = 16  # activation scale: integer value v means v / 16
_W = 128  # weight scale: integer weight w means w / 128
_MAX_ACT = 255
_MAX_WEIGHT = 1 << 15


def beta_feature(beta) -> torch.Tensor:
    """⌊16 log2 β⌋ with log2 linear between powers of two, from the float64's exponent and mantissa
    (exact, monotone in β). ``beta`` a number or a tensor (B,); returns float64 (B,)."""
    b = torch.as_tensor(beta, dtype=torch.float64).reshape(-1)
    mantissa, exponent = torch.frexp(b)  # b = m 2^e, m in [0.5, 1)
    return (exponent.double() - 1) * _ACT + torch.floor((2 * mantissa - 1) * _ACT)


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return x + (q - x).detach()


class _OneSidedClip(torch.autograd.Function):
    """clip to [0, hi]; below 0 the gradient still flows when it would raise the value."""

    @staticmethod
    def forward(ctx, x, hi):
        ctx.save_for_backward(x)
        ctx.hi = hi
        return x.clamp(0, hi)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        keep = ((x >= 0) & (x <= ctx.hi)) | ((x < 0) & (grad < 0)) | ((x > ctx.hi) & (grad > 0))
        return grad * keep, None


class KappaNet(nn.Module):
    """Level-1 budgets from z2 and β (module docstring). ``channels``: level-1 channels M."""

    def __init__(self, latent: int, channels: int, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(latent + 1, width, 3, padding=1)
        self.up = nn.ConvTranspose2d(width, width, 4, stride=4)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.out = nn.Conv2d(width, channels, 1)
        for layer in (self.conv1, self.up, self.conv2, self.out):
            nn.init.normal_(layer.weight, std=0.5 / math.sqrt(layer.weight[0].numel()))
            nn.init.zeros_(layer.bias)
        nn.init.constant_(self.out.bias, 2.0)  # start near 2 bits per dimension

    def _layers(self):
        return ((self.conv1, F.conv2d, 1), (self.up, F.conv_transpose2d, 4), (self.conv2, F.conv2d, 1),
                (self.out, F.conv2d, 1))

    @staticmethod
    def _input(z2: torch.Tensor, beta) -> torch.Tensor:
        b, _, h, w = z2.shape
        x = torch.round(z2.double() * _ACT).clamp(-127, 127)
        feature = beta_feature(beta).to(z2.device).expand(b) if not torch.is_tensor(beta) or beta.dim() == 0 \
            else beta_feature(beta).to(z2.device)
        return torch.cat([x, feature.reshape(b, 1, 1, 1).expand(b, 1, h, w)], dim=1)

    def forward(self, z2: torch.Tensor, beta) -> torch.Tensor:
        """κ in bits (B, M, 4h, 4w), float, differentiable (straight-through rounding)."""
        x = self._input(z2, beta).float()
        layers = self._layers()
        for i, (layer, op, stride) in enumerate(layers):
            w = _ste(layer.weight * _W, torch.round(layer.weight * _W))
            b = _ste(layer.bias * _W * _ACT, torch.round(layer.bias * _W * _ACT))
            kw = {"stride": stride} if stride > 1 else {"padding": layer.padding}
            acc = op(x, w, b, **kw) / _W
            x = _ste(acc, torch.floor(acc))
            x = x.clamp(0, _MAX_ACT) if i < len(layers) - 1 else _OneSidedClip.apply(x, float(MAX_LEVEL))
        return x / LEVELS_PER_BIT

    @torch.no_grad()
    def levels(self, z2: torch.Tensor, beta) -> np.ndarray:
        """Budget levels (B, M, 4h, 4w) as int32, exactly (module docstring); κ = level / LEVELS_PER_BIT bits."""
        x = self._input(z2.detach().cpu(), beta)
        layers = self._layers()
        for i, (layer, _, stride) in enumerate(layers):
            w = torch.round(layer.weight.detach().cpu().double() * _W).clamp(-_MAX_WEIGHT, _MAX_WEIGHT)
            b = torch.round(layer.bias.detach().cpu().double() * _W * _ACT).clamp(-(1 << 30), 1 << 30)
            x = torch.floor(_integer_conv(x, w, b, stride, layer.kernel_size[0] // 2) / _W)
            x = x.clamp(0, _MAX_ACT if i < len(layers) - 1 else MAX_LEVEL)
        return x.numpy().astype(np.int32)


def _integer_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """A convolution (stride 1, zero padding) or a non-overlapping transposed one (kernel = stride) of
    integer-valued float64 tensors as one matrix product: no Winograd or FFT transform, so every
    product and partial sum is an integer below 2^53 and the result is exact."""
    n, _, h, wd = x.shape
    if stride == 1:
        k = w.shape[-1]
        cols = F.unfold(x, k, padding=padding)  # (n, C k k, h wd)
        return (w.reshape(w.shape[0], -1) @ cols + b[:, None]).reshape(n, -1, h, wd)
    cin, cout, k, _ = w.shape
    out = x.permute(0, 2, 3, 1).reshape(n, h * wd, cin) @ w.reshape(cin, cout * k * k)
    out = out.reshape(n, h, wd, cout, k, k).permute(0, 3, 1, 4, 2, 5).reshape(n, cout, h * k, wd * k)
    return out + b[None, :, None, None]
