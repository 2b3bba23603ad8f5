"""Building blocks of the transforms: GDN / IGDN and mirror-padded convolutions.

GDN (Ballé, Laparra, Simoncelli 2016, "Density modeling of images using a
generalized normalization transformation", eq. 6 with α = 2, ε = 1/2)::

    y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)

and its approximate inverse IGDN, ``y_i = x_i · sqrt(β_i + Σ_j γ_ij x_j²)``.
β and γ are kept non-negative by the reparametrization of Ballé et al. (2018):
a parameter p stands for ``max(p, bound)² - pedestal``. The normalization is
computed in float32 even under bf16 autocast: it divides by a sum of squares.

"Mirror" padding is the thesis's choice (section 3.2.1, Fig. 3.2): every
convolution pads its input by reflection. Reflection needs the input to be
larger than the pad, so tiny feature maps fall back to edge replication;
the choice depends only on the shape, so encoder and decoder agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GDN", "LowerBound", "MirrorConv2d", "MirrorConvTranspose2d", "mirror_pad"]


class _NonNegative(nn.Module):
    """A tensor parameter reparametrized to stay ≥ ``minimum`` (Ballé 2018)."""

    def __init__(self, init: torch.Tensor, minimum: float = 0.0, reparam_offset: float = 2**-18):
        super().__init__()
        self.pedestal = reparam_offset**2
        self.bound = (minimum + self.pedestal) ** 0.5
        self.value = nn.Parameter(torch.sqrt(torch.clamp(init + self.pedestal, min=self.pedestal)))

    def forward(self) -> torch.Tensor:
        v = LowerBound.apply(self.value, self.bound)
        return v * v - self.pedestal


class LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still pulls x back up when it is below the bound."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp(x, min=bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through, None


class GDN(nn.Module):
    """Generalized divisive normalization, or its inverse (IGDN) with ``inverse=True``.

    Args:
        channels: number of channels C.
        inverse: multiply by the norm instead of dividing (IGDN).
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta = _NonNegative(torch.ones(channels), minimum=beta_min)
        self.gamma = _NonNegative(gamma_init * torch.eye(channels))

    #: Without gradients, feature maps larger than this many values are normalized in
    #: bands of rows and *in place* (the input is overwritten), so that a large photo
    #: needs no full-size temporaries (GDN is pointwise in space).
    CHUNK_VALUES = 1 << 24

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        with torch.autocast(x.device.type, enabled=False):
            c = x.shape[1]
            gamma, beta = self.gamma().reshape(c, c, 1, 1), self.beta()
            if torch.is_grad_enabled() or x.numel() <= self.CHUNK_VALUES:
                return self._normalize(x.float(), gamma, beta).to(dtype)
            rows = max(1, self.CHUNK_VALUES // (x.shape[0] * c * x.shape[3]))
            out = x if x.dtype == torch.float32 else torch.empty_like(x)
            for top in range(0, x.shape[2], rows):
                out[:, :, top : top + rows] = self._normalize(x[:, :, top : top + rows].float(), gamma, beta)
            return out

    def _normalize(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        norm = F.conv2d(x * x, gamma, beta)
        if torch.is_grad_enabled():
            norm = torch.sqrt(norm)
            return x * norm if self.inverse else x / norm
        # inference: the result in the norm's buffer (the same floats, ~40 % less time)
        norm.sqrt_()
        return norm.mul_(x) if self.inverse else torch.div(x, norm, out=norm)


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the two spatial axes by ``pad`` with reflection, or replication if too small."""
    if pad == 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (pad, pad, pad, pad), mode=mode)


class MirrorConv2d(nn.Conv2d):
    """A 'same' convolution with mirror padding; ``stride`` divides the size."""

    #: Without gradients, outputs larger than this many values are computed in bands of
    #: rows, each from its own mirror-padded slice of the input: no padded copy of a
    #: whole large feature map is ever made.
    CHUNK_VALUES = 1 << 24

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        self.pad = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, s, k = self.pad, self.stride[0], self.kernel_size[0]
        h, w = x.shape[-2:]
        out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        big = x.shape[0] * self.out_channels * out_h * out_w > self.CHUNK_VALUES
        if torch.is_grad_enabled() or not big or min(h, w) <= p:
            return super().forward(mirror_pad(x, p))
        out = torch.empty((x.shape[0], self.out_channels, out_h, out_w), dtype=x.dtype, memory_format=torch.channels_last)
        rows = max(1, self.CHUNK_VALUES // (x.shape[0] * self.out_channels * out_w))
        for top in range(0, out_h, rows):
            bottom = min(out_h, top + rows)
            src = torch.arange(top * s - p, (bottom - 1) * s - p + k)
            src = torch.where(src < 0, -src, torch.where(src >= h, 2 * (h - 1) - src, src))  # reflect
            band = F.pad(x[:, :, src], (p, p, 0, 0), mode="reflect")
            out[:, :, top:bottom] = super().forward(band)
        return out


class MirrorConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution multiplying the size by ``stride`` exactly.

    The input is mirror-padded by one sample on each side; the transposed
    convolution's padding p and output padding op then remove the surplus:
    (H + 1)·s − 2p + k + op = s·H, i.e. 2p − op = s + k.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 2):
        total = stride + kernel  # (H+2-1)*s + k - 2p + op = s*H  =>  2p - op = s + k
        padding, output_padding = (total + 1) // 2, (total + 1) // 2 * 2 - total
        super().__init__(cin, cout, kernel, stride=stride, padding=padding, output_padding=output_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(mirror_pad(x, 1))
