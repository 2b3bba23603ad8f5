"""Evaluate a variable-rate REC model over its β range on a data set (Kodak by default).

For each β: the ideal point (KL bpp of an exact posterior sample, PSNR / MS-SSIM of its
reconstruction), the active level-1 channels (the fewest carrying 90 % of level 1's KL
over the images) and, with ``--coded``, the point the codec writes with the default
samplers (bytes of the file, PSNR / MS-SSIM of the decoded image). Writes

* ``OUT/rec/rec-<model>.json``: the coded curve in CompressAI format (``meta`` holds the
  ideal curve, β, active channels, model steps), or the ideal curve alone without ``--coded``;
* ``OUT/variable_rate.md``: the table and BD-rates of the ideal curve against mbt2018
  (``OUT/rec/mbt2018.json``) and the coded curve against JPEG (``OUT/classical/jpeg.json``)
  and against the per-rate γ-PLNs (``OUT/rec/rec-gamma-pln.json``).

    python scripts/eval_variable_rate.py --model gamma-pln-vr --coded      # or --model runs/x/last.pt
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rec.codec import compress, resolve_model
from rec.evaluation.bdtable import bd_cell
from rec.evaluation.latents import ideal_point
from rec.evaluation.metrics import ms_ssim_db
from rec.evaluation.provenance import provenance
from rec.evaluation.results import RDCurve, load_curve, save_curve
from rec.image import read_image

ROOT = Path(__file__).resolve().parent.parent


def default_betas(config, n: int) -> list[float]:
    lo, hi = math.log(config.beta_min), math.log(config.beta_max)
    return [round(math.exp(lo + (hi - lo) * i / (n - 1)), 4) for i in range(n)]


def ideal_row(model, images: list[np.ndarray], beta: float) -> dict:
    r = ideal_point(model, images, beta)
    return {"beta": beta, "kl_bpp": r.kl.kl_bpp, "ideal_psnr": r.psnr, "ideal_ms_ssim": r.ms_ssim, "active_channels": r.active_channels}


def coded_point(model, images: list[np.ndarray], beta: float) -> dict:
    rows = []
    for rgb in images:
        data = compress(rgb, model=model, beta=beta)
        r = data.report
        rows.append((r.bpp, r.psnr, r.ms_ssim, r.encode_seconds, r.decode_seconds, 8 * r.bytes / max(r.kl_bits, 1)))
    bpp, p, m, enc, dec, ratio = map(np.mean, zip(*rows))
    return {"bpp": float(bpp), "psnr": float(p), "ms_ssim": float(m), "encoding_time": float(enc), "decoding_time": float(dec),
            "written_over_kl": float(ratio)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gamma-pln-vr", help="zoo name, training checkpoint (.pt) or shard folder")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--betas", help="comma-separated β (default: 6 log-spaced over the model's range)")
    ap.add_argument("--coded", action="store_true", help="also run the codec (default samplers) at every β")
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--out", default=str(ROOT / "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model = resolve_model(args.model)
    if not model.config.variable_rate:
        sys.exit(f"{args.model} is not a variable-rate model")
    betas = [float(b) for b in args.betas.split(",")] if args.betas else default_betas(model.config, 6)
    paths = sorted(p for p in Path(args.data).iterdir() if p.suffix.lower() == ".png")[: args.limit]
    images = [read_image(p) for p in paths]
    name = getattr(model, "name", args.model)
    points = []
    for beta in betas:
        t = time.time()
        point = ideal_row(model, images, beta)
        if args.coded:
            point.update(coded_point(model, images, beta))
        points.append(point)
        print(json.dumps(point), f"({time.time() - t:.0f} s)", flush=True)
    points.sort(key=lambda q: q["kl_bpp"])
    out = Path(args.out)
    (out / "rec").mkdir(parents=True, exist_ok=True)
    from rec.models.zoo import list_models

    entry = {e.name: e for e in list_models()}.get(name)
    meta = {"dataset": Path(args.data).name, "images": len(images), "model": name, "steps": entry.steps if entry else None,
            "betas": [q["beta"] for q in points], "kl_bpp": [q["kl_bpp"] for q in points],
            "ideal_psnr": [q["ideal_psnr"] for q in points], "ideal_ms_ssim": [q["ideal_ms_ssim"] for q in points],
            "active_channels": [q["active_channels"] for q in points], "source": provenance(__file__, argv)}
    ideal = RDCurve(name=f"REC {name} (ideal)", bpp=tuple(meta["kl_bpp"]), psnr=tuple(meta["ideal_psnr"]),
                    ms_ssim=tuple(meta["ideal_ms_ssim"]))
    coded = None
    if args.coded:
        coded = RDCurve(name=f"REC {name}", description=f"rec, variable-rate model {name}, default samplers, seed 0",
                        bpp=tuple(q["bpp"] for q in points), psnr=tuple(q["psnr"] for q in points),
                        ms_ssim=tuple(q["ms_ssim"] for q in points), encoding_time=tuple(q["encoding_time"] for q in points),
                        decoding_time=tuple(q["decoding_time"] for q in points), extra={"beta": tuple(meta["betas"])}, meta=meta)
        save_curve(coded, out / "rec" / f"rec-{name}.json")
    else:
        save_curve(RDCurve(name=ideal.name, bpp=ideal.bpp, psnr=ideal.psnr, ms_ssim=ideal.ms_ssim, meta=meta),
                   out / "rec" / f"rec-{name}-ideal.json")
    lines = [f"# The variable-rate model `{name}` over its β range", "", meta["source"],
             f"Data: {len(images)} images of {args.data}; model steps: {meta['steps']}.", "",
             "*ideal*: an exact posterior sample, its KL the rate a perfect coder approaches; *coded*: the file written "
             "by the default samplers and the image decoded from it. *active*: level-1 channels (of "
             f"{model.config.M}) carrying 90 % of level 1's KL.", "",
             "| β | KL bpp | ideal PSNR | ideal MS-SSIM (dB) | active | " + ("bpp written | written/KL | PSNR | MS-SSIM (dB) | encode s | decode s |" if coded else ""),
             "|---|---|---|---|---|" + ("---|---|---|---|---|---|" if coded else "")]
    for q in points:
        row = f"| {q['beta']:g} | {q['kl_bpp']:.3f} | {q['ideal_psnr']:.2f} | {ms_ssim_db(q['ideal_ms_ssim']):.2f} | {q['active_channels']} |"
        if coded:
            row += (f" {q['bpp']:.3f} | {q['written_over_kl']:.2f} | {q['psnr']:.2f} | {ms_ssim_db(q['ms_ssim']):.2f} |"
                    f" {q['encoding_time']:.2f} | {q['decoding_time']:.2f} |")
        lines.append(row)
    monotone = all(a["beta"] > b["beta"] for a, b in zip(points, points[1:]))
    lines += ["", f"Rate monotone in β (larger β, fewer bits): {'yes' if monotone else 'NO'}.", "",
              "## BD-rates (PCHIP, non-dominated points; negative: fewer bits than the anchor at equal quality)", "",
              "| curve | anchor | PSNR | MS-SSIM dB |", "|---|---|---|---|"]
    anchors = [("mbt2018 (same data, coded)", out / "rec" / "mbt2018.json"), ("JPEG (ours)", out / "classical" / "jpeg.json"),
               ("per-rate γ-PLNs, coded", out / "rec" / "rec-gamma-pln.json")]
    for label, curve in [("ideal", ideal)] + ([("coded", coded)] if coded else []):
        for anchor_name, path in anchors:
            if not path.exists():
                continue
            anchor = load_curve(path)
            cells = [bd_cell(anchor, curve, metric).text() for metric in ("psnr", "ms-ssim-db")]
            lines.append(f"| {label} | {anchor_name} | {cells[0]} | {cells[1]} |")
    (out / "variable_rate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
