"""Thesis analyses (b) and (d): the samplers side by side on one model, and coding time against rate
(thesis Table 4.1, Fig. 4.9) over several models.

    python scripts/analysis_samplers.py [--model NAME] [--models a,b,c] [--short LABEL ...]
                                        [--skip LABEL ...] [--kodak DIR] [--limit N] [--out FILE]

Every sampler pair (level 2 : level 1) of :data:`PAIRS` codes the same Kodak images with the
default model (--model, default the zoo's default). Every other model of --models (default:
every PLN and γ-PLN of the zoo) codes them with the short list of pairs only (--short,
default :data:`SHORT`: the default IS-IS pair and the thesis's IS-GS pair), which keeps the
run short. Per model and pair, means over the images: bits written against the KL, bpp,
PSNR of the decoded image against the ideal reconstruction, encode and decode seconds.

Writes --out (default results/samplers_side_by_side.md): the side-by-side table of the
default model, then the coding times of every model and short pair against its rate; and
beside it samplers_time_rate.png: encode time against bits/KL for the default model's
pairs (left), and encode (solid) and decode (dashed) time against bpp per model and short
pair, one panel per model family (PLN, γ-PLN), as the thesis's Fig. 4.9.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rec.codec import DEFAULT_SAMPLERS, compress  # noqa: E402
from rec.errors import RecError  # noqa: E402
from rec.evaluation.provenance import provenance  # noqa: E402
from rec.evaluation.runner import load_images  # noqa: E402
from rec.models.zoo import DEFAULT_MODEL, get_entry, list_models  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [
    ("IS-IS (default)", DEFAULT_SAMPLERS),
    ("IS-IS, 12 bits", "importance(bits=16,max_group=256,margin=0,temper=8):importance(bits=12,max_group=256,margin=0,temper=8)"),
    ("IS-IS, 9 bits", "importance(bits=14,max_group=256,margin=0,temper=8):importance(bits=9,max_group=256,margin=0,temper=8)"),
    ("IS-IS, thesis level-2 budget (20 bits, groups ≤ 16)", "importance(bits=20,max_group=16):importance(bits=11,max_group=256,margin=0,temper=8)"),
    ("IS-GS (thesis pair, 30 shards × 8 bits)", "importance(bits=16,max_group=256,margin=0,temper=8):greedy(bits=8,shards=30)"),
    ("IS-GS (8 shards × 6 bits)", "importance(bits=16,max_group=256,margin=0,temper=8):greedy(bits=6,shards=8)"),
    ("RS-RS (rejection, adaptive tables)", "rejection(bits=8,table=adaptive):rejection(bits=8,table=adaptive)"),
    ("IS-RS", "importance(bits=16,max_group=256,margin=0,temper=8):rejection(bits=8,table=adaptive)"),
]
#: The pairs every model of --models runs (the full list is for the default model only).
SHORT = ["IS-IS (default)", "IS-GS (thesis pair, 30 shards × 8 bits)"]
KINDS = {"pln": "PLN", "gamma-pln": "γ-PLN"}


@dataclass(frozen=True)
class PairResult:
    """One model coding the images with one sampler pair: means over the images."""

    model: str
    kind: str
    label: str
    spec: str
    bits_over_kl: float
    kl_bpp: float
    bpp: float
    psnr: float
    ideal_psnr: float
    encode_seconds: float
    decode_seconds: float


def measure(model: str, kind: str, label: str, spec: str, images) -> PairResult:
    m = []
    for im in images:
        r = compress(im.rgb, model=model, samplers=spec, ideal=True).report
        m.append((8 * r.bytes / r.kl_bits, r.kl_bits / im.pixels, r.bpp, r.psnr, r.ideal_psnr, r.encode_seconds, r.decode_seconds))
    res = PairResult(model, kind, label, spec, *(float(v) for v in np.array(m).mean(axis=0)))
    print(f"{model}, {label}: {res.bits_over_kl:.3f}×KL, {res.bpp:.3f} bpp, PSNR {res.psnr:.2f} (ideal {res.ideal_psnr:.2f}), "
          f"enc {res.encode_seconds:.2f} s, dec {res.decode_seconds:.2f} s", flush=True)
    return res


def plot(full: list[PairResult], timing: list[PairResult], default: str, out: Path) -> None:
    kinds = [k for k in KINDS if any(r.kind == k for r in timing)]
    fig, axes = plt.subplots(1, 1 + len(kinds), figsize=(6.5 * (1 + len(kinds)), 4.6), squeeze=False)
    ax = axes[0, 0]
    for r in full:
        ax.scatter(r.bits_over_kl, r.encode_seconds)
        ax.annotate(r.label, (r.bits_over_kl, r.encode_seconds), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.set(xlabel="bits written / KL", ylabel="encode seconds per image", yscale="log", title=f"every pair, {default}")
    for ax, kind in zip(axes[0, 1:], kinds):
        for label in dict.fromkeys(r.label for r in timing):
            mine = sorted((r for r in timing if r.kind == kind and r.label == label), key=lambda r: r.bpp)
            if mine:
                line, = ax.plot([r.bpp for r in mine], [r.encode_seconds for r in mine], "o-", label=label)
                ax.plot([r.bpp for r in mine], [r.decode_seconds for r in mine], "s--", color=line.get_color(), ms=4, lw=1)
                for r in mine:
                    ax.annotate(r.model, (r.bpp, r.encode_seconds), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel="bits per pixel written", ylabel="seconds per image (solid: encode, dashed: decode)",
               title=f"{KINDS[kind]}s: coding time against rate")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    fig.savefig(Path(out).with_suffix(".svg"))  # vector, beside the PNG
    plt.close(fig)


def report(full: list[PairResult], timing: list[PairResult], default: str, n_images: int, kodak: Path, png: Path,
           argv: list[str] | None) -> str:
    models = list(dict.fromkeys(r.model for r in timing))
    lines = [
        "# Samplers side by side, and coding time against rate (thesis analyses b and d)",
        "",
        provenance(__file__, argv),
        f"Data: the first {n_images} image{'' if n_images == 1 else 's'} of `{kodak.name}`. Means over the images.",
        "",
        f"## Every sampler pair on `{default}`",
        "",
        "| pair (level 2 : level 1) | bits / KL | bpp | PSNR | ideal PSNR | encode s | decode s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.label} | {r.bits_over_kl:.3f} | {r.bpp:.3f} | {r.psnr:.2f} | {r.ideal_psnr:.2f} | {r.encode_seconds:.2f} | "
              f"{r.decode_seconds:.2f} |" for r in full]
    lines += [
        "",
        f"## Coding time against rate (thesis Table 4.1, Fig. 4.9): models {', '.join(f'`{m}`' for m in models)}",
        "",
        "| model | kind | β | γ∞ | pair | KL bpp | bpp | bits / KL | encode s | decode s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(timing, key=lambda r: (r.kind, r.label, r.bpp)):
        c = get_entry(r.model).config
        gamma = f"{c.gamma_inf:g}" if r.kind == "gamma-pln" else "—"
        lines.append(f"| {r.model} | {KINDS.get(r.kind, r.kind)} | {c.beta:g} | {gamma} | {r.label} | {r.kl_bpp:.3f} | {r.bpp:.3f} | "
                     f"{r.bits_over_kl:.3f} | {r.encode_seconds:.2f} | {r.decode_seconds:.2f} |")
    specs = {r.label: r.spec for r in full + timing}
    lines += ["", "Sampler strings:", ""] + [f"- {label}: `{spec}`" for label, spec in specs.items()]
    lines += ["", f"![encode time against bits/KL and against the rate]({png.name})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="the model that runs every pair")
    ap.add_argument("--models", default=None, help="comma-separated models for the short list (default: every PLN and γ-PLN of the zoo)")
    ap.add_argument("--short", nargs="*", default=SHORT, help="labels of the pairs the other models run")
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    ap.add_argument("--limit", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], help="labels of pairs to leave out")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "samplers_side_by_side.md")
    args = ap.parse_args(argv)
    labels = dict(PAIRS)
    try:
        unknown = sorted(set(args.short + args.skip) - set(labels))
        if unknown:
            raise RecError(f"unknown pair labels {unknown}; known: {list(labels)}")
        if args.models is None:
            models = [e.name for e in list_models() if e.kind in KINDS]
        else:
            models = [m.strip() for m in args.models.split(",") if m.strip()]
        kinds = {m: get_entry(m).kind for m in [args.model, *models]}
        images = load_images(args.kodak, args.limit)
    except RecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    full = []
    compress(images[0].rgb[:64, :64], model=args.model)  # warm-up (numba, model)
    for label, spec in PAIRS:
        if label not in args.skip:
            full.append(measure(args.model, kinds[args.model], label, spec, images))
    short = [label for label in args.short if label not in args.skip]
    timing = [r for r in full if r.label in short]
    for m in dict.fromkeys(models):
        if m == args.model:
            continue
        compress(images[0].rgb[:64, :64], model=m)  # warm-up (model)
        timing += [measure(m, kinds[m], label, labels[label], images) for label in short]
    png = args.out.with_name("samplers_time_rate.png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(full, timing, args.model, png)
    text = report(full, timing, args.model, len(images), args.kodak, png, argv)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
