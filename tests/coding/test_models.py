"""Frequency models: quantization, Laplace smoothing (thesis 3.5.1), adaptation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rec.coding import (
    MAX_TOTAL,
    AdaptiveModel,
    RangeEncoder,
    StaticModel,
    UniformModel,
    quantize_probabilities,
)
from rec.errors import RecError


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 300),
                  elements=st.one_of(st.just(0.0), st.floats(1e-12, 1e6))),
       st.integers(0, 24))
def test_quantize_sums_exactly_and_keeps_every_symbol(p, log_total):
    total = max(1 << log_total, len(p))
    if p.sum() == 0:
        p[0] = 1.0
    f = quantize_probabilities(p, total)
    assert f.sum() == total
    assert f.min() >= 1
    # never further than the rounding plus the units reserved for tiny symbols
    scaled = p / p.sum() * total
    assert np.all(np.abs(f - scaled) <= 1 + len(p) * np.maximum(scaled, 1) / total + 1e-6)


def test_quantize_extreme_distribution():
    f = quantize_probabilities([1 - 1e-9, 1e-9])
    assert f.tolist() == [MAX_TOTAL - 1, 1]
    f = quantize_probabilities(np.r_[1.0, np.zeros(2**17 - 1)])
    assert f[0] == MAX_TOTAL - (2**17 - 1) and np.all(f[1:] == 1)


def test_from_counts_applies_laplace_smoothing():
    counts = np.zeros(1000)
    counts[:10] = np.arange(1, 11)  # 10 seen symbols, 990 unseen
    alpha = 0.01
    m = StaticModel.from_counts(counts, alpha=alpha)
    p = m.frequencies() / m.total
    assert m.total == MAX_TOTAL
    np.testing.assert_allclose(p[10:], alpha / 990, rtol=0.02)
    np.testing.assert_allclose(p[:10], (1 - alpha) * counts[:10] / counts.sum(), rtol=1e-4)
    # without zeros alpha is unused; all-zero counts give a uniform model
    m = StaticModel.from_counts([1, 3], alpha=0.5)
    assert m.frequencies().tolist() == [MAX_TOTAL // 4, 3 * MAX_TOTAL // 4]
    m = StaticModel.from_counts(np.zeros(4), total=64)
    assert m.frequencies().tolist() == [16] * 4


def test_from_counts_extreme_dominant_symbol_and_alpha_zero():
    m = StaticModel.from_counts([1e9 - 1, 1, 0, 0], alpha=0.0)
    f = m.frequencies()
    assert f.min() >= 1 and f[0] == MAX_TOTAL - 3
    assert m.information_bits([0]) == pytest.approx(-math.log2(f[0] / MAX_TOTAL))


def test_static_information_bits():
    m = StaticModel([1, 2, 5])
    assert m.information_bits([0, 1, 2, 2]) == pytest.approx(
        -math.log2(1 / 8) - math.log2(2 / 8) - 2 * math.log2(5 / 8))
    assert m.information_bits([]) == 0.0
    assert UniformModel(1000).information_bits(np.arange(10)) == pytest.approx(
        10 * math.log2(1000))


@pytest.mark.parametrize("bad", [[], [0, 1], [1.5, 2.0], [[1, 2]], [MAX_TOTAL, 1]])
def test_static_model_rejects_bad_frequencies(bad):
    with pytest.raises(RecError):
        StaticModel(bad)


def test_model_argument_errors():
    with pytest.raises(RecError):
        StaticModel.from_counts([-1, 2])
    with pytest.raises(RecError):
        StaticModel.from_counts([1, 2], alpha=1.0)
    with pytest.raises(RecError):
        StaticModel.from_counts([1, np.inf])
    with pytest.raises(RecError):
        AdaptiveModel(0)
    with pytest.raises(RecError):
        AdaptiveModel(100, increment=0)
    with pytest.raises(RecError):
        AdaptiveModel(100, increment=32, max_total=200)
    with pytest.raises(RecError):
        UniformModel(MAX_TOTAL + 1)
    with pytest.raises(RecError):
        StaticModel([1, 2]).information_bits([2])


def reference_adaptive(n, increment, max_total, symbols):
    """Plain-Python adaptive model: returns (final frequencies, sequential bits)."""
    f = [1] * n
    bits = 0.0
    for s in symbols:
        bits -= math.log2(f[s] / sum(f))
        f[s] += increment
        if sum(f) > max_total:
            f = [(x + 1) // 2 for x in f]
    return f, bits


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 50), st.integers(0, 200), st.data())
def test_adaptive_model_follows_its_update_rule(n, increment, slack, data):
    max_total = 2 * (n + increment) + slack
    symbols = data.draw(st.lists(st.integers(0, n - 1), max_size=300))
    model = AdaptiveModel(n, increment=increment, max_total=max_total)
    ref_f, ref_bits = reference_adaptive(n, increment, max_total, symbols)
    assert model.information_bits(symbols) == pytest.approx(ref_bits, rel=1e-9, abs=1e-9)
    assert model.frequencies().tolist() == [1] * n  # information_bits does not adapt
    enc = RangeEncoder()
    enc.encode(np.array(symbols, np.int64), model)
    assert model.frequencies().tolist() == ref_f
    assert model.total <= max_total
    assert model.fresh().frequencies().tolist() == [1] * n
    assert model.copy().frequencies().tolist() == ref_f
