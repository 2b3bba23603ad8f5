"""Evaluate a variable-rate model over its rate range on a data set (Kodak by default).

A REC model (rate parameter β): for each β the ideal point (KL bpp of an exact posterior sample, PSNR / MS-SSIM of its
reconstruction), the active level-1 channels (the fewest carrying 90 % of level 1's KL
over the images) and, with ``--coded``, the point the codec writes with the default
samplers (bytes of the file, PSNR / MS-SSIM of the decoded image). A quantized reference
(mbt2018, rate parameter λ) has only the coded point. Writes

* ``OUT/rec/rec-<model>.json`` (REC) or ``OUT/rec/<model>.json`` (a reference): the coded
  curve in CompressAI format (``meta`` holds the rates, the ideal curve and active
  channels of a REC model, and the model's steps), or a REC model's ideal curve alone
  (``rec-<model>-ideal.json``) without ``--coded``;
* ``OUT/variable_rate_<model>.md``: the table and the BD-rates of each curve against the
  anchors that exist in OUT: the variable-rate mbt2018 (``rec/mbt2018-vr.json``), the
  per-rate mbt2018 models (``rec/mbt2018.json``), JPEG (``classical/jpeg.json``) and the
  per-rate γ-PLNs (``rec/rec-gamma-pln.json``), and for a REC model's coded curve its own ideal one
  (what the coding costs: issue 16's ≤ +20 %).

``--from-results`` writes the table again from the measured points the JSON keeps (``meta.points``),
with the BD-rates against the anchors as they are now (after a reference was trained further).

    python scripts/eval_variable_rate.py --model gamma-pln-vr4 --coded      # or --model runs/x/last.pt
    python scripts/eval_variable_rate.py --model mbt2018-vr
    python scripts/eval_variable_rate.py --coded --from-results              # the default's table, anchors anew
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rec.codec import compress, resolve_model
from rec.codecs import codec_for
from rec.evaluation.bdtable import bd_cell
from rec.evaluation.bound import ideal_curve
from rec.evaluation.latents import ideal_point
from rec.evaluation.metrics import ms_ssim_db
from rec.evaluation.provenance import command_line, provenance
from rec.evaluation.results import RDCurve, load_curve, save_curve
from rec.image import read_image
from rec.models.rate import standard_rates
from rec.models.zoo import DEFAULT_MODEL, list_models

ROOT = Path(__file__).resolve().parent.parent
#: Rates per curve: 11 log-spaced points over β ∈ [0.03, 80] are a factor 2.2 apart (0.2-0.7 bpp of KL between
#: neighbours in the middle of the span), dense enough that the BD-rate's PCHIP does not bridge a knee; 6 left
#: 0.06-0.46 bpp of KL without a point.
DEFAULT_POINTS = 11


def default_rates(config, n: int) -> list[float]:
    """``n`` rates log-spaced over the model's range (:func:`rec.models.rate.standard_rates`)."""
    return standard_rates(*config.rate_range, n)


def ideal_row(model, images: list[np.ndarray], beta: float) -> dict:
    r = ideal_point(model, images, beta)
    return {"beta": beta, "kl_bpp": r.kl.kl_bpp, "ideal_psnr": r.psnr, "ideal_ms_ssim": r.ms_ssim, "active_channels": r.active_channels}


def coded_point(model, images: list[np.ndarray], rate: float) -> dict:
    rows = []
    for rgb in images:
        r = compress(rgb, model=model, rate=rate).report
        rows.append((r.bpp, r.psnr, r.ms_ssim, r.encode_seconds, r.decode_seconds, 8 * r.bytes / max(r.kl_bits, 1),
                     r.bound_bits / (rgb.shape[0] * rgb.shape[1])))
    bpp, p, m, enc, dec, ratio, bound = map(np.mean, zip(*rows))
    return {"bpp": float(bpp), "psnr": float(p), "ms_ssim": float(m), "encoding_time": float(enc), "decoding_time": float(dec),
            "written_over_kl": float(ratio), "bound_bpp": float(bound)}


def ideal_extra(points: list[dict], is_rec: bool) -> dict:
    """A REC curve's per-point KL, bound and ideal quality, the lists scripts/bd_table.py reads (rec eval's names)."""
    if not is_rec:
        return {}
    return {"kl_bpp": tuple(q["kl_bpp"] for q in points), "bound_bpp": tuple(q["bound_bpp"] for q in points),
            "ideal_psnr": tuple(q["ideal_psnr"] for q in points), "ideal_ms_ssim": tuple(q["ideal_ms_ssim"] for q in points)}


#: Anchors of the BD-rate table, where they exist under OUT: (label, path relative to OUT, the anchor's
#: coded curve or its ideal one). gamma-pln-vr4 (residual posterior, importance sampler) is what an iso-KL
#: model (budget sampler) must beat, coded and ideal.
ANCHORS = [("mbt2018-vr (same data and recipe; coded)", "rec/mbt2018-vr.json", "coded"),
           ("mbt2018 per-rate models (coded)", "rec/mbt2018.json", "coded"), ("JPEG (ours)", "classical/jpeg.json", "coded"),
           ("per-rate γ-PLNs (coded)", "rec/rec-gamma-pln.json", "coded"),
           ("gamma-pln-vr4 (coded)", "rec/rec-gamma-pln-vr4.json", "coded"),
           ("gamma-pln-vr4 (ideal)", "rec/rec-gamma-pln-vr4.json", "ideal")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="zoo name, training checkpoint (.pt) or shard folder")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--rates", "--betas", dest="rates", help=f"comma-separated rate parameters (default: {DEFAULT_POINTS} log-spaced over the model's range)")
    ap.add_argument("--coded", action="store_true", help="also run the codec (default samplers) at every rate (always, for a reference)")
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--out", default=str(ROOT / "results"))
    ap.add_argument("--from-results", action="store_true", help="no measuring: the points of OUT/rec/<model>'s JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model = resolve_model(args.model)
    if model.config.rate_range is None:
        sys.exit(f"{args.model} is not a variable-rate model")
    codec = codec_for(model)
    is_rec = codec.codec_id == "rec"
    symbol = codec.rate_symbol
    coded_too = args.coded or not is_rec
    rates = [float(b) for b in args.rates.split(",")] if args.rates else default_rates(model.config, DEFAULT_POINTS)
    name = getattr(model, "name", args.model)
    stem = f"rec-{name}" if is_rec else name
    out = Path(args.out)
    (out / "rec").mkdir(parents=True, exist_ok=True)
    saved = out / "rec" / (f"{stem}.json" if coded_too else f"{stem}-ideal.json")
    if args.from_results:
        meta = load_curve(saved).meta
        if "points" not in meta:
            sys.exit(f"{saved} keeps no measured points (made before --from-results): measure again")
        points = meta["points"]
    else:
        paths = sorted(p for p in Path(args.data).iterdir() if p.suffix.lower() == ".png")[: args.limit]
        images = [read_image(p) for p in paths]
        points = []
        for rate in rates:
            t = time.time()
            point = ideal_row(model, images, rate) if is_rec else {"beta": rate}
            if coded_too:
                point.update(coded_point(model, images, rate))
            points.append(point)
            print(json.dumps(point), f"({time.time() - t:.0f} s)", flush=True)
        points.sort(key=lambda q: q["kl_bpp"] if is_rec else q["bpp"])
        entry = {e.name: e for e in list_models()}.get(name)
        meta = {"dataset": Path(args.data).name, "images": len(images), "model": name, "models": [name],
                "date": datetime.date.today().isoformat(), "steps": entry.steps if entry else None,
                "rate_parameter": codec.rate_name, "rates": [q["beta"] for q in points], "source": provenance(__file__, argv),
                "data": args.data, "points": points}
    curves = []
    if is_rec:
        meta.update({"kl_bpp": [q["kl_bpp"] for q in points], "ideal_psnr": [q["ideal_psnr"] for q in points],
                     "ideal_ms_ssim": [q["ideal_ms_ssim"] for q in points], "active_channels": [q["active_channels"] for q in points]})
        curves.append(("ideal", RDCurve(name=f"REC {name} (ideal)", bpp=tuple(meta["kl_bpp"]), psnr=tuple(meta["ideal_psnr"]),
                                        ms_ssim=tuple(meta["ideal_ms_ssim"]), meta=meta)))
    if coded_too:
        label = f"REC {name}" if is_rec else name
        description = f"rec, variable-rate model {name}, default samplers, seed 0" if is_rec else f"variable-rate {name}"
        curves.append(("coded", RDCurve(name=label, description=description,
                                        bpp=tuple(q["bpp"] for q in points), psnr=tuple(q["psnr"] for q in points),
                                        ms_ssim=tuple(q["ms_ssim"] for q in points), encoding_time=tuple(q["encoding_time"] for q in points),
                                        decoding_time=tuple(q["decoding_time"] for q in points),
                                        extra={codec.rate_name: tuple(meta["rates"]), **ideal_extra(points, is_rec)}, meta=meta)))
    if not args.from_results:
        save_curve(curves[-1][1], saved)
    lines = [f"# The variable-rate model `{name}` over its {symbol} range", "", meta["source"],
             f"Data: {meta['images']} images of {meta.get('data', meta['dataset'])}; model steps: {meta['steps']}."
             + (f" Table written again by `{command_line(__file__, argv)}` on {datetime.date.today()}, "
                "BD-rates against the anchors of that day." if args.from_results else ""), ""]
    head, rule = f"| {symbol} |", "|---|"
    if is_rec:
        lines += ["*ideal*: an exact posterior sample, its KL the rate a perfect coder approaches; *coded*: the file written "
                  "by the default samplers and the image decoded from it. *active*: level-1 channels (of "
                  f"{model.config.M}) carrying 90 % of level 1's KL.", ""]
        head, rule = head + " KL bpp | ideal PSNR | ideal MS-SSIM (dB) | active |", rule + "---|---|---|---|"
    if coded_too:
        head += " bpp written |" + (" written/KL |" if is_rec else "") + " PSNR | MS-SSIM (dB) | encode s | decode s |"
        rule += "---|" * (6 if is_rec else 5)
    lines += [head, rule]
    for q in points:
        row = f"| {q['beta']:g} |"
        if is_rec:
            row += f" {q['kl_bpp']:.3f} | {q['ideal_psnr']:.2f} | {ms_ssim_db(q['ideal_ms_ssim']):.2f} | {q['active_channels']} |"
        if coded_too:
            row += f" {q['bpp']:.3f} |" + (f" {q['written_over_kl']:.2f} |" if is_rec else "")
            row += f" {q['psnr']:.2f} | {ms_ssim_db(q['ms_ssim']):.2f} | {q['encoding_time']:.2f} | {q['decoding_time']:.2f} |"
        lines.append(row)
    # larger β: fewer bits (REC); larger λ: more bits (mbt2018)
    order = [q["beta"] for q in points]
    monotone = order == sorted(order, reverse=is_rec) and len(set(order)) == len(order)
    lines += ["", f"Rate monotone in {symbol}: {'yes' if monotone else 'NO'}.", "",
              "## BD-rates (PCHIP, non-dominated points; negative: fewer bits than the anchor at equal quality)", "",
              "| curve | anchor | PSNR | MS-SSIM dB |", "|---|---|---|---|"]
    for label, curve in curves:
        for anchor_name, rel, kind in ANCHORS:
            path = out / rel
            if not path.exists() or path.name == f"{stem}.json":
                continue
            anchor = load_curve(path) if kind == "coded" else ideal_curve(load_curve(path))
            cells = [bd_cell(anchor, curve, metric).text() for metric in ("psnr", "ms-ssim-db")]
            lines.append(f"| {label} | {anchor_name} | {cells[0]} | {cells[1]} |")
    if is_rec and coded_too:  # what the coding costs against the model's own ideal curve
        cells = [bd_cell(curves[0][1], curves[1][1], metric).text() for metric in ("psnr", "ms-ssim-db")]
        lines.append(f"| coded | its own ideal curve | {cells[0]} | {cells[1]} |")
    (out / f"variable_rate_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
