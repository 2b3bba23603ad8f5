"""rec.coding.context_coder: the context-adaptive binary coder of group layouts."""

import numpy as np

from rec.coding.context_coder import decode_layout_ctx, encode_layout_ctx
from tests.helpers import random_layout


def test_context_coder_garbage_is_an_error_or_a_valid_layout():
    rng = np.random.default_rng(5)
    sizes, levels = random_layout(rng, 2000, 64, 13)
    data = encode_layout_ctx(levels, sizes, 13, 64, 40)
    for trial in range(200):
        junk = bytearray(data)
        if trial % 2:
            junk[rng.integers(len(junk))] ^= 1 << int(rng.integers(8))
        else:
            junk = junk[: rng.integers(len(junk))]
        try:
            levels, sizes = decode_layout_ctx(bytes(junk), sizes.size, 13, 64, 40, 2000)
        except ValueError:
            continue
        assert sizes.sum() == 2000 and np.all((sizes >= 1) & (sizes <= 64)) and np.all(levels <= 13)


def test_context_coder_learns_correlated_sizes():
    """Sizes predictable from the previous one (uniform marginal, nearly
    deterministic transitions) cost far less than their plain entropy with
    the neighbour contexts, and less than without them."""
    rng = np.random.default_rng(1)
    sizes = np.empty(4000, np.int64)
    sizes[0] = 1
    for i in range(1, sizes.size):
        sizes[i] = (sizes[i - 1] * 2 + 1) % 5 + 1 if rng.random() > 0.05 else rng.integers(1, 6)
    levels = np.full(sizes.size, 12, np.int64)
    with_ctx = encode_layout_ctx(levels, sizes, 13, 256, 0, neighbours=True)
    without = encode_layout_ctx(levels, sizes, 13, 256, 0, neighbours=False)
    _, counts = np.unique(sizes, return_counts=True)
    entropy = -(counts * np.log2(counts / sizes.size)).sum()
    assert 8 * len(with_ctx) < 0.5 * entropy and len(with_ctx) < 0.7 * len(without)
    back = decode_layout_ctx(with_ctx, sizes.size, 13, 256, 0, int(sizes.sum()), neighbours=True)
    assert np.array_equal(back[1], sizes)


def test_context_coder_worst_case_fits_its_buffer():
    """Train every probability towards one symbol, then send the least likely
    ones: the stream stays within the encoder's buffer and round-trips."""
    G = 4096
    sizes = np.concatenate([np.full(3000, 2), np.full(1000, G - 1)]).astype(np.int64)
    levels = np.concatenate([np.full(3000, 5), np.tile([12, 0, 13, 3], 250)]).astype(np.int64)
    sizes[levels == 13] = 1
    data = encode_layout_ctx(levels, sizes, 13, G, 0)
    assert len(data) < 48 * sizes.size
    back_levels, back_sizes = decode_layout_ctx(data, sizes.size, 13, G, 0, int(sizes.sum()))
    assert np.array_equal(back_levels, levels) and np.array_equal(back_sizes, sizes)
