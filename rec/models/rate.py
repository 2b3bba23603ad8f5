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

The same machinery serves every variable-rate model, whatever its rate parameter
is called: β of the γ-PLN (rec.models.pln), λ of mbt2018 (rec.models.joint).
:func:`modulated_widths` and :func:`run_modulated` place a modulation after each
GDN / activation of a transform, :func:`rate_weights` embeds a rate given as a
number, a tensor or None (the model's default). :func:`standard_rates` are the rates a
variable-rate model is reported at by default (``rec eval``, the scripts).

Invariants: ``weights(β)`` sums to 1 for every β; it is a function of β and the
range only (the decoder recomputes it from the β in the file header).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rec.errors import RecError
from rec.models.layers import GDN

__all__ = ["RateEmbedding", "standard_rates", "Modulation", "modulated_widths", "run_modulated", "rate_weights"]

#: The layers a modulation follows: GDN / IGDN and the activations.
MODULATED = (GDN, nn.LeakyReLU)


class RateEmbedding(nn.Module):
    """Hat-function weights (B, K) of β over bin-centred knots; see the module docstring.

    ``name`` / ``symbol`` name the rate parameter in messages ("beta" / "β", "lmbda" / "λ").
    """

    def __init__(self, beta_min: float, beta_max: float, knots: int = 8, *, name: str = "beta", symbol: str = "β"):
        super().__init__()
        if not 0 < beta_min < beta_max or knots < 2:
            raise RecError(f"a variable-rate model needs 0 < {name}_min < {name}_max and ≥ 2 knots, "
                           f"got {beta_min}, {beta_max}, {knots}")
        self.beta_min, self.beta_max, self.knots = float(beta_min), float(beta_max), int(knots)
        self.name, self.symbol = name, symbol
        self.step = (math.log(beta_max) - math.log(beta_min)) / knots
        self.first = math.log(beta_min) + 0.5 * self.step

    #: Relative slack at the range ends, so that a range end computed in floating point
    #: (exp(log β_min)) is taken as the end itself; within it β is clamped, identically on both sides.
    SLACK = 1e-9

    def check(self, beta: float) -> float:
        """``beta`` as a float inside the range (clamped within :attr:`SLACK` of an end); RecError outside."""
        beta = float(beta)
        if not self.beta_min * (1 - self.SLACK) <= beta <= self.beta_max * (1 + self.SLACK):
            raise RecError(f"{self.symbol} = {beta:g} is outside this model's range [{self.beta_min:g}, {self.beta_max:g}]")
        return min(max(beta, self.beta_min), self.beta_max)

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


def standard_rates(lo: float, hi: float, n: int = 6) -> list[float]:
    """``n`` rates log-spaced over [lo, hi] (a model's ``config.rate_range``), in increasing order: the
    ends exactly, the ones between rounded to 4 significant digits (readable labels, inside the range)::

        standard_rates(0.1, 4.0)   # [0.1, 0.2091, 0.4373, 0.9146, 1.913, 4.0]

    Raises:
        RecError: not 0 < lo < hi, or fewer than 2 rates.
    """
    lo, hi = float(lo), float(hi)
    if not 0 < lo < hi or n < 2:
        raise RecError(f"standard rates need 0 < lo < hi and n ≥ 2, got {lo:g}, {hi:g}, {n}")
    a, b = math.log(lo), math.log(hi)
    inner = [min(max(float(f"{math.exp(a + (b - a) * i / (n - 1)):.4g}"), lo), hi) for i in range(1, n - 1)]
    return [lo, *inner, hi]


class Modulation(nn.Module):
    """Per-channel gain and shift as piecewise-linear functions of log β (module docstring)."""

    def __init__(self, channels: int, knots: int):
        super().__init__()
        self.log_gain = nn.Parameter(torch.zeros(knots, channels))
        self.shift = nn.Parameter(torch.zeros(knots, channels))

    def forward(self, h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        gain = torch.exp(weights @ self.log_gain)[:, :, None, None].to(h.dtype)
        shift = (weights @ self.shift)[:, :, None, None].to(h.dtype)
        if torch.is_grad_enabled():
            return h * gain + shift
        return torch.mul(h, gain).add_(shift)  # one temporary fewer, the same floats


def modulated_widths(seq: nn.Sequential) -> list[int]:
    """Channels at each GDN / activation of a transform: the out_channels of the conv before it."""
    widths, last = [], None
    for layer in seq:
        if isinstance(layer, MODULATED):
            widths.append(last)
        else:
            last = layer.out_channels
    return widths


def run_modulated(seq: nn.Sequential, modulations: nn.ModuleList | None, h: torch.Tensor,
                  weights: torch.Tensor | None) -> torch.Tensor:
    """A transform, modulated after each GDN / activation when ``weights`` is given (else just ``seq(h)``)."""
    if weights is None:
        return seq(h)
    mods, weights = iter(modulations), weights.to(h.device)  # the embedding is computed where the rate lives (the CPU)
    for layer in seq:
        h = layer(h)
        if isinstance(layer, MODULATED):
            h = next(mods)(h, weights)
    return h


def rate_weights(embedding: RateEmbedding | None, rate, default: float, batch: int = 1, symbol: str = "β") -> torch.Tensor | None:
    """The rate embedding (B, K) of ``rate`` (a number, or a tensor (B,)); None for a fixed-rate
    model (``embedding`` None). ``rate`` None means the model's ``default``.

    Raises:
        RecError: a rate given to a fixed-rate model, or outside a variable-rate model's range.
    """
    if embedding is None:
        if rate is not None:
            raise RecError(f"this model has a fixed rate: it takes no {symbol}")
        return None
    if rate is None:
        rate = default
    if not torch.is_tensor(rate):
        rate = torch.full((batch,), embedding.check(rate), dtype=torch.float64)
    return embedding(rate)
