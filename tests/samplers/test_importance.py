"""ImportanceSampler (thesis Alg. 3 + 5): bias against budget, grouping, tempering, threads."""

import numpy as np
import pytest

from rec.errors import FormatError, RecError
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
        r = residuals(ImportanceSampler(bits=bits, margin=margin, temper=1.0), q, p)
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


def test_temper_is_encoder_only_and_narrows_the_sample(level2):
    """The tempered weights (q/p)**t change which candidate is picked, not the
    layout: same side information and index widths; more temper, samples
    closer to the posterior mean when the budget is tight."""
    q, p = level2
    spreads = []
    for temper in (1.0, 4.0):
        s = ImportanceSampler(bits=8, max_group=256, margin=0.0, temper=temper)
        msg = s.encode(q, p, 3)
        assert np.array_equal(ImportanceSampler().decode(msg.to_bytes(), p, 3), msg.sample)
        spreads.append((msg.side_bits, msg.index_bits, residuals(s, q, p).std()))
    assert spreads[0][:2] == spreads[1][:2]
    assert spreads[1][2] < spreads[0][2]
    with pytest.raises(RecError):
        ImportanceSampler(temper=-1.0)
    assert ImportanceSampler(margin=0).effective_temper == 8.0
    assert ImportanceSampler(margin=2).effective_temper == 1.0


def test_the_distortion_guide_is_encoder_only_and_moves_the_pick_down_the_slope(level2):
    """With a slope, the guide changes which candidate is picked (slope · e falls), not the layout
    or the widths; the plain decoder reproduces the sample; without a slope nothing changes."""
    q, p = level2
    slope = np.random.default_rng(3).normal(size=p.size)
    plain = ImportanceSampler(bits=10, margin=0.0).encode(q, p, 5)
    sampler = ImportanceSampler(bits=10, margin=0.0, guide=1.0)
    assert sampler.encode(q, p, 5).to_bytes() == plain.to_bytes()
    guided = sampler.encode(q, p, 5, slope=slope)
    assert (guided.side_bits, guided.index_bits) == (plain.side_bits, plain.index_bits)
    assert np.array_equal(ImportanceSampler().decode(guided.to_bytes(), p, 5), guided.sample)

    def linear(sample):
        return float(slope @ ((sample - p.mean) / p.std).ravel())

    assert linear(guided.sample) < linear(plain.sample) - 5.0
    assert ImportanceSampler(guide=0.25).params["guide"] == 0.25
    with pytest.raises(RecError, match="guide"):
        ImportanceSampler(guide=17.0)


def test_old_format_version_is_rejected(level2):
    q, p = level2
    data = bytearray(ImportanceSampler(bits=8).encode(q, p, 1).to_bytes())
    assert data[0] == (2 << 4) | 2
    data[0] = (2 << 4) | 1
    with pytest.raises(FormatError):
        ImportanceSampler().decode(bytes(data), p, 1)


def test_defaults_faithful_on_level1_like_latent():
    """The default setting (level-1 recommendation) on a synthetic level-1-like
    latent: decode exact, residual mean ~0, spread within 0.9-1.1."""
    q, p = synthetic_latent((16, 16, 24), informative=0.3, kl_bits=6000.0, seed=2)
    s = ImportanceSampler()
    msg = s.encode(q, p, 4)
    assert np.array_equal(s.decode(msg.to_bytes(), p, 4), msg.sample)
    kl = (q.kl(p) / np.log(2)).ravel()
    r = ((msg.sample - q.mean) / q.std).ravel()[kl > 0.05]
    assert abs(r.mean()) < 0.05 and 0.9 < r.std() < 1.1
    assert msg.total_bits < 2.0 * msg.kl_bits


def test_partial_margin_keeps_groups_next_to_outliers_faithful():
    """Many outliers (~10 bits per informative dimension): groups closed by an
    outlier have no fill slack; with margin 0 they need partial_margin."""
    q, p = synthetic_latent((16, 16, 24), informative=0.3, kl_bits=18000.0, seed=6)
    spreads = {}
    for pm in (0.0, 1.5):
        r = residuals(ImportanceSampler(bits=11, margin=0.0, temper=8.0, partial_margin=pm), q, p, seeds=(1, 2))
        assert abs(r.mean()) < 0.05
        spreads[pm] = r.std()
    assert spreads[0.0] > 1.1 and 0.9 < spreads[1.5] < 1.1, spreads


def test_the_candidate_search_is_the_same_on_any_number_of_threads(monkeypatch):
    """Groups are searched in stripes on several threads, or on one (forked workers): the same choices."""
    import rec.random as rr
    import rec.threads
    from rec.samplers import importance

    rng = np.random.default_rng(5)
    n_groups, D = 300, 2000
    counts = rng.integers(0, 3000, n_groups)  # any count, odd ones too (the budget sampler's)
    inf_ptr = np.concatenate([[0], np.cumsum(rng.integers(0, 8, n_groups))]).astype(np.int64)
    inf_dims = rng.integers(0, D, inf_ptr[-1]).astype(np.int64)
    a, b = -rng.uniform(0, 3, D), rng.normal(0, 2, D)
    k1, k2 = rr.stream_keys(11, 2)
    sk1, sk2 = rr.stream_keys(11, 8)
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(rec.threads, "worker_threads", lambda: threads)
        out = np.zeros(n_groups, np.int64)
        importance._select(k1, k2, sk1, sk2, D, counts, inf_ptr, inf_dims, a, b, out)
        runs.append(out)
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
    assert np.all(runs[0] < np.maximum(counts, 1)) and len(np.unique(runs[0])) > 50
