"""Entropy models of the quantized reference codec, independent of any coder.

Two densities of latents "convolved with a unit uniform" (Ballé et al. 2018,
"Variational image compression with a scale hyperprior", section 2 and
appendix 6.1; Minnen et al. 2018, eq. 2): the probability of an integer-spaced
value v is the density's mass on [v − ½, v + ½],

    p(v) = c(v + ½) − c(v − ½)                                   (c: the CDF)

which is also the density of v + u, u ~ U(−½, ½), the additive-noise proxy used
in training. So the same function gives the training likelihood of y + u and
the coding probability of a quantized ŷ.

* :class:`FactorizedDensity` — the non-parametric, fully factorized density of
  the hyper-latents z (Ballé 2018, appendix 6.1), one per channel.
* :func:`gaussian_likelihood` / :class:`DiscretizedGaussian` — N(μ, σ²) ∗ U(−½, ½),
  the conditional model of y (Minnen 2018, eq. 2).

Both bound likelihoods below (default 1e-9, i.e. at most ~30 bits per value)
and the Gaussian's scale below (default 0.11, as CompressAI), with a gradient
that still flows when the bound is active and pushes upwards
(:func:`lower_bound`). Coding tables (:meth:`FactorizedDensity.coding_table`)
come out as plain probability arrays; the coder is the caller's business
(:mod:`rec.reference` uses constriction). They are computed in float64 with
:mod:`rec.portable`, so they have the same bits on every machine (torch's
float32 tanh and matmul did not: files of one machine failed on another, issue 17).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rec import portable
from rec.models.layers import LowerBound

__all__ = [
    "lower_bound",
    "FactorizedDensity",
    "FactorizedTable",
    "DiscretizedGaussian",
    "gaussian_likelihood",
    "standard_normal_cdf",
    "SCALE_BOUND",
    "LIKELIHOOD_BOUND",
]

SCALE_BOUND = 0.11
LIKELIHOOD_BOUND = 1e-9


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """max(x, bound), with the "identity if it helps" gradient of Ballé et al. 2018."""
    return LowerBound.apply(x, bound)


def standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Φ(x) = ½ erfc(−x/√2), accurate in the lower tail."""
    return 0.5 * torch.erfc(-x * (1.0 / math.sqrt(2.0)))


# --------------------------------------------------------------------------
# discretized Gaussian
# --------------------------------------------------------------------------


def gaussian_likelihood(
    values: torch.Tensor,
    mean: torch.Tensor,
    scale: torch.Tensor,
    scale_bound: float = SCALE_BOUND,
    likelihood_bound: float = LIKELIHOOD_BOUND,
) -> torch.Tensor:
    """(N(μ, σ²) ∗ U(−½, ½))(v) = Φ((½ − |v − μ|)/σ) − Φ((−½ − |v − μ|)/σ).

    Computed on the side of the mean where both CDF values are small (the
    symmetric form avoids the cancellation of 1 − 1 in the upper tail),
    in float32 whatever the input dtype. σ is first bounded below by
    ``scale_bound``, the result by ``likelihood_bound``.
    """
    values, mean, scale = values.float(), mean.float(), scale.float()
    scale = lower_bound(scale, scale_bound)
    v = (values - mean).abs()
    upper = standard_normal_cdf((0.5 - v) / scale)
    lower = standard_normal_cdf((-0.5 - v) / scale)
    return lower_bound(upper - lower, likelihood_bound)


@dataclass(frozen=True)
class DiscretizedGaussian:
    """N(μ, σ²) ∗ U(−½, ½) with bounds on σ and on the likelihood (Minnen 2018, eq. 2).

    Attributes:
        scale_bound: σ is replaced by max(σ, scale_bound).
        likelihood_bound: likelihoods are at least this (≈ 30 bits at most for 1e-9).
    """

    scale_bound: float = SCALE_BOUND
    likelihood_bound: float = LIKELIHOOD_BOUND

    def likelihood(self, values: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """p(values) elementwise; see :func:`gaussian_likelihood`."""
        return gaussian_likelihood(values, mean, scale, self.scale_bound, self.likelihood_bound)

    def bounded_scale(self, scale: torch.Tensor) -> torch.Tensor:
        """The σ actually used: max(σ, scale_bound) (no gradient trick; for coding), float32 or float64."""
        return torch.clamp(scale if scale.dtype == torch.float64 else scale.float(), min=self.scale_bound)

    def pmf(self, support: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Probabilities of the integer offsets ``support`` (L,) from the mean, for each σ (…,) → (…, L)."""
        return self.likelihood(support.float(), torch.zeros(()), scale.float()[..., None])


# --------------------------------------------------------------------------
# non-parametric factorized density (Ballé 2018, appendix 6.1)
# --------------------------------------------------------------------------


def _interval_mass(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """sigmoid(upper) − sigmoid(lower) for logits lower ≤ upper, without cancellation.

    Both sigmoids are evaluated on the side where they are small: above the median
    as sigmoid(−lower) − sigmoid(−upper), since 1 − 1 would cancel. (CompressAI
    uses −sign(lower + upper), which is 0 — mass 0 — when the interval is centred
    exactly on the median; we take the lower side there.)
    """
    flip = (lower + upper > 0).detach()
    return torch.where(flip, torch.sigmoid(-lower) - torch.sigmoid(-upper), torch.sigmoid(upper) - torch.sigmoid(lower))



def portable_interval_mass(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """:func:`_interval_mass` in float64 by :mod:`rec.portable`: the same bits on every machine."""
    return np.where(lower + upper > 0, portable.sigmoid(-lower) - portable.sigmoid(-upper),
                    portable.sigmoid(upper) - portable.sigmoid(lower))


def _bisect(logits, target: float, lo, hi, where, iterations: int):
    """Per row, the x where the non-decreasing ``logits(x)`` crosses ``target``: the bracket
    [lo, hi] doubled until it holds it, then ``iterations`` halvings (fixed counts:
    deterministic). For torch tensors (``where`` = torch.where) or numpy arrays (np.where)."""
    for _ in range(iterations):  # widen the bracket until it holds the target
        low_out = logits(lo) > target
        high_out = logits(hi) < target
        if not (low_out.any() or high_out.any()):
            break
        lo = where(low_out, lo * 2.0, lo)
        hi = where(high_out, hi * 2.0, hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = logits(mid) > target
        hi = where(above, mid, hi)
        lo = where(above, lo, mid)
    return 0.5 * (lo + hi)


@dataclass
class FactorizedTable:
    """Per-channel coding tables of a :class:`FactorizedDensity` for ẑ = k + median.

    For channel c the integer offsets k = ``low[c]`` … ``low[c] + size[c] − 1``
    have probabilities ``probabilities[c, 1 : size[c] + 1]``; column 0 is the
    mass below the support (an escape: k < low) and column ``size[c] + 1`` the
    mass above it (k ≥ low + size). Columns beyond ``size[c] + 1`` are zero.

    Attributes:
        medians: (C,) float64, the dequantization offsets m_c.
        low: (C,) int64, smallest offset inside the support.
        size: (C,) int64, number of offsets inside the support.
        probabilities: (C, max(size) + 2) float64.
    """

    medians: torch.Tensor
    low: np.ndarray
    size: np.ndarray
    probabilities: np.ndarray


class FactorizedDensity(nn.Module):
    """Fully factorized non-parametric density, one per channel (Ballé 2018, appendix 6.1).

    The CDF of each channel is a monotone composition of K small layers::

        c(x) = sigmoid(f_K ∘ … ∘ f_1(x)),   f_k(x) = g_k(H_k x + b_k),
        g_k(x) = x + a_k ⊙ tanh(x)    (k < K),   g_K = identity

    with H_k = softplus(Ĥ_k) ≥ 0 and a_k = tanh(â_k) ≥ −1, so every g_k and
    hence c is non-decreasing. Layer widths are 1 → r_1 → … → r_{K−1} → 1
    (``filters`` = (r_1, …); the paper and CompressAI use (3, 3, 3, 3)). We work
    with the logits f_K ∘ … ∘ f_1 and difference them with the sign trick, so
    far-tail probabilities keep their precision.

    Unlike CompressAI, the medians and tail quantiles used for coding are not
    learned by an auxiliary loss (the forgotten ``update()`` step); they are
    found by bisection on the monotone logits whenever a table is built, the
    same way on both sides.

    Args:
        channels: number of channels C, each with its own parameters.
        filters: hidden widths of the CDF network.
        init_scale: initial spread of the density (≈ width of its support).
        likelihood_bound: lower bound on returned likelihoods.
        tail_mass: total probability outside the coding support (split in two).
    """

    def __init__(
        self,
        channels: int,
        filters: tuple[int, ...] = (3, 3, 3, 3),
        init_scale: float = 10.0,
        likelihood_bound: float = LIKELIHOOD_BOUND,
        tail_mass: float = 1e-9,
    ):
        super().__init__()
        self.channels = channels
        self.filters = tuple(filters)
        self.likelihood_bound = likelihood_bound
        self.tail_mass = tail_mass
        widths = (1,) + self.filters + (1,)
        scale = init_scale ** (1.0 / (len(self.filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(widths) - 1):
            init = math.log(math.expm1(1.0 / scale / widths[k + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, widths[k + 1], widths[k]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, widths[k + 1], 1) - 0.5))
            if k < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[k + 1], 1)))

    def _layers(self, channels: slice | torch.Tensor = slice(None)) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """(H_k = softplus(Ĥ_k), b_k, a_k = tanh(â_k) or None for the last layer), float32, of the
        ``channels`` (a slice, or one channel per row as an index tensor)."""
        factors = [torch.tanh(f[channels].float()) for f in self.factors] + [None]
        return [(F.softplus(m[channels].float()), b[channels].float(), a) for m, b, a in zip(self.matrices, self.biases, factors)]

    def logits_cdf(self, x: torch.Tensor, layers=None) -> torch.Tensor:
        """logit c_c(x) for x of shape (C, L) → (C, L), in float32."""
        h = x.float()[:, None, :]
        for matrix, bias, factor in layers or self._layers():
            h = torch.matmul(matrix, h) + bias
            if factor is not None:
                h = h + factor * torch.tanh(h)
        return h[:, 0, :]

    def channel_likelihood(self, x: torch.Tensor, channels: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """c(x + ½) − c(x − ½) for x of shape (K, L), row k under its channel ``channels[k]`` (a slice
        of K channels, or an index tensor (K,)), bounded below, float32. An index tensor with L = 1
        prices n values each under its own channel: a few channels of many (the competing priors'
        winners) cost n small matmuls instead of the whole (C, n) evaluation."""
        layers = self._layers(channels)
        x = x.float()
        return lower_bound(_interval_mass(self.logits_cdf(x - 0.5, layers), self.logits_cdf(x + 0.5, layers)),
                           self.likelihood_bound)

    def likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """c(x + ½) − c(x − ½) elementwise for x of shape (B, C, H, W), bounded below, float32."""
        b, c, h, w = x.shape
        p = self.channel_likelihood(x.float().permute(1, 0, 2, 3).reshape(c, -1))
        return p.reshape(c, b, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def quantiles(self, level: float, iterations: int = 60) -> torch.Tensor:
        """x_c with c_c(x_c) = ``level`` for each channel (C,), by bracketing and bisection.

        Deterministic: fixed iteration counts, float32 throughout.
        """
        target = math.log(level) - math.log1p(-level)
        layers = self._layers()
        lo, hi = torch.full((self.channels, 1), -1.0), torch.full((self.channels, 1), 1.0)
        return _bisect(lambda x: self.logits_cdf(x, layers), target, lo, hi, torch.where, iterations)[:, 0]

    def medians(self) -> torch.Tensor:
        """The per-channel medians (C,): the dequantization offsets of ẑ = round(z − m) + m."""
        return self.quantiles(0.5)

    def portable_layers(self, channels: slice = slice(None)) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """:meth:`_layers` in float64 by :mod:`rec.portable`: the same bits on every machine."""
        factors = [portable.tanh(f[channels].detach().double().numpy()) for f in self.factors] + [None]
        return [(portable.softplus(m[channels].detach().double().numpy()), b[channels].detach().double().numpy(), a)
                for m, b, a in zip(self.matrices, self.biases, factors)]

    @staticmethod
    def portable_logits(x: np.ndarray, layers) -> np.ndarray:
        """:meth:`logits_cdf` of x (C, L) in float64, elementwise in a fixed order (a matmul's
        summation order, like tanh, differs between machines)."""
        h = x[:, None, :]
        for matrix, bias, factor in layers:
            out = bias + matrix[:, :, :1] * h[:, :1, :]
            for j in range(1, matrix.shape[2]):
                out = out + matrix[:, :, j : j + 1] * h[:, j : j + 1, :]
            h = out if factor is None else out + factor * portable.tanh(out)
        return h[:, 0, :]

    def _portable_quantiles(self, level: float, layers, iterations: int = 80) -> np.ndarray:
        """x_c with c_c(x_c) = ``level`` (C,), by bracketing and bisection on the portable logits."""
        target = float(portable.log(level) - portable.log(1.0 - level))
        lo, hi = np.full((self.channels, 1), -1.0), np.full((self.channels, 1), 1.0)
        return _bisect(lambda x: self.portable_logits(x, layers), target, lo, hi, np.where, iterations)[:, 0]

    @torch.no_grad()
    def coding_table(self, tail_mass: float | None = None, max_size: int = 1 << 16) -> FactorizedTable:
        """Probability tables for coding ẑ − m; see :class:`FactorizedTable`.

        The support of channel c is every integer offset k with m + k inside
        the central 1 − ``tail_mass`` of the density (rounded outwards; default:
        the module's ``tail_mass``), at most ``max_size`` wide; the two tails
        become escape symbols. Computed with :mod:`rec.portable` in float64 (medians
        and tail quantiles by bisection, 80 steps): identical on every machine.
        """
        tail = self.tail_mass if tail_mass is None else tail_mass
        # the last table, kept while the parameters are the same tensors, unmodified (a 192-channel
        # table takes ~0.1 s; a decoder builds it for every file)
        key = (tail, max_size, tuple((p.data_ptr(), p._version) for p in self.parameters()))
        cached = self.__dict__.get("_coding_table")
        if cached is not None and cached[0] == key:
            return cached[1]
        table = self._coding_table(tail, max_size)
        self.__dict__["_coding_table"] = (key, table)
        return table

    def _coding_table(self, tail: float, max_size: int) -> FactorizedTable:
        layers = self.portable_layers()
        m = self._portable_quantiles(0.5, layers)
        left = self._portable_quantiles(tail / 2, layers)
        right = self._portable_quantiles(1 - tail / 2, layers)
        low = np.clip(np.floor(left - m), -(max_size // 2), 0).astype(np.int64)
        high = np.clip(np.ceil(right - m), 0, max_size // 2).astype(np.int64)
        size = high - low + 1
        width = int(size.max()) + 2
        offsets = low[:, None] + np.arange(width)[None, :] - 1  # column j ↔ offset low + j − 1
        values = m[:, None] + offsets
        lower = self.portable_logits(values - 0.5, layers)
        upper = self.portable_logits(values + 0.5, layers)
        p = np.maximum(portable_interval_mass(lower, upper), self.likelihood_bound)
        cols = np.arange(width)[None, :]
        p = np.where(cols <= size[:, None], p, 0.0)
        rows = np.arange(self.channels)
        # escapes: everything below / above the support
        p[:, 0] = np.maximum(portable.sigmoid(lower[:, 1]), self.likelihood_bound)  # c(m + low − ½)
        p[rows, size + 1] = np.maximum(portable.sigmoid(-upper[rows, size]), self.likelihood_bound)  # 1 − c(m + high + ½)
        return FactorizedTable(torch.from_numpy(m), low, size, p)
