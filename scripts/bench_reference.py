"""Encode / decode time of the mbt2018 reference codec (rec.reference) on a 768×512 image.

Default widths (N = M = 128), untrained but seeded weights: timing only, the rate is
meaningless. Prints the median of ``--repeats`` runs of the transforms, of the
autoregressive pass alone, and of encode (``compress``: no reconstruction) and decode,
for both coding orders of y (the wavefront of rec.models.joint and plain raster
order), and checks the round trip. Writes nothing.

    python scripts/bench_reference.py [--repeats 3] [--threads 2] [--size 768x512]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from rec.models.joint import JointConfig, JointPrior
from rec.models.pln import pad_to_multiple
from rec.reference import CodecParams, decode, encode


def test_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Photo-like: smooth gradients, an edge and a little noise (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * xx + 1), np.cos(5 * yy + 2), np.sin(4 * (xx + yy))], -1)
    edge = (xx + 0.3 * yy > 0.5)[..., None] * np.array([0.3, -0.2, 0.1])
    img = 0.5 + 0.35 * base + edge + 0.03 * rng.standard_normal((height, width, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--size", default="768x512")
    ap.add_argument("--orders", default="wavefront,raster")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    width, height = map(int, args.size.split("x"))
    torch.manual_seed(0)
    model = JointPrior(JointConfig()).eval()
    img = test_image(width, height)
    print(f"mbt2018 N=M=128 untrained, image {width}x{height}, torch {torch.__version__}, "
          f"{args.threads} threads, median of {args.repeats}")

    # the transforms alone, for reference
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255)
    with torch.no_grad():
        t_ga, y = timed(lambda: model.analyze(pad_to_multiple(x, 64)), args.repeats)
        t_gs, _ = timed(lambda: model.synthesize(torch.round(y)), args.repeats)
    print(f"  g_a {t_ga:.3f} s, g_s {t_gs:.3f} s   (latent {tuple(y.shape[1:])})")

    for order in args.orders.split(","):
        params = CodecParams(schedule=order)
        psi = torch.randn(1, 2 * model.config.M, *y.shape[-2:])
        t_ar, _ = timed(lambda: model.quantize_y(y, psi, order), args.repeats)
        t_enc, enc = timed(lambda: encode(model, img, params=params, reconstruct=False), args.repeats)
        t_dec, dec = timed(lambda: decode(model, enc.data), args.repeats)
        exact = torch.equal(dec.y_hat, enc.y_hat)
        print(f"  {order:9s}: autoregressive pass {t_ar:.3f} s, encode {t_enc:.3f} s, decode {t_dec:.3f} s, "
              f"{len(enc.data)} bytes, round trip exact: {exact}")


if __name__ == "__main__":
    main()
