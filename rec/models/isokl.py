"""The iso-KL level-1 posterior: every dimension's KL fixed in advance (issue 16, item 2).

Flamich, Markou & Hernández-Lobato 2022 (*Fast relative entropy coding with A* coding*)
train an "IsoKL" VAE whose posterior has the same KL in every dimension, so the coder
knows each dimension's rate without side information. Here the KL of level-1 dimension i
is a budget κ_i that the decoder derives itself, exactly, from z2 and β
(:class:`rec.models.kappa.KappaNet`), and the posterior is built to spend exactly that::

    δ  = a · tanh(Δμ / (σp a)),     a = √(2 κ)          (offset in prior std, |δ| < a)
    r  = κ − δ²/2 ≥ 0                                  (what the width must spend)
    s  solves  −ln s + s²/2 − ½ = r,  0 < s ≤ 1
    q(z1 | z2, x) = N(μp + σp δ, (σp s)²)

so that KL[q ‖ p] = −ln s + (s² + δ²)/2 − ½ = κ exactly (nats), whatever the encoder's
offset Δμ (the encoder's own σx is not used). An offset far beyond √(2κ) prior stds
saturates the tanh (its gradient vanishes there). κ = 0 gives q = p: the dimension costs
nothing and is not coded at all.

Invariants: s ∈ (0, 1]; s is a decreasing function of r; the gradient of s is the implicit
one, ds/dr = −s / (1 − s²), bounded near r = 0 by clamping 1 − s² ≥ 1e-2 (training only).
"""

from __future__ import annotations

import math

import torch

from rec.samplers.budget import LEVELS_PER_BIT, SHARED_MAX_GROUP, budget_groups  # the coder's grouping

__all__ = ["iso_std_ratio", "iso_kl_posterior", "shared_budgets"]

_NEWTON_STEPS = 12


def _phi(t: torch.Tensor) -> torch.Tensor:
    """t + e^{−t} − 1 without cancellation: its Taylor series below t = 0.1 (error < 1e-12 relative)."""
    series = t * t * (1 / 2 - t * (1 / 6 - t * (1 / 24 - t * (1 / 120 - t * (1 / 720 - t / 5040)))))
    return torch.where(t < 0.1, series, t + torch.expm1(-t))


def _solve_t(r: torch.Tensor) -> torch.Tensor:
    """t = −ln s² from φ(t) = t + e^{−t} − 1 = 2r (Newton from above: φ is convex and increasing,
    so the iterates fall monotonically onto the root; the start 2√r + r (r < 1) or 1 + 2r (r ≥ 1)
    lies above it)."""
    r = r.double().clamp_min(0)
    t = torch.where(r < 1, 2 * r.sqrt() + r, 1 + 2 * r)
    for _ in range(_NEWTON_STEPS):
        slope = -torch.expm1(-t)
        step = (_phi(t) - 2 * r) / torch.where(slope > 0, slope, torch.ones_like(slope))
        t = torch.where(slope > 0, t - step, t).clamp_min(0)
    return t


class _IsoStdRatio(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r: torch.Tensor) -> torch.Tensor:
        s = torch.exp(-0.5 * _solve_t(r)).to(r.dtype)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (s,) = ctx.saved_tensors
        return grad * (-s / (1 - s * s).clamp_min(1e-2))


def iso_std_ratio(r: torch.Tensor) -> torch.Tensor:
    """s ∈ (0, 1] with −ln s + s²/2 − ½ = r (r ≥ 0, nats); differentiable in r."""
    return _IsoStdRatio.apply(r)


def iso_kl_posterior(offset: torch.Tensor, prior_mean: torch.Tensor, prior_std: torch.Tensor,
                     kappa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the iso-KL posterior whose KL to N(prior_mean, prior_std²) is ``kappa`` nats per
    dimension (module docstring); ``offset`` is the encoder's Δμ, in the latent's units."""
    kappa = kappa.clamp_min(0)
    a = torch.sqrt((2 * kappa).clamp_min(1e-12))  # no infinite gradient at κ = 0
    delta = a * torch.tanh(offset / (prior_std * a))
    r = (kappa - 0.5 * delta * delta).clamp_min(0)
    s = iso_std_ratio(r)
    return prior_mean + prior_std * delta, prior_std * s


def shared_budgets(kappa_bits: torch.Tensor, logits: torch.Tensor, group_budget: int) -> torch.Tensor:
    """Budgets (bits) that groups of dimensions share: κ'_i = K_g · κ_i e^{ℓ_i} / Σ_{j∈g} κ_j e^{ℓ_j}.

    The groups are the budget sampler's raster fill of each image's integer levels 16 κ
    (:func:`rec.samplers.budget.budget_groups` with T = ``group_budget`` and at most
    :data:`~rec.samplers.budget.SHARED_MAX_GROUP` dimensions), K_g their summed κ:
    the decoder derives both, and the sampler draws a group's candidates jointly, so how the
    encoder splits K_g between the group's dimensions (``logits`` ℓ, one per dimension) needs
    no side information. Σ_{i∈g} κ'_i = K_g; a dimension with κ = 0 keeps 0; ℓ = 0 gives κ.
    """
    b = kappa_bits.shape[0]
    flat = kappa_bits.reshape(b, -1)
    levels = torch.round(flat.detach() * LEVELS_PER_BIT).to(torch.int64).cpu().numpy()
    gids, offset = [], 0
    for row in levels:
        sizes, _ = budget_groups(row, group_budget, SHARED_MAX_GROUP)
        gids.append(torch.repeat_interleave(torch.arange(offset, offset + sizes.size), torch.from_numpy(sizes)))
        offset += sizes.size
    gid = torch.cat(gids).to(flat.device)
    k = flat.reshape(-1)
    live = k > 0
    z = torch.where(live, torch.log(k.clamp_min(1e-12)) + logits.reshape(-1).to(k), torch.full_like(k, -math.inf))
    top = torch.full((offset,), -math.inf, device=k.device, dtype=k.dtype).scatter_reduce(0, gid, z.detach(), "amax")
    e = torch.where(live, torch.exp(z - top[gid].clamp_min(-1e30)), torch.zeros_like(k))
    total = torch.zeros(offset, device=k.device, dtype=k.dtype).index_add(0, gid, k)
    norm = torch.zeros(offset, device=k.device, dtype=k.dtype).index_add(0, gid, e)
    return (total[gid] * e / norm[gid].clamp_min(1e-30)).reshape(kappa_bits.shape)


def kl_nats(mean, std, prior_mean, prior_std) -> torch.Tensor:
    """KL[N(mean, std²) ‖ N(prior_mean, prior_std²)] per dimension (a check of the construction)."""
    ratio = (std / prior_std) ** 2
    return 0.5 * (ratio + ((mean - prior_mean) / prior_std) ** 2 - 1.0 - torch.log(ratio))


LN2 = math.log(2)
