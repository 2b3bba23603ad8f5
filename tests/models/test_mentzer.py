"""rec.models.mentzer and rec.models.context3d: Mentzer et al. 2018's quantizer, importance map, causal 3D context model and losses."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rec.errors import RecError
from rec.models.context3d import (PRECISION, TAPS_A, TAPS_B, ContextModel, MaskedConv3d, WavefrontContext, wavefront_of,
                                  wavefront_steps)
from rec.models.layers import GDN
from rec.models.mentzer import NORMS, ContextAutoencoder, MentzerConfig, depth_from_symbols
from rec.models.pln import model_input
from rec.models.zoo import build, config_class, model_config
from tests.helpers import image_batch, tiny_mentzer

ROOT = Path(__file__).resolve().parents[2]


def volume(net, rng, m, h, w) -> torch.Tensor:
    """Random symbols' values (1, M, h, w)."""
    return net.centers.detach()[torch.from_numpy(rng.integers(0, net.config.L, (1, m, h, w)))]


def test_the_zoo_builds_the_new_kind_and_configs_check_it():
    assert config_class("mentzer2018") is MentzerConfig
    config = model_config({"kind": "mentzer2018", "N": 8, "M": 5, "context": 4, "blocks": 1, "units": 1})
    net = build(config)
    assert isinstance(net, ContextAutoencoder) and config.factor == 8 and net.centers.numel() == 6
    assert MentzerConfig().L == 6 and MentzerConfig().distortion == "ms-ssim"
    for bad in ({"kind": "mbt2018"}, {"M": 0}, {"L": 1}, {"distortion": "psnr"}, {"N": 7}, {"sigma": 0.0}, {"norm": "layer"}):
        with pytest.raises(RecError):
            MentzerConfig(**bad)


def test_the_normalization_is_fig_2s_batch_norm_or_gdn():
    """norm = "batchnorm": batch norm and ReLU after every convolution but the last (Fig. 2); "gdn": GDN in E,
    IGDN in D and no ReLU."""
    bn = tiny_mentzer(norm="batchnorm")
    gdn = tiny_mentzer(norm="gdn")
    for part in ("encoder", "decoder"):
        kinds = {type(m) for m in getattr(bn, part).modules()}
        assert nn.BatchNorm2d in kinds and nn.ReLU in kinds and GDN not in kinds
        inverse = {m.inverse for m in getattr(gdn, part).modules() if isinstance(m, GDN)}
        kinds = {type(m) for m in getattr(gdn, part).modules()}
        assert GDN in kinds and nn.BatchNorm2d not in kinds and nn.ReLU not in kinds and inverse == {part == "decoder"}
        convs = [m for m in getattr(bn, part).modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        norms = [m for m in getattr(bn, part).modules() if isinstance(m, nn.BatchNorm2d)]
        assert len(norms) == len(convs) - 1 == sum(isinstance(m, GDN) for m in getattr(gdn, part).modules())


def test_the_training_configs_read():
    from rec.training.config import load_config

    mse = load_config(ROOT / "configs" / "mentzer2018-mse.toml")
    msssim = load_config(ROOT / "configs" / "mentzer2018-msssim.toml")
    assert isinstance(mse.model, MentzerConfig) and mse.model.distortion == "mse" and mse.model.norm == msssim.model.norm == "gdn"
    assert msssim.model.distortion == "ms-ssim" and msssim.model.L == 6 and msssim.model.importance_map
    t = mse.train
    assert (t.crop, t.batch, t.schedule, t.lr_warmup, t.lr_final, t.ema, t.augment, t.bf16) == (192, 4, "cosine", 200, 0.02,
                                                                                             0.999, True, True)
    assert t == msssim.train and t.data == "../shared/data/train" and t.val == "../shared/data/val"


@pytest.mark.parametrize("height,width", [(5, 7), (33, 17), (64, 80)])
def test_latent_shapes_match_the_analysis(height, width):
    net = tiny_mentzer().eval()
    x = model_input(np.zeros((height, width, 3), np.uint8), net.config.factor, channels_last=False)
    with torch.no_grad():
        z, y = net.analyze(x)
    assert net.latent_shapes(height, width) == (tuple(z.shape),) and y.shape == z.shape[:1] + z.shape[2:]


def test_quantization_maps_every_value_to_a_centre_and_the_soft_path_has_a_gradient():
    net = tiny_mentzer()
    with torch.no_grad():
        net.centers.copy_(torch.tensor([-2.1, -1.3, -0.35, 0.4, 1.2, 2.2]))
    z = (torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(1)) * 2).requires_grad_()
    z_hat, symbols = net.quantize(z)
    c = net.centers.detach()
    assert torch.equal(z_hat.detach(), c[symbols])  # Eq. 2 forward: exactly a centre
    assert torch.equal(symbols, (z.detach().unsqueeze(-1) - c).abs().argmin(-1))  # the nearest one
    (z_hat * torch.linspace(1, 2, z_hat.numel()).view_as(z_hat)).sum().backward()
    assert (z.grad != 0).all() and (net.centers.grad != 0).any()  # Eqs. 3-4: the soft assignment's gradient
    assert net.zero_symbol() == 2 and int(net.nearest(torch.tensor(-0.0))) == 2
    with torch.no_grad():
        hard, again = net.quantize(z)
    assert torch.equal(hard, z_hat.detach()) and torch.equal(again, symbols)


def test_the_importance_mask_follows_eq_14_with_a_straight_through_ceiling():
    net = tiny_mentzer(M=4)
    y = torch.tensor([[[0.3, 1.7, 2.5, 3.9]]], requires_grad=True)  # (B, h, w) = (1, 1, 4)
    mask, coded, depth = net.importance_mask(y, (1, 4, 1, 4))
    expected = [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]  # ⌈m_k⌉ = 1 exactly when k < y
    assert coded.detach()[0, :, 0].T.tolist() == expected and depth.tolist() == [[[1, 2, 3, 4]]]
    soft = [[0.3, 0, 0, 0], [1, 0.7, 0, 0], [1, 1, 0.5, 0], [1, 1, 1, 0.9]]  # m = clamp(y − k, 0, 1): z's mask
    torch.testing.assert_close(mask.detach()[0, :, 0].T, torch.tensor(soft))
    assert bool(((mask > 0) == (coded > 0)).all())  # m masks exactly what ⌈m⌉ does
    (g_coded,) = torch.autograd.grad(coded.sum(), y, retain_graph=True)
    (g_mask,) = torch.autograd.grad(mask.sum(), y)
    assert g_coded.tolist() == g_mask.tolist() == [[[1.0, 1.0, 1.0, 1.0]]]  # ∂m: the one channel with k < y < k + 1
    ones, same, full = tiny_mentzer(importance_map=False).importance_mask(None, (2, 4, 3, 3))
    assert bool((ones == 1).all()) and bool((same == 1).all()) and bool((full == 4).all())


def test_masked_latents_are_the_zero_symbol_and_the_mask_is_recoverable_from_the_symbols():
    net = tiny_mentzer(M=6, gain=5.0).eval()
    symbols, depth = net.encode_latents(image_batch(1, 2))
    zero = net.zero_symbol()
    k = torch.arange(6).view(1, 6, 1, 1)
    assert bool((symbols[k >= depth.unsqueeze(1)] == zero).all())
    assert 1 < float(depth.float().mean()) < 6  # a real mask
    recovered = depth_from_symbols(symbols, zero)  # footnote 4
    assert bool((recovered <= depth).all()) and bool((recovered < depth).any())  # zeros before the mask's end count as masked
    assert bool((symbols[k >= recovered.unsqueeze(1)] == zero).all())  # and masking by it reproduces ẑ
    assert np.array_equal(depth_from_symbols(symbols.numpy(), zero), recovered.numpy())


def test_the_masks_taps_and_the_wavefront_order():
    assert len(TAPS_A) == 13 and TAPS_B == TAPS_A + ((0, 0, 0),)
    for dc, dy, dx in TAPS_A:  # strictly before the centre in raster order, and on an earlier wavefront
        assert (dc, dy, dx) < (0, 0, 0) and wavefront_of(dc, dy, dx) <= -1
    conv = MaskedConv3d(2, 3, "A")
    kernel = conv.kernel().detach()
    keep = torch.zeros(3, 3, 3, dtype=torch.bool)
    for dc, dy, dx in TAPS_A:
        keep[dc + 1, dy + 1, dx + 1] = True
    assert bool((kernel[:, :, ~keep] == 0).all()) and bool((kernel[:, :, keep] != 0).all())
    assert conv.weight.dim() == 3  # no 5D parameter: the trainer's channels-last conversion leaves it alone


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_3d_context_model_is_causal(dtype):
    """Perturbing a voxel changes no prediction of a voxel before it in raster order, nor of its own wavefront or an earlier one."""
    torch.manual_seed(3)
    net = tiny_mentzer(M=5)
    p = ContextModel(6, 8).to(dtype)
    m, h, w = 5, 6, 7
    rng = np.random.default_rng(0)
    z = volume(net, rng, m, h, w).to(dtype)
    with torch.no_grad():
        before = p(z)[0]
    c, y, x = np.meshgrid(np.arange(m), np.arange(h), np.arange(w), indexing="ij")
    raster = (c * h + y) * w + x
    wave = wavefront_of(c, y, x)
    for v in [(0, 0, 0), (2, 3, 3), (4, 5, 6), (1, 0, 6), (3, 5, 0)] + [tuple(rng.integers(0, s) for s in (m, h, w)) for _ in range(10)]:
        z2 = z.clone()
        z2[0, v[0], v[1], v[2]] += 1.7
        with torch.no_grad():
            after = p(z2)[0]
        moved = (after != before).any(0).numpy()  # (M, h, w): which predictions changed
        assert not moved[raster <= raster[v]].any()
        assert not moved[wave <= wave[v]].any()
        if raster[v] < raster.max():
            assert moved.any()  # the prediction does depend on the past


def test_the_wavefront_evaluation_matches_the_dense_context_model():
    torch.manual_seed(4)
    net = tiny_mentzer(M=5)
    m, h, w = 5, 7, 9
    rng = np.random.default_rng(1)
    depth = rng.integers(0, m + 1, (h, w))
    zero = net.zero_symbol()
    symbols = np.where(np.arange(m)[:, None, None] < depth[None], rng.integers(0, 6, (m, h, w)), zero)
    z = net.centers.detach()[torch.from_numpy(symbols)][None]
    with torch.no_grad():
        dense = torch.softmax(net.context(z)[0].double(), 0).numpy()  # (L, M, h, w)
    seen, waves = [], []

    def visit(c, y, x, counts):
        assert (counts.sum(1) == 1 << PRECISION).all() and (counts >= 1).all()
        assert len(set(wavefront_of(c, y, x).tolist())) == 1  # one wavefront per network step
        waves.append(int(wavefront_of(c[0], y[0], x[0])))
        np.testing.assert_allclose(counts / 2.0**PRECISION, dense[:, c, y, x].T, atol=5e-3)  # fixed point: ~1e-3
        seen.extend(zip(c.tolist(), y.tolist(), x.tolist()))
        return symbols[c, y, x]

    steps = WavefrontContext(net.context, net.centers, depth, m, zero).run(visit)
    assert waves == sorted(waves) and len(set(waves)) == len(waves)
    assert steps == wavefront_steps(m, h, w) == 4 * (m - 1) + 2 * (h - 1) + w
    coded = {(c, y, x) for c in range(m) for y in range(h) for x in range(w) if c < depth[y, x]}
    assert len(seen) == len(coded) and set(seen) == coded  # every coded voxel once, no masked one


def _counts(net, depth, m, symbols, zero):
    got = []

    def visit(c, y, x, counts):
        got.append(counts)
        return symbols[c, y, x]

    WavefrontContext(net.context, net.centers, depth, m, zero).run(visit)
    return np.concatenate(got)


def test_the_wavefront_probabilities_do_not_depend_on_the_summation_order(monkeypatch):
    """Every sum of the fixed-point evaluation is exact: matrix products accumulated in another
    order (as another machine's kernels would) give the same integer probabilities, bit for bit.
    Float64 sums of the same values in those two orders differ in the last bits."""
    import rec.models.context3d as context3d

    net = tiny_mentzer(M=6, gain=40.0)
    with torch.no_grad():  # a context model with weights of a trained-like spread
        for p in net.context.parameters():
            p.mul_(3.0)
    m, h, w = 6, 5, 7
    rng = np.random.default_rng(3)
    depth = rng.integers(1, m + 1, (h, w))
    zero = net.zero_symbol()
    symbols = np.where(np.arange(m)[:, None, None] < depth[None], rng.integers(0, 6, (m, h, w)), zero)
    plain = _counts(net, depth, m, symbols, zero)

    addmm = torch.addmm

    def reversed_order(bias, x, weight):  # the taps summed last to first, one at a time
        out = bias.expand(x.shape[0], -1).clone()
        for k in reversed(range(x.shape[1])):
            out += x[:, k : k + 1] * weight[k : k + 1]
        return out

    x, wt = torch.rand(50, 200, dtype=torch.float64), torch.randn(200, 8, dtype=torch.float64)
    assert not torch.equal(addmm(torch.zeros(8, dtype=torch.float64), x, wt), reversed_order(torch.zeros(8, dtype=torch.float64), x, wt))
    monkeypatch.setattr(context3d.torch, "addmm", reversed_order)
    assert np.array_equal(_counts(net, depth, m, symbols, zero), plain)


@pytest.mark.parametrize("m,h,w", [(1, 1, 1), (3, 1, 2), (2, 1, 5), (4, 3, 1), (5, 4, 7), (32, 64, 96)])
def test_the_number_of_network_steps_is_the_number_of_non_empty_wavefronts(m, h, w):
    c, y, x = np.meshgrid(np.arange(m), np.arange(h), np.arange(w), indexing="ij")
    assert wavefront_steps(m, h, w) == np.unique(wavefront_of(c, y, x)).size
    if (m, h, w) == (32, 64, 96):  # a 768 × 512 image with 32 latent channels
        assert wavefront_steps(m, h, w) == 346 and m * h * w == 196608


def test_the_masked_cost_counts_exactly_the_coded_symbols():
    net = tiny_mentzer(M=6, gain=5.0).eval()
    x = image_batch(5, 6)
    with torch.no_grad():
        losses = net(x)
        bits = net.bits(losses.z_hat, losses.symbols)
    coded = torch.arange(6).view(1, 6, 1, 1) < losses.depth.unsqueeze(1)
    torch.testing.assert_close(losses.bits_mc * 2, bits[coded].sum(), rtol=1e-6, atol=1e-3)  # Eq. 19: c < depth only
    torch.testing.assert_close(losses.bits_ce * 2, bits.sum(), rtol=1e-6, atol=1e-3)  # Eq. 13: every symbol
    torch.testing.assert_close(losses.channel_bits.sum(), losses.bits_mc * 2, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(losses.ce, bits[coded].mean(), rtol=1e-5, atol=1e-5)  # P's loss: coded symbols only
    assert losses.bits_ce > losses.bits_mc > 0 and int(coded.sum()) == int(losses.depth.sum())
    s = losses.scalars()
    assert {"loss", "bpp", "bpp_mc", "bpp_map", "ce", "distortion", "mse", "psnr", "depth"} <= set(s)
    assert s["bpp"] == pytest.approx(s["bpp_mc"] + s["bpp_map"], rel=1e-6)
    assert s["distortion"] == pytest.approx(255.0**2 * s["mse"], rel=1e-5)


@pytest.mark.parametrize("norm", NORMS)
def test_the_rate_distortion_loss_trains_the_autoencoder_and_the_cross_entropy_trains_p(norm):
    """Eqs. 20-21: MC's gradient reaches E, the centres and the mask but not P; CE's reaches P only."""
    net = tiny_mentzer(M=4, gain=5.0, beta=2.0, norm=norm).train()
    losses = net(image_batch(7, 8))
    p_params = list(net.context.parameters())
    ae_params = list(net.encoder.parameters()) + [net.centers]
    g_loss = torch.autograd.grad(losses.loss, p_params + ae_params, retain_graph=True)
    g_ce = torch.autograd.grad(losses.ce, p_params + ae_params, retain_graph=True, allow_unused=True)
    g_rd = torch.autograd.grad(losses.loss - losses.ce, ae_params, retain_graph=True)
    n = len(p_params)
    for a, b in zip(g_loss[:n], g_ce[:n]):
        torch.testing.assert_close(a, b)  # P learns from its cross-entropy alone
    assert all(g is None for g in g_ce[n:])  # which does not reach the autoencoder
    for a, b in zip(g_loss[n:], g_rd):
        torch.testing.assert_close(a, b)
    assert all(float(g.abs().sum()) > 0 for g in g_loss)
    (rate,) = torch.autograd.grad(losses.bpp_mc, [net.encoder[-1].weight], retain_graph=True)
    m = net.config.M
    assert float(rate[m].abs().sum()) > 0  # the masked cost moves E through the importance map's channel
    assert float(rate[:m].abs().sum()) == 0  # and through nothing else: P's input is a constant in it (authors' code)
    assert torch.autograd.grad(losses.bpp_mc, [net.centers], retain_graph=True, allow_unused=True)[0] is None


def test_the_rate_term_is_clipped_below_the_target():
    net = tiny_mentzer(M=4, gain=5.0, beta=3.0, target_bpp=100.0).train()
    losses = net(image_batch(9))
    torch.testing.assert_close(losses.loss, losses.distortion + 3.0 * 100.0 + losses.ce + losses.outside)
    (g,) = torch.autograd.grad(losses.loss - losses.distortion - losses.ce - losses.outside, [net.encoder[-1].weight],
                               allow_unused=True)
    assert g is None or float(g.abs().sum()) == 0


def test_values_beyond_the_outer_centres_are_pulled_back_and_no_others():
    net = tiny_mentzer(M=2)
    reach = float(net.centers.detach().abs().max())  # 2: the centres start evenly over [-2, 2]
    z = torch.tensor([[[[0.0, 1.9]], [[-reach - 1.0, reach + 0.5]]]], requires_grad=True)  # (1, 2, 1, 2)
    outside = net.outside_centres(z)
    torch.testing.assert_close(outside, torch.tensor(1.0 + 0.25))
    (g,) = torch.autograd.grad(outside, z)
    assert g.flatten().tolist() == [0.0, 0.0, -2.0, 1.0]  # descent moves the two outliers inwards only
    far = tiny_mentzer(M=4, gain=50.0).train()  # latents far beyond ±2
    losses = far(image_batch(3))
    outside = float(losses.outside.detach())
    assert outside > 0 and losses.scalars()["outside"] == pytest.approx(outside)
    rate = far.config.beta * losses.bpp_mc  # R_t = 0
    torch.testing.assert_close(losses.loss, losses.distortion + rate + losses.ce + losses.outside)


def test_the_ms_ssim_distortion():
    from pytorch_msssim import ms_ssim

    net = tiny_mentzer(M=2, distortion="ms-ssim").eval()
    x = image_batch(1, size=168)
    with torch.no_grad():
        losses = net(x)
    expected = 100.0 * (1.0 - ms_ssim(x, losses.x_hat, data_range=1.0))
    torch.testing.assert_close(losses.distortion, expected)
    assert "ms_ssim" in losses.scalars()
    with pytest.raises(RecError, match="160"):
        net(image_batch(1, size=64))


def test_the_zoos_stored_state_loads_back():
    from rec.models.zoo import load_state, stored_state

    net = tiny_mentzer().eval()
    state = stored_state(net)  # fp16, as the zoo ships weights
    assert all(v.dim() <= 4 for v in state.values())
    a, b = build(net.config), build(net.config)
    load_state(a, state)
    load_state(b, state)
    x = image_batch(3)
    with torch.no_grad():
        la, lb = a.eval()(x), b.eval()(x)
    assert torch.equal(la.symbols, lb.symbols) and torch.equal(la.x_hat, lb.x_hat)


def test_a_wider_model_starts_from_a_narrower_ones_weights(tmp_path):
    """adapt_state (section 4 adapts K per rate): a model with more channels K loads a narrower one's state, not
    strictly, with the importance map's logit kept (its depth scales with M) and D ignoring the new channels; a
    strict load still refuses the shapes."""
    from rec.models.zoo import load_state
    from rec.training.checkpoint import load_weights_into
    from safetensors.torch import save_file

    narrow = tiny_mentzer(M=4).eval()
    path = tmp_path / "narrow.safetensors"
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, str(path))
    wide = ContextAutoencoder(replace(narrow.config, M=7)).eval()
    assert load_weights_into(wide, str(path), strict=False) == []
    with pytest.raises(RecError, match="shape"):
        load_state(ContextAutoencoder(wide.config), narrow.state_dict())
    x = image_batch(2)
    with torch.no_grad():
        (z4, y4), (z7, y7) = narrow.analyze(x), wide.analyze(x)
        assert torch.allclose(z7[:, :4], z4, atol=1e-6) and torch.allclose(y7 / 7, y4 / 4)
        z_hat = wide.centers[torch.randint(0, 6, z7.shape)]
        assert torch.allclose(wide.synthesize(z_hat), narrow.synthesize(z_hat[:, :4]), atol=1e-6)
    own = wide.state_dict()
    assert wide.adapt_state(own) is own  # a state of the same width is left as it is
