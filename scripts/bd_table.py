"""BD-rates of every curve against JPEG and HEIC on Kodak, and of REC's ideal curve against JPEG.

Usage:
    python scripts/bd_table.py [--ours FILE ...] [--classical FILE ...] [--anchor-dir DIR]
                               [--jpeg results/classical/jpeg.json] [--heic results/classical/heic.json]
                               [--min-overlap 0.25] [--out results/bdrate.md]

Rows (defaults): ours, ``results/rec/rec-*.json``, ``results/rec/mbt2018*.json`` (the
per-rate and the variable-rate reference), ``results/rec/brummer2021.json`` and
``results/rec/mentzer2018-*.json`` (one curve per objective); our classical codecs, ``results/classical/*.json``; the published anchors of
``rec/evaluation/anchors/kodak`` (CompressAI's ``_cuda`` twins of ``_cpu`` curves left
out). Columns: BD-rate (PCHIP, :mod:`rec.evaluation.bdrate`) against our JPEG and our
HEIC 4:4:4, in PSNR and in MS-SSIM dB (:mod:`rec.evaluation.bdtable`). A curve with
one point, without the metric or with too little quality overlap gets ``n/a (reason)``.

Second table: each REC curve, its *ideal* curve (x = the KL in bpp, y = the quality of
an exact posterior sample, no coding) and the ideal curve at the bound
I + 2·log2(I + 1), against our JPEG and the published JPEG anchor — issue 4's quality
target (-45 % in PSNR, -60 % in MS-SSIM dB against the published JPEG) is measured on
the γ-PLN's ideal curve at the KL. Third table: each REC curve, actual and ideal at the KL,
against each mbt2018 curve (issue 15: REC against the reference trained on the same data).
Writes markdown to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rec.errors import RecError
from rec.evaluation.bdtable import BDTable, bd_table, distinct_curves
from rec.evaluation.bound import SPAN_KL_BPP, ideal_curve, within_span
from rec.evaluation.provenance import provenance
from rec.evaluation.results import RDCurve, anchor_dir, list_anchors, load_anchor, load_curve

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("psnr", "ms-ssim-db")
#: Issue 4's target for the γ-PLN's ideal curve against the published JPEG anchor (BD-rate, %).
TARGETS = {"psnr": -45.0, "ms-ssim-db": -60.0}
TARGET_FILE = "rec-gamma-pln"


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _default_ours() -> list[Path]:
    d = ROOT / "results" / "rec"
    return (sorted(d.glob("rec-*.json")) + sorted(d.glob("mbt2018*.json")) + sorted(d.glob("brummer2021*.json"))
            + sorted(d.glob("mentzer2018*.json")))


def _source_line(path: Path, c: RDCurve) -> str:
    m = c.meta or {}
    models = f"; models {', '.join(map(str, m['models']))}" if m.get("models") else ""
    return (f"- `{_rel(path)}` ({c.name}): {len(c)} point{'' if len(c) == 1 else 's'}, {m.get('dataset', '?')} ({m.get('images', '?')} images), "
            f"{m.get('date', '?')}{models}")


def _target_check(table: BDTable, row: str, anchor: str) -> list[str]:
    out = []
    for metric, goal in TARGETS.items():
        cell = table.cell(row, anchor, metric)
        verdict = "n/a" if cell.bd_rate is None else ("met" if cell.bd_rate <= goal else "missed")
        out.append(f"{'PSNR' if metric == 'psnr' else 'MS-SSIM dB'} {cell.text()} (target ≤ {goal:+.0f} %: {verdict})")
    return out


def _with_span(whole: RDCurve, span: RDCurve | None) -> list[RDCurve]:
    return [whole] + ([span] if span else [])


def build(ours: list[Path], classical: list[Path], anchors: list[tuple[str, RDCurve]], jpeg: Path, heic: Path,
          published_jpeg: RDCurve, min_overlap: float, argv: list[str] | None) -> str:
    our_curves = [(p, load_curve(p)) for p in ours]
    classical_curves = [(p, load_curve(p)) for p in classical]
    kept, twins = distinct_curves(anchors)
    columns = [("JPEG (ours)", load_curve(jpeg)), ("HEIC (ours)", load_curve(heic))]
    # REC curves reaching past issue 4's span are also shown over the span alone
    spans = {p: within_span(c) if p.stem.startswith("rec-") else None for p, c in our_curves}
    rows = [(f"{c.name} (`{_rel(p)}`)", "ours", c) for p, whole in our_curves for c in _with_span(whole, spans[p])]
    rows += [(f"{c.name} (`{_rel(p)}`)", "ours, classical", c) for p, c in classical_curves]
    rows += [(f"{c.name} (`{stem}`)", "published", c) for stem, c in kept]
    main_table = bd_table(rows, columns, METRICS, min_overlap=min_overlap)

    rec = [(p, c) for p, c in our_curves if p.stem.startswith("rec-")]
    ideal_rows = []
    for p, whole in rec:
        for c in _with_span(whole, spans[p]):
            ideal_rows.append((f"{c.name}: actual (bytes written, decoded)", p.stem, c))
            try:
                ideal_rows.append((f"{c.name}: ideal at the KL", p.stem, ideal_curve(c, "kl_bpp")))
                ideal_rows.append((f"{c.name}: ideal at the bound", p.stem, ideal_curve(c, "bound_bpp")))
            except RecError as e:
                print(f"warning: {p}: {e}", file=sys.stderr)
    ideal_columns = [("JPEG (ours)", columns[0][1]), ("JPEG (published)", published_jpeg)]
    ideal_table = bd_table(ideal_rows, ideal_columns, METRICS, min_overlap=min_overlap)

    references = [(f"{c.name} (`{p.stem}`)", c) for p, c in our_curves if p.stem.startswith("mbt2018")]
    against_reference = bd_table([r for r in ideal_rows if "bound" not in r[0]], references, METRICS,
                                 min_overlap=min_overlap) if references and ideal_rows else None

    lines = [
        "# BD-rates on Kodak",
        "",
        provenance(__file__, argv),
        f"Anchors: our JPEG `{_rel(jpeg)}`, our HEIC 4:4:4 `{_rel(heic)}`, the published JPEG `jpeg` of the anchor directory.",
        "",
        "BD-rate: `rec.evaluation.bdrate` (PCHIP over log10 bpp, JCTVC-L1100 / JVET-T2010), in percent at equal quality;",
        "negative = fewer bits than the anchor. MS-SSIM dB = -10·log10(1 - mean MS-SSIM). A value followed by (x %) covers",
        f"only x % of the curve's quality range; below {100 * min_overlap:.0f} % it is n/a.",
        "",
        "Our curves (models, data, date):",
        "",
    ]
    lines += [_source_line(p, c) for p, c in our_curves + classical_curves]
    lines += ["", "## Against our JPEG and our HEIC 4:4:4", "", main_table.markdown()]
    if twins:
        lines += ["", "Left out as twins of a kept curve (equal values to 1e-3): " + ", ".join(f"`{a}` (= `{b}`)" for a, b in twins.items()) + "."]
    lines += ["", "## REC's ideal curve against JPEG (issue 4's quality target)", ""]
    if not ideal_rows:
        lines += ["No `rec-*.json` curve given."]
    else:
        lines += [
            "*Actual*: bytes written, quality of the decoded image. *Ideal at the KL*: x = the KL I in bpp, y = quality",
            "of the reconstruction from an exact posterior sample (what a perfect relative entropy coder approaches).",
            "*Ideal at the bound*: x = I + 2·log2(I + 1) per image, the thesis's theoretical point.",
            "",
            ideal_table.markdown(extra=("points", "bpp")),
        ]
        target_rows = [(p, c) for p, c in rec if p.stem == TARGET_FILE]
        for p, whole in target_rows:
            for c, over in [(whole, "")] + ([(spans[p], f" over KL ≤ {SPAN_KL_BPP} bpp")] if spans[p] else []):
                row = f"{c.name}: ideal at the KL"
                if any(r.label == row for r in ideal_table.rows):
                    lines += ["", f"Issue 4's target, `{p.name}` ideal at the KL{over} against the published JPEG: "
                              + "; ".join(_target_check(ideal_table, row, "JPEG (published)")) + "."]
    if against_reference is not None:
        lines += ["", "## REC against the mbt2018 reference (same data)", "",
                  "Each REC curve, actual and ideal at the KL, against each reference curve: negative = REC needs fewer bits.",
                  "", against_reference.markdown(extra=("points", "bpp"))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", nargs="*", type=Path, default=None, help="our learned codecs' curves (default results/rec/rec-*.json, mbt2018.json)")
    ap.add_argument("--classical", nargs="*", type=Path, default=None, help="default results/classical/*.json")
    ap.add_argument("--anchor-dir", type=Path, default=None, help=f"published anchors (default {anchor_dir()})")
    ap.add_argument("--jpeg", type=Path, default=ROOT / "results" / "classical" / "jpeg.json")
    ap.add_argument("--heic", type=Path, default=ROOT / "results" / "classical" / "heic.json")
    ap.add_argument("--min-overlap", type=float, default=0.25, help="least share of a curve's quality range overlapping the anchor")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bdrate.md")
    args = ap.parse_args(argv)
    ours = _default_ours() if args.ours is None else args.ours
    classical = sorted((ROOT / "results" / "classical").glob("*.json")) if args.classical is None else args.classical
    try:
        if not 0 <= args.min_overlap <= 1:
            raise RecError("--min-overlap must be in [0, 1]")
        anchors = [(name, load_anchor(name, args.anchor_dir)) for name in list_anchors(args.anchor_dir)]
        published_jpeg = load_anchor("jpeg", args.anchor_dir)
        text = build(ours, classical, anchors, args.jpeg, args.heic, published_jpeg, args.min_overlap, argv)
    except RecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
