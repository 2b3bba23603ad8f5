"""Context-adaptive binary range coder for group layouts (levels and sizes).

Used by :mod:`rec.samplers.importance` (side-information codes 3 and 4). The
batch coder of :mod:`rec.coding.range_coder` codes many symbols with one model; the
group sizes of real latents are predicted much better by the sizes of their
neighbours (the previous group, the group one image row above), which needs a
coder that switches context per symbol. This is the LZMA range coder (binary,
adaptive 12-bit probabilities moved by 1/8 of the error, carry propagation through a cached byte) in
numba, exact integer arithmetic only.

Layout model, per group g in raster order:

* level: a 5-bit binary tree in the context of the previous group's class
  (level 0 / top level / other / outlier / none);
* size (not for outliers): a 6-bit tree over {1..31, max_group, escape} with
  the model of the group's class; for top-level groups (unless
  ``neighbours`` is off: few groups, less to learn) each binary decision
  uses the average of that probability and one in the context of
  min(5, size of the previous top-level group) and min(5, size of the group
  holding the dimension one image row above the group's start); escapes
  (32 <= size < max_group) as an Elias-gamma code of size - 32 (adaptive
  unary length, raw mantissa).

The first byte of an LZMA range coder stream (always 0) and trailing zero
bytes are dropped; the decoder reads zeros past the end.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["encode_layout_ctx", "decode_layout_ctx"]

_PBITS = 12
_PONE = 1 << _PBITS
_SHIFT = 3
_SHIFT2 = 3  # adaptation rate of the neighbour-context models
_TOP = 1 << 24

_LV_TREE = 32  # 5-bit tree
_SZ_TREE = 64  # 6-bit tree
_NB = 6  # neighbour size buckets 0..5 (0: none)
_LV_BASE = 0
_SZ_BASE = _LV_BASE + 5 * _LV_TREE
_SZ_CTX = 3 + _NB * _NB  # class 0, class 2, class 1, class 1 x (above, previous)
_GM_BASE = _SZ_BASE + _SZ_CTX * _SZ_TREE
_GM_LEN = 20
_N_PROBS = _GM_BASE + 3 * _GM_LEN
_MAX_GAMMA = 17


@njit(cache=True)
def _shift_low(st, buf):
    low = st[0]
    if low < 0xFF000000 or low >= (1 << 32):
        carry = low >> 32
        temp = st[2]
        while True:
            buf[st[4]] = (temp + carry) & 0xFF
            st[4] += 1
            temp = 0xFF
            st[3] -= 1
            if st[3] == 0:
                break
        st[2] = (low >> 24) & 0xFF
    st[3] += 1
    st[0] = (low & 0x00FFFFFF) << 8


@njit(cache=True)
def _enc_bit(st, buf, probs, i, bit):
    p = probs[i]
    bound = (st[1] >> _PBITS) * p
    if bit == 0:
        st[1] = bound
        probs[i] = p + ((_PONE - p) >> _SHIFT)
    else:
        st[0] += bound
        st[1] -= bound
        probs[i] = p - (p >> _SHIFT)
    while st[1] < _TOP:
        st[1] <<= 8
        _shift_low(st, buf)


@njit(cache=True)
def _enc_bit2(st, buf, probs, i, j, bit):
    """A bit with the average of two adaptive probabilities (both updated)."""
    p1 = probs[i]
    p2 = probs[j]
    p = (p1 + p2) >> 1
    bound = (st[1] >> _PBITS) * p
    if bit == 0:
        st[1] = bound
        probs[i] = p1 + ((_PONE - p1) >> _SHIFT)
        probs[j] = p2 + ((_PONE - p2) >> _SHIFT2)
    else:
        st[0] += bound
        st[1] -= bound
        probs[i] = p1 - (p1 >> _SHIFT)
        probs[j] = p2 - (p2 >> _SHIFT2)
    while st[1] < _TOP:
        st[1] <<= 8
        _shift_low(st, buf)


@njit(cache=True)
def _enc_direct(st, buf, bit):
    st[1] >>= 1
    if bit:
        st[0] += st[1]
    while st[1] < _TOP:
        st[1] <<= 8
        _shift_low(st, buf)


@njit(cache=True)
def _enc_tree(st, buf, probs, base, nbits, sym):
    m = 1
    for k in range(nbits - 1, -1, -1):
        b = (sym >> k) & 1
        _enc_bit(st, buf, probs, base + m, b)
        m = (m << 1) | b


@njit(cache=True)
def _enc_tree2(st, buf, probs, base1, base2, nbits, sym):
    m = 1
    for k in range(nbits - 1, -1, -1):
        b = (sym >> k) & 1
        _enc_bit2(st, buf, probs, base1 + m, base2 + m, b)
        m = (m << 1) | b


@njit(cache=True)
def _enc_gamma(st, buf, probs, base, v):
    v1 = v + 1
    L = 0
    t = v1
    while t:
        L += 1
        t >>= 1
    for j in range(L - 1):
        _enc_bit(st, buf, probs, base + j, 1)
    _enc_bit(st, buf, probs, base + L - 1, 0)
    for k in range(L - 2, -1, -1):
        _enc_direct(st, buf, (v1 >> k) & 1)


@njit(cache=True)
def _classes(level, outlier_level):
    if level == outlier_level:
        return 3
    if level == 0:
        return 0
    if level == outlier_level - 1:
        return 1
    return 2


@njit(cache=True)
def _size_symbol(s, G):
    if s == G:
        return 31
    if s <= 31:
        return s - 1
    return 32


@njit(cache=True)
def _size_ctx(cls):
    """The plain size model of a level class (0, 1, 2)."""
    if cls == 0:
        return 0
    if cls == 2:
        return 1
    return 2


@njit(cache=True)
def _nb_ctx(above, prev):
    """The neighbour size model of a top-level group."""
    return 3 + above * _NB + prev


@njit(cache=True)
def _bucket(s):
    return min(s, _NB - 1)


@njit(cache=True)
def _encode_kernel(levels, sizes, outlier_level, G, row, n_dims, neighbours, buf):
    probs = np.full(_N_PROBS, _PONE // 2, np.int64)
    st = np.zeros(5, np.int64)
    st[1] = 0xFFFFFFFF
    st[3] = 1
    owner = np.empty(n_dims, np.int64)
    prev_cls = 4
    prev_top = 0
    pos = 0
    for g in range(levels.shape[0]):
        lv = levels[g]
        _enc_tree(st, buf, probs, _LV_BASE + prev_cls * _LV_TREE, 5, lv)
        cls = _classes(lv, outlier_level)
        s = sizes[g]
        if cls != 3:
            above = 0
            if row > 0 and pos >= row:
                above = _bucket(sizes[owner[pos - row]])
            sym = _size_symbol(s, G)
            if neighbours and cls == 1:  # average of the plain and the neighbour model
                _enc_tree2(st, buf, probs, _SZ_BASE + _size_ctx(cls) * _SZ_TREE,
                           _SZ_BASE + _nb_ctx(above, prev_top) * _SZ_TREE, 6, sym)
            else:
                _enc_tree(st, buf, probs, _SZ_BASE + _size_ctx(cls) * _SZ_TREE, 6, sym)
            if sym == 32:
                _enc_gamma(st, buf, probs, _GM_BASE + cls * _GM_LEN, s - 32)
            if cls == 1:
                prev_top = _bucket(s)
        for d in range(pos, pos + s):
            owner[d] = g
        pos += s
        prev_cls = cls
    for _ in range(5):
        _shift_low(st, buf)
    return st[4]


@njit(cache=True)
def _dec_bit(st, data, probs, i):
    p = probs[i]
    bound = (st[1] >> _PBITS) * p
    if st[0] < bound:
        st[1] = bound
        probs[i] = p + ((_PONE - p) >> _SHIFT)
        bit = 0
    else:
        st[0] -= bound
        st[1] -= bound
        probs[i] = p - (p >> _SHIFT)
        bit = 1
    while st[1] < _TOP:
        st[1] <<= 8
        b = data[st[2]] if st[2] < data.shape[0] else 0
        st[2] += 1
        st[0] = ((st[0] << 8) | b) & 0xFFFFFFFF
    return bit


@njit(cache=True)
def _dec_bit2(st, data, probs, i, j):
    p1 = probs[i]
    p2 = probs[j]
    p = (p1 + p2) >> 1
    bound = (st[1] >> _PBITS) * p
    if st[0] < bound:
        st[1] = bound
        probs[i] = p1 + ((_PONE - p1) >> _SHIFT)
        probs[j] = p2 + ((_PONE - p2) >> _SHIFT2)
        bit = 0
    else:
        st[0] -= bound
        st[1] -= bound
        probs[i] = p1 - (p1 >> _SHIFT)
        probs[j] = p2 - (p2 >> _SHIFT2)
        bit = 1
    while st[1] < _TOP:
        st[1] <<= 8
        b = data[st[2]] if st[2] < data.shape[0] else 0
        st[2] += 1
        st[0] = ((st[0] << 8) | b) & 0xFFFFFFFF
    return bit


@njit(cache=True)
def _dec_tree2(st, data, probs, base1, base2, nbits):
    m = 1
    for _ in range(nbits):
        m = (m << 1) | _dec_bit2(st, data, probs, base1 + m, base2 + m)
    return m - (1 << nbits)


@njit(cache=True)
def _dec_direct(st, data):
    st[1] >>= 1
    bit = 0
    if st[0] >= st[1]:
        st[0] -= st[1]
        bit = 1
    while st[1] < _TOP:
        st[1] <<= 8
        b = data[st[2]] if st[2] < data.shape[0] else 0
        st[2] += 1
        st[0] = ((st[0] << 8) | b) & 0xFFFFFFFF
    return bit


@njit(cache=True)
def _dec_tree(st, data, probs, base, nbits):
    m = 1
    for _ in range(nbits):
        m = (m << 1) | _dec_bit(st, data, probs, base + m)
    return m - (1 << nbits)


@njit(cache=True)
def _decode_kernel(data, n_groups, outlier_level, G, row, n_dims, neighbours, levels, sizes):
    """Returns 0 on success, else an error code (the caller raises)."""
    probs = np.full(_N_PROBS, _PONE // 2, np.int64)
    st = np.zeros(3, np.int64)
    st[1] = 0xFFFFFFFF
    for _ in range(4):
        b = data[st[2]] if st[2] < data.shape[0] else 0
        st[2] += 1
        st[0] = (st[0] << 8) | b
    owner = np.empty(n_dims, np.int64)
    prev_cls = 4
    prev_top = 0
    pos = 0
    for g in range(n_groups):
        lv = _dec_tree(st, data, probs, _LV_BASE + prev_cls * _LV_TREE, 5)
        if lv > outlier_level:
            return 1
        cls = _classes(lv, outlier_level)
        if cls == 3:
            s = 1
        else:
            above = 0
            if row > 0 and pos >= row:
                above = _bucket(sizes[owner[pos - row]])
            if neighbours and cls == 1:
                sym = _dec_tree2(st, data, probs, _SZ_BASE + _size_ctx(cls) * _SZ_TREE,
                                 _SZ_BASE + _nb_ctx(above, prev_top) * _SZ_TREE, 6)
            else:
                sym = _dec_tree(st, data, probs, _SZ_BASE + _size_ctx(cls) * _SZ_TREE, 6)
            if sym < 31:
                s = sym + 1
            elif sym == 31:
                s = G
            elif sym == 32:
                base = _GM_BASE + cls * _GM_LEN
                L = 1
                while _dec_bit(st, data, probs, base + L - 1) == 1:
                    L += 1
                    if L > _MAX_GAMMA:
                        return 2
                v1 = 1
                for _ in range(L - 1):
                    v1 = (v1 << 1) | _dec_direct(st, data)
                s = v1 - 1 + 32
            else:
                return 3
            if cls == 1:
                prev_top = _bucket(s)
        if s < 1 or s > G or pos + s > n_dims:
            return 4
        levels[g] = lv
        sizes[g] = s
        for d in range(pos, pos + s):
            owner[d] = g
        pos += s
        prev_cls = cls
    if pos != n_dims:
        return 5
    if st[2] > data.shape[0] + 8:
        return 6
    return 0


def encode_layout_ctx(levels, sizes, outlier_level: int, max_group: int, row: int, neighbours: bool = True) -> bytes:
    levels = np.ascontiguousarray(levels, np.int64)
    sizes = np.ascontiguousarray(sizes, np.int64)
    if outlier_level > 31:
        raise ValueError("outlier level must be < 32")
    # worst case per group: 29 adaptive decisions at <= 9.2 bits (p >= 7/4096)
    # and 16 raw bits, < 36 bytes
    buf = np.zeros(48 * levels.size + 64, np.uint8)
    n = _encode_kernel(levels, sizes, int(outlier_level), int(max_group), int(row), int(sizes.sum()),
                       bool(neighbours), buf)
    if buf[0] != 0:  # pragma: no cover - property of the coder
        raise AssertionError("first range coder byte is not 0")
    out = buf[1:n].tobytes()  # byte 0 of the LZMA coder is always 0
    return out.rstrip(b"\0")


def decode_layout_ctx(data: bytes, n_groups: int, outlier_level: int, max_group: int, row: int, n_dims: int,
                      neighbours: bool = True):
    """``(levels, sizes)`` or ValueError (malformed)."""
    arr = np.frombuffer(bytes(data), np.uint8)
    levels = np.zeros(n_groups, np.int64)
    sizes = np.zeros(n_groups, np.int64)
    err = _decode_kernel(arr, int(n_groups), int(outlier_level), int(max_group), int(row), int(n_dims),
                         bool(neighbours), levels, sizes)
    if err:
        raise ValueError(f"malformed context-coded layout (error {err})")
    return levels, sizes
