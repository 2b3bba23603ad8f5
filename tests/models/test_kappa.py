"""KappaNet (rec/models/kappa.py): integer budgets, identical on every run, as the training graph computes them."""

import numpy as np
import torch

from rec.models.kappa import LEVELS_PER_BIT, MAX_LEVEL, KappaNet, beta_feature
from tests.helpers import tiny_isokl_model


def _net(seed=0):
    torch.manual_seed(seed)
    net = KappaNet(4, 8, width=16)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.5)
        net.out.bias.uniform_(-1, 5)
    return net


def test_levels_are_integers_in_range_and_equal_the_training_graph():
    net = _net()
    z2 = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(2)) * 2
    beta = torch.tensor([0.2, 3.0], dtype=torch.float64)
    levels = net.levels(z2, beta)
    assert levels.dtype == np.int32 and levels.shape == (2, 8, 12, 20)
    assert levels.min() >= 0 and levels.max() <= MAX_LEVEL and len(np.unique(levels)) > 10
    bits = net(z2, beta).detach().numpy()
    assert np.abs(bits * LEVELS_PER_BIT - levels).max() < 1e-3  # float32 training graph = the integer one here


def test_levels_are_the_same_for_any_thread_count_and_depend_on_beta():
    net = _net(1)
    z2 = torch.randn(1, 4, 9, 7, generator=torch.Generator().manual_seed(3))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net.levels(z2, 0.5)
        torch.set_num_threads(2)
        two = net.levels(z2, 0.5)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, two)
    assert not np.array_equal(one, net.levels(z2, 3.0))


def test_levels_ignore_float_noise_everywhere_else_in_the_model():
    """The layout depends on z2, β and KappaNet's integer weights only: perturbing the float networks
    (the prior's synthesis) changes no level."""
    model = tiny_isokl_model()
    z2 = torch.randn(1, 4, 2, 3, generator=torch.Generator().manual_seed(4))
    before = model.level1_budget(z2, 0.7)
    with torch.no_grad():
        for p in model.synthesis2.parameters():
            p.mul_(1 + 1e-5 * torch.randn(p.shape))
    assert np.array_equal(before, model.level1_budget(z2, 0.7))
    assert before.max() > 0 and (before == 0).any()


def test_the_beta_feature_is_exact_and_monotone():
    betas = np.geomspace(0.01, 100, 2000)
    f = beta_feature(torch.tensor(betas)).numpy()
    assert np.all(np.diff(f) >= 0) and np.array_equal(f, np.round(f))
    assert beta_feature(1.0).item() == 0 and beta_feature(2.0).item() == 16 and beta_feature(0.5).item() == -16
