"""The mentzer2018 codec: symbols range-coded under the masked 3D-CNN context model, over wavefronts.

Mentzer et al. 2018 (Mentzer, Agustsson, Tschannen, Timofte and Van Gool, *Conditional Probability Models for Deep Image Compression*, CVPR 2018,
sections 3.2-3.5); the model is :class:`rec.models.mentzer.ContextAutoencoder`. Data flow::

    encode                                              decode
    x ─► pad to 8 ─► E ─► z, importance map y            header ─► size, model hash, coding spec
    depth d = ⌈y⌉ (1 … M), symbols = Q(z ⊙ m)            SIDE_INFO 1 ─► residuals ─► depth map d
    SIDE_INFO 1: the depth map (below)                   PAYLOAD_LEVEL 1: wavefront by wavefront,
    PAYLOAD_LEVEL 1: wavefront t = 4c + 2y + x,            the same network step, the symbols of
      t = 0, 1, …: one network step of P over the          the wavefront's voxels c < d decoded
      wavefront's voxels (float64, rec.models.context3d),  with the same counts
      the symbols of its voxels with c < d coded with    masked voxels: the zero symbol Q(0)
      constriction's categorical coder, one batch       ẑ = centres[symbols] ─► x̂ = D(ẑ), crop, round
      per wavefront, probabilities as integer counts
      of 2**24 (Categorical(perfect=False))

Only the symbols the masked coding cost MC (Eq. 19) counts are coded: those of channels
c < d(y, x); the others are the zero symbol by construction (z ⊙ m = 0 there), so the
decoder fills them in without reading anything.

Encoder and decoder run the same :class:`~rec.models.context3d.WavefrontContext` with the
same shapes and order, and it reads only voxels of earlier wavefronts, which both sides hold
identically (the encoder's later voxels are never read); it computes in fixed point with exact
sums (see rec.models.context3d), so the integer probabilities agree bit for bit on every
machine and thread count. A 768 × 512 image with
M = 32 channels takes 346 network steps for its 196 608 voxels
(:func:`~rec.models.context3d.wavefront_steps`).

The importance map (the depth map, h × w values in 0 … M) is coded before the symbols,
losslessly: each depth is predicted from its decoded neighbours by the median edge
detector of LOCO-I (MED: left, above and above-left; the first row from the left, the first
column from above), and the residuals (d − prediction) mod (M + 1) are coded as
:func:`rec.codecs.brummer2021.encode_indices` codes an index array: the smaller of an
empirical-histogram categorical range code and raw LZMA2, its method in the first byte.
The decoder undoes the prediction one anti-diagonal at a time (h + w − 1 vectorized steps).
A model without an importance map codes every channel and sends no map.

The header pins the codec's parameters as the sampler spec ``context3d`` (wavefront,
precision, map coding), the model by its weights' hash; the decoder checks both, and the
image size against the pixel limit before allocating anything of its size. Both range
decoders' ends are checked: a payload longer than the header's image size needs, or a map
whose histogram does not fit it, is refused (FormatError).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from rec.codecs.base import (Compressed, LevelBits, LevelReport, check_header_size, model_hash, one_level_report,
                             refuse_rate, section_bits, split_parameters)
from rec.codecs.brummer2021 import decode_indices, encode_indices
from rec.codecs.registry import register
from rec.container import Container, Header, SamplerSpec, Section, SectionType, same_weights
from rec.errors import FormatError, RecError
from rec.image import tensor_image
from rec.models.context3d import PRECISION, WavefrontContext
from rec.models.mentzer import ContextAutoencoder
from rec.models.pln import model_input

__all__ = ["CODEC_ID", "SPEC", "Decoded", "Encoded", "Mentzer2018Codec", "decode", "decode_map", "encode", "encode_map",
           "map_residuals", "map_from_residuals"]

CODEC_ID = "mentzer2018"
SPEC = SamplerSpec("context3d", {"wavefront": "4c+2y+x", "precision": PRECISION, "map": "med"})
_FAMILY = constriction.stream.model.Categorical(perfect=False)  # probabilities per symbol, given when coding
_SCALE = float(1 << PRECISION)


@dataclass
class Encoded:
    """What :func:`encode` wrote and computed.

    Attributes:
        data: the container bytes.
        symbols: (M, h, w) int64, the masked ones the zero symbol; depth: (h, w) int64.
        image: the reconstruction D(ẑ) as the decoder produces it (uint8), or None.
        bits_z, bits_map: payload bits of the symbols and of the importance map.
        estimated_bits: −Σ log2 of the coded symbols' integer probabilities.
        coded: the number of coded symbols (Σ depth).
        map_method: "categorical", "lzma" or "none" (no importance map).
        steps: network steps of P (non-empty wavefronts).
        overhead_bits: the rest of the file (header, section framing, CRC).
    """

    data: bytes
    symbols: np.ndarray
    depth: np.ndarray
    image: np.ndarray | None
    bits_z: int
    bits_map: int
    estimated_bits: float
    coded: int
    map_method: str
    steps: int
    overhead_bits: int


@dataclass
class Decoded:
    """What :func:`decode` read: the image (uint8 (H, W, 3)), the symbols (M, h, w), the depths (h, w),
    the map's coding method and the network steps of P."""

    image: np.ndarray
    symbols: np.ndarray
    depth: np.ndarray
    map_method: str
    steps: int


def _check_model(net) -> ContextAutoencoder:
    if not isinstance(net, ContextAutoencoder):
        raise RecError(f"the mentzer2018 codec needs a ContextAutoencoder model, got {type(net).__name__}")
    return net.eval()


# -- the importance map --------------------------------------------------------------


def _med(left: np.ndarray, top: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """LOCO-I's median edge detector."""
    lo, hi = np.minimum(left, top), np.maximum(left, top)
    return np.where(corner >= hi, lo, np.where(corner <= lo, hi, left + top - corner))


def map_residuals(depth: np.ndarray, m: int) -> np.ndarray:
    """(d − MED prediction) mod (m + 1) of every location of a depth map (h, w), flat in raster order."""
    d = np.asarray(depth, dtype=np.int64)
    left, top, corner = np.zeros_like(d), np.zeros_like(d), np.zeros_like(d)
    left[:, 1:], top[1:], corner[1:, 1:] = d[:, :-1], d[:-1], d[:-1, :-1]
    pred = _med(left, top, corner)
    pred[0] = left[0]  # the first row from the left (0 at the origin)
    pred[1:, 0] = top[1:, 0]  # the first column from above
    return ((d - pred) % (m + 1)).ravel()


def map_from_residuals(residuals: np.ndarray, h: int, w: int, m: int) -> np.ndarray:
    """The inverse of :func:`map_residuals`, one anti-diagonal y + x = t at a time (its neighbours are on t − 1, t − 2)."""
    r = np.asarray(residuals, dtype=np.int64).reshape(h, w)
    d = np.zeros((h, w), dtype=np.int64)
    for t in range(h + w - 1):
        y = np.arange(max(0, t - w + 1), min(h - 1, t) + 1)
        x = t - y
        has_left, has_top = x > 0, y > 0
        left = np.where(has_left, d[y, np.maximum(x - 1, 0)], 0)
        top = np.where(has_top, d[np.maximum(y - 1, 0), x], 0)
        corner = np.where(has_left & has_top, d[np.maximum(y - 1, 0), np.maximum(x - 1, 0)], 0)
        pred = np.where(~has_top, left, np.where(~has_left, top, _med(left, top, corner)))
        d[y, x] = (r[y, x] + pred) % (m + 1)
    return d


def encode_map(depth: np.ndarray, m: int) -> tuple[bytes, str]:
    """A depth map (h, w) of values in 0 … m → (payload, method); see the module docstring."""
    return encode_indices(map_residuals(depth, m), m + 1)


def decode_map(payload: bytes, h: int, w: int, m: int) -> tuple[np.ndarray, str]:
    """The inverse of :func:`encode_map`; FormatError on anything malformed."""
    try:
        residuals, method = decode_indices(payload, h * w, m + 1)
    except FormatError as e:
        raise FormatError(f"importance map: {e}") from None
    return map_from_residuals(residuals, h, w, m), method


# -- the codec ---------------------------------------------------------------------------


def _context(net: ContextAutoencoder, depth: np.ndarray) -> WavefrontContext:
    return WavefrontContext(net.context, net.centers, depth, net.config.M, net.zero_symbol())


def encode(net: ContextAutoencoder, image: np.ndarray, model_id: str = "", hash_: bytes | None = None,
           reconstruct: bool = True) -> Encoded:
    """Compress an RGB uint8 image (H, W, 3); see the module docstring."""
    net = _check_model(net)
    hash_ = model_hash(net) if hash_ is None else hash_
    height, width = image.shape[:2]
    m = net.config.M
    x = model_input(image, net.config.factor, channels_last=False)
    with torch.no_grad(), torch.autocast("cpu", enabled=False):
        symbols, depth = net.encode_latents(x)
    symbols, depth = symbols[0].numpy().astype(np.int64), depth[0].numpy().astype(np.int64)
    zero = net.zero_symbol()
    masked = np.arange(m)[:, None, None] >= depth[None]
    symbols[masked] = zero  # they are (z ⊙ 0 = 0); a non-finite z of a diverged model would not be
    side, method = encode_map(depth, m) if net.config.importance_map else (b"", "none")
    encoder = constriction.stream.queue.RangeEncoder()
    estimate = 0.0

    def visit(c, y, x, counts):
        nonlocal estimate
        s = symbols[c, y, x]
        encoder.encode(s.astype(np.int32), _FAMILY, counts / _SCALE)
        estimate += float((PRECISION - np.log2(counts[np.arange(s.size), s].astype(np.float64))).sum())
        return s

    with torch.no_grad():  # exact sums: the probabilities the decoder computes, bit for bit
        steps = _context(net, depth).run(visit)
    payload = encoder.get_compressed().astype("<u4").tobytes()
    sections = [Section(SectionType.PAYLOAD_LEVEL, 1, payload)]
    if side:
        sections.append(Section(SectionType.SIDE_INFO, 1, side))
    header = Header(width, height, CODEC_ID, model_id, hash_, 0, (SPEC,))
    data = Container(header, tuple(sections)).to_bytes()
    image_hat = None
    if reconstruct:
        image_hat = _reconstruct(net, symbols, height, width)
    bits_z, bits_map = 8 * len(payload), 8 * len(side)
    return Encoded(data, symbols, depth, image_hat, bits_z, bits_map, estimate, int(depth.sum()), method, steps,
                   8 * len(data) - bits_z - bits_map)


def _reconstruct(net: ContextAutoencoder, symbols: np.ndarray, height: int, width: int) -> np.ndarray:
    with torch.no_grad(), torch.autocast("cpu", enabled=False):
        z_hat = net.centers.detach().float()[torch.from_numpy(symbols)][None]
        return tensor_image(net.synthesize(z_hat), height, width)


def decode(net: ContextAutoencoder, data: bytes, container: Container | None = None,
           hash_: bytes | None = None) -> Decoded:
    """Decode a file of :func:`encode`. FormatError on corrupted, truncated or foreign bytes."""
    container = Container.from_bytes(bytes(data)) if container is None else container
    header = container.header
    if header.codec_id != CODEC_ID:
        raise FormatError(f"not a {CODEC_ID} file: codec id {header.codec_id!r}")
    net = _check_model(net)
    hash_ = model_hash(net) if hash_ is None else hash_
    if not same_weights(header.model_hash, hash_):
        raise FormatError("the file was written with another model (model hash mismatch)")
    check_header_size(header)  # before anything of the image's size is allocated
    if header.samplers != (SPEC,):
        raise FormatError(f"the file was coded with other coding parameters ({header.samplers}), not {SPEC}")
    _, m, h, w = net.latent_shapes(header.height, header.width)[0]
    side = None
    for s in container.sections:
        if s.kind == SectionType.SIDE_INFO and s.level == 1:
            side = s.payload
    if net.config.importance_map:
        if side is None:
            raise FormatError("missing importance map")
        depth, method = decode_map(side, h, w, m)
    else:
        if side is not None:
            raise FormatError("a model without importance map sends none")
        depth, method = np.full((h, w), m, dtype=np.int64), "none"
    payload = container.section(SectionType.PAYLOAD_LEVEL, 1).payload
    if len(payload) % 4:
        raise FormatError("a range-coder payload must be a whole number of 32-bit words")
    symbols = np.full((m, h, w), net.zero_symbol(), dtype=np.int64)
    try:
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))

        def visit(c, y, x, counts):
            s = np.asarray(decoder.decode(_FAMILY, counts / _SCALE), dtype=np.int64)
            symbols[c, y, x] = s
            return s

        with torch.no_grad():
            steps = _context(net, depth).run(visit)
    except (ValueError, RuntimeError, OverflowError, AssertionError) as e:
        raise FormatError(f"undecodable payload: {e}") from None
    if not decoder.maybe_exhausted():
        raise FormatError("the payload is longer than the header's image size needs")
    return Decoded(_reconstruct(net, symbols, header.height, header.width), symbols, depth, method, steps)


class Mentzer2018Codec:
    """The 3D-CNN context model with importance map: fixed rate, no samplers, no seed."""

    codec_id = CODEC_ID
    devices = ("cpu",)  # its decoder's exact (fixed-point, portable) entropy model is checked on the CPU only
    kinds = ("mentzer2018",)
    label = "mentzer2018 (3D context model)"

    def prepare(self, model: ContextAutoencoder) -> ContextAutoencoder:
        return _check_model(model)

    def compress(self, rgb: np.ndarray, net: ContextAutoencoder, *, samplers=None, seed: int = 0,
                 beta: float | None = None, ideal: bool = False, started: float | None = None) -> Compressed:
        """The depth map and the symbols, coded; ``samplers``, ``seed`` and ``ideal`` are unused."""
        started = time.perf_counter() if started is None else started
        refuse_rate(CODEC_ID, beta)
        r = encode(net, rgb, getattr(net, "name", ""), reconstruct=False)
        data = Compressed(r.data)
        level = LevelReport("z", f"{SPEC.name}, map: {r.map_method}", r.coded, r.estimated_bits, r.bits_z, r.bits_map, 0)
        data.report = one_level_report(data, rgb.shape[1], rgb.shape[0], getattr(net, "name", ""), level,
                                       r.estimated_bits + r.bits_map, r.overhead_bits, started)
        return data

    def decompress(self, data: bytes, container: Container, net: ContextAutoencoder) -> np.ndarray:
        return decode(net, data, container).image

    def written(self, container: Container, net) -> list[LevelBits]:
        return section_bits(container, (("z", 1),), SPEC.name)  # SIDE_INFO: the importance map

    def rate_label(self, config) -> str:
        target = f" R_t={config.target_bpp:g}" if config.target_bpp else ""
        return f"{config.distortion} β={config.beta:g}{target} M={config.M}".ljust(28)[:28]

    # -- training (rec.training.loop) ---------------------------------------------------
    def losses(self, net, x, *, warmup: float, sample: bool, beta):
        return net(x)  # no noise: hard quantization forward, soft assignment backward, in training and inference

    def log_scalars(self, losses) -> dict[str, float]:
        return losses.scalars()  # loss, bpp, bpp_mc, bpp_map, bits_mc, bits_ce, bits_map, ce, distortion, mse, psnr, …

    def level_bits(self, losses):
        return losses.bits_mc, losses.bits_map  # the symbols (MC) / the importance map's estimate

    def level1_channels(self, losses):
        return losses.channel_bits  # MC per channel: the channels the importance map keeps in use

    def parameter_groups(self, model, gamma_lr_scale: float) -> list[dict]:
        """P learns at ``config.context_lr_scale`` × the autoencoder's rate (section 4: 1e-4 against 4e-3)."""
        return split_parameters(model, "context.", model.config.context_lr_scale)


register(Mentzer2018Codec())
