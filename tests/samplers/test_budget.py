"""The budget sampler (rec/samplers/budget.py): a layout both sides derive, exact decode, bits ≈ KL + margin."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.models.isokl import iso_kl_posterior
from rec.samplers import make
from rec.samplers.budget import BudgetSampler, budget_groups, candidate_counts


def iso_latent(shape=(6, 10, 12), seed=0, zero_share=0.3, top=48):
    """Budget levels and an iso-KL posterior / prior pair that spends exactly them."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(1, top, shape)
    levels[rng.random(shape) < zero_share] = 0
    pm, ps = rng.normal(size=shape), np.exp(0.4 * rng.normal(size=shape))
    offset = rng.normal(size=shape) * ps
    mean, std = iso_kl_posterior(torch.tensor(offset), torch.tensor(pm), torch.tensor(ps),
                                 torch.tensor(levels / 16 * math.log(2)))
    return levels, DiagonalGaussian(mean.numpy(), std.numpy()), DiagonalGaussian(pm, ps)


@pytest.fixture(scope="module")
def latent():
    return iso_latent()


def test_round_trip_is_exact_and_bits_are_the_kl_plus_the_margin(latent):
    levels, q, p = latent
    for margin in (0.0, 1.0):
        s = BudgetSampler(bits=10, margin=margin).bind(levels)
        msg = s.encode(q, p, seed=3)
        data = msg.to_bytes()
        assert msg.index_bits + msg.side_bits + msg.outlier_bits == 8 * len(data) and msg.outlier_bits == 0
        assert msg.kl_bits == pytest.approx(levels.sum() / 16, rel=1e-5)  # the posterior spends the budget
        z = make("budget").bind(levels).decode(data, p, seed=3)  # parameters come from the message
        assert np.array_equal(z.view(np.uint64), msg.sample.view(np.uint64))
        assert data == s.encode(q, p, seed=3).to_bytes()
        # the index costs log2 N per group (range coded, a few bytes of termination), nothing else but 4 bytes
        assert msg.stats["ideal_index_bits"] <= msg.index_bits <= msg.stats["ideal_index_bits"] + 40
        assert msg.side_bits <= 40
        groups = msg.stats["indexed_groups"]
        assert msg.stats["ideal_index_bits"] == pytest.approx(msg.kl_bits + margin * groups, abs=groups)


def test_the_layout_is_a_function_of_the_integer_levels_only(latent):
    levels, q, p = latent
    sizes, sums = budget_groups(levels, 160, 1024)
    assert sizes.sum() == levels.size and np.all(sums <= 160) and sums.sum() == levels.sum()
    counts = candidate_counts(sums, 0, 10)
    real = np.ceil(2.0 ** (sums / 16))
    assert np.all((counts >= np.minimum(real, 1024)) & (counts <= np.minimum(real + 1, 1024)))
    assert np.all(counts[sums == 0] == 1)
    # float noise in the prior moves the decoded sample slightly, never the layout
    s = BudgetSampler(bits=10).bind(levels)
    msg = s.encode(q, p, seed=11)
    noisy = DiagonalGaussian(p.mean * (1 + 1e-9), p.std * (1 - 1e-9))
    assert np.max(np.abs(s.decode(msg.to_bytes(), noisy, seed=11) - msg.sample)) < 1e-6


def test_samples_follow_the_posterior_with_a_margin():
    """With 3 bits of margin and plain importance weights (temper 1), the coded sample's standardized
    residual on coded dimensions is N(0, 1) (Kolmogorov-Smirnov), and the level-0 dimensions are prior draws."""
    levels, q, p = iso_latent((8, 16, 16), seed=5, top=40)
    msg = BudgetSampler(bits=12, margin=3.0, temper=1.0).bind(levels).encode(q, p, seed=2)
    coded = levels > 0
    residual = ((msg.sample - q.mean) / q.std)[coded]
    assert stats.kstest(residual, "norm").pvalue > 1e-3
    prior_draws = ((msg.sample - p.mean) / p.std)[~coded]
    assert stats.kstest(prior_draws, "norm").pvalue > 1e-3


def test_without_levels_it_refuses_to_code_but_inspects(latent):
    levels, q, p = latent
    with pytest.raises(RecError, match="budget levels"):
        BudgetSampler().encode(q, p, seed=1)
    with pytest.raises(RecError, match="budget levels"):
        BudgetSampler().bind(levels[:2]).encode(q, p, seed=1)
    with pytest.raises(RecError):
        BudgetSampler().bind(-levels - 1)
    msg = BudgetSampler().bind(levels).encode(q, p, seed=1)
    bits = BudgetSampler().inspect(msg.to_bytes(), q.shape)
    assert (bits.index_bits, bits.side_bits) == (msg.index_bits, msg.side_bits)
    with pytest.raises(RecError, match="budget levels"):
        BudgetSampler().decode(msg.to_bytes(), p, seed=1)


def test_garbage_raises_format_error_or_decodes(latent):
    levels, q, p = latent
    s = BudgetSampler(bits=10).bind(levels)
    data = s.encode(q, p, seed=5).to_bytes()
    rng = np.random.default_rng(0)
    cases = [b"", bytes([data[0]]), data[:-1], data + b"\x00", data[: len(data) // 2], data[:4] + b"\xff" * 8]
    cases += [bytes([data[0]]) + rng.bytes(int(n)) for n in rng.integers(1, 200, size=30)]
    for _ in range(30):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        cases.append(bytes(b))
    for case in cases:
        try:
            z = s.decode(case, p, seed=5)
        except FormatError:
            continue
        assert z.shape == q.shape and np.isfinite(z).all()
    with pytest.raises(FormatError):
        make("importance").decode(data, p, seed=5)


def test_the_distortion_guide_moves_the_pick_down_the_slope_and_not_the_bytes_around_it(latent):
    """A guide tilts which candidate is chosen against the slope (the linearized distortion
    slope · e falls), keeps every group's candidate count and so the index bits, and decodes
    exactly with a sampler that knows nothing of it; without a slope, or at guide 0, the
    bytes are those of the plain sampler."""
    levels, q, p = iso_latent((8, 16, 16), seed=7, top=40)
    slope = np.random.default_rng(1).normal(size=levels.size)
    plain = BudgetSampler(bits=10, margin=1.0).bind(levels).encode(q, p, seed=4)
    assert BudgetSampler(bits=10, margin=1.0).bind(levels).encode(q, p, seed=4, slope=slope).to_bytes() == plain.to_bytes()
    guided_sampler = BudgetSampler(bits=10, margin=1.0, guide=0.5).bind(levels)
    assert guided_sampler.encode(q, p, seed=4).to_bytes() == plain.to_bytes()
    guided = guided_sampler.encode(q, p, seed=4, slope=slope)
    assert guided.to_bytes() != plain.to_bytes() and guided.index_bits == plain.index_bits

    def linear(sample):
        return float(slope @ ((sample - p.mean) / p.std).reshape(-1))

    assert linear(guided.sample) < linear(plain.sample) - 5.0
    z = make("budget").bind(levels).decode(guided.to_bytes(), p, seed=4)
    assert np.array_equal(z.view(np.uint64), guided.sample.view(np.uint64))
    with pytest.raises(RecError, match="slope"):
        guided_sampler.encode(q, p, seed=4, slope=slope[:-1])
    with pytest.raises(RecError, match="guide"):
        BudgetSampler(guide=-1.0)
