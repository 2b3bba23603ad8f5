"""Train a config for a given number of minutes on a device, handing the weights back as shards.

Made for the lent GPU machine (one H200, 15 minutes of device time in all, files back of
at most 16 MiB each): it runs with the torch that machine has (torch ≥ 2.4) and the
project on PYTHONPATH, reads the compact training set that travels with the code
(scripts/make_compact_data.py), checkpoints every ``--checkpoint-minutes`` and after each
checkpoint writes the weights (the EMA when the config keeps one) as fp16 shards of at
most 16 MiB into ``--shards`` (rec.training.shards), so a run cut short still returns its
last weights. On the CPU it runs the same way (tests/training/test_device_script.py).

    PYTHONPATH=. python scripts/train_device.py configs/gamma-pln-vr.toml --out runs/dev \\
        --data data/train-compact --device cuda --minutes 8 --shards "$OUT/weights"

Continue on the CPU from the returned weights with ``--set train.init=PATH/TO/weights``
(rec train reads a shard folder like a checkpoint).

A lease is counted in minutes, not steps, and a machine's speed is not known beforehand:
``--wall-schedule`` runs one cosine cycle of the learning rate over the wall-clock minutes
(the config's warm-up steps, then α0·(f + (1 − f)·½(1 + cos πp)) with p the fraction of the
time spent), so the run ends annealed whatever its step count. Two runs trained side by side
on one device can be held to the same budget: ``--step-file`` publishes a run's step and
``--pace-with`` makes a run wait whenever it is ahead of the other's published step (the REC
model paced by its quantized reference, so that the reference gets at least as many steps).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rec.training import load_config  # noqa: E402
from rec.training.loop import Trainer  # noqa: E402
from rec.training.shards import write_shards  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--out", required=True, help="run directory (checkpoint, log)")
    ap.add_argument("--data", help="training images (default: the config's train.data)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--minutes", type=float, required=True, help="training time; a checkpoint is written when it is up")
    ap.add_argument("--checkpoint-minutes", type=float, default=2.5)
    ap.add_argument("--shards", required=True, help="folder for the weights as fp16 shards of at most 16 MiB")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--wall-schedule", action="store_true", help="one cosine cycle of the learning rate over the minutes")
    ap.add_argument("--step-file", help="publish this run's step in this file")
    ap.add_argument("--pace-with", help="wait whenever ahead of the step published in this file (by another run's --step-file)")
    args = ap.parse_args(argv)
    overrides = [f"train.device={args.device}", "train.val=", *args.set]
    if args.data:
        overrides.append(f"train.data={args.data}")
    config = load_config(args.config, overrides)
    if args.device == "cuda":
        import torch

        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels once
    trainer = Trainer(config, args.out, progress=False)
    last = [time.time()]

    def hand_back(t: Trainer) -> None:
        write_shards((t.ema or t.model).state_dict(), args.shards)
        print(f"step {t.step}: weights in {args.shards}", flush=True)

    def every_few_minutes(t: Trainer) -> None:
        if time.time() - last[0] >= 60 * args.checkpoint_minutes:
            last[0] = time.time()
            hand_back(t)

    started, step0 = time.time(), trainer.step
    deadline = started + 60 * args.minutes
    if args.wall_schedule:
        t = config.train

        def wall_rate(step: int) -> float:
            if step - step0 < t.lr_warmup:
                return t.lr * (step - step0 + 1) / t.lr_warmup
            p = min((time.time() - started) / (deadline - started), 1.0)
            return t.lr * (t.lr_final + (1 - t.lr_final) * 0.5 * (1 + math.cos(math.pi * p)))

        trainer.lr_schedule = wall_rate

    def pace(t: Trainer) -> None:
        if args.step_file and t.step % 10 == 0:
            publish(args.step_file, t.step)
        while args.pace_with and time.time() < deadline:
            other, stamp = published(args.pace_with)
            if other is None or t.step <= other or time.time() - stamp > 60:  # not started, not ahead, or gone
                return
            time.sleep(0.05)

    trainer.run(minutes=args.minutes, on_checkpoint=every_few_minutes, on_step=pace)
    if args.step_file:
        publish(args.step_file, trainer.step)
    hand_back(trainer)
    steps = trainer.step - step0
    print(f"{steps} steps in {time.time() - started:.0f} s ({(time.time() - started) / max(steps, 1):.3f} s a step) on {args.device}")


def publish(path: str, step: int) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(str(step))
    os.replace(tmp, path)


def published(path: str) -> tuple[int | None, float]:
    """The step another run published and when, (None, 0) before it has."""
    try:
        return int(Path(path).read_text()), os.path.getmtime(path)
    except (OSError, ValueError):
        return None, 0.0


if __name__ == "__main__":
    main()
