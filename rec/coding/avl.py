"""AVL tree over symbols, augmented with subtree frequency sums.

Thesis section 3.5.2 ("A note on the Arithmetic Coder"): a naive arithmetic
decoder finds the symbol whose cumulative-frequency interval holds the coded
point by a linear scan, O(|A|) per symbol. A height-balanced binary search tree
keyed by symbol, whose nodes also carry the frequency sum of their subtree,
answers both questions a frequency model must answer in O(log |A|):

* ``find(t)``: the symbol s with cum(s) <= t < cum(s) + freq(s) (decoder), and
* ``cumulative(s)``: cum(s) = sum of freq(k) for k < s (encoder),

and lets an adaptive model change one frequency in O(log |A|) (every node on
the root-to-symbol path gains the same delta in its subtree sum).

The tree is the AVL tree of Adel'son-Vel'skii and Landis (1962): after each
insertion the heights of the two subtrees of every node differ by at most one,
restored by single or double rotations on the way back up the insertion path.

Representation: flat numpy arrays indexed by node id, so the numba kernels of
the coder can walk it without Python objects. Node ``i`` has ``left[i]``,
``right[i]`` (``-1`` for none), ``height[i]`` (a leaf has height 1),
``symbol[i]`` (the key), ``freq[i]`` and ``subtree_sum[i]``.

Insertion adds the new frequency to every sum on the way down, then walks back
up fixing heights and stops at the first rotation or unchanged height, so
rebalancing is amortized O(1) per insertion (the walk down is O(log n)).

Invariants (checked by the tests after random inserts and updates):

* BST order: keys in the left subtree < ``symbol[i]`` < keys in the right.
* ``height[i] == 1 + max(height[left], height[right])`` (0 for ``-1``).
* ``abs(height[left] - height[right]) <= 1``.
* ``subtree_sum[i] == freq[i] + subtree_sum[left] + subtree_sum[right]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rec.errors import RecError

__all__ = ["AVLTree", "MAX_TREE_HEIGHT"]

#: An AVL tree with n nodes has height < 1.4405 log2(n + 2); 64 covers any
#: tree that fits in memory. Used to size the insertion-path scratch array.
MAX_TREE_HEIGHT = 64


# --------------------------------------------------------------------------
# numba kernels (all take the flat arrays; ``-1`` is the null node)
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _h(height, node):
    return height[node] if node >= 0 else 0


@njit(cache=True, inline="always")
def _s(ssum, node):
    return ssum[node] if node >= 0 else 0


@njit(cache=True)
def _update(left, right, height, freq, ssum, node):
    hl = _h(height, left[node])
    hr = _h(height, right[node])
    height[node] = 1 + (hl if hl > hr else hr)
    ssum[node] = freq[node] + _s(ssum, left[node]) + _s(ssum, right[node])


@njit(cache=True)
def _rotate_right(left, right, height, freq, ssum, y):
    x = left[y]
    left[y] = right[x]
    right[x] = y
    _update(left, right, height, freq, ssum, y)
    _update(left, right, height, freq, ssum, x)
    return x


@njit(cache=True)
def _rotate_left(left, right, height, freq, ssum, x):
    y = right[x]
    right[x] = left[y]
    left[y] = x
    _update(left, right, height, freq, ssum, x)
    _update(left, right, height, freq, ssum, y)
    return y


@njit(cache=True)
def _rebalance(left, right, height, freq, ssum, node):
    """Recompute ``node`` and rotate if unbalanced; returns the subtree root."""
    _update(left, right, height, freq, ssum, node)
    balance = _h(height, left[node]) - _h(height, right[node])
    if balance > 1:
        child = left[node]
        if _h(height, left[child]) < _h(height, right[child]):
            left[node] = _rotate_left(left, right, height, freq, ssum, child)
        return _rotate_right(left, right, height, freq, ssum, node)
    if balance < -1:
        child = right[node]
        if _h(height, right[child]) < _h(height, left[child]):
            right[node] = _rotate_right(left, right, height, freq, ssum, child)
        return _rotate_left(left, right, height, freq, ssum, node)
    return node


@njit(cache=True)
def avl_insert(left, right, height, symbol, freq, ssum, root, node, path):
    """Insert the prepared node ``node`` (key ``symbol[node]``) below ``root``.

    The caller has set ``symbol[node]`` and ``freq[node]``. Returns the new
    root, or ``-2`` if the key is already present (the tree is unchanged).
    ``path`` is scratch space of at least ``MAX_TREE_HEIGHT`` entries.
    """
    left[node] = -1
    right[node] = -1
    height[node] = 1
    ssum[node] = freq[node]
    if root < 0:
        return node
    key = symbol[node]
    depth = 0
    cur = root
    while True:
        path[depth] = cur
        depth += 1
        k = symbol[cur]
        if k == key:
            # undo the sums added on the way down; the tree is unchanged
            for i in range(depth - 1):
                ssum[path[i]] -= freq[node]
            return -2
        ssum[cur] += freq[node]
        if key < k:
            if left[cur] < 0:
                left[cur] = node
                break
            cur = left[cur]
        else:
            if right[cur] < 0:
                right[cur] = node
                break
            cur = right[cur]
    # Walk back up fixing heights; every sum on the path already includes the
    # new node. Stop at the first rotation (it restores the subtree's height
    # from before the insertion) or at the first node whose height is unchanged.
    for i in range(depth - 1, -1, -1):
        cur = path[i]
        old_height = height[cur]
        new = _rebalance(left, right, height, freq, ssum, cur)
        if new != cur:
            if i == 0:
                root = new
            else:
                parent = path[i - 1]
                if left[parent] == cur:
                    left[parent] = new
                else:
                    right[parent] = new
            break
        if height[cur] == old_height:
            break
    return root


@njit(cache=True)
def avl_build(left, right, height, symbol, freq, ssum, symbols, freqs):
    """Insert ``symbols[i]`` with ``freqs[i]`` as node ``i``, in order.

    Returns the root, or ``-2`` on a duplicate key.
    """
    path = np.empty(MAX_TREE_HEIGHT, np.int64)
    root = -1
    for i in range(symbols.shape[0]):
        symbol[i] = symbols[i]
        freq[i] = freqs[i]
        root = avl_insert(left, right, height, symbol, freq, ssum, root, i, path)
        if root == -2:
            return -2
    return root


@njit(cache=True)
def avl_find(left, right, freq, ssum, root, target):
    """Node whose interval [cum, cum + freq) holds ``target``, and its cum.

    Returns ``(-1, total)`` if ``target >= total``. O(height).
    """
    cur = root
    base = 0
    while cur >= 0:
        lsum = _s(ssum, left[cur])
        if target < lsum:
            cur = left[cur]
        else:
            target -= lsum
            base += lsum
            f = freq[cur]
            if target < f:
                return cur, base
            target -= f
            base += f
            cur = right[cur]
    return -1, base


@njit(cache=True)
def avl_find_add(left, right, freq, ssum, root, target, delta):
    """``avl_find`` that also adds ``delta`` to the found node's frequency.

    Every node visited lies on the root-to-found path, so its subtree sum
    gains ``delta`` too. Caller guarantees ``0 <= target < total``.
    """
    cur = root
    base = 0
    while cur >= 0:
        ssum[cur] += delta
        lsum = _s(ssum, left[cur])
        if target < lsum:
            cur = left[cur]
        else:
            target -= lsum
            base += lsum
            f = freq[cur]
            if target < f:
                freq[cur] = f + delta
                return cur, base
            target -= f
            base += f
            cur = right[cur]
    return -1, base


@njit(cache=True)
def avl_cumulative(left, right, symbol, freq, ssum, root, key, delta):
    """Node holding ``key`` and cum(key); adds ``delta`` to its frequency.

    Returns ``(-1, 0)`` if ``key`` is absent; then nothing is changed only if
    ``delta == 0`` (callers pass a nonzero delta only for keys they know).
    """
    cur = root
    base = 0
    while cur >= 0:
        k = symbol[cur]
        ssum[cur] += delta
        if key < k:
            cur = left[cur]
        else:
            lsum = _s(ssum, left[cur])
            if key == k:
                freq[cur] += delta
                return cur, base + lsum
            base += lsum + freq[cur]
            cur = right[cur]
    return -1, 0


@njit(cache=True)
def avl_recompute_sums(left, right, freq, ssum, order):
    """Recompute every subtree sum; ``order`` lists nodes by ascending height.

    Children have strictly smaller height than their parent, so one pass in
    that order sees children first. O(n).
    """
    for i in range(order.shape[0]):
        node = order[i]
        ssum[node] = freq[node] + _s(ssum, left[node]) + _s(ssum, right[node])


@njit(cache=True)
def avl_halve(left, right, freq, ssum, order):
    """Rescale for adaptive models: freq <- ceil(freq / 2) (stays >= 1)."""
    for i in range(order.shape[0]):
        node = order[i]
        freq[node] = (freq[node] + 1) >> 1
    avl_recompute_sums(left, right, freq, ssum, order)


# --------------------------------------------------------------------------
# Python wrapper
# --------------------------------------------------------------------------


#: The per-node arrays.
_FIELDS = ("left", "right", "freq", "subtree_sum", "symbol", "height")


class AVLTree:
    """An AVL tree of (symbol, frequency) with subtree frequency sums.

    Nodes live in flat arrays of a fixed ``capacity`` (see module docstring).
    Keys are non-negative integers; frequencies non-negative integers.

    Args:
        capacity: maximum number of nodes.
    """

    def __init__(self, capacity: int):
        if capacity < 0:
            raise RecError(f"AVL tree capacity must be >= 0, got {capacity}")
        self.left = np.full(capacity, -1, np.int32)
        self.right = np.full(capacity, -1, np.int32)
        self.height = np.zeros(capacity, np.int32)
        self.symbol = np.zeros(capacity, np.int64)
        self.freq = np.zeros(capacity, np.int64)
        self.subtree_sum = np.zeros(capacity, np.int64)
        self.root = -1
        self.size = 0
        self._path = np.empty(MAX_TREE_HEIGHT, np.int64)

    def copy(self) -> "AVLTree":
        """An independent tree with the same nodes."""
        other = AVLTree(0)
        for name in _FIELDS:
            setattr(other, name, getattr(self, name).copy())
        other.root, other.size = self.root, self.size
        return other

    @classmethod
    def from_frequencies(cls, freqs: np.ndarray) -> "AVLTree":
        """Tree holding symbols ``0 .. len(freqs) - 1``; node ``i`` is symbol ``i``.

        Built by AVL insertion in symbol order (every insertion rebalances).
        """
        freqs = np.ascontiguousarray(freqs, dtype=np.int64)
        n = freqs.shape[0]
        tree = cls(n)
        tree.root = int(avl_build(tree.left, tree.right, tree.height, tree.symbol,
                                  tree.freq, tree.subtree_sum,
                                  np.arange(n, dtype=np.int64), freqs))
        tree.size = n
        return tree

    @property
    def total(self) -> int:
        """Sum of all frequencies."""
        return int(self.subtree_sum[self.root]) if self.root >= 0 else 0

    def insert(self, symbol: int, freq: int) -> None:
        """Insert a new key with its frequency, rebalancing.

        Raises:
            RecError: if the tree is full, the key exists, or an argument is negative.
        """
        if self.size >= self.left.shape[0]:
            raise RecError("AVL tree is full")
        if symbol < 0 or freq < 0:
            raise RecError(f"symbol and frequency must be >= 0, got {symbol}, {freq}")
        node = self.size
        self.symbol[node] = symbol
        self.freq[node] = freq
        root = int(avl_insert(self.left, self.right, self.height, self.symbol, self.freq,
                              self.subtree_sum, self.root, node, self._path))
        if root == -2:
            raise RecError(f"symbol {symbol} is already in the tree")
        self.root = root
        self.size += 1

    def cumulative(self, symbol: int) -> tuple[int, int]:
        """``(cum, freq)`` of ``symbol``; cum is the sum of smaller keys' frequencies.

        Raises:
            RecError: if the symbol is not in the tree.
        """
        node, cum = avl_cumulative(self.left, self.right, self.symbol, self.freq,
                                   self.subtree_sum, self.root, symbol, 0)
        if node < 0:
            raise RecError(f"symbol {symbol} is not in the tree")
        return int(cum), int(self.freq[node])

    def add(self, symbol: int, delta: int) -> None:
        """Add ``delta`` to the frequency of ``symbol`` in O(log n).

        Raises:
            RecError: if the symbol is absent or its frequency would become negative.
        """
        _, f = self.cumulative(symbol)
        if f + delta < 0:
            raise RecError(f"frequency of {symbol} would become negative")
        avl_cumulative(self.left, self.right, self.symbol, self.freq, self.subtree_sum,
                       self.root, symbol, delta)

    def find(self, target: int) -> tuple[int, int, int]:
        """``(symbol, cum, freq)`` with ``cum <= target < cum + freq``.

        Raises:
            RecError: if ``target`` is outside ``[0, total)``.
        """
        if not 0 <= target < self.total:
            raise RecError(f"target {target} outside [0, {self.total})")
        node, cum = avl_find(self.left, self.right, self.freq, self.subtree_sum,
                             self.root, target)
        return int(self.symbol[node]), int(cum), int(self.freq[node])

    def height_order(self) -> np.ndarray:
        """Node ids sorted by ascending height (children before parents)."""
        return np.argsort(self.height[: self.size], kind="stable").astype(np.int64)
