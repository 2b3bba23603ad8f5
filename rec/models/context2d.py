"""The 2D context model of mbt2018 (Minnen, Ballé & Toderici 2018, section 2): masked
convolution and the schedules of the autoregressive pass (:meth:`rec.models.joint.JointPrior.autoregress`).

Autoregressive pass. The masked 5×5 kernel (type A) sees, of the 25 positions
of its window, only the 12 before the centre in raster order: (i−2, j−2…j+2),
(i−1, j−2…j+2), (i, j−2), (i, j−1). Position (i, j) therefore only needs
positions with smaller t = 3i + j (the worst case is (i−1, j+2): t − 1), so all
positions on an anti-diagonal t = 3i + j are independent: the "wavefront"
schedule codes a latent of h × w positions in 3(h−1) + w steps, each step one
gather of 5×5 causal windows, one matrix product for g_cm and three for g_ep
over the step's positions, vectorized over channels. The context model
is never run over the whole latent at inference.

Invariant: whatever the schedule, position (i, j) is computed from positions coded at earlier
steps only (tests/models/test_joint.py checks every tap of the type-A mask against the steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rec.errors import RecError

__all__ = ["SCHEDULES", "AutoregressiveResult", "MaskedConv2d", "Step", "raster_schedule", "wavefront_schedule"]


class MaskedConv2d(nn.Conv2d):
    """Masked convolution of PixelCNN (van den Oord et al. 2016), zero-padded "same".

    Mask type A keeps the kernel taps strictly before the centre in raster
    order, type B also the centre. Padding is zeros, not mirror: a reflected
    row below would leak not-yet-decoded latents (and Minnen 2018, section 2:
    "previously decoded latents have all been set to zero").
    """

    def __init__(self, cin: int, cout: int, kernel: int = 5, mask_type: str = "A"):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        if mask_type not in ("A", "B"):
            raise RecError(f"mask type must be 'A' or 'B', got {mask_type!r}")
        c = kernel // 2
        mask = torch.zeros(kernel, kernel)
        mask[:c] = 1
        mask[c, : c + (mask_type == "B")] = 1
        self.register_buffer("mask", mask, persistent=False)
        # flat indices of the kept taps, for the local computation
        self.register_buffer("taps", mask.flatten().nonzero()[:, 0], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask.to(self.weight.dtype), self.bias, padding=self.padding)

    def local_weight(self) -> torch.Tensor:
        """The kept taps as a matrix (cout, cin·taps) for windows flattened as (cin, taps)."""
        w = self.pack(self.weight)
        return w.reshape(w.shape[0], -1)

    def pack(self, weight: torch.Tensor) -> torch.Tensor:
        """The kept taps of a (cout, cin, k, k) kernel, (cout, cin, taps): what the zoo stores."""
        return weight.flatten(2)[:, :, self.taps]

    def unpack(self, kept: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`pack`, the masked taps zero (forward never reads them)."""
        full = kept.new_zeros(*kept.shape[:2], self.mask.numel())
        full[:, :, self.taps] = kept
        return full.view_as(self.weight)


@dataclass
class Step:
    """One step of the autoregressive pass: positions coded together.

    ``mean`` and ``scale`` are (B, K, M) for the K positions (``rows``, ``cols``);
    ``scale`` is already bounded below (the σ the entropy model uses).
    """

    index: int
    rows: torch.Tensor
    cols: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor


@dataclass
class AutoregressiveResult:
    """ŷ and its Gaussian parameters, (B, M, h, w) each, and the integers q = ŷ − μ."""

    y_hat: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    symbols: torch.Tensor


def wavefront_schedule(h: int, w: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Positions grouped by t = 3i + j, t = 0 … 3(h−1) + w − 1; within a step by row.

    Step t holds the rows i with 0 ≤ t − 3i < w, i.e. ⌈(t − w + 1)/3⌉ ≤ i ≤ ⌊t/3⌋ (within
    0 … h − 1): O(h·w) in all, also for a tall image (a quadratic scan took 4 s for 16×54073).
    """
    steps = []
    for t in range(3 * (h - 1) + w):
        lo, hi = max(0, -(-(t - w + 1) // 3)), min(h - 1, t // 3)
        if lo <= hi:
            r = torch.arange(lo, hi + 1, dtype=torch.long)
            steps.append((r, t - 3 * r))
    return steps


def raster_schedule(h: int, w: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One position per step in raster order (for comparison; h·w steps)."""
    return [(torch.tensor([i]), torch.tensor([j])) for i in range(h) for j in range(w)]


SCHEDULES: dict[str, Callable[[int, int], list]] = {"wavefront": wavefront_schedule, "raster": raster_schedule}
