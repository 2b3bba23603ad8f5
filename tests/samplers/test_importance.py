"""ImportanceSampler (thesis Alg. 3 + 5): bias against budget, grouping, side information."""

import numpy as np
import pytest

from rec.samplers import ImportanceSampler
from rec.samplers.synthetic import synthetic_latent


@pytest.fixture(scope="module")
def level2():
    return synthetic_latent((16, 12, 12), informative=0.5, kl_bits=2000.0, seed=1)


def residuals(sampler, q, p, seeds=(1, 2, 3)):
    kl = (q.kl(p) / np.log(2)).ravel()
    inf = kl > 0.05
    out = []
    for seed in seeds:
        msg = sampler.encode(q, p, seed)
        out.append(((msg.sample - q.mean) / q.std).ravel()[inf])
    return np.concatenate(out)


def test_more_candidates_less_bias(level2):
    """Same groups (fill budget bits - margin = 8), 2**4 times more candidates
    per step: the standardized residual's spread approaches 1."""
    q, p = level2
    spreads = []
    for bits, margin in ((8, 0.0), (10, 2.0), (12, 4.0)):
        r = residuals(ImportanceSampler(bits=bits, margin=margin), q, p)
        assert abs(r.mean()) < 0.06
        spreads.append(r.std())
    assert spreads[0] > spreads[1] > spreads[2]
    assert abs(spreads[2] - 1) < 0.06
    assert spreads[0] > 1.15  # too few candidates: samples too close to the prior


def test_groups_outliers_and_accounting(level2):
    q, p = level2
    s = ImportanceSampler(bits=10, max_group=8, outlier_kl=6.0, margin=1.0)
    msg = s.encode(q, p, 9)
    kl = (q.kl(p) / np.log(2)).ravel()
    assert msg.stats["outliers"] == int((kl > 6.0).sum()) > 0
    assert msg.outlier_bits > 0
    assert msg.stats["groups"] >= (kl.size - msg.stats["outliers"]) / 8
    assert msg.index_bits <= 10 * msg.stats["indexed_groups"]
    assert np.array_equal(s.decode(msg.to_bytes(), p, 9), msg.sample)


def test_collapsed_latent_costs_almost_nothing():
    q, p = synthetic_latent((8, 16, 16), informative=0.0005, kl_bits=1.0, seed=4)
    msg = ImportanceSampler().encode(q, p, 1)
    assert msg.total_bits < 200
