"""rec.distributions.DiagonalGaussian."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rec.distributions import DiagonalGaussian
from rec.errors import RecError


def test_validation():
    with pytest.raises(RecError):
        DiagonalGaussian(np.zeros(3), np.ones(4))
    with pytest.raises(RecError):
        DiagonalGaussian(np.zeros(3), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(RecError):
        DiagonalGaussian(np.array([np.nan, 0, 0]), np.ones(3))
    with pytest.raises(RecError):
        DiagonalGaussian(np.zeros(2), np.array([1.0, np.inf]))
    g = DiagonalGaussian([1, 2], [3, 4])
    assert g.mean.dtype == np.float64 and g.shape == (2,) and g.size == 2


def test_log_prob_matches_scipy():
    rng = np.random.default_rng(0)
    m, s, z = rng.normal(size=(3, 2, 5))
    s = np.exp(s)
    g = DiagonalGaussian(m, s)
    np.testing.assert_allclose(g.log_prob(z), stats.norm(m, s).logpdf(z), rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(-5, 5), st.floats(-3, 3), st.floats(-5, 5), st.floats(-3, 3))
def test_kl_closed_form_matches_quadrature(m1, ls1, m2, ls2):
    q = DiagonalGaussian([m1], [math.exp(ls1)])
    p = DiagonalGaussian([m2], [math.exp(ls2)])
    kl = q.kl(p)[0]
    assert kl >= -1e-12
    # Monte-Carlo-free check: E_q[log q - log p] by Gauss-Hermite quadrature
    x, w = np.polynomial.hermite_e.hermegauss(80)
    z = m1 + math.exp(ls1) * x
    ref = np.sum(w * (q.log_prob(z) - p.log_prob(z))) / math.sqrt(2 * math.pi)
    assert abs(kl - ref) < 1e-8 * max(1.0, abs(ref))
    assert q.kl_bits(p) == pytest.approx(kl / math.log(2))


def test_standardize_and_sample():
    rng = np.random.default_rng(1)
    q = DiagonalGaussian(rng.normal(size=(4, 3)), np.exp(rng.normal(size=(4, 3))))
    p = DiagonalGaussian(rng.normal(size=(4, 3)), np.exp(rng.normal(size=(4, 3))))
    qs = q.standardize(p)
    ps = p.standardize(p)
    np.testing.assert_allclose(ps.mean, 0) and np.testing.assert_allclose(ps.std, 1)
    np.testing.assert_allclose(qs.kl(ps), q.kl(p), rtol=1e-12, atol=1e-14)
    eps = rng.normal(size=(4, 3))
    z = q.sample(eps)
    np.testing.assert_allclose(p.sample(p.to_standard(z)), z, rtol=1e-12)
    np.testing.assert_allclose(p.to_standard(z), qs.sample(eps), rtol=1e-12, atol=1e-12)
    with pytest.raises(RecError):
        q.sample(eps[:2])
    with pytest.raises(RecError):
        q.kl(p.flatten())


def test_flatten_is_raster_order():
    m = np.arange(24.0).reshape(2, 3, 4)
    g = DiagonalGaussian(m, np.ones_like(m)).flatten()
    assert g.shape == (24,) and np.array_equal(g.mean, np.arange(24.0))
