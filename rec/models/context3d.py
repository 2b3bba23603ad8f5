"""The masked 3D-CNN context model P of Mentzer et al. 2018, and its evaluation over wavefronts.

Mentzer, Agustsson, Tschannen, Timofte and Van Gool, *Conditional Probability Models for Deep Image Compression*, CVPR 2018, section 3.2 and Fig. 3.
The symbol volume ẑ (M channels × h × w) is read as a 3D image (depth c × height y × width
x) and factorized in raster order of (c, y, x), c slowest (Eq. 5); P predicts, for every voxel
i, a distribution P_{i,l} over the L centres (Eq. 6) from the voxels before it. Four masked
3×3×3 convolutions (PixelCNN masking generalized to 3D; "we use a 4-layer network"), W = 24
(Fig. 3; the residual block as the authors' code builds it)::

    h1 = ReLU(A(ẑ))            A: 1 → W, mask type A (the 13 taps strictly before the centre)
    h2 = ReLU(B1(h1))          B: W → W, mask type B (the same 13 taps and the centre)
    h3 = B2(h2) + h1           (a residual block around B1, B2)
    logits = B3(h3)            B3: W → L;  P_i = softmax(logits_i)

Since every layer is causal with respect to the layer before, and the first strictly so,
logits_i depends on ẑ_j only for j < i in raster order (tests/models/test_mentzer.py perturbs
a later voxel and checks that no earlier prediction moves). The masked taps are not stored:
a kernel is a (out, in, taps) parameter scattered into a zero 3×3×3 kernel for
``F.conv3d`` (so the masked taps are exactly zero, have no gradient, and the trainer's
channels-last layout, which has no 5D form, leaves the parameters alone).

Wavefronts (the decoder's schedule). With t(c, y, x) = 4c + 2y + x, every tap (dc, dy, dx)
of either mask has 4dc + 2dy + dx ≤ −1, except the centre of a type-B mask (0): the nearest
ones are (0, 0, −1) → −1, (0, −1, +1) → −1 and (−1, +1, +1) → −1 (a = 4, b = 2 are the
smallest integers for which this holds: b ≥ 2 and a ≥ b + 2). So layer 1 at wavefront t
reads only ẑ at wavefronts t − 7 … t − 1, and layer k > 1 reads layer k − 1 at wavefronts
t − 7 … t. All voxels of one wavefront are decoded together from one network step; a
volume of M × h × w symbols takes the number of non-empty wavefronts (:func:`wavefront_steps`),
4(M − 1) + 2(h − 1) + w when h, w ≥ 2 (M = 32 latent channels of a 768 × 512 image: 346
steps for 196 608 symbols).

:class:`WavefrontContext` evaluates P step by step, each layer only at the step's voxels,
in fixed point: for every layer, the step's voxels gather their taps from ring buffers holding
the last 8 wavefronts of the layer below (a ring is 8 × (M + 1) × (h + 2) × channels: the
voxel (c, y, x) of wavefront t sits at [t mod 8, c + 1, y + 1], its x being t − 4c − 2y;
entries no voxel of that wavefront owns, and the padding rows, stay zero as the zero
padding of ``F.conv3d``), then one matrix product. The compute is that of one dense pass
over the volume, the memory O(M · h) per layer. Encoder and decoder both run this class with
the same shapes and in the same order, and read only voxels of earlier wavefronts. Their
probabilities agree bit for bit on every machine, whatever its kernels or thread count,
because every sum is exact (:mod:`rec.models.fixed_point`, after Ballé, Johnston & Minnen
2019): weights and biases on a 2**-16 grid, the centres and every layer's output on a
2**-12 grid, clamped so that no partial sum reaches 2**53 units; the softmax takes its
exponentials from :mod:`rec.portable` and sums them in a fixed order. The probabilities are
then rounded to integer counts that sum to 2**24 (:func:`quantize_probabilities`), the form
constriction's categorical coder takes exactly. The rounding moves P by about 1e-3 (the
dense :class:`ContextModel` that trains it is float).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rec import portable
from rec.models.fixed_point import ACT_BITS, MIN_BOUND, WEIGHT_BITS, checked_bound, exactness_bound, on_grid

__all__ = ["PRECISION", "TAPS_A", "TAPS_B", "WAVEFRONT", "MaskedConv3d", "ContextModel", "WavefrontContext",
           "wavefront_of", "wavefront_steps", "quantize_probabilities"]

#: Bits of the integer probabilities: constriction's categorical models are 24-bit fixed point.
PRECISION = 24
#: The wavefront t = a·c + b·y + x (a, b) — see the module docstring.
WAVEFRONT = (4, 2)
#: Kernel taps (dc, dy, dx) of a mask of type A: those strictly before the centre in raster order of (c, y, x).
TAPS_A: tuple[tuple[int, int, int], ...] = tuple(
    (dc, dy, dx) for dc in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dc, dy, dx) < (0, 0, 0))
#: Type B: the type-A taps and the centre.
TAPS_B: tuple[tuple[int, int, int], ...] = TAPS_A + ((0, 0, 0),)
_RING = 8  # wavefronts a ring keeps: the farthest tap is 4 + 2 + 1 = 7 wavefronts back


def wavefront_of(c, y, x):
    """t = 4c + 2y + x (numbers or arrays)."""
    a, b = WAVEFRONT
    return a * c + b * y + x


def wavefront_steps(channels: int, h: int, w: int) -> int:
    """The number of non-empty wavefronts of a channels × h × w volume: the decoder's network steps."""
    a, b = WAVEFRONT
    base = np.unique(a * np.arange(channels)[:, None] + b * np.arange(h)[None, :])  # t of each row's x = 0
    return int(np.minimum(np.diff(base), w).sum()) + w  # the union of the rows' intervals [base, base + w)


class MaskedConv3d(nn.Module):
    """A 3×3×3 convolution, zero-padded "same", whose kernel has only the taps of a PixelCNN mask.

    Args:
        cin, cout: channels.
        mask: "A" (:data:`TAPS_A`) or "B" (:data:`TAPS_B`).

    ``weight`` is (cout, cin, taps), ``bias`` (cout,).
    """

    def __init__(self, cin: int, cout: int, mask: str):
        super().__init__()
        if mask not in ("A", "B"):
            raise ValueError(f"mask type is 'A' or 'B', got {mask!r}")
        self.mask = mask
        self.taps = TAPS_A if mask == "A" else TAPS_B
        index = [(dc + 1) * 9 + (dy + 1) * 3 + (dx + 1) for dc, dy, dx in self.taps]
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)
        bound = 1.0 / math.sqrt(cin * len(self.taps))  # torch's default initialization, with the real fan-in
        self.weight = nn.Parameter(torch.empty(cout, cin, len(self.taps)).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(cout).uniform_(-bound, bound))

    def kernel(self, detach: bool = False) -> torch.Tensor:
        """The full (cout, cin, 3, 3, 3) kernel, zero outside the mask."""
        w = self.weight.detach() if detach else self.weight
        full = w.new_zeros(w.shape[0], w.shape[1], 27).index_copy(2, self.index, w)
        return full.view(w.shape[0], w.shape[1], 3, 3, 3)

    def forward(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """x (B, cin, D, H, W) → (B, cout, D, H, W); ``detach``: the weights as constants (no gradient to them)."""
        bias = self.bias.detach() if detach else self.bias
        return F.conv3d(x, self.kernel(detach).to(x.dtype), bias.to(x.dtype), padding=1)

    def matrix(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights as a float64 (taps·cin, cout) matrix for gathered taps (tap-major), and the bias."""
        w = self.weight.detach().double()
        return w.permute(2, 1, 0).reshape(-1, w.shape[0]).contiguous(), self.bias.detach().double().clone()


class ContextModel(nn.Module):
    """P: four masked 3D convolutions from ẑ (B, M, h, w) to logits (B, L, M, h, w) (Fig. 3)."""

    def __init__(self, centers: int, width: int = 24):
        super().__init__()
        self.conv0 = MaskedConv3d(1, width, "A")
        self.conv1 = MaskedConv3d(width, width, "B")
        self.conv2 = MaskedConv3d(width, width, "B")
        self.conv3 = MaskedConv3d(width, centers, "B")

    def forward(self, z_hat: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """Logits of every voxel; ``detach``: P's weights as constants (the gradient flows to ẑ only)."""
        x = z_hat.unsqueeze(1)
        h1 = F.relu(self.conv0(x, detach))
        h2 = F.relu(self.conv1(h1, detach))
        h3 = self.conv2(h2, detach) + h1
        return self.conv3(h3, detach)


def quantize_probabilities(logits: torch.Tensor) -> np.ndarray:
    """Integer probabilities (n, L) int64 from logits (n, L): softmax in float64 (the same bits on
    every machine: :func:`rec.portable.exp`, the row sums in a fixed order), then
    ⌊p · (2**24 − L)⌋ + 1 for every symbol (none impossible), the remainder added to the most
    probable one, so that each row sums to 2**24 exactly. A deterministic function of the logits."""
    z = logits.detach().double().numpy()
    e = portable.exp(z - z.max(axis=1, keepdims=True))
    total = e[:, 0].copy()
    for j in range(1, e.shape[1]):  # one IEEE addition at a time: no reduction order to vary
        total += e[:, j]
    p = e / total[:, None]
    n, size = p.shape
    counts = np.floor(p * float((1 << PRECISION) - size)).astype(np.int64) + 1
    counts[np.arange(n), np.argmax(p, axis=1)] += (1 << PRECISION) - counts.sum(axis=1)
    return counts


class WavefrontContext:
    """P evaluated wavefront by wavefront in fixed point, as encoder and decoder both run it (see the module docstring).

    Args:
        model: the context model P.
        values: the value of each symbol (the quantizer's centres), (L,).
        depth: (h, w) int: the voxels (c, y, x) with c < depth[y, x] are coded; the others hold ``zero``.
        channels: M, the volume's depth.
        zero: the symbol of the masked voxels (the centre nearest 0).

    :meth:`run` calls ``visit(c, y, x, counts)`` once per wavefront with coded voxels, in
    order: the coordinates of the wavefront's coded voxels (ascending c, then y) and their
    integer probabilities (n, L); ``visit`` returns their symbols (n,) (the encoder's known
    ones, or the decoder's decoded ones). Returns the number of network steps.
    """

    def __init__(self, model: ContextModel, values: torch.Tensor, depth: np.ndarray, channels: int, zero: int):
        layers = [conv.matrix() for conv in (model.conv0, model.conv1, model.conv2, model.conv3)]
        self.layers = [(on_grid(w, WEIGHT_BITS), on_grid(b, WEIGHT_BITS)) for w, b in layers]
        # the input bound of each layer (weights with their outputs first, as exactness_bound reads them)
        self.bounds = [checked_bound(exactness_bound(w.T, b)) for w, b in self.layers]
        self.values = on_grid(values.detach().reshape(-1), ACT_BITS, self.bounds[0])
        self.depth = np.asarray(depth, dtype=np.int64)
        self.h, self.w = self.depth.shape
        self.m = channels
        self.zero = int(zero)
        width = self.layers[0][0].shape[1]
        a, b = WAVEFRONT
        self.rows, self.cols = self.m + 1, self.h + 2  # a slot: one row of padding in front of c, one each side of y
        slot = self.rows * self.cols
        self.rings = [torch.zeros(_RING * slot, ch, dtype=torch.float64) for ch in (1, width, width, width)]
        c, y = np.meshgrid(np.arange(self.m), np.arange(self.h), indexing="ij")
        self.c, self.y = c.ravel(), y.ravel()
        self.base = a * self.c + b * self.y
        self.cell = (self.c + 1) * self.cols + (self.y + 1)  # the voxel's place within a slot

        def offsets(taps):  # per tap: the wavefront shift and the place shift within a slot
            return (np.array([a * dc + b * dy + dx for dc, dy, dx in taps]),
                    np.array([dc * self.cols + dy for dc, dy, dx in taps]))

        self.taps_a, self.taps_b = offsets(TAPS_A), offsets(TAPS_B)
        self.slot = slot

    @property
    def wavefronts(self) -> int:
        """The last wavefront + 1."""
        a, b = WAVEFRONT
        return a * (self.m - 1) + b * (self.h - 1) + self.w

    def _gather(self, ring: torch.Tensor, taps, t: int, cell: np.ndarray) -> torch.Tensor:
        shift, move = taps
        slots = ((t + shift) % _RING) * self.slot  # (taps,)
        idx = torch.from_numpy((slots[None, :] + cell[:, None] + move[None, :]).ravel())
        return ring.index_select(0, idx).view(cell.size, -1)

    def run(self, visit) -> int:
        (w0, b0), (w1, b1), (w2, b2), (w3, b3) = self.layers
        _, b1_in, b2_in, b3_in = self.bounds
        bound1, bound2, bound3 = min(b1_in, b3_in), b2_in, b3_in  # h1 feeds conv1 and the residual sum
        inp, r1, r2, r3 = self.rings
        steps = 0
        for t in range(self.wavefronts):
            s = (t % _RING) * self.slot
            for ring in self.rings:  # wavefront t − 8 leaves the ring: its slot becomes t's, all zero
                ring[s : s + self.slot].zero_()
            x = t - self.base
            sel = np.flatnonzero((x >= 0) & (x < self.w))
            if sel.size == 0:
                continue
            c, y, x = self.c[sel], self.y[sel], x[sel]
            cell = self.cell[sel]
            rows = torch.from_numpy(s + cell)
            # every sum exact; every output rounded to the grid and clamped to its consumers' bound
            h1 = on_grid(torch.relu(torch.addmm(b0, self._gather(inp, self.taps_a, t, cell), w0)), ACT_BITS, bound1)
            r1.index_copy_(0, rows, h1)
            h2 = on_grid(torch.relu(torch.addmm(b1, self._gather(r1, self.taps_b, t, cell), w1)), ACT_BITS, bound2)
            r2.index_copy_(0, rows, h2)
            h3 = on_grid(torch.addmm(b2, self._gather(r2, self.taps_b, t, cell), w2), ACT_BITS, bound3)
            h3 = (h3 + h1).clamp_(-bound3, bound3)  # both on the grid: exact
            r3.index_copy_(0, rows, h3)
            symbols = np.full(sel.size, self.zero, dtype=np.int64)
            coded = np.flatnonzero(c < self.depth[y, x])
            if coded.size:
                logits = on_grid(torch.addmm(b3, self._gather(r3, self.taps_b, t, cell[coded]), w3), ACT_BITS, MIN_BOUND)
                got = np.asarray(visit(c[coded], y[coded], x[coded], quantize_probabilities(logits)), dtype=np.int64)
                symbols[coded] = got
            inp.index_copy_(0, rows, self.values[torch.from_numpy(symbols)].view(-1, 1))
            steps += 1
        return steps
