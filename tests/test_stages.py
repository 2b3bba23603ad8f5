import numpy as np
import pytest

from rec.codecs import brummer2021
from rec.fuzzing import smooth_image
from rec.reference import decode, encode
from rec.stages import NO_CLOCK, STAGES, Clock
from tests.helpers import lively_mbt, tiny_brummer


def test_a_clock_adds_up_named_stages_and_refuses_unknown_ones():
    clock = Clock()
    for _ in range(2):
        with clock.stage("nn"):
            sum(range(20000))
    assert set(clock.seconds) == {"nn"} and clock.seconds["nn"] > 0 and clock.total() == clock.seconds["nn"]
    with pytest.raises(ValueError, match="unknown stage"):
        with clock.stage("network"):
            pass
    with NO_CLOCK.stage("cdf"):
        pass
    assert NO_CLOCK.seconds == {}


def test_brummer_and_mbt2018_time_their_stages_on_both_sides():
    image = smooth_image(np.random.default_rng(1), 70, 90)
    net = tiny_brummer(gain=20.0)
    enc_clock, dec_clock = Clock(), Clock()
    enc = brummer2021.encode(net, image, clock=enc_clock)
    decoded = brummer2021.decode(net, enc.data, clock=dec_clock)[0]
    assert np.array_equal(decoded, enc.image)
    assert set(enc_clock.seconds) == {"nn", "cdf", "entropy_hyper", "entropy"}
    assert set(dec_clock.seconds) == {"nn", "cdf", "entropy_hyper", "entropy"}
    model = lively_mbt()
    enc_clock, dec_clock = Clock(), Clock()
    enc = encode(model, image, clock=enc_clock)
    assert np.array_equal(decode(model, enc.data, clock=dec_clock).image, enc.image)
    assert set(enc_clock.seconds) == set(STAGES)
    assert set(dec_clock.seconds) == set(STAGES) - {"entropy"}  # its decoder range-decodes ŷ inside the pass
