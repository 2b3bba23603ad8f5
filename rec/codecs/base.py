"""What every codec shares: the :class:`Codec` interface, the :class:`Report` of an encode, the model hash.

A codec turns an RGB image into the bytes of a rec container (rec/container.py) with one
kind of model, and back (docs/design.md §1, §4). Its header codec id names it; the model
kinds it codes with (``model.config.kind``) tie it to the zoo. The registry
(:mod:`rec.codecs.registry`) finds the codec of a file or of a model, so that the front door
(:func:`rec.compress`, :func:`rec.decompress`), the CLI, ``rec eval`` and training never ask
which kind of model they hold.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rec.container import HASH_BYTES, Container, Header, SectionType
from rec.errors import FormatError, RecError
from rec.image import check_size
from rec.metrics import MS_SSIM_MIN_SIDE, ms_ssim, psnr

__all__ = ["Codec", "LevelBits", "LevelReport", "Report", "section_bits", "Compressed", "model_hash", "distortion", "check_header_size",
           "one_level_report", "refuse_rate", "split_parameters", "checked_device"]


@runtime_checkable
class Codec(Protocol):
    """One codec: image ⇄ bytes with the models of its kinds.

    Attributes:
        codec_id: the header's codec id (and the codec's name in ``rec eval``).
        kinds: the model kinds (``model.config.kind``) it codes with.
        label: a human name, for reports.
        devices: where its networks may run (``"cpu"``, ``"cuda"``); see :func:`checked_device`.
    """

    codec_id: str
    kinds: tuple[str, ...]
    label: str
    devices: tuple[str, ...]

    def prepare(self, model: Any) -> Any:
        """The model in the mode and memory layout the codec computes with (eval mode)."""

    def compress(self, rgb: np.ndarray, model: Any, **options) -> "Compressed":
        """Encode an RGB uint8 array (H, W, 3) into the bytes of a file with :class:`Report`;
        ``options`` are the front door's (samplers, seed, beta, ideal, started); a codec
        refuses those it cannot honour."""

    def decompress(self, data: bytes, container: Container, model: Any) -> np.ndarray:
        """Decode a file of this codec (its parsed container given) into an RGB uint8 array."""

    def rate_label(self, config: Any) -> str:
        """The rate setting of a model config for ``rec models`` (28 characters wide)."""

    def written(self, container: Container, model: Any) -> list["LevelBits"]:
        """How each level's bits divide, read from a file of this codec and its model's shapes
        (``rec info``); FormatError on a malformed file."""

    # training: the objective of the codec's models (rec.training.loop asks these)
    def losses(self, net: Any, x: Any, *, warmup: float, sample: bool, beta: Any) -> Any:
        """The model's training losses of a batch (``sample``: the training noise; else inference)."""

    def log_scalars(self, losses: Any) -> dict[str, float]:
        """The figures of a training step's log record, in their order."""

    def level_bits(self, losses: Any) -> tuple[Any, Any]:
        """Bits of level 1 and level 2 (as the container's sections) of validation losses."""

    def level1_channels(self, losses: Any) -> Any:
        """Level-1 bits per channel (to count the active channels), or None."""

    def parameter_groups(self, model: Any, gamma_lr_scale: float) -> list[dict]:
        """The optimizer's parameter groups, each with its ``lr_scale``."""


@dataclass(frozen=True)
class LevelReport:
    """Rate of one latent level: the KL (a quantized codec: its estimate −Σ log2 P) and the bits actually written.

    ``index_bits + side_bits + outlier_bits`` are the level's payload. A sampler that codes
    groups of dimensions also reports ``groups`` (how many were coded by an index) and
    ``slack_bits``: its index bits minus the KL of its groups (all but the outliers), what the
    indices cost beyond the KL they carry (None where it does not apply).
    """

    name: str
    sampler: str
    dimensions: int
    kl_bits: float
    index_bits: int
    side_bits: int
    outlier_bits: int
    groups: int | None = None
    slack_bits: float | None = None

    @property
    def bits(self) -> int:
        return self.index_bits + self.side_bits + self.outlier_bits

    @property
    def overhead_per_group(self) -> float | None:
        """(bits − KL) / groups: what each coded group costs beyond its KL, side information included."""
        return None if not self.groups else (self.bits - self.kl_bits) / self.groups


@dataclass(frozen=True)
class LevelBits:
    """The bits of one latent level as a file holds them (``rec info``, :meth:`Codec.written`):
    what the encoder's :class:`LevelReport` says, less what only the encoder knows (the KL)."""

    name: str
    coder: str
    index_bits: int
    side_bits: int
    outlier_bits: int
    groups: int | None = None
    outliers: int | None = None

    @property
    def bits(self) -> int:
        return self.index_bits + self.side_bits + self.outlier_bits


def section_bits(container: Container, levels: Sequence[tuple[str, int]], coder: str) -> list[LevelBits]:
    """A quantized codec's levels as its sections divide them: ``(name, level)`` → the level's
    PAYLOAD_LEVEL section as index bits, its SIDE_INFO as side bits, its OUTLIERS as outlier bits."""
    def size(kind: SectionType, level: int) -> int:
        return sum(8 * len(s.payload) for s in container.sections if s.kind == kind and s.level == level)

    return [LevelBits(name, coder, size(SectionType.PAYLOAD_LEVEL, level), size(SectionType.SIDE_INFO, level),
                      size(SectionType.OUTLIERS, level)) for name, level in levels]


@dataclass
class Report:
    """What an encode produced, in the stable schema of ``rec encode --json``.

    ``kl_bits`` is the total KL I; ``bound_bits`` the thesis's theoretical size
    I + 2·log2(I + 1); ``container_bits`` the header, section framing and CRC.
    ``psnr`` / ``ms_ssim`` are of the image decoded from the bytes,
    ``ideal_psnr`` / ``ideal_ms_ssim`` of the reconstruction from an exact
    posterior sample (no coding); they are None unless requested.
    """

    width: int
    height: int
    bytes: int
    bpp: float
    model: str
    samplers: str
    seed: int
    levels: list[LevelReport]
    kl_bits: float
    bound_bits: float
    container_bits: int
    encode_seconds: float
    decode_seconds: float | None = None
    psnr: float | None = None
    ms_ssim: float | None = None
    ideal_psnr: float | None = None
    ideal_ms_ssim: float | None = None
    beta: float | None = None  # the rate parameter of a variable-rate model

    @property
    def kl_bpp(self) -> float:
        return self.kl_bits / (self.width * self.height)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kl_bpp"] = self.kl_bpp
        for level, lr in zip(d["levels"], self.levels):
            level["bits"] = lr.bits
            level["overhead_per_group"] = lr.overhead_per_group
        return d


class Compressed(bytes):
    """The bytes of a .rec file, carrying the encoder's :class:`Report` as ``.report`` and,
    when the encoder verified them, the image decoded from them as ``.decoded``."""

    report: Report
    decoded: np.ndarray | None = None


def model_hash(model) -> bytes:
    """The first :data:`~rec.container.HASH_BYTES` bytes of the weights' SHA-256 (the zoo's file hash for shipped
    models); a file's hash is checked with :func:`~rec.container.same_weights`."""
    digest = getattr(model, "weights_sha256", None)
    if digest is None:
        h = hashlib.sha256()
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        digest = model.weights_sha256 = h.hexdigest()
    return bytes.fromhex(digest)[:HASH_BYTES]


def distortion(original: np.ndarray, decoded: np.ndarray) -> tuple[float, float | None]:
    """PSNR, and MS-SSIM where the image is large enough for its five scales (else None)."""
    small = min(original.shape[:2]) < MS_SSIM_MIN_SIDE
    return psnr(original, decoded), None if small else ms_ssim(original, decoded)


def check_header_size(header: Header) -> None:
    """FormatError unless the header's width × height is one rec.image.check_size accepts."""
    try:
        check_size(header.width, header.height)
    except RecError as e:
        raise FormatError(f"the file claims an image rec cannot decode: {e}") from None


def checked_device(codec: Codec, device) -> "torch.device":
    """``device`` ("cpu", "cuda", "cuda:1" or a torch.device) as a torch.device the codec can run on.

    Raises:
        RecError: a device the codec does not run on (the quantized codecs run on the CPU:
            their decoders derive coding tables from fixed-point networks checked there), or a
            CUDA device this torch cannot see.
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise RecError(f"unknown device {device!r}: expected 'cpu' or 'cuda' ({e})") from None
    if dev.type not in codec.devices:
        raise RecError(f"the {codec.label} codec runs on {' or '.join(codec.devices)}, not on {dev.type}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RecError(f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA device")
    return dev


def refuse_rate(codec_id: str, rate: float | None) -> None:
    """RecError when a rate parameter is given to a fixed-rate codec's model."""
    if rate is not None:
        raise RecError(f"a {codec_id} model has a fixed rate: it takes no rate parameter")


def one_level_report(data: bytes, width: int, height: int, model: str, level: LevelReport, estimate: float,
                     container_bits: int, started: float) -> Report:
    """The :class:`Report` of a quantized codec that codes one latent level: its model's own
    estimate of the bits (``estimate``) stands where REC reports the KL and the bound."""
    return Report(width=width, height=height, bytes=len(data), bpp=8 * len(data) / (width * height), model=model,
                  samplers=level.sampler, seed=0, levels=[level], kl_bits=estimate, bound_bits=estimate,
                  container_bits=container_bits, encode_seconds=time.perf_counter() - started)


def split_parameters(model, prefix: str, lr_scale: float) -> list[dict]:
    """Two parameter groups: those named ``prefix…`` at ``lr_scale`` × the learning rate, the rest at 1×."""
    mine = [p for n, p in model.named_parameters() if n.startswith(prefix)]
    rest = [p for n, p in model.named_parameters() if not n.startswith(prefix)]
    return [{"params": rest, "lr_scale": 1.0}, {"params": mine, "lr_scale": lr_scale}]
