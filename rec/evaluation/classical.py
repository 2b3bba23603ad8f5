"""Classical image codecs behind one interface, for reference rate-distortion curves.

Every codec is a :class:`ClassicalCodec`: ``encode(rgb, quality) -> bytes`` and
``decode(bytes) -> rgb`` on uint8 ``(H, W, 3)`` arrays, a short ``name`` (used
for file names), a human ``label``, the meaning of its ``quality`` argument
(always: larger = more bytes, better fidelity) and a default quality grid
``qualities`` chosen so that a sweep covers about 0.1-1.5 bpp on Kodak
(measured over the 24 Kodak images, see ``results/classical/``).

========  ====================================  ===========================================
name      library                               quality
========  ====================================  ===========================================
jpeg      Pillow (libjpeg-turbo), 4:2:0         Pillow/IJG quality 1-95, no Huffman optim.
jpeg444   Pillow (libjpeg-turbo), 4:4:4         same
webp      Pillow (libwebp), method 4            libwebp quality 0-100
jpeg2000  Pillow (OpenJPEG), 9/7 + ICT, .j2k    target PSNR (dB) of OpenJPEG's fixed-quality
                                                layer allocation (``quality_mode="dB"``)
avif      imagecodecs (libavif/aom), 4:4:4      libavif quality 0-100; Pillow's AVIF plugin
          else Pillow's AVIF plugin             as fallback
heic      pillow-heif (libheif + x265), 4:4:4   libheif quality 0-100 (x265 CRF = (100-q)/2),
                                                psy-rd off, aq-mode 2
jpegxl    imagecodecs (libjxl), effort 7        libjxl quality 0-100 (q 90 ≡ distance 1)
========  ====================================  ===========================================

``heic`` is HEVC intra coding by x265 with full-resolution chroma (BT.601
full-range YCbCr), the same coding tool BPG uses (``bpg_444_x265_ycbcr``
anchor), with x265's tune-ssim settings as in BPG (see :class:`HEIC`), but CRF
rate control and preset slow: close to, not identical with, BPG (constant QP).

A codec whose library is missing is not an error: :func:`available_codecs`
returns only the usable ones and :func:`unavailable_codecs` tells why each other
one is missing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import io
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from rec.errors import RecError

__all__ = [
    "ClassicalCodec",
    "JPEG",
    "WebP",
    "JPEG2000",
    "AVIF",
    "HEIC",
    "JPEGXL",
    "all_codecs",
    "available_codecs",
    "unavailable_codecs",
    "get_codec",
]


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return ``rgb`` as a C-contiguous uint8 (H, W, 3) array or raise RecError."""
    x = np.asarray(rgb)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise RecError(f"expected a uint8 RGB array of shape (H, W, 3), got {x.dtype} {x.shape}")
    return np.ascontiguousarray(x)


def _pkg_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _pillow_feature(feature: str) -> str | None:
    """None if Pillow has ``feature`` (a codec), else the reason it is missing."""
    from PIL import features

    try:
        ok = features.check(feature)
    except ValueError:  # Pillow too old to know the feature at all
        ok = False
    return None if ok else f"Pillow {_pkg_version('pillow')} was built without {feature}"


def _imagecodecs(codec: str) -> str | None:
    """None if imagecodecs can encode ``codec`` (e.g. "JPEGXL"), else the reason."""
    try:
        ic = importlib.import_module("imagecodecs")
    except ImportError:
        return "imagecodecs is not installed (pip install 'rec[eval]')"
    attr = getattr(ic, codec, None)
    if attr is None or not getattr(attr, "available", False):
        return f"imagecodecs {_pkg_version('imagecodecs')} has no {codec} codec"
    return None


class ClassicalCodec(ABC):
    """A classical image codec: bytes in, bytes out, at a scalar quality setting.

    Subclasses set ``name``, ``label``, ``quality_meaning`` and ``qualities`` and
    implement ``_encode``/``_decode``; this class validates input and wraps
    library failures in :class:`~rec.errors.RecError`.
    """

    name: str
    label: str
    quality_meaning: str
    qualities: tuple[float, ...]
    quality_range: tuple[float, float]

    def unavailable_reason(self) -> str | None:
        """None if the codec can run on this machine, else why not."""
        return None

    @property
    def available(self) -> bool:
        return self.unavailable_reason() is None

    def version(self) -> str:
        """The library (and its codec) that does the work, with versions."""
        return f"Pillow {_pkg_version('pillow')}"

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        """Compress a uint8 (H, W, 3) image at ``quality`` (larger = better, more bytes).

        Raises:
            RecError: bad image, quality outside ``quality_range``, codec unavailable
                or the library failed.
        """
        x = check_rgb(rgb)
        lo, hi = self.quality_range
        if not lo <= quality <= hi:
            raise RecError(f"{self.name}: quality must be in [{lo}, {hi}], got {quality}")
        reason = self.unavailable_reason()
        if reason is not None:
            raise RecError(f"{self.name} is unavailable: {reason}")
        try:
            return bytes(self._encode(x, quality))
        except RecError:
            raise
        except Exception as e:  # library errors: ValueError, OSError, codec-specific ones
            raise RecError(f"{self.name}: encoding failed: {e}") from e

    def decode(self, data: bytes) -> np.ndarray:
        """Decompress to a uint8 (H, W, 3) array.

        Raises:
            RecError: empty or corrupt data, codec unavailable.
        """
        if not data:
            raise RecError(f"{self.name}: no data to decode")
        reason = self.unavailable_reason()
        if reason is not None:
            raise RecError(f"{self.name} is unavailable: {reason}")
        try:
            y = np.asarray(self._decode(bytes(data)))
        except RecError:
            raise
        except Exception as e:
            raise RecError(f"{self.name}: decoding failed: {e}") from e
        if y.dtype != np.uint8 or y.ndim != 3 or y.shape[2] != 3:
            raise RecError(f"{self.name}: decoder returned {y.dtype} {y.shape}, not uint8 RGB")
        return np.ascontiguousarray(y)

    @abstractmethod
    def _encode(self, rgb: np.ndarray, quality: float) -> bytes: ...

    @abstractmethod
    def _decode(self, data: bytes) -> np.ndarray: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _pil_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def _pil_encode(rgb: np.ndarray, fmt: str, **options) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, fmt, **options)
    return buf.getvalue()


class JPEG(ClassicalCodec):
    """Baseline JPEG (ITU-T T.81) through Pillow's libjpeg(-turbo).

    Pillow's defaults otherwise (no Huffman optimisation, not progressive), as
    in CompressAI's ``jpeg.json`` anchor, so the two curves are comparable.

    Args:
        subsampling: ``"4:2:0"`` (default, as the anchor) or ``"4:4:4"``.
    """

    quality_meaning = "IJG quality 1-95 (Pillow)"
    quality_range = (1, 95)
    _SUBSAMPLING = {"4:2:0": 2, "4:4:4": 0}

    def __init__(self, subsampling: str = "4:2:0"):
        if subsampling not in self._SUBSAMPLING:
            raise RecError(f"JPEG subsampling must be one of {sorted(self._SUBSAMPLING)}, got {subsampling!r}")
        self.subsampling = subsampling
        self.name = "jpeg" if subsampling == "4:2:0" else "jpeg444"
        self.label = f"JPEG {subsampling} (Pillow)"
        self.qualities = (
            (3, 5, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80)
            if subsampling == "4:2:0"
            else (2, 4, 6, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70)
        )

    def unavailable_reason(self) -> str | None:
        return _pillow_feature("jpg")

    def version(self) -> str:
        from PIL import features

        return f"Pillow {_pkg_version('pillow')}, libjpeg-turbo {features.version('libjpeg_turbo') or '?'}"

    def _encode(self, rgb: np.ndarray, quality: float) -> bytes:
        return _pil_encode(rgb, "JPEG", quality=int(round(quality)), subsampling=self._SUBSAMPLING[self.subsampling])

    def _decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)


class WebP(ClassicalCodec):
    """Lossy WebP (VP8 intra, 4:2:0) through Pillow's libwebp, default method 4."""

    name = "webp"
    label = "WebP (Pillow)"
    quality_meaning = "libwebp quality 0-100"
    quality_range = (0, 100)
    qualities = (0, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85)

    def unavailable_reason(self) -> str | None:
        return _pillow_feature("webp")

    def version(self) -> str:
        from PIL import features

        return f"Pillow {_pkg_version('pillow')}, libwebp {features.version('webp') or '?'}"

    def _encode(self, rgb: np.ndarray, quality: float) -> bytes:
        return _pil_encode(rgb, "WEBP", quality=float(quality), method=4)

    def _decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)


class JPEG2000(ClassicalCodec):
    """JPEG 2000 (ISO/IEC 15444-1) through Pillow's OpenJPEG.

    Irreversible 9/7 wavelet with the irreversible colour transform (ICT), one
    quality layer whose size OpenJPEG's fixed-quality allocation picks so that
    the PSNR reaches ``quality`` dB; raw ``.j2k`` codestream (no JP2 boxes).
    """

    name = "jpeg2000"
    label = "JPEG 2000 (Pillow, OpenJPEG)"
    quality_meaning = "target PSNR in dB (OpenJPEG fixed quality)"
    quality_range = (10, 80)
    qualities = (22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39)

    def unavailable_reason(self) -> str | None:
        return _pillow_feature("jpg_2000")

    def version(self) -> str:
        from PIL import features

        return f"Pillow {_pkg_version('pillow')}, OpenJPEG {features.version('jpg_2000') or '?'}"

    def _encode(self, rgb: np.ndarray, quality: float) -> bytes:
        return _pil_encode(
            rgb,
            "JPEG2000",
            quality_mode="dB",
            quality_layers=[float(quality)],
            irreversible=True,
            mct=1,
            no_jp2=True,
        )

    def _decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)


class AVIF(ClassicalCodec):
    """AVIF (AV1 intra in HEIF) with full-resolution chroma (4:4:4).

    Through imagecodecs (libavif with its default AV1 encoder, speed 6, one
    thread); if imagecodecs lacks AVIF, through Pillow's AVIF plugin (Pillow
    >= 11.2) with the same settings.
    """

    name = "avif"
    label = "AVIF 4:4:4"
    quality_meaning = "libavif quality 0-100"
    quality_range = (0, 100)
    qualities = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75)
    speed = 6

    def _backend(self) -> str | None:
        if _imagecodecs("AVIF") is None:
            return "imagecodecs"
        if _pillow_feature("avif") is None:
            return "pillow"
        return None

    def unavailable_reason(self) -> str | None:
        if self._backend() is None:
            return f"{_imagecodecs('AVIF')}; {_pillow_feature('avif')}"
        return None

    def version(self) -> str:
        if self._backend() == "imagecodecs":
            import imagecodecs

            return f"imagecodecs {imagecodecs.__version__}, {imagecodecs.avif_version()}"
        from PIL import features

        return f"Pillow {_pkg_version('pillow')}, libavif {features.version('avif') or '?'}"

    def _encode(self, rgb: np.ndarray, quality: float) -> bytes:
        if self._backend() == "imagecodecs":
            import imagecodecs

            return imagecodecs.avif_encode(
                rgb, level=int(round(quality)), speed=self.speed, pixelformat="444", numthreads=1
            )
        return _pil_encode(rgb, "AVIF", quality=int(round(quality)), speed=self.speed, subsampling="4:4:4", max_threads=1)

    def _decode(self, data: bytes) -> np.ndarray:
        if self._backend() == "imagecodecs":
            import imagecodecs

            return imagecodecs.avif_decode(data, numthreads=1)
        return _pil_decode(data)


class HEIC(ClassicalCodec):
    """HEIC: HEVC intra (x265) in HEIF through pillow-heif, chroma 4:4:4.

    pillow-heif's ``chroma=444`` sets x265's internal colour space to I444;
    the colour matrix is BT.601 full range (pillow-heif's NCLX default).
    libheif maps quality q to x265 CRF (100 - q)/2, preset slow, tune ssim, but
    then forces psycho-visual RDO on (psy-rd 1, psy-rdoq 1, aq-mode 1), which
    costs 14 % BD-rate in PSNR on Kodak; we restore what x265's tune ssim sets
    (and BPG uses): psy-rd 0, psy-rdoq 0, aq-mode 2.
    """

    X265_PARAMS = {"x265:psy-rd": "0", "x265:psy-rdoq": "0", "x265:aq-mode": "2"}

    name = "heic"
    label = "HEIC 4:4:4 (x265, pillow-heif)"
    quality_meaning = "libheif quality 0-100, x265 CRF = (100 - q) / 2"
    quality_range = (0, 100)
    qualities = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)

    def unavailable_reason(self) -> str | None:
        try:
            ph = importlib.import_module("pillow_heif")
        except ImportError:
            return "pillow-heif is not installed (pip install 'rec[eval]')"
        encoders = (ph.libheif_info().get("encoders") or {})
        if "x265" not in encoders and not ph.libheif_info().get("HEIF"):
            return f"pillow-heif {_pkg_version('pillow-heif')} has no HEVC (x265) encoder"
        return None

    def version(self) -> str:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return f"pillow-heif {pillow_heif.__version__}, libheif {info.get('libheif')}, {info.get('HEIF')}"

    def _encode(self, rgb: np.ndarray, quality: float) -> bytes:
        import pillow_heif

        h, w = rgb.shape[:2]
        heif = pillow_heif.from_bytes("RGB", (w, h), rgb.tobytes())
        buf = io.BytesIO()
        heif.save(buf, quality=int(round(quality)), chroma=444, save_nclx_profile=True, enc_params=dict(self.X265_PARAMS))
        return buf.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        img = heif[0]
        if img.mode != "RGB":
            return np.asarray(img.to_pillow().convert("RGB"))
        return np.asarray(img)


class JPEGXL(ClassicalCodec):
    """JPEG XL (ISO/IEC 18181) through imagecodecs' libjxl, VarDCT, effort 7.

    ``quality`` is libjxl's quality scale, mapped by libjxl to a Butteraugli
    distance (90 → 1.0, 50 → 4.6).
    """

    name = "jpegxl"
    label = "JPEG XL (imagecodecs, libjxl)"
    quality_meaning = "libjxl quality 0-100 (90 = distance 1)"
    quality_range = (0, 99)
    qualities = (5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85)
    effort = 7

    def unavailable_reason(self) -> str | None:
        return _imagecodecs("JPEGXL")

    def version(self) -> str:
        import imagecodecs

        return f"imagecodecs {imagecodecs.__version__}, {imagecodecs.jpegxl_version()}"

    def _encode(self, rgb: np.ndarray, quality: float) -> bytes:
        import imagecodecs

        return imagecodecs.jpegxl_encode(rgb, level=float(quality), effort=self.effort, numthreads=1)

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpegxl_decode(data, numthreads=1)


def all_codecs() -> list[ClassicalCodec]:
    """Every codec this module knows, available or not, in a fixed order."""
    return [JPEG("4:2:0"), JPEG("4:4:4"), WebP(), JPEG2000(), AVIF(), HEIC(), JPEGXL()]


def available_codecs(names: Sequence[str] | None = None) -> list[ClassicalCodec]:
    """The codecs that can run here (optionally only those named), in a fixed order.

    Raises:
        RecError: a name in ``names`` is not a known codec.
    """
    codecs = all_codecs()
    if names is not None:
        codecs = [get_codec(n) for n in names]
    return [c for c in codecs if c.available]


def unavailable_codecs() -> dict[str, str]:
    """Name → reason for every known codec that cannot run on this machine."""
    out = {}
    for c in all_codecs():
        reason = c.unavailable_reason()
        if reason is not None:
            out[c.name] = reason
    return out


def get_codec(name: str) -> ClassicalCodec:
    """The codec called ``name`` (``jpeg``, ``jpeg444``, ``webp``, ...), available or not.

    Raises:
        RecError: unknown name.
    """
    for c in all_codecs():
        if c.name == name:
            return c
    raise RecError(f"unknown codec {name!r}; known: {', '.join(c.name for c in all_codecs())}")
