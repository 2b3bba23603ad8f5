"""RejectionSampler (thesis Alg. 1 + 4): exactness of the decoded samples."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from rec.distributions import DiagonalGaussian
from rec.samplers import RejectionSampler
from rec.samplers.rejection import _mass_above, static_index_counts

CASES = {
    "narrower": (0.3, 0.4),     # sigma_q < sigma_p, several steps per dimension
    "wider": (0.0, 1.8),        # sigma_q > sigma_p: unbounded ratio, outliers
    "shifted": (2.0, 1.0),      # equal std, shifted mean
    "close": (0.01, 1.001),     # q ~ p: index 0 nearly always
    "far": (-2.5, 0.15),        # high KL: many outliers
}


def _pair(m, s, n):
    # arbitrary prior: the sampler must work in its standardized coordinates
    pm, ps = 0.7, 2.5
    prior = DiagonalGaussian(np.full(n, pm), np.full(n, ps))
    post = DiagonalGaussian(np.full(n, pm + ps * m), np.full(n, ps * s))
    return post, prior


@pytest.mark.parametrize("case", sorted(CASES))
def test_decoded_samples_follow_q(case):
    m, s = CASES[case]
    q, p = _pair(m, s, 3000)
    sampler = RejectionSampler(bits=6, table="adaptive")
    pooled = []
    for seed in range(4):
        msg = sampler.encode(q, p, seed)
        z = sampler.decode(msg.to_bytes(), p, seed)
        assert np.array_equal(z, msg.sample)
        assert stats.kstest(z, "norm", args=(q.mean[0], q.std[0])).pvalue > 1e-3
        pooled.append(z)
    assert stats.kstest(np.concatenate(pooled), "norm", args=(q.mean[0], q.std[0])).pvalue > 0.01


def test_first_step_acceptance_is_overlap():
    """P[index 0] = integral of min(q, p) (the first step of Harsha's sampler)."""
    m, s = 0.8, 0.5
    q, p = _pair(m, s, 20000)
    idx = RejectionSampler(bits=4).indices(q, p, seed=3)
    overlap = integrate.quad(lambda x: min(stats.norm.pdf(x, m, s), stats.norm.pdf(x)), -12, 12, points=[m])[0]
    n = idx.size
    assert abs(np.mean(idx == 0) - overlap) < 5 * math.sqrt(overlap * (1 - overlap) / n)


@pytest.mark.parametrize("m,s", [(0.0, 0.5), (1.5, 0.2), (0.5, 2.0), (1.0, 1.0), (-3.0, 1.3)])
def test_mass_above_matches_quadrature(m, s):
    a, b = 0.5 * (1 - 1 / s**2), m / s**2
    c0 = -0.5 * m * m / s**2 - math.log(s)
    for c in (0.3, 1.0, 1.7, 4.0):
        f = lambda x: max(stats.norm.pdf(x, m, s) - c * stats.norm.pdf(x), 0.0)
        ref = integrate.quad(f, -40, 40, points=[m, 0.0], limit=400)[0]
        assert _mass_above(m, s, a, b, c0, c) == pytest.approx(ref, abs=1e-7)


def test_static_and_adaptive_tables_roundtrip():
    q, p = _pair(0.5, 0.6, 500)
    for table in ("static", "adaptive"):
        s = RejectionSampler(bits=8, table=table)
        msg = s.encode(q, p, 1)
        assert np.array_equal(s.decode(msg.to_bytes(), p, 1), msg.sample)
    counts = static_index_counts(8)
    assert counts.shape == (257,) and np.all(counts >= 0) and counts[0] > counts[1]
    assert static_index_counts(14).shape == ((1 << 14) + 1,)


def test_more_budget_fewer_outliers():
    q, p = _pair(-2.0, 0.2, 2000)
    outl = [RejectionSampler(bits=b).encode(q, p, 0).stats["outliers"] for b in (4, 8, 10)]
    assert outl[0] > outl[1] > outl[2]
