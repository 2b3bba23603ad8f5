"""Budget sampler: importance sampling in groups that the decoder derives from exact KL budgets
(issue 16, item 2), message format v1.

An iso-KL model (:mod:`rec.models.isokl`) spends exactly κ_d = level_d / 16 bits of KL in
level-1 dimension d, the integer levels coming from KappaNet's integer arithmetic on the
coded z2 and β (:mod:`rec.models.kappa`), identical on both sides. Both sides therefore
derive the whole layout (``T = 16 · bits − m``, m the margin in sixteenths of a bit)::

    groups:   raster fill while Σ level ≤ T and size ≤ max_group (a dimension above T alone)
    group g:  K_g = Σ level;  N_g = min(⌈2^((K_g + m)/16)⌉, 2^bits) candidates, 1 if K_g + m ≤ 0
    index:    n_g uniform in [0, N_g): range coded (log2 N_g bits), groups in order of N_g,
              one uniform model per count
    sample:   the importance sampler's candidates, tempered (and guided) selection and reconstruction
              (:mod:`rec.samplers.importance`); dimensions at level 0 are exact prior draws

so the message holds the parameters and the indices only: no group sizes, widths or
outliers, no side information. Since N_g is not restricted to powers of two, the index
costs log2 N_g ≈ K_g + m bits: the margin is the whole slack.

Use: ``sampler.bind(levels)`` (the model's :meth:`~rec.models.pln.PLN.level1_budget`) before
``encode`` / ``decode``; :meth:`inspect` needs no levels. A model whose groups share their
budgets (``ModelConfig.group_budget``, :func:`rec.models.isokl.shared_budgets`) binds with
``shared=group_budget``: the groups are then the model's fill (T = group_budget, at most
:data:`SHARED_MAX_GROUP` dimensions), whatever ``bits``, ``margin`` and ``max_group`` say, so that
each group's KL is its summed budget; the counts still follow from K_g, the margin and ``bits``.

Invariants: every discrete decision of the decoder (groups, counts, the coding order) comes
from the integer levels and the message's integers, none from floats; N_g ≤ 2^bits.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np

import rec.random as rr
from rec.bitio import ByteReader, ByteWriter, unzigzag, zigzag
from rec.coding import RangeEncoder, UniformModel
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.samplers.base import (STREAM_IMPORTANCE, STREAM_SELECT, MessageBits, SampleMessage, Sampler, check_guide,
                               guided_coefficients, kl_bits_per_dim, range_decoder, standardized_coefficients)
from rec.samplers.importance import _MAX_GROUP, _reconstruct_kernel, _select, informative_groups, read_bits_and_group
from rec.samplers.layout import make_groups

__all__ = ["BudgetSampler", "candidate_counts", "budget_groups", "SHARED_MAX_GROUP", "MAX_SHARED_BUDGET"]

LEVELS_PER_BIT = 16
SHARED_MAX_GROUP = 1024  # the largest group of a model whose groups share their budgets
_MAX_BITS = 20
MAX_SHARED_BUDGET = LEVELS_PER_BIT * _MAX_BITS  # the largest shared group budget (sixteenths of a bit)
_ONE = 24  # fixed point of the count table: 2^(f/16) · 2^24


def _count_table() -> np.ndarray:
    """⌈2^(24 + f/16)⌉ for f = 0 … 15, exactly (integer arithmetic: the least t with t^16 ≥ 2^(384 + f))."""
    out = []
    for f in range(LEVELS_PER_BIT):
        t = int(2.0 ** (_ONE + f / LEVELS_PER_BIT))
        while t**LEVELS_PER_BIT < 2 ** (_ONE * LEVELS_PER_BIT + f):
            t += 1
        while t > 1 and (t - 1) ** LEVELS_PER_BIT >= 2 ** (_ONE * LEVELS_PER_BIT + f):
            t -= 1
        out.append(t)
    return np.array(out, np.int64)


_COUNTS = _count_table()


def candidate_counts(group_levels: np.ndarray, margin16: int, bits: int) -> np.ndarray:
    """N_g = min(⌈2^((K_g + m)/16)⌉, 2^bits), 1 where K_g = 0 or K_g + m ≤ 0 (module docstring), in
    integers: ⌈⌈2^(24 + f/16)⌉ 2^e / 2^24⌉ for K_g + m = 16 e + f (at most 1 above the real ceiling,
    and the same on every machine)."""
    n16 = np.asarray(group_levels, np.int64) + margin16
    e, f = np.divmod(np.maximum(n16, 0), LEVELS_PER_BIT)
    e = np.minimum(e, bits)
    counts = ((_COUNTS[f] << e) + (1 << _ONE) - 1) >> _ONE
    counts = np.minimum(counts, np.int64(1) << bits)
    counts[(n16 <= 0) | (np.asarray(group_levels) == 0)] = 1
    return counts


def budget_groups(levels: np.ndarray, T: int, max_group: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, level sums) of the raster fill of ``levels`` (module docstring): the importance
    sampler's fill (:func:`rec.samplers.layout.make_groups`, no outliers) on the integer levels,
    whose float64 sums and comparisons are exact (integers far below 2^53)."""
    sizes, sums, _ = make_groups(np.asarray(levels, dtype=np.float64).reshape(-1), T, max_group)
    return sizes, sums.astype(np.int64)


class _Message(NamedTuple):
    sizes: np.ndarray
    counts: np.ndarray
    chosen: np.ndarray
    bits: MessageBits | None = None


class BudgetSampler(Sampler):
    """Importance sampling in groups derived from exact KL budgets (iso-KL models; no side information).

    Args:
        bits: largest index: a group has at most 2**bits candidates, and fills up to
            ``bits - margin`` bits of budget.
        max_group: largest group size (dimensions).
        margin: bits of candidates beyond a group's KL, in sixteenths of a bit (rounded):
            N = 2**(KL + margin). The whole index slack; may be negative (biased samples,
            fewer bits).
        temper: encoder-only exponent of the importance weights (the importance sampler's
            ``temper``; 8: close to the best candidate).
        guide: encoder-only strength of the distortion-guided selection, as the importance
            sampler's (0: none).
    """

    name = "budget"
    tag = 4
    version = 1

    def __init__(self, bits: int = 12, max_group: int = 1024, margin: float = 0.0, temper: float = 8.0,
                 guide: float = 0.0):
        if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= _MAX_BITS):
            raise RecError(f"bits must be an integer in [1, {_MAX_BITS}]")
        if not (isinstance(max_group, (int, np.integer)) and 1 <= max_group <= _MAX_GROUP):
            raise RecError(f"max_group must be an integer in [1, {_MAX_GROUP}]")
        if not -bits / 2 <= margin < bits:
            raise RecError("need -bits/2 <= margin < bits")
        if not 0.0 < float(temper) <= 16.0:
            raise RecError("temper must lie in (0, 16]")
        self.bits, self.max_group, self.temper = int(bits), int(max_group), float(temper)
        self.margin16 = int(round(float(margin) * LEVELS_PER_BIT))
        self.guide = check_guide(guide)
        self.levels: np.ndarray | None = None
        self.shared = 0

    @property
    def params(self) -> dict:
        return dict(bits=self.bits, max_group=self.max_group, margin=self.margin16 / LEVELS_PER_BIT, temper=self.temper,
                    guide=self.guide)

    def bind(self, levels: np.ndarray, shared: int = 0) -> "BudgetSampler":
        """This sampler with the budget levels of the latent it codes (any shape; raster order);
        ``shared``: the model's group budget when its groups share their budgets (module docstring)."""
        levels = np.asarray(levels)
        if levels.dtype.kind not in "iu" or (levels.size and (levels.min() < 0 or levels.max() > 1 << 16)):
            raise RecError("budget levels must be integers in [0, 65536]")
        if not (isinstance(shared, (int, np.integer)) and 0 <= shared <= MAX_SHARED_BUDGET):
            raise RecError(f"a shared group budget must be an integer in [0, {MAX_SHARED_BUDGET}]")
        bound = copy.copy(self)
        bound.levels = np.ascontiguousarray(levels, dtype=np.int64).reshape(-1)
        bound.shared = int(shared)
        return bound

    def _layout(self, D: int, bits: int, max_group: int, margin16: int) -> tuple[np.ndarray, np.ndarray]:
        if self.levels is None:
            raise RecError("the budget sampler needs the latent's budget levels (BudgetSampler.bind; "
                           "an iso-KL model gives them)")
        if self.levels.size != D:
            raise RecError(f"{self.levels.size} budget levels for a latent of {D} dimensions")
        fill = (self.shared, SHARED_MAX_GROUP) if self.shared else (LEVELS_PER_BIT * bits - margin16, max_group)
        sizes, sums = budget_groups(self.levels, *fill)
        return sizes, candidate_counts(sums, margin16, bits)

    def _encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int,
                slope: np.ndarray | None = None) -> SampleMessage:
        D = prior.size
        sizes, counts = self._layout(D, self.bits, self.max_group, self.margin16)
        _, _, a, b = standardized_coefficients(posterior, prior)
        a, b = guided_coefficients(a, b, self.temper, self.guide, slope)
        gid = np.repeat(np.arange(sizes.size), sizes)
        inf = (self.levels > 0) & (counts[gid] > 1)
        inf_dims, inf_ptr = informative_groups(gid, inf, sizes.size)
        k1, k2 = rr.stream_keys(seed, STREAM_IMPORTANCE)
        sk1, sk2 = rr.stream_keys(seed, STREAM_SELECT)
        chosen = np.zeros(sizes.size, np.int64)
        _select(k1, k2, sk1, sk2, D, counts, inf_ptr, inf_dims, a, b, chosen)

        enc = RangeEncoder()
        for n, idx in _by_count(counts):
            enc.encode(chosen[idx], UniformModel(int(n)))
        blob = enc.finish()
        w = ByteWriter()
        w.byte(self._header_byte())
        w.varint(self.bits)
        w.varint(self.max_group)
        w.varint(zigzag(self.margin16))
        head = len(w.getvalue())
        w.raw(blob)
        payload = w.getvalue()
        sample = self._reconstruct(prior, seed, _Message(sizes, counts, chosen))
        kl = kl_bits_per_dim(posterior, prior)
        return SampleMessage.accounted(
            sample, payload, 8 * (len(payload) - head), 0, float(kl.sum()),
            groups=int(sizes.size), indexed_groups=int((counts > 1).sum()), informative_dims=int(inf.sum()),
            group_kl_bits=float(self.levels.sum()) / LEVELS_PER_BIT,
            ideal_index_bits=float(np.log2(counts).sum()), candidates=float(counts[counts > 1].sum()))

    def _parse(self, r: ByteReader, shape: tuple[int, ...]) -> _Message:
        D = math.prod(shape)
        bits, max_group = read_bits_and_group(r, _MAX_BITS)
        margin16 = unzigzag(r.varint(LEVELS_PER_BIT * _MAX_BITS))
        if not -LEVELS_PER_BIT * bits / 2 <= margin16 < LEVELS_PER_BIT * bits:
            raise FormatError(f"margin {margin16 / LEVELS_PER_BIT} out of range for {bits} bits")
        blob = r.rest()
        if self.levels is None:  # inspection: the indices are all there is
            return _Message(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                            MessageBits(8 * len(blob), 8 * (len(r.data) - len(blob)), 0, None, 0))
        sizes, counts = self._layout(D, bits, max_group, margin16)
        chosen = np.zeros(sizes.size, np.int64)
        dec = range_decoder(blob)
        for n, idx in _by_count(counts):
            chosen[idx] = dec.decode(idx.size, UniformModel(int(n)))
        try:
            dec.finish()
        except RecError as exc:
            raise FormatError(f"budget sampler indices: {exc}") from None
        bits_ = MessageBits(8 * len(blob), 8 * (len(r.data) - len(blob)), 0, int((counts > 1).sum()), 0)
        return _Message(sizes, counts, chosen, bits_)

    def _reconstruct(self, prior: DiagonalGaussian, seed: int, message: _Message) -> np.ndarray:
        sizes, counts, chosen = message[:3]
        if sizes.size == 0 and prior.size:
            raise RecError("the budget sampler needs the latent's budget levels to decode (BudgetSampler.bind)")
        p = prior.flatten()
        out = np.empty(p.size, np.float64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        k1, k2 = rr.stream_keys(seed, STREAM_IMPORTANCE)
        _reconstruct_kernel(k1, k2, p.size, sizes, starts, counts, -1, chosen, p.mean, p.std, out)
        return out.reshape(prior.shape)


def _by_count(counts: np.ndarray):
    """(N, groups with N candidates) for every N > 1, in increasing N: the coding order both sides derive."""
    order = np.argsort(counts, kind="stable")
    ordered = counts[order]
    edges = np.flatnonzero(np.diff(ordered)) + 1
    for idx in np.split(order, edges):
        if idx.size and counts[idx[0]] > 1:
            yield counts[idx[0]], idx
