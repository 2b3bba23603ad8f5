"""scripts/reference_channels.py: the reference's channels of y, counted as REC's level-1 channels are."""

import numpy as np
import pytest
import torch

from rec.evaluation.runner import EvalImage
from rec.models.joint import JointConfig
from rec.models.pln import model_input
from tests.evaluation.conftest import photo_like
from tests.helpers import lively_mbt, load_script


def test_channel_bits_add_up_to_the_models_rate_and_are_counted():
    script = load_script("reference_channels")
    net = lively_mbt(config=JointConfig(N=8, M=6, F=8, G=8, lmbda=0.01, lmbda_min=0.002, lmbda_max=0.05, knots=4))
    rgb = photo_like(3, 72, 100)  # padded to 128×128 like the codec's input
    bits = script.channel_bits(net, rgb, 0.01)
    assert bits.shape == (6,) and np.all(bits >= 0)
    with torch.no_grad():
        whole = net(model_input(rgb, 64, channels_last=False), noise=False, lmbda=torch.tensor([0.01]))
    assert bits.sum() == pytest.approx(float(whole.bits_y), rel=1e-4)  # the rate the model itself reports
    images = [EvalImage("a.png", rgb), EvalImage("b.png", photo_like(4, 64, 64))]
    rows = script.measure(net, images, [0.002, 0.05])
    for (lmbda, bpp, active), expected in zip(rows, (0.002, 0.05)):
        assert lmbda == expected and bpp > 0 and 1 <= active <= 6
