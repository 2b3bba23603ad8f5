"""Range coder (integer arithmetic coder) with carry propagation.

The thesis (section 3.5.1) codes sample indices with an arithmetic coder
(Rissanen and Langdon 1981) and finds decoded symbols in an AVL tree
(section 3.5.2). This is a byte-oriented range coder in the style of Subbotin
and of LZMA's coder, with the carry resolved in the output buffer:

State (encoder): ``low`` and ``range`` of the current interval, measured in a
56-bit window below the bytes already written, ``0 <= low < 2**56`` between
symbols and ``2**48 <= range <= 2**56``. The decoder keeps ``value = code - low``
instead of ``low``, ``0 <= value < range``. All of it fits in int64.

Coding a symbol with model frequencies ``(cum, freq, total)``, ``total <= 2**24``::

    r      = range // total            # >= 2**24
    low   += r * cum                   # may reach 2**56: carry into the bytes written
    range  = r * freq
    while range < 2**48:               # renormalize: shift one byte out
        write byte (low >> 48); low = (low mod 2**48) << 8; range <<= 8

Decoding: ``t = value // r`` (must be ``< total``, else the data is corrupt),
find the symbol with ``cum <= t < cum + freq`` (an AVL tree lookup), then
``value -= r * cum`` and the same renormalization, reading bytes.

Termination: ``finish`` writes the shortest byte string that, padded with zero
bytes, lies in ``[low, low + range)`` -- at most 7 bytes, usually 1 or 2. The
decoder reads zero bytes past the end; reading more than ``TAIL_BYTES = 7``
past the end cannot happen for a valid stream and raises ``FormatError``.
The decoder tracks ``low`` too, so :meth:`RangeDecoder.finish` can recompute
the encoder's termination and check that the stream has exactly the length
the encoder wrote (no trailing bytes, no missing ones).

Carry: ``low + range`` never exceeds the top of the initial interval
``[0, 2**56)``, so a carry propagates through written ``0xFF`` bytes and
always stops inside the buffer.

Coding loss: ``r = range // total`` wastes less than ``total / range <= 2**-24``
of the range per symbol (< 1e-7 bits); the end costs at most 8 bits beyond the
information content, plus the rounding of the final byte.

Speed: the loops over symbols run in numba kernels, one call per
``encode``/``decode`` call, so the cost per symbol is a handful of integer
operations plus, for tree models, one walk down an AVL tree of height
about log2(alphabet size).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rec.coding.avl import avl_cumulative, avl_find, avl_find_add, avl_halve
from rec.coding.models import FrequencyModel, TreeModel, UniformModel, as_symbols
from rec.errors import FormatError, RecError

__all__ = ["RangeEncoder", "RangeDecoder", "TAIL_BYTES"]

WINDOW_BITS = 56
TOP = 1 << WINDOW_BITS  # range of the initial interval
BOTTOM = 1 << (WINDOW_BITS - 8)  # renormalize when range < BOTTOM
LOW_MASK = BOTTOM - 1
SHIFT = WINDOW_BITS - 8
#: Bytes the decoder reads before the first symbol, and the most it may read
#: past the end of a valid stream.
TAIL_BYTES = WINDOW_BITS // 8
#: Free bytes the encoder kernel needs before coding a symbol: the range
#: stays >= r >= 2**24 after a symbol, so renormalization writes <= 3 bytes.
_HEADROOM = 8

_OK = 0
_BAD_POINT = 1
_OVERREAD = 2


# --------------------------------------------------------------------------
# encoder kernels
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _emit(buf, pos, low, rng, cum, freq, total):
    r = rng // total
    low += r * cum
    rng = r * freq
    if low >= TOP:  # carry into the bytes already written
        low -= TOP
        j = pos - 1
        while buf[j] == 255:
            buf[j] = 0
            j -= 1
        buf[j] += 1
    while rng < BOTTOM:
        buf[pos] = low >> SHIFT
        pos += 1
        low = (low & LOW_MASK) << 8
        rng <<= 8
    return pos, low, rng


@njit(cache=True)
def _encode_tree(buf, pos, low, rng, symbols, start, left, right, symbol, freq, ssum,
                 root, order, cum_table, increment, max_total):
    """Encode ``symbols[start:]`` until done or the buffer is nearly full.

    Static models (``increment == 0``) read ``cum_table``; adaptive ones walk
    the tree, adding ``increment`` on the way down. Returns
    ``(pos, low, rng, next_index)``.
    """
    limit = buf.shape[0] - _HEADROOM
    n = symbols.shape[0]
    i = start
    static = increment == 0
    while i < n and pos <= limit:
        s = symbols[i]
        if static:
            c = cum_table[s]
            f = cum_table[s + 1] - c
            total = cum_table[cum_table.shape[0] - 1]
        else:
            total = ssum[root]
            node, c = avl_cumulative(left, right, symbol, freq, ssum, root, s, increment)
            f = freq[node] - increment
        pos, low, rng = _emit(buf, pos, low, rng, c, f, total)
        if not static and ssum[root] > max_total:
            avl_halve(left, right, freq, ssum, order)
        i += 1
    return pos, low, rng, i


@njit(cache=True)
def _encode_uniform(buf, pos, low, rng, symbols, start, n_alphabet):
    limit = buf.shape[0] - _HEADROOM
    n = symbols.shape[0]
    i = start
    while i < n and pos <= limit:
        pos, low, rng = _emit(buf, pos, low, rng, symbols[i], 1, n_alphabet)
        i += 1
    return pos, low, rng, i


# --------------------------------------------------------------------------
# decoder kernels
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _narrow_in(data, pos, value, low, r, cum, freq):
    """Decoder side of ``_emit``: narrow to the symbol's interval, renormalize.

    Mirrors the encoder's ``low`` (mod the window) so that ``finish`` can
    recompute the termination. Returns ``(pos, value, low, rng, ok)``; ``ok`` is
    False when this would read more than ``TAIL_BYTES`` past the end.
    """
    value -= r * cum
    low += r * cum
    if low >= TOP:
        low -= TOP
    rng = r * freq
    end = data.shape[0]
    while rng < BOTTOM:
        if pos < end:
            value = (value << 8) | data[pos]
        elif pos - end >= TAIL_BYTES:
            return pos, value, low, rng, False
        else:
            value <<= 8
        low = (low & LOW_MASK) << 8
        pos += 1
        rng <<= 8
    return pos, value, low, rng, True


@njit(cache=True)
def _decode_tree(data, pos, value, rng, low, out, left, right, symbol, freq, ssum, root,
                 order, increment, max_total):
    """Decode ``len(out)`` symbols. Returns ``(status, count, pos, value, rng, low)``."""
    for i in range(out.shape[0]):
        total = ssum[root]
        r = rng // total
        t = value // r
        if t >= total:
            return _BAD_POINT, i, pos, value, rng, low
        if increment == 0:
            node, c = avl_find(left, right, freq, ssum, root, t)
            f = freq[node]
        else:
            node, c = avl_find_add(left, right, freq, ssum, root, t, increment)
            f = freq[node] - increment
        out[i] = symbol[node]
        pos, value, low, rng, ok = _narrow_in(data, pos, value, low, r, c, f)
        if not ok:
            return _OVERREAD, i, pos, value, rng, low
        if increment != 0 and ssum[root] > max_total:
            avl_halve(left, right, freq, ssum, order)
    return _OK, out.shape[0], pos, value, rng, low


@njit(cache=True)
def _decode_uniform(data, pos, value, rng, low, out, n_alphabet):
    for i in range(out.shape[0]):
        r = rng // n_alphabet
        t = value // r
        if t >= n_alphabet:
            return _BAD_POINT, i, pos, value, rng, low
        out[i] = t
        pos, value, low, rng, ok = _narrow_in(data, pos, value, low, r, t, 1)
        if not ok:
            return _OVERREAD, i, pos, value, rng, low
    return _OK, out.shape[0], pos, value, rng, low


def _termination(low: int, rng: int) -> tuple[int, int]:
    """``(v, nbytes)``: the value in ``[low, low + rng)`` with the most trailing
    zero bytes in the window, and how many leading window bytes it needs."""
    for nbytes in range(TAIL_BYTES + 1):
        unit = 1 << (8 * (TAIL_BYTES - nbytes))
        v = -(-low // unit) * unit
        if v < low + rng:
            return v, nbytes
    raise AssertionError("unreachable: nbytes = TAIL_BYTES always fits")


# --------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------


def _check_model(model) -> None:
    if not isinstance(model, FrequencyModel):
        raise RecError(f"expected a FrequencyModel, got {type(model).__name__}")


class RangeEncoder:
    """Encodes symbol arrays, each under its own model, into one byte string.

    ``encode`` may be called any number of times with different models; the
    decoder must make the same sequence of calls (same counts, same models,
    adaptive models freshly built with the same arguments).

    Example::

        enc = RangeEncoder()
        enc.encode(indices, StaticModel.from_counts(counts))
        enc.encode(group_sizes, AdaptiveModel(17))
        data = enc.finish()
    """

    def __init__(self) -> None:
        self._buf = np.zeros(256, np.uint8)
        self._pos = 0
        self._low = 0
        self._range = TOP
        self._finished = False

    def _grow(self, extra: int) -> None:
        need = self._pos + extra + _HEADROOM + 64
        if need > self._buf.shape[0]:
            new = np.zeros(max(need, 2 * self._buf.shape[0]), np.uint8)
            new[: self._pos] = self._buf[: self._pos]
            self._buf = new

    def encode(self, symbols, model: FrequencyModel) -> None:
        """Encode ``symbols`` (1-D integers in ``[0, model.alphabet_size)``).

        Adaptive models are updated in place, symbol by symbol.

        Raises:
            RecError: on a symbol outside the alphabet, a non-model, or after
                :meth:`finish`.
        """
        if self._finished:
            raise RecError("encode called after finish")
        _check_model(model)
        syms = as_symbols(symbols, model.alphabet_size)
        n = syms.shape[0]
        done = 0
        while done < n:
            self._grow(n - done)  # ~1 byte per symbol first; the loop grows further
            if isinstance(model, UniformModel):
                pos, low, rng, done = _encode_uniform(
                    self._buf, self._pos, self._low, self._range, syms, done,
                    model.alphabet_size)
            elif isinstance(model, TreeModel):
                a = model.coder_arrays()
                pos, low, rng, done = _encode_tree(
                    self._buf, self._pos, self._low, self._range, syms, done,
                    a.left, a.right, a.symbol, a.freq, a.subtree_sum, a.root,
                    a.order, a.cum, a.increment, a.max_total)
            else:
                raise RecError(f"unsupported model type {type(model).__name__}")
            self._pos, self._low, self._range = int(pos), int(low), int(rng)

    @property
    def bytes_written(self) -> int:
        """Bytes output so far (``finish`` adds at most 7)."""
        return self._pos

    def finish(self) -> bytes:
        """Terminate the code and return all bytes. The encoder is then closed.

        Writes the value in ``[low, low + range)`` with the most trailing zero
        bytes, omitting those zeros (the decoder pads with zeros).
        """
        if self._finished:
            raise RecError("finish called twice")
        self._finished = True
        v, nbytes = _termination(self._low, self._range)
        self._grow(TAIL_BYTES + 1)
        buf = self._buf
        if v >= TOP:  # carry
            v -= TOP
            j = self._pos - 1
            while buf[j] == 255:
                buf[j] = 0
                j -= 1
            buf[j] += 1
        for k in range(nbytes):
            buf[self._pos] = (v >> (SHIFT - 8 * k)) & 0xFF
            self._pos += 1
        return bytes(buf[: self._pos])


class RangeDecoder:
    """Decodes what :class:`RangeEncoder` wrote, with the same calls and models.

    Args:
        data: the bytes returned by :meth:`RangeEncoder.finish`.

    Malformed data never makes the decoder read out of bounds: each call
    either returns symbols (possibly garbage) or raises ``FormatError``.
    """

    def __init__(self, data) -> None:
        if isinstance(data, np.ndarray):
            arr = np.ascontiguousarray(data, dtype=np.uint8).ravel()
        else:
            arr = np.frombuffer(bytes(data), dtype=np.uint8)
        self._data = arr
        value = 0
        for k in range(TAIL_BYTES):
            value = (value << 8) | (int(arr[k]) if k < arr.shape[0] else 0)
        self._value = value
        self._range = TOP
        self._low = 0
        self._pos = TAIL_BYTES

    def decode(self, n: int, model: FrequencyModel) -> np.ndarray:
        """Decode ``n`` symbols under ``model``; returns an int64 array.

        Callers decoding untrusted streams must bound ``n`` themselves (a
        symbol can cost almost zero bits, so the data length does not bound it).

        Raises:
            FormatError: if the data cannot be a valid code (a point outside
                every symbol interval, or reading past the end of the data by
                more than ``TAIL_BYTES``).
            RecError: on a negative ``n`` or a non-model.
        """
        _check_model(model)
        n = int(n)
        if n < 0:
            raise RecError(f"cannot decode a negative number of symbols ({n})")
        out = np.empty(n, np.int64)
        if n == 0:
            return out
        if isinstance(model, UniformModel):
            status, count, pos, value, rng, low = _decode_uniform(
                self._data, self._pos, self._value, self._range, self._low, out,
                model.alphabet_size)
        elif isinstance(model, TreeModel):
            a = model.coder_arrays()
            status, count, pos, value, rng, low = _decode_tree(
                self._data, self._pos, self._value, self._range, self._low, out,
                a.left, a.right, a.symbol, a.freq, a.subtree_sum, a.root,
                a.order, a.increment, a.max_total)
        else:
            raise RecError(f"unsupported model type {type(model).__name__}")
        self._pos, self._value, self._range, self._low = int(pos), int(value), int(rng), int(low)
        if status == _BAD_POINT:
            raise FormatError(
                f"corrupt range-coded data: symbol {count} of {n} decodes to no "
                f"interval of its model")
        if status == _OVERREAD:
            raise FormatError(
                f"truncated range-coded data: symbol {count} of {n} needs bytes past "
                f"the end ({self._data.shape[0]} bytes)")
        return out

    @property
    def bytes_consumed(self) -> int:
        """Bytes read so far, including up to TAIL_BYTES of implicit zero padding."""
        return self._pos

    def finish(self) -> None:
        """Check that the data has exactly the length the encoder wrote.

        Recomputes the encoder's termination from the mirrored ``low`` and
        ``range``; call it after the last ``decode``.

        Raises:
            FormatError: on trailing bytes after the code, or missing final bytes.
        """
        _, nbytes = _termination(self._low, self._range)
        expected = self._pos - TAIL_BYTES + nbytes
        actual = self._data.shape[0]
        if actual > expected:
            raise FormatError(f"{actual - expected} trailing bytes after the range-coded data")
        if actual < expected:
            raise FormatError(
                f"truncated range-coded data: expected {expected} bytes, got {actual}")
