"""Regenerate results/fuzz.md: mutated and random inputs through rec's parser and decoder.

    python scripts/fuzz.py [--count 100000] [--models NAME ...]

Per model (default: the default REC model and one model of every other codec), seeds are
small images coded with it (REC: with several sampler pairs); see
rec/fuzzing.py for the mutations. Only rec.FormatError may escape; no input may take
longer than 2 s of CPU; the process's peak memory is reported.

Torch runs on one thread here: an input's CPU time is then its own work. With two threads
beside another busy process, OpenMP's waiting threads spin, and one mentzer2018 input that
takes 0.5 s alone was charged 0.5-9 s depending on the load (the 8.5 s of the 2026-12-04 run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rec.codec import compress
from rec.fuzzing import fuzz, smooth_image
from rec.evaluation.provenance import provenance
from rec.codecs import codec_for, codec_for_kind
from rec.models.zoo import DEFAULT_MODEL, list_models, load_model

ROOT = Path(__file__).resolve().parent.parent

SLOW_LIMIT = 2.0  # CPU seconds an input may take
SIZES = [(16, 16), (33, 47), (64, 64), (70, 130)]
PAIRS = ["importance:importance", "importance:greedy(bits=6,shards=4)", "rejection(bits=6):rejection(bits=6,table=adaptive)", None]


def default_models() -> list[str]:
    """The default model and the first shipped model of every other codec."""
    first: dict[str, str] = {}  # codec id → model, the default model first
    for e in sorted(list_models(), key=lambda e: e.name != DEFAULT_MODEL):
        first.setdefault(codec_for_kind(e.kind).codec_id, e.name)
    return list(first.values())


def seed_files(model, rng: np.random.Generator) -> list[bytes]:
    """Small generated images coded with ``model``: REC with several sampler pairs; a variable-rate
    model at both ends of its range too (files with a RATE section)."""
    is_rec = codec_for(model).codec_id == "rec"
    span = model.config.rate_range
    rates = [None] * len(SIZES) if span is None else [span[0], None, span[1], None]
    return [bytes(compress(smooth_image(rng, h, w), model=model, samplers=s if is_rec else None, seed=i, rate=r, verify=False))
            for i, ((h, w), s, r) in enumerate(zip(SIZES, PAIRS, rates))]


def table(head: list[str], names: list[str], reports: list, times: list[float]) -> str:
    """The report: ``head``, then one column per fuzzed model and the escapes of each."""
    rows = [("inputs", lambda r: f"{r.inputs}"), ("rejected with FormatError", lambda r: f"{r.format_errors}"),
            ("decoded into an image", lambda r: f"{r.decoded}"), ("other exceptions (bugs)", lambda r: f"{len(r.escapes)}"),
            ("slowest input, CPU time (limit 2 s)", lambda r: f"{r.slowest_cpu_seconds:.3f} s"),
            ("slowest input, wall clock", lambda r: f"{r.slowest_seconds:.3f} s"),
            ("peak resident memory of the process so far", lambda r: f"{r.peak_rss_mb:.0f} MB")]
    lines = head + ["| figure | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(cell(r) for r in reports) + " |" for label, cell in rows]
    lines.append("| wall time | " + " | ".join(f"{t:.0f} s" for t in times) + " |")
    for name, report in zip(names, reports):
        if report.escapes:
            lines += ["", f"Escapes of `{name}`:", ""] + [f"- {e}" for e in report.escapes[:20]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000, help="inputs per model")
    ap.add_argument("--models", nargs="*", help="default: the default model and one model of every other codec")
    ap.add_argument("--out", default=str(ROOT / "results" / "fuzz.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)  # see the module docstring
    names = args.models or default_models()
    head = ["# Fuzzing the decoder", "", provenance(__file__, None),
             f"Seeds per model: {len(SIZES)} files of small generated images ({', '.join(f'{w}×{h}' for h, w in SIZES)}); "
             f"REC files coded with the sampler pairs {', '.join(p or 'default' for p in PAIRS)}; a variable-rate model's "
             "at the ends of its range and its default rate. Mutations: rec/fuzzing.py (half of them resealed with a valid "
             "length and CRC). Only FormatError may escape; no input may take 2 s. Round trips of real photos: "
             "[roundtrip.md](roundtrip.md).", ""]
    reports, times = [], []
    for i, name in enumerate(names):
        model = load_model(name)
        seeds = seed_files(model, np.random.default_rng(0))
        started = time.time()
        reports.append(fuzz(seeds, args.count, model, rng_seed=1 + i))
        times.append(time.time() - started)
        print(name, reports[-1], flush=True)
        pending = names[i + 1:]  # the file after each model: a long run cut short keeps what it measured
        text = table(head + ([f"Not yet fuzzed: {', '.join(f'`{n}`' for n in pending)}.", ""] if pending else []),
                     names[: i + 1], reports, times)
        Path(args.out).write_text(text)
    print(text)
    sys.exit(0 if all(r.ok and r.slowest_cpu_seconds <= SLOW_LIMIT for r in reports) else 1)


if __name__ == "__main__":
    main()
