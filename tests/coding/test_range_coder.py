"""Range coder: exact round trips, size vs information content, robustness."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rec.coding import (
    TAIL_BYTES,
    AdaptiveModel,
    RangeDecoder,
    RangeEncoder,
    StaticModel,
    UniformModel,
)
from rec.errors import FormatError, RecError

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def size_bound(info_bits: float) -> float:
    """Compressed size allowed by the spec: information + 0.1 % + 64 bits."""
    return info_bits * 1.001 + 64


def decode_all(data, n, model):
    dec = RangeDecoder(data)
    out = dec.decode(n, model)
    dec.finish()
    return out


def make_model(kind: str, n: int, p: np.ndarray):
    if kind == "static":
        return StaticModel.from_probabilities(p)
    if kind == "adaptive":
        return AdaptiveModel(n)
    return UniformModel(n)


@st.composite
def segments(draw, max_len=100_000):
    """A list of (model kind, alphabet size, probabilities, symbols)."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.one_of(st.integers(1, 20), st.sampled_from([256, 4096, 2**17]),
                           st.integers(1, 2**17)))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        concentration = draw(st.sampled_from([0.01, 0.3, 1.0, 100.0]))
        p = rng.dirichlet(np.full(n, concentration)) if n > 1 else np.ones(1)
        p = np.maximum(p, 0)
        length = draw(st.one_of(st.integers(0, 50), st.integers(0, max_len)))
        kind = draw(st.sampled_from(["static", "adaptive", "uniform"]))
        symbols = rng.choice(n, size=length, p=p / p.sum())
        out.append((kind, n, p, symbols))
    return out


@SETTINGS
@given(segments())
def test_round_trip_interleaved_models(segs):
    enc = RangeEncoder()
    info = 0.0
    for kind, n, p, symbols in segs:
        model = make_model(kind, n, p)
        info += model.information_bits(symbols)
        enc.encode(symbols, model)
    data = enc.finish()
    assert 8 * len(data) <= size_bound(info)
    dec = RangeDecoder(data)
    for kind, n, p, symbols in segs:
        out = dec.decode(len(symbols), make_model(kind, n, p))
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, symbols)
    dec.finish()


@SETTINGS
@given(st.integers(1, 2**17), st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_many_small_calls_alternating_models(n, seed, calls):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n))
    chunks = [rng.integers(0, n, size=rng.integers(0, 30)) for _ in range(calls)]
    side = [rng.integers(0, 17, size=rng.integers(0, 5)) for _ in range(calls)]
    enc, static, adaptive = RangeEncoder(), StaticModel.from_probabilities(p), AdaptiveModel(17)
    for c, s in zip(chunks, side):
        enc.encode(c, static)
        enc.encode(s, adaptive)
    data = enc.finish()
    dec, static, adaptive = RangeDecoder(data), StaticModel.from_probabilities(p), AdaptiveModel(17)
    for c, s in zip(chunks, side):
        np.testing.assert_array_equal(dec.decode(len(c), static), c)
        np.testing.assert_array_equal(dec.decode(len(s), adaptive), s)
    dec.finish()


@pytest.mark.parametrize("n", [2, 1000, 2**17])
def test_extreme_distribution_costs_almost_nothing(n):
    counts = np.zeros(n)
    counts[0], counts[1] = 1e9 - 1, 1  # p(0) = 1 - 1e-9
    model = StaticModel.from_counts(counts, alpha=1e-9)
    symbols = np.zeros(100_000, np.int64)
    symbols[[10, 50_000]] = [1, n - 1]  # two rare symbols (~24 bits each)
    info = model.information_bits(symbols)
    enc = RangeEncoder()
    enc.encode(symbols, model)
    data = enc.finish()
    assert 8 * len(data) <= size_bound(info)
    dec = RangeDecoder(data)
    np.testing.assert_array_equal(dec.decode(len(symbols), model), symbols)
    dec.finish()


def test_single_symbol_alphabet_and_empty_message_write_nothing():
    enc = RangeEncoder()
    enc.encode(np.zeros(1000, np.int64), StaticModel([1]))
    enc.encode([], AdaptiveModel(5))
    assert enc.finish() == b""
    dec = RangeDecoder(b"")
    assert dec.decode(1000, StaticModel([1])).tolist() == [0] * 1000
    assert dec.decode(0, UniformModel(3)).shape == (0,)
    dec.finish()


def test_raw_fields_cost_exactly_their_width():
    rng = np.random.default_rng(3)
    for bits in (1, 8, 14, 20, 24):
        symbols = rng.integers(0, 2**bits, size=4000)
        enc = RangeEncoder()
        enc.encode(symbols, UniformModel(2**bits))
        data = enc.finish()
        assert len(data) <= 4000 * bits // 8 + 1
        np.testing.assert_array_equal(RangeDecoder(data).decode(4000, UniformModel(2**bits)),
                                      symbols)


# -- bit-exact reference: the same algorithm with unbounded Python integers ------------

def reference_encode(calls) -> bytes:
    """Arbitrary-precision version of the coder: no carries, no window."""
    low, rng, shifted = 0, 1 << 56, 0  # low is measured in units of 2**-(56 + 8 shifted)
    for symbols, freqs in calls:
        cum = np.concatenate([[0], np.cumsum(freqs)]).tolist()
        total = cum[-1]
        for s in symbols:
            r = rng // total
            low += r * cum[s]
            rng = r * (cum[s + 1] - cum[s])
            while rng < 1 << 48:
                low <<= 8
                rng <<= 8
                shifted += 1
    for nbytes in range(8):
        unit = 1 << (8 * (7 - nbytes))
        v = -(-low // unit) * unit
        if v < low + rng:
            break
    return (v >> (8 * (7 - nbytes))).to_bytes(shifted + nbytes, "big")


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 2**32 - 1), st.integers(0, 3000)),
                min_size=1, max_size=3))
def test_bytes_match_unbounded_precision_reference(spec):
    calls = []
    for n, seed, length in spec:
        rng = np.random.default_rng(seed)
        # skewed toward the top of the interval: carries through 0xFF runs are common
        freqs = rng.integers(1, 2**rng.integers(1, 22), size=n)  # sum < 2**24
        if rng.random() < 0.5:
            freqs[-1] = 2**24 - freqs[:-1].sum()
        symbols = np.where(rng.random(length) < 0.95, n - 1, rng.integers(0, n, size=length))
        calls.append((symbols, freqs))
    enc = RangeEncoder()
    for symbols, freqs in calls:
        enc.encode(symbols, StaticModel(freqs))
    assert enc.finish() == reference_encode(calls)


def straddling_symbols(freqs, steps: int) -> np.ndarray:
    """Symbols whose intervals all contain the point 1/2, then one above it.

    The coded interval straddles 0x80000...: the encoder writes 0x7F 0xFF 0xFF ...
    and the last symbol carries through the whole run, giving 0x80 0x00 0x00 ...
    """
    cum = np.concatenate([[0], np.cumsum(freqs)]).tolist()
    total = cum[-1]
    low, rng, x = 0, 1 << 56, 1 << 55
    out = []
    for _ in range(steps):
        r = rng // total
        t = (x - low) // r
        s = int(np.searchsorted(cum, t, side="right")) - 1
        if s >= len(freqs):  # x fell in the unused top sliver of the range
            break
        out.append(s)
        low += r * cum[s]
        rng = r * (cum[s + 1] - cum[s])
        while rng < 1 << 48:
            low, rng, x = low << 8, rng << 8, x << 8
    out.append(len(freqs) - 1)
    return np.array(out, np.int64)


def test_carry_through_long_ff_run_matches_reference():
    freqs = np.array([5, 7, 11, 13])
    symbols = straddling_symbols(freqs, 200)
    enc = RangeEncoder()
    enc.encode(symbols, StaticModel(freqs))
    data = enc.finish()
    assert data == reference_encode([(symbols, freqs)])
    assert data.startswith(b"\x80" + b"\x00" * 40)  # carried through >= 40 bytes of 0xFF
    np.testing.assert_array_equal(decode_all(data, len(symbols), StaticModel(freqs)), symbols)


def test_golden_bytes():
    """Pins the bitstream: changing the coder changes every rec file."""
    enc = RangeEncoder()
    enc.encode([0, 1, 2, 3, 2, 1, 0], StaticModel([1, 2, 3, 4]))
    enc.encode([5, 5, 5, 0, 31], AdaptiveModel(32, increment=8))
    enc.encode([1023, 0, 512], UniformModel(1024))
    data = enc.finish()
    assert data.hex() == "05388fde6ac4b81a"
    dec = RangeDecoder(data)
    assert dec.decode(7, StaticModel([1, 2, 3, 4])).tolist() == [0, 1, 2, 3, 2, 1, 0]
    assert dec.decode(5, AdaptiveModel(32, increment=8)).tolist() == [5, 5, 5, 0, 31]
    assert dec.decode(3, UniformModel(1024)).tolist() == [1023, 0, 512]
    dec.finish()


# -- robustness ----------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.lists(st.tuples(st.sampled_from(["static", "adaptive",
                                                                    "uniform"]),
                                                   st.integers(1, 300), st.integers(0, 500)),
                                         min_size=1, max_size=4))
def test_garbage_raises_format_error_or_returns(data, calls):
    dec = RangeDecoder(data)
    for kind, n, count in calls:
        p = np.arange(1, n + 1, dtype=np.float64) ** 2
        try:
            out = dec.decode(count, make_model(kind, n, p))
        except FormatError:
            return
        assert out.shape == (count,)
        assert out.min(initial=0) >= 0 and out.max(initial=0) < n
    try:
        dec.finish()
    except FormatError:
        pass


def test_truncation_and_trailing_bytes_are_detected():
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(64))
    symbols = rng.choice(64, size=500, p=p)
    enc = RangeEncoder()
    enc.encode(symbols, StaticModel.from_probabilities(p))
    data = enc.finish()
    model = StaticModel.from_probabilities(p)
    np.testing.assert_array_equal(decode_all(data, len(symbols), model), symbols)
    # more than TAIL_BYTES missing: decoding runs past the allowance
    with pytest.raises(FormatError, match="truncated"):
        RangeDecoder(data[: len(data) - TAIL_BYTES - 1]).decode(len(symbols), model)
    # Any truncation or extension either fails or decodes other symbols: if the
    # symbols were the same, the recomputed termination would expose the length.
    variants = [data[:k] for k in range(len(data))]
    variants += [data + bytes([b]) * k for b in (0, 1, 255) for k in (1, 2, 8)]
    for bad in variants:
        try:
            out = decode_all(bad, len(symbols), model)
        except FormatError:
            continue
        assert not np.array_equal(out, symbols)
    with pytest.raises(FormatError, match="trailing"):
        decode_all(data + b"\x00", len(symbols), model)
    with pytest.raises(FormatError, match="truncated"):
        decode_all(data[:-1], len(symbols), model)


def test_point_outside_every_interval_is_a_format_error():
    # A model whose total does not fill the range: 0xFF... decodes past it.
    with pytest.raises(FormatError, match="corrupt"):
        RangeDecoder(b"\xff" * 8).decode(1, UniformModel(3))


def test_encoder_argument_errors():
    enc = RangeEncoder()
    with pytest.raises(RecError, match="lie in"):
        enc.encode([0, 4], UniformModel(4))
    with pytest.raises(RecError, match="integers"):
        enc.encode(np.array([0.5]), UniformModel(4))
    with pytest.raises(RecError, match="FrequencyModel"):
        enc.encode([0], object())
    enc.finish()
    with pytest.raises(RecError, match="after finish"):
        enc.encode([0], UniformModel(4))
    with pytest.raises(RecError, match="negative"):
        RangeDecoder(b"").decode(-1, UniformModel(4))
