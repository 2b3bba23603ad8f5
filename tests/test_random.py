"""rec.random: golden vectors, bit-exactness, distribution and independence."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri

import rec.random as R
from rec.inverse_normal import approx_table
from rec.errors import RecError

GOLDEN = json.loads((Path(__file__).parent / "data" / "random_golden.json").read_text())
MASK = (1 << 64) - 1


def _py_raw(seed: int, stream: int, i: int) -> int:
    """Third, pure-Python-int implementation of the construction in the docstring."""
    s = R._py_mix_a(seed ^ 0x6A09E667F3BCC908)
    k1 = R._py_mix_a((s + stream * 0x9E3779B97F4A7C15) & MASK)
    k2 = R._py_mix_b(k1 ^ 0xBB67AE8584CAA73B)
    return R._py_mix_b(R._py_mix_a((k1 + i * 0x9E3779B97F4A7C15) & MASK) ^ k2)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['seed']}-{c['stream']}")
def test_golden(case):
    idx = np.array([int(i) for i in case["index"]], dtype=np.uint64)
    raw = R.raw(case["seed"], case["stream"], idx)
    assert [int(v) for v in raw] == [int(v) for v in case["raw"]]
    assert [_py_raw(case["seed"], case["stream"], int(i)) for i in idx] == [int(v) for v in case["raw"]]
    np.testing.assert_allclose(R.uniform(case["seed"], case["stream"], idx), case["uniform"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(R.normal(case["seed"], case["stream"], idx), case["normal"], rtol=0, atol=1e-12)


def test_golden_tails():
    p2 = np.array([int(v) for v in GOLDEN["ndtri_exact"]["p2"]], dtype=np.uint64)
    np.testing.assert_allclose(R.ndtri_exact(p2), GOLDEN["ndtri_exact"]["normal"], rtol=0, atol=1e-12)


def test_numba_equals_numpy_reference_bit_for_bit():
    idx = np.arange(300_000, dtype=np.uint64) * np.uint64(7919) + np.uint64(3)
    a = R.normal(11, 5, idx)
    b = R.normal_reference(11, 5, idx)
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64))
    assert np.array_equal(R.raw(11, 5, idx), R.raw_reference(11, 5, idx))


def test_transform_accuracy_against_scipy():
    # Lower half: p = p2 * 2**-54 is exact in float64, so scipy's ndtri is a fair reference.
    p2 = np.concatenate([
        np.arange(1, 2001, 2, dtype=np.uint64),
        (R.raw(1, 1, np.arange(50_000)) >> np.uint64(11)) | np.uint64(1),
    ])
    p2 = p2[p2 < np.uint64(1 << 53)]
    z = R.ndtri_exact(p2)
    ref = ndtri(p2.astype(np.float64) * 2.0**-54)
    assert np.max(np.abs(z - ref) / np.abs(ref)) < 1e-14
    # Symmetry: Phi^-1(1 - p) = -Phi^-1(p) exactly.
    mirror = np.uint64(1 << 54) - p2
    assert np.array_equal(R.ndtri_exact(mirror), -z)


def test_block_equals_indexed_and_shapes():
    blk = R.normal_block(3, 4, 1000, 5000)
    assert np.array_equal(blk, R.normal(3, 4, np.arange(1000, 6000)))
    assert np.array_equal(R.raw_block(3, 4, 10, 7), R.raw(3, 4, np.arange(10, 17)))
    assert np.array_equal(R.uniform_block(3, 4, 10, 7), R.uniform(3, 4, np.arange(10, 17)))
    grid = np.arange(24).reshape(2, 3, 4)
    assert R.normal(3, 4, grid).shape == (2, 3, 4)
    assert np.array_equal(R.normal(3, 4, grid).ravel(), R.normal(3, 4, grid.ravel()))
    scalar = R.normal(3, 4, 17)
    assert np.ndim(scalar) == 0 and scalar == R.normal(3, 4, [17])[0]
    assert R.normal_block(3, 4, 0, 0).shape == (0,)


def test_uniform_open_interval_and_grid():
    u = R.uniform_block(0, 0, 0, 200_000)
    assert u.min() > 0.0 and u.max() < 1.0
    assert np.all((u * 2**52 - 0.5) == np.floor(u * 2**52))  # midpoints of a 2**-52 grid
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_normals_ks_and_moments():
    z = R.normal_block(2024, 0, 0, 1_000_000)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * math.sqrt(24 / n)
    assert np.abs(z).max() < 8.3


def test_streams_and_seeds_uncorrelated():
    n = 200_000
    bound = 5 / math.sqrt(n)
    base = R.normal_block(7, 0, 0, n)
    others = [R.normal_block(7, 1, 0, n), R.normal_block(8, 0, 0, n),
              R.normal_block(7, 0, 1, n), R.normal_block(0, 7, 0, n)]
    for o in others:
        assert abs(np.corrcoef(base, o)[0, 1]) < bound
        assert abs(np.corrcoef(base**2, o**2)[0, 1]) < bound
    # lag-1 autocorrelation within a stream
    assert abs(np.corrcoef(base[:-1], base[1:])[0, 1]) < bound
    # raw bits: each bit balanced, streams differ
    bits = (R.raw_block(7, 0, 0, n)[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 5 * 0.5 / math.sqrt(n))


def test_keys_distinct_for_nearby_inputs():
    keys = {R.stream_keys(s, t) for s in range(30) for t in range(30)}
    assert len(keys) == 900


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, "3", True])
def test_bad_seed_stream_raise(bad):
    with pytest.raises(RecError):
        R.normal(bad, 0, [0])
    with pytest.raises(RecError):
        R.normal(0, bad, [0])


def test_bad_index_raises():
    with pytest.raises(RecError):
        R.normal(0, 0, [-1, 2])
    with pytest.raises(RecError):
        R.normal(0, 0, [0.5])
    with pytest.raises(RecError):
        R.normal_block(0, 0, 2**64 - 1, 2)


def test_approx_scoring_normals_close_to_exact():
    k1, k2 = R.stream_keys(3, 4)
    n = 200_000
    approx = np.empty(n)
    exact = np.empty(n)
    R.normal_fill_strided_approx(k1, k2, np.uint64(5), np.uint64(1000), approx, n, approx_table())
    R.normal_fill_strided(k1, k2, np.uint64(5), np.uint64(1000), exact, n)
    assert np.array_equal(exact, R.normal(3, 4, 5 + 1000 * np.arange(n)))
    assert np.max(np.abs(approx - exact)) < 5e-8


def test_a_block_on_several_threads_equals_the_sequential_values():
    from rec.random import PARALLEL_MIN, normal, normal_block

    n = PARALLEL_MIN + 12345
    block = normal_block(11, 4, 2**40, n)
    picks = np.array([0, 1, 4095, 4096, n // 2, n - 1])
    assert np.array_equal(block[picks], normal(11, 4, 2**40 + picks))
    assert np.array_equal(block[:1000], normal_block(11, 4, 2**40, 1000))
