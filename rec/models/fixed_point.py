"""Fixed-point evaluation of the networks a decoder derives coding decisions from:
the same bits on every machine.

Source: Ballé, Johnston & Minnen 2019, *Integer networks for data compression with
latent-variable models* (ICLR). A decoder that computes its entropy model in floating
point can disagree with the encoder in the last bits on another machine (another SIMD
width, BLAS kernel, summation order or math library), and one disagreement moves a scale
across a table entry and desynchronizes the arithmetic decoder. Their cure is integer
arithmetic. Here the trained weights stay as they are, up to rounding, and every sum is
made exact instead:

* weights and biases are rounded to multiples of 2**-WEIGHT_BITS, and every layer's
  output (hence every layer's input) to multiples of 2**-ACT_BITS, clamped to ±bound;
* layers compute in float64. Every product is a multiple of 2**-(ACT_BITS +
  WEIGHT_BITS), and every partial sum is bounded by the layer's largest row sum of |w|
  times ``bound`` plus its bias, which :func:`exactness_bound` keeps below 2**53 units:
  all sums are exact, so every summation order (any BLAS kernel, thread count, im2col,
  direct or transposed convolution) gives the same bits;
* the elementwise steps (the leaky ReLU's multiply, a modulation's gain and shift, the
  rounding itself) are single IEEE 754 operations, identical everywhere; a modulation's
  gain exp(w·log_gain) and the rate's log come from :mod:`rec.portable`.

Rounding ψ to 2**-12 and weights to 2**-16 moves the coding distributions by far less
than the scale table's own rounding; the models are used as trained.

Invariants: outputs are functions of the inputs' values only (not of their memory layout,
the thread count or the machine); ``bound`` ≥ MIN_BOUND, else building refuses the model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rec import portable
from rec.errors import RecError
from rec.models.rate import MODULATED, Modulation, RateEmbedding

__all__ = ["ACT_BITS", "WEIGHT_BITS", "MIN_BOUND", "on_grid", "exactness_bound", "checked_bound", "FixedPointSequential",
           "StepNetworks", "rate_weights"]

ACT_BITS = 12
WEIGHT_BITS = 16
MIN_BOUND = 2.0 ** 10
_UNITS = 2.0 ** 53  # integers below this are exact in float64


def on_grid(x: torch.Tensor, bits: int, bound: float = float("inf")) -> torch.Tensor:
    """x rounded to a multiple of 2**-bits (half to even) and clamped to ±bound, in float64."""
    scale = 2.0 ** bits
    return x.to(torch.float64, copy=True).mul_(scale).round_().div_(scale).clamp_(-bound, bound)


def exactness_bound(weight: torch.Tensor, bias: torch.Tensor | None) -> float:
    """The largest power of two B such that inputs |x| ≤ B keep every partial sum of a layer below
    2**53 units of 2**-(ACT_BITS + WEIGHT_BITS): ``weight`` on the 2**-WEIGHT_BITS grid with the
    outputs along dimension 0 (everything else is summed over)."""
    weight = weight.detach()
    rows = weight.abs().flatten(1).sum(1).double()
    room = _UNITS * 2.0 ** -(ACT_BITS + WEIGHT_BITS) - (0.0 if bias is None else float(bias.detach().abs().max()))
    worst = float(rows.max())
    if worst <= 0:
        return float("inf")
    _, e = np.frexp(room / worst)  # room / worst = m 2**e, m in [1/2, 1): exact (a platform log2 is not)
    return float(2.0 ** (int(e) - 1))


def checked_bound(bound: float) -> float:
    """``bound``, or RecError if it is under MIN_BOUND."""
    if bound < MIN_BOUND:
        raise RecError(f"weights too large for exact fixed-point coding (input bound {bound:g} < {MIN_BOUND:g})")
    return bound


def _rounded(layer: nn.Module) -> tuple[nn.Module, float]:
    """A float64 copy of a convolution with weights and bias on the grid, and its input bound."""
    out = copy.deepcopy(layer).double()
    with torch.no_grad():
        out.weight.copy_(on_grid(out.weight, WEIGHT_BITS))
        if out.bias is not None:
            out.bias.copy_(on_grid(out.bias, WEIGHT_BITS))
    # a transposed convolution's weight is (in, out, k, k): the sums run over (in, taps)
    weight = out.weight.transpose(0, 1) if isinstance(layer, nn.ConvTranspose2d) else out.weight
    return out.eval(), exactness_bound(weight, out.bias)


def rate_weights(embedding: RateEmbedding, rate: float) -> np.ndarray:
    """The embedding's hat weights (K,) of ``rate`` in float64 by :mod:`rec.portable` (the torch
    version takes a platform log); ``rate`` is already checked."""
    lo, hi = portable.log([embedding.beta_min, embedding.beta_max])
    step = (hi - lo) / embedding.knots
    u = (float(portable.log(rate)) - (lo + 0.5 * step)) / step
    k = int(min(max(np.floor(u), 0), embedding.knots - 2))
    t = u - k
    w = np.zeros(embedding.knots)
    w[k], w[k + 1] = 1.0 - t, t
    return w


def _modulation(mod: Modulation, weights: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(gain, shift) per channel, (1, C, 1, 1) float64, summed over the knots in a fixed order."""
    log_gain = mod.log_gain.detach().double().numpy()
    shift = mod.shift.detach().double().numpy()
    g = np.zeros(log_gain.shape[1])
    s = np.zeros(shift.shape[1])
    for k in np.flatnonzero(weights):
        g = g + weights[k] * log_gain[k]
        s = s + weights[k] * shift[k]
    return (torch.from_numpy(portable.exp(g)).view(1, -1, 1, 1), torch.from_numpy(s).view(1, -1, 1, 1))


class FixedPointSequential(nn.Module):
    """A transform of convolutions and activations (modulated after each activation at one rate,
    for a variable-rate model) in fixed point; see the module docstring.

    Args:
        seq: the trained transform (convolutions, leaky ReLUs).
        modulations: its modulations, one per activation, or None.
        weights: the rate's hat weights from :func:`rate_weights` (with ``modulations``).

    Raises:
        RecError: a layer's weights are so large that inputs of MIN_BOUND would not sum exactly.
    """

    def __init__(self, seq: nn.Sequential, modulations: nn.ModuleList | None = None,
                 weights: np.ndarray | None = None):
        super().__init__()
        layers, bounds, mods = [], [], iter(modulations or ())
        for layer in seq:
            if isinstance(layer, nn.modules.conv._ConvNd):
                layer, bound = _rounded(layer)
                bounds.append(bound)
            layers.append(layer)
            if modulations is not None and isinstance(layer, MODULATED):
                gain, shift = _modulation(next(mods), weights)
                layers.append(_Affine(gain, shift))
        self.layers = nn.ModuleList(layers)
        self.bound = checked_bound(min(bounds))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = on_grid(x, ACT_BITS, self.bound)
        for layer in self.layers:
            h = on_grid(layer(h), ACT_BITS, self.bound)
        return h


class _Affine(nn.Module):
    def __init__(self, gain: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.gain, self.shift = gain, shift

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * self.gain + self.shift


@dataclass(frozen=True)
class StepNetworks:
    """The context model and entropy-parameter layers as the autoregressive pass applies them:
    (weight matrix, bias) pairs in ``dtype`` and what is done to each layer's output
    (nothing in float32; :func:`on_grid` in fixed point). Inputs are clamped to ``bound``."""

    context: tuple[torch.Tensor, torch.Tensor]
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    dtype: torch.dtype
    bound: float = float("inf")
    fixed_point: bool = False

    def settle(self, h: torch.Tensor) -> torch.Tensor:
        return on_grid(h, ACT_BITS, self.bound) if self.fixed_point else h

    @classmethod
    def exact(cls, context: tuple[torch.Tensor, torch.Tensor], layers) -> "StepNetworks":
        """The fixed-point version of float (matrix, bias) pairs."""
        pairs = [(on_grid(w, WEIGHT_BITS), on_grid(b, WEIGHT_BITS)) for w, b in (context, *layers)]
        bound = checked_bound(min(exactness_bound(w, b) for w, b in pairs))
        return cls(pairs[0], tuple(pairs[1:]), torch.float64, bound, True)
