import numpy as np
import pytest
from PIL import Image


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like RGB test image: smooth gradients, edges and a little noise (uint8)."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), np.sin(4 * (xx + yy))], -1)
    edges = (xx + 0.3 * yy > rng.uniform(0.3, 0.7))[..., None] * rng.uniform(-0.5, 0.5, 3)
    img = 0.5 + 0.35 * base + edges + 0.03 * rng.standard_normal((height, width, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def image_dir(tmp_path):
    """Six generated 80×96 PNGs."""
    rng = np.random.default_rng(0)
    d = tmp_path / "images"
    d.mkdir()
    for i in range(6):
        Image.fromarray(smooth_image(rng, 80, 96)).save(d / f"img{i}.png")
    return d
