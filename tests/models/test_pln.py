import math

import pytest
import torch

from rec.errors import RecError
from rec.models.layers import GDN
from rec.models.pln import PLN, ModelConfig, Normal, negative_log_likelihood, pad_to_multiple

TINY = dict(N=8, M=6, F=8, G=4)


@pytest.mark.parametrize("kind", ["pln", "gamma-pln", "vae"])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (37, 53), (64, 128)])
def test_shapes_for_odd_sizes(kind, size):
    torch.manual_seed(0)
    model = PLN(ModelConfig(kind=kind, **TINY)).eval()
    x = torch.rand(1, 3, *size)
    xp = pad_to_multiple(x, model.config.factor)
    assert xp.shape[-2] % model.config.factor == 0 and xp.shape[-1] % model.config.factor == 0
    assert xp.shape[-2] >= size[0] and xp.shape[-1] >= size[1]
    with torch.no_grad():
        a = model.analyze(xp)
        h16, w16 = xp.shape[-2] // 16, xp.shape[-1] // 16
        assert a.level1.mean.shape == (1, 6, h16, w16)
        if kind == "vae":
            assert a.q2 is None
            z2 = None
        else:
            assert a.q2.mean.shape == (1, 4, h16 // 4, w16 // 4)
            z2 = a.q2.mean
        p1 = model.level1_prior(z2, a.level1.mean.shape)
        assert p1.mean.shape == a.level1.mean.shape
        q1 = model.level1_posterior(a.level1, p1)
        assert model.synthesize(q1.mean).shape == xp.shape


def test_kl_nonnegative_and_matches_monte_carlo():
    torch.manual_seed(1)
    q = Normal(torch.randn(2000) * 2, torch.exp(torch.randn(2000) * 0.5))
    p = Normal(torch.randn(2000), torch.exp(torch.randn(2000) * 0.5))
    kl = q.kl(p)
    assert (kl >= 0).all()
    assert torch.allclose(q.kl(q), torch.zeros(2000), atol=1e-6)
    z = q.sample(torch.randn(20000, 2000, dtype=torch.float64))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    # per-dimension Monte Carlo error is ~ std/sqrt(20000); compare the totals tightly and each loosely
    assert abs(mc.sum().item() - kl.sum().item()) / kl.sum().item() < 0.01
    assert torch.allclose(mc.float(), kl, atol=0.1 + 0.05 * kl.max().item())


def test_precision_weighted_posterior():
    model = PLN(ModelConfig(**TINY))
    enc = Normal(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 2.0]))
    prior = Normal(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 1.0]))
    q = model.level1_posterior(enc, prior)
    # equal precisions: the mean is the midpoint and the variance halves
    assert q.mean[0].item() == pytest.approx(2.0)
    assert q.std[0].item() == pytest.approx(math.sqrt(0.5))
    # precisions 1/4 and 1: mean (0·1/4 + 4·1)/(5/4) = 3.2, variance 1/(5/4)
    assert q.mean[1].item() == pytest.approx(3.2)
    assert q.std[1].item() ** 2 == pytest.approx(0.8)


def test_gdn_formula_and_inverse():
    torch.manual_seed(2)
    gdn, igdn = GDN(4), GDN(4, inverse=True)
    x = torch.randn(2, 4, 5, 5)
    beta, gamma = gdn.beta(), gdn.gamma()
    norm = torch.sqrt(beta[None, :, None, None] + torch.einsum("ij,bjhw->bihw", gamma, x * x))
    assert torch.allclose(gdn(x), x / norm, atol=1e-6)
    assert torch.allclose(igdn(x), x * norm, atol=1e-6)


def test_loss_terms_and_gamma_floor():
    torch.manual_seed(3)
    model = PLN(ModelConfig(kind="gamma-pln", gamma_inf=0.25, **TINY))
    with torch.no_grad():
        model.log_gamma.fill_(math.log(0.01))
    assert model.gamma().item() == pytest.approx(0.25)
    out = model(torch.rand(2, 3, 64, 64))
    assert out.kl1_bits.item() >= 0 and out.kl2_bits.item() >= 0
    assert out.bpp.item() == pytest.approx((out.kl1_bits + out.kl2_bits).item() / 64**2, rel=1e-5)
    assert PLN(ModelConfig(kind="pln", **TINY)).gamma().item() == 1.0


def test_bad_config_is_refused():
    with pytest.raises(RecError, match="unknown model kind"):
        ModelConfig(kind="gan")
    with pytest.raises(RecError, match="unknown likelihood"):
        ModelConfig(likelihood="cauchy")


@pytest.mark.parametrize("likelihood, law", [("laplace", torch.distributions.Laplace), ("gaussian", torch.distributions.Normal)])
def test_the_distortion_is_the_likelihoods_negative_log(likelihood, law):
    torch.manual_seed(4)
    x, mean, scale = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), torch.tensor(0.07)
    nll = negative_log_likelihood(x, mean, scale, likelihood)
    assert torch.allclose(nll, -law(mean, scale).log_prob(x), atol=1e-5)
    # and it is the distortion a model of that likelihood trains on (per pixel, channels summed)
    model = PLN(ModelConfig(kind="gamma-pln", likelihood=likelihood, gamma_inf=0.01, **TINY))
    with torch.no_grad():
        model.log_gamma.fill_(math.log(0.07))
    x = torch.rand(1, 3, 64, 64)
    out = model(x, sample=False)
    expected = -law(out.x_hat, torch.tensor(0.07)).log_prob(x).sum() / 64**2
    assert out.distortion.item() == pytest.approx(expected.item(), rel=1e-4)


def test_gdn_in_bands_equals_gdn_whole(monkeypatch):
    torch.manual_seed(4)
    gdn = GDN(3, inverse=True)
    x = torch.randn(1, 3, 37, 11)
    whole = gdn(x)
    x_copy = x.clone()
    monkeypatch.setattr(GDN, "CHUNK_VALUES", 50)
    with torch.no_grad():
        banded = gdn(x_copy)
    assert torch.allclose(banded, whole, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_in_bands_equals_conv_whole(monkeypatch, stride):
    from rec.models.layers import MirrorConv2d

    torch.manual_seed(5)
    conv = MirrorConv2d(3, 4, 5, stride)
    x = torch.randn(1, 3, 23, 14)
    with torch.no_grad():
        whole = conv(x)
        monkeypatch.setattr(MirrorConv2d, "CHUNK_VALUES", 40)
        banded = conv(x)
    assert banded.shape == whole.shape
    assert torch.allclose(banded, whole, atol=1e-5)


def test_synthesis_in_bands_matches_the_whole(monkeypatch):
    torch.manual_seed(6)
    model = PLN(ModelConfig(**TINY)).eval()
    z = torch.randn(1, 6, 30, 5)
    with torch.no_grad():
        whole = model.synthesize(z)
        monkeypatch.setattr(PLN, "BAND_VALUES", 8 * 6 * 64 * 5)
        banded = model.synthesize(z)
    assert banded.shape == whole.shape
    assert (banded - whole).abs().max().item() < 1e-4


def test_analysis_in_bands_matches_the_whole(monkeypatch):
    torch.manual_seed(7)
    model = PLN(ModelConfig(**TINY)).eval()
    x = torch.rand(1, 3, 30 * 16, 5 * 16)
    with torch.no_grad():
        whole = model.analyze(x)
        monkeypatch.setattr(PLN, "BAND_VALUES", 8 * 6 * 64 * 5)
        banded = model.analyze(x)
    assert (banded.level1.mean - whole.level1.mean).abs().max().item() < 1e-4
    assert (banded.q2.std - whole.q2.std).abs().max().item() < 1e-4


def test_the_distortion_gradient_in_bands_is_the_whole_graphs(monkeypatch):
    """PLN.distortion_gradient: ∂Σ(x̂ − x)²/∂z1 over the unpadded pixels, the same in bands of latent
    rows as through the whole graph (autograd on the plain synthesis), and the mean squared error."""
    torch.manual_seed(8)
    model = PLN(ModelConfig(**TINY)).eval()
    z = torch.randn(1, model.config.M, 30, 5)
    target = torch.rand(1, 3, 30 * 16 - 9, 5 * 16 - 3)  # an odd-sized image inside its padding
    leaf = z.clone().requires_grad_(True)
    err = (model.synthesize(leaf)[:, :, : target.shape[2], : target.shape[3]] - target).square()
    expected = torch.autograd.grad(err.sum(), leaf)[0]
    with torch.no_grad():
        whole, mse = model.distortion_gradient(z, target)
        monkeypatch.setattr(PLN, "GRAD_BAND_VALUES", 8 * 12 * 64 * 5)  # bands of 6 latent rows and 2 × 3 more
        banded, banded_mse = model.distortion_gradient(z, target)
    assert mse == pytest.approx(err.mean().item(), rel=1e-5) and banded_mse == pytest.approx(mse, rel=1e-5)
    scale = expected.abs().max().item()
    assert (whole - expected).abs().max().item() < 1e-4 * scale
    assert (banded - expected).abs().max().item() < 1e-4 * scale


def test_the_synthesis_reaches_one_latent_row_up_and_two_down():
    """What PLN.GRAD_BAND_MARGIN rests on: the output rows of latent row r depend on rows r − 1 … r + 2."""
    torch.manual_seed(9)
    model = PLN(ModelConfig(**TINY)).eval()
    z = torch.randn(1, model.config.M, 30, 5, requires_grad=True)
    grad = torch.autograd.grad(model.synthesize(z)[:, :, 16 * 15 : 16 * 16].sum(), z)[0]
    assert (grad.abs().sum(dim=(0, 1, 3)) > 0).nonzero().flatten().tolist() == [14, 15, 16, 17]
    assert model.GRAD_BAND_MARGIN >= 2
