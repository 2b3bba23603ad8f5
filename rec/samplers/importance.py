"""Adaptive importance sampler: thesis Algorithm 3 (grouping) + Algorithm 5
(importance sampling of Havasi et al. 2018 within a group).

Encoder (``posterior`` q, ``prior`` p, both flattened in raster order)::

    kl_d = KL[q_d || p_d] (bits)
    outliers: kl_d > min(outlier_kl, bits - margin) -> u ~ q_d, sent in fixed
              point at step <= s_d/4 with shared dither
    groups:   raster fill while group KL <= bits - margin and size <= max_group
    width:    w_g = bits if the group closed because its next dimension would
              exceed the budget (full_width=1), else min(bits, ceil(KL_g + margin));
              w_g = 0 if KL_g < min_kl (a free prior draw: candidate 0)
    candidates of group g: e_n = normal(seed, 2, n * D + d), n < 2**w_g
    pick n with probability ~ q(z_n)/p(z_n)  (private randomness, stream 8)
    z_d = mu_p + sigma_p * e_{n_g, d}

The log-weights are a quadratic form of the candidates: with q = N(m, s^2) in
prior-standardized coordinates, ``log q(e) - log p(e) = a e^2 + b e + c``,
``a = (1 - 1/s^2)/2``, ``b = m/s^2``; a group's log-weight is the sum over its
dimensions. The numba kernel evaluates it chunk by chunk (4096 candidates),
only over dimensions with ``kl_d >= skip_kl`` (the others are left as prior
draws: an encoder-side approximation of at most ``skip_kl`` bits per
dimension, invisible to the decoder), and picks a candidate in proportion to
the weights by per-chunk inverse-CDF sampling combined across chunks by a
weighted reservoir. Candidates are scored with
:func:`rec.random.normal_fill_strided_approx` (table interpolation, within
5e-8 of the exact normals, ~3x faster); the sample is rebuilt from the chosen
index with the exact transform, identically on both sides.

Side information (group levels = widths or the outlier mark, group sizes) is
range coded with adaptive models; indices are raw ``w_g``-bit fields.

Invariants: the decoder never re-derives a discrete decision (groups,
widths, outliers are all in the message); the decoder's work is O(D).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

import rec.random as rr
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.samplers.base import (
    STREAM_IMPORTANCE,
    STREAM_OUTLIER,
    STREAM_SELECT,
    ByteReader,
    ByteWriter,
    GroupLayout,
    SampleMessage,
    Sampler,
    decode_outliers,
    dequantize_outliers,
    encode_outliers,
    outlier_dither,
    kl_bits_per_dim,
    make_groups,
    pack_bits,
    quantize_outliers,
    range_decoder,
    standardized_coefficients,
    unpack_bits,
)

__all__ = ["ImportanceSampler"]

_CHUNK = 4096
_MAX_BITS = 24
_MAX_GROUP = 1 << 16


@njit(cache=True)
def _select_kernel(k1, k2, sk1, sk2, n_dims, widths, inf_ptr, inf_dims, a, b, table, out):
    """Pick one candidate per group with probability proportional to its weight."""
    lw = np.empty(_CHUNK, np.float64)
    e = np.empty(_CHUNK, np.float64)
    D = np.uint64(n_dims)
    for g in range(widths.shape[0]):
        w = widths[g]
        if w <= 0:
            out[g] = 0
            continue
        N = np.int64(1) << w
        i0 = inf_ptr[g]
        i1 = inf_ptr[g + 1]
        if i1 == i0:  # no informative dimension: all weights equal
            out[g] = np.int64(rr.raw_at(sk1, sk2, np.uint64(g) << np.uint64(20)) & np.uint64(N - 1))
            continue
        total = -np.inf
        pick = 0
        chunk_id = 0
        for c0 in range(0, N, _CHUNK):
            m = min(N - c0, _CHUNK)
            for n in range(m):
                lw[n] = 0.0
            for t in range(i0, i1):
                d = inf_dims[t]
                rr.normal_fill_strided_approx(k1, k2, np.uint64(c0) * D + np.uint64(d), D, e, m, table)
                aa = a[d]
                bb = b[d]
                for n in range(m):
                    x = e[n]
                    lw[n] += (aa * x + bb) * x
            mx = -np.inf
            for n in range(m):
                if lw[n] > mx:
                    mx = lw[n]
            s = 0.0
            for n in range(m):
                v = math.exp(lw[n] - mx)
                lw[n] = v
                s += v
            # inverse CDF within the chunk
            ctr = (np.uint64(g) << np.uint64(20)) + np.uint64(2 * chunk_id + 1)
            target = rr.uniform_at(sk1, sk2, ctr) * s
            acc = 0.0
            local = m - 1
            for n in range(m):
                acc += lw[n]
                if acc > target:
                    local = n
                    break
            # weighted reservoir across chunks
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
        out[g] = pick


@njit(cache=True)
def _reconstruct_kernel(k1, k2, n_dims, sizes, starts, levels, outlier_level, chosen, mu, sd, out):
    """z_d = mu_d + sd_d * normal(n_g * D + d) for non-outlier groups."""
    D = np.uint64(n_dims)
    for g in range(sizes.shape[0]):
        if levels[g] == outlier_level:
            continue
        base = np.uint64(chosen[g]) * D
        for d in range(starts[g], starts[g] + sizes[g]):
            out[d] = mu[d] + sd[d] * rr.normal_at(k1, k2, base + np.uint64(d))


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
            bits (capped at ``bits``). More margin, less bias, more bits.
        min_kl: groups with less KL (bits) get no index (their sample is a free
            prior draw, the decoder takes candidate 0).
        skip_kl: encoder-only: dimensions with less KL are left out of the
            weights (their value is the chosen candidate's prior draw).
        full_width: 1: a group closed by the KL budget gets all ``bits`` (its
            width is then nearly always ``bits``, cheap to code, and the spare
            candidates reduce bias); 0: every group gets ``ceil(KL + margin)``.

    Recommended (results/samplers.md): level 2 ``bits=16..20, max_group=256,
    margin=2``; level 1 ``bits=10..12, max_group=256, margin=2``. The
    defaults are the thesis's budgets.
    """

    name = "importance"
    tag = 2

    def __init__(self, bits: int = 20, max_group: int = 16, outlier_kl: float = 12.0,
                 margin: float = 0.0, min_kl: float = 0.05, skip_kl: float = 1e-3,
                 full_width: int = 1):
        if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= _MAX_BITS):
            raise RecError(f"bits must be an integer in [1, {_MAX_BITS}]")
        if not (isinstance(max_group, (int, np.integer)) and 1 <= max_group <= _MAX_GROUP):
            raise RecError(f"max_group must be an integer in [1, {_MAX_GROUP}]")
        if not outlier_kl > 0 or not 0 <= margin < bits or min_kl < 0 or skip_kl < 0:
            raise RecError("need outlier_kl > 0, 0 <= margin < bits, min_kl >= 0, skip_kl >= 0")
        self.bits = int(bits)
        self.max_group = int(max_group)
        self.outlier_kl = float(outlier_kl)
        self.margin = float(margin)
        self.min_kl = float(min_kl)
        self.skip_kl = float(skip_kl)
        self.full_width = int(bool(full_width))

    @property
    def params(self) -> dict:
        return dict(bits=self.bits, max_group=self.max_group, outlier_kl=self.outlier_kl,
                    margin=self.margin, min_kl=self.min_kl, skip_kl=self.skip_kl,
                    full_width=self.full_width)

    # ------------------------------------------------------------------
    def encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int) -> SampleMessage:
        from rec.coding import RangeEncoder

        self._check_pair(posterior, prior)
        seed = self._check_seed(seed)
        D = prior.size
        B = self.bits
        kl = kl_bits_per_dim(posterior, prior)
        m, s, a, b = standardized_coefficients(posterior, prior)

        # a dimension that alone exceeds the group budget cannot be importance
        # sampled well: send it directly
        outlier_kl = min(self.outlier_kl, B - self.margin)
        sizes, gkl, outl, full = make_groups(kl, B - self.margin, self.max_group, outlier_kl,
                                             return_full=True)
        widths = np.minimum(B, np.ceil(gkl + self.margin)).astype(np.int64)
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
        inf_dims = np.flatnonzero(inf).astype(np.int64)
        inf_ptr = np.zeros(sizes.size + 1, np.int64)
        np.cumsum(np.bincount(gid[inf], minlength=sizes.size), out=inf_ptr[1:])

        k1, k2 = rr.stream_keys(seed, STREAM_IMPORTANCE)
        sk1, sk2 = rr.stream_keys(seed, STREAM_SELECT)
        chosen = np.zeros(sizes.size, np.int64)
        _select_kernel(k1, k2, sk1, sk2, D, widths, inf_ptr, inf_dims, a, b, rr.approx_table(), chosen)

        # outliers: exact samples of q, quantized
        odims = starts[outl]
        u = m[odims] + s[odims] * rr.normal(seed, STREAM_OUTLIER, odims)
        oe, ov = quantize_outliers(u, s[odims], outlier_dither(seed, odims))

        # serialize
        enc = RangeEncoder()
        layout.encode(enc)
        ac = enc.finish()
        oblob = encode_outliers(oe, ov)
        raw = pack_bits(chosen.astype(np.uint64), widths)
        w = ByteWriter()
        w.byte(self._header_byte())
        w.varint(B)
        w.varint(self.max_group)
        w.varint(sizes.size)
        w.blob(ac)
        w.blob(oblob)
        w.raw(raw)
        payload = w.getvalue()

        sample = self._reconstruct(prior, seed, layout, chosen, oe, ov)
        index_bits = int(widths.sum())
        outlier_bits = 8 * len(oblob)
        return SampleMessage(
            sample=sample, payload=payload, index_bits=index_bits, outlier_bits=outlier_bits,
            side_bits=8 * len(payload) - index_bits - outlier_bits, kl_bits=float(kl.sum()),
            stats=dict(groups=int(sizes.size), outliers=int(outl.sum()),
                       indexed_groups=int((widths > 0).sum()), informative_dims=int(inf.sum()),
                       group_kl_bits=float(gkl[~outl].sum()), outlier_kl_bits=float(gkl[outl].sum()),
                       candidates=float(np.sum(np.where(widths > 0, 2.0 ** widths, 0.0)))))

    # ------------------------------------------------------------------
    def decode(self, data: bytes, prior: DiagonalGaussian, seed: int) -> np.ndarray:
        self._check_prior(prior)
        seed = self._check_seed(seed)
        D = prior.size
        try:
            r = ByteReader(data)
            self._read_header_byte(r)
            B = r.varint(_MAX_BITS)
            if B < 1:
                raise FormatError("bits must be >= 1")
            G = r.varint(_MAX_GROUP)
            if G < 1:
                raise FormatError("max_group must be >= 1")
            n_groups = r.varint(D)
            ac = r.blob(len(data))
            dec = range_decoder(ac)
            layout = GroupLayout.decode(dec, n_groups, G, B + 1, D)
            dec.finish()
            outl = layout.is_outlier
            widths = np.where(outl, 0, layout.levels).astype(np.int64)
            oe, ov = decode_outliers(r.blob(len(data)), int(outl.sum()))
            chosen = unpack_bits(r.rest(), widths).astype(np.int64)
        except FormatError:
            raise
        except RecError as exc:
            raise FormatError(f"malformed importance message: {exc}") from exc
        return self._reconstruct(prior, seed, layout, chosen, oe, ov)

    @staticmethod
    def _reconstruct(prior, seed, layout, chosen, oe, ov) -> np.ndarray:
        p = prior.flatten()
        D = p.size
        out = np.empty(D, np.float64)
        k1, k2 = rr.stream_keys(seed, STREAM_IMPORTANCE)
        _reconstruct_kernel(k1, k2, D, layout.sizes, layout.starts, layout.levels,
                            layout.outlier_level, chosen, p.mean, p.std, out)
        odims = layout.starts[layout.is_outlier]
        out[odims] = p.mean[odims] + p.std[odims] * dequantize_outliers(oe, ov, outlier_dither(seed, odims))
        return out.reshape(prior.shape)
