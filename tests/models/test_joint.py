import math

import pytest
import torch

from rec.errors import RecError
from rec.models.entropy import DiscretizedGaussian, FactorizedDensity, gaussian_likelihood, lower_bound
from rec.models.context2d import MaskedConv2d, raster_schedule, wavefront_schedule
from rec.models.joint import JointConfig
from rec.models.pln import pad_to_multiple
from tests.helpers import tiny_mbt

@pytest.mark.parametrize("size", [(1, 1), (7, 5), (37, 53), (64, 128)])
def test_shapes_for_odd_sizes(size):
    model = tiny_mbt()
    x = torch.rand(1, 3, *size)
    xp = pad_to_multiple(x, model.config.factor)
    assert xp.shape[-2] % 64 == 0 and xp.shape[-1] % 64 == 0
    h16, w16 = xp.shape[-2] // 16, xp.shape[-1] // 16
    with torch.no_grad():
        y = model.analyze(xp)
        z = model.hyper_analyze(y)
        assert y.shape == (1, 6, h16, w16)
        assert z.shape == (1, 4, h16 // 4, w16 // 4)
        _, z_hat = model.quantize_z(z)
        psi = model.hyper_synthesize(z_hat)
        assert psi.shape == (1, 12, h16, w16)
        ar = model.quantize_y(y, psi)
        assert ar.y_hat.shape == ar.mean.shape == ar.scale.shape == ar.symbols.shape == y.shape
        assert model.synthesize(ar.y_hat).shape == xp.shape
        losses = model(xp)  # eval: inference quantization
    assert losses.x_hat.shape == xp.shape
    for v in (losses.loss, losses.bpp_y, losses.bpp_z, losses.mse):
        assert torch.isfinite(v) and v >= 0


@pytest.mark.parametrize("bf16", [False, True])
def test_training_forward_loss_and_gradients(bf16):
    model = tiny_mbt().train()
    x = torch.rand(2, 3, 64, 128)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        losses = model(x)
    assert losses.bpp.dtype == losses.mse.dtype == torch.float32
    assert torch.allclose(losses.bpp, losses.bpp_y + losses.bpp_z)
    expected = losses.bpp + model.config.lmbda * 255**2 * losses.mse
    assert torch.allclose(losses.loss, expected)
    assert torch.allclose(losses.bits_y, losses.bpp_y * 64 * 128)
    log = losses.scalars()
    assert set(log) == {"loss", "bpp", "bpp_y", "bpp_z", "bits_y", "bits_z", "mse", "psnr"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in log.values())
    losses.loss.backward()
    for name in ("g_a.0.weight", "h_a.0.weight", "h_s.0.weight", "context.weight",
                 "entropy_parameters.0.weight", "g_s.0.weight", "z_density.matrices.0"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # the masked taps never get a gradient
    g = model.context.weight.grad
    assert g[:, :, 2, 2:].abs().sum() == 0 and g[:, :, 3:].abs().sum() == 0


def test_inference_quantization_rounds_around_the_mean():
    model = tiny_mbt()
    with torch.no_grad():
        y = model.analyze(torch.rand(1, 3, 64, 64)) * 30
        _, z_hat = model.quantize_z(model.hyper_analyze(y))
        ar = model.quantize_y(y, model.hyper_synthesize(z_hat))
    assert torch.equal(ar.symbols, torch.round(y - ar.mean))
    assert torch.allclose(ar.y_hat, ar.symbols + ar.mean, atol=1e-6)
    assert ((ar.y_hat - y).abs() <= 0.5 + 1e-5).all()


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_is_causal(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 4, 5, mask_type)
    h, w = 6, 7
    x = torch.randn(1, 3, h, w)
    out = conv(x)
    for i in range(h):
        for j in range(w):
            later = torch.zeros(h * w, dtype=torch.bool)
            later[i * w + j + (mask_type == "B"):] = True  # type B may see the centre
            x2 = torch.where(later.view(1, 1, h, w), torch.randn_like(x), x)
            assert torch.allclose(conv(x2)[..., i, j], out[..., i, j], atol=1e-6), (i, j)
    # ... and it does see the causal neighbourhood
    x3 = x.clone()
    x3[..., 3, 2] += 1.0
    assert not torch.allclose(conv(x3)[..., 3, 3], out[..., 3, 3])
    x4 = x.clone()
    x4[..., 2, 5] += 1.0  # up one row, two to the right
    assert not torch.allclose(conv(x4)[..., 3, 3], out[..., 3, 3])


@pytest.mark.parametrize("h, w", [(1, 1), (1, 6), (5, 1), (4, 7), (9, 3), (40, 2), (2, 40)])
def test_wavefront_schedule_covers_once_and_respects_the_context(h, w):
    steps = wavefront_schedule(h, w)
    when = {}
    for t, (rows, cols) in enumerate(steps):
        for i, j in zip(rows.tolist(), cols.tolist()):
            assert (i, j) not in when
            when[(i, j)] = t
    assert len(when) == h * w
    assert len(steps) == len({3 * i + j for i, j in when}) <= 3 * (h - 1) + w  # empty diagonals skipped
    mask = MaskedConv2d(1, 1, 5, "A").mask
    for (i, j), t in when.items():
        for di in range(5):
            for dj in range(5):
                p = (i + di - 2, j + dj - 2)
                if mask[di, dj] and p in when:
                    assert when[p] < t, ((i, j), p)
    assert [(int(r), int(c)) for r, c in raster_schedule(h, w)] == sorted(when)


def test_local_windows_match_the_full_context_model():
    model = tiny_mbt()
    torch.manual_seed(1)
    psi = torch.randn(1, 12, 5, 7)
    y = torch.randn(1, 6, 5, 7) * 4
    ar = model.quantize_y(y, psi)
    with torch.no_grad():
        mean, scale = model.gaussian_parameters(psi, model.context(ar.y_hat))
    assert torch.allclose(ar.mean, mean, atol=1e-5)
    assert torch.allclose(ar.scale, model.y_density.bounded_scale(scale), atol=1e-5)
    raster = model.quantize_y(y, psi, schedule="raster")
    assert torch.equal(raster.symbols, ar.symbols)
    assert torch.allclose(raster.y_hat, ar.y_hat, atol=1e-5)
    with pytest.raises(RecError):
        model.quantize_y(y, psi, schedule="zigzag")


def test_factorized_density_sums_to_one():
    torch.manual_seed(0)
    density = FactorizedDensity(4)
    with torch.no_grad():  # make the channels differ
        density.biases[0].add_(torch.randn_like(density.biases[0]) * 2)
        density.matrices[0].add_(torch.linspace(-2, 2, 4).view(4, 1, 1))
    for shift in (0.0, 0.3):
        k = torch.arange(-2000, 2001).float() + shift
        x = k.view(1, 1, -1, 1).expand(1, 4, -1, 1)
        with torch.no_grad():
            total = density.likelihood(x).double().sum(dim=(0, 2, 3))
        assert torch.allclose(total, torch.ones(4, dtype=torch.float64), atol=1e-4), total
    m = density.medians()
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(density.logits_cdf(m[:, None]))[:, 0], torch.full((4,), 0.5), atol=1e-5)
    table = density.coding_table()
    for c in range(4):
        row = table.probabilities[c, : table.size[c] + 2]
        assert abs(row.sum() - 1) < 1e-4
        assert (table.probabilities[c, table.size[c] + 2:] == 0).all()
        assert 0 < row[0] < 1e-6 and 0 < row[-1] < 1e-6  # the escapes carry the tails


@pytest.mark.parametrize("scale", [0.11, 0.5, 3.0, 40.0])
@pytest.mark.parametrize("mean", [0.0, 0.3])
def test_discretized_gaussian_sums_to_one(scale, mean):
    g = DiscretizedGaussian()
    v = torch.arange(-1000, 1001).double() + mean
    p = g.likelihood(v, torch.full_like(v, mean), torch.full_like(v, scale)).double()
    assert abs(p.sum().item() - 1) < 1e-5
    assert torch.all(p >= 0.999e-9)
    pmf = g.pmf(torch.arange(-1000, 1001), torch.tensor([scale]))
    assert abs(pmf.double().sum().item() - 1) < 1e-5
    # σ below the bound behaves as the bound
    small = gaussian_likelihood(torch.tensor([0.0, 1.0]), torch.zeros(2), torch.full((2,), 1e-3))
    bound = gaussian_likelihood(torch.tensor([0.0, 1.0]), torch.zeros(2), torch.full((2,), 0.11))
    assert torch.equal(small, bound)
    # far tail: bounded, and no cancellation to zero on the upper side
    tail = gaussian_likelihood(torch.tensor([6.0]), torch.zeros(1), torch.ones(1))
    assert math.isclose(tail.item(), 0.5 * (math.erfc(5.5 / math.sqrt(2)) - math.erfc(6.5 / math.sqrt(2))), rel_tol=1e-3)


def test_lower_bound_gradient_pulls_up_only():
    x = torch.tensor([0.05, 0.05, 0.5], requires_grad=True)
    y = lower_bound(x, 0.11)
    assert torch.allclose(y, torch.tensor([0.11, 0.11, 0.5]))
    (y * torch.tensor([1.0, -1.0, 1.0])).sum().backward()
    # d/dx of +y is blocked below the bound (descent would lower x), of −y passes
    assert torch.equal(x.grad, torch.tensor([0.0, -1.0, 1.0]))


def test_config_validation():
    with pytest.raises(RecError):
        JointConfig(N=0)
    with pytest.raises(RecError):
        JointConfig(context_kernel=4)
    with pytest.raises(RecError):
        JointConfig(lmbda=0)
    with pytest.raises(RecError):
        JointConfig(kind="pln")
    c = JointConfig()
    assert c.to_dict()["M"] == 128 and c.factor == 64


def test_the_hyperprior_only_variant_ignores_any_context_weights_on_both_sides():
    """context = False (Minnen 2018, Fig. 2 right): φ ≡ 0 in training and in the codec's pass,
    whatever the file's context weights hold; files round-trip and cost what the model estimates."""
    import dataclasses

    import numpy as np

    from rec.reference import CodecParams, decode, encode
    from tests.conftest import smooth_image
    from tests.helpers import lively_mbt

    with_context = lively_mbt(2)
    model = lively_mbt(2, dataclasses.replace(with_context.config, context=False))
    with torch.no_grad():
        model.context.weight.normal_(0, 1.0)  # weights that would move μ if they were used
    image = smooth_image(np.random.default_rng(5), 70, 130)
    enc = encode(model, image)
    dec = decode(model, enc.data)
    assert torch.equal(dec.y_hat, enc.y_hat) and np.array_equal(dec.image, enc.image)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y_hat = torch.randn(1, model.config.M, 5, 9)
        assert torch.equal(model.phi(y_hat), torch.zeros(1, 2 * model.config.M, 5, 9))
        assert not torch.equal(with_context.phi(y_hat), model.phi(y_hat))
        losses = model(pad_to_multiple(x, 64), noise=False)  # the codec's padding
    assert enc.estimated_bits_y * 0.99 <= enc.bits_y <= enc.estimated_bits_y * 1.05 + 64
    exact = encode(model, image, params=CodecParams(scale_levels=0), reconstruct=False)  # σ as the model has it
    assert float(losses.bits_y) == pytest.approx(exact.estimated_bits_y, rel=1e-3)
