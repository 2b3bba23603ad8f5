"""Thesis Fig. 4.2: the second level's contribution to the rate, against the rate, PLN against γ-PLN.

Usage:
    python scripts/analysis_level2_share.py [--kodak ../shared/data/kodak] [--limit N]
                                            [--models a,b,...] [--seed 0] [--out results/level2_share.md]

For every PLN and γ-PLN of the zoo (or --models), on the (first --limit) Kodak images:
the exact analytic KLs of level 2, KL[q(z2|x) ‖ N(0, I)], and of level 1 given a z2
drawn from its posterior, KL[q(z1|z2,x) ‖ p(z1|z2)] — as the codec conditions level 1
on the z2 it coded (:mod:`rec.evaluation.latents`). Per model: the mean KL of each
level in bpp and level 2's share of the mean rate. Writes the table to --out and
the figure beside it (.png): level 2's KL in bpp (left) and its share (right) against
the total KL, one series per family, as the thesis's Fig. 4.2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from rec.errors import RecError  # noqa: E402
from rec.evaluation.latents import LevelKL, image_kl, mean_kl  # noqa: E402
from rec.evaluation.provenance import provenance  # noqa: E402
from rec.evaluation.runner import load_images  # noqa: E402
from rec.models.zoo import ZooEntry, list_models, load_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"pln": "PLN", "gamma-pln": "γ-PLN"}


@dataclass(frozen=True)
class ModelShare:
    """One model's mean per-level KL over the images, and the per-image shares."""

    entry: ZooEntry
    mean: LevelKL
    images: tuple[LevelKL, ...]

    @property
    def share_range(self) -> tuple[float, float]:
        shares = [k.level2_share for k in self.images]
        return min(shares), max(shares)


def measure(entry: ZooEntry, images, seed: int) -> ModelShare:
    model = load_model(entry.name)
    g = torch.Generator().manual_seed(seed)
    kls = tuple(image_kl(model, im.rgb, g) for im in images)
    return ModelShare(entry, mean_kl(kls), kls)


def plot(rows: list[ModelShare], out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for kind, label in KINDS.items():
        mine = sorted((r for r in rows if r.entry.kind == kind), key=lambda r: r.mean.kl_bpp)
        if not mine:
            continue
        x = [r.mean.kl_bpp for r in mine]
        for ax, y in ((axes[0], [r.mean.kl2_bpp for r in mine]), (axes[1], [100 * r.mean.level2_share for r in mine])):
            ax.plot(x, y, "o-", label=label)
            for r, xi, yi in zip(mine, x, y):
                ax.annotate(r.entry.name, (xi, yi), fontsize=7, xytext=(4, 3), textcoords="offset points")
    axes[0].set(xlabel="total KL (bpp)", ylabel="level-2 KL (bpp)", title="Level 2's contribution in bpp")
    axes[1].set(xlabel="total KL (bpp)", ylabel="level-2 share of the KL (%)", title="Level 2's contribution in percent")
    for ax in axes:
        ax.margins(0.15)
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    fig.savefig(Path(out).with_suffix(".svg"))  # vector, beside the PNG
    plt.close(fig)


def report(rows: list[ModelShare], kodak: Path, n_images: int, seed: int, png: Path, argv: list[str] | None) -> str:
    lines = [
        "# Level 2's contribution to the rate (thesis Fig. 4.2)",
        "",
        provenance(__file__, argv),
        f"Data: the first {n_images} image{'' if n_images == 1 else 's'} of {kodak.name} (`{kodak}`); models (zoo): "
        f"{', '.join(f'{r.entry.name} ({r.entry.steps} steps)' for r in rows)}; z2 drawn with torch seed {seed}.",
        "",
        "KL2 = KL[q(z2|x) ‖ N(0, I)]; KL1 = KL[q(z1|z2,x) ‖ p(z1|z2)] at a z2 drawn from q(z2|x) (as the codec",
        "conditions level 1 on the z2 it coded). Both exact (analytic Gaussian KLs), in bits per pixel, means over",
        "the images. Share = mean KL2 / mean total KL; the last column is the range of the per-image shares.",
        "",
        "| model | kind | β | γ∞ | KL1 bpp | KL2 bpp | total KL bpp | level-2 share | per-image share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r.entry.kind, r.mean.kl_bpp)):
        c, lo_hi = r.entry.config, r.share_range
        gamma = f"{c.gamma_inf:g}" if r.entry.kind == "gamma-pln" else "—"
        lines.append(f"| {r.entry.name} | {KINDS[r.entry.kind]} | {c.beta:g} | {gamma} | {r.mean.kl1_bpp:.4f} | {r.mean.kl2_bpp:.5f} | "
                     f"{r.mean.kl_bpp:.4f} | {100 * r.mean.level2_share:.2f} % | {100 * lo_hi[0]:.2f}-{100 * lo_hi[1]:.2f} % |")
    lines += ["", "The thesis: level 2's share falls as the rate grows, and the γ-PLN needs less of it than the PLN at",
              "the same rate.", "", f"![level 2's share against the rate]({png.name})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    ap.add_argument("--limit", type=int, default=None, help="first N images only")
    ap.add_argument("--models", default=None, help="comma-separated zoo names (default: every PLN and γ-PLN)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "level2_share.md", help="markdown file; the PNG goes beside it")
    args = ap.parse_args(argv)
    try:
        entries = [e for e in list_models() if e.kind in KINDS]
        if args.models:
            wanted = [m.strip() for m in args.models.split(",") if m.strip()]
            unknown = sorted(set(wanted) - {e.name for e in entries})
            if unknown:
                raise RecError(f"not PLN / γ-PLN models of the zoo: {', '.join(unknown)}")
            entries = [e for e in entries if e.name in wanted]
        if not entries:
            raise RecError("no PLN or γ-PLN model in the zoo")
        images = load_images(args.kodak, args.limit)
        rows = []
        for e in entries:
            rows.append(measure(e, images, args.seed))
            m = rows[-1].mean
            print(f"{e.name}: KL1 {m.kl1_bpp:.4f} bpp, KL2 {m.kl2_bpp:.4f} bpp, level 2 {100 * m.level2_share:.2f} %", flush=True)
    except RecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    png = args.out.with_suffix(".png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, png)
    args.out.write_text(report(rows, args.kodak, len(images), args.seed, png, argv))
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
