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
on one device can be held to the same budget: ``--step-file`` publishes a run's step after
every step (and when it has ended) and ``--pace-with`` makes a run wait before any step that
would put it ahead of the other's, and stop once the other has ended (the REC model paced by
its quantized reference, so that the reference gets at least as many steps).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rec.training import load_config  # noqa: E402
from rec.training.loop import Trainer, annealed_rate  # noqa: E402
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
    ap.add_argument("--pace-with", help="never step ahead of the run that publishes its step in this file (its --step-file)")
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
            return annealed_rate((time.time() - started) / (deadline - started), t.lr, t.lr_final)

        trainer.lr_schedule = wall_rate

    paced_since = time.time()

    def pace(t: Trainer) -> bool:
        """Publish this run's step; wait while the next step would put it ahead of the other run's.
        True (stop here) when the other run has ended, or at this run's deadline, with this one not behind."""
        if args.step_file:
            publish(args.step_file, t.step)
        while args.pace_with:
            other, stamp, final = published(args.pace_with)
            if other is not None and t.step < other:
                return False
            if other is not None and final or time.time() >= deadline:
                return True
            if time.time() - (paced_since if other is None else stamp) > 60:  # never started, or gone without ending
                print(f"{args.pace_with}: no step for a minute, running unpaced", flush=True)
                args.pace_with = None
                return False
            time.sleep(0.01)
        return False

    trainer.run(minutes=args.minutes, on_checkpoint=every_few_minutes, on_step=pace)
    if args.step_file:
        publish(args.step_file, trainer.step, final=True)
    hand_back(trainer)
    steps = trainer.step - step0
    print(f"{steps} steps in {time.time() - started:.0f} s ({(time.time() - started) / max(steps, 1):.3f} s a step) on {args.device}")


def publish(path: str, step: int, final: bool = False) -> None:
    """Write a run's step (and whether it has ended) for another run's --pace-with, atomically."""
    tmp = f"{path}.tmp"
    Path(tmp).write_text(f"{step} final" if final else str(step))
    os.replace(tmp, path)


def published(path: str) -> tuple[int | None, float, bool]:
    """The step another run published, when, and whether it has ended; (None, 0, False) before it has."""
    try:
        text = Path(path).read_text().split()
        return int(text[0]), os.path.getmtime(path), text[1:] == ["final"]
    except (OSError, ValueError, IndexError):
        return None, 0.0, False


if __name__ == "__main__":
    main()
