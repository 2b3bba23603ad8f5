"""Regenerate results/mentzer/: Mentzer et al. 2018 on our implementation (issue 19).

    python scripts/mentzer_study.py [--kodak DIR] [--parts bits ablation timing] [--limit N]

bits      Per installed mentzer2018 model on Kodak: the bytes written against the model's own
          −log2 P of the coded symbols (the importance map apart), the map's bits, the mean
          depth and the network steps of P per image (bits.json).
ablation  Table 1 of the paper: the same autoencoder's coded symbols priced by a uniform, a
          zeroth-order, a first-order and the 3D-CNN context model
          (rec.evaluation.mentzer_ablation), per model (ablation.json).
timing    Decode (and encode) seconds per Kodak image of the MS-SSIM mid model beside mbt2018-mid,
          in one run, with the number of context-model evaluations of each: network steps of
          the 3D wavefront against mbt2018's 2D wavefront (timing.json).
README.md is rebuilt from every JSON present, with the rate-distortion curves of
`rec eval --codec mentzer2018 --out results/rec` (one per objective) and their BD-rates
against the classical codecs and mbt2018. Run it with nothing else running (the timing part
compares times).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rec import reference
from rec.codec import resolve_model
from rec.codecs import mentzer2018
from rec.evaluation.bdtable import bd_cell
from rec.evaluation.machine import machine
from rec.evaluation.mentzer_ablation import ablation, image_symbols
from rec.evaluation.model_choice import zoo_models
from rec.evaluation.provenance import command_line
from rec.evaluation.results import load_curve
from rec.evaluation.runner import load_images
from rec.models.context2d import wavefront_schedule
from rec.models.zoo import get_entry

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "mentzer"
PARTS = ("bits", "ablation", "timing")
TIMED = ("mentzer2018-msssim-mid", "mbt2018-mid")
#: The curves of `rec eval --codec mentzer2018` and what they are compared with (file, label), in results/.
CURVES = ("rec/mentzer2018-ms-ssim.json", "rec/mentzer2018-mse.json")
ANCHORS = (("classical/jpeg2000.json", "our JPEG 2000"), ("classical/webp.json", "our WebP"),
           ("classical/jpeg.json", "our JPEG"), ("classical/heic.json", "our HEIC (BPG's HEVC intra)"),
           ("rec/mbt2018.json", "mbt2018 (per-rate models)"), ("rec/mbt2018-vr.json", "mbt2018-vr (variable rate)"))


def models() -> list[str]:
    names = zoo_models("mentzer2018")
    if not names:
        raise SystemExit("no mentzer2018 model installed (python scripts/train_zoo.py --only mentzer2018-msssim-mid ...)")
    return names


# -- bits --------------------------------------------------------------------------------------------
def part_bits(images, out: Path) -> None:
    rows, pixels = [], sum(im.rgb.shape[0] * im.rgb.shape[1] for im in images)
    for name in models():
        net = resolve_model(name)
        enc = [mentzer2018.encode(net, im.rgb, name, reconstruct=False) for im in images]
        rows.append({
            "model": name, "distortion": net.config.distortion, "target_bpp": float(net.config.target_bpp),
            "channels": net.config.M, "steps": int(get_entry(name).steps), "bpp": 8 * sum(len(e.data) for e in enc) / pixels,
            "bpp_map": sum(e.bits_map for e in enc) / pixels,
            "payload_over_estimate_max": max(e.bits_z / e.estimated_bits for e in enc),
            "file_over_estimate_plus_map_max": max(8 * len(e.data) / (e.estimated_bits + e.bits_map) for e in enc),
            "depth_mean": float(np.mean([e.depth.mean() for e in enc])),
            "network_steps_mean": float(np.mean([e.steps for e in enc])),
        })
        print(rows[-1], flush=True)
    (out / "bits.json").write_text(json.dumps({"machine": machine(), "images": len(images), "models": rows}, indent=1))


# -- ablation ----------------------------------------------------------------------------------------
def part_ablation(images, out: Path) -> None:
    rows = []
    for name in models():
        net = resolve_model(name)
        symbols = [image_symbols(net, im.name, im.rgb) for im in images]
        map_bpp = np.mean([8 * len(mentzer2018.encode_map(s.depth, net.config.M)[0]) / s.pixels for s in symbols])
        rows.append({"model": name, "rows": {r.model: r.bpp for r in ablation(symbols, net.config.L)},
                     "map_bpp": float(map_bpp)})
    (out / "ablation.json").write_text(json.dumps({"machine": machine(), "images": len(images), "models": rows}, indent=1))


# -- timing ------------------------------------------------------------------------------------------
def coders(name: str):
    """encode(rgb) → bytes and decode(bytes) → the network steps of its context model, for a zoo model."""
    net = resolve_model(name)
    if name.startswith("mentzer2018"):
        return (lambda rgb: mentzer2018.encode(net, rgb, name, reconstruct=False).data,
                lambda data: mentzer2018.decode(net, data).steps)
    return (lambda rgb: reference.encode(net, rgb, name, reconstruct=False).data,
            lambda data: len(wavefront_schedule(*reference.decode(net, data).y_hat.shape[-2:])))


def part_timing(images, out: Path) -> None:
    rows = {}
    for name in TIMED:
        encode, decode = coders(name)
        encode(images[0].rgb)  # warm-up
        enc, dec, steps = [], [], []
        for im in images:
            t0 = time.perf_counter()
            data = encode(im.rgb)
            t1 = time.perf_counter()
            steps.append(decode(data))
            dec.append(time.perf_counter() - t1)
            enc.append(t1 - t0)
        rows[name] = {"encode_s": float(np.mean(enc)), "decode_s": float(np.mean(dec)),
                      "network_steps": float(np.mean(steps))}
        print(name, rows[name], flush=True)
    (out / "timing.json").write_text(json.dumps({"machine": machine(), "images": len(images),
                                                 "threads": torch.get_num_threads(), "models": rows}, indent=1))


# -- the summary -------------------------------------------------------------------------------------
def _read(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def rd_lines(results: Path) -> list[str]:
    curves = [load_curve(results / c) for c in CURVES if (results / c).exists()]
    if not curves:
        return []
    c0 = curves[0]
    lines = ["## Rate-distortion on Kodak", "",
             f"`rec eval --codec mentzer2018`: {c0.meta.get('images')} images; machine: {c0.meta.get('machine')}; "
             f"{c0.meta.get('date')}. Bits per pixel of the whole file (header, importance map and symbols). "
             "rec eval resumes, so a point's times are those of the run that measured it, possibly on another "
             "machine; the timing section below compares in one run.", "",
             "| curve | R_t (bpp) | bpp | PSNR (dB) | MS-SSIM (dB) | encode (s) | decode (s) |", "|---|---|---|---|---|---|---|"]
    for c in curves:
        targets = c.extra.get("target_bpp", [math.nan] * len(c.bpp))
        msdb = c.values("ms-ssim-db") if c.has("ms-ssim-db") else [math.nan] * len(c.bpp)  # sides ≤ 160 px: none
        for i in range(len(c.bpp)):
            lines.append(f"| {c.name} | {targets[i]:g} | {c.bpp[i]:.3f} | {c.psnr[i]:.2f} | {msdb[i]:.2f} | "
                         f"{c.encoding_time[i]:.2f} | {c.decoding_time[i]:.2f} |")
    lines += ["", "BD-rate (PCHIP) of each curve against each anchor (negative: fewer bits for the same quality).", "",
              "| curve | against | BD-rate, PSNR | BD-rate, MS-SSIM dB |", "|---|---|---|---|"]
    for c in curves:
        for path, label in ANCHORS:
            if (results / path).exists():
                a = load_curve(results / path)
                lines.append(f"| {c.name} | {label} | {bd_cell(a, c, 'psnr').text()} | "
                             f"{bd_cell(a, c, 'ms-ssim-db').text()} |")
    return lines + [""]


def summary(out: Path, results: Path, argv) -> str:
    lines = ["# Mentzer et al. 2018 on our implementation", "",
             f"Rebuilt by `{command_line(__file__, argv)}` from the parts' JSON files, each of which records the "
             "machine of its own run (`--parts` with no part only rebuilds this file); models: scripts/train_zoo.py, "
             "configs/mentzer2018-msssim.toml and configs/mentzer2018-mse.toml.", ""]
    lines += rd_lines(results)
    bits = _read(out / "bits.json")
    if bits:
        lines += ["## Bits written against the model's own −log₂ P", "",
                  f"Per model over {bits['images']} Kodak images (machine: {bits['machine']}): the range-coded "
                  "symbols over −Σ log₂ P of the context model's integer probabilities, and the whole file over that "
                  "plus the importance map's bits (header and framing included); the worst image of each.", "",
                  "| model | objective | R_t | steps | bpp | map bpp | payload / −log₂ P, max | file / (−log₂ P + map), max "
                  "| mean depth (of K channels) | network steps of P per image |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in bits["models"]:
            lines.append(f"| {r['model']} | {r['distortion']} | {r['target_bpp']:g} | {r['steps']} | {r['bpp']:.4f} | "
                         f"{r['bpp_map']:.4f} | {r['payload_over_estimate_max']:.4f} | "
                         f"{r['file_over_estimate_plus_map_max']:.4f} | {r['depth_mean']:.1f} of {r['channels']} | "
                         f"{r['network_steps_mean']:.0f} |")
        lines.append("")
    abl = _read(out / "ablation.json")
    if abl:
        names = list(abl["models"][0]["rows"])
        lines += ["## Table 1: one autoencoder, four probability models", "",
                  f"Bits per pixel of the coded symbols (those the importance map keeps), mean over {abl['images']} "
                  f"Kodak images (machine: {abl['machine']}); the pooled zeroth- and first-order tables are fitted to "
                  "the very symbols they price (no table sent), which favours them; the map's bits are the same under "
                  "all four and stand apart.", "",
                  "| model | " + " | ".join(names) + " | context model vs first order | map bpp |",
                  "|---|" + "---|" * (len(names) + 2)]
        for m in abl["models"]:
            r = m["rows"]
            lines.append(f"| {m['model']} | " + " | ".join(f"{r[n]:.4f}" for n in names) +
                         f" | {100 * (r['context model'] / r['first order'] - 1):+.1f} % | {m['map_bpp']:.4f} |")
        lines.append("")
    tim = _read(out / "timing.json")
    if tim:
        lines += ["## Coding time and context-model evaluations", "",
                  f"Mean seconds per Kodak image ({tim['images']} images, {tim['threads']} torch threads, in one run; "
                  f"machine: {tim['machine']}). A network step evaluates the context model once, over one wavefront "
                  "of voxels (Mentzer: 3D, t = 4c + 2y + x) or of latent positions (mbt2018: 2D).", "",
                  "| model | encode (s) | decode (s) | network steps per image |", "|---|---|---|---|"]
        for name, r in tim["models"].items():
            lines.append(f"| {name} | {r['encode_s']:.2f} | {r['decode_s']:.2f} | {r['network_steps']:.0f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    ap.add_argument("--parts", nargs="*", default=list(PARTS), choices=PARTS)
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--results", default=str(ROOT / "results"), help="where rec eval's and the classical curves are")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = load_images(args.kodak, args.limit) if args.parts else []
    for part in args.parts:
        started = time.time()
        {"bits": part_bits, "ablation": part_ablation, "timing": part_timing}[part](images, out)
        print(f"{part}: {time.time() - started:.0f} s", flush=True)
    text = summary(out, Path(args.results), argv)
    (out / "README.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
