"""The REC codec: image ⇄ bytes, composing a model, two coded samplers and the container.

Data flow (docs/design.md §1; thesis section 3.4)::

    encode                                          decode
    x ─► model.analyze ─► q(z2|x), p(z2)=N(0,I)      header ─► model, size, samplers, seed
         level-2 sampler ─► msg2 ─► z2 (coded)       msg2 ─► level-2 sampler.decode ─► z2
         p(z1|z2), q(z1|z2,x) from the coded z2      p(z1|z2) from z2 (same code)
         level-1 sampler ─► msg1 ─► z1               msg1 ─► level-1 sampler.decode ─► z1
                                                     x̂ = synthesize(z1), cropped, rounded

Invariants:

* The decoder sees only the bytes, the model and the shared randomness; the
  level-1 prior is computed from the *coded* z2 on both sides by the same code.
* No discrete decision is re-derived from floats on the decoder side (the
  samplers transmit group layouts and counts), so float noise in the prior
  network moves the decoded latents slightly but never desynchronizes them.
* Every number of the :class:`Report` comes from the bytes written; the
  distortion figures come from decoding those bytes (``verify=True``).

The one-level VAE ablation codes a single level with the level-1 sampler.
"""

from __future__ import annotations

import math
import re
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rec.container import Container, Header, SamplerSpec, Section, SectionType
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.image import tensor_image, to_rgb_array
from rec.models.joint import JointPrior
from rec.models.pln import PLN, model_input
from rec.random import raw
from rec.samplers import Sampler, make, parse_sampler

__all__ = [
    "CODEC_ID",
    "DEFAULT_SAMPLERS",
    "LevelReport",
    "Report",
    "Compressed",
    "parse_samplers",
    "compress",
    "decompress",
    "read_header",
    "resolve_model",
    "model_hash",
    "read_rate",
]

CODEC_ID = "rec"
REFERENCE_CODEC_ID = "mbt2018"  # the quantized reference (rec.reference), decoded by the same front door
#: Adaptive importance sampling on both levels, tempered selection (results/samplers_real.md).
#: The thesis's IS-GS pair (greedy on level 1) stays selectable ("importance:greedy"), but
#: with our models it writes 3-4× the KL, against about 1.4× for importance sampling.
DEFAULT_SAMPLERS = "importance(bits=16,max_group=256,margin=0,temper=8):importance(bits=11,max_group=256,margin=0,temper=8)"
SEED_STREAM = 1000  # rec.random stream that derives each level's seed from the header seed


@dataclass(frozen=True)
class LevelReport:
    """Rate of one latent level: the KL and the bits actually written."""

    name: str
    sampler: str
    dimensions: int
    kl_bits: float
    index_bits: int
    side_bits: int
    outlier_bits: int

    @property
    def bits(self) -> int:
        return self.index_bits + self.side_bits + self.outlier_bits


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
        return d


class Compressed(bytes):
    """The bytes of a .rec file, carrying the encoder's :class:`Report` as ``.report`` and,
    when the encoder verified them, the image decoded from them as ``.decoded``."""

    report: Report
    decoded: np.ndarray | None = None


def _level_seed(seed: int, level: int) -> int:
    return int(raw(seed, SEED_STREAM, level))


def parse_samplers(spec: str | tuple | list | None) -> tuple[Sampler, Sampler]:
    """Samplers of level 2 and level 1 from ``"LEVEL2:LEVEL1"``.

    Each side is a name (``importance``/``is``, ``greedy``/``gs``, ``rejection``/``rs``)
    with optional parameters, e.g. ``"importance(bits=16,max_group=8):greedy(shards=20)"``.
    Sampler objects (a pair) are passed through; None means :data:`DEFAULT_SAMPLERS`.
    """
    if spec is None:
        spec = DEFAULT_SAMPLERS
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2 or not all(isinstance(s, Sampler) for s in spec):
            raise RecError("samplers must be a 'LEVEL2:LEVEL1' string or a pair of Sampler objects")
        return tuple(spec)
    if not isinstance(spec, str):
        raise RecError(f"samplers must be a string like {DEFAULT_SAMPLERS!r}")
    parts = re.findall(r"[^:()]+(?:\([^)]*\))?", spec.replace(" ", ""))
    if len(parts) != 2 or ":".join(parts) != spec.replace(" ", ""):
        raise RecError(f"sampler pair {spec!r} must look like 'importance:greedy' (level 2 : level 1)")
    return tuple(parse_sampler(p) for p in parts)


def model_hash(model: PLN) -> bytes:
    """The first 16 bytes of the weights' SHA-256 (the zoo's file hash for shipped models)."""
    digest = getattr(model, "weights_sha256", None)
    if digest is None:
        import hashlib

        h = hashlib.sha256()
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().float().contiguous().numpy().tobytes())
        digest = model.weights_sha256 = h.hexdigest()
    return bytes.fromhex(digest)[:16]


def resolve_model(model: str | PLN | JointPrior | None) -> PLN | JointPrior:
    from rec.models.zoo import DEFAULT_MODEL, load_model

    if model is None:
        return load_model(DEFAULT_MODEL)
    if isinstance(model, str):
        if model.endswith(".pt") or Path(model).is_dir():  # a training checkpoint or a device run's shards
            from rec.models.zoo import load_model_file

            return load_model_file(model)
        return load_model(model)
    if isinstance(model, PLN):
        return model.eval().to(memory_format=torch.channels_last)
    if isinstance(model, JointPrior):
        return model.eval()
    raise RecError(f"model must be a zoo name, a PLN or a JointPrior, got {type(model).__name__}")


def _tensor(z: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None].contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def compress(image, model: str | PLN | JointPrior | None = None, samplers=None, seed: int = 0,
             verify: bool = True, ideal: bool = False, beta: float | None = None) -> Compressed:
    """Encode an image into the bytes of a .rec file.

    Args:
        image: a path, PIL image or array (see :func:`rec.image.to_rgb_array`).
        model: a zoo name (default: the zoo's default), a :class:`PLN`, or a
            :class:`JointPrior` (the quantized mbt2018 reference; samplers and seed unused).
        samplers: ``"LEVEL2:LEVEL1"`` or a pair of samplers (default :data:`DEFAULT_SAMPLERS`).
        seed: seed of the shared randomness, 0 .. 2**64 - 1 (written in the header).
        verify: decode the bytes and report PSNR / MS-SSIM of the decoded image; a file
            that does not decode raises :class:`FormatError` here. With False the bytes are
            not decoded, and a file that is not decoded is not known to decode: write it
            only if something else decodes it (``rec encode`` verifies every file it
            writes unless given ``--no-verify``).
        ideal: also report the reconstruction from an exact posterior sample.
        beta: the rate of a variable-rate model (larger β, fewer bits), within its range;
            default the model's own β. Written in the file; a fixed-rate model refuses it.

    Returns:
        :class:`Compressed` bytes with the :class:`Report` as ``.report``.
    """
    started = time.perf_counter()
    rgb = to_rgb_array(image)
    net = resolve_model(model)
    s2, s1 = parse_samplers(samplers)
    if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise RecError(f"seed must be an integer in 0 .. 2**64 - 1, got {seed!r}")
    seed = int(seed)
    height, width = rgb.shape[:2]
    if isinstance(net, JointPrior):
        if beta is not None:
            raise RecError("the mbt2018 reference has a fixed rate: it takes no β")
        data, analysis = _compress_reference(net, rgb, started), None
    else:
        net.rate_weights(beta)  # refuses a β the model cannot take, before any work
        data, analysis = _compress_rec(net, rgb, s2, s1, seed, started, _rate(net, beta))
    if verify:
        t = time.perf_counter()
        data.decoded = decompress(data, model=net)
        data.report.decode_seconds = time.perf_counter() - t
        data.report.psnr, data.report.ms_ssim = _distortion(rgb, data.decoded)
    if ideal and analysis is not None:
        data.report.ideal_psnr, data.report.ideal_ms_ssim = _distortion(rgb, _ideal_reconstruction(net, analysis, height, width, seed))
    return data


def _compress_reference(net: JointPrior, rgb: np.ndarray, started: float) -> Compressed:
    """The quantized mbt2018 reference through the same report: y and z in place of z1 and z2.

    Its ``kl_bits`` is the model's own estimate −Σ log2 P of the quantized latents (what an
    ideal entropy coder would write), ``bound_bits`` the same figure.
    """
    from rec import reference

    height, width = rgb.shape[:2]
    r = reference.encode(net, rgb, getattr(net, "name", ""), model_hash(net), reconstruct=False)
    data = Compressed(r.data)
    levels = [LevelReport("z", "quantized", int(r.z_hat.numel()), r.estimated_bits_z, r.bits_z, 0, 0),
              LevelReport("y", "quantized", int(r.y_hat.numel()), r.estimated_bits_y, r.bits_y, 0, 0)]
    estimate = r.estimated_bits_y + r.estimated_bits_z
    data.report = Report(
        width=width, height=height, bytes=len(data), bpp=8 * len(data) / (width * height), model=getattr(net, "name", ""),
        samplers="quantized", seed=0, levels=levels, kl_bits=estimate, bound_bits=estimate, container_bits=r.overhead_bits,
        encode_seconds=time.perf_counter() - started)
    return data


def _rate(net: PLN, beta: float | None) -> float | None:
    """The β a file of ``net`` is coded at: None for a fixed-rate model, else ``beta`` or the model's default."""
    if not net.config.variable_rate:
        return None
    return float(net.config.beta if beta is None else beta)


def _compress_rec(net: PLN, rgb: np.ndarray, s2: Sampler, s1: Sampler, seed: int, started: float, beta: float | None):
    """REC: level 2 coded first, level 1 from the coded z2. Returns the bytes and the analysis."""
    height, width = rgb.shape[:2]
    analysis = net.analyze(model_input(rgb, net.config.factor), beta)
    levels, sections, specs = [], [], []
    z2 = None
    if analysis.q2 is not None:
        q2 = DiagonalGaussian.from_batch(analysis.q2)
        p2 = DiagonalGaussian.from_batch(net.level2_prior(analysis.q2.mean.shape))
        msg2 = s2.encode(q2, p2, _level_seed(seed, 2))
        z2 = _tensor(msg2.sample)
        levels.append(_level_report("z2", s2, msg2))
        sections.append(Section(SectionType.PAYLOAD_LEVEL, 2, msg2.to_bytes()))
        specs.append(_spec(s2))
    prior1 = net.level1_prior(z2, analysis.level1.mean.shape, beta)
    q1 = net.level1_posterior(analysis.level1, prior1)
    msg1 = s1.encode(DiagonalGaussian.from_batch(q1), DiagonalGaussian.from_batch(prior1), _level_seed(seed, 1))
    levels.append(_level_report("z1", s1, msg1))
    sections.append(Section(SectionType.PAYLOAD_LEVEL, 1, msg1.to_bytes()))
    specs.append(_spec(s1))
    if beta is not None:
        sections.insert(0, Section(SectionType.RATE, 0, struct.pack("<d", beta)))
    header = Header(width, height, CODEC_ID, getattr(net, "name", ""), model_hash(net), seed, tuple(specs))
    data = Compressed(Container(header, tuple(sections)).to_bytes())
    encode_seconds = time.perf_counter() - started

    kl = sum(level.kl_bits for level in levels)
    payload_bits = sum(level.bits for level in levels)
    data.report = Report(
        width=width, height=height, bytes=len(data), bpp=8 * len(data) / (width * height),
        model=getattr(net, "name", ""), samplers=f"{s2.name}:{s1.name}" if z2 is not None else s1.name, seed=seed,
        levels=levels, kl_bits=kl, bound_bits=kl + 2 * math.log2(kl + 1), container_bits=8 * len(data) - payload_bits,
        encode_seconds=encode_seconds, beta=beta,
    )
    return data, analysis


def _distortion(original: np.ndarray, decoded: np.ndarray) -> tuple[float, float | None]:
    """PSNR, and MS-SSIM where the image is large enough for its five scales (else None)."""
    from rec.evaluation.metrics import MS_SSIM_MIN_SIDE, ms_ssim, psnr

    small = min(original.shape[:2]) < MS_SSIM_MIN_SIDE
    return psnr(original, decoded), None if small else ms_ssim(original, decoded)


def _spec(sampler: Sampler) -> SamplerSpec:
    """The sampler for the header: its name and the parameters that differ from the defaults."""
    defaults = type(sampler)().params
    return SamplerSpec(sampler.name, {k: v for k, v in sampler.params.items() if defaults.get(k) != v})


def _level_report(name: str, sampler: Sampler, msg) -> LevelReport:
    return LevelReport(name, sampler.name, int(msg.sample.size), float(msg.kl_bits), msg.index_bits, msg.side_bits, msg.outlier_bits)


def _ideal_reconstruction(net: PLN, analysis, height: int, width: int, seed: int) -> np.ndarray:
    """x̂ from an exact posterior sample z2 ~ q(z2|x), z1 ~ q(z1|z2,x) (encoder-private randomness)."""
    latents = net.draw(analysis, generator=torch.Generator().manual_seed(seed))
    return tensor_image(net.synthesize(latents.z1, analysis.beta), height, width)


def read_header(data: bytes) -> Container:
    """Parse and validate a .rec file's container (header and sections), without decoding."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RecError("data must be bytes")
    container = Container.from_bytes(bytes(data))
    if container.header.codec_id not in (CODEC_ID, REFERENCE_CODEC_ID):
        raise FormatError(f"unknown codec {container.header.codec_id!r} in the header")
    return container


@torch.no_grad()
def decompress(data: bytes, model: str | PLN | JointPrior | None = None) -> np.ndarray:
    """Decode the bytes of a .rec file into an RGB uint8 array (H, W, 3).

    Args:
        data: the file's bytes.
        model: the model to decode with; by default the zoo model named in the header.

    Raises:
        FormatError: malformed, truncated or corrupted data; the file's model is not
            installed, or its weights differ from the encoder's.
    """
    container = read_header(data)
    h = container.header
    _check_header_size(h)  # before a model is loaded or anything of the image's size allocated
    if model is None:
        from rec.models.zoo import list_models

        installed = {e.name for e in list_models()}
        if h.model_id not in installed:
            raise FormatError(f"file was made with model {h.model_id!r}, which is not installed "
                              f"(installed: {', '.join(sorted(installed)) or 'none'})")
    net = resolve_model(model if model is not None else h.model_id)
    if h.codec_id == REFERENCE_CODEC_ID:
        if not isinstance(net, JointPrior):
            raise FormatError(f"file was coded by the mbt2018 reference; model {getattr(net, 'name', '')!r} is not one")
        from rec import reference

        return reference.decompress(net, bytes(data), model_hash(net))
    if not isinstance(net, PLN):
        raise FormatError(f"file was coded by REC; model {getattr(net, 'name', '')!r} is the quantized reference")
    if model_hash(net) != h.model_hash:
        raise FormatError(f"file was made with model {h.model_id!r} (weights {h.model_hash.hex()}), "
                       f"not with {getattr(net, 'name', 'the given model')!r} (weights {model_hash(net).hex()})")
    two_levels = net.config.kind != "vae"
    if len(h.samplers) != (2 if two_levels else 1):
        raise FormatError(f"file lists {len(h.samplers)} sampler levels, the model has {2 if two_levels else 1}")
    beta = _read_rate(container, net)
    f = net.config.factor
    ph, pw = -(-h.height // f) * f, -(-h.width // f) * f
    shape1 = (1, net.config.M, ph // 16, pw // 16)
    try:
        samplers = [make(s.name, **s.as_dict()) for s in h.samplers]
    except RecError as e:
        raise FormatError(f"file names an invalid sampler: {e}") from None
    z2 = None
    if two_levels:
        shape2 = (1, net.config.G, ph // 64, pw // 64)
        z2 = _tensor(samplers[0].decode(container.section(SectionType.PAYLOAD_LEVEL, 2).payload,
                                        DiagonalGaussian.from_batch(net.level2_prior(shape2)), _level_seed(h.seed, 2)))
    prior1 = net.level1_prior(z2, shape1, beta)
    z1 = _tensor(samplers[-1].decode(container.section(SectionType.PAYLOAD_LEVEL, 1).payload, DiagonalGaussian.from_batch(prior1),
                                     _level_seed(h.seed, 1)))
    return tensor_image(net.synthesize(z1, beta), h.height, h.width)


def _check_header_size(header: Header) -> None:
    """FormatError unless the header's width × height is one rec.image.check_size accepts."""
    from rec.image import check_size

    try:
        check_size(header.width, header.height)
    except RecError as e:
        raise FormatError(f"the file claims an image rec cannot decode: {e}") from None


def read_rate(container: Container) -> float | None:
    """The β of the file's RATE section (None when there is none: a fixed-rate model's file).

    Raises:
        FormatError: a RATE section that is not one finite, positive f64.
    """
    sections = [s for s in container.sections if s.kind == SectionType.RATE]
    if not sections:
        return None
    payload = sections[0].payload
    if len(payload) != 8 or sections[0].level != 0:
        raise FormatError(f"RATE section must hold one f64 at level 0, got {len(payload)} bytes at level {sections[0].level}")
    (beta,) = struct.unpack("<d", payload)
    if not (math.isfinite(beta) and beta > 0):
        raise FormatError(f"RATE section holds an invalid β {beta!r}")
    return beta


def _read_rate(container: Container, net: PLN) -> float | None:
    """The file's β, checked against the model: present exactly for a variable-rate model, within its range."""
    beta = read_rate(container)
    if net.config.variable_rate != (beta is not None):
        raise FormatError("file has a rate section, but its model has a fixed rate" if beta is not None else
                          "file has no rate section, but its model is variable-rate")
    if beta is not None:
        try:
            net.rate.check(beta)
        except RecError as e:
            raise FormatError(f"file's {e}") from None
    return beta
