"""Compare REC models trained alike by their ideal curves on the validation set (models issue).

    python scripts/compare_likelihood.py --models A B [C ...] [--data ../shared/data/val] [--rates 0.1,1,10]
                                         [--coded] [--coding-from gamma-pln-iso]

Each model (zoo name, training checkpoint or shard folder) is evaluated at the same rates by
:func:`rec.evaluation.latents.ideal_point`: the KL of an exact posterior sample and the quality of
the image decoded from it, what a perfect coder would deliver. The first model is the anchor of
the BD-rates (PCHIP). Decisions between training variants are taken here, on the validation
photos, never on Kodak. With ``--coded`` every point is also coded with the model's default
samplers (its coding schedule; a checkpoint borrows the schedule of ``--coding-from``) and the
coded curves get their own BD-rates. Writes ``results/likelihood.md`` (``--out`` to change it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from eval_variable_rate import coded_point, ideal_row  # noqa: E402  (one definition of a variable-rate point)

from rec.codec import resolve_model  # noqa: E402
from rec.evaluation.bdtable import bd_cell  # noqa: E402
from rec.evaluation.metrics import ms_ssim_db  # noqa: E402
from rec.evaluation.provenance import provenance  # noqa: E402
from rec.evaluation.results import RDCurve  # noqa: E402
from rec.image import image_files, read_image  # noqa: E402
from rec.models.zoo import load_model  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, help="the first is the anchor")
    ap.add_argument("--labels", nargs="+", help="one per model (default: the model argument)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "val"))
    ap.add_argument("--rates", default="0.04,0.3,1,2,3.5,6,10,18")
    ap.add_argument("--title", default="Gaussian against Laplace likelihood, equal steps")
    ap.add_argument("--coded", action="store_true", help="also code every point with the default samplers")
    ap.add_argument("--coding-from", help="zoo model whose coding schedule a model without one borrows")
    ap.add_argument("--note", default="", help="a paragraph under the provenance line (e.g. how the models were trained)")
    ap.add_argument("--out", default=str(ROOT / "results" / "likelihood.md"))
    args = ap.parse_args(argv)
    labels = args.labels or args.models
    if len(labels) != len(args.models):
        sys.exit("--labels needs one label per model")
    images = [read_image(p) for p in image_files(args.data)]
    rates = [float(r) for r in args.rates.split(",")]
    lines = [f"# {args.title}", "", provenance(__file__, argv),
             f"Data: {len(images)} images of {args.data}. *ideal*: the image decoded from an exact posterior sample, "
             "its KL the rate a perfect coder approaches; *active*: level-1 channels carrying 90 % of level 1's KL.", ""]
    if args.note:
        lines += [args.note, ""]
    borrowed = load_model(args.coding_from).coding if args.coding_from else {}
    curves, coded_curves = [], []
    for model_arg, label in zip(args.models, labels):
        model = resolve_model(model_arg)
        own = bool(getattr(model, "coding", None))
        if not own:
            model.coding = dict(borrowed)
        points = [ideal_row(model, images, r) for r in rates]
        if args.coded:
            points = [{**q, **coded_point(model, images, q["beta"])} for q in points]
        points.sort(key=lambda q: q["kl_bpp"])
        curves.append(RDCurve(name=label, bpp=tuple(q["kl_bpp"] for q in points), psnr=tuple(q["ideal_psnr"] for q in points),
                              ms_ssim=tuple(q["ideal_ms_ssim"] for q in points)))
        head = "| β | KL bpp | ideal PSNR | ideal MS-SSIM (dB) | active |"
        rows = [f"| {q['beta']:g} | {q['kl_bpp']:.3f} | {q['ideal_psnr']:.2f} | {ms_ssim_db(q['ideal_ms_ssim']):.2f} | "
                f"{q['active_channels']} |" for q in points]
        if args.coded:
            coded_curves.append(RDCurve(name=label, bpp=tuple(q["bpp"] for q in points), psnr=tuple(q["psnr"] for q in points),
                                        ms_ssim=tuple(q["ms_ssim"] for q in points)))
            head += " bpp written | written/KL | PSNR | MS-SSIM (dB) |"
            rows = [f"{row} {q['bpp']:.3f} | {q['written_over_kl']:.3f} | {q['psnr']:.2f} | {ms_ssim_db(q['ms_ssim']):.2f} |"
                    for row, q in zip(rows, points)]
        coding = ", coding schedule " + ("its own" if own else f"of {args.coding_from}" if borrowed else "none")
        lines += [f"## {label}", "", f"`{model_arg}`, likelihood {model.config.likelihood}"
                  + (coding if args.coded else ""), "", head, "|---" * head.count(" | ") + "|---|"]
        lines += rows + [""]
        print("\n".join(lines[-len(points) - 6:]), flush=True)
    for kind, group in (("ideal", curves), ("coded", coded_curves)):
        if not group:
            continue
        lines += [f"## BD-rate against {labels[0]}, {kind} curves (PCHIP; negative: fewer bits at equal quality)", "",
                  "| model | PSNR | MS-SSIM dB |", "|---|---|---|"]
        for curve in group[1:]:
            cells = [bd_cell(group[0], curve, metric).text() for metric in ("psnr", "ms-ssim-db")]
            lines.append(f"| {curve.name} | {cells[0]} | {cells[1]} |")
        lines.append("")
    Path(args.out).write_text("\n".join(lines).rstrip("\n") + "\n")
    print("\n".join(lines[-2 * len(curves) - 6:]))


if __name__ == "__main__":
    main()
