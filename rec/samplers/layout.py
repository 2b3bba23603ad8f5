"""Group layout: raster grouping (thesis Alg. 3) and its side information.

:func:`make_groups` partitions the dimensions, in raster order, into groups of
at most ``budget`` bits of KL and ``max_group`` dimensions, with one-dimension
outlier groups; a :class:`GroupLayout` is the result (sizes and per-group
levels), and it is what the decoder reads before any index.

The layout is written by one of :data:`LAYOUT_CODES` codes (the importance
sampler writes all and keeps the shortest; one byte names it):

0. :meth:`GroupLayout.encode`: levels, then sizes per context (level 0, top
   level, other), directly or by bit length;
1. per context, the zigzagged difference to the previous size of that context,
   adaptive over 48 symbols with an Elias-gamma escape;
2. the same differences, Elias-gamma coded (few groups: less to learn);
3. levels and sizes with per-symbol contexts (previous group, the group one
   row above): :mod:`rec.coding.context_coder`;
4. the same without the neighbour contexts of sizes.

Invariant: every decode checks that the sizes add up to the prior's
dimensions and stay within ``max_group`` (FormatError otherwise), so a layout
never indexes outside the latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from rec.bitio import bit_length, unzigzag, zigzag
from rec.coding import AdaptiveModel, RangeEncoder, UniformModel
from rec.coding.context_coder import decode_layout_ctx, encode_layout_ctx
from rec.errors import FormatError
from rec.samplers.base import range_decoder

__all__ = ["GroupLayout", "LAYOUT_CODES", "decode_layout", "encode_layout", "make_groups", "row_length",
           "size_contexts"]

@njit(cache=True)
def _make_groups_kernel(kl, budget, max_group, outlier_kl, sizes, gkl, outl, full):
    n = 0
    cur = 0
    cur_kl = 0.0
    for d in range(kl.shape[0]):
        k = kl[d]
        if k > outlier_kl:
            if cur > 0:
                sizes[n] = cur
                gkl[n] = cur_kl
                outl[n] = False
                full[n] = False
                n += 1
                cur = 0
                cur_kl = 0.0
            sizes[n] = 1
            gkl[n] = k
            outl[n] = True
            full[n] = False
            n += 1
            continue
        if cur > 0 and (cur_kl + k > budget or cur + 1 > max_group):
            sizes[n] = cur
            gkl[n] = cur_kl
            outl[n] = False
            full[n] = cur_kl + k > budget
            n += 1
            cur = 0
            cur_kl = 0.0
        cur += 1
        cur_kl += k
    if cur > 0:
        sizes[n] = cur
        gkl[n] = cur_kl
        outl[n] = False
        full[n] = False
        n += 1
    return n


def make_groups(kl_bits: np.ndarray, budget: float, max_group: int, outlier_kl: float = math.inf,
                return_full: bool = False):
    """Partition dimensions in raster order (thesis Alg. 3).

    A dimension whose KL exceeds ``outlier_kl`` becomes a one-dimension outlier
    group; otherwise dimensions join the current group until its KL would
    exceed ``budget`` bits or its size ``max_group``.

    Returns ``(sizes, group_kl_bits, is_outlier)`` (and ``full``: the group was
    closed because the next dimension would exceed the budget, if
    ``return_full``); ``sizes.sum() == len(kl_bits)``.
    """
    kl = np.ascontiguousarray(kl_bits, dtype=np.float64)
    n = kl.shape[0]
    sizes = np.empty(n, np.int64)
    gkl = np.empty(n, np.float64)
    outl = np.empty(n, np.bool_)
    full = np.empty(n, np.bool_)
    g = _make_groups_kernel(kl, float(budget), int(max_group), float(outlier_kl), sizes, gkl, outl, full)
    out = (sizes[:g].copy(), gkl[:g].copy(), outl[:g].copy())
    return out + (full[:g].copy(),) if return_full else out


_DIRECT_SIZES = 64


def size_contexts(levels: np.ndarray, outlier_level: int) -> np.ndarray:
    """Context of a group's size from its level: 0 level 0 (no index), 1 the
    top level ``outlier_level - 1`` (full group), 2 anything else. Levels are
    coded first, so the decoder knows every context before it decodes sizes."""
    top = outlier_level - 1
    return np.where(levels == 0, 0, np.where(levels == top, 1, 2))


@dataclass(frozen=True, eq=False)
class GroupLayout:
    """Groups in raster order, each with a size and a small integer level.

    ``level`` is sampler-specific (index width, shard count, ...); the value
    ``outlier_level`` marks a one-dimension outlier group. This is the side
    information; it is range coded with adaptive models:

    * levels: one ``AdaptiveModel(outlier_level + 1)`` symbol per group;
    * sizes of non-outlier groups, in three contexts (level 0, top level,
      other; one adaptive model each): ``size - 1`` directly when
      ``max_group <= 64``, else a symbol that is 0 for ``size == max_group``
      or the bit length, plus the bits below the leading one (Elias-gamma
      style: an adaptive model over thousands of sizes would not learn from a
      few hundred groups).
    """

    sizes: np.ndarray
    levels: np.ndarray
    max_group: int
    outlier_level: int

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def is_outlier(self) -> np.ndarray:
        return self.levels == self.outlier_level

    def group_of_dim(self) -> np.ndarray:
        return np.repeat(np.arange(self.sizes.size, dtype=np.int64), self.sizes)

    def encode(self, enc) -> None:
        enc.encode(self.levels.astype(np.int64), AdaptiveModel(self.outlier_level + 1))
        keep = ~self.is_outlier
        sizes = self.sizes[keep].astype(np.int64)
        ctx = size_contexts(self.levels[keep], self.outlier_level)
        G = self.max_group
        if G <= _DIRECT_SIZES:
            for c in range(3):
                enc.encode(sizes[ctx == c] - 1, AdaptiveModel(G))
            return
        # symbol 0: size == G; k >= 1: bit length k, then its k - 1 low bits raw
        blen = np.zeros(sizes.size, np.int64)
        small = sizes < G
        blen[small] = bit_length(sizes[small])
        for c in range(3):
            enc.encode(blen[ctx == c], AdaptiveModel(int(G).bit_length() + 1))
        for e in np.unique(blen):
            if e > 1:
                sel = blen == e
                enc.encode(sizes[sel] - (1 << int(e - 1)), UniformModel(1 << int(e - 1)))

    @classmethod
    def decode(cls, dec, n_groups: int, max_group: int, outlier_level: int, n_dims: int) -> "GroupLayout":
        G = max_group
        levels = dec.decode(n_groups, AdaptiveModel(outlier_level + 1)).astype(np.int64)
        outl = levels == outlier_level
        ctx = size_contexts(levels[~outl], outlier_level)
        m = ctx.size
        inner = np.ones(m, np.int64)
        if G <= _DIRECT_SIZES:
            for c in range(3):
                sel = ctx == c
                inner[sel] = dec.decode(int(sel.sum()), AdaptiveModel(G)).astype(np.int64) + 1
        else:
            blen = np.zeros(m, np.int64)
            for c in range(3):
                sel = ctx == c
                blen[sel] = dec.decode(int(sel.sum()), AdaptiveModel(int(G).bit_length() + 1)).astype(np.int64)
            inner[blen == 0] = G
            for e in np.unique(blen):
                if e > 1:
                    sel = blen == e
                    inner[sel] = dec.decode(int(sel.sum()), UniformModel(1 << int(e - 1))).astype(np.int64) + (1 << int(e - 1))
        sizes = np.ones(n_groups, np.int64)
        sizes[~outl] = inner
        if sizes.sum() != n_dims or np.any(sizes > max_group):
            raise FormatError(f"group sizes add up to {int(sizes.sum())}, the prior has {n_dims} dimensions")
        return cls(sizes, levels, max_group, outlier_level)


#: Number of side-information codes (the encoder writes each and keeps the shortest).
LAYOUT_CODES = 5
_ESC = 47  # code 1: zigzag differences >= _ESC escape to an Elias-gamma value
_GAMMA_ALPHABET = 40


def _encode_gamma(enc, vals: np.ndarray) -> None:
    """Non-negative ints: bit length of v + 1 (adaptive), then the bits below
    its leading one (uniform)."""
    v1 = np.asarray(vals, np.int64) + 1
    L = bit_length(v1)
    enc.encode(L - 1, AdaptiveModel(_GAMMA_ALPHABET))
    for e in np.unique(L):
        if e > 1:
            enc.encode(v1[L == e] - (1 << int(e - 1)), UniformModel(1 << int(e - 1)))


def _decode_gamma(dec, n: int) -> np.ndarray:
    L = dec.decode(n, AdaptiveModel(_GAMMA_ALPHABET)).astype(np.int64) + 1
    if np.any(L > 30):
        raise FormatError("size field too long")
    v1 = np.ones(n, np.int64)
    for e in np.unique(L):
        if e > 1:
            sel = L == e
            v1[sel] = dec.decode(int(sel.sum()), UniformModel(1 << int(e - 1))).astype(np.int64) + (1 << int(e - 1))
    return v1 - 1


def row_length(shape) -> int:
    """Dimensions per image row (the last axis) for the code-3 context; 0 for 1-D."""
    return int(shape[-1]) if len(shape) >= 2 else 0


def encode_layout(layout: GroupLayout, code: int, row: int = 0) -> bytes:
    """Range-coded side information with size code ``code``:
    0 = :meth:`GroupLayout.encode` (sizes per context, direct or bit length);
    1 = per context, the zigzagged difference to the previous size of that
    context, adaptive over 48 symbols with an Elias-gamma escape;
    2 = the same differences, Elias-gamma coded (few groups: less to learn);
    3 = levels and sizes with per-symbol contexts (previous group, the group
    one row above): :mod:`rec.coding.context_coder`; 4 = the same without the
    neighbour contexts of sizes."""
    if code >= 3:
        return encode_layout_ctx(layout.levels, layout.sizes, layout.outlier_level, layout.max_group, row,
                                 neighbours=code == 3)
    enc = RangeEncoder()
    if code == 0:
        layout.encode(enc)
        return enc.finish()
    enc.encode(layout.levels.astype(np.int64), AdaptiveModel(layout.outlier_level + 1))
    keep = ~layout.is_outlier
    sizes = layout.sizes[keep].astype(np.int64)
    ctx = size_contexts(layout.levels[keep], layout.outlier_level)
    for c in range(3):
        s = sizes[ctx == c]
        if s.size == 0:
            continue
        zz = zigzag(np.diff(s, prepend=0)).astype(np.int64)
        if code == 1:
            enc.encode(np.minimum(zz, _ESC), AdaptiveModel(_ESC + 1))
            big = zz >= _ESC
            if big.any():
                _encode_gamma(enc, zz[big] - _ESC)
        else:
            _encode_gamma(enc, zz)
    return enc.finish()


def decode_layout(ac: bytes, code: int, n_groups: int, max_group: int, outlier_level: int, n_dims: int,
                   row: int) -> GroupLayout:
    if code >= 3:
        if outlier_level > 31:
            raise FormatError("size codes 3 and 4 need bits <= 30")
        try:
            levels, sizes = decode_layout_ctx(ac, n_groups, outlier_level, max_group, row, n_dims,
                                              neighbours=code == 3)
        except ValueError as exc:
            raise FormatError(str(exc)) from None
        return GroupLayout(sizes, levels, max_group, outlier_level)
    dec = range_decoder(ac)
    layout = _decode_layout_ac(dec, code, n_groups, max_group, outlier_level, n_dims)
    dec.finish()
    return layout


def _decode_layout_ac(dec, code, n_groups, max_group, outlier_level, n_dims) -> GroupLayout:
    if code == 0:
        return GroupLayout.decode(dec, n_groups, max_group, outlier_level, n_dims)
    levels = dec.decode(n_groups, AdaptiveModel(outlier_level + 1)).astype(np.int64)
    outl = levels == outlier_level
    ctx = size_contexts(levels[~outl], outlier_level)
    inner = np.ones(ctx.size, np.int64)
    for c in range(3):
        sel = ctx == c
        n = int(sel.sum())
        if n == 0:
            continue
        if code == 1:
            zz = dec.decode(n, AdaptiveModel(_ESC + 1)).astype(np.int64)
            big = zz == _ESC
            if big.any():
                zz[big] = _decode_gamma(dec, int(big.sum())) + _ESC
        else:
            zz = _decode_gamma(dec, n)
        if np.any(zz > 4 * max_group):
            raise FormatError("group size difference out of range")
        inner[sel] = np.cumsum(unzigzag(zz).astype(np.int64))
    sizes = np.ones(n_groups, np.int64)
    sizes[~outl] = inner
    if np.any(sizes < 1) or np.any(sizes > max_group) or sizes.sum() != n_dims:
        raise FormatError(f"group sizes add up to {int(sizes.sum())}, the prior has {n_dims} dimensions")
    return GroupLayout(sizes, levels, max_group, outlier_level)
