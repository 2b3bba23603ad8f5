"""Regenerate results/reference_channels.md: how many latent channels the quantized reference uses.

    python scripts/reference_channels.py [--model mbt2018-vr] [--kodak ../shared/data/kodak] [--lambdas 0.002,...]

Issue 15 asks every shipped REC model to keep at least 80 of its 128 level-1 channels active (the
fewest channels that carry 90 % of level 1's KL, :func:`rec.models.pln.active_channels`; results/
training.md counts them per β). This is the same count for the quantized reference: per λ of the
variable-rate mbt2018, the bits of each of its M channels of y under the inference quantization
(−log₂ of the coded ŷ's likelihood, the rate its entropy coder approaches), summed over the images.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from rec.evaluation.provenance import provenance
from rec.evaluation.runner import load_images
from rec.models.pln import active_channels, model_input
from rec.models.zoo import load_model

ROOT = Path(__file__).resolve().parent.parent


@torch.no_grad()
def channel_bits(net, rgb: np.ndarray, lmbda: float) -> np.ndarray:
    """Bits of each channel of y (shape (M,)) for one image at λ: −Σ log₂ p(ŷ) over its positions."""
    x = model_input(rgb, 64, channels_last=False)
    lam = torch.tensor([lmbda], dtype=torch.float64)
    bits_y, _ = net.element_bits(net.latents(x, noise=False, lmbda=lam))
    return bits_y[0].sum((1, 2)).double().numpy()


def measure(net, images, lambdas) -> list[tuple[float, float, int]]:
    """(λ, bpp of y, active channels) per λ over ``images`` (:class:`~rec.evaluation.runner.EvalImage`)."""
    pixels = sum(im.rgb.shape[0] * im.rgb.shape[1] for im in images)
    rows = []
    for lmbda in lambdas:
        bits = sum(channel_bits(net, im.rgb, lmbda) for im in images)
        rows.append((lmbda, float(bits.sum()) / pixels, active_channels(bits)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mbt2018-vr")
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--lambdas", default="0.002,0.0036,0.0052,0.0087,0.0138,0.025,0.05")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    ap.add_argument("--out", default=str(ROOT / "results" / "reference_channels.md"))
    args = ap.parse_args(argv)
    net = load_model(args.model).eval()
    images = load_images(args.kodak, args.limit)
    rows = measure(net, images, [float(v) for v in args.lambdas.split(",")])
    lines = ["# Latent channels the quantized reference uses", "", provenance(__file__, argv),
             f"Model `{args.model}` ({net.config.M} channels of y); {len(images)} images of {os.path.relpath(args.kodak, ROOT)}. *active*: "
             "the fewest channels of y that carry 90 % of its bits (the count results/training.md gives for REC's "
             "level 1).", "", "| λ | bpp of y | active channels |", "|---|---|---|"]
    lines += [f"| {lmbda:g} | {bpp:.3f} | {active} / {net.config.M} |" for lmbda, bpp, active in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
