"""The ``rec`` command: a thin layer that parses arguments and calls the Python API."""

from __future__ import annotations

import argparse
import sys

from rec.errors import RecError

__all__ = ["main"]


def _train(args) -> None:
    from rec.training import Trainer, load_config

    config = load_config(args.config, args.set)
    Trainer(config, args.out, progress=not args.quiet).run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rec", description="Image compression without quantization (relative entropy coding).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a PLN / γ-PLN (resumes from OUT/last.pt)")
    p.add_argument("config", nargs="?", help="TOML config file")
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, config)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except RecError as e:
        print(f"rec: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
