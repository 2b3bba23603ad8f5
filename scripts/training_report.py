"""Regenerate results/training.md: per shipped model its training curve, steps, wall time and,
on Kodak, the mean KL (bpp) and the quality of the reconstruction from the posterior mean and
from an exact posterior sample (the "ideal" that coded samples are measured against).

    python scripts/training_report.py [--runs /work/runs] [--kodak ../shared/data/kodak] [--models NAME ...]

The curves come from each model's training log (RUNS/<run>/log.jsonl, run named in the zoo
entry's ``extra.run`` or after the model); the Kodak figures are computed here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from rec.codecs import codec_for_kind

from rec.evaluation.bdtable import bd_cell
from rec.evaluation.bound import SPAN_KL_BPP
from rec.evaluation.latents import ideal_point
from rec.evaluation.metrics import ms_ssim_db
from rec.evaluation.provenance import provenance
from rec.evaluation.results import RDCurve, load_anchor
from rec.image import read_image
from rec.models.rate import standard_rates
from rec.models.zoo import list_models, load_model

ROOT = Path(__file__).resolve().parent.parent


def plot_curve(log: Path, out: Path, title: str) -> int:
    records = [json.loads(l) for l in open(log)]
    steps = np.array([r["step"] for r in records])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    k = max(1, len(records) // 400)
    smooth = lambda v: np.convolve(v, np.ones(k) / k, mode="valid")
    def robust_ylim(ax, values):  # rare loss spikes (clipped gradients) would flatten the curve
        lo, hi = np.percentile(values, [1, 99])
        ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.3 * (hi - lo))

    loss = smooth(np.array([r["loss"] for r in records]))
    axes[0].plot(steps[k - 1:], loss)
    robust_ylim(axes[0], loss)
    axes[0].set(title="training loss (nats/pixel)", xlabel="step")
    rate = smooth(np.array([r["bpp"] for r in records]))
    axes[1].plot(steps[k - 1:], rate, label="train (KL)")
    robust_ylim(axes[1], rate)
    val = [r for r in records if "val" in r]
    # a variable-rate model validates at several β: one line per β
    per_rate: dict = {}
    for r in val:
        for v in (r["val"] if isinstance(r["val"], list) else [r["val"]]):
            per_rate.setdefault(v.get("beta"), []).append((r["step"], v["bpp"], v["psnr"]))
    for beta, points in per_rate.items():
        label = "validation" if beta is None else f"validation, β = {beta:g}"
        axes[1].plot([q[0] for q in points], [q[1] for q in points], "o-", label=label)
        axes[2].plot([q[0] for q in points], [q[2] for q in points], "o-", label=label)
    axes[1].set(title="rate (bpp)", xlabel="step")
    axes[1].legend()
    axes[2].set(title="validation PSNR, posterior mean (dB)", xlabel="step")
    if len(per_rate) > 1:
        axes[2].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    fig.savefig(Path(out).with_suffix(".svg"))  # vector, beside the PNG
    plt.close(fig)
    return int(steps[-1])


def jpeg_psnr_at(jpeg: RDCurve, bpp: float) -> float:
    order = np.argsort(jpeg.bpp)
    return float(np.interp(bpp, np.array(jpeg.bpp)[order], np.array(jpeg.values("psnr"))[order]))


def ideal_bd_rates(jpeg: RDCurve, ideal: dict[str, list[tuple[float, float, float]]]) -> list[str]:
    """Issue 4's quality target: BD-rate of each family's ideal curve (KL bpp, ideal quality) against JPEG."""
    lines = ["", "## Against the quality target", "",
             "BD-rate (PCHIP) of each family's ideal curve — x: KL bpp, y: quality of the exact posterior sample —",
             "against the published JPEG anchor. Target for the γ-PLNs: -45 % in PSNR and -60 % in MS-SSIM dB",
             "(published learned codecs: -54 % for Ballé 2018 to -63 % for Minnen 2018 in PSNR).", "",
             "A variable-rate model is a curve of its own; the per-rate models of a kind make one curve.", "",
             "| curve | points | BD-rate PSNR | BD-rate MS-SSIM dB |", "|---|---|---|---|"]
    for family, points in ideal.items():
        points = sorted(points)
        spans = [(family, points)]
        within = [p for p in points if p[0] <= SPAN_KL_BPP]
        if 1 < len(within) < len(points):  # the span alone: JPEG gains on us at the high rates
            spans.append((f"{family}, KL ≤ {SPAN_KL_BPP} bpp", within))
        for label, chosen in spans:
            curve = RDCurve(name=f"{family} ideal", bpp=tuple(p[0] for p in chosen), psnr=tuple(p[1] for p in chosen),
                            ms_ssim=tuple(p[2] for p in chosen))
            cells = [bd_cell(jpeg, curve, metric).text() for metric in ("psnr", "ms-ssim-db")]
            lines.append(f"| {label} | {len(chosen)} | {cells[0]} | {cells[1]} |")
    return lines


def rates(config, n: int = 6) -> list[float | None]:
    """The rates a model is reported at: [None] (its one rate), or n log-spaced rates over a variable-rate
    model's range (:func:`rec.models.rate.standard_rates`)."""
    span = getattr(config, "rate_range", None)
    return [None] if span is None else standard_rates(*span, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="/work/runs")
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--out", default=str(ROOT / "results"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    (out / "training").mkdir(parents=True, exist_ok=True)
    images = [read_image(p) for p in sorted(Path(args.kodak).glob("*.png"))]
    jpeg = load_anchor("jpeg")
    zoo = list_models()
    entries = [e for e in zoo if codec_for_kind(e.kind).codec_id == "rec" and (not args.models or e.name in args.models)]
    lines = [
        "# Training and the ideal reconstruction on Kodak",
        "",
        provenance(__file__, None),
        f"Data: trained on ../shared/data/train (248 photos), validated on ../shared/data/val; evaluated on the {len(images)} Kodak images.",
        "",
        "*mean*: reconstruction from the posterior means; *ideal*: from an exact posterior sample z2 ~ q(z2|x),",
        "z1 ~ q(z1|z2,x) (what a perfect coded sampler would give). KL bpp is the total KL of that sample's",
        "posteriors, the rate a perfect relative entropy coder would approach. JPEG PSNR at the same rate is",
        "interpolated from the published JPEG anchor (rec/evaluation/anchors/kodak/jpeg.json). A variable-rate model has one row per β.",
        "",
        "*steps*, *wall h*: the zoo's figures (a model continued from another one counts its ancestors' steps where its",
        "entry says so; *from* names the model it started from). *active channels*: the fewest level-1 channels (of M) that carry 90 % of level 1's KL over the",
        "images; the others stay at the prior (posterior collapse), so they are capacity the model does not use.",
        "Shipped REC models must keep at least 80 of 128 at every rate they are used at (issue 15).",
        "",
        "| model | kind | β | γ∞ | from | steps | wall h | KL bpp | level-2 share | active channels | PSNR mean | PSNR ideal | MS-SSIM ideal (dB) | JPEG PSNR at that bpp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ideal: dict[str, list[tuple[float, float, float]]] = {}
    for e in entries:
        model = load_model(e.name)
        run = e.extra.get("run", e.name) if e.extra else e.name
        log = Path(args.runs) / run / "log.jsonl"
        gamma_inf = f"{e.config.gamma_inf:g}" if e.kind == "gamma-pln" else "—"  # the others' likelihood has no γ
        family = e.kind + (" (Gaussian)" if e.config.likelihood == "gaussian" else "")
        if log.exists():
            plot_curve(log, out / "training" / f"{e.name}.png", f"{e.name} ({e.kind}, {codec_for_kind(e.kind).rate_label(e.config).strip()})")
        for beta in rates(e.config):
            r = ideal_point(model, images, beta)
            lines.append(
                f"| {e.name} | {family} | {e.config.beta if beta is None else beta:g} | {gamma_inf} | {e.parent or '—'} | {e.steps} | "
                f"{e.wall_hours:.1f} | {r.kl.kl_bpp:.3f} | {100 * r.kl.level2_share:.1f}% | {r.active_channels} / {e.config.M} | "
                f"{r.psnr_mean:.2f} | {r.psnr:.2f} | {ms_ssim_db(r.ms_ssim):.2f} | {jpeg_psnr_at(jpeg, r.kl.kl_bpp):.2f} |")
            print(lines[-1], flush=True)
            ideal.setdefault(e.name if e.config.rate_range else family, []).append((r.kl.kl_bpp, r.psnr, r.ms_ssim))
    lines += ideal_bd_rates(jpeg, ideal)
    lines += same_budget(zoo)
    lines += ["", "Training curves:", ""]
    lines += [f"![{e.name}](training/{e.name}.png)" for e in entries if (out / "training" / f"{e.name}.png").exists()]
    (out / "training.md").write_text("\n".join(lines) + "\n")


def same_budget(zoo) -> list[str]:
    """Steps and wall hours of every shipped model side by side, the references' included (issue 15: same budget)."""
    lines = ["", "## Training budget of every shipped model", "",
             "The quantized references get the same data, crops, recipe and at least as many steps as the REC base.", "",
             "| model | kind | rate | steps | wall h | from |", "|---|---|---|---|---|---|"]
    for e in sorted(zoo, key=lambda e: (codec_for_kind(e.kind).codec_id != "rec", e.name)):
        lines.append(f"| {e.name} | {e.kind} | {codec_for_kind(e.kind).rate_label(e.config).strip()} | {e.steps} | "
                     f"{e.wall_hours:.2f} | {e.parent or '—'} |")
    return lines


if __name__ == "__main__":
    main()
