import math

import numpy as np
import pytest

from rec.errors import RecError
from rec.evaluation.metrics import MS_SSIM_MIN_SIDE, Quality, bpp, ms_ssim, ms_ssim_db, mse, psnr, quality


def test_identical_images(msssim_image):
    q = quality(msssim_image, msssim_image.copy())
    assert q == Quality(psnr=math.inf, ms_ssim=1.0, ms_ssim_db=math.inf, ms_ssim_is_ssim=False)


def test_known_mse_gives_known_psnr():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[..., 0] += 10  # squared error 100 on one third of the values
    assert mse(a, b) == pytest.approx(100 / 3)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 * 3 / 100), abs=1e-12)
    c = a + 1  # MSE 1
    assert psnr(a, c) == pytest.approx(20 * math.log10(255), abs=1e-12)


def test_ms_ssim_decreases_with_noise(msssim_image):
    rng = np.random.default_rng(0)
    values = []
    for sigma in (2, 8, 32):
        noisy = np.clip(msssim_image + rng.normal(0, sigma, msssim_image.shape), 0, 255).astype(np.uint8)
        q = quality(msssim_image, noisy)
        assert 0 < q.ms_ssim < 1
        assert q.ms_ssim_db == pytest.approx(-10 * math.log10(1 - q.ms_ssim))
        values.append(q.ms_ssim)
    assert values[0] > values[1] > values[2]


def test_ms_ssim_matches_pytorch_msssim_on_unit_range(msssim_image):
    torch = pytest.importorskip("torch")
    from pytorch_msssim import ms_ssim as reference

    noisy = np.clip(msssim_image.astype(int) + 12, 0, 255).astype(np.uint8)
    x = torch.from_numpy(msssim_image).permute(2, 0, 1)[None].float() / 255
    y = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255
    assert ms_ssim(msssim_image, noisy) == pytest.approx(float(reference(x, y, data_range=1.0)), abs=1e-5)


def test_small_images_raise_or_fall_back_to_ssim(small_image):
    assert min(small_image.shape[:2]) < MS_SSIM_MIN_SIDE
    with pytest.raises(RecError, match="too small"):
        ms_ssim(small_image, small_image)
    q = quality(small_image, small_image // 2 * 2, small="ssim")
    assert q.ms_ssim_is_ssim and 0.9 < q.ms_ssim < 1.0


def test_bpp_and_db():
    assert bpp(1000, 100, 80) == 1.0
    assert ms_ssim_db(0.9) == pytest.approx(10.0)
    assert ms_ssim_db(1.0) == math.inf
    with pytest.raises(RecError):
        bpp(10, 0, 5)
    with pytest.raises(RecError):
        ms_ssim_db(1.5)


@pytest.mark.parametrize(
    "a, b",
    [
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32)),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)),
    ],
)
def test_bad_input_raises(a, b):
    with pytest.raises(RecError):
        psnr(a, b)
