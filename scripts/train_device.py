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
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args(argv)
    overrides = [f"train.device={args.device}", "train.val=", *args.set]
    if args.data:
        overrides.append(f"train.data={args.data}")
    config = load_config(args.config, overrides)
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
    trainer.run(minutes=args.minutes, on_checkpoint=every_few_minutes)
    hand_back(trainer)
    steps = trainer.step - step0
    print(f"{steps} steps in {time.time() - started:.0f} s ({(time.time() - started) / max(steps, 1):.3f} s a step) on {args.device}")


if __name__ == "__main__":
    main()
