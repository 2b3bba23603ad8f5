"""Turn the weights a device run handed back (scripts/device_session.sh) into a zoo entry.

The shard folder gets the run's config.json (the config and ``--set`` overrides the run was
started with; scripts/train_device.py's overrides of the device, the validation and the
step count do not touch the model), then :func:`rec.training.checkpoint.export_model`
writes it into the zoo as fp16 safetensors. The entry counts the parent's steps plus the
device run's, and its description says at which batch and crop those steps ran. ``--name``
equal to ``--parent`` replaces the parent's weights (the repository's history keeps them).

    python scripts/import_device_run.py RUN/gamma-pln-vr3 --config configs/gamma-pln-vr3.toml \\
        --name gamma-pln-vr4 --parent gamma-pln-vr3 --steps 5047 --minutes 3.6
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rec.models.zoo import get_entry, zoo_dir  # noqa: E402
from rec.training import load_config  # noqa: E402
from rec.training.checkpoint import export_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shards", help="the shard folder (index.json, shard-*.safetensors)")
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--name", required=True)
    ap.add_argument("--parent", required=True, help="the zoo model the run started from")
    ap.add_argument("--steps", type=int, required=True, help="the device run's steps")
    ap.add_argument("--minutes", type=float, required=True, help="the device run's training time")
    ap.add_argument("--batch", default="16 crops of 256²")
    ap.add_argument("--device", default="one NVIDIA H200")
    ap.add_argument("--zoo", type=Path, help="the zoo folder to write into (default: the parent's)")
    args = ap.parse_args()
    folder = Path(args.shards)
    config = load_config(args.config, args.set)
    (folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    parent = get_entry(args.parent)
    description = (f"{parent.description}; continued from {args.parent} ({parent.steps} steps) by {args.steps} steps of "
                   f"{args.batch} on {args.device} in {args.minutes:g} min (scripts/device_session.sh: one cosine cycle "
                   f"over the run's minutes, lr {config.train.lr:g}, EMA {config.train.ema:g}).").strip()
    # replacing the parent, export_model adds the hours it already records
    hours = args.minutes / 60 + (0 if args.name == args.parent else parent.wall_hours)
    entry = export_model(folder, args.name, wall_hours=hours, data=parent.data,
                         description=description, parent=args.parent, step_offset=parent.steps + args.steps,
                         zoo=args.zoo or parent.directory or zoo_dir())
    print(f"{entry.name}: {entry.steps} steps, {entry.path}")


if __name__ == "__main__":
    main()
