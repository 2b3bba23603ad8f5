"""Contract shared by every sampler: exact decode, honest bit counts, robust parsing."""

import time

import numpy as np
import pytest

from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.samplers import SAMPLERS, GreedySampler, ImportanceSampler, RejectionSampler, make
from rec.samplers.synthetic import synthetic_latent

#: The samplers that code any latent alone; the budget sampler needs the model's budget levels
#: (bound with BudgetSampler.bind) and has its own contract tests (test_budget.py).
UNBOUND = sorted(n for n in SAMPLERS if n != "budget")

# small budgets keep the suite fast
SMALL = {
    "rejection": dict(bits=6),
    "greedy": dict(bits=6, shards=8, group_kl=24.0, max_group=64),
    "importance": dict(bits=10, max_group=16, outlier_kl=8.0, margin=1.0),
}


@pytest.fixture(scope="module")
def latent():
    return synthetic_latent((4, 6, 8), informative=0.4, kl_bits=300.0, seed=3)


def bits_equal(a, b):
    return a.shape == b.shape and np.array_equal(np.asarray(a).view(np.uint64), np.asarray(b).view(np.uint64))


@pytest.mark.parametrize("name", UNBOUND)
def test_roundtrip_exact_and_bits_add_up(name, latent):
    q, p = latent
    s = make(name, **SMALL[name])
    msg = s.encode(q, p, seed=42)
    data = msg.to_bytes()
    assert isinstance(data, bytes)
    assert msg.total_bits == 8 * len(data)
    assert msg.index_bits + msg.side_bits + msg.outlier_bits == msg.total_bits
    assert min(msg.index_bits, msg.side_bits, msg.outlier_bits) >= 0
    assert msg.kl_bits == pytest.approx(q.kl_bits(p))
    assert msg.sample.shape == q.shape and msg.sample.dtype == np.float64
    z = s.decode(data, p, seed=42)
    assert bits_equal(z, msg.sample)
    # a decoder built with other parameters reads them from the message
    other = make(name)
    assert bits_equal(other.decode(data, p, seed=42), msg.sample)
    # deterministic encoder
    assert msg.to_bytes() == s.encode(q, p, seed=42).to_bytes()


@pytest.mark.parametrize("name", UNBOUND)
def test_registry_and_params(name):
    s = make(name, **SMALL[name])
    assert s.name == name
    assert isinstance(s.params, dict)
    assert all(isinstance(v, (int, float, str)) for v in s.params.values())
    again = make(s.name, **s.params)
    assert again.params == s.params
    with pytest.raises(RecError):
        make("nope")
    with pytest.raises(RecError):
        make(name, no_such_parameter=1)


@pytest.mark.parametrize("name", UNBOUND)
def test_wrong_seed_or_prior_gives_other_sample_not_crash(name, latent):
    q, p = latent
    s = make(name, **SMALL[name])
    msg = s.encode(q, p, seed=7)
    data = msg.to_bytes()
    z_seed = s.decode(data, p, seed=8)
    assert z_seed.shape == q.shape and not np.allclose(z_seed, msg.sample)
    p2 = DiagonalGaussian(p.mean + 0.5, p.std * 1.3)
    z_prior = s.decode(data, p2, seed=7)
    assert z_prior.shape == q.shape and not np.allclose(z_prior, msg.sample)
    # a prior of another size: the group layout no longer adds up (importance, greedy); the
    # rejection message holds no count: one more dimension is one more symbol read from the
    # range coder (the container's header fixes the size), one fewer leaves bytes over
    for extra in (5, -5):
        p3 = DiagonalGaussian(np.zeros(q.size + extra), np.ones(q.size + extra))
        if name == "rejection" and extra > 0:
            assert s.decode(data, p3, seed=7).shape == p3.shape
        else:
            with pytest.raises(FormatError, match="group sizes add up" if name != "rejection" else "trailing bytes"):
                s.decode(data, p3, seed=7)


@pytest.mark.parametrize("name", UNBOUND)
def test_float_noise_in_prior_moves_sample_slightly(name, latent):
    """docs/design.md §3: all discrete decisions are in the bytes, so a decoder whose
    prior differs in the last bits decodes a sample that differs only slightly."""
    q, p = latent
    s = make(name, **SMALL[name])
    msg = s.encode(q, p, seed=11)
    noisy = DiagonalGaussian(p.mean * (1 + 1e-9), p.std * (1 - 1e-9))
    z = s.decode(msg.to_bytes(), noisy, seed=11)
    assert np.max(np.abs(z - msg.sample)) < 1e-6


@pytest.mark.parametrize("name", UNBOUND)
def test_garbage_raises_format_error_or_decodes(name, latent):
    q, p = latent
    s = make(name, **SMALL[name])
    data = s.encode(q, p, seed=5).to_bytes()
    rng = np.random.default_rng(0)
    cases = [b"", b"\x00", bytes([data[0]]), data[:-1], data + b"\x00", data[: len(data) // 2]]
    cases += [rng.bytes(int(n)) for n in rng.integers(1, 200, size=20)]
    cases += [bytes([data[0]]) + rng.bytes(int(n)) for n in rng.integers(1, 200, size=20)]
    for _ in range(30):
        b = bytearray(data)
        i = int(rng.integers(len(b)))
        b[i] ^= 1 << int(rng.integers(8))
        cases.append(bytes(b))
    t0 = time.time()
    for case in cases:
        try:
            z = s.decode(case, p, seed=5)
        except FormatError:
            continue
        assert z.shape == q.shape
    assert time.time() - t0 < 30
    other = next(n for n in UNBOUND if n != name)
    with pytest.raises(FormatError):
        make(other, **SMALL[other]).decode(data, p, seed=5)
    with pytest.raises(FormatError):
        s.decode("not bytes", p, seed=5)


def test_bad_arguments():
    q, p = synthetic_latent((2, 3, 4), kl_bits=20.0)
    for cls in (RejectionSampler, GreedySampler, ImportanceSampler):
        with pytest.raises(RecError):
            cls(bits=0)
        s = cls(bits=4)
        with pytest.raises(RecError):
            s.encode(q, p.flatten(), seed=1)
        with pytest.raises(RecError):
            s.encode(q, p, seed=-1)


@pytest.mark.parametrize("name", UNBOUND)
def test_inspect_reads_the_encoders_accounting_from_the_bytes(name, latent):
    q, p = latent
    s = make(name, **SMALL[name])
    msg = s.encode(q, p, seed=11)
    bits = make(name).inspect(msg.to_bytes(), q.shape)  # another instance: everything is in the message
    assert (bits.index_bits, bits.side_bits, bits.outlier_bits) == (msg.index_bits, msg.side_bits, msg.outlier_bits)
    assert bits.outliers == msg.stats["outliers"]
    assert bits.groups == msg.stats.get("indexed_groups")  # None for rejection: no groups
    with pytest.raises(FormatError):
        s.inspect(msg.to_bytes()[:-3] if name != "rejection" else msg.to_bytes()[:2], q.shape)
