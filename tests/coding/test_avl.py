"""AVL tree with subtree sums (thesis section 3.5.2): invariants and queries."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec.coding.avl import AVLTree
from rec.errors import RecError


def check_invariants(tree: AVLTree) -> list[int]:
    """Assert BST order, heights, AVL balance and subtree sums; return in-order keys."""
    keys: list[int] = []

    def walk(node: int, lo: float, hi: float) -> tuple[int, int]:
        if node < 0:
            return 0, 0
        k = int(tree.symbol[node])
        assert lo < k < hi, "BST order violated"
        hl, sl = walk(int(tree.left[node]), lo, k)
        keys.append(k)
        hr, sr = walk(int(tree.right[node]), k, hi)
        assert abs(hl - hr) <= 1, f"unbalanced at key {k}: {hl} vs {hr}"
        assert tree.height[node] == 1 + max(hl, hr), f"stale height at key {k}"
        s = int(tree.freq[node]) + sl + sr
        assert tree.subtree_sum[node] == s, f"stale subtree sum at key {k}"
        return 1 + max(hl, hr), s

    height, total = walk(tree.root, -math.inf, math.inf)
    assert len(keys) == tree.size
    assert tree.total == total
    # AVL height bound: h < 1.4405 log2(n + 2) - 0.3277
    assert height <= 1.4405 * math.log2(tree.size + 2) - 0.3277 + 1e-9
    return keys


def brute_cum(ref: dict[int, int], key: int) -> int:
    return sum(f for k, f in ref.items() if k < key)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 1000)),
                max_size=300, unique_by=lambda kv: kv[0]),
       st.data())
def test_random_inserts_and_updates_keep_invariants(items, data):
    tree = AVLTree(len(items))
    ref: dict[int, int] = {}
    for i, (k, f) in enumerate(items):
        tree.insert(k, f)
        ref[k] = f
        if i % 17 == 0:
            check_invariants(tree)
    assert check_invariants(tree) == sorted(ref)
    if not ref:
        assert tree.total == 0
        return
    keys = sorted(ref)
    updates = data.draw(st.lists(st.tuples(st.sampled_from(keys), st.integers(0, 500)),
                                 max_size=100))
    for k, delta in updates:
        tree.add(k, delta)
        ref[k] += delta
    check_invariants(tree)
    assert tree.total == sum(ref.values())
    for k in keys:
        assert tree.cumulative(k) == (brute_cum(ref, k), ref[k])
    # every point of [0, total) maps to the key whose interval contains it
    for t in data.draw(st.lists(st.integers(0, max(tree.total - 1, 0)), max_size=50)):
        if tree.total == 0:
            break
        s, cum, f = tree.find(t)
        assert cum <= t < cum + f
        assert (cum, f) == (brute_cum(ref, s), ref[s])
        assert f > 0


def test_sequential_build_is_balanced_and_maps_node_to_symbol():
    freqs = np.random.default_rng(1).integers(1, 100, size=2**17)
    tree = AVLTree.from_frequencies(freqs)
    keys = check_invariants(tree)
    assert keys == list(range(2**17))
    assert np.array_equal(tree.symbol, np.arange(2**17))
    assert tree.total == freqs.sum()
    cum = np.concatenate([[0], np.cumsum(freqs)])
    for s in [0, 1, 12345, 2**17 - 1]:
        assert tree.cumulative(s) == (cum[s], freqs[s])
        assert tree.find(int(cum[s])) == (s, cum[s], freqs[s])
        assert tree.find(int(cum[s + 1]) - 1)[0] == s


def test_height_order_lists_children_before_parents():
    tree = AVLTree.from_frequencies(np.ones(1000, np.int64))
    order = tree.height_order()
    rank = np.empty(1000, np.int64)
    rank[order] = np.arange(1000)
    for node in range(1000):
        for child in (tree.left[node], tree.right[node]):
            if child >= 0:
                assert rank[child] < rank[node]


def test_errors():
    tree = AVLTree(2)
    tree.insert(5, 1)
    with pytest.raises(RecError, match="already"):
        tree.insert(5, 2)
    tree.insert(7, 1)
    with pytest.raises(RecError, match="full"):
        tree.insert(9, 1)
    with pytest.raises(RecError, match="not in the tree"):
        tree.cumulative(6)
    with pytest.raises(RecError, match="negative"):
        tree.add(5, -2)
    with pytest.raises(RecError, match="outside"):
        tree.find(2)
    check_invariants(tree)
