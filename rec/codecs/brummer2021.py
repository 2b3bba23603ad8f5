"""The brummer2021 codec: competition of prior distributions with a static CDF look-up table.

Brummer & De Vleeschouwer 2021 (Brummer and De Vleeschouwer, *End-to-end optimized image compression with competition of prior distributions*, CVPR Workshops 2021,
section 3); the model is :class:`rec.models.brummer.ManyPriors`. Data flow::

    encode                                                decode
    x ─► pad to 16 ─► y = g_a(x) ─► q = round(y)          header ─► size, table digest
    symbols s = table.to_symbols(q)                        SIDE_INFO 1 ─► indices i (h·w)
    i[loc] = argmin_p Σ_c cost[p, c, s[c, loc]]            PAYLOAD_LEVEL 1: for p, for c:
      (vectorized over locations and priors)                  s[c, i = p] ~ row (p, c)
    SIDE_INFO 1: the indices (categorical or LZMA)          OUTLIERS 1 ─► escape excesses
    PAYLOAD_LEVEL 1: for each prior p (ascending), for      q ─► ŷ ─► x̂ = g_s(ŷ), crop, round
      each channel c, the symbols of the locations of p,
      coded with the table row (p, c) (constriction)
    OUTLIERS 1: escape excesses (varints), same order

The table (:meth:`ManyPriors.static_table`: 24-bit integer counts over −R … R plus two
escape symbols) is built once per model from its weights in float64 and cached; the
decoder only gathers rows by the transmitted indices: no network runs for the entropy
model, and nothing float-dependent is recomputed per image. The header carries the
table's digest (a ``"static-table"`` sampler spec), so a decoder whose table came out
differently (another machine's float64 libm) refuses the file instead of decoding noise.

The winner indices (side information) are coded two ways and the smaller is kept, its
method in the section's first byte: 0 ``categorical`` — constriction's range coder with the
image's empirical index histogram (sent as P varints); 1 ``lzma`` — the indices as bytes,
raw LZMA2 (the paper's choice). The report names the method (``samplers``) and counts the
index bits as the level's ``side_bits``, the escapes as ``outlier_bits``.

Stage times (``clock``, :mod:`rec.stages`) follow the paper's Table 1: ``nn`` (g_a, g_s), ``cdf``
(select indices + gather the table rows), ``entropy_hyper`` (the indices), ``entropy`` (ŷ).
"""

from __future__ import annotations

import lzma
import time
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from rec.bitio import VarintError, read_varint, varints
from rec.codecs.base import (Compressed, LevelBits, LevelReport, check_header_size, model_hash, one_level_report,
                             refuse_rate, section_bits, split_parameters)
from rec.coding.escapes import MAX_ESCAPE, EscapeValues, escape_bytes
from rec.codecs.registry import register
from rec.container import Container, Header, SamplerSpec, Section, SectionType, same_weights
from rec.errors import FormatError, RecError
from rec.image import tensor_image
from rec.models.brummer import ManyPriors, StaticTable
from rec.models.pln import model_input
from rec.stages import NO_CLOCK, Clock
from rec.threads import single_thread

__all__ = [
    "CODEC_ID",
    "INDEX_METHODS",
    "Brummer2021Codec",
    "Encoded",
    "choose_priors",
    "coding_table",
    "decode",
    "decode_indices",
    "encode",
    "encode_indices",
]

CODEC_ID = "brummer2021"
INDEX_METHODS = ("categorical", "lzma")
_SPEC = "static-table"
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 1 << 20}]
_CHUNK = 1 << 22  # values of the (P, M, locations) cost gather per chunk


@dataclass
class Encoded:
    """What :func:`encode` wrote and computed.

    Attributes:
        data: the container bytes.
        q: the integers of ŷ, (1, M, h, w) int64.
        indices: the prior of each location, (h, w) int64.
        image: the reconstruction g_s(ŷ) as the decoder produces it (uint8), or None.
        bits_y, bits_index, bits_escapes: payload bits of the latents, the index side
            information and the escape excesses.
        estimated_bits: −Σ log2 of the table's probabilities of the coded symbols.
        index_method: "categorical", "lzma" or "none" (a one-prior model sends no indices).
        overhead_bits: the rest of the file (header, section framing, CRC).
    """

    data: bytes
    q: torch.Tensor
    indices: np.ndarray
    image: np.ndarray | None
    bits_y: int
    bits_index: int
    bits_escapes: int
    estimated_bits: float
    index_method: str
    overhead_bits: int


class _Coding:
    """A model's static table with its costs and the constriction models of its rows (built on first use)."""

    def __init__(self, table: StaticTable):
        self.table = table
        self.costs = table.costs()
        self.probabilities = table.probabilities()
        self.digest = table.digest()
        self._models: dict[tuple[int, int], object] = {}

    def model(self, p: int, c: int):
        key = (p, c)
        if key not in self._models:
            self._models[key] = constriction.stream.model.Categorical(self.probabilities[p, c], perfect=False)
        return self._models[key]


_CACHE: dict[bytes, _Coding] = {}


def coding_table(net: ManyPriors) -> _Coding:
    """The static table of ``net`` (built once per weights hash, on one thread, as both sides do)."""
    key = model_hash(net) + net.config.support.to_bytes(4, "little")
    if key not in _CACHE:
        with single_thread():  # the table both sides must compute identically
            table = net.static_table()
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _Coding(table)
    return _CACHE[key]


def _check_model(net) -> ManyPriors:
    if not isinstance(net, ManyPriors):
        raise RecError(f"the brummer2021 codec needs a ManyPriors model, got {type(net).__name__}")
    return net.eval()


def choose_priors(costs: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """The cheapest prior of every location: argmin_p Σ_c costs[p, c, symbols[c, n]] (ties: the lowest p).

    costs: (P, M, L) bits; symbols: (M, n) int64. Returns (n,) int64. Vectorized over the
    priors and channels, in chunks of locations.
    """
    p, m, _ = costs.shape
    n = symbols.shape[1]
    out = np.empty(n, dtype=np.int64)
    step = max(1, _CHUNK // (p * m))
    rows = np.arange(m)[:, None]
    for start in range(0, n, step):
        s = symbols[:, start : start + step]
        out[start : start + step] = costs[:, rows, s].sum(axis=1).argmin(axis=0)
    return out


# -- the index side information ------------------------------------------------------


def _categorical(counts: np.ndarray):
    return constriction.stream.model.Categorical(counts.astype(np.float64) / float(counts.sum()), perfect=False)


def encode_indices(indices: np.ndarray, n_priors: int) -> tuple[bytes, str]:
    """The indices (n,) coded both ways, the smaller kept: (payload, method); b"" and "none" for one prior."""
    if n_priors == 1:
        return b"", "none"
    indices = np.asarray(indices, dtype=np.int64)
    counts = np.bincount(indices, minlength=n_priors)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(indices.astype(np.int32), _categorical(counts))
    cat = bytes([0]) + varints(counts.tolist()) + encoder.get_compressed().astype("<u4").tobytes()
    raw = indices.astype(np.uint8 if n_priors <= 256 else "<u2").tobytes()
    lz = bytes([1]) + lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    return (cat, "categorical") if len(cat) <= len(lz) else (lz, "lzma")


def decode_indices(payload: bytes, n: int, n_priors: int) -> tuple[np.ndarray, str]:
    """The inverse of :func:`encode_indices` for n locations; FormatError on anything malformed."""
    if n_priors == 1:
        if payload:
            raise FormatError("a one-prior model sends no indices")
        return np.zeros(n, dtype=np.int64), "none"
    if not payload:
        raise FormatError("missing prior indices")
    method, body = payload[0], payload[1:]
    if method == 0:
        counts, pos = [], 0
        try:
            for _ in range(n_priors):
                v, pos = read_varint(body, pos, 5)
                counts.append(v)
        except VarintError:
            raise FormatError("malformed index histogram") from None
        counts = np.asarray(counts, dtype=np.int64)
        if counts.sum() != n:
            raise FormatError("the index histogram does not fit the image size")
        words = body[pos:]
        if len(words) % 4:
            raise FormatError("a range-coder payload must be a whole number of 32-bit words")
        try:
            decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(words, dtype="<u4").astype(np.uint32))
            out = np.asarray(decoder.decode(_categorical(counts), n), dtype=np.int64)
        except (ValueError, RuntimeError, OverflowError, AssertionError) as e:
            raise FormatError(f"undecodable prior indices: {e}") from None
        if not decoder.maybe_exhausted() or not np.array_equal(np.bincount(out, minlength=n_priors), counts):
            raise FormatError("the prior indices do not match their histogram")
        return out, "categorical"
    if method == 1:
        width = 1 if n_priors <= 256 else 2
        try:
            d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            raw = d.decompress(body, max_length=n * width + 1)
        except lzma.LZMAError as e:
            raise FormatError(f"undecodable prior indices: {e}") from None
        if len(raw) != n * width:
            raise FormatError("the prior indices do not fit the image size")
        out = np.frombuffer(raw, dtype=np.uint8 if width == 1 else "<u2").astype(np.int64)
        if out.size and out.max() >= n_priors:
            raise FormatError("a prior index out of range")
        return out, "lzma"
    raise FormatError(f"unknown index coding {method}")


# -- the codec ---------------------------------------------------------------------------


def _spec(coding: _Coding) -> SamplerSpec:
    return SamplerSpec(_SPEC, {"digest": coding.digest})


def _rows(coding: _Coding, indices: np.ndarray, m: int) -> list[tuple[np.ndarray, list]]:
    """The table gather: for each prior in use (ascending), its locations and its M row models."""
    return [(np.flatnonzero(indices == p), [coding.model(p, c) for c in range(m)]) for p in np.unique(indices).tolist()]


def encode(net: ManyPriors, image: np.ndarray, model_id: str = "", hash_: bytes | None = None,
           reconstruct: bool = True, clock: Clock = NO_CLOCK) -> Encoded:
    """Compress an RGB uint8 image (H, W, 3); see the module docstring. ``clock`` times the stages
    (:mod:`rec.stages`: nn, cdf = index search and table gather, entropy_hyper = the indices, entropy)."""
    net = _check_model(net)
    hash_ = model_hash(net) if hash_ is None else hash_
    coding = coding_table(net)
    table = coding.table
    height, width = image.shape[:2]
    x = model_input(image, net.config.factor, channels_last=False)
    with clock.stage("nn"), torch.no_grad(), torch.autocast("cpu", enabled=False):
        y = net.analyze(x).float()
    _, m, h, w = y.shape
    q = torch.round(y).reshape(m, h * w).numpy().astype(np.int64)
    if np.abs(q).max(initial=0) - table.support - 1 >= MAX_ESCAPE:
        raise RecError("a latent is out of the codable range (the model diverged?)")
    with clock.stage("cdf"):
        symbols, _ = table.to_symbols(q)
        indices = choose_priors(coding.costs, symbols)
        rows = _rows(coding, indices, m)
    with clock.stage("entropy_hyper"):
        side, method = encode_indices(indices, table.n_priors)
    estimate = float(coding.costs[indices[None, :], np.arange(m)[:, None], symbols].sum())
    last = table.symbols - 1
    escapes: list[int] = []
    with clock.stage("entropy"):
        encoder = constriction.stream.queue.RangeEncoder()
        for locs, models in rows:
            for c, row in enumerate(models):
                s = symbols[c, locs]
                encoder.encode(s.astype(np.int32), row)
                esc = (s == 0) | (s == last)
                if esc.any():
                    escapes.extend((np.abs(q[c, locs][esc]) - table.support - 1).tolist())
        payload = encoder.get_compressed().astype("<u4").tobytes()
    sections = [Section(SectionType.PAYLOAD_LEVEL, 1, payload)]
    if side:
        sections.append(Section(SectionType.SIDE_INFO, 1, side))
    excess = escape_bytes(escapes)
    if excess:
        sections.append(Section(SectionType.OUTLIERS, 1, excess))
    header = Header(width, height, CODEC_ID, model_id, hash_, 0, (_spec(coding),))
    data = Container(header, tuple(sections)).to_bytes()
    q_t = torch.from_numpy(q).float().reshape(1, m, h, w)
    image_hat = None
    if reconstruct:
        with clock.stage("nn"), torch.no_grad(), torch.autocast("cpu", enabled=False):
            image_hat = tensor_image(net.synthesize(q_t), height, width)
    bits_y, bits_index, bits_esc = 8 * len(payload), 8 * len(side), 8 * len(excess)
    return Encoded(data, q_t, indices.reshape(h, w), image_hat, bits_y, bits_index, bits_esc, estimate, method,
                   8 * len(data) - bits_y - bits_index - bits_esc)


def _escape_values(container: Container) -> EscapeValues:
    for s in container.sections:
        if s.kind == SectionType.OUTLIERS and s.level == 1:
            return EscapeValues(s.payload)
    return EscapeValues()


def decode(net: ManyPriors, data: bytes, container: Container | None = None,
           hash_: bytes | None = None, clock: Clock = NO_CLOCK) -> tuple[np.ndarray, torch.Tensor, np.ndarray, str]:
    """Decode a file of :func:`encode`: the image (uint8 (H, W, 3)), ŷ's integers (1, M, h, w), the indices (h, w)
    and the index coding method. FormatError on corrupted, truncated or foreign bytes. ``clock`` times the
    stages (:mod:`rec.stages`: entropy_hyper = the indices, cdf = the table gather, entropy, nn)."""
    container = Container.from_bytes(bytes(data)) if container is None else container
    header = container.header
    if header.codec_id != CODEC_ID:
        raise FormatError(f"not a {CODEC_ID} file: codec id {header.codec_id!r}")
    net = _check_model(net)
    hash_ = model_hash(net) if hash_ is None else hash_
    if not same_weights(header.model_hash, hash_):
        raise FormatError("the file was written with another model (model hash mismatch)")
    check_header_size(header)
    coding = coding_table(net)
    table = coding.table
    if header.samplers != (_spec(coding),):
        raise FormatError("the file was coded with another static table (its digest differs from this model's)")
    _, m, h, w = net.latent_shapes(header.height, header.width)[0]
    n = h * w
    side = b""
    for s in container.sections:
        if s.kind == SectionType.SIDE_INFO and s.level == 1:
            side = s.payload
    with clock.stage("entropy_hyper"):
        indices, method = decode_indices(side, n, table.n_priors)
    with clock.stage("cdf"):
        rows = _rows(coding, indices, m)
    escapes = _escape_values(container)
    payload = container.section(SectionType.PAYLOAD_LEVEL, 1).payload
    if len(payload) % 4:
        raise FormatError("a range-coder payload must be a whole number of 32-bit words")
    last = table.symbols - 1
    q = np.zeros((m, n), dtype=np.int64)
    try:
        with clock.stage("entropy"):
            decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
            for locs, models in rows:
                for c, row in enumerate(models):
                    s = np.asarray(decoder.decode(row, locs.size), dtype=np.int64)
                    q[c, locs] = table.from_symbols(s, escapes.take(int(((s == 0) | (s == last)).sum())))
    except (ValueError, RuntimeError, OverflowError, AssertionError, RecError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"undecodable payload: {e}") from None
    escapes.check_done()
    if not decoder.maybe_exhausted():
        raise FormatError("the payload is longer than the header's image size needs")
    q_t = torch.from_numpy(q).float().reshape(1, m, h, w)
    with clock.stage("nn"), torch.no_grad(), torch.autocast("cpu", enabled=False):
        image = tensor_image(net.synthesize(q_t), header.height, header.width)
    return image, q_t, indices.reshape(h, w), method


class Brummer2021Codec:
    """Competition of priors with a static CDF table: fixed rate, no samplers, no seed."""

    codec_id = CODEC_ID
    devices = ("cpu",)  # its decoder's exact (fixed-point, portable) entropy model is checked on the CPU only
    kinds = ("brummer2021",)
    label = "brummer2021 (static priors)"

    def prepare(self, model: ManyPriors) -> ManyPriors:
        return _check_model(model)

    def compress(self, rgb: np.ndarray, net: ManyPriors, *, samplers=None, seed: int = 0, beta: float | None = None,
                 ideal: bool = False, started: float | None = None) -> Compressed:
        """ŷ and its prior indices coded with the static table; ``samplers``, ``seed`` and ``ideal`` are unused."""
        started = time.perf_counter() if started is None else started
        refuse_rate(CODEC_ID, beta)
        r = encode(net, rgb, getattr(net, "name", ""), reconstruct=False)
        data = Compressed(r.data)
        level = LevelReport("y", f"{_SPEC}, indices: {r.index_method}", int(r.q.numel()), r.estimated_bits,
                            r.bits_y, r.bits_index, r.bits_escapes)
        data.report = one_level_report(data, rgb.shape[1], rgb.shape[0], getattr(net, "name", ""), level,
                                       r.estimated_bits + r.bits_index + r.bits_escapes, r.overhead_bits, started)
        return data

    def decompress(self, data: bytes, container: Container, net: ManyPriors) -> np.ndarray:
        return decode(net, data, container)[0]

    def written(self, container: Container, net) -> list[LevelBits]:
        return section_bits(container, (("y", 1),), _SPEC)  # SIDE_INFO: prior indices; OUTLIERS: escapes

    def rate_label(self, config) -> str:
        return f"λ={config.lmbda:<9g} {config.n_priors:>4} priors".ljust(28)[:28]

    # -- training (rec.training.loop) ---------------------------------------------------
    def losses(self, net, x, *, warmup: float, sample: bool, beta):
        return net(x, noise=sample)  # additive uniform noise and forced idle priors when sampling

    def log_scalars(self, losses) -> dict[str, float]:
        return losses.scalars()  # loss, bpp, bpp_y, bpp_index, bits_y, bits_index, mse, psnr, priors_used

    def level_bits(self, losses):
        return losses.bits_y, losses.bits_index  # y / the indices' estimate

    def level1_channels(self, losses):
        return None

    def parameter_groups(self, model, gamma_lr_scale: float) -> list[dict]:
        """The priors learn 10× faster than the autoencoder (section 4.1: 1e-3 for the CPM, 1e-4 for the AE)."""
        return split_parameters(model, "priors.", 10.0)


register(Brummer2021Codec())
