"""Reading images into RGB uint8 arrays and writing files atomically.

Accepted: anything Pillow decodes. Grayscale, bilevel and palette images are
expanded to RGB; 16- and 32-bit integer images are rescaled to 8 bits; CMYK,
YCbCr and LAB are converted by Pillow; an alpha channel is dropped with a
:class:`AlphaDroppedWarning` (the codec is RGB-only). Non-images, truncated
files, empty files and images past the size caps raise :class:`RecError`.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from rec.errors import RecError

__all__ = ["AlphaDroppedWarning", "to_rgb_array", "read_image", "write_atomic", "save_png", "MAX_PIXELS", "MAX_SIDE", "check_size",
           "image_tensor", "tensor_image"]

MAX_SIDE = 1 << 16  # the container's limit per dimension
MAX_PIXELS = 1 << 26  # 67 M pixels: about 8k × 8k


class AlphaDroppedWarning(UserWarning):
    """The input had an alpha channel; rec codes RGB only."""


def check_size(width: int, height: int) -> None:
    """Raise RecError unless width × height is within 1 .. MAX_SIDE per side and MAX_PIXELS in all."""
    if width < 1 or height < 1:
        raise RecError(f"image has no pixels ({width}×{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise RecError(f"image of {width}×{height} pixels exceeds the limits ({MAX_SIDE} per side, {MAX_PIXELS} pixels)")


def _from_pil(im: Image.Image) -> np.ndarray:
    check_size(*im.size)
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        warnings.warn(f"image mode {mode} has an alpha channel: it is dropped", AlphaDroppedWarning, stacklevel=3)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.int64)
        top = 65535 if mode.startswith("I;16") or a.max(initial=0) <= 65535 else max(int(a.max()), 1)
        a = np.clip((a * 255 + top // 2) // top, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def to_rgb_array(image) -> np.ndarray:
    """An RGB uint8 array (H, W, 3) from a path, a PIL image or an array.

    Arrays may be (H, W) or (H, W, 1|3|4), uint8, uint16, or float in [0, 1].

    Raises:
        RecError: unreadable, not an image, empty, or too large.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
            raise RecError(f"image array must be (H, W) or (H, W, 1|3|4), got shape {image.shape}")
        check_size(a.shape[1], a.shape[0])
        if a.shape[-1] == 4:
            warnings.warn("image array has an alpha channel: it is dropped", AlphaDroppedWarning, stacklevel=2)
            a = a[..., :3]
        if a.dtype == np.uint8:
            pass
        elif a.dtype == np.uint16:
            a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        elif np.issubdtype(a.dtype, np.floating):
            if not np.isfinite(a).all():
                raise RecError("image array contains NaN or infinity")
            a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
        else:
            raise RecError(f"unsupported image array dtype {a.dtype}")
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, axis=-1)
        return np.ascontiguousarray(a)
    raise RecError(f"cannot make an image of a {type(image).__name__}")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into RGB uint8 (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise RecError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise RecError(f"{path} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                check_size(*im.size)
                im.load()
                return _from_pil(im)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise RecError(f"{path} is not an image rec can read: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise RecError(f"cannot read image {path}: {e}") from None


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never a partial file."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 array as PNG, atomically."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) → float (1, 3, H, W) in [0, 1], channels-last: what the PLN analyses."""
    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
    return x.contiguous(memory_format=torch.channels_last)


def tensor_image(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    """A synthesis output (1, 3, H', W') cropped to (height, width), rounded to uint8 RGB."""
    x = x[0, :, :height, :width].clamp(0, 1) * 255.0
    return torch.round(x).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
