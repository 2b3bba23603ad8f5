"""Thesis analysis (a): each model's theoretical point against its actual point (thesis section 4.2, Fig. 4.1).

Usage:
    python scripts/analysis_bound.py [EVAL_DIR] [--out results/analysis_bound.md]
                                     [--reference results/classical/jpeg.json ...]

EVAL_DIR (default results/rec) holds the ``rec-*.json`` curves of
``rec eval DIR --codec rec --out EVAL_DIR``: one point per model. Per model
(:mod:`rec.evaluation.bound`):

- theoretical point: x = the bound I + 2·log2(I + 1) in bpp, y = PSNR / MS-SSIM dB of
  the ideal reconstruction (an exact posterior sample, no coding);
- actual point: x = bpp written, y = PSNR / MS-SSIM dB of the decoded image;
- KL point: x = I in bpp, y = the ideal quality.

Writes a markdown table (bpp / bound, bpp / KL, KL, PSNR and MS-SSIM gaps) to --out and
the figure beside it (same name, .png): an arrow from each theoretical point to its
actual point, the KL point left of the bound, and the --reference curves (default our
JPEG, if present; ``--reference`` alone for none) for scale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rec.errors import RecError  # noqa: E402
from rec.evaluation.bound import BoundPoint, bound_points, load_rec_curves  # noqa: E402
from rec.evaluation.provenance import provenance  # noqa: E402
from rec.evaluation.results import RDCurve, load_curve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PANELS = (("psnr", "PSNR (RGB) [dB]"), ("ms-ssim-db", "MS-SSIM (RGB) [dB]"))


def _ys(p: BoundPoint, metric: str) -> tuple[float | None, float | None]:
    """(ideal, decoded) quality of a point in ``metric``."""
    return (p.ideal_psnr, p.psnr) if metric == "psnr" else (p.ideal_ms_ssim_db, p.ms_ssim_db)


def plot(families: list[list[BoundPoint]], references: list[RDCurve], out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    colors = plt.get_cmap("tab10")
    for ax, (metric, ylabel) in zip(axes, PANELS, strict=True):
        for ref in references:
            if ref.has(metric):
                pts = sorted(zip(ref.bpp, ref.values(metric)))
                ax.plot([x for x, _ in pts], [y for _, y in pts], color="0.6", ls="--", lw=1.2, label=ref.name)
        for i, points in enumerate(families):
            color = colors(i % colors.N)
            shown = [p for p in points if None not in _ys(p, metric)]
            if not shown:
                continue
            shown.sort(key=lambda p: p.bpp)
            family = shown[0].family
            ideal = [_ys(p, metric)[0] for p in shown]
            actual = [_ys(p, metric)[1] for p in shown]
            ax.plot([p.kl_bpp for p in shown], ideal, ls=":", lw=1, marker="x", color=color, label=f"{family}: KL (ideal quality)")
            ax.plot([p.bound_bpp for p in shown], ideal, ls="--", lw=1, marker="^", mfc="none", color=color,
                    label=f"{family}: bound (theoretical)")
            ax.plot([p.bpp for p in shown], actual, ls="-", lw=1.5, marker="o", color=color, label=f"{family}: actual")
            for p, yi, ya in zip(shown, ideal, actual):
                ax.annotate("", xy=(p.bpp, ya), xytext=(p.bound_bpp, yi),
                            arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2, "shrinkA": 3, "shrinkB": 3})
                ax.annotate(p.model, (p.bpp, ya), fontsize=7, xytext=(4, -9), textcoords="offset points", color=color)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("REC: theoretical point (bound, ideal quality) → actual point (bytes written, decoded quality)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    fig.savefig(Path(out).with_suffix(".svg"))  # vector, beside the PNG
    plt.close(fig)


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _f(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def report(curves: list[tuple[Path, RDCurve]], families: list[list[BoundPoint]], references: list[Path],
           png: Path, argv: list[str] | None) -> str:
    lines = ["# Theoretical against actual performance of each model (thesis analysis a)", "", provenance(__file__, argv)]
    for path, c in curves:
        m = c.meta or {}
        made = (f"written {m.get('date', '?')} by `{m.get('command', '?')}` on {m.get('machine', '?')}; samplers "
                f"`{m.get('samplers', '?')}`" if "command" in m or "source" not in m else
                f"{m['source'][0].lower()}{m['source'][1:].rstrip('.')}; {c.description}")  # a script's provenance line
        lines.append(f"`{path.name}` ({c.name}): models {', '.join(m.get('models') or [m.get('model', '?')])}; data {m.get('dataset', '?')} "
                     f"({m.get('images', '?')} images); {made}.")
    lines += [
        "",
        "Means over the images. *Theoretical*: x = the bound I + 2·log2(I + 1) per image (Harsha et al. 2007, no constant),",
        "y = the ideal reconstruction (an exact posterior sample, no coding). *Actual*: x = bytes written, y = the image",
        "decoded from them. *KL*: x = I, the rate a perfect coder approaches. bpp / bound > 1: the coder writes more",
        "than the bound; gap = decoded − ideal (negative: coding loses quality).",
        "",
        "| curve | model | KL bpp | bound bpp | bpp written | bpp / bound | bpp / KL | ideal PSNR | PSNR | PSNR gap "
        "| ideal MS-SSIM dB | MS-SSIM dB | MS-SSIM dB gap |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for points in families:
        for p in points:
            lines.append(f"| {p.family} | {p.model} | {p.kl_bpp:.5f} | {p.bound_bpp:.5f} | {p.bpp:.4f} | {p.bpp_over_bound:.3f} | "
                         f"{p.bpp_over_kl:.3f} | {p.ideal_psnr:.2f} | {p.psnr:.2f} | {p.psnr_gap:+.2f} | "
                         f"{_f(p.ideal_ms_ssim_db, '.2f')} | {_f(p.ms_ssim_db, '.2f')} | {_f(p.ms_ssim_db_gap, '+.2f')} |")
    if references:
        lines += ["", "Reference curves in the figure: " + ", ".join(f"`{_rel(p)}`" for p in references) + "."]
    lines += ["", f"![theoretical against actual points]({png.name})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("eval_dir", nargs="?", type=Path, default=ROOT / "results" / "rec", help="directory of rec-*.json (default results/rec)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "analysis_bound.md", help="markdown file; the PNG goes beside it")
    default_refs = [p for p in [ROOT / "results" / "classical" / "jpeg.json"] if p.is_file()]
    ap.add_argument("--reference", nargs="*", type=Path, default=default_refs, help="curves drawn for scale (default our JPEG)")
    args = ap.parse_args(argv)
    try:
        curves = load_rec_curves(args.eval_dir)
        if not curves:
            raise RecError(f"no rec-*.json in {args.eval_dir}: run `rec eval DIR --codec rec --out {args.eval_dir}` first")
        usable, families = [], []
        for path, c in curves:
            try:
                families.append(bound_points(c))
                usable.append((path, c))
            except RecError as e:  # e.g. a curve written before its script recorded the bound
                print(f"skipped {path.name}: {e}", file=sys.stderr)
        curves = usable
        if not curves:
            raise RecError(f"no curve of {args.eval_dir} records KL, bound and ideal quality")
        references = [load_curve(p) for p in args.reference]
    except RecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    png = args.out.with_suffix(".png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(families, references, png)
    text = report(curves, families, args.reference, png, argv)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
