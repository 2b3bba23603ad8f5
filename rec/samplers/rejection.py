"""Parallelized, bit-budgeted rejection sampler: thesis Algorithm 1 (section
3.4.1) running Harsha et al.'s rejection sampler (thesis Algorithm 4,
appendix A) independently on every dimension, exact for Gaussians.

Per dimension, in prior-standardized coordinates (proposal p = N(0, 1) -- the
*prior*, whose candidates the decoder can draw; target q = N(m, s^2) -- the
*posterior*; the thesis's appendix swaps the labels), with r(x) = q(x)/p(x)::

    c_0 = 0, p*_0 = 0
    for i = 1 .. 2**B:                      candidate x_i = normal(seed, 3, (i-1) * D + d)
        accept x_i with probability min(r(x_i) - c_{i-1}, 1 - p*_{i-1}) / (1 - p*_{i-1})
                                    if r(x_i) > c_{i-1}, else 0      (u: private, stream 8)
        c_i  = c_{i-1} + (1 - p*_{i-1})
        p*_i = integral of min(q, c_i p) = Q[r <= c_i] + c_i P[r > c_i]

The denominator is ``1 - p*_{i-1}`` (Harsha), not ``1 - p*_i`` as printed in
the thesis. ``log r`` is a quadratic in x, so ``{r > c}`` is an interval or
the complement of one, and ``1 - p*(c) = Q[r > c] - c P[r > c]`` is a sum of
normal-CDF differences at its roots (computed directly, not as 1 - p*, to
keep precision). Accepted samples are exact draws from q.

A dimension that exhausts its 2**B candidates is an outlier: a sample of the
residual ``max(q - c_N p, 0)`` (drawn by rejection from q, private stream 9;
the thesis draws from q itself, which biases the output toward p's shape)
sent in fixed point with a step of at most s/4 (``rec.samplers.outliers``;
16 bits on a fixed range, as in the thesis, cannot hold the narrow posteriors
of high-KL dimensions). With the residual, the decoded samples follow q
exactly up to that quantization.

Coding (thesis 3.5.1): one symbol per dimension, the 0-based index or the
escape 2**B, range coded with either

* ``table="static"``: the packaged table :mod:`rec.samplers.rejection_table`,
  empirical counts of indices from synthetic latents
  (``python -m rec.samplers.rejection`` refits it), Laplace-smoothed with
  ``alpha`` (thesis: 0.01);
* ``table="adaptive"``: an :class:`~rec.coding.AdaptiveModel` starting uniform.
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
from numba import njit

import rec.random as rr
from rec.bitio import ByteReader, ByteWriter
from rec.coding import AdaptiveModel, RangeEncoder, StaticModel
from rec.distributions import DiagonalGaussian
from rec.errors import FormatError, RecError
from rec.samplers.base import (STREAM_OUTLIER, STREAM_REJECTION, STREAM_SELECT, MessageBits, SampleMessage, Sampler,
                               kl_bits_per_dim, range_decoder, standardized_coefficients)
from rec.samplers.outliers import (decode_outliers, dequantize_outliers, encode_outliers, outlier_dither,
                                   quantize_outliers)
from rec.samplers.rejection_table import BITS, COUNTS

__all__ = ["RejectionSampler", "fit_index_table", "static_index_counts"]

_MAX_BITS = 16
_TABLES = ("static", "adaptive")
_SQRT1_2 = 0.7071067811865476


@njit(inline="always", cache=True)
def _upper(x):
    """P[X > x] for X ~ N(0, 1), accurate in the upper tail."""
    return 0.5 * math.erfc(x * _SQRT1_2)


@njit(inline="always", cache=True)
def _interval(lo, hi):
    """P[lo < X < hi], X ~ N(0, 1), without cancellation on either tail."""
    if hi <= lo:
        return 0.0
    if lo >= 0.0:
        return _upper(lo) - _upper(hi)
    if hi <= 0.0:
        return _upper(-hi) - _upper(-lo)
    return 1.0 - _upper(-lo) - _upper(hi)


@njit(inline="always", cache=True)
def _mass_above(m, s, a, b, c0, c):
    """1 - p*(c) = Q[r > c] - c P[r > c] for log r(x) = a x^2 + b x + c0."""
    k = c0 - math.log(c)
    # {x : a x^2 + b x + k > 0}
    if abs(a) < 1e-14:
        if b == 0.0:
            return (1.0 - c) if k > 0 else 0.0
        x0 = -k / b
        if b > 0:  # x > x0
            return _upper((x0 - m) / s) - c * _upper(x0)
        return _upper(-(x0 - m) / s) - c * _upper(-x0)
    disc = b * b - 4.0 * a * k
    if disc <= 0.0:
        if a < 0:
            return 0.0  # r <= c everywhere
        return 1.0 - c  # r > c everywhere (a > 0): Q = P = 1
    sq = math.sqrt(disc)
    qq = -0.5 * (b + sq) if b >= 0 else -0.5 * (b - sq)
    x1 = qq / a
    x2 = k / qq if qq != 0.0 else -x1
    lo = min(x1, x2)
    hi = max(x1, x2)
    if a < 0:  # inside the interval
        v = _interval((lo - m) / s, (hi - m) / s) - c * _interval(lo, hi)
    else:  # outside
        v = (1.0 - _interval((lo - m) / s, (hi - m) / s)) - c * (1.0 - _interval(lo, hi))
    return max(v, 0.0)


@njit(cache=True)
def _rejection_kernel(k1, k2, uk1, uk2, n_dims, n_cand, m, s, a, b, c0, out, c_end):
    """out[d] = 0-based accepted index, or n_cand if the budget ran out (then
    c_end[d] = c_N, the residual being max(q - c_N p, 0))."""
    D = np.uint64(n_dims)
    for d in range(n_dims):
        md, sd, ad, bd, cd = m[d], s[d], a[d], b[d], c0[d]
        c = 0.0
        rem = 1.0  # 1 - p*_{i-1}
        res = n_cand
        for i in range(n_cand):
            idx = np.uint64(i) * D + np.uint64(d)
            x = rr.normal_at(k1, k2, idx)
            ratio = math.exp(ad * x * x + bd * x + cd)
            if ratio > c:
                if rem <= 0.0:
                    res = i  # numerically all mass is assigned: the step is reached with probability 0
                    break
                acc = min(ratio - c, rem) / rem
                if rr.uniform_at(uk1, uk2, idx) < acc:
                    res = i
                    break
            c = c + rem
            rem = _mass_above(md, sd, ad, bd, cd, c)
        out[d] = res
        c_end[d] = c


@njit(cache=True)
def _residual_kernel(ok1, ok2, n_dims, dims, m, s, a, b, c0, c_end, max_tries, out):
    """Draw u from the residual max(q - c_N p, 0) (normalized) of each exhausted
    dimension by rejection from q: accept x ~ q with probability 1 - c_N / r(x).
    This makes the sampler's output exactly q (up to quantization); after
    ``max_tries`` failures the last draw from q is kept."""
    D = np.uint64(n_dims)
    for j in range(dims.shape[0]):
        d = dims[j]
        x = 0.0
        for t in range(max_tries):
            idx = np.uint64(t) * D + np.uint64(d)
            x = m[d] + s[d] * rr.normal_at(ok1, ok2, idx)
            ratio = math.exp(a[d] * x * x + b[d] * x + c0[d])
            if rr.uniform_at(ok1, ok2, idx + (np.uint64(1) << np.uint64(62))) * ratio < ratio - c_end[d]:
                break
        out[j] = x


def static_index_counts(bits: int) -> np.ndarray:
    """The packaged empirical counts folded to ``2**bits`` indices + escape."""
    full = np.asarray(COUNTS, dtype=np.float64)  # 2**BITS indices + escape
    n = 1 << bits
    if bits <= BITS:
        out = full[: n + 1].copy()
        out[n] = full[n:].sum()
        return out
    # beyond the fitted range: spread the escape mass geometrically over the new indices
    out = np.zeros(n + 1)
    out[: (1 << BITS)] = full[:-1]
    extra = np.arange((1 << BITS), n)
    tail = np.exp(-(extra - (1 << BITS)) / (1 << BITS))
    out[extra] = full[-1] * 0.5 * tail / tail.sum()
    out[n] = full[-1] * 0.5
    return out


class _Message(NamedTuple):
    """A parsed message: each dimension's index (``N`` = 2**bits: an outlier), the outliers and the bits."""

    idx: np.ndarray
    N: int
    oe: np.ndarray
    ov: np.ndarray
    bits: MessageBits | None = None


class RejectionSampler(Sampler):
    """Per-dimension Harsha rejection sampling (thesis Alg. 1 and 4).

    Args:
        bits: B: at most 2**B prior candidates per dimension (thesis: 8).
        table: "static" (packaged empirical index table) or "adaptive".
        alpha: Laplace smoothing of the static table (thesis: 0.01).
    """

    name = "rejection"
    tag = 3

    def __init__(self, bits: int = 8, table: str = "static", alpha: float = 0.01):
        if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= _MAX_BITS):
            raise RecError(f"bits must be an integer in [1, {_MAX_BITS}]")
        if table not in _TABLES:
            raise RecError(f"table must be one of {_TABLES}")
        if not 0 < alpha < 1:
            raise RecError("alpha must lie in (0, 1)")
        self.bits = int(bits)
        self.table = table
        self.alpha = float(alpha)

    @property
    def params(self) -> dict:
        return dict(bits=self.bits, table=self.table, alpha=self.alpha)

    def _model(self, bits: int, table: int, alpha: float):
        if table == 0:
            return StaticModel.from_counts(static_index_counts(bits), alpha=alpha)
        return AdaptiveModel((1 << bits) + 1)

    def indices(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int) -> np.ndarray:
        """The raw per-dimension indices (escape = 2**bits), flattened."""
        return self._run(posterior, prior, seed)[0]

    def _run(self, posterior, prior, seed):
        """(indices, standardized outlier samples)."""
        self._check_pair(posterior, prior)
        seed = self._check_seed(seed)
        m, s, a, b = standardized_coefficients(posterior, prior)
        c0 = -0.5 * m * m / (s * s) - np.log(s)
        k1, k2 = rr.stream_keys(seed, STREAM_REJECTION)
        uk1, uk2 = rr.stream_keys(seed, STREAM_SELECT)
        out = np.empty(prior.size, np.int64)
        c_end = np.empty(prior.size, np.float64)
        N = 1 << self.bits
        _rejection_kernel(k1, k2, uk1, uk2, prior.size, N, m, s, a, b, c0, out, c_end)
        odims = np.flatnonzero(out == N)
        u = np.empty(odims.size, np.float64)
        ok1, ok2 = rr.stream_keys(seed, STREAM_OUTLIER)
        _residual_kernel(ok1, ok2, prior.size, odims, m, s, a, b, c0, c_end, 10_000, u)
        return out, u

    def _encode(self, posterior: DiagonalGaussian, prior: DiagonalGaussian, seed: int) -> SampleMessage:
        idx, u = self._run(posterior, prior, seed)
        seed = int(seed)
        N = 1 << self.bits
        kl = kl_bits_per_dim(posterior, prior)
        odims = np.flatnonzero(idx == N)
        _, s, _, _ = standardized_coefficients(posterior, prior)
        oe, ov = quantize_outliers(u, s[odims], outlier_dither(seed, odims))

        table = _TABLES.index(self.table)
        alpha_code = int(round(self.alpha * 10000))
        enc = RangeEncoder()
        enc.encode(idx, self._model(self.bits, table, alpha_code / 10000))
        ac = enc.finish()
        oblob = encode_outliers(oe, ov)
        w = ByteWriter()
        w.byte(self._header_byte())
        w.varint(self.bits)
        w.varint(table)
        w.varint(alpha_code)
        w.varint(len(ac))
        header_len = len(w.getvalue())
        w.raw(ac)
        w.raw(oblob)
        payload = w.getvalue()
        sample = self._reconstruct(prior, seed, _Message(idx, N, oe, ov))
        index_bits = 8 * len(ac)
        outlier_bits = 8 * len(oblob)
        return SampleMessage.accounted(
            sample, payload, index_bits, outlier_bits, float(kl.sum()),
            outliers=int(odims.size), header_bytes=header_len,
            mean_index=float(idx[idx < N].mean()) if np.any(idx < N) else 0.0)

    def _parse(self, r: ByteReader, shape: tuple[int, ...]) -> _Message:
        D = math.prod(shape)
        bits = r.varint(_MAX_BITS)
        if bits < 1:
            raise FormatError("bits must be >= 1")
        table = r.varint(len(_TABLES) - 1)
        alpha_code = r.varint(9999)
        if alpha_code < 1:
            raise FormatError("alpha must be > 0")
        ac = r.blob(len(r.data))
        N = 1 << bits
        dec = range_decoder(ac)
        idx = dec.decode(D, self._model(bits, table, alpha_code / 10000)).astype(np.int64)
        dec.finish()
        oblob = r.rest()
        oe, ov = decode_outliers(oblob, int((idx == N).sum()))
        index_bits, outlier_bits = 8 * len(ac), 8 * len(oblob)
        counted = MessageBits(index_bits, 8 * len(r.data) - index_bits - outlier_bits, outlier_bits, None,
                            int((idx == N).sum()))
        return _Message(idx, N, oe, ov, counted)

    def _reconstruct(self, prior: DiagonalGaussian, seed: int, message: _Message) -> np.ndarray:
        idx, N, oe, ov = message[:4]
        p = prior.flatten()
        D = p.size
        d = np.arange(D, dtype=np.uint64)
        ok = idx < N
        cand = np.where(ok, idx, 0).astype(np.uint64) * np.uint64(D) + d
        x = rr.normal(seed, STREAM_REJECTION, cand)
        u = np.where(ok, x, 0.0)
        u[~ok] = dequantize_outliers(oe, ov, outlier_dither(seed, np.flatnonzero(~ok)))
        return (p.mean + p.std * u).reshape(prior.shape)


def fit_index_table(bits: int = 12, pairs=None, seeds=range(4)) -> np.ndarray:
    """Empirical index counts (``2**bits`` indices + escape) of the rejection
    sampler over ``pairs`` of (posterior, prior) -- e.g. latents of real images
    under a trained model -- or, by default, over synthetic level-1 and level-2
    latents (:mod:`rec.samplers.synthetic`), which is how the packaged table
    was made."""
    from rec.samplers.synthetic import LEVEL1_SHAPE, LEVEL2_SHAPE, synthetic_latent

    sampler = RejectionSampler(bits=bits, table="adaptive")
    counts = np.zeros((1 << bits) + 1)
    if pairs is None:
        pairs = [synthetic_latent(shape, informative=inf, kl_bits=kl, seed=100 + seed)
                 for seed in seeds
                 for shape, inf, kl in ((LEVEL1_SHAPE, 0.1, 100_000.0 * (1 + seed)),
                                        (LEVEL2_SHAPE, 0.5, 1500.0 * (1 + seed)))]
    for i, (q, p) in enumerate(pairs):
        counts += np.bincount(sampler.indices(q, p, i), minlength=counts.size)
    return counts


def _write_table(path: str, bits: int = 12) -> None:
    counts = fit_index_table(bits).astype(np.int64)
    body = ",\n    ".join(", ".join(str(int(v)) for v in counts[i:i + 16]) for i in range(0, counts.size, 16))
    with open(path, "w") as f:
        f.write(
            '"""Static index table of the rejection sampler (generated; do not edit).\n\n'
            "Counts of 0-based accepted indices (and, last, of budget escapes) of\n"
            f"RejectionSampler(bits={bits}) on synthetic level-1 and level-2 latents\n"
            "(rec.samplers.rejection.fit_index_table). Regenerate with\n"
            "``python -m rec.samplers.rejection``.\n"
            '"""\n\n'
            f"BITS = {bits}\n"
            f"COUNTS = (\n    {body},\n)\n")


if __name__ == "__main__":  # pragma: no cover - regeneration tool
    import os

    _write_table(os.path.join(os.path.dirname(__file__), "rejection_table.py"),
                 int(sys.argv[1]) if len(sys.argv) > 1 else 12)
