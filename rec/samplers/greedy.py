"""Greedy sampler: thesis Algorithm 2 (section 3.4.2), in prior-standardized
coordinates, on raster groups.

Encoder (``posterior`` q, ``prior`` p, flattened in raster order)::

    u-coordinates: u = (z - mu_p)/sigma_p, prior N(0, 1), target q' = N(m, s^2)
    outliers: kl_d > min(outlier_kl, group_kl) -> u ~ q_d sent in fixed point
              (as importance)
    groups: raster fill while group KL <= group_kl bits and size <= max_group
    shards of group g: K_g = min(K, ceil(K * KL_g / group_kl)), 0 if KL_g < min_kl
    r = 0
    for k in 0..K_g-1:                        # one round per shard
        candidates e_n = normal(seed, 1, (k * 2**B + n) * D + d) / sqrt(K_g), n < 2**B
        n_k = argmax_n log q'(r + e_n)        # the running sum's posterior density
        r  += e_{n_k}
    z = mu_p + sigma_p * r

Each shard is N(0, 1/K_g), so ``r`` is exactly N(0, 1) under the prior; a
group with ``K_g = 0`` is a free prior draw (index ``d`` of stream 1). The
objective is the quadratic form ``sum_d a_d e^2 + b_d e`` with
``a_d = -1/(2 K_g s_d^2)`` and ``b_d = -(r_d - m_d)/(sqrt(K_g) s_d^2)``,
evaluated by a numba kernel in chunks of 4096 candidates (scored with the
table-interpolated normals of :func:`rec.random.normal_fill_strided_approx`;
the running sum and the sample use the exact ones), only over dimensions
with ``kl_d >= skip_kl`` (the others follow the prior exactly,
which is what they would be given uninformative weights).

Bits: ``B`` raw bits per shard (thesis 3.5.3: argmax indices are uniform, so
raw fields are already optimal), plus the group sizes and shard counts
range coded with adaptive models. The argmax makes the sample biased toward
the posterior mode; it needs ``K * B`` well above the group's KL (see
``results/samplers.md``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

import rec.random as rr
from rec.bitio import ByteReader, ByteWriter, pack_bits, unpack_bits
from rec.coding import RangeEncoder
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.inverse_normal import approx_table
from rec.samplers.base import (STREAM_GREEDY, STREAM_OUTLIER, MessageBits, SampleMessage, Sampler, kl_bits_per_dim,
                               range_decoder, standardized_coefficients)
from rec.samplers.layout import GroupLayout, make_groups
from rec.samplers.outliers import (decode_outliers, dequantize_outliers, encode_outliers, outlier_dither,
                                   quantize_outliers)

__all__ = ["GreedySampler"]

_CHUNK = 4096
_MAX_BITS = 24
_MAX_SHARDS = 1024
_MAX_GROUP = 1 << 24


@njit(cache=True)
def _greedy_kernel(k1, k2, n_dims, bits, shards, outlier_level, inf_ptr, inf_dims, m, s, table, chosen):
    """chosen[g, k] = argmax over 2**bits candidates of shard k of group g."""
    D = np.uint64(n_dims)
    N = np.int64(1) << bits
    obj = np.empty(_CHUNK, np.float64)
    e = np.empty(_CHUNK, np.float64)
    r = np.zeros(inf_dims.shape[0], np.float64)
    for g in range(shards.shape[0]):
        K = shards[g]
        i0 = inf_ptr[g]
        i1 = inf_ptr[g + 1]
        if K == 0 or K == outlier_level:  # free prior draw or outlier
            continue
        c = 1.0 / math.sqrt(K)
        for k in range(K):
            if i1 == i0:
                chosen[g, k] = 0
                continue
            base_k = np.uint64(k) * np.uint64(N)
            best = -np.inf
            best_n = 0
            for c0 in range(0, N, _CHUNK):
                cm = min(N - c0, _CHUNK)
                for n in range(cm):
                    obj[n] = 0.0
                for t in range(i0, i1):
                    d = inf_dims[t]
                    inv_v = 1.0 / (s[d] * s[d])
                    aa = -0.5 * c * c * inv_v
                    bb = -c * (r[t] - m[d]) * inv_v
                    rr.normal_fill_strided_approx(k1, k2, (base_k + np.uint64(c0)) * D + np.uint64(d), D, e, cm,
                                                  table)
                    for n in range(cm):
                        x = e[n]
                        obj[n] += (aa * x + bb) * x
                for n in range(cm):
                    if obj[n] > best:
                        best = obj[n]
                        best_n = c0 + n
            chosen[g, k] = best_n
            idx0 = (base_k + np.uint64(best_n)) * D
            for t in range(i0, i1):
                d = inf_dims[t]
                r[t] += c * rr.normal_at(k1, k2, idx0 + np.uint64(d))


@njit(cache=True)
def _reconstruct_kernel(k1, k2, n_dims, bits, sizes, starts, shards, outlier_level, chosen, mu, sd, out):
    D = np.uint64(n_dims)
    N = np.uint64(1) << np.uint64(bits)
    for g in range(sizes.shape[0]):
        K = shards[g]
        if K == outlier_level:  # outlier: filled in by the caller
            continue
        for d in range(starts[g], starts[g] + sizes[g]):
            if K == 0:
                u = rr.normal_at(k1, k2, np.uint64(d))
            else:
                c = 1.0 / math.sqrt(K)
                u = 0.0
                for k in range(K):
                    idx = (np.uint64(k) * N + np.uint64(chosen[g, k])) * D + np.uint64(d)
                    u += c * rr.normal_at(k1, k2, idx)
            out[d] = mu[d] + sd[d] * u


class _Message(NamedTuple):
    """A parsed message: the index width, the layout, each group's shard indices, the outliers and the bits."""

    bits_per_index: int
    layout: GroupLayout
    chosen: np.ndarray
    oe: np.ndarray
    ov: np.ndarray
    bits: MessageBits | None = None


class GreedySampler(Sampler):
    """Greedy sampler (thesis Alg. 2) on raster groups.

    Args:
        bits: B, bits per shard: 2**B candidates per shard (thesis: 14).
        shards: K, most shards per group (thesis: 30).
        group_kl: KL budget of a group in bits (groups fill up to it). Default
            ``shards * bits / 4``: the argmax needs a budget several times the
            KL for an unbiased spread (measured in results/samplers.md).
        max_group: largest group size.
        outlier_kl: dimensions with more KL (bits) are sent directly (not in
            the thesis's greedy sampler; a group cannot reach the precision of
            a posterior much narrower than its shards otherwise).
        min_kl: groups with less KL (bits) get no shard (a free prior draw).
        skip_kl: encoder-only: dimensions with less KL are left out of the
            objective (they stay exact prior draws).
    """

    name = "greedy"
    tag = 1

    def __init__(self, bits: int = 14, shards: int = 30, group_kl: float | None = None,
                 max_group: int = 4096, outlier_kl: float = 12.0, min_kl: float = 0.05,
                 skip_kl: float = 1e-3):
        if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= _MAX_BITS):
            raise RecError(f"bits must be an integer in [1, {_MAX_BITS}]")
        if not (isinstance(shards, (int, np.integer)) and 1 <= shards <= _MAX_SHARDS):
            raise RecError(f"shards must be an integer in [1, {_MAX_SHARDS}]")
        if not (isinstance(max_group, (int, np.integer)) and 1 <= max_group <= _MAX_GROUP):
            raise RecError(f"max_group must be an integer in [1, {_MAX_GROUP}]")
        if group_kl is None:
            group_kl = shards * bits / 4.0
        if not group_kl > 0 or not outlier_kl > 0 or min_kl < 0 or skip_kl < 0:
            raise RecError("need group_kl > 0, outlier_kl > 0, min_kl >= 0, skip_kl >= 0")
        self.outlier_kl = float(outlier_kl)
        self.bits = int(bits)
        self.shards = int(shards)
        self.group_kl = float(group_kl)
        self.max_group = int(max_group)
        self.min_kl = float(min_kl)
        self.skip_kl = float(skip_kl)

    @property
    def params(self) -> dict:
        return dict(bits=self.bits, shards=self.shards, group_kl=self.group_kl,
                    max_group=self.max_group, outlier_kl=self.outlier_kl, min_kl=self.min_kl,
                    skip_kl=self.skip_kl)

    def _encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int) -> SampleMessage:
        D = prior.size
        B, K = self.bits, self.shards
        kl = kl_bits_per_dim(posterior, prior)
        m, s, _, _ = standardized_coefficients(posterior, prior)

        sizes, gkl, outl = make_groups(kl, self.group_kl, self.max_group, min(self.outlier_kl, self.group_kl))
        shards = np.minimum(K, np.maximum(1, np.ceil(K * gkl / self.group_kl - 1e-9))).astype(np.int64)
        shards[gkl < self.min_kl] = 0
        shards[outl] = K + 1
        layout = GroupLayout(sizes, shards, self.max_group, K + 1)
        gid = layout.group_of_dim()
        inf = (kl >= self.skip_kl) & (shards[gid] > 0) & ~outl[gid]
        inf_dims = np.flatnonzero(inf).astype(np.int64)
        inf_ptr = np.zeros(sizes.size + 1, np.int64)
        np.cumsum(np.bincount(gid[inf], minlength=sizes.size), out=inf_ptr[1:])

        k1, k2 = rr.stream_keys(seed, STREAM_GREEDY)
        chosen = np.zeros((sizes.size, max(K, 1)), np.int64)
        _greedy_kernel(k1, k2, D, B, shards, K + 1, inf_ptr, inf_dims, m, s, approx_table(), chosen)

        odims = layout.starts[outl]
        oe, ov = quantize_outliers(m[odims] + s[odims] * rr.normal(seed, STREAM_OUTLIER, odims), s[odims],
                                   outlier_dither(seed, odims))

        enc = RangeEncoder()
        layout.encode(enc)
        ac = enc.finish()
        oblob = encode_outliers(oe, ov)
        coded = np.where(outl, 0, shards)
        mask = np.arange(chosen.shape[1])[None, :] < coded[:, None]
        idx = chosen[mask]  # group-major, shard order
        raw = pack_bits(idx.astype(np.uint64), B)
        w = ByteWriter()
        w.byte(self._header_byte())
        w.varint(B)
        w.varint(K)
        w.varint(self.max_group)
        w.varint(sizes.size)
        w.blob(ac)
        w.blob(oblob)
        w.raw(raw)
        payload = w.getvalue()

        sample = self._reconstruct(prior, seed, _Message(B, layout, chosen, oe, ov))
        index_bits = B * int(idx.size)
        outlier_bits = 8 * len(oblob)
        return SampleMessage.accounted(
            sample, payload, index_bits, outlier_bits, float(kl.sum()),
            groups=int(sizes.size), shards=int(coded.sum()), outliers=int(outl.sum()),
            indexed_groups=int((coded > 0).sum()), informative_dims=int(inf.sum()),
            candidates=float(coded.sum()) * 2.0**B)

    def _parse(self, r: ByteReader, shape: tuple[int, ...]) -> _Message:
        D = math.prod(shape)
        B = r.varint(_MAX_BITS)
        K = r.varint(_MAX_SHARDS)
        G = r.varint(_MAX_GROUP)
        if B < 1 or K < 1 or G < 1:
            raise FormatError("bits, shards and max_group must be >= 1")
        n_groups = r.varint(D)
        ac = r.blob(len(r.data))
        dec = range_decoder(ac)
        layout = GroupLayout.decode(dec, n_groups, G, K + 1, D)
        dec.finish()
        outl = layout.is_outlier
        oblob = r.blob(len(r.data))
        oe, ov = decode_outliers(oblob, int(outl.sum()))
        coded = np.where(outl, 0, layout.levels)
        # unpack first: the length check bounds the allocation below
        fields = unpack_bits(r.rest(), np.full(int(coded.sum()), B, np.int64))
        width = int(coded.max()) if coded.size else 0
        chosen = np.zeros((n_groups, width), np.int64)
        mask = np.arange(width)[None, :] < coded[:, None]
        chosen[mask] = fields.astype(np.int64)
        index_bits, outlier_bits = B * int(coded.sum()), 8 * len(oblob)
        bits = MessageBits(index_bits, 8 * len(r.data) - index_bits - outlier_bits, outlier_bits,
                           int((coded > 0).sum()), int(outl.sum()))
        return _Message(B, layout, chosen, oe, ov, bits)

    def _reconstruct(self, prior: DiagonalGaussian, seed: int, message: _Message) -> np.ndarray:
        bits, layout, chosen, oe, ov = message[:5]
        p = prior.flatten()
        out = np.empty(p.size, np.float64)
        k1, k2 = rr.stream_keys(seed, STREAM_GREEDY)
        _reconstruct_kernel(k1, k2, p.size, bits, layout.sizes, layout.starts, layout.levels,
                            layout.outlier_level, chosen, p.mean, p.std, out)
        odims = layout.starts[layout.is_outlier]
        out[odims] = p.mean[odims] + p.std[odims] * dequantize_outliers(oe, ov, outlier_dither(seed, odims))
        return out.reshape(prior.shape)
