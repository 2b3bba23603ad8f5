"""rec.evaluation.latents: exact per-level KLs agree with the training objective and the codec."""


import numpy as np
import pytest
import torch

from rec.codec import compress
from rec.errors import RecError
from rec.evaluation.latents import LevelKL, active_channels, draw_latents, ideal_point, image_kl, mean_kl, reconstruct
from rec.evaluation.metrics import psnr
from rec.models.pln import model_input
from tests.conftest import smooth_image
from tests.helpers import FAST, tiny_model


@pytest.fixture(scope="module")
def rgb():
    return smooth_image(np.random.default_rng(3), 64, 128)  # a multiple of 64: no padding


def test_kls_match_the_training_objective(rgb):
    model = tiny_model(0)
    x = model_input(rgb, 64)
    a = model.analyze(x)
    mean = draw_latents(model, a, rgb.shape[0] * rgb.shape[1], mean=True)
    with torch.no_grad():
        losses = model(x.contiguous(), sample=False)  # z2 = posterior mean, as mean=True
    assert mean.kl.kl2_bits == pytest.approx(losses.kl2_bits.item(), rel=1e-5)
    assert mean.kl.kl1_bits == pytest.approx(losses.kl1_bits.item(), rel=1e-5)
    assert mean.kl.kl_bpp == pytest.approx(losses.bpp.item(), rel=1e-5)
    assert mean.z1.shape == a.level1.mean.shape and torch.equal(mean.z2, a.q2.mean)
    assert mean.kl1_channels.shape == (a.level1.mean.shape[1],) and (mean.kl1_channels >= 0).all()
    assert mean.kl1_channels.sum() == pytest.approx(mean.kl.kl1_bits, rel=1e-9)


def test_active_channels_count_the_kl_carriers():
    assert active_channels(np.array([0.0, 90.0, 5.0, 5.0])) == 1
    assert active_channels(np.array([0.0, 89.0, 6.0, 5.0])) == 2
    assert active_channels(np.array([1.0, 1.0, 1.0, 1.0]), share=1.0) == 4
    assert active_channels(np.zeros(8)) == 0


def test_level2_kl_matches_the_codec(rgb):
    model = tiny_model(1)
    kl = image_kl(model, rgb, torch.Generator().manual_seed(0))
    report = compress(rgb, model=model, samplers=FAST, verify=False).report
    z2 = next(level for level in report.levels if level.name == "z2")
    assert kl.kl2_bits == pytest.approx(z2.kl_bits, rel=1e-4)  # level 2 does not depend on the sample
    assert kl.kl_bits == pytest.approx(report.kl_bits, rel=0.2)  # level 1 does, a little


def test_properties_and_reproducibility(rgb):
    model = tiny_model(2, kind="pln")
    a = image_kl(model, rgb, torch.Generator().manual_seed(5))
    b = image_kl(model, rgb, torch.Generator().manual_seed(5))
    assert a == b and a.kl1_bits > 0 and a.kl2_bits > 0 and 0 <= a.level2_share <= 1
    assert a.kl_bpp == pytest.approx(a.kl1_bpp + a.kl2_bpp) and a.pixels == 64 * 128
    m = mean_kl([a, LevelKL(10.0, 20.0, 0.0)])
    assert m.kl1_bpp == pytest.approx((a.kl1_bpp + 2.0) / 2) and m.kl2_bpp == pytest.approx(a.kl2_bpp / 2)
    assert m.level2_share == pytest.approx(m.kl2_bpp / m.kl_bpp)


def test_vae_has_no_level2_and_reconstruction_shape():
    model = tiny_model(0, kind="vae")
    im = smooth_image(np.random.default_rng(4), 40, 56)  # padded to 48 × 64
    kl = image_kl(model, im)
    assert kl.kl2_bits == 0.0 and kl.level2_share == 0.0 and kl.kl1_bits > 0
    draw = draw_latents(model, model.analyze(model_input(im, 16)), 40 * 56, mean=True)
    out = reconstruct(model, draw.z1, 40, 56)
    assert out.shape == (40, 56, 3) and out.dtype == np.uint8


def test_bad_inputs():
    with pytest.raises(RecError, match="uint8 RGB"):
        model_input(np.zeros((8, 8), np.uint8), 64)
    with pytest.raises(RecError, match="exceeds the limits"):  # refused before padding allocates
        model_input(np.zeros((1, (1 << 16) + 1, 3), np.uint8), 64)
    with pytest.raises(RecError, match="at least one"):
        mean_kl([])
    with pytest.raises(RecError, match="positive"):
        LevelKL(0, 1.0, 1.0)
    assert LevelKL(1, 0.0, 0.0).level2_share == 0.0  # no 0/0


def test_ideal_point_is_the_mean_over_images_of_exact_samples():
    model = tiny_model(3)
    rng = np.random.default_rng(8)
    images = [smooth_image(rng, 170, 200), smooth_image(rng, 192, 165)]  # MS-SSIM needs 161 px a side; odd sizes
    point = ideal_point(model, images, seed=4)
    g = torch.Generator().manual_seed(4)  # the mean draws consume no randomness: the same samples as image_kl's
    kls = [image_kl(model, x, g) for x in images]
    assert point.kl == mean_kl(kls) and point.beta is None
    assert 0 < point.active_channels <= model.config.M
    again = ideal_point(model, images, seed=4)
    assert again == point
    g = torch.Generator().manual_seed(4)
    qualities = []
    for x in images:
        a = model.analyze(model_input(x, 64))
        qualities.append(psnr(x, reconstruct(model, draw_latents(model, a, x.shape[0] * x.shape[1], generator=g).z1, *x.shape[:2])))
    assert point.psnr == pytest.approx(np.mean(qualities), rel=1e-9)
