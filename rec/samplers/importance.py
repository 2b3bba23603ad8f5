"""Adaptive importance sampler: thesis Algorithm 3 (grouping) + Algorithm 5
(importance sampling of Havasi et al. 2018 within a group), message format v2.

Encoder (``posterior`` q, ``prior`` p, both flattened in raster order)::

    kl_d = KL[q_d || p_d] (bits)
    outliers: kl_d > min(outlier_kl, bits - margin) -> u ~ q_d, sent in fixed
              point at step <= s_d/4 with shared dither
    groups:   raster fill while group KL <= bits - margin and size <= max_group
    width:    w_g = bits if the group closed because its next dimension would
              exceed the budget (full_width=1), else
              clip(ceil(KL_g + max(margin, partial_margin)), 1, bits);
              w_g = 0 if KL_g < min_kl (a free prior draw: candidate 0)
    candidates of group g, n < 2**w_g: x = raw(seed, 2, (n >> 1) * D + d),
              e_{n,d} = Phi^-1((u + 1/2) 2**-32), u = the high (n even) or
              low (n odd) 32 bits of x (rec.random's exact transform)
    pick n with probability ~ (q(z_n)/p(z_n))**temper  (private randomness, stream 8)
    z_d = mu_p + sigma_p * e_{n_g, d}

The log-weights are a quadratic form of the candidates: with q = N(m, s^2) in
prior-standardized coordinates, ``log q(e) - log p(e) = a e^2 + b e + c``,
``a = (1 - 1/s^2)/2``, ``b = m/s^2``; a group's log-weight is the sum over its
dimensions. The numba kernel (groups in stripes on all cores; each group's
choice depends on its own draws only) evaluates it block by block (4096 candidates,
two per 64-bit draw), only over dimensions with ``kl_d >= skip_kl`` (the
others are left as prior draws: an encoder-side approximation of at most
``skip_kl`` bits per dimension, invisible to the decoder), and picks a
candidate in proportion to the weights by per-block inverse-CDF sampling
combined across blocks by a weighted reservoir. Candidates are scored with a
2**14-knot table of the inverse CDF (error < 1e-5; the platform's log in the
tails); the sample is rebuilt from the chosen index with the exact transform,
identically on both sides.

**Tempering** (encoder-only, ``temper`` t): with about 2**(KL + 1.3)
candidates per group (real latents, ``margin=0``), picking in proportion to
q/p gives samples too close to the prior (residual spread 1.10-1.18 on
level 1); picking in proportion to (q/p)**t with t ~ 8 (close to argmax)
gives spread 1.03-1.06 and a smaller Kolmogorov distance to q, so the margin
can drop from 2 bits to 0 (results/samplers_real.md). It changes which
candidate is chosen, nothing in the format.

**Guiding** (encoder-only, ``guide`` g, with the ``slope`` that :meth:`encode`
takes): the score is also tilted against the distortion's linear change,
``t · log q/p − g · slope · e`` (:func:`rec.samplers.base.guided_coefficients`;
the REC codec passes the squared error's gradient at the posterior mean), so
among the same candidates one that decodes closer to the image wins.

Side information (group levels = widths or the outlier mark, group sizes) is
written by each of the five codes of :mod:`rec.samplers.layout` and the
shortest is kept (one byte names it). Indices are raw ``w_g``-bit fields.

Invariants: the decoder never re-derives a discrete decision (groups,
widths, outliers, the side-information code are all in the message; the row
length for the code-3 context is the prior's last axis, a shape, not a float);
the decoder's work is O(D).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

import rec.random as rr
from rec.bitio import ByteReader, ByteWriter, pack_bits, unpack_bits
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.inverse_normal import APPROX_TABLE_BITS, approx_table, ndtri_float
from rec.samplers.base import (STREAM_IMPORTANCE, STREAM_OUTLIER, STREAM_SELECT, MessageBits, SampleMessage,
                               Sampler, check_guide, guided_coefficients, kl_bits_per_dim,
                               standardized_coefficients)
from rec.samplers.layout import LAYOUT_CODES, GroupLayout, decode_layout, encode_layout, make_groups, row_length
from rec.samplers.outliers import (decode_outliers, dequantize_outliers, encode_outliers, outlier_dither,
                                   quantize_outliers)
from rec.threads import striped

__all__ = ["ImportanceSampler"]

_CHUNK = 4096  # candidates scored per block (even)
_MAX_BITS = 24
_MAX_GROUP = 1 << 16

# Candidate normals: one 64-bit draw of stream 2 at index ``(n >> 1) * D + d``
# gives candidates 2j and 2j + 1 of dimension d (high and low 32 bits), each
# ``Phi^-1((u + 1/2) 2**-32)`` computed by rec.random's exact transform.
_U32 = np.uint64(0xFFFFFFFF)
_HALF32 = np.uint64(0x80000000)
_T_BITS = 14  # scoring: 2**14 + 1 knots Phi^-1(k / 2**14), every _T_STRIDE-th knot of approx_table()
_T_STRIDE = 1 << (APPROX_TABLE_BITS - _T_BITS)
_scoring_tables: list[np.ndarray] = []
_T_SHIFT = np.uint64(32 - _T_BITS)
_T_MASK = np.uint64((1 << (32 - _T_BITS)) - 1)
_T_SCALE = 2.0 ** -(32 - _T_BITS)
_T_LO = 1 << (_T_BITS - 8)  # p < 2**-8 or p > 1 - 2**-8: formula instead of the table
_T_HI = (1 << _T_BITS) - _T_LO


@njit(inline="always", cache=True)
def _normal_u32(u):
    """The exact candidate normal of a 32-bit uniform ``u`` (both sides)."""
    return rr.normal_from_raw((u << np.uint64(32)) | _HALF32)


@njit(inline="always", cache=True)
def _approx_u32(u, table):
    """Encoder-only scoring value of :func:`_normal_u32`: linear interpolation
    in a 2**14-knot table (error < 1e-5, < 1e-7 for |e| < 1.5), the inverse
    CDF with the platform's log in the tails (p < 2**-8). Not bit-exact; the
    chosen index is rebuilt with :func:`_normal_u32` on both sides. ``table``
    is :func:`_scoring_table`."""
    k = np.int64(u >> _T_SHIFT)
    if k < _T_LO or k >= _T_HI:
        return ndtri_float((np.float64(u) + 0.5) * 2.3283064365386963e-10)
    f = (np.float64(u & _T_MASK) + 0.5) * _T_SCALE
    t0 = table[k]
    return t0 + f * (table[k + 1] - t0)


@njit(cache=True)
def _select_group(g, k1, k2, sk1, sk2, D, N, i0, i1, inf_dims, a, b, table, lw):
    """Group ``g``'s candidate among ``N``, chosen with probability proportional to its
    (tempered) weight: per-block inverse CDF, blocks combined by a weighted
    reservoir. Uses only ``g``'s own private draws, so groups are independent.
    ``N`` need not be a power of two (the budget sampler's counts)."""
    if N <= 1:
        return 0
    if i1 == i0:  # no informative dimension: all weights equal
        return np.int64(rr.raw_at(sk1, sk2, np.uint64(g) << np.uint64(20)) % np.uint64(N))
    total = -np.inf
    pick = 0
    chunk_id = 0
    for c0 in range(0, N, _CHUNK):
        m = min(N - c0, _CHUNK)  # odd only in the last block of an odd N
        for n in range(m):
            lw[n] = 0.0
        for t in range(i0, i1):
            d = np.uint64(inf_dims[t])
            aa = a[inf_dims[t]]
            bb = b[inf_dims[t]]
            base = np.uint64(c0 >> 1) * D + d
            for j in range(m >> 1):
                x = rr.raw_at(k1, k2, base + np.uint64(j) * D)
                e0 = _approx_u32(x >> np.uint64(32), table)
                e1 = _approx_u32(x & _U32, table)
                lw[2 * j] += (aa * e0 + bb) * e0
                lw[2 * j + 1] += (aa * e1 + bb) * e1
            if m & 1:
                e0 = _approx_u32(rr.raw_at(k1, k2, base + np.uint64(m >> 1) * D) >> np.uint64(32), table)
                lw[m - 1] += (aa * e0 + bb) * e0
        mx = -np.inf
        for n in range(m):
            if lw[n] > mx:
                mx = lw[n]
        s = 0.0
        for n in range(m):
            dl = lw[n] - mx
            v = math.exp(dl) if dl > -200.0 else 0.0  # no subnormals
            lw[n] = v
            s += v
        # inverse CDF within the block
        ctr = (np.uint64(g) << np.uint64(20)) + np.uint64(2 * chunk_id + 1)
        target = rr.uniform_at(sk1, sk2, ctr) * s
        acc = 0.0
        local = m - 1
        for n in range(m):
            acc += lw[n]
            if acc > target:
                local = n
                break
        # weighted reservoir across blocks
        lc = mx + math.log(s)
        if total == -np.inf:
            new_total = lc
        else:
            hi = max(total, lc)
            new_total = hi + math.log(math.exp(total - hi) + math.exp(lc - hi))
        if rr.uniform_at(sk1, sk2, ctr + np.uint64(1)) < math.exp(lc - new_total):
            pick = c0 + local
        total = new_total
        chunk_id += 1
    return pick


@njit(cache=True, nogil=True)
def _select_range(g0, g1, k1, k2, sk1, sk2, n_dims, counts, inf_ptr, inf_dims, a, b, table, out):
    """:func:`_select_group` for groups g0 … g1 − 1 (without the GIL: stripes run on threads)."""
    D = np.uint64(n_dims)
    lw = np.empty(_CHUNK, np.float64)
    for g in range(g0, g1):
        out[g] = _select_group(g, k1, k2, sk1, sk2, D, counts[g], inf_ptr[g], inf_ptr[g + 1],
                               inf_dims, a, b, table, lw)


def _scoring_table() -> np.ndarray:
    """The 2**14 + 1 scoring knots ``Phi^-1(k / 2**14)``: every ``_T_STRIDE``-th knot of
    :func:`rec.inverse_normal.approx_table` (the same floats), copied contiguously: 128 KiB
    that stay in the L2 cache, where reading the 512 KiB table at a stride did not
    (level-1 scoring 25 % faster, the same picks)."""
    if not _scoring_tables:
        _scoring_tables.append(np.ascontiguousarray(approx_table()[::_T_STRIDE]))
    return _scoring_tables[0]


def _select(k1, k2, sk1, sk2, n_dims, counts, inf_ptr, inf_dims, a, b, out) -> None:
    """Every group's candidate (group g among ``counts[g]``; 0 for a count ≤ 1), groups in stripes on all cores (:func:`rec.threads.striped`):
    a group's choice depends on its own draws only, so the result is the same for any
    number of threads."""
    table = _scoring_table()
    striped(lambda g0, g1: _select_range(g0, g1, k1, k2, sk1, sk2, n_dims, counts, inf_ptr, inf_dims,
                                            a, b, table, out), counts.shape[0], 16)


@njit(cache=True)
def _reconstruct_kernel(k1, k2, n_dims, sizes, starts, levels, outlier_level, chosen, mu, sd, out):
    """z_d = mu_d + sd_d * candidate(n_g, d) for non-outlier groups."""
    D = np.uint64(n_dims)
    for g in range(sizes.shape[0]):
        if levels[g] == outlier_level:
            continue
        n = np.uint64(chosen[g])
        base = (n >> np.uint64(1)) * D
        odd = (n & np.uint64(1)) == np.uint64(1)
        for d in range(starts[g], starts[g] + sizes[g]):
            x = rr.raw_at(k1, k2, base + np.uint64(d))
            u = (x & _U32) if odd else (x >> np.uint64(32))
            out[d] = mu[d] + sd[d] * _normal_u32(u)


def informative_groups(gid: np.ndarray, informative: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(inf_dims, inf_ptr): the informative dimensions of each group as CSR, for :func:`_select`
    (``gid``: each dimension's group; ``informative``: the dimensions that enter the weights)."""
    inf_dims = np.flatnonzero(informative).astype(np.int64)
    inf_ptr = np.zeros(n_groups + 1, np.int64)
    np.cumsum(np.bincount(gid[informative], minlength=n_groups), out=inf_ptr[1:])
    return inf_dims, inf_ptr


def read_bits_and_group(r: ByteReader, max_bits: int) -> tuple[int, int]:
    """A grouping sampler's message fields ``bits`` and ``max_group`` (FormatError outside their ranges)."""
    bits = r.varint(max_bits)
    if bits < 1:
        raise FormatError("bits must be >= 1")
    max_group = r.varint(_MAX_GROUP)
    if max_group < 1:
        raise FormatError("max_group must be >= 1")
    return bits, max_group


class _Message(NamedTuple):
    """A parsed message: the layout, each group's chosen index, the outliers (e, v) and the bits."""

    layout: GroupLayout
    chosen: np.ndarray
    oe: np.ndarray
    ov: np.ndarray
    bits: MessageBits | None = None


class ImportanceSampler(Sampler):
    """Adaptive importance sampler (thesis Alg. 3 with Alg. 5 per group).

    Args:
        bits: largest index width B: a group picks among at most 2**B prior
            candidates (thesis: 20).
        max_group: largest group size G (thesis: 16).
        outlier_kl: dimensions with more KL (bits) are sent directly (thesis:
            12); so are dimensions above the group budget ``bits - margin``.
        margin: extra bits of candidates above a group's KL: groups fill up to
            ``bits - margin`` bits of KL and get ``ceil(KL + margin)`` index
            bits (capped at ``bits``). More margin, less bias, more bits. May
            be negative (down to ``-bits/2``): groups then hold more KL than
            their index has bits (biased samples; for studies).
        min_kl: groups with less KL (bits) get no index (their sample is a free
            prior draw, the decoder takes candidate 0).
        skip_kl: encoder-only: dimensions with less KL are left out of the
            weights (their value is the chosen candidate's prior draw).
        full_width: 1: a group closed by the KL budget gets all ``bits`` (its
            width is then nearly always ``bits``, cheap to code, and the spare
            candidates reduce bias); 0: every group gets ``ceil(KL + margin)``.
        partial_margin: with ``full_width=1``, the least margin of a group
            not closed by the budget (the next dimension is an outlier, the
            size limit, the end): such a group has no fill slack, so with
            ``margin=0`` its sample would be biased (spread 1.2-1.5 on
            synthetic latents with many outliers).

        temper: encoder-only exponent of the weights (see the module
            docstring): 1 = plain importance sampling; larger values pick
            candidates closer to the posterior mean; 0 = automatic from the
            margin (:attr:`effective_temper`: 8 at margin 0, 1 from margin 1
            on). A large temper with a large margin over-concentrates the
            samples (margin 2, temper 8: spread 0.77 on level 1).
        guide: encoder-only strength of the distortion-guided selection (0:
            none): candidates score temper · log q/p − guide · slope · e, the
            slope (given to encode) the distortion's gradient; the REC codec
            passes the squared error's.

    Recommended on real latents (results/samplers_real.md, results/level2_budget.md): level 2
    ``bits=13, max_group=256, margin=0, temper=8`` (1.8-1.9 x KL of a level that holds under
    1.3 % of the bits; B = 16 writes 1.7-1.8 x in 25-40 % more encode time, at the same PSNR);
    level 1 ``bits=11, max_group=256, margin=0, temper=8`` (1.33-1.41 x KL,
    0.5-0.75 s; bits=12 saves ~1.5 % of the bits in twice the time;
    ``margin=0.5`` with automatic temper 2.8 gives near-exact samples, KS
    distance <= 0.007, for ~4 % more bits). The defaults are the level-1
    setting (temper 0 = automatic = 8 at margin 0).
    """

    name = "importance"
    tag = 2
    version = 2

    def __init__(self, bits: int = 11, max_group: int = 256, outlier_kl: float = 12.0,
                 margin: float = 0.0, min_kl: float = 0.05, skip_kl: float = 1e-3,
                 full_width: int = 1, temper: float = 0.0, partial_margin: float = 1.5, guide: float = 0.0):
        if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= _MAX_BITS):
            raise RecError(f"bits must be an integer in [1, {_MAX_BITS}]")
        if not (isinstance(max_group, (int, np.integer)) and 1 <= max_group <= _MAX_GROUP):
            raise RecError(f"max_group must be an integer in [1, {_MAX_GROUP}]")
        if not outlier_kl > 0 or not -bits / 2 <= margin < bits or min_kl < 0 or skip_kl < 0:
            raise RecError("need outlier_kl > 0, -bits/2 <= margin < bits, min_kl >= 0, skip_kl >= 0")
        if not 0.0 <= float(temper) <= 16.0:
            raise RecError("temper must lie in [0, 16] (0: automatic)")
        self.bits = int(bits)
        self.max_group = int(max_group)
        self.outlier_kl = float(outlier_kl)
        self.margin = float(margin)
        self.min_kl = float(min_kl)
        self.skip_kl = float(skip_kl)
        self.full_width = int(bool(full_width))
        if not 0 <= partial_margin < bits:
            raise RecError("need 0 <= partial_margin < bits")
        self.partial_margin = float(partial_margin)
        self.temper = float(temper)
        self.guide = check_guide(guide)

    @property
    def effective_temper(self) -> float:
        """``temper``, or for ``temper=0`` (automatic) the value that keeps the
        residual spread near 1 on real latents: 8 for ``margin <= 0``, 1 for
        ``margin >= 1`` (plain importance sampling, the old behaviour of
        margin-2 settings), ``8**(1 - margin)`` between."""
        if self.temper > 0:
            return self.temper
        return float(8.0 ** (1.0 - min(max(self.margin, 0.0), 1.0)))

    @property
    def params(self) -> dict:
        return dict(bits=self.bits, max_group=self.max_group, outlier_kl=self.outlier_kl,
                    margin=self.margin, min_kl=self.min_kl, skip_kl=self.skip_kl,
                    full_width=self.full_width, temper=self.temper, partial_margin=self.partial_margin,
                    guide=self.guide)

    # ------------------------------------------------------------------
    def _encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int,
                slope: np.ndarray | None = None) -> SampleMessage:
        D = prior.size
        B = self.bits
        kl = kl_bits_per_dim(posterior, prior)
        m, s, a, b = standardized_coefficients(posterior, prior)
        # encoder-only: weights (q/p)**temper, tilted by the distortion's slope
        a, b = guided_coefficients(a, b, self.effective_temper, self.guide, slope)

        # a dimension that alone exceeds the group budget cannot be importance
        # sampled well: send it directly
        outlier_kl = min(self.outlier_kl, B - self.margin)
        sizes, gkl, outl, full = make_groups(kl, B - self.margin, self.max_group, outlier_kl,
                                             return_full=True)
        # a group not closed by the budget (next dimension an outlier, size
        # limit, end) has no fill slack: give it at least partial_margin bits
        # (only with full_width; else every group gets ceil(KL + margin))
        pm = max(self.margin, self.partial_margin) if self.full_width else self.margin
        widths = np.clip(np.ceil(gkl + pm), 1, B).astype(np.int64)
        if self.full_width:
            widths[full] = B
        widths[gkl < self.min_kl] = 0
        outlier_level = B + 1
        levels = np.where(outl, outlier_level, widths)
        widths[outl] = 0
        layout = GroupLayout(sizes, levels, self.max_group, outlier_level)
        starts = layout.starts

        # informative dimensions per (non-outlier, indexed) group, CSR
        gid = layout.group_of_dim()
        inf = (kl >= self.skip_kl) & (widths[gid] > 0)
        inf_dims, inf_ptr = informative_groups(gid, inf, sizes.size)

        k1, k2 = rr.stream_keys(seed, STREAM_IMPORTANCE)
        sk1, sk2 = rr.stream_keys(seed, STREAM_SELECT)
        chosen = np.zeros(sizes.size, np.int64)
        _select(k1, k2, sk1, sk2, D, np.where(widths > 0, np.int64(1) << widths, 0), inf_ptr, inf_dims, a, b, chosen)

        # outliers: exact samples of q, quantized
        odims = starts[outl]
        u = m[odims] + s[odims] * rr.normal(seed, STREAM_OUTLIER, odims)
        oe, ov = quantize_outliers(u, s[odims], outlier_dither(seed, odims))

        # serialize
        row = row_length(prior.shape)
        codes = range(LAYOUT_CODES) if outlier_level <= 31 else range(3)
        blobs = [encode_layout(layout, code, row) for code in codes]
        code = int(np.argmin([len(x) for x in blobs]))
        ac = blobs[code]
        oblob = encode_outliers(oe, ov)
        raw = pack_bits(chosen.astype(np.uint64), widths)
        w = ByteWriter()
        w.byte(self._header_byte())
        w.varint(B)
        w.varint(self.max_group)
        w.varint(sizes.size)
        w.byte(code)
        w.blob(ac)
        w.blob(oblob)
        w.raw(raw)
        payload = w.getvalue()

        sample = self._reconstruct(prior, seed, _Message(layout, chosen, oe, ov))
        index_bits = int(widths.sum())
        outlier_bits = 8 * len(oblob)
        return SampleMessage.accounted(
            sample, payload, index_bits, outlier_bits, float(kl.sum()),
            groups=int(sizes.size), outliers=int(outl.sum()),
            indexed_groups=int((widths > 0).sum()), informative_dims=int(inf.sum()),
            group_kl_bits=float(gkl[~outl].sum()), outlier_kl_bits=float(gkl[outl].sum()),
            candidates=float(np.sum(np.where(widths > 0, 2.0 ** widths, 0.0))), size_code=code)

    # ------------------------------------------------------------------
    def _parse(self, r: ByteReader, shape: tuple[int, ...]) -> _Message:
        D = math.prod(shape)
        B, G = read_bits_and_group(r, _MAX_BITS)
        n_groups = r.varint(D)
        code = r.byte()
        if code >= LAYOUT_CODES:
            raise FormatError(f"unknown size code {code}")
        ac = r.blob(len(r.data))
        layout = decode_layout(ac, code, n_groups, G, B + 1, D, row_length(shape))
        outl = layout.is_outlier
        widths = np.where(outl, 0, layout.levels).astype(np.int64)
        oblob = r.blob(len(r.data))
        oe, ov = decode_outliers(oblob, int(outl.sum()))
        chosen = unpack_bits(r.rest(), widths).astype(np.int64)
        index_bits, outlier_bits = int(widths.sum()), 8 * len(oblob)
        bits = MessageBits(index_bits, 8 * len(r.data) - index_bits - outlier_bits, outlier_bits,
                           int((widths > 0).sum()), int(outl.sum()))
        return _Message(layout, chosen, oe, ov, bits)

    def _reconstruct(self, prior: DiagonalGaussian, seed: int, message: _Message) -> np.ndarray:
        layout, chosen, oe, ov = message[:4]
        p = prior.flatten()
        D = p.size
        out = np.empty(D, np.float64)
        k1, k2 = rr.stream_keys(seed, STREAM_IMPORTANCE)
        _reconstruct_kernel(k1, k2, D, layout.sizes, layout.starts, layout.levels,
                            layout.outlier_level, chosen, p.mean, p.std, out)
        odims = layout.starts[layout.is_outlier]
        out[odims] = p.mean[odims] + p.std[odims] * dequantize_outliers(oe, ov, outlier_dither(seed, odims))
        return out.reshape(prior.shape)
