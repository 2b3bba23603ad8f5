"""GreedySampler (thesis Alg. 2): bias against budget, shards, determinism."""

import numpy as np
import pytest

from rec.samplers import GreedySampler
from rec.samplers.synthetic import synthetic_latent


@pytest.fixture(scope="module")
def level2():
    return synthetic_latent((16, 12, 12), informative=0.5, kl_bits=2000.0, seed=1)


def residuals(sampler, q, p, seeds=(1, 2, 3)):
    kl = (q.kl(p) / np.log(2)).ravel()
    inf = kl > 0.05
    out, bits = [], []
    for seed in seeds:
        msg = sampler.encode(q, p, seed)
        out.append(((msg.sample - q.mean) / q.std).ravel()[inf])
        bits.append(msg.total_bits)
    return np.concatenate(out), np.mean(bits)


def test_error_shrinks_with_budget(level2):
    """The argmax walks toward the posterior mode: the mean squared
    standardized error falls as the budget per unit of KL grows (and the
    spread drops below 1: greedy samples are biased toward the mode)."""
    q, p = level2
    errs = []
    for shards, group_kl in ((8, 24.0), (8, 12.0), (16, 12.0)):
        r, _ = residuals(GreedySampler(bits=6, shards=shards, group_kl=group_kl), q, p)
        assert abs(r.mean()) < 0.08
        errs.append(np.mean(r**2))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.7


def test_shard_counts_follow_group_kl(level2):
    q, p = level2
    s = GreedySampler(bits=5, shards=10, group_kl=20.0)
    msg = s.encode(q, p, 3)
    assert msg.index_bits == 5 * msg.stats["shards"]
    assert msg.stats["shards"] <= 10 * msg.stats["indexed_groups"]
    # every coded bit of KL needs shards: at least KL / group_kl groups
    assert msg.stats["groups"] >= msg.kl_bits / 20.0 - 1
    assert np.array_equal(s.decode(msg.to_bytes(), p, 3), msg.sample)


def test_prior_draw_groups_are_free():
    q, p = synthetic_latent((8, 16, 16), informative=0.0005, kl_bits=1.0, seed=4)
    msg = GreedySampler().encode(q, p, 1)
    assert msg.total_bits < 200
