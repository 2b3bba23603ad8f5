"""The quantized reference codec: image ⇄ bytes with the mbt2018 model (Minnen et al. 2018).

Real entropy coding with constriction's range coder (``constriction.stream.queue``),
written into rec's container (:mod:`rec.container`) with codec id ``"mbt2018"``::

    encode                                            decode
    x ─► pad to 64 ─► y = g_a(x) ─► z = h_a(y)        header ─► sizes, coding parameters
    qz = round(z − m) ─► categorical per channel ─► section PAYLOAD_LEVEL 2 ─► qz, ẑ = qz + m
    ψ = h_s(ẑ)                                                                ψ = h_s(ẑ)
    autoregressive pass (JointPrior.autoregress):     the same pass, the symbols read
      q_i = round(y_i − μ_i), ŷ_i = q_i + μ_i          from the stream: ŷ_i = q_i + μ_i
      q_i ~ quantized N(0, σ̄_i²) ─► PAYLOAD_LEVEL 1 ──────────────────────►
    report: bits, estimated bits                      x̂ = g_s(ŷ), crop, round to uint8

Entropy models (coder-independent tables from :mod:`rec.models.entropy`):

* **y** — q = ŷ − μ is coded with ``QuantizedGaussian(−R, R)`` of mean 0 and scale
  σ̄: the bounded σ rounded *up* to a log-spaced table of ``scale_levels`` values in
  [scale_min, scale_max] (CompressAI's scale table: 64 values from 0.11 to 256). The
  table makes the coding distribution a discrete function of σ, which only changes
  when σ crosses a table entry; the continuous σ changes constriction's fixed-point
  CDF at every last-bit difference (``scale_levels=0`` codes with it, for the
  fragility study). Rounding σ up to the table costs rate: measured +1.3 % of the y
  bits with 64 levels, +0.5 % with 256, +0.05 % (the coder's flush) without a table
  on the test model of tests/test_reference.py. Integers with |q| ≥ R (default 1024) are *escaped*: the symbol ±R is
  coded, and |q| − R goes to a list of LEB128 varints in section SIDE_INFO 1. Lossless.
* **z** — per channel, a ``Categorical`` over the offsets k = ẑ − m inside the
  central 1 − tail_mass of the factorized density, plus one escape symbol for each
  tail carrying exactly the tail's mass; the excess goes to SIDE_INFO 2 as varints.

A variable-rate model (``JointConfig.lmbda_min < lmbda_max``) codes at a λ of its range: it
travels as one f64 in the RATE section (level 0, as REC's β), and both sides run g_a / h_a
(encoder), h_s and g_s at it; the context model and g_ep see it through ψ = h_s(ẑ, λ). The
decoder refuses a file of a variable-rate model without RATE section or with a λ outside the
model's range, and a RATE section in a fixed-rate model's file (rec.container.checked_rate);
a fixed-rate model's files are unchanged.

Coding parameters other than the defaults of :class:`CodecParams` travel in the header
as the "sampler" specs of levels 1 (y) and 2 (z) (no specs: the defaults, which the
codec id implies), so a decoder needs only the bytes and the model (whose SHA-256 the
caller may pin with ``model_hash``). The container (format 2) costs ~24 bytes plus the
model id and hash, and 8 more for a variable-rate model's λ.

Determinism, on every machine. What the decoder derives coding decisions from is computed
so that it has the same bits on every machine, thread count and memory layout: the z
tables and the scale table in float64 with :mod:`rec.portable` (no platform exp / tanh /
log, no reduction whose order varies), ψ = h_s(ẑ) and the context model's and g_ep's μ, σ
in fixed point (:mod:`rec.models.fixed_point`, after Ballé, Johnston & Minnen 2019: weights
on a 2**-16 grid, activations on a 2**-12 grid, float64 sums that are exact whatever their
order). In float32 they were not: the z tables of a shipped model differed between two of
our machines and the decode failed (issue 17; CompressAI issues 279/309/340 report the same
failure); a channels-last ẑ gave another ψ in the last bits. Only g_a (encoder) and g_s
(decoder) stay in float: they decide nothing. Both range decoders must end exactly at the
end of their payloads, which refuses a header whose image size differs from the coded one
before the costly y pass. :func:`rec.evaluation.reference_study.fragility_trial` measures how
far ψ may be perturbed.
tests/test_reference_portability.py decodes under other SIMD kernels.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from rec import portable
from rec.coding.escapes import EscapeValues, escape_bytes
from rec.container import Container, Header, SamplerSpec, Section, SectionType, checked_rate, rate_section, same_weights
from rec.errors import FormatError, RecError
from rec.image import check_size, tensor_image
from rec.models.entropy import FactorizedTable
from rec.models.context2d import Step
from rec.models.joint import JointPrior
from rec.models.pln import model_input
from rec.stages import NO_CLOCK, Clock
from rec.threads import single_thread

__all__ = [
    "CODEC_ID",
    "CodecParams",
    "EncodeResult",
    "DecodeResult",
    "compress",
    "decompress",
    "encode",
    "decode",
]

CODEC_ID = "mbt2018"
_ORDERS = ("wavefront", "raster")


@dataclass(frozen=True)
class CodecParams:
    """Entropy-coding parameters (written to the header).

    Attributes:
        scale_levels: number of entries of the log-spaced scale table; 0 codes with the
            continuous σ itself (no table: for the fragility study, see the module docstring).
        scale_min, scale_max: its first and last entry.
        support: R; y integers with |q| < R are coded directly, others escaped.
        tail_mass: mass of the factorized density outside the z support.
        schedule: coding order of y, "wavefront" or "raster".
    """

    scale_levels: int = 64
    scale_min: float = 0.11
    scale_max: float = 256.0
    support: int = 1024
    tail_mass: float = 1e-9
    schedule: str = "wavefront"

    def __post_init__(self):
        if not 0 <= self.scale_levels <= 4096:
            raise RecError("scale_levels must be in 0 .. 4096")
        if not 0 < self.scale_min <= self.scale_max < 1e9:
            raise RecError("need 0 < scale_min <= scale_max")
        if not 1 <= self.support <= 1 << 20:
            raise RecError("support must be in 1 .. 2**20")
        if not 0 < self.tail_mass < 0.5:
            raise RecError("tail_mass must be in (0, 0.5)")
        if self.schedule not in _ORDERS:
            raise RecError(f"schedule must be one of {_ORDERS}")

    def scale_table(self) -> np.ndarray | None:
        """σ̄_k = exp(log s_min + k/(K−1) · (log s_max − log s_min)), k = 0 … K−1 (float64, by
        :mod:`rec.portable`: the same bits on every machine); None if K = 0."""
        if self.scale_levels == 0:
            return None
        if self.scale_levels == 1:
            return np.array([self.scale_max])
        lo, hi = portable.log([self.scale_min, self.scale_max])
        return portable.exp(lo + (hi - lo) * (np.arange(self.scale_levels) / (self.scale_levels - 1)))

    def specs(self) -> tuple[SamplerSpec, SamplerSpec]:
        """Header entries of level 1 (y) and level 2 (z)."""
        y = SamplerSpec("gauss", {"levels": self.scale_levels, "min": self.scale_min, "max": self.scale_max,
                                  "support": self.support, "order": _ORDERS.index(self.schedule)})
        z = SamplerSpec("factorized", {"tail": self.tail_mass})
        return y, z

    @classmethod
    def from_specs(cls, specs: tuple[SamplerSpec, ...]) -> "CodecParams":
        """Inverse of :meth:`specs`; no specs mean the defaults. Raises FormatError on anything unexpected."""
        if not specs:
            return cls()
        try:
            y, z = specs
            if y.name != "gauss" or z.name != "factorized":
                raise KeyError
            py, pz = y.as_dict(), z.as_dict()
            if set(py) != {"levels", "min", "max", "support", "order"} or set(pz) != {"tail"}:
                raise KeyError
            order = py["order"]
            if not isinstance(order, int) or not 0 <= order < len(_ORDERS):
                raise KeyError
            return cls(int(py["levels"]), float(py["min"]), float(py["max"]), int(py["support"]),
                       float(pz["tail"]), _ORDERS[order])
        except (KeyError, ValueError, TypeError, RecError):
            raise FormatError("malformed mbt2018 coding parameters in the header") from None


@dataclass
class EncodeResult:
    """What :func:`encode` wrote and what it computed on the way.

    Attributes:
        data: the container bytes.
        y_hat, z_hat: the quantized latents (1, M, h, w), (1, G, h/4, w/4).
        symbols: the integers q = ŷ − μ (1, M, h, w).
        image: the reconstruction g_s(ŷ) as the decoder will produce it, uint8 (H, W, 3),
            or None if not asked for.
        bits_y, bits_z: payload bits of the two sections (escapes included).
        estimated_bits_y, estimated_bits_z: −Σ log₂ of the model's likelihoods of ŷ, ẑ.
        overhead_bits: the rest of the file (header, section framing, CRC).
        escapes_y, escapes_z: number of escaped values.
        lmbda: the λ it was coded at (variable-rate models; None for a fixed-rate one).
    """

    data: bytes
    y_hat: torch.Tensor
    z_hat: torch.Tensor
    symbols: torch.Tensor
    image: np.ndarray | None
    bits_y: int
    bits_z: int
    estimated_bits_y: float
    estimated_bits_z: float
    overhead_bits: int
    escapes_y: int
    escapes_z: int
    lmbda: float | None = None

    @property
    def bits(self) -> int:
        return 8 * len(self.data)

    @property
    def estimated_bits(self) -> float:
        return self.estimated_bits_y + self.estimated_bits_z


@dataclass
class DecodeResult:
    """The decoded image (uint8, (H, W, 3)), the latents, the header and the file's λ (None: fixed rate)."""

    image: np.ndarray
    y_hat: torch.Tensor
    z_hat: torch.Tensor
    symbols: torch.Tensor
    header: Header
    lmbda: float | None = None


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _inference():
    with torch.no_grad(), torch.autocast("cpu", enabled=False):
        yield


def _coding_model(model) -> JointPrior:
    """The model in the one layout the codec computes with: float32, contiguous weights."""
    if not isinstance(model, JointPrior):
        raise RecError(f"the mbt2018 codec needs a JointPrior, got {type(model).__name__}")
    params = list(model.parameters())
    if any(p.dtype != torch.float32 or not p.is_contiguous() for p in params):
        model = copy.deepcopy(model).float().to(memory_format=torch.contiguous_format)
    return model.eval()


def _words(payload: bytes) -> np.ndarray:
    if len(payload) % 4:
        raise FormatError("a range-coder payload must be a whole number of 32-bit words")
    return np.frombuffer(payload, dtype="<u4").astype(np.uint32)


def _quantized_scales(scale: torch.Tensor, table: np.ndarray | None) -> np.ndarray:
    """σ (bounded, float32) rounded up to the scale table (if any), as float64, flattened."""
    s = scale.reshape(-1).numpy().astype(np.float64)
    if table is None:
        return s
    idx = np.minimum(np.searchsorted(table, s, side="left"), len(table) - 1)
    return table[idx]


def _table_probabilities(table: FactorizedTable, c: int) -> np.ndarray:
    return table.probabilities[c, : int(table.size[c]) + 2]


def _encode_z(q: np.ndarray, table: FactorizedTable) -> tuple[bytes, list[int]]:
    """Code the integers of z, (G, h·w) int64."""
    encoder = constriction.stream.queue.RangeEncoder()
    escapes: list[int] = []
    for c in range(q.shape[0]):
        low, size = int(table.low[c]), int(table.size[c])
        s = q[c] - low + 1
        below, above = s < 1, s > size
        escapes_c = np.zeros_like(s)
        escapes_c[below] = -s[below]  # k = low − 1 − e
        escapes_c[above] = s[above] - size - 1  # k = low + size + e
        s = np.clip(s, 0, size + 1)
        escapes.extend(escapes_c[below | above].tolist())  # in position order
        model = constriction.stream.model.Categorical(_table_probabilities(table, c), perfect=False)
        encoder.encode(s.astype(np.int32), model)
    return encoder.get_compressed().astype("<u4").tobytes(), escapes


def _decode_z(payload: bytes, table: FactorizedTable, shape: tuple[int, ...], escapes: EscapeValues) -> np.ndarray:
    decoder = constriction.stream.queue.RangeDecoder(_words(payload))
    n_channels, count = shape[1], shape[2] * shape[3]
    out = np.zeros((n_channels, count), dtype=np.int64)
    for c in range(n_channels):
        low, size = int(table.low[c]), int(table.size[c])
        model = constriction.stream.model.Categorical(_table_probabilities(table, c), perfect=False)
        s = np.asarray(decoder.decode(model, count), dtype=np.int64)
        k = s + low - 1
        esc = (s == 0) | (s == size + 1)
        if esc.any():
            e = escapes.take(int(esc.sum()))
            k[esc] = np.where(s[esc] == 0, low - 1 - e, low + size + e)
        out[c] = k
    _check_exhausted(decoder, "z")
    return out  # (G, h·w) int64


def _check_exhausted(decoder, level: str) -> None:
    """FormatError if the payload has words the decode did not read: a header that claims
    fewer latents than were coded (caught here, before the costly y pass for z)."""
    if not decoder.maybe_exhausted():
        raise FormatError(f"the {level} payload is longer than the header's image size needs")


def _hyper_parameters(model: JointPrior, qz: np.ndarray, medians: torch.Tensor, shape: tuple[int, ...],
                      lmbda: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ẑ = q + m and ψ = h_s(ẑ, λ) from the integers of z, (G, h·w) int64: the one computation of both sides
    (λ: the file's rate, None for a fixed-rate model), in fixed point
    (:meth:`JointPrior.fixed_point_hyper_synthesis`): ψ has the same bits on every machine and
    whatever the memory layout of ẑ (a channels-last ẑ from a large image's banded g_a gave
    another ψ in float32 and undecodable files, issue 17).
    """
    q = torch.from_numpy(np.ascontiguousarray(qz, dtype=np.int64)).double().reshape(shape)
    z_hat = q + medians.double().view(1, -1, 1, 1)
    return z_hat.float(), model.fixed_point_hyper_synthesis(lmbda)(z_hat)


def _decode_y_step(decoder, gaussian, step: Step, table: np.ndarray | None, support: int, escapes: EscapeValues) -> torch.Tensor:
    sigma = _quantized_scales(step.scale, table)
    c = np.asarray(decoder.decode(gaussian, np.zeros_like(sigma), sigma), dtype=np.int64)
    esc = np.abs(c) >= support
    if esc.any():
        c[esc] = np.sign(c[esc]) * (support + escapes.take(int(esc.sum())))
    return torch.from_numpy(c).float().view(step.mean.shape)


# --------------------------------------------------------------------------
# the codec
# --------------------------------------------------------------------------


def encode(model: JointPrior, image: np.ndarray, model_id: str = "", model_hash: bytes = b"",
           params: CodecParams | None = None, reconstruct: bool = True, lmbda: float | None = None,
           clock: Clock = NO_CLOCK) -> EncodeResult:
    """Compress an RGB uint8 image (H, W, 3) and report what was written.

    Args:
        model: the mbt2018 model (float32; any training state).
        image: uint8 (H, W, 3), within rec.image.check_size (padded to 64 by mirroring).
        model_id, model_hash: recorded in the header for the decoder to check.
        params: entropy-coding parameters (default :class:`CodecParams`).
        reconstruct: also run g_s for ``image`` (else ``image`` is None; saves g_s's time).
        lmbda: the rate of a variable-rate model, within its range (default: its ``config.lmbda``);
            written in the file. A fixed-rate model refuses it.
        clock: times the stages (:mod:`rec.stages`: nn = g_a and g_s, nn_hyper = h_a and h_s,
            entropy_hyper = ẑ, cdf = the autoregressive pass, entropy = ŷ's range coding).

    Raises:
        RecError: on a bad image or model, or a λ the model cannot take.
    """
    params = params or CodecParams()
    model = _coding_model(model)
    model.rate_weights(lmbda)  # refuses a λ the model cannot take, before any work
    lmbda = (model.config.lmbda if lmbda is None else float(lmbda)) if model.config.variable_rate else None
    x = model_input(image, model.config.factor, channels_last=False)  # the reference's layers run contiguous (_coding_model)
    height, width = image.shape[:2]
    table_s = params.scale_table()
    support = params.support
    with _inference():
        with clock.stage("nn"):
            y = model.analyze(x, lmbda).float()
        with clock.stage("nn_hyper"):
            z = model.hyper_analyze(y, lmbda).float()
        y_t = y.permute(0, 2, 3, 1)
        coded: list[tuple[torch.Tensor, torch.Tensor]] = []

        def decide(step: Step) -> torch.Tensor:
            q = torch.round(y_t[:, step.rows, step.cols] - step.mean)
            coded.append((q, step.scale))
            return q

        with single_thread():  # the part the decoder repeats
            with clock.stage("entropy_hyper"):
                table = model.z_density.coding_table(params.tail_mass)
                qz, _ = model.quantize_z(z, table.medians)
                qz = qz[0].reshape(qz.shape[1], -1).numpy().astype(np.int64)  # (G, h·w), as the decoder gets them
            with clock.stage("nn_hyper"):
                z_hat, psi = _hyper_parameters(model, qz, table.medians, tuple(z.shape), lmbda)
            with clock.stage("cdf"):
                ar = model.autoregress(psi, decide, params.schedule, model.step_networks(fixed_point=True))
        with clock.stage("entropy_hyper"):
            z_payload, z_escapes = _encode_z(qz, table)
        with clock.stage("entropy"):
            q_all = torch.cat([q.reshape(-1) for q, _ in coded]).numpy().astype(np.int64)
            sigma = np.concatenate([_quantized_scales(s, table_s) for _, s in coded])
            esc = np.abs(q_all) >= support
            y_escapes = (np.abs(q_all[esc]) - support).tolist()
            y_side, z_side = escape_bytes(y_escapes), escape_bytes(z_escapes)
            encoder = constriction.stream.queue.RangeEncoder()
            encoder.encode(np.clip(q_all, -support, support).astype(np.int32),
                           constriction.stream.model.QuantizedGaussian(-support, support), np.zeros_like(sigma), sigma)
            y_payload = encoder.get_compressed().astype("<u4").tobytes()

        y_hat = ar.y_hat.float()
        with clock.stage("nn"):
            image_hat = tensor_image(model.synthesize(y_hat, lmbda), height, width) if reconstruct else None
        est_y = float(-torch.log2(model.y_density.likelihood(y_hat, ar.mean.float(), ar.scale.float()).double()).sum())
        est_z = float(-torch.log2(model.z_density.likelihood(z_hat).double()).sum())

    specs = () if params == CodecParams() else params.specs()  # the defaults cost no bytes (~90 otherwise)
    sections = [Section(SectionType.PAYLOAD_LEVEL, 2, z_payload), Section(SectionType.PAYLOAD_LEVEL, 1, y_payload)]
    if z_side:
        sections.append(Section(SectionType.SIDE_INFO, 2, z_side))
    if y_side:
        sections.append(Section(SectionType.SIDE_INFO, 1, y_side))
    if lmbda is not None:  # the rate of a variable-rate model, as REC's β (rec.codecs.rec)
        sections.insert(0, rate_section(lmbda))
    header = Header(width, height, CODEC_ID, model_id, model_hash, 0, specs)
    container = Container(header, tuple(sections))
    data = container.to_bytes()
    bits_y = 8 * sum(len(s.payload) for s in sections if s.level == 1)
    bits_z = 8 * sum(len(s.payload) for s in sections if s.level == 2)
    return EncodeResult(data, y_hat, z_hat, ar.symbols.float(), image_hat, bits_y, bits_z,
                        est_y, est_z, 8 * len(data) - bits_y - bits_z, len(y_escapes), len(z_escapes), lmbda)


def decode(model: JointPrior, data: bytes, model_hash: bytes | None = None,
           psi_transform: Callable[[torch.Tensor], torch.Tensor] | None = None, clock: Clock = NO_CLOCK) -> DecodeResult:
    """Decode a container written by :func:`encode`.

    Args:
        model: the same model the encoder used.
        data: the bytes.
        model_hash: if given, the header's hash must name the same weights (:func:`rec.container.same_weights`).
        psi_transform: applied to ψ = h_s(ẑ) before the autoregressive pass
            (for :func:`rec.evaluation.reference_study.fragility_trial`; None in normal use).
        clock: times the stages (:mod:`rec.stages`: entropy_hyper = ẑ, nn_hyper = h_s, cdf = the
            autoregressive pass with ŷ's range decoding, nn = g_s).

    Raises:
        FormatError: on corrupted, truncated or foreign bytes, or bytes of another model; a
            variable-rate model's file without its λ or with a λ outside the model's range.
    """
    container = Container.from_bytes(data)
    header = container.header
    if header.codec_id != CODEC_ID:
        raise FormatError(f"not an {CODEC_ID} file: codec id {header.codec_id!r}")
    if model_hash is not None and not same_weights(header.model_hash, model_hash):
        raise FormatError("the file was written with another model (model hash mismatch)")
    try:
        check_size(header.width, header.height)  # before anything of the image's size is allocated
    except RecError as e:
        raise FormatError(f"the file claims an image rec cannot decode: {e}") from None
    params = CodecParams.from_specs(header.samplers)
    model = _coding_model(model)
    lmbda = checked_rate(container, model)
    y_shape, z_shape = model.latent_shapes(header.height, header.width)
    y_escapes = EscapeValues(_side_info(container, 1))
    z_escapes = EscapeValues(_side_info(container, 2))
    table_s = params.scale_table()
    try:
        with _inference():
            with single_thread():  # as the encoder computed it
                with clock.stage("entropy_hyper"):
                    table = model.z_density.coding_table(params.tail_mass)
                    qz = _decode_z(container.section(SectionType.PAYLOAD_LEVEL, 2).payload, table, z_shape, z_escapes)
                with clock.stage("nn_hyper"):
                    z_hat, psi = _hyper_parameters(model, qz, table.medians, z_shape, lmbda)
                if psi_transform is not None:
                    psi = psi_transform(psi)
                with clock.stage("cdf"):
                    decoder = constriction.stream.queue.RangeDecoder(
                        _words(container.section(SectionType.PAYLOAD_LEVEL, 1).payload))
                    gaussian = constriction.stream.model.QuantizedGaussian(-params.support, params.support)
                    ar = model.autoregress(
                        psi, lambda s: _decode_y_step(decoder, gaussian, s, table_s, params.support, y_escapes),
                        params.schedule, model.step_networks(fixed_point=True))
            _check_exhausted(decoder, "y")
            z_escapes.check_done()
            y_escapes.check_done()
            y_hat = ar.y_hat.float()
            with clock.stage("nn"):
                x_hat = model.synthesize(y_hat, lmbda)
    except (ValueError, RuntimeError, OverflowError, AssertionError) as e:  # constriction on garbage
        raise FormatError(f"undecodable payload: {e}") from None
    if tuple(y_hat.shape) != y_shape:
        raise FormatError("latent shape mismatch")
    return DecodeResult(tensor_image(x_hat, header.height, header.width), y_hat, z_hat, ar.symbols.float(), header, lmbda)


def _side_info(container: Container, level: int) -> bytes:
    for s in container.sections:
        if s.kind == SectionType.SIDE_INFO and s.level == level:
            return s.payload
    return b""


def compress(model: JointPrior, image: np.ndarray, model_id: str = "", model_hash: bytes = b"",
             params: CodecParams | None = None, lmbda: float | None = None) -> bytes:
    """Image (uint8 RGB, (H, W, 3)) → bytes; see :func:`encode`."""
    return encode(model, image, model_id, model_hash, params, reconstruct=False, lmbda=lmbda).data


def decompress(model: JointPrior, data: bytes, model_hash: bytes | None = None) -> np.ndarray:
    """Bytes → image (uint8 RGB, (H, W, 3)); see :func:`decode`."""
    return decode(model, data, model_hash).image
