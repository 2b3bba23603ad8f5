"""rec.samplers.outliers: fixed-point quantization at the posterior's scale and its range code."""

import numpy as np

from rec.samplers.outliers import decode_outliers, dequantize_outliers, encode_outliers, quantize_outliers


def test_outlier_quantization_and_coding():
    rng = np.random.default_rng(2)
    u = np.array([0.0, 1e-9, -0.3, 1.0, -5.5, 16.0, 1000.0, -40000.0, 3.0, 2.0**60])
    s = np.array([1.0, 1e-12, 0.01, 3.0, 1e-4, 1e-15, 0.5, 2.0, 1e-300, 1.0])
    dither = rng.uniform(-0.5, 0.5, u.size)
    e, v = quantize_outliers(u, s, dither)
    back = dequantize_outliers(e, v, dither)
    step = 2.0 ** -e
    assert np.all(np.abs(back - u)[:-1] <= 0.5 * step[:-1] * (1 + 1e-12))  # last: 2**60 is clipped
    fine = (np.abs(u) / s < 2.0**48) & (np.abs(u) < 2.0**55)  # else the step is capped
    assert np.all(step[fine] <= s[fine] / 4)
    e2, v2 = decode_outliers(encode_outliers(e, v), e.size)
    assert np.array_equal(e2, e) and np.array_equal(v2, v)
    # random values of all magnitudes round-trip through the coder
    v = np.clip(rng.standard_normal(300) * 2.0 ** rng.integers(0, 52, 300), -(2**52 - 1), 2**52 - 1).astype(np.int64)
    e = rng.integers(-8, 56, 300)
    e2, v2 = decode_outliers(encode_outliers(e, v), 300)
    assert np.array_equal(e2, e) and np.array_equal(v2, v)
    assert decode_outliers(encode_outliers(e[:0], v[:0]), 0)[0].size == 0
