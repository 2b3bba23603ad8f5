"""Image quality and rate metrics: PSNR, MS-SSIM (linear and dB), bits per pixel.

Conventions follow CompressAI's evaluation (``compressai.utils.eval_model``),
so numbers are comparable with the published anchors in its results JSONs:

* images are RGB ``uint8`` arrays of shape ``(H, W, 3)``; both metrics are
  computed on RGB, never on a luma channel;
* **PSNR** = 10·log10(255² / MSE), the MSE taken over all H·W·3 values
  (data range 255). Identical images give ``inf``.
* **MS-SSIM** is Wang, Simoncelli and Bovik, "Multi-scale structural
  similarity for image quality assessment" (Asilomar 2003), as implemented by
  ``pytorch_msssim.ms_ssim``: 5 scales with the paper's weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), an 11×11 Gaussian window of σ 1.5,
  K = (0.01, 0.03), data range 255 on values in [0, 255] (the same as data
  range 1 on values in [0, 1], which is what CompressAI uses).
* **MS-SSIM in dB** = -10·log10(1 - MS-SSIM); identical images give ``inf``.
* **bpp** = 8·bytes / (W·H).

Small images. Five scales of an 11-pixel window need every side to be larger
than (11 - 1)·2⁴ = 160 pixels (``pytorch_msssim`` asserts this). By default
:func:`ms_ssim` therefore **raises** :class:`~rec.errors.RecError` for an image
with a side ≤ 160. With ``small="ssim"`` it falls back, without padding, to
single-scale SSIM (same window and constants) and :class:`Quality` records it in
``ms_ssim_is_ssim``; such a value is *not* an MS-SSIM and must not be averaged
with MS-SSIMs of larger images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rec.errors import RecError

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "Quality",
    "bpp",
    "mse",
    "psnr",
    "ms_ssim",
    "ms_ssim_db",
    "quality",
]

#: Smallest side (pixels) for which 5-scale MS-SSIM with an 11×11 window is defined.
MS_SSIM_MIN_SIDE = 161

_WIN_SIZE = 11


@dataclass(frozen=True)
class Quality:
    """Distortion of a reconstruction against its original.

    Attributes:
        psnr: PSNR in dB on RGB, data range 255 (``inf`` when identical).
        ms_ssim: MS-SSIM on RGB in [0, 1] (or single-scale SSIM, see below).
        ms_ssim_db: -10·log10(1 - ms_ssim) (``inf`` when ms_ssim is 1).
        ms_ssim_is_ssim: True when the image was too small for MS-SSIM and
            ``ms_ssim`` holds single-scale SSIM instead (only with
            ``small="ssim"``).
    """

    psnr: float
    ms_ssim: float
    ms_ssim_db: float
    ms_ssim_is_ssim: bool = False


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(original)
    b = np.asarray(reconstruction)
    for name, x in (("original", a), ("reconstruction", b)):
        if x.dtype != np.uint8:
            raise RecError(f"{name} must be uint8 RGB, got dtype {x.dtype}")
        if x.ndim != 3 or x.shape[2] != 3:
            raise RecError(f"{name} must have shape (H, W, 3), got {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise RecError(f"{name} is empty: shape {x.shape}")
    if a.shape != b.shape:
        raise RecError(f"shapes differ: original {a.shape}, reconstruction {b.shape}")
    return a, b


def mse(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error over all H·W·3 values of two uint8 RGB images."""
    a, b = _check_pair(original, reconstruction)
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """PSNR in dB of two uint8 RGB images, data range 255; ``inf`` when identical.

    Raises:
        RecError: not uint8 ``(H, W, 3)`` arrays of the same shape.
    """
    m = mse(original, reconstruction)
    if m == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / m)


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in dB: -10·log10(1 - value); ``inf`` for 1.

    Raises:
        RecError: value outside [-1, 1] or not finite.
    """
    if not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise RecError(f"MS-SSIM must be in [-1, 1], got {value}")
    if value >= 1.0:
        return math.inf
    return -10.0 * math.log10(1.0 - value)


def _ms_ssim(a: np.ndarray, b: np.ndarray, small: str) -> tuple[float, bool]:
    import torch
    from pytorch_msssim import ms_ssim as _torch_ms_ssim
    from pytorch_msssim import ssim as _torch_ssim

    if small not in ("raise", "ssim"):
        raise RecError(f"small must be 'raise' or 'ssim', got {small!r}")
    h, w = a.shape[:2]
    too_small = min(h, w) < MS_SSIM_MIN_SIDE
    if too_small and small == "raise":
        raise RecError(
            f"image of {w}x{h} is too small for 5-scale MS-SSIM (every side must be "
            f">= {MS_SSIM_MIN_SIDE} px); pass small='ssim' for single-scale SSIM"
        )
    if too_small and min(h, w) < _WIN_SIZE:
        raise RecError(f"image of {w}x{h} is smaller than the {_WIN_SIZE}x{_WIN_SIZE} SSIM window")
    # float32 NCHW in [0, 255], data range 255: CompressAI's computation up to float
    # round-off (it uses [0, 1] and data range 1); float64 changes results by ~1e-7
    # and is 4x slower
    x = torch.tensor(a, dtype=torch.float32).permute(2, 0, 1)[None]
    y = torch.tensor(b, dtype=torch.float32).permute(2, 0, 1)[None]
    with torch.no_grad():
        if too_small:
            value = _torch_ssim(x, y, data_range=255.0, size_average=True)
        else:
            value = _torch_ms_ssim(x, y, data_range=255.0, size_average=True)
    v = float(value)
    if np.array_equal(a, b):
        v = 1.0  # exact, free of float round-off
    return v, too_small


def ms_ssim(
    original: np.ndarray, reconstruction: np.ndarray, *, small: Literal["raise", "ssim"] = "raise"
) -> float:
    """MS-SSIM of two uint8 RGB images (pytorch-msssim, data range 255); 1 when identical.

    Args:
        original, reconstruction: uint8 arrays of shape (H, W, 3).
        small: what to do when a side is < :data:`MS_SSIM_MIN_SIDE`: ``"raise"``
            (default) or ``"ssim"`` to return single-scale SSIM instead.

    Raises:
        RecError: bad arrays, or an image too small for MS-SSIM with ``small="raise"``.
    """
    a, b = _check_pair(original, reconstruction)
    return _ms_ssim(a, b, small)[0]


def bpp(num_bytes: int, width: int, height: int) -> float:
    """Bits per pixel of a compressed file: 8·bytes / (W·H).

    Raises:
        RecError: negative size or non-positive dimensions.
    """
    if num_bytes < 0:
        raise RecError(f"number of bytes must be >= 0, got {num_bytes}")
    if width <= 0 or height <= 0:
        raise RecError(f"image dimensions must be positive, got {width}x{height}")
    return 8.0 * num_bytes / (width * height)


def quality(
    original: np.ndarray, reconstruction: np.ndarray, *, small: Literal["raise", "ssim"] = "raise"
) -> Quality:
    """PSNR and MS-SSIM (linear and dB) of a reconstruction; see :func:`ms_ssim` for ``small``."""
    a, b = _check_pair(original, reconstruction)
    value, is_ssim = _ms_ssim(a, b, small)
    return Quality(
        psnr=psnr(a, b),
        ms_ssim=value,
        ms_ssim_db=ms_ssim_db(min(max(value, -1.0), 1.0)),
        ms_ssim_is_ssim=is_ssim,
    )
