#!/usr/bin/env bash
# One lease of the GPU machine (issue 15, with issue 19's Mentzer points beside it): four runs of
# scripts/train_device.py side by side on one device, each one cosine cycle over the same minutes
# (--wall-schedule), batch 16 of 256² crops from the compact training set:
#   the default γ-PLN → its continuation, paced by mbt2018-vr's continuation (--pace-with), so that the
#   quantized reference gets at least as many steps of the same recipe (lr 2e-4, EMA 0.999, augmentation);
#   two Mentzer models → their continuations.
# The lease of 2026-12-04 ran it with gamma-pln-vr3 (→ gamma-pln-vr4, 5 047 steps in 3.6 min, alone after a
# first try crashed), mbt2018-vr (6 271 steps in 8 min), mentzer2018-msssim-high and -mid (3 328 and 3 488):
# the repository's history has that version. The runs below are the next lease's: the default (the iso-KL
# gamma-pln-iso since 2026-12-05) and the MSE Mentzer models
# with the fewest steps (mse-high, 0.77 bpp on Kodak after 1 500 CPU steps at R_t = 1.1; mse-lowmid, 1 500).
# The weights come back as fp16 shards in $OUT/<name>.tgz (index.json, shard-000.safetensors, the training
# log); scripts/import_device_run.py turns an unpacked folder into a zoo entry. Run on the device machine as
#   bash scripts/device_session.sh MINUTES    (needs data/train-compact: scripts/make_compact_data.py)
# with ONLY=<name> to run one of them (its further arguments in EXTRA, e.g. a step cap). Last, the REC codec
# on the device against the CPU (scripts/check_device_codec.py → $OUT/device_codec.md).
set -u
MIN=${1:-8}
OUT=${OUT:-device-out}
RUNS=/tmp/device-runs
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 PYTHONPATH=.:zoo${PYTHONPATH:+:$PYTHONPATH}
common=(--data data/train-compact --device "${DEVICE:-cuda}" --minutes "$MIN" --wall-schedule
        --set train.batch=16 --set train.crop=256 --set train.steps=100000000 --set train.checkpoint_every=500
        --set train.lr_warmup=200 --set train.init_strict=true)
train() {  # name config extra-args...  (ONLY=name: that run alone)
    local name=$1 config=$2
    shift 2
    [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ] && return
    python3 scripts/train_device.py "$config" --out "$RUNS/$name" --shards "$OUT/$name" "${common[@]}" "$@" \
        >"$RUNS/$name.log" 2>&1 &
}
nvidia-smi -L 2>/dev/null
train mbt2018-vr configs/mbt2018-vr.toml --set train.init=mbt2018-vr --set train.lr=2e-4 --step-file "$RUNS/mbt.step"
train gamma-pln-iso configs/gamma-pln-iso.toml --set train.init=gamma-pln-iso --set train.lr=2e-4 --pace-with "$RUNS/mbt.step" ${EXTRA:-}
train mentzer2018-mse-high configs/mentzer2018-mse.toml --set model.M=64 --set model.target_bpp=1.1 \
    --set train.init=mentzer2018-mse-high --set train.lr=3e-4
train mentzer2018-mse-lowmid configs/mentzer2018-mse.toml --set model.beta=600 --set model.target_bpp=0.25 \
    --set train.init=mentzer2018-mse-lowmid --set train.lr=3e-4
wait
for f in "$RUNS"/*.log; do
    echo "== $f"
    tail -n 4 "$f"
    tail -n 1 "${f%.log}/log.jsonl" 2>/dev/null | cut -c1-400
done
# the lease hands back at most 8 files: each run's shards and training log as one archive (a run cut
# short by the time limit leaves its shard folder instead, as written at its last checkpoint)
for dir in "$OUT"/*/; do
    name=$(basename "$dir")
    cp "$RUNS/$name/log.jsonl" "$RUNS/$name.log" "$dir" 2>/dev/null
    tar -C "$OUT" -czf "$OUT/$name.tgz" "$name" && rm -rf "$dir"
done
# REC's networks on the device against the CPU (rec encode/decode --device; issue 15's GPU path)
python3 scripts/check_device_codec.py --device "${DEVICE:-cuda}" --out "$OUT/device_codec.md"
