"""Training patches (thesis section 3.1).

Images are decoded once into memory. Each image contributes
P(W, H) = C·⌊W/256⌋·⌊H/256⌋ patches per epoch (at least one), so a step draws
images with probability proportional to P and a uniformly placed crop of
``crop`` pixels (random horizontal flip) from each; with ``augment`` also a random
rotation by a multiple of 90° and a rescale (a region of up to 2× the crop,
scaled down with a bicubic filter), for some scale invariance.

Batches are a pure function of (seed, step): resuming at step t replays
exactly the batches an uninterrupted run would have seen, with no sampler state
to save. Under data parallelism rank r of R takes rows r::R of the global batch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rec.errors import RecError
from rec.image import AlphaDroppedWarning, image_files, read_image

__all__ = ["PatchDataset", "load_images", "patches_per_image"]



def patches_per_image(width: int, height: int, c: int = 15, patch: int = 256) -> int:
    """Thesis section 3.1: P(W, H) = C·⌊W/256⌋·⌊H/256⌋, at least 1."""
    return max(1, c * (width // patch) * (height // patch))


def load_images(directory: str | Path) -> list[np.ndarray]:
    """Every image of a directory as an RGB uint8 array (H, W, 3), sorted by name, read as the
    codec reads them (:func:`rec.image.read_image`: EXIF orientation applied, alpha dropped)."""
    if not Path(directory).is_dir():
        raise RecError(f"training data directory not found: {directory}")
    files = image_files(directory)
    if not files:
        raise RecError(f"no images in {directory}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlphaDroppedWarning)
        return [np.array(read_image(p)) for p in files]


@dataclass
class PatchDataset:
    """Random crops from in-memory images; see the module docstring."""

    images: list[np.ndarray]
    crop: int
    seed: int = 0
    patch_constant: int = 15
    augment: bool = False  # also random 90° rotations and rescaling by a factor in [0.5, 1]

    def __post_init__(self):
        small = [im.shape for im in self.images if min(im.shape[:2]) < self.crop]
        if small:
            raise RecError(f"{len(small)} images are smaller than the crop size {self.crop}: {small[:3]}")
        weights = np.array([patches_per_image(im.shape[1], im.shape[0], self.patch_constant) for im in self.images], float)
        self.probabilities = weights / weights.sum()

    def batch(self, step: int, size: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """The rows ``rank::world`` of the global batch of step ``step``, float in [0, 1], NCHW."""
        rng = np.random.default_rng([self.seed, step])
        which = rng.choice(len(self.images), size=size, p=self.probabilities)
        out = []
        for i in range(size):
            im = self.images[which[i]]
            side = self.crop
            if self.augment:  # a region of up to twice the crop, scaled down to it
                side = min(int(self.crop / rng.uniform(0.5, 1.0)), *im.shape[:2])
                turns = int(rng.integers(0, 4))
            top = rng.integers(0, im.shape[0] - side + 1)
            left = rng.integers(0, im.shape[1] - side + 1)
            flip = rng.random() < 0.5
            if i % world != rank:
                continue
            patch = im[top : top + side, left : left + side]
            if side != self.crop:
                patch = np.asarray(Image.fromarray(patch).resize((self.crop, self.crop), Image.Resampling.BICUBIC))
            if self.augment:
                patch = np.rot90(patch, turns)
            out.append(patch[:, ::-1] if flip else patch)
        arr = np.stack(out).astype(np.float32) / 255.0
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
