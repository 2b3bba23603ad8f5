"""Variable rate: one network for a range of β, by channel-wise modulation.

A variable-rate model is trained with β drawn log-uniformly per crop from
[β_min, β_max] and conditions its transforms on it (conditional convolutions,
Choi et al. 2019; gain units, Cui et al. 2021). Here β is embedded as K hat
functions in u = log β, with knots at the centres of K equal bins of
[log β_min, log β_max]::

    c_k = log β_min + (k + ½)·Δ,   Δ = (log β_max − log β_min) / K
    w_k(u) = max(0, 1 − |u − c_k| / Δ)          (c_0 ≤ u ≤ c_{K−1})

so every per-β quantity is a piecewise-linear function of log β, one value per
knot. In the outer half bins the two nearest knots extrapolate linearly (the
weights still sum to 1), so the ends of the range keep a slope instead of a
flat stretch: knots placed at the range ends, and periodic embeddings, gave a
non-monotone rate at the low end in the previous measurements.

A :class:`Modulation` scales and shifts each channel of a feature map by such
piecewise-linear functions: ``h · exp(w·log_gain) + w·shift``. Initialized at
gain 1, shift 0, a modulated network starts as the unmodulated one.

Invariants: ``weights(β)`` sums to 1 for every β; it is a function of β and the
range only (the decoder recomputes it from the β in the file header).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rec.errors import RecError

__all__ = ["RateEmbedding", "Modulation"]


class RateEmbedding(nn.Module):
    """Hat-function weights (B, K) of β over bin-centred knots; see the module docstring."""

    def __init__(self, beta_min: float, beta_max: float, knots: int = 8):
        super().__init__()
        if not 0 < beta_min < beta_max or knots < 2:
            raise RecError(f"a variable-rate model needs 0 < beta_min < beta_max and ≥ 2 knots, got {beta_min}, {beta_max}, {knots}")
        self.beta_min, self.beta_max, self.knots = float(beta_min), float(beta_max), int(knots)
        self.step = (math.log(beta_max) - math.log(beta_min)) / knots
        self.first = math.log(beta_min) + 0.5 * self.step

    def check(self, beta: float) -> float:
        beta = float(beta)
        if not self.beta_min <= beta <= self.beta_max:
            raise RecError(f"β = {beta:g} is outside this model's range [{self.beta_min:g}, {self.beta_max:g}]")
        return beta

    def forward(self, beta: torch.Tensor) -> torch.Tensor:
        """Weights (B, K) for a tensor of β (B,) inside the range."""
        u = (torch.log(beta.double()) - self.first) / self.step  # knot coordinate: knot k at u = k
        # the segment [k, k+1] that holds u, the outer half bins extrapolating the first/last one
        k = torch.clamp(torch.floor(u), 0, self.knots - 2)
        t = u - k
        w = torch.zeros(beta.shape[0], self.knots, dtype=torch.float64, device=beta.device)
        w.scatter_(1, k.long()[:, None], (1 - t)[:, None])
        w.scatter_add_(1, k.long()[:, None] + 1, t[:, None])
        return w.float()


class Modulation(nn.Module):
    """Per-channel gain and shift as piecewise-linear functions of log β (module docstring)."""

    def __init__(self, channels: int, knots: int):
        super().__init__()
        self.log_gain = nn.Parameter(torch.zeros(knots, channels))
        self.shift = nn.Parameter(torch.zeros(knots, channels))

    def forward(self, h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        gain = torch.exp(weights @ self.log_gain)[:, :, None, None]
        shift = (weights @ self.shift)[:, :, None, None]
        return h * gain.to(h.dtype) + shift.to(h.dtype)
