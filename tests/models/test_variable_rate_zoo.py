"""Shipped variable-rate models: the rate falls monotonically as β grows, and channels stay active."""

import math
from importlib.resources import files

import pytest
import torch

from rec.evaluation.latents import active_channels, draw_latents
from rec.image import read_image
from rec.models.pln import model_input
from rec.models.zoo import list_models, load_model

VARIABLE = [e.name for e in list_models() if getattr(e.config, "variable_rate", False)]


@pytest.mark.skipif(not VARIABLE, reason="no variable-rate model shipped")
@pytest.mark.parametrize("name", VARIABLE)
@torch.no_grad()
def test_rate_is_monotone_in_beta_on_a_real_photo(name):
    model = load_model(name)
    c = model.config
    rgb = read_image(files("rec") / "data" / "kodim23.png")[128:384, 256:576]  # a 256×320 crop of the sample photo
    betas = [math.exp(math.log(c.beta_min) + (math.log(c.beta_max) - math.log(c.beta_min)) * i / 6) for i in range(7)]
    kls, actives = [], []
    for beta in betas:
        a = model.analyze(model_input(rgb, c.factor), beta)
        d = draw_latents(model, a, rgb.shape[0] * rgb.shape[1], mean=True)
        kls.append(d.kl.kl_bpp)
        actives.append(active_channels(d.kl1_channels))
    assert all(x > y for x, y in zip(kls, kls[1:])), kls
    assert kls[0] > 4 * kls[-1]  # the knob spans a real range of rates
    assert min(actives) >= 0.5 * c.M, actives
