#!/usr/bin/env bash
# Regenerate every file of results/ on this machine (Kodak from ../shared/data/kodak).
# Run it with no training going on: the benchmarks compare times. Each step's wall time is
# printed and collected in results/all_results_times.txt (the whole run: 35 min here).
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=../shared/data/kodak
TIMES=results/all_results_times.txt
echo "# bash scripts/all_results.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(python -c 'from rec.evaluation.machine import machine; print(machine())')" > "$TIMES.partial"

step() {
    local start=$SECONDS
    echo "== $*"
    "$@"
    printf '%6d s  %s\n' $((SECONDS - start)) "$*" | tee -a "$TIMES.partial"
}

# foundation, samplers, models
step python scripts/bench_random.py
step python scripts/bench_coder.py
step python scripts/bench_samplers.py
step python scripts/training_report.py --kodak "$KODAK"
step python scripts/reference_channels.py --kodak "$KODAK"
# the default (iso-KL) model: its own pair (budget sampler on level 1) beside the importance sampler on level 1
step python scripts/bench_codec.py --samplers default \
    --samplers "importance(bits=13,max_group=256,margin=0,temper=8):importance(bits=11,max_group=256,margin=0,temper=8)"
step python scripts/sampler_real_latents.py --kodak "$KODAK"
# the default model's level-1 margin and distortion guide by β (its zoo entry's schedules), on the validation photos
step python scripts/level1_margin.py --margins=0,0.5,1 --guides 0.5,1 --rates 0.05,0.15,0.5 --ideal --out results/level1_guide_high.md
step python scripts/level1_margin.py --margins=0,0.5,1,1.5 --guides 0.125,0.25 --rates 1.4,2.8,6,15,40 --ideal --out results/level1_guide.md
step python scripts/level1_margin.py --margins=0,0.5,1 --guides 0.0625,0.125 --rates 6,15,40 --ideal --out results/level1_guide_low.md
step python scripts/level1_margin.py --margins=1 --guides 1,2 --rates 0.05,0.15 --ideal --out results/level1_guide_top.md
step python scripts/level1_margin.py --margins=1 --guides 0.03125,0.0625 --rates 15,40,80 --ideal --out results/level1_guide_bottom.md
step python scripts/level1_margin.py --model gamma-pln-vr4 --margins=-2,-1,0,1 --rates 0.1,0.4,2,8,30 --out results/level1_margin_vr4.md
step python scripts/level2_budget.py
step rec bench "$KODAK"/kodim01.png "$KODAK"/kodim05.png "$KODAK"/kodim23.png --betas 2,6 --threads 2 --warmup 1 \
    --samplers "default;importance(bits=13,max_group=256,margin=0,temper=8):importance(bits=11,max_group=256,margin=0,temper=8);importance(bits=13,max_group=256,margin=0,temper=8):greedy(bits=8,shards=30)" \
    --out results/bench
# rate-distortion: classical codecs, every REC model family, the mbt2018 reference
step python scripts/run_classical.py
# (REC: the variable-rate models' curves come from eval_variable_rate below; results/rec/rec-gamma-pln.json, the
# per-rate γ-PLNs, is kept from 2026-12-06, when it measured the three then shipped: `rec eval "$KODAK" --codec rec
# --models gamma-pln-lowest,gamma-pln-low,gamma-pln-mid --out results/rec`, the last two now in the history only)
step rec eval "$KODAK" --codec brummer2021 --codec mentzer2018 --out results/rec --quiet
# the per-rate mbt2018 models apart: rec eval's mbt2018 curve would take mbt2018-vr's rates too (its own curve
# comes from eval_variable_rate below)
PER_RATE_MBT="mbt2018-low mbt2018-lowmid mbt2018-mid mbt2018-high"
step rec eval "$KODAK" --codec mbt2018 --models "${PER_RATE_MBT// /,}" --out results/rec --quiet
step python scripts/reference_report.py --kodak "$KODAK" --from-results results/rec/mbt2018.json --models $PER_RATE_MBT
# the variable-rate models over their ranges (the reference first: the REC tables' BD-rates read its curve)
step python scripts/eval_variable_rate.py --model mbt2018-vr
step python scripts/eval_variable_rate.py --model pln-vr --coded
step python scripts/eval_variable_rate.py --model gamma-pln-vr4 --coded
step python scripts/eval_variable_rate.py --coded   # the default (gamma-pln-iso) after vr4: its table reads vr4's curves
# Brummer & De Vleeschouwer 2021: RD against the same-budget hyperprior and Table 1 (the hyperprior runs and the
# N_CDF ablation's come from training: python scripts/brummer_study.py --parts ablation; scripts/train_zoo.py)
step python scripts/brummer_study.py --kodak "$KODAK" --parts rd timing
step python scripts/mentzer_study.py --kodak "$KODAK"   # Mentzer et al. 2018: bits, Table 1, decode times
step python scripts/plot_rd.py results/classical/*.json --out results/classical/rd_kodak.png
step python scripts/plot_rd.py results/classical/jpeg.json results/classical/webp.json results/classical/heic.json \
    results/rec/*.json --out results/rd_kodak.png
step python scripts/bd_table.py
# the thesis's analyses (chapter 4)
step python scripts/analysis_bound.py results/rec
step python scripts/analysis_level2_share.py --kodak "$KODAK"
step python scripts/analysis_level2_bias.py --limit 6
step python scripts/analysis_samplers.py --kodak "$KODAK"
# what the numbers look like
step python scripts/figure_crops.py
step python scripts/figure_brummer_priors.py   # the paper's Fig. 2
# robustness
step python scripts/fuzz.py --count 100000
step python scripts/stress_ddp.py --runs 30
echo "$((SECONDS / 60)) min in all" | tee -a "$TIMES.partial"
mv "$TIMES.partial" "$TIMES"
