"""Integer frequency models for the range coder.

A model assigns every symbol ``s`` of its alphabet ``{0, ..., n-1}`` an integer
frequency ``freq(s) >= 1``; the coder codes ``s`` with probability
``freq(s) / total``, ``total <= MAX_TOTAL = 2**24``. Models are separate from
the coder (as in constriction): the coder only asks for ``cum(s), freq(s)``
(encoder) and for the symbol whose interval holds a point (decoder).

* :class:`StaticModel` -- fixed frequencies, e.g. from empirical counts with the
  Laplace smoothing of thesis section 3.5.1 (:meth:`StaticModel.from_counts`).
* :class:`AdaptiveModel` -- counts start uniform and grow after each coded
  symbol; halved when the total would exceed a cap. Stateful: the encoder and
  the decoder each build their own fresh instance with the same arguments.
* :class:`UniformModel` -- ``freq = 1`` for ``n`` symbols, for raw fields
  (``UniformModel(2**B)`` codes a B-bit field in B bits), no tables at all.

Static and adaptive models keep their frequencies in an :class:`~rec.coding.avl.AVLTree`
(thesis section 3.5.2), so the decoder finds a symbol in O(log n) and an
adaptive update costs O(log n).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np
from numba import njit

from rec.coding.avl import AVLTree, avl_cumulative, avl_halve
from rec.coding.limits import MAX_ALPHABET, MAX_TOTAL
from rec.errors import RecError

__all__ = [
    "FrequencyModel",
    "StaticModel",
    "AdaptiveModel",
    "UniformModel",
    "TreeModel",
    "TreeArrays",
    "quantize_probabilities",
    "as_symbols",
]


def as_symbols(symbols, alphabet_size: int) -> np.ndarray:
    """Validate symbols and return them as a contiguous int64 array.

    Raises:
        RecError: if the array is not 1-D integer or a symbol is outside
            ``[0, alphabet_size)``.
    """
    arr = np.asarray(symbols)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.ndim != 1:
        raise RecError(f"symbols must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise RecError(f"symbols must be integers, got dtype {arr.dtype}")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= alphabet_size:
        raise RecError(f"symbols must lie in [0, {alphabet_size}), got range [{lo}, {hi}]")
    return np.ascontiguousarray(arr, dtype=np.int64)


def quantize_probabilities(probabilities, total: int = MAX_TOTAL) -> np.ndarray:
    """Integer frequencies >= 1 summing exactly to ``total``, close to ``p * total``.

    ``f = max(1, floor(p * total))``; an excess (from the symbols raised to 1)
    is taken from the other symbols in proportion to ``f - 1``, then one unit
    each from the largest; a deficit is given one unit each to the largest
    remainders ``p * total - f`` (largest-remainder rounding).

    Args:
        probabilities: non-negative finite weights (normalized here), length >= 1.
        total: the required sum, ``len(p) <= total <= MAX_TOTAL``.

    Returns:
        int64 frequencies.

    Raises:
        RecError: on invalid weights or total.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.shape[0] if p.ndim == 1 else 0
    if p.ndim != 1 or n == 0:
        raise RecError("probabilities must be a non-empty 1-D array")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise RecError("probabilities must be finite, >= 0, with a positive sum")
    if not n <= total <= MAX_TOTAL:
        raise RecError(f"total must lie in [{n}, {MAX_TOTAL}] for {n} symbols, got {total}")
    scaled = p / p.sum() * total
    f = np.maximum(np.floor(scaled).astype(np.int64), 1)
    excess = int(f.sum()) - total
    if excess > 0:
        room = f - 1
        take = (room * excess) // int(room.sum())
        f -= take
        excess -= int(take.sum())
        if excess > 0:
            idx = np.argsort(-(f - 1), kind="stable")[:excess]
            f[idx] -= 1
    elif excess < 0:
        idx = np.argsort(-(scaled - f), kind="stable")[:-excess]
        f[idx] += 1
    if f.sum() != total or f.min() < 1:  # pragma: no cover - guarded by the proof above
        raise AssertionError("quantize_probabilities broke its invariant")
    return f


class FrequencyModel(ABC):
    """An integer frequency model over the alphabet ``{0, ..., alphabet_size - 1}``."""

    alphabet_size: int

    @property
    @abstractmethod
    def total(self) -> int:
        """Current total frequency (<= MAX_TOTAL)."""

    @abstractmethod
    def frequencies(self) -> np.ndarray:
        """Current frequency of every symbol, indexed by symbol (a copy)."""

    @abstractmethod
    def information_bits(self, symbols) -> float:
        """-sum log2 P(s) of ``symbols`` under this model, from its current state.

        For adaptive models this is the sequential information content, with
        the model updated after each symbol, exactly as the coder does; the
        model itself is not changed.
        """


class UniformModel(FrequencyModel):
    """All ``n`` symbols equally likely: a raw field of log2(n) bits.

    Args:
        n: alphabet size, ``1 <= n <= MAX_TOTAL`` (e.g. ``2**B`` for a B-bit field).
    """

    def __init__(self, n: int):
        if not 1 <= n <= MAX_TOTAL:
            raise RecError(f"UniformModel size must lie in [1, {MAX_TOTAL}], got {n}")
        self.alphabet_size = int(n)

    @property
    def total(self) -> int:
        return self.alphabet_size

    def frequencies(self) -> np.ndarray:
        return np.ones(self.alphabet_size, np.int64)

    def information_bits(self, symbols) -> float:
        arr = as_symbols(symbols, self.alphabet_size)
        return float(arr.shape[0] * math.log2(self.alphabet_size))

    def __repr__(self) -> str:
        return f"UniformModel({self.alphabet_size})"


class TreeArrays(NamedTuple):
    """A tree model's state as the range coder's kernels take it.

    The arrays are the model's own, not copies: coding with an adaptive model
    updates ``freq`` and ``subtree_sum`` in place (that is its adaptation).
    """

    left: np.ndarray  #: AVL tree links; node ``i`` holds symbol ``i``
    right: np.ndarray
    symbol: np.ndarray
    freq: np.ndarray
    subtree_sum: np.ndarray
    root: int
    order: np.ndarray  #: node ids by ascending height (for O(n) rescaling)
    cum: np.ndarray  #: ``cum[s]`` (length n + 1) for O(1) static encoding; empty for adaptive models
    increment: int  #: frequency added after each coded symbol (0 = static)
    max_total: int  #: the total is halved when it would exceed this


class TreeModel(FrequencyModel):
    """Base of the AVL-tree-backed models; the coder reads their state through
    :meth:`coder_arrays`."""

    def __init__(self, freqs: np.ndarray, increment: int, max_total: int, static: bool):
        self.alphabet_size = int(freqs.shape[0])
        self._tree = AVLTree.from_frequencies(freqs)
        self._order = self._tree.height_order()
        self._increment = int(increment)
        self._max_total = int(max_total)
        if static:
            self._cum = np.zeros(self.alphabet_size + 1, np.int64)
            np.cumsum(freqs, out=self._cum[1:])
        else:
            self._cum = np.zeros(0, np.int64)

    @property
    def total(self) -> int:
        return self._tree.total

    def frequencies(self) -> np.ndarray:
        return self._tree.freq[: self.alphabet_size].copy()

    def coder_arrays(self) -> TreeArrays:
        """The state the range coder works on (see :class:`TreeArrays`)."""
        t = self._tree
        return TreeArrays(t.left, t.right, t.symbol, t.freq, t.subtree_sum, t.root, self._order, self._cum,
                          self._increment, self._max_total)


class StaticModel(TreeModel):
    """Fixed integer frequencies.

    Args:
        frequencies: integers >= 1, one per symbol, ``1 <= n <= MAX_ALPHABET``,
            summing to at most ``MAX_TOTAL``.

    Raises:
        RecError: on invalid frequencies.
    """

    def __init__(self, frequencies):
        f = np.asarray(frequencies)
        if f.ndim != 1 or not 1 <= f.shape[0] <= MAX_ALPHABET:
            raise RecError(f"a static model needs 1 to {MAX_ALPHABET} frequencies")
        if f.dtype.kind not in "iu":
            raise RecError(f"frequencies must be integers, got dtype {f.dtype}")
        f = f.astype(np.int64)
        if f.min() < 1:
            raise RecError("every frequency must be >= 1 so that every symbol is codable")
        if f.sum() > MAX_TOTAL:
            raise RecError(f"total frequency {int(f.sum())} exceeds MAX_TOTAL = {MAX_TOTAL}")
        super().__init__(f, increment=0, max_total=MAX_TOTAL, static=True)

    @classmethod
    def from_probabilities(cls, probabilities, total: int = MAX_TOTAL) -> "StaticModel":
        """Model from probabilities, quantized by :func:`quantize_probabilities`."""
        return cls(quantize_probabilities(probabilities, total))

    @classmethod
    def from_counts(cls, counts, alpha: float = 0.01, total: int = MAX_TOTAL) -> "StaticModel":
        """Empirical model with the Laplace smoothing of thesis section 3.5.1.

        With P the empirical distribution of ``counts`` and Z the set of
        symbols with zero count, ``P~(i) = (1 - alpha) P(i)`` for ``i`` not in Z
        and ``alpha / |Z|`` for ``i`` in Z. If no count is zero, ``P~ = P``;
        if all are zero, ``P~`` is uniform. Quantization to ``total`` then
        gives every symbol a frequency >= 1 regardless of ``alpha``.

        Args:
            counts: non-negative finite counts, one per symbol.
            alpha: probability mass reserved for unseen symbols, in [0, 1).
            total: total frequency of the quantized model.

        Raises:
            RecError: on invalid counts, alpha or total.
        """
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 1 or c.shape[0] == 0:
            raise RecError("counts must be a non-empty 1-D array")
        if not np.all(np.isfinite(c)) or np.any(c < 0):
            raise RecError("counts must be finite and >= 0")
        if not 0.0 <= alpha < 1.0:
            raise RecError(f"alpha must lie in [0, 1), got {alpha}")
        zero = c == 0
        n_zero = int(zero.sum())
        if n_zero == c.shape[0]:
            p = np.ones_like(c)
        elif n_zero == 0:
            p = c / c.sum()
        else:
            p = np.where(zero, alpha / n_zero, (1.0 - alpha) * c / c.sum())
        return cls(quantize_probabilities(p, total))

    def information_bits(self, symbols) -> float:
        arr = as_symbols(symbols, self.alphabet_size)
        f = self._tree.freq[arr].astype(np.float64)
        return float(arr.shape[0] * math.log2(self.total) - np.log2(f).sum())

    def __repr__(self) -> str:
        return f"StaticModel(alphabet_size={self.alphabet_size}, total={self.total})"


def default_max_total(alphabet_size: int) -> int:
    """Default rescaling cap of an adaptive model: clip(16 n, 2**16, 2**24)."""
    return int(min(MAX_TOTAL, max(1 << 16, 16 * alphabet_size)))


class AdaptiveModel(TreeModel):
    """Adaptive frequency counts (Witten, Neal and Cleary 1987 style).

    Every symbol starts with frequency 1. After a symbol is coded its frequency
    grows by ``increment``; if the total then exceeds ``max_total`` every
    frequency is halved, rounding up (so it stays >= 1). A symbol is always
    coded with the frequencies *before* its own update, so the total used by
    the coder never exceeds ``max_total``.

    The model is stateful: the encoder and the decoder must each construct a
    fresh instance with the same arguments and code the same symbols with it,
    in the same order.

    Args:
        alphabet_size: ``1 <= n <= MAX_ALPHABET``.
        increment: added to a symbol's count after it is coded, >= 1. Larger
            values adapt faster.
        max_total: rescaling cap, ``2 (n + increment) <= max_total <= MAX_TOTAL``;
            default :func:`default_max_total`.

    Raises:
        RecError: on invalid arguments.
    """

    def __init__(self, alphabet_size: int, increment: int = 32, max_total: int | None = None):
        n = int(alphabet_size)
        if not 1 <= n <= MAX_ALPHABET:
            raise RecError(f"alphabet_size must lie in [1, {MAX_ALPHABET}], got {n}")
        if increment < 1:
            raise RecError(f"increment must be >= 1, got {increment}")
        if max_total is None:
            max_total = default_max_total(n)
        if not 2 * (n + increment) <= max_total <= MAX_TOTAL:
            raise RecError(
                f"max_total must lie in [2 (n + increment), {MAX_TOTAL}] = "
                f"[{2 * (n + increment)}, {MAX_TOTAL}], got {max_total}")
        self._args = (n, int(increment), int(max_total))
        super().__init__(np.ones(n, np.int64), increment=increment, max_total=max_total,
                         static=False)

    @property
    def increment(self) -> int:
        return self._increment

    @property
    def max_total(self) -> int:
        return self._max_total

    def fresh(self) -> "AdaptiveModel":
        """A new model in the initial state, built with the same arguments."""
        return AdaptiveModel(*self._args)

    def copy(self) -> "AdaptiveModel":
        """A model in the same (possibly adapted) state as this one."""
        other = AdaptiveModel.__new__(AdaptiveModel)
        other.__dict__.update(self.__dict__)
        other._tree = self._tree.copy()
        return other

    def information_bits(self, symbols) -> float:
        arr = as_symbols(symbols, self.alphabet_size)
        t = self.copy()._tree
        return float(_adaptive_information(arr, t.left, t.right, t.symbol, t.freq,
                                           t.subtree_sum, t.root, self._order,
                                           self._increment, self._max_total))

    def __repr__(self) -> str:
        n, inc, cap = self._args
        return f"AdaptiveModel({n}, increment={inc}, max_total={cap})"


@njit(cache=True)
def _adaptive_information(symbols, left, right, symbol, freq, ssum, root, order,
                          increment, max_total):
    """Sequential -sum log2 P_t(s_t) with the adaptive update (mutates the arrays)."""
    bits = 0.0
    for i in range(symbols.shape[0]):
        total = ssum[root]
        node, _ = avl_cumulative(left, right, symbol, freq, ssum, root, symbols[i], increment)
        bits += math.log2(total) - math.log2(freq[node] - increment)
        if ssum[root] > max_total:
            avl_halve(left, right, freq, ssum, order)
    return bits
