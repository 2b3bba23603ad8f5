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


def _groups(levels: np.ndarray, budget: int) -> np.ndarray:
    from rec.samplers.budget import budget_groups

    sizes, _ = budget_groups(levels.reshape(-1), budget, 1024)
    return np.repeat(np.arange(sizes.size), sizes)


def test_shared_budgets_keep_each_groups_sum_and_follow_the_encoders_logits():
    from rec.models.isokl import shared_budgets

    g = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 48, (2, 4, 6, 8), generator=g)
    levels[levels < 12] = 0
    kappa = (levels.double() / 16).requires_grad_()
    logits = (torch.randn(levels.shape, generator=g, dtype=torch.float64) * 2).requires_grad_()
    spent = shared_budgets(kappa, logits, 96)
    for i in range(2):  # each group of the coder's fill (T = 96 sixteenths) spends exactly its summed κ
        gid = _groups(levels[i].numpy(), 96)
        assert gid.max() > 5
        assert np.allclose(np.bincount(gid, spent[i].detach().numpy().reshape(-1)),
                           np.bincount(gid, kappa[i].detach().numpy().reshape(-1)), atol=1e-12, rtol=0)
    assert torch.all(spent[levels == 0] == 0) and torch.all(spent >= 0)
    # within a group the shares follow κ e^ℓ: a larger logit takes more of the budget
    assert not torch.allclose(spent, kappa)
    assert torch.allclose(shared_budgets(kappa, torch.zeros_like(logits), 96), kappa, atol=1e-12, rtol=0)  # ℓ = 0: κ
    (spent * torch.linspace(0, 1, spent.numel(), dtype=torch.float64).reshape(spent.shape)).sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0 and kappa.grad.abs().sum() > 0


def test_a_group_sharing_model_spends_its_groups_budgets_in_training_and_in_the_ideal_sample():
    from tests.helpers import image_batch, tiny_isokl_model

    model = tiny_isokl_model(group_budget=64)
    with torch.no_grad():  # the encoder's share logits (its log σx) away from 0
        model.analysis1[-1].bias[model.config.M:].normal_(0, 1.5)
    x = image_batch(1, size=128)
    beta = torch.tensor([0.5], dtype=torch.float64)
    with torch.no_grad():
        torch.manual_seed(5)
        losses = model.train()(x, beta=beta)
        torch.manual_seed(5)
        a = model.analyze(x, beta)
        z2 = a.q2.sample(torch.randn_like(a.q2.mean))
        kappa = model.kappa(z2, beta)
    assert losses.kl1_bits.item() == pytest.approx(kappa.sum().item(), rel=1e-5)  # the rate is the budgets' sum
    model.eval()
    with torch.no_grad():
        latents = model.draw(model.analyze(x, 0.5), generator=torch.Generator().manual_seed(0))
        levels = model.level1_budget(latents.z2, 0.5)
        kl = kl_nats(latents.q1.mean.double(), latents.q1.std.double(), latents.p1.mean.double(),
                     latents.p1.std.double()).numpy() / np.log(2)
    gid = _groups(levels[0], 64)
    per_group = np.bincount(gid, kl[0].reshape(-1))
    assert np.allclose(per_group, np.bincount(gid, levels[0].reshape(-1) / 16), atol=1e-4)
    assert not np.allclose(kl[0].reshape(-1), levels[0].reshape(-1) / 16, atol=1e-2)  # shared, not per dimension
