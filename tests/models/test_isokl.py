"""The iso-KL posterior (rec/models/isokl.py): its KL is the budget, whatever the encoder says."""

import numpy as np
import pytest
import torch
from scipy.special import lambertw

from rec.models.isokl import iso_kl_posterior, iso_std_ratio, kl_nats


def test_the_std_ratio_solves_its_equation_and_matches_lambert_w():
    r = torch.tensor([0.0, 1e-10, 1e-4, 0.01, 0.3, 0.99, 1.0, 2.0, 7.0, 15.0], dtype=torch.float64)
    s = iso_std_ratio(r)
    assert torch.all((s > 0) & (s <= 1))
    assert torch.allclose(-torch.log(s) + s * s / 2 - 0.5, r, atol=1e-12, rtol=0)
    u = -lambertw(-np.exp(-1 - 2 * r[1:].numpy())).real  # s² = −W0(−e^(−1−2r))
    assert np.allclose(s[1:].numpy() ** 2, u, rtol=1e-9, atol=1e-12)


def test_the_kl_is_the_budget_whatever_the_offset():
    g = torch.Generator().manual_seed(0)
    n = 20000
    offset = torch.randn(n, generator=g, dtype=torch.float64) * 5
    pm = torch.randn(n, generator=g, dtype=torch.float64)
    ps = torch.rand(n, generator=g, dtype=torch.float64) * 3 + 0.01
    kappa = torch.rand(n, generator=g, dtype=torch.float64) * 7
    kappa[:1000] = 0
    mean, std = iso_kl_posterior(offset, pm, ps, kappa)
    assert torch.allclose(kl_nats(mean, std, pm, ps), kappa, atol=1e-9, rtol=0)
    # a zero budget is the prior itself (to within the 1e-6 guard on the offset's range)
    assert torch.allclose(mean[:1000], pm[:1000], atol=1e-5) and torch.allclose(std[:1000], ps[:1000])


def test_the_encoder_and_the_budget_get_finite_gradients_at_and_near_zero():
    offset = torch.linspace(-2, 2, 401, requires_grad=True)  # within 4 prior stds (0.5)
    kappa = torch.cat([torch.zeros(100), torch.full((100,), 1e-9), torch.rand(201) * 5]).requires_grad_()
    mean, std = iso_kl_posterior(offset, torch.zeros(401), torch.full((401,), 0.5), kappa)
    (mean.square().sum() + std.sum()).backward()
    assert torch.isfinite(offset.grad).all() and torch.isfinite(kappa.grad).all()
    # with budget to spend, the encoder's offset moves the mean (no channel is locked by the prior;
    # far beyond √(2κ) prior stds the tanh saturates, as the module docstring says)
    assert (offset.grad[200:].abs() > 0).float().mean() > 0.9


@pytest.mark.parametrize("kappa_bits", [0.5, 3.0])
def test_a_sample_of_the_posterior_is_as_far_from_the_prior_as_the_budget_allows(kappa_bits):
    """Monte Carlo KL of samples (log q − log p averaged) agrees with κ: the posterior is a real Gaussian with that KL."""
    g = torch.Generator().manual_seed(1)
    n = 200000
    kappa = torch.full((n,), kappa_bits * np.log(2), dtype=torch.float64)
    offset = torch.full((n,), 0.7, dtype=torch.float64)
    mean, std = iso_kl_posterior(offset, torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64), kappa)
    z = mean + std * torch.randn(n, generator=g, dtype=torch.float64)
    log_ratio = (-0.5 * ((z - mean) / std) ** 2 - torch.log(std)) - (-0.5 * z**2)
    assert log_ratio.mean().item() == pytest.approx(kappa[0].item(), abs=5 * log_ratio.std().item() / np.sqrt(n))


def test_an_isokl_model_trains_its_budgets_through_the_rate_and_the_distortion():
    from tests.helpers import image_batch, tiny_isokl_model

    model = tiny_isokl_model().train()
    x = image_batch(1, 2, size=64)
    beta = torch.tensor([0.3, 2.0], dtype=torch.float64)
    torch.manual_seed(7)
    losses = model(x, beta=beta)
    assert torch.isfinite(losses.loss)
    losses.loss.backward()
    grads = [p.grad for p in model.kappa.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert model.analysis1[0].weight.grad.abs().sum() > 0  # the encoder's offset is trained too
    # the level-1 rate is the budgets' sum (bits per image), what the coder will spend
    with torch.no_grad():
        torch.manual_seed(7)
        a = model.analyze(x, beta)
        z2 = a.q2.sample(torch.randn_like(a.q2.mean))  # the forward's first draw
        kappa = model.kappa(z2, beta)
    assert kappa.sum().item() > 0
    assert losses.kl1_bits.item() == pytest.approx(kappa.sum().item() / 2, rel=1e-5)
