"""Regenerate results/fuzz.md: mutated and random inputs through rec's parser and decoder.

    python scripts/fuzz.py [--count 100000] [--model NAME]

Seeds are small images coded with the shipped model and several sampler pairs; see
rec/fuzzing.py for the mutations. Only rec.FormatError may escape; no input may take
longer than 2 s; the process's peak memory is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from rec.codec import compress
from rec.fuzzing import fuzz, smooth_image
from rec.evaluation.provenance import provenance
from rec.models.zoo import DEFAULT_MODEL, load_model

ROOT = Path(__file__).resolve().parent.parent

PAIRS = ["importance:importance", "importance:greedy(bits=6,shards=4)", "rejection(bits=6):rejection(bits=6,table=adaptive)", None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=str(ROOT / "results" / "fuzz.md"))
    args = ap.parse_args()
    model = load_model(args.model)
    rng = np.random.default_rng(0)
    sizes = [(16, 16), (33, 47), (64, 64), (70, 130)]
    seeds = [bytes(compress(smooth_image(rng, h, w), model=model, samplers=s, seed=i, verify=False))
             for i, ((h, w), s) in enumerate(zip(sizes, PAIRS))]
    started = time.time()
    report = fuzz(seeds, args.count, model, rng_seed=1)
    elapsed = time.time() - started
    lines = [
        "# Fuzzing the decoder",
        "",
        provenance(__file__, None),
        f"Model `{args.model}`.",
        f"Seeds: {len(seeds)} files of small generated images ({', '.join(f'{w}×{h}' for h, w in sizes)}) coded with the sampler pairs "
        f"{', '.join(p or 'default' for p in PAIRS)}. Mutations: rec/fuzzing.py (half of them resealed with a valid length and CRC).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| inputs | {report.inputs} |",
        f"| rejected with FormatError | {report.format_errors} |",
        f"| decoded into an image | {report.decoded} |",
        f"| other exceptions (bugs) | {len(report.escapes)} |",
        f"| slowest input, CPU time | {report.slowest_cpu_seconds:.3f} s (limit 2 s) |",
        f"| slowest input, wall clock | {report.slowest_seconds:.3f} s |",
        f"| peak resident memory of the process | {report.peak_rss_mb:.0f} MB |",
        f"| wall time | {elapsed:.0f} s |",
    ]
    if report.escapes:
        lines += ["", "Escapes:", ""] + [f"- {e}" for e in report.escapes[:20]]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
