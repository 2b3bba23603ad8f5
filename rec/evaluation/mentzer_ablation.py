"""The ablation of Mentzer et al. 2018, Table 1: the same autoencoder's symbols, priced by four
probability models.

For every image the autoencoder gives symbols ẑ (M × h × w, L centres) and an importance map;
only the voxels the map keeps (c < depth) are coded (the masked cost MC of Eq. 19). Their ideal
code length under

* **uniform**: log2 L bits per coded symbol;
* **zeroth order**: the marginal distribution of the symbols, pooled over the images
  (a static table fitted to the very data it codes: a lower bound for any zeroth-order coder);
* **first order**: the distribution of a symbol given the previous one in the coding order
  (x − 1 in the same row and channel; the first of a row conditions on a start state), pooled
  over the images likewise;
* **context model**: −log2 P of the masked 3D-CNN context model (the model's own estimate; the
  codec writes within a few per cent of it, tests/test_mentzer_codec.py).

The plug-in estimates of the two pooled orders are optimistic (no table is transmitted), so
they favour the baselines, as the paper's comparison does. The importance map's bits are the
same under all four and are reported apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rec.models.mentzer import ContextAutoencoder
from rec.models.pln import model_input

__all__ = ["ImageSymbols", "AblationRow", "image_symbols", "ablation"]


@dataclass(frozen=True)
class ImageSymbols:
    """One image's coded symbols: ``symbols`` (M, h, w), ``depth`` (h, w), the context model's
    bits of every voxel (M, h, w), and the image's pixels."""

    name: str
    symbols: np.ndarray
    depth: np.ndarray
    context_bits: np.ndarray
    pixels: int

    @property
    def coded(self) -> np.ndarray:
        """The voxels the importance map keeps: c < depth[y, x]."""
        return np.arange(self.symbols.shape[0])[:, None, None] < self.depth[None]


@dataclass(frozen=True)
class AblationRow:
    """Bits per pixel of the coded symbols under one probability model, mean over the images."""

    model: str
    bpp: float


@torch.no_grad()
def image_symbols(net: ContextAutoencoder, name: str, rgb: np.ndarray) -> ImageSymbols:
    """The symbols, depths and context-model bits of an RGB uint8 image, as the codec sees them."""
    net = net.eval()
    x = model_input(rgb, net.config.factor, channels_last=False)
    symbols, depth = net.encode_latents(x)
    zero = net.zero_symbol()
    symbols = symbols.clone()
    masked = torch.arange(symbols.shape[1])[None, :, None, None] >= depth[:, None]
    symbols[masked] = zero
    z_hat = net.centers.detach()[symbols]
    bits = net.bits(z_hat, symbols)
    return ImageSymbols(name, symbols[0].numpy().astype(np.int64), depth[0].numpy().astype(np.int64),
                        bits[0].double().numpy(), rgb.shape[0] * rgb.shape[1])


def _pooled_bits(counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """−log2 of each occurrence's pooled relative frequency within its key's row of ``counts``."""
    totals = counts.sum(axis=-1, keepdims=True)
    p = counts / np.maximum(totals, 1)
    return -np.log2(p[keys])


def ablation(images: Sequence[ImageSymbols], centers: int) -> list[AblationRow]:
    """The four rows of Table 1 (bpp of the coded symbols, mean over the images)."""
    marginal = np.zeros(centers)
    conditional = np.zeros((centers + 1, centers))  # row `centers`: the start of a row
    pairs = []
    for im in images:
        s, coded = im.symbols, im.coded
        previous = np.concatenate([np.full(s.shape[:2] + (1,), centers), s[:, :, :-1]], axis=2)
        np.add.at(marginal, s[coded], 1)
        np.add.at(conditional, (previous[coded], s[coded]), 1)
        pairs.append((s[coded], previous[coded]))
    rows = {"uniform": [], "zeroth order": [], "first order": [], "context model": []}
    for im, (symbols, previous) in zip(images, pairs):
        rows["uniform"].append(symbols.size * np.log2(centers) / im.pixels)
        rows["zeroth order"].append(_pooled_bits(marginal, symbols).sum() / im.pixels)
        rows["first order"].append(_pooled_bits(conditional, (previous, symbols)).sum() / im.pixels)
        rows["context model"].append(im.context_bits[im.coded].sum() / im.pixels)
    return [AblationRow(name, float(np.mean(v))) for name, v in rows.items()]
