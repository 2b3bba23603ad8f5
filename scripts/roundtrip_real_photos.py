"""Regenerate results/roundtrip.md: every shipped model of every codec round-trips real photos
at random sizes (issue 17).

Each case is a real photo of the data folders, resized (Pillow's default filter) or cropped
from a resize, to a width and height drawn uniformly from [--min-size, --max-size]. It is
encoded through the front door (:func:`rec.compress`, which verifies by decoding once with the
model object), then decoded from the bytes with the model found from the file's header (as
``rec decode`` does): a case passes when both decodes succeed, agree bit for bit and reach a
PSNR that is no garbage (≥ 15 dB). Any exception is a failure, and the script exits 1 if
there is one.

It takes hours for the whole zoo on 2 cores, so every case is kept in ``<out>.json`` as soon
as it is measured, and a later run with the same settings resumes at the next case of each
model (a model whose weights changed starts again; ``--restart`` forgets everything).

    python scripts/roundtrip_real_photos.py [--cases 200] [--models NAME ...] [--jobs 2] [--out results/roundtrip.md] [--restart]

``--jobs N`` measures N cases at a time in forked worker processes of one torch thread each
(the cases, their order and what is kept do not change).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from rec.codec import compress, decompress
from rec.evaluation.metrics import psnr
from rec.evaluation.provenance import provenance
from rec.models.zoo import get_entry, list_models, load_model

ROOT = Path(__file__).resolve().parent.parent
DATA = [ROOT.parent / "shared" / "data" / d for d in ("train", "val", "kodak")]
MIN_PSNR = 15.0
#: The worst ratio of index bits to their estimate is taken over the cases with at least this many
#: estimated bits: below, the coder's final words (32-64 bits) alone move it by several per cent.
RATIO_MIN_BITS = 10_000


def cases(files: list[Path], n: int, rng: np.random.Generator, lo: int, hi: int):
    """``n`` (label, RGB array) pairs: resizes or crops of resizes of random photos, sides in [lo, hi]."""
    for _ in range(n):
        path = files[rng.integers(len(files))]
        im = Image.open(path).convert("RGB")
        w, h = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        if rng.random() < 0.5:
            yield f"{path.stem} resized to {w}×{h}", np.asarray(im.resize((w, h)))
        else:
            s = max(w / im.width, h / im.height, 1.0)
            im = im.resize((max(w, round(im.width * s)), max(h, round(im.height * s))))
            x0, y0 = int(rng.integers(im.width - w + 1)), int(rng.integers(im.height - h + 1))
            yield f"{path.stem} cropped to {w}×{h}", np.asarray(im.crop((x0, y0, x0 + w, y0 + h)))


def round_trip(name: str, rgb: np.ndarray, rate: float | None) -> tuple[str | None, float, tuple[int, float]]:
    """(None, PSNR, coded) when the case passes, else (what went wrong, PSNR or nan, coded); ``coded``:
    the index bits written and the model's own estimate of them (the KL, or −Σ log2 P of a quantized
    codec's symbols), summed over the levels, (0, 0.0) when the encode failed."""
    try:
        data = compress(rgb, model=name, rate=rate)  # verifies: decodes once with the model object
        first = decompress(bytes(data))  # the model found from the header, as `rec decode`
    except Exception as e:  # every exception is a failure to report, not a crash of the run
        return f"{type(e).__name__}: {e}", float("nan"), (0, 0.0)
    coded = sum(lv.index_bits for lv in data.report.levels), sum(lv.kl_bits for lv in data.report.levels)
    quality = psnr(rgb, first)
    if not np.array_equal(first, data.decoded):
        return "two decodes of one file differ", quality, coded
    if quality < MIN_PSNR:
        return f"PSNR {quality:.1f} dB", quality, coded
    return None, quality, coded


def timed_round_trip(name: str, rgb: np.ndarray, rate: float | None, threads: int | None = None):
    """(problem, PSNR, coded, seconds) of :func:`round_trip`; ``threads``: torch's threads in this process."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    t = time.perf_counter()
    problem, quality, coded = round_trip(name, rgb, rate)
    return problem, quality, coded, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200, help="cases per model")
    ap.add_argument("--models", nargs="*", help="default: every shipped model")
    ap.add_argument("--min-size", type=int, default=64)
    ap.add_argument("--max-size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "roundtrip.md"))
    ap.add_argument("--restart", action="store_true", help="forget the models measured by earlier runs")
    ap.add_argument("--jobs", type=int, default=1, help="cases measured at a time, in worker processes")
    args = ap.parse_args(argv)
    settings = {"cases": args.cases, "min_size": args.min_size, "max_size": args.max_size, "seed": args.seed}
    state_path = Path(args.out).with_suffix(".json")
    state = json.loads(state_path.read_text()) if state_path.exists() and not args.restart else {}
    if state.get("settings") != settings:
        state = {"settings": settings, "models": {}}
    files = sorted(p for d in DATA if d.is_dir() for p in d.glob("*.png"))
    if not files:
        sys.exit(f"no photos under {', '.join(map(str, DATA))}")
    names = args.models or [e.name for e in list_models()]
    header = ["# Round trips of real photos at random sizes", "", provenance(__file__, argv),
              f"Per model {args.cases} cases: photos of ../shared/data (train, val, kodak) resized or cropped to sides drawn "
              f"from [{args.min_size}, {args.max_size}] px (seed {args.seed}); encoded with `rec.compress` at the model's "
              "default rate (a variable-rate model: at a rate drawn log-uniformly from its range per case), verified by the "
              "encoder's decode with the model object, decoded again from the bytes with the model named in the header. "
              f"A case fails on any exception, on two decodes that differ, or on a PSNR under {MIN_PSNR:g} dB. The index "
              "bits written are set against the model's own estimate of them (REC: the KL; a quantized codec: "
              "−Σ log2 P of its symbols; side information apart), over all cases and, in brackets, the worst case of "
              f"at least {RATIO_MIN_BITS:,} estimated bits. Cases are "
              "kept as they are measured (roundtrip.json), so a run that is stopped resumes at the next case; times are "
              "wall clock on a machine that may have been busy with other work.", ""]
    for name in names:
        sha = get_entry(name).sha256
        row = state["models"].get(name)
        if row is None or row["sha256"] != sha:
            row = state["models"][name] = {"sha256": sha, "cases": []}
        done = len(row["cases"])
        if done >= args.cases:
            print(f"{name}: measured by an earlier run, kept", flush=True)
            continue
        rng = np.random.default_rng(args.seed)  # the same cases for every model
        rates = np.random.default_rng([args.seed, 1])
        span = load_model(name).config.rate_range
        def remaining():
            for i, (label, rgb) in enumerate(cases(files, args.cases, rng, args.min_size, args.max_size)):
                rate = None if span is None else float(np.exp(rates.uniform(*np.log(span))))
                if i >= done:  # else measured by an earlier run (the draws above keep the sequence)
                    yield label + ("" if rate is None else f" at rate {rate:.4g}"), rgb, rate

        todo = remaining()

        def keep(label, rgb, problem, quality, coded, seconds):
            row["cases"].append({"label": label, "problem": problem, "psnr": quality, "seconds": seconds,
                                 "mpx": rgb.shape[0] * rgb.shape[1] / 1e6, "index_bits": coded[0],
                                 "estimate_bits": coded[1]})
            print(f"{name:16s} {label:56s} {problem or 'ok'} {quality:.2f} dB ({seconds:.1f} s)", flush=True)
            state_path.write_text(json.dumps(state, indent=0) + "\n")
            Path(args.out).write_text(render(state, header, args.cases))

        if args.jobs <= 1:
            for label, rgb, rate in todo:
                keep(label, rgb, *timed_round_trip(name, rgb, rate))
            continue
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            window = deque()  # a few cases ahead, kept in the cases' order
            for label, rgb, rate in todo:
                window.append((label, rgb, pool.submit(timed_round_trip, name, rgb, rate, 1)))
                if len(window) > args.jobs:
                    label0, rgb0, future = window.popleft()
                    keep(label0, rgb0, *future.result())
            for label0, rgb0, future in window:
                keep(label0, rgb0, *future.result())
    text = render(state, header, args.cases)
    Path(args.out).write_text(text)
    print(text)
    return 1 if any(c["problem"] for row in state["models"].values() for c in row["cases"]) else 0


def render(state: dict, header: list[str], n_cases: int) -> str:
    """roundtrip.md from the kept cases: a row per model, the failures, what is not measured yet."""
    lines = header + ["| model | cases | failures | PSNR min / median (dB) | index bits / estimate: all (worst) "
                      "| largest (Mpx) | slowest case (s) |", "|---|---|---|---|---|---|---|"]
    failures, partial, stale = [], [], []
    installed = {e.name: e.sha256 for e in list_models()}
    for name, row in state["models"].items():
        done = row["cases"]
        label = name
        if installed.get(name) != row["sha256"]:  # measured on weights that are no longer installed under that name
            stale.append(name)
            label = f"{name} ({'earlier weights' if name in installed else 'not installed'})"
        failed = [c for c in done if c["problem"]]
        failures += [f"- `{name}`, {c['label']}: {c['problem']}" for c in failed]
        q = np.array([c["psnr"] for c in done], dtype=float)
        q = q[np.isfinite(q)]
        quality = f"{q.min():.2f} / {np.median(q):.2f}" if q.size else "—"
        count = f"{len(done)}" if len(done) >= n_cases else f"{len(done)} of {n_cases} so far"
        lines.append(f"| {label} | {count} | {len(failed)} | {quality} | {coding_ratio(done)} "
                     f"| {max((c['mpx'] for c in done), default=0):.2f} "
                     f"| {max((c['seconds'] for c in done), default=0):.1f} |")
        if len(done) < n_cases and name not in stale:
            partial.append(name)
    missing = [n for n in installed if n not in state["models"] or n in stale]
    lines += ["", f"Failures: {len(failures)}."] + ([""] + failures if failures else [])
    if partial or missing:
        lines += ["", "Not finished yet (run the script again, it resumes): "
                  + ", ".join(partial + missing) + "."]
    return "\n".join(lines) + "\n"


def coding_ratio(cases: list[dict]) -> str:
    """Σ index bits / Σ estimate over the cases, and in brackets the worst case of ≥ RATIO_MIN_BITS
    estimated bits ("—" for cases kept before the script recorded the bits)."""
    kept = [c for c in cases if c.get("estimate_bits")]
    if not kept:
        return "—"
    total = sum(c["index_bits"] for c in kept) / sum(c["estimate_bits"] for c in kept)
    large = [c["index_bits"] / c["estimate_bits"] for c in kept if c["estimate_bits"] >= RATIO_MIN_BITS]
    return f"{total:.4f}" + (f" ({max(large):.4f})" if large else "")


if __name__ == "__main__":
    sys.exit(main())
