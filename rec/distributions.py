"""Diagonal Gaussians: the posteriors q and priors p that the samplers code.

All quantities are float64 numpy arrays of one shape; KL is per dimension in
nats (:meth:`DiagonalGaussian.kl`) or summed in bits
(:meth:`DiagonalGaussian.kl_bits`, the unit every rate in ``rec`` is reported in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rec.errors import RecError

__all__ = ["DiagonalGaussian", "LOG2E"]

LOG2E = 1.0 / math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class DiagonalGaussian:
    """N(mean, diag(std**2)) over an array of any shape.

    Invariants (checked on construction): ``mean`` and ``std`` are float64
    arrays of the same shape, all finite, ``std > 0``. The arrays are made
    read-only copies only when conversion was needed; do not mutate them.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        if mean.shape != std.shape:
            raise RecError(f"mean shape {mean.shape} != std shape {std.shape}")
        if not np.all(np.isfinite(mean)):
            raise RecError("mean has non-finite values")
        if not (np.all(np.isfinite(std)) and np.all(std > 0)):
            raise RecError("std must be finite and > 0")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def from_batch(cls, normal, index: int = 0) -> "DiagonalGaussian":
        """Element ``index`` of a batched torch Gaussian (anything with ``mean``
        and ``std`` tensors of shape ``(B, ...)``, e.g. ``rec.models.pln.Normal``),
        in float64: what the samplers code."""
        return cls(normal.mean[index].double().cpu().numpy(), normal.std[index].double().cpu().numpy())

    # -- shape ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    @property
    def size(self) -> int:
        return int(self.mean.size)

    def flatten(self) -> "DiagonalGaussian":
        """The same distribution over the raster-order (C-order) flattened vector."""
        return DiagonalGaussian(self.mean.reshape(-1), self.std.reshape(-1))

    def reshape(self, shape) -> "DiagonalGaussian":
        return DiagonalGaussian(self.mean.reshape(shape), self.std.reshape(shape))

    def _check_other(self, other: "DiagonalGaussian") -> None:
        if not isinstance(other, DiagonalGaussian):
            raise RecError(f"expected DiagonalGaussian, got {type(other).__name__}")
        if other.shape != self.shape:
            raise RecError(f"shape mismatch: {self.shape} vs {other.shape}")

    # -- densities -----------------------------------------------------------
    def log_prob(self, z) -> np.ndarray:
        """Elementwise log density (nats) at ``z`` (broadcast against the shape)."""
        u = (np.asarray(z, dtype=np.float64) - self.mean) / self.std
        return -0.5 * u * u - np.log(self.std) - _HALF_LOG_2PI

    def kl(self, other: "DiagonalGaussian") -> np.ndarray:
        """KL[self || other] per dimension, in nats."""
        self._check_other(other)
        ratio = self.std / other.std
        d = (self.mean - other.mean) / other.std
        return 0.5 * (ratio * ratio + d * d - 1.0) - np.log(ratio)

    def kl_bits(self, other: "DiagonalGaussian") -> float:
        """Total KL[self || other] in bits."""
        return float(np.sum(self.kl(other)) * LOG2E)

    # -- coordinates -----------------------------------------------------------
    def standardize(self, other: "DiagonalGaussian") -> "DiagonalGaussian":
        """``self`` in the coordinates ``u = (z - other.mean)/other.std`` where
        ``other`` becomes N(0, 1): N((mu - mu_o)/s_o, (s/s_o)**2). KL is invariant."""
        self._check_other(other)
        return DiagonalGaussian((self.mean - other.mean) / other.std, self.std / other.std)

    def to_standard(self, z) -> np.ndarray:
        """Map ``z`` to the coordinates where ``self`` is N(0, 1)."""
        return (np.asarray(z, dtype=np.float64) - self.mean) / self.std

    def sample(self, eps) -> np.ndarray:
        """``mean + std * eps`` (``eps`` standard normal, same shape): the map from
        shared randomness to a sample. Also maps standardized coordinates back."""
        eps = np.asarray(eps, dtype=np.float64)
        if eps.shape != self.shape:
            raise RecError(f"eps shape {eps.shape} != distribution shape {self.shape}")
        return self.mean + self.std * eps
