import numpy as np
import pytest


def photo_like(seed: int, height: int, width: int) -> np.ndarray:
    """A smooth RGB test image with an edge and a little noise (uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), np.sin(4 * (xx + yy))], -1)
    edge = (xx + 0.3 * yy > rng.uniform(0.3, 0.7))[..., None] * rng.uniform(-0.5, 0.5, 3)
    img = 0.5 + 0.35 * base + edge + 0.04 * rng.standard_normal((height, width, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def small_image() -> np.ndarray:
    """64×96 RGB: enough for every codec, too small for MS-SSIM."""
    return photo_like(1, 64, 96)


@pytest.fixture(scope="session")
def msssim_image() -> np.ndarray:
    """176×192 RGB: just large enough for 5-scale MS-SSIM."""
    return photo_like(2, 176, 192)


@pytest.fixture(scope="session")
def make_image():
    """The generator itself: make_image(seed, height, width) -> uint8 RGB."""
    return photo_like
