"""The variable-rate mbt2018 model (rec.models.joint with rec.models.rate): λ per image, modulations,
and a fixed-rate model's weights as its starting point."""

import math

import pytest
import torch

from rec.errors import RecError
from rec.models.joint import JointConfig, JointPrior
from rec.models.rate import modulated_widths
from rec.models.zoo import list_models, load_model, load_state
from tests.helpers import TINY_MBT

VR = dict(lmbda=0.01, lmbda_min=0.002, lmbda_max=0.05, knots=4)


def vr_model(seed: int = 0, spread: float = 0.0) -> JointPrior:
    torch.manual_seed(seed)
    model = JointPrior(JointConfig(**TINY_MBT, **VR))
    if spread:
        with torch.no_grad():  # modulations that differ per knot, so that λ changes what is computed
            for p in model.modulations.parameters():
                p.normal_(0, spread)
    return model


def test_config_rate_range_and_validation():
    fixed = JointConfig(**TINY_MBT)
    assert not fixed.variable_rate and fixed.rate_range is None
    assert (fixed.lmbda_min, fixed.lmbda_max, fixed.knots) == (0.0, 0.0, 8)
    vr = JointConfig(**TINY_MBT, **VR)
    assert vr.variable_rate and vr.rate_range == (0.002, 0.05)
    for bad in (dict(lmbda=0.1, lmbda_min=0.002, lmbda_max=0.05), dict(lmbda=0.01, lmbda_min=0.0, lmbda_max=0.05),
                dict(lmbda=0.01, lmbda_min=0.01, lmbda_max=0.01), dict(lmbda=0.01, lmbda_min=0.002, lmbda_max=0.05, knots=1)):
        with pytest.raises(RecError, match="variable-rate model needs"):
            JointConfig(**TINY_MBT, **bad)


def test_a_fixed_rate_model_has_no_new_tensors_and_refuses_a_lambda():
    torch.manual_seed(0)
    model = JointPrior(JointConfig(**TINY_MBT))
    assert not any("modulations" in k for k in model.state_dict()) and not hasattr(model, "rate")
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(RecError, match="fixed rate: it takes no λ"):
        model.analyze(x, 0.01)
    with pytest.raises(RecError, match="fixed rate"):
        model(x, lmbda=torch.tensor([0.01], dtype=torch.float64))


def test_modulations_follow_every_gdn_and_activation_of_the_four_transforms():
    model = vr_model()
    assert sorted(model.modulations) == ["g_a", "g_s", "h_a", "h_s"]
    for name in ("g_a", "g_s", "h_a", "h_s"):
        widths = modulated_widths(getattr(model, name))
        assert len(widths) == (3 if name.startswith("g") else 2)
        assert [m.log_gain.shape for m in model.modulations[name]] == [(4, w) for w in widths]
    assert model.rate.symbol == "λ"
    with pytest.raises(RecError, match="λ = 0.1 is outside"):
        model.analyze(torch.rand(1, 3, 64, 64), 0.1)


@torch.no_grad()
def test_variable_rate_model_loaded_from_fixed_rate_weights_behaves_exactly_like_them():
    torch.manual_seed(1)
    fixed = JointPrior(JointConfig(**TINY_MBT, lmbda=0.01)).eval()
    vr = vr_model(seed=2)
    fresh = load_state(vr, fixed.state_dict(), strict=False)
    assert fresh and all(k.startswith("modulations.") for k in fresh)
    vr.eval()
    x = torch.rand(2, 3, 64, 128)
    for lmbda in (None, 0.002, 0.05, torch.tensor([0.003, 0.04], dtype=torch.float64)):
        y = vr.analyze(x, lmbda)
        assert torch.equal(y, fixed.analyze(x))
        z = vr.hyper_analyze(y, lmbda)
        assert torch.equal(z, fixed.hyper_analyze(y))
        assert torch.equal(vr.hyper_synthesize(z, lmbda), fixed.hyper_synthesize(z))
        assert torch.equal(vr.synthesize(y, lmbda), fixed.synthesize(y))
    a, b = fixed(x, noise=False), vr(x, noise=False)  # at the default λ = config.lmbda
    assert torch.equal(a.x_hat, b.x_hat) and torch.equal(a.y_hat, b.y_hat)
    for k in ("bpp", "bits_y", "bits_z", "mse", "loss"):
        assert torch.allclose(getattr(a, k), getattr(b, k), rtol=1e-6), k


def test_each_image_is_coded_and_weighted_at_its_own_lambda():
    model = vr_model(spread=0.5).eval()
    x = torch.rand(2, 3, 64, 64)
    lmbda = torch.tensor([0.002, 0.05], dtype=torch.float64)
    with torch.no_grad():
        both = model(x, noise=False, lmbda=lmbda)
        one = [model(x[i : i + 1], noise=False, lmbda=lmbda[i : i + 1]) for i in range(2)]
        other = model(x[:1], noise=False, lmbda=lmbda[1:])
    assert torch.allclose(both.x_hat[:1], one[0].x_hat, atol=1e-5) and torch.allclose(both.x_hat[1:], one[1].x_hat, atol=1e-5)
    assert not torch.allclose(other.x_hat, one[0].x_hat, atol=1e-3)  # the rate changes the transforms
    # the loss: the batch mean of bpp_i + λ_i·255²·mse_i; the totals as the fixed-rate model reports them
    expected = sum(o.bpp + lam * 255**2 * o.mse for o, lam in zip(one, lmbda.tolist())) / 2
    assert both.loss.item() == pytest.approx(expected.item(), rel=1e-4)
    assert both.bpp.item() == pytest.approx((one[0].bpp + one[1].bpp).item() / 2, rel=1e-4)
    assert both.mse.item() == pytest.approx((one[0].mse + one[1].mse).item() / 2, rel=1e-4)
    assert both.bits_y.item() == pytest.approx((one[0].bits_y + one[1].bits_y).item() / 2, rel=1e-4)
    # one λ for the whole batch: the fixed-rate formula
    with torch.no_grad():
        same = model(x, noise=False, lmbda=torch.full((2,), 0.02, dtype=torch.float64))
    assert same.loss.item() == pytest.approx((same.bpp + 0.02 * 255**2 * same.mse).item(), rel=1e-5)
    with pytest.raises(RecError, match="one value per image"):
        model(x, noise=False, lmbda=lmbda[:1])


@pytest.mark.parametrize("bf16", [False, True])
def test_training_forward_with_per_crop_lambda_reaches_every_modulation(bf16):
    model = vr_model(spread=0.1).train()
    x = torch.rand(2, 3, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        losses = model(x, lmbda=torch.tensor([0.003, 0.03], dtype=torch.float64))
    assert torch.isfinite(losses.loss)
    losses.loss.backward()
    for name, p in model.named_parameters():
        if name.startswith("modulations."):
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


MBT = [e.name for e in list_models() if e.kind == "mbt2018"]


@pytest.mark.skipif(not MBT, reason="no shipped mbt2018 model")
def test_shipped_fixed_rate_models_still_load_strictly():
    model = load_model(MBT[0])
    assert not model.config.variable_rate and not any("modulations" in k for k in model.state_dict())
    assert math.isfinite(model.config.lmbda)
