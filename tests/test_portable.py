"""rec.portable: elementary functions from + − × ÷ only, accurate to a few ulp."""

import numpy as np
import pytest

from rec import portable

X = np.concatenate([np.linspace(-700, 700, 20001), np.random.default_rng(0).normal(0, 4, 20000), [0.0, -0.0, 1e-300]])


@pytest.mark.parametrize("ours, reference, tolerance", [
    (portable.exp, np.exp, 1e-15),
    (portable.sigmoid, lambda x: np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x))), 1e-15),
    (portable.softplus, lambda x: np.logaddexp(0.0, x), 1e-12),
    (portable.tanh, np.tanh, 1e-13),
])
def test_functions_agree_with_numpy(ours, reference, tolerance):
    got, want = ours(X), reference(X)
    scale = np.maximum(np.abs(want), 1e-300)
    ok = want != 0
    assert np.all(np.abs(got - want)[ok] <= tolerance * scale[ok])


def test_log_agrees_with_numpy_over_the_whole_range():
    x = np.exp(np.random.default_rng(1).uniform(-740, 709, 50000))
    assert np.max(np.abs(portable.log(x) - np.log(x)) / np.maximum(np.abs(np.log(x)), 1.0)) < 4e-16


def test_edge_values():
    assert portable.exp([-1000.0, 1000.0, 0.0]).tolist() == [0.0, np.inf, 1.0]
    assert np.isnan(portable.exp(np.nan))
    out = portable.log([0.0, -1.0, np.inf, 1.0])
    assert out[0] == -np.inf and np.isnan(out[1]) and out[2] == np.inf and out[3] == 0.0
    assert portable.sigmoid([-800.0, 0.0, 800.0]).tolist() == [0.0, 0.5, 1.0]
    assert portable.tanh([-50.0, 50.0]).tolist() == [-1.0, 1.0]
    assert portable.softplus(-800.0) == 0.0 and portable.softplus(800.0) == 800.0


def test_exp_is_monotone():
    x = np.linspace(-5, 5, 200001)
    assert np.all(np.diff(portable.exp(x)) >= 0)
