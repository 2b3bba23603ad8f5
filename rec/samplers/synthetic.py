"""Synthetic posterior/prior pairs shaped like the latents of a ladder VAE.

Used by the benchmarks (``scripts/bench_samplers.py``), the tests and the fit
of the rejection sampler's static index table. A latent has shape
``(channels, height, width)`` (raster order C, H, W); a minority of channels
carries information, modulated by a smooth spatial "image detail" map, as in
thesis figures 3.3-3.4; the rest is collapsed onto the prior (KL ~ 1e-4 to
1e-3 bits). Informative dimensions get log-normally spread KL, scaled so the
total hits ``kl_bits``; each splits its KL between a mean shift and a
narrower standard deviation.
"""

from __future__ import annotations

import math

import numpy as np

from rec.distributions import DiagonalGaussian

__all__ = ["gaussian_with_kl", "synthetic_latent", "LEVEL1_SHAPE", "LEVEL2_SHAPE"]

#: ~200 000 dims, e.g. a 768x512 Kodak image at stride 4 with 8 channels... or
#: 128 channels at stride 16 (128 x 32 x 48 = 196 608).
LEVEL1_SHAPE = (128, 32, 48)
#: ~2 300 dims (16 x 12 x 12 = 2 304).
LEVEL2_SHAPE = (16, 12, 12)


def _solve_log_std(kl_nats: np.ndarray) -> np.ndarray:
    """t = -log s >= 0 with t + (exp(-2t) - 1)/2 = kl (the variance part of a KL)."""
    k = np.asarray(kl_nats, dtype=np.float64)
    t = np.where(k < 0.5, np.sqrt(np.maximum(k, 0.0)), k + 0.5)
    for _ in range(60):
        f = t + 0.5 * (np.exp(-2 * t) - 1) - k
        fp = 1 - np.exp(-2 * t)
        step = np.where(fp > 1e-300, f / np.maximum(fp, 1e-300), 0.0)
        t = np.maximum(t - step, 0.0)
    return t


def gaussian_with_kl(kl_bits: np.ndarray, rng: np.random.Generator, mean_share=(0.2, 0.8)):
    """Standardized posteriors N(m, s^2) against N(0, 1) with the given KL per
    dimension (bits): a random share of it from the mean shift, the rest from
    a narrower std. Returns ``(m, s)``."""
    k = np.asarray(kl_bits, dtype=np.float64) * math.log(2.0)
    phi = rng.uniform(*mean_share, size=k.shape)
    m = np.sqrt(2 * phi * k) * rng.choice([-1.0, 1.0], size=k.shape)
    s = np.exp(-_solve_log_std((1 - phi) * k))
    return m, s


def _smooth_field(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """A smooth random field in [0, 1] (sum of a few random cosines)."""
    y, x = np.mgrid[0:h, 0:w]
    f = np.zeros((h, w))
    for _ in range(6):
        kx, ky = rng.normal(size=2) / scale
        f += np.cos(2 * np.pi * (kx * x + ky * y) + rng.uniform(0, 2 * np.pi))
    f -= f.min()
    return f / max(f.max(), 1e-12)


def synthetic_latent(shape=LEVEL1_SHAPE, informative: float = 0.1, kl_bits: float = 200_000.0,
                     seed: int = 0, kl_spread: float = 0.8,
                     max_dim_kl: float = 40.0) -> tuple[DiagonalGaussian, DiagonalGaussian]:
    """A ``(posterior, prior)`` pair of the given shape and total KL (bits).

    Args:
        shape: (channels, height, width).
        informative: fraction of informative dimensions (about).
        kl_bits: total KL[q || p] in bits (the collapsed dimensions add ~0.05%).
        seed: numpy seed of the generator.
        kl_spread: sigma of the log-normal spread of per-dimension KL.
        max_dim_kl: cap on one dimension's KL in bits (a std ratio of about
            2**-40; float32 networks do not produce narrower posteriors).
    """
    rng = np.random.default_rng(seed)
    C, H, W = shape
    # channel activity: a few channels mostly on, the rest almost off
    n_active = max(1, int(round(C * min(1.0, informative / 0.6))))
    rate = np.full(C, 0.002)
    rate[rng.choice(C, n_active, replace=False)] = 0.6
    detail = 0.3 + 0.7 * _smooth_field(rng, H, W, scale=max(H, W) / 3)
    prob = np.clip(rate[:, None, None] * detail[None] / np.mean(detail) * 1.0, 0, 1)
    prob *= informative / prob.mean() if prob.mean() > 0 else 1.0
    mask = rng.random(shape) < np.clip(prob, 0, 1)
    if not mask.any():
        mask.flat[rng.integers(mask.size)] = True

    kl = np.exp(rng.uniform(np.log(1e-4), np.log(1e-3), size=shape))  # collapsed dims
    w = rng.lognormal(0.0, kl_spread, size=int(mask.sum())) * (0.5 + detail[np.nonzero(mask)[1:]])
    target = max(kl_bits - kl[~mask].sum(), 1e-9)
    # scale to the target with no dimension above max_dim_kl bits (water-filling)
    for _ in range(50):
        scale = target / w.sum()
        v = np.minimum(w * scale, max_dim_kl)
        if v.sum() >= target * (1 - 1e-12) or np.all(v >= max_dim_kl):
            break
        w = v / scale + (target - v.sum()) / scale * (v < max_dim_kl) / max((v < max_dim_kl).sum(), 1)
    kl[mask] = np.minimum(w * target / w.sum(), max_dim_kl)
    m, s = gaussian_with_kl(kl, rng)
    prior_mean = rng.normal(0.0, 0.5, size=shape)
    prior_std = np.exp(rng.normal(-0.3, 0.3, size=shape))
    prior = DiagonalGaussian(prior_mean, prior_std)
    posterior = DiagonalGaussian(prior_mean + prior_std * m, prior_std * s)
    return posterior, prior
