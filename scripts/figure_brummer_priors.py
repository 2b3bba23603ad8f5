"""Regenerate results/brummer/brummer_priors_<model>_<image>.png: which prior wins where (Brummer & De
Vleeschouwer 2021, Fig. 2).

    python scripts/figure_brummer_priors.py [--models a,b] [--image rec/data/kodim23.png]

For each installed brummer2021 model (or those of ``--models``) the image is encoded and the
index of the static prior chosen at every latent location (the cheapest for its symbols, as
the codec chooses it) is drawn beside the image: the segmentation the paper's Fig. 2 shows.
The title gives the bits of the latents, of the index side information and of the file.
With no brummer2021 model installed it says so and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rec.codec import resolve_model
from rec.codecs.brummer2021 import encode
from rec.evaluation.model_choice import zoo_models
from rec.image import read_image

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated model names (default: every installed brummer2021 model)")
    ap.add_argument("--image", default=str(ROOT / "rec" / "data" / "kodim23.png"))
    ap.add_argument("--out", default=str(ROOT / "results" / "brummer"))
    args = ap.parse_args(argv)
    names = args.models.split(",") if args.models else zoo_models("brummer2021")
    if not names:
        print("no brummer2021 model installed (scripts/train_zoo.py trains them): nothing to draw")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rgb = read_image(args.image)
    pixels = rgb.shape[0] * rgb.shape[1]
    for name in names:
        net = resolve_model(name)
        enc = encode(net, rgb, reconstruct=False)
        n_priors = net.config.n_priors
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        left.imshow(rgb)
        left.set_title(Path(args.image).name)
        im = right.imshow(enc.indices, cmap="tab20" if n_priors <= 20 else "nipy_spectral", vmin=0, vmax=n_priors - 1,
                          interpolation="nearest")
        right.set_title(f"winning prior per latent location ({len(set(enc.indices.ravel().tolist()))} of {n_priors} used)")
        fig.colorbar(im, ax=right, fraction=0.035)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{name}: latents {enc.bits_y / pixels:.3f} bpp, prior indices {enc.bits_index / pixels:.4f} bpp "
                     f"({enc.index_method}), file {8 * len(enc.data) / pixels:.3f} bpp")
        fig.tight_layout()
        path = Path(args.out) / f"brummer_priors_{name}_{Path(args.image).stem}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
