#!/usr/bin/env bash
# Regenerate every file of results/ on this machine (Kodak from ../shared/data/kodak).
# Run it with no training going on: the benchmarks compare times.
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/bench_random.py
python scripts/bench_coder.py
python scripts/bench_samplers.py
python scripts/training_report.py
python scripts/bench_codec.py
python scripts/analysis_level2_bias.py --limit 6
python scripts/analysis_samplers.py
python scripts/run_classical.py
python scripts/plot_rd.py results/classical/*.json --out results/classical/rd_kodak.png
rec eval ../shared/data/kodak --codec rec --out results/rec --quiet
python scripts/plot_rd.py results/classical/jpeg.json results/classical/webp.json results/classical/heic.json results/rec/rec.json --out results/rd_kodak.png
python scripts/fuzz.py --count 100000
