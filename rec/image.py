"""Reading images into RGB uint8 arrays and writing files atomically.

Accepted: anything Pillow decodes. Grayscale, bilevel and palette images are
expanded to RGB; 16- and 32-bit integer images are rescaled to 8 bits; CMYK,
YCbCr and LAB are converted by Pillow; an alpha channel is dropped with a
:class:`AlphaDroppedWarning` (the codec is RGB-only). Non-images, truncated
files, empty files, images with NaN or infinite values and images past the size caps
raise :class:`RecError`. The EXIF orientation is applied (a portrait photo stored
landscape is coded upright).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from rec.errors import RecError

__all__ = ["IMAGE_SUFFIXES", "LOSSLESS_SUFFIXES", "image_files", "AlphaDroppedWarning", "to_rgb_array", "read_image", "write_atomic", "check_output_path", "save_png", "MAX_PIXELS", "MAX_SIDE", "check_size",
           "estimated_memory_gb", "memory_limit_gb",
           "image_tensor", "tensor_image"]

#: The image files that folders are read for (training data, batch encoding).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})
#: The lossless ones: what ``rec eval`` and ``rec bench`` measure against.
LOSSLESS_SUFFIXES = frozenset({".png", ".bmp", ".ppm", ".tif", ".tiff"})
MAX_SIDE = 1 << 16  # the container's limit per dimension
MAX_PIXELS = 1 << 26  # 67 M pixels: about 8k × 8k


class AlphaDroppedWarning(UserWarning):
    """The input had an alpha channel; rec codes RGB only."""


def estimated_memory_gb(width: int, height: int) -> float:
    """Peak memory of coding one image: a base for the model and libraries, ~280 B per pixel,
    and the distortion guide's gradient (its autograd graph: ~650 B per pixel until the banding
    of PLN.distortion_gradient caps it near 0.65 GB).

    Calibrated on peak resident sets of `rec encode` with the default model on this project's
    machines: 0.90, 1.65 and 2.11 GB at 0.4, 1.6 and 3.5 megapixels, 2.40 GB at 4000×3000
    (results/codec.md); the estimate stays above each.
    """
    pixels = width * height
    return 0.6 + 280e-9 * pixels + min(0.65, 650e-9 * pixels)


#: The share of the machine's memory one image may need (the rest: the OS, other processes).
MEMORY_SHARE = 0.75


def memory_limit_gb() -> float:
    """The memory one image may take to code: ``REC_MAX_MEMORY_GB`` if set, else
    :data:`MEMORY_SHARE` of the machine's memory (or of its cgroup's limit, if lower)."""
    env = os.environ.get("REC_MAX_MEMORY_GB", "").strip()
    if env:
        try:
            value = float(env)
        except ValueError:
            raise RecError(f"REC_MAX_MEMORY_GB must be a number of GB, got {env!r}") from None
        if not value > 0:
            raise RecError(f"REC_MAX_MEMORY_GB must be positive, got {env!r}")
        return value
    return MEMORY_SHARE * _machine_memory_gb()


def _machine_memory_gb() -> float:
    total = math.inf
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text) / 1e9)
    return total if math.isfinite(total) else 16.0


def check_size(width: int, height: int) -> None:
    """Raise RecError unless width × height is within 1 .. MAX_SIDE per side and MAX_PIXELS in all,
    and coding it fits the memory limit (:func:`memory_limit_gb`): checked before anything is allocated."""
    if width < 1 or height < 1:
        raise RecError(f"image has no pixels ({width}×{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise RecError(f"image of {width}×{height} pixels exceeds the limits ({MAX_SIDE} per side, {MAX_PIXELS} pixels)")
    need, limit = estimated_memory_gb(width, height), memory_limit_gb()
    if need > limit:
        raise RecError(f"image of {width}×{height} pixels needs about {need:.1f} GB to code, more than the "
                       f"{limit:.1f} GB this machine allows (set REC_MAX_MEMORY_GB to change the limit)")


def _from_pil(im: Image.Image) -> np.ndarray:
    check_size(*im.size)
    im = _upright(im)
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
        if not np.isfinite(a).all():
            raise RecError("image contains NaN or infinite values")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _upright(im: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation tag says (a portrait photo stored landscape)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: take the pixels as stored
        return im
    if orientation in (None, 1):
        return im
    return ImageOps.exif_transpose(im)


def to_rgb_array(image) -> np.ndarray:
    """An RGB uint8 array (H, W, 3) from a path, a PIL image or an array.

    Arrays may be (H, W) or (H, W, 1|3|4), uint8, uint16, or float in [0, 1].

    Raises:
        RecError: unreadable, not an image, empty, or too large.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, Image.Image):
        try:
            return _from_pil(image)
        except (OSError, SyntaxError, ValueError, AttributeError) as e:  # closed, truncated, lazily opened files …
            raise RecError(f"cannot read the image: {e}") from None
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


def image_files(directory: str | os.PathLike, suffixes=IMAGE_SUFFIXES) -> list[Path]:
    """The files of ``directory`` whose suffix (any case) is one of ``suffixes``, sorted by name.

    Raises:
        RecError: ``directory`` is not a directory.
    """
    d = Path(directory)
    if not d.is_dir():
        raise RecError(f"no such directory: {d}")
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


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


def check_output_path(path, *inputs) -> Path:
    """``path`` as a Path, or RecError unless a file can be written there without harm.

    Refused: an empty path, an existing directory, a missing or unwritable parent
    directory, and an output that is one of ``inputs`` (it would overwrite the source).
    """
    if path is None or not str(path).strip():
        raise RecError("the output path is empty")
    path = Path(path)
    if path.is_dir():
        raise RecError(f"the output {path} is a directory")
    parent = path.parent
    if not parent.exists():
        raise RecError(f"the output directory {parent} does not exist")
    if not parent.is_dir():
        raise RecError(f"the output's parent {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RecError(f"the output directory {parent} is not writable")
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise RecError(f"the output {path} is the input: it would be overwritten")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _umask() -> int:
    """The process's umask (read, not changed, where /proc tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never a partial file.

    The file gets the mode a plain ``open`` would give (0666 less the umask), not the
    temporary file's 0600.

    Raises:
        RecError: the path cannot be written (see :func:`check_output_path`) or writing failed;
            nothing is left behind.
    """
    path = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise RecError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise RecError(f"cannot write {path}: {e.strerror or e}") from None
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
    return torch.round(x).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
