"""The rate embedding and modulations of variable-rate models (rec.models.rate)."""

import math

import numpy as np
import pytest
import torch

from rec.errors import RecError
from rec.models.pln import PLN, ModelConfig
from rec.models.rate import Modulation, RateEmbedding

TINY = dict(N=8, M=6, F=8, G=4)


def test_weights_sum_to_one_and_are_piecewise_linear_in_log_beta():
    emb = RateEmbedding(0.05, 5.0, knots=8)
    betas = torch.exp(torch.linspace(math.log(0.05), math.log(5.0), 401, dtype=torch.float64))
    w = emb(betas).double()
    assert torch.allclose(w.sum(1), torch.ones(401, dtype=torch.float64), atol=1e-6)
    # at a knot the weights are one-hot; between knots at most two are non-zero
    knots = torch.exp(emb.first + emb.step * torch.arange(8, dtype=torch.float64))
    assert torch.allclose(emb(knots), torch.eye(8), atol=1e-5)
    assert ((w.abs() > 1e-9).sum(1) <= 2).all()
    # piecewise linear in log β: second differences vanish except at knots; no jump anywhere
    assert (w[1:] - w[:-1]).abs().max() < 2 * (math.log(100) / 400) / emb.step
    # the outer half bins extrapolate: the weights keep moving there (no flat stretch)
    assert not torch.allclose(emb(torch.tensor([0.05], dtype=torch.float64)), emb(knots[:1]))
    assert not torch.allclose(emb(torch.tensor([5.0], dtype=torch.float64)), emb(knots[-1:]))


def test_range_checks():
    with pytest.raises(RecError, match="beta_min < beta_max"):
        RateEmbedding(1.0, 0.5)
    emb = RateEmbedding(0.1, 1.0)
    assert emb.check(0.1) == 0.1
    with pytest.raises(RecError, match="outside this model's range"):
        emb.check(1.5)
    with pytest.raises(RecError, match="variable-rate model needs"):
        ModelConfig(beta=2.0, beta_min=0.1, beta_max=1.0)


def test_modulation_starts_as_identity_and_acts_per_channel():
    mod = Modulation(3, knots=4)
    h = torch.randn(2, 3, 5, 5)
    w = torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0]])
    assert torch.equal(mod(h, w), h)
    with torch.no_grad():
        mod.log_gain[1, 2] = math.log(3.0)
        mod.shift[2, 0] = 1.0
    out = mod(h, w)
    assert torch.equal(out[0], h[0])  # image 0 sits on knot 0, untouched
    assert torch.allclose(out[1, 2], h[1, 2] * 3.0 ** 0.5)
    assert torch.allclose(out[1, 0], h[1, 0] + 0.5)
    assert torch.equal(out[1, 1], h[1, 1])


def test_variable_rate_model_takes_beta_per_image_and_refuses_it_when_fixed():
    torch.manual_seed(0)
    vr = PLN(ModelConfig(kind="gamma-pln", posterior="residual", beta=0.3, beta_min=0.1, beta_max=1.0, gamma_inf=0.001, **TINY))
    with torch.no_grad():  # make the rate matter: modulations that differ per knot
        for p in vr.modulations.parameters():
            p.normal_(0, 0.5)
        vr.log_gamma.copy_(torch.linspace(-3, -1, vr.config.knots))
    x = torch.rand(2, 3, 64, 64)
    both = vr(x, sample=False, beta=torch.tensor([0.1, 1.0], dtype=torch.float64))
    one = vr(x[:1], sample=False, beta=torch.tensor([0.1], dtype=torch.float64))
    assert torch.allclose(both.x_hat[:1], one.x_hat, atol=1e-5)  # each image at its own β
    other = vr(x[:1], sample=False, beta=torch.tensor([1.0], dtype=torch.float64))
    assert not torch.allclose(other.x_hat, one.x_hat, atol=1e-3)
    g = vr.gamma(vr.rate_weights(torch.tensor([0.1, 1.0], dtype=torch.float64)))
    # log γ linear over the knots -3 … -1 (slope 2/7 a knot), extrapolated half a knot at each end
    assert g.shape == (2,)
    assert g[0].item() == pytest.approx(math.exp(-3 - 1 / 7), rel=1e-4) and g[1].item() == pytest.approx(math.exp(-1 + 1 / 7), rel=1e-4)
    with pytest.raises(RecError, match="outside"):
        vr.analyze(x[:1], beta=2.0)
    fixed = PLN(ModelConfig(kind="gamma-pln", **TINY))
    with pytest.raises(RecError, match="fixed rate"):
        fixed.analyze(x[:1], beta=0.5)


def _encoder_mean_gradient(posterior: str, prior_log_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel: the encoder's share of the posterior mean ∂μq/∂μx and the gradient of the
    reconstruction loss reaching the encoder mean, with every prior scale forced to e^prior_log_std."""
    torch.manual_seed(4)
    model = PLN(ModelConfig(kind="gamma-pln", posterior=posterior, **TINY))
    with torch.no_grad():  # the last level-2 synthesis layer gives (μp, log σp): pin log σp
        last = model.synthesis2[-1]
        last.weight[TINY["M"]:] = 0
        last.bias[TINY["M"]:] = prior_log_std
    x = torch.rand(2, 3, 64, 64)
    a = model.analyze(x)
    mu_x = a.level1.mean.detach().requires_grad_(True)
    enc = type(a.level1)(mu_x, a.level1.std.detach())
    p1 = model.level1_prior(a.q2.mean.detach())
    q1 = model.level1_posterior(enc, p1)
    share = torch.autograd.grad(q1.mean.sum(), mu_x, retain_graph=True)[0].mean(dim=(0, 2, 3))
    distortion = (model.synthesize(q1.mean) - x).abs().mean()
    grad = torch.autograd.grad(distortion, mu_x)[0].abs().mean(dim=(0, 2, 3))
    return share, grad


def test_the_residual_posterior_cannot_lock_a_channel():
    """The trap of the precision-weighted posterior, and its absence in the residual form.

    With the prior's σ forced to e⁻⁶ (what collapsed channels of the old γ-PLNs had), the
    precision form leaves the encoder a share σx⁻²/(σx⁻² + σp⁻²) < 1e-3 of the posterior
    mean and its gradient falls below 1 % of the normal one. The residual form keeps a
    share of exactly 1 in every channel (the floor this test states) and the same gradient.
    """
    share_p, grad_p = _encoder_mean_gradient("precision", -6.0)
    share_p0, grad_p0 = _encoder_mean_gradient("precision", 0.0)
    assert (share_p < 1e-3).all() and (grad_p < 0.01 * grad_p0).all()
    share_r, grad_r = _encoder_mean_gradient("residual", -6.0)
    share_r0, grad_r0 = _encoder_mean_gradient("residual", 0.0)
    assert torch.allclose(share_r, torch.ones_like(share_r)) and torch.allclose(share_r0, torch.ones_like(share_r0))
    assert (grad_r > 0.5 * grad_r0).all()


def test_residual_kl_is_relative_to_the_prior():
    model = PLN(ModelConfig(kind="gamma-pln", posterior="residual", **TINY))
    from rec.models.pln import Normal

    prior = Normal(torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0]))
    enc = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.5]))  # Δμ, Δσ
    q = model.level1_posterior(enc, prior)
    assert torch.allclose(q.mean, torch.tensor([1.0, -1.0])) and torch.allclose(q.std, torch.tensor([0.5, 1.0]))
    kl = q.kl(prior)
    expected = 0.5 * (enc.std**2 + enc.mean**2 / prior.std**2 - 1 - torch.log(enc.std**2))
    assert torch.allclose(kl, expected)
    assert kl[0].item() == pytest.approx(0.0, abs=1e-7)  # Δμ = 0, Δσ = 1: the prior itself
    np.testing.assert_allclose(float(kl[1]), 0.5 * (0.25 + 0.25 - 1 - math.log(0.25)), rtol=1e-6)


def test_range_ends_computed_in_floating_point_are_the_ends():
    import math

    from rec.models.rate import RateEmbedding

    e = RateEmbedding(0.03, 80.0, 8)
    assert e.check(math.exp(math.log(0.03))) == 0.03 and e.check(80.0 * (1 + 1e-12)) == 80.0
    with pytest.raises(RecError, match="outside this model's range"):
        e.check(0.0299)
    with pytest.raises(RecError, match="outside this model's range"):
        e.check(80.01)
