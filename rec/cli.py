"""The ``rec`` command: a thin layer that parses arguments and calls the Python API.

    rec encode IN OUT [--model NAME] [--rate R] [--sampler LEVEL2:LEVEL1] [--seed S] [--json] [--ideal]
    rec encode DIR OUTDIR [-j N] [--max-memory GB] [--no-verify]
    rec decode IN OUT
    rec info FILE [--model M]
    rec models [--json]
    rec export CHECKPOINT NAME [--description TEXT]
    rec samplers
    rec demo [--out DIR]
    rec eval DIR --codec NAME [--codec NAME ...] [--models a,b] [--rates R1,R2] [--samplers L2:L1] --out DIR
    rec bench IMAGES... [--models a,b] [--samplers "P1;P2"] [--betas B1,B2] [--threads N] [--warmup K] [--repeats R] --out DIR
    rec train [CONFIG] --out RUN [--set section.key=value ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

from rec.errors import FormatError, RecError

__all__ = ["main"]


def _rate_parameter(codec_id: str) -> tuple[str, str]:
    """Name and symbol of the rate parameter of a codec's variable-rate models: ("beta", "β") for REC,
    ("lambda", "λ") for mbt2018."""
    from rec.codecs import get_codec

    codec = get_codec(codec_id)
    return getattr(codec, "rate_name", "beta"), getattr(codec, "rate_symbol", "β")


def _rate_fields(name: str, value: float | None) -> dict:
    """The JSON fields of a file's rate: ``beta`` (REC's β, None otherwise, as always), the value under
    its own name (``lambda`` for mbt2018) and ``rate_parameter``, that name."""
    fields = {"beta": value if name == "beta" else None, "rate_parameter": name}
    if name != "beta":
        fields[name] = value
    return fields


def _print_report(report, symbol: str = "β") -> None:
    rate = "" if report.beta is None else f"  {symbol} {report.beta:g}"
    print(f"{report.width}×{report.height}  {report.bytes} bytes  {report.bpp:.4f} bpp  model {report.model}{rate}  samplers {report.samplers}")
    print(f"{'level':<6}{'sampler':<12}{'dims':>9}{'KL bits':>12}{'index':>10}{'side':>9}{'outlier':>9}{'bits/KL':>9}"
          f"{'groups':>8}{'slack':>8}{'over/grp':>9}")
    for lv in report.levels:
        ratio = lv.bits / lv.kl_bits if lv.kl_bits > 0 else float("nan")
        groups = "" if lv.groups is None else f"{lv.groups:>8}"
        slack = "" if lv.slack_bits is None else f"{lv.slack_bits:>8.0f}"
        per_group = "" if lv.overhead_per_group is None else f"{lv.overhead_per_group:>9.2f}"
        print(f"{lv.name:<6}{lv.sampler:<12}{lv.dimensions:>9}{lv.kl_bits:>12.0f}{lv.index_bits:>10}{lv.side_bits:>9}"
              f"{lv.outlier_bits:>9}{ratio:>9.3f}{groups or ' ' * 8}{slack or ' ' * 8}{per_group}")
    print(f"total KL {report.kl_bits:.0f} bits, bound I + 2 log2(I + 1) = {report.bound_bits:.0f}, written {8 * report.bytes} "
          f"({8 * report.bytes / max(report.kl_bits, 1):.3f} × KL; container {report.container_bits} bits)")
    line = f"encode {report.encode_seconds:.2f} s"
    if report.decode_seconds is not None:
        line += f", decode {report.decode_seconds:.2f} s"
    if report.psnr is not None:
        line += f", PSNR {report.psnr:.2f} dB"
    if report.ms_ssim is not None:
        line += f", MS-SSIM {report.ms_ssim:.4f}"
    if report.ideal_psnr is not None:
        line += f" (ideal: {report.ideal_psnr:.2f} dB)"
    print(line)


def _encode(args) -> None:
    from rec.codec import compress
    from rec.image import check_output_path, write_atomic

    if Path(args.input).is_dir():
        from rec.batch import encode_directory

        if args.device not in (None, "cpu"):
            raise RecError("--device: a directory is coded on the CPU (by --jobs worker processes); "
                           "give one image to code it on another device")
        items = encode_directory(args.input, args.output, model=args.model, samplers=args.sampler, seed=args.seed, beta=args.rate,
                                 jobs=args.jobs, max_memory_gb=args.max_memory, verify=not args.no_verify)
        for item in items:
            print(json.dumps(item.__dict__) if args.json else
                  f"{item.source} -> {item.output}: " + (f"{item.bytes} bytes, {item.bpp:.4f} bpp" if item.error is None else f"error: {item.error}"))
        if any(item.error for item in items):
            raise RecError(f"{sum(1 for i in items if i.error)} of {len(items)} files failed")
        return

    check_output_path(args.output, args.input)  # before the work, not after it
    data = compress(args.input, model=args.model, samplers=args.sampler, seed=args.seed, ideal=args.ideal or args.json,
                    rate=args.rate, device=args.device)
    write_atomic(args.output, data)
    from rec.codec import read_header

    name, symbol = _rate_parameter(read_header(data).header.codec_id)
    if args.json:
        print(json.dumps({**data.report.to_dict(), **_rate_fields(name, data.report.beta)}))
    else:
        _print_report(data.report, symbol)


def _device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, metavar="DEV",
                   help="where the networks run: cpu (default) or cuda (REC only: its decoder takes no discrete "
                        "decision from the networks' floats, so its files decode on either; the quantized codecs run "
                        "on the CPU)")


def _read_bytes(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise RecError(f"cannot read {path}: {e}") from None


def _decode(args) -> None:
    from rec.codec import decompress
    from rec.image import check_output_path, save_png

    check_output_path(args.output, args.input)
    rgb = decompress(_read_bytes(args.input), model=args.model, device=args.device)
    save_png(args.output, rgb)
    print(f"wrote {args.output} ({rgb.shape[1]}×{rgb.shape[0]})")


def _info(args) -> None:
    from rec.codec import inspect, read_header, read_rate

    path = Path(args.input)
    data = _read_bytes(path)
    c = read_header(data)
    h = c.header
    rate = read_rate(c)
    name, symbol = _rate_parameter(h.codec_id)
    levels = [{"level": level, "sampler": spec.name, "params": dict(spec.params)}
              for level, spec in zip(range(len(h.samplers), 0, -1), h.samplers)]
    sections = [{"type": s.kind.name, "level": s.level, "bytes": len(s.payload)} for s in c.sections]
    overhead = len(data) - sum(s["bytes"] for s in sections)  # of this file's format, which may be an older one
    try:  # the split of each level's bits needs the model's latent shapes
        written, why = [asdict(lv) for lv in inspect(data, model=args.model)], ""
    except FormatError as e:
        written, why = None, str(e)
    if args.json:
        print(json.dumps({"file": str(path), "bytes": len(data), "width": h.width, "height": h.height,
                          "bpp": 8 * len(data) / (h.width * h.height), "format": data[4], "codec": h.codec_id, "model": h.model_id,
                          "model_hash": h.model_hash.hex(), "seed": h.seed, **_rate_fields(name, rate), "samplers": levels,
                          "sections": sections, "container_overhead_bytes": overhead, "levels": written}))
        return
    print(f"{path}: {len(data)} bytes, {h.width}×{h.height}, {8 * len(data) / (h.width * h.height):.4f} bpp, format {data[4]}")
    shown = "" if rate is None else f", rate {symbol} = {rate:g}"
    print(f"codec {h.codec_id}, model {h.model_id} (weights {h.model_hash.hex()}), seed {h.seed}{shown}")
    for lv in levels:
        params = ", ".join(f"{k}={v}" for k, v in lv["params"].items())
        print(f"level {lv['level']}: {lv['sampler']}({params})")
    for s in sections:
        print(f"section {s['type']} level {s['level']}: {s['bytes']} bytes ({8 * s['bytes']} bits)")
    print(f"container overhead: {overhead} bytes")
    if written is None:
        print(f"bits per level: not shown ({why})")
        return
    total = 8 * len(data)
    for lv in written:
        bits = lv["index_bits"] + lv["side_bits"] + lv["outlier_bits"]
        groups = "" if lv["groups"] is None else f", {lv['groups']} groups ({lv['side_bits'] / max(lv['groups'], 1):.2f} side bits each)"
        outliers = "" if lv["outliers"] is None else f", {lv['outliers']} outliers"
        print(f"{lv['name']}: {bits} bits ({100 * bits / total:.1f} % of the file): index {lv['index_bits']}, "
              f"side {lv['side_bits']} ({100 * lv['side_bits'] / max(bits, 1):.1f} %), outliers {lv['outlier_bits']}"
              f"{groups}{outliers}")


def _models(args) -> None:
    from rec.models.zoo import DEFAULT_MODEL, PACK_HINT, list_models, pack_dir, user_zoo_dir, zoo_dir

    entries = list_models()
    if args.path:
        held = {}
        for e in entries:
            held.setdefault(e.path.parent.resolve(), []).append(e.name)
        pack = pack_dir()
        for label, folder in (("in the package", zoo_dir()), ("model pack rec-zoo", pack), ("user zoo", user_zoo_dir())):
            if folder is None:
                print(f"{label}: not installed ({PACK_HINT})")
                continue
            names = held.get(Path(folder).resolve(), [])
            count = f"{len(names)} model{'' if len(names) == 1 else 's'}"
            print(f"{label}: {folder} ({count}{': ' + ', '.join(names) if names else ''})")
        return
    if args.json:
        def rate_range(e, name: str) -> list[float] | None:  # of a variable-rate model whose rate parameter is ``name``
            r = getattr(e.config, "rate_range", None)
            return list(r) if r is not None and hasattr(e.config, name) else None

        print(json.dumps([{"name": e.name, "kind": e.kind, "shipped": e.shipped, "path": str(e.path),
                           "beta": getattr(e.config, "beta", None),
                           "beta_range": rate_range(e, "beta"),
                           "gamma_inf": getattr(e.config, "gamma_inf", None), "lambda": getattr(e.config, "lmbda", None),
                           "lambda_range": rate_range(e, "lmbda"),
                           "steps": e.steps, "sha256": e.sha256, "description": e.description} for e in entries], indent=2))
        return
    from rec.codecs import codec_for_kind

    name_width = max((len(e.name) for e in entries), default=0) + 2
    kind_width = max((len(e.kind) for e in entries), default=0) + 1
    for e in entries:
        mark = "*" if e.name == DEFAULT_MODEL else " " if e.shipped else "u"
        rate = codec_for_kind(e.kind).rate_label(e.config)  # 28 characters: β and γ∞, or λ
        print(f"{mark} {e.name:<{name_width}}{e.kind:<{kind_width}} {rate}{e.steps:>7} steps  {e.description}")
    if any(not e.shipped for e in entries):
        print(f"(* the default; u: in the user zoo {user_zoo_dir()})")


def _export(args) -> None:
    from rec.models.zoo import user_zoo_dir
    from rec.training.checkpoint import export_model

    zoo = Path(args.zoo) if args.zoo else user_zoo_dir()
    entry = export_model(args.checkpoint, args.name, wall_hours=0.0, data=args.data, description=args.description,
                         parent=args.parent, zoo=zoo)
    print(f"exported {args.checkpoint} as model {entry.name!r} ({entry.kind}, {entry.steps} steps) into {zoo}; "
          f"`rec encode photo.png out.rec --model {entry.name}`")


def _demo(args) -> None:
    from importlib.resources import files

    from rec.codec import compress
    from rec.image import save_png, write_atomic

    sample = files("rec") / "data" / "kodim23.png"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"compressing the sample photo {sample.name} with the default model and samplers")
    data = compress(str(sample), ideal=True)
    write_atomic(out / "kodim23.rec", data)
    save_png(out / "kodim23.decoded.png", data.decoded)
    _print_report(data.report)
    print(f"wrote {out / 'kodim23.rec'} and {out / 'kodim23.decoded.png'}")


def _samplers(args) -> None:
    from rec.codecs.rec import describe_default_samplers
    from rec.samplers import describe_samplers

    print("Coded samplers, one per latent level: --sampler LEVEL2:LEVEL1, each NAME or NAME(key=value,...),")
    print(f"e.g. importance(bits=16):greedy(bits=8,shards=30). Default: {describe_default_samplers()} "
          "(results/level1_guide.md)")
    print()
    print(describe_samplers())


def _config_keys() -> str:
    """The keys ``rec train --set`` takes, from the config dataclasses, with their defaults."""
    import dataclasses
    import textwrap

    from rec.models.kinds import KINDS
    from rec.training.config import TrainConfig

    def keys(section: str, cls) -> str:
        items = [f"{section}.{f.name}={getattr(cls(), f.name)!r}" for f in dataclasses.fields(cls)]
        return textwrap.fill("  ".join(items), width=100, initial_indent="  ", subsequent_indent="  ",
                             break_on_hyphens=False)

    by_config: dict[type, list[str]] = {}
    for kind, k in KINDS.items():  # one block per config class, naming its kinds
        by_config.setdefault(k.config, []).append(kind)
    blocks = [f"[model], kind {' / '.join(kinds)}:\n{keys('model', cls)}" for cls, kinds in by_config.items()]
    return "keys of --set SECTION.KEY=VALUE (with their defaults):\n" + "\n".join(blocks) + f"\n[train]:\n{keys('train', TrainConfig)}"


def _encode_help(parser: argparse.ArgumentParser) -> None:
    """The help that needs the codec (loaded only when the help is shown): the default samplers, their parameters."""
    from rec.codecs.rec import describe_default_samplers
    from rec.samplers import describe_samplers

    for action in parser._actions:
        if action.dest == "sampler":
            action.help = (f"LEVEL2:LEVEL1, e.g. importance:greedy or is(bits=16):gs(bits=8) "
                           f"(default: {describe_default_samplers()})")
    parser.epilog = "samplers and their parameters:\n\n" + describe_samplers()


def _train_help(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _config_keys()


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help may be completed when it is shown (``lazy_help(parser)``):
    help that needs torch or numba costs nothing to the commands that do not print it."""

    def format_help(self) -> str:
        hook = getattr(self, "lazy_help", None)
        if hook is not None:
            hook(self)
        return super().format_help()


def _train(args) -> None:
    from rec.training import load_config
    from rec.training.loop import Trainer

    overrides = list(args.set) + ([f"train.device={args.device}"] if args.device else [])
    config = load_config(args.config, overrides)
    Trainer(config, args.out, progress=not args.quiet).run()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rec", description="Image compression without quantization (relative entropy coding).")
    from rec import __version__

    parser.add_argument("--version", action="version", version=f"rec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from rec.evaluation.cli_eval import add_parser as add_eval_parser

    add_eval_parser(sub)
    from rec.evaluation.cli_bench import add_parser as add_bench_parser

    add_bench_parser(sub)

    p = sub.add_parser("encode", help="compress an image into a .rec file", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.lazy_help = _encode_help
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", default=None, help="zoo model (see `rec models`), training checkpoint (.pt) or shard folder")
    p.add_argument("--sampler", default=None, help="LEVEL2:LEVEL1, e.g. importance:greedy or is(bits=16):gs(bits=8) "
                                                   "(default: the pair of `rec samplers`)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shared randomness")
    p.add_argument("--rate", "--beta", dest="rate", type=float, default=None, metavar="R",
                   help="the rate parameter of a variable-rate model, within its range (see `rec models`): β of a "
                        "γ-PLN (larger β, fewer bits), λ of an mbt2018 (larger λ, more bits); --beta is its older name")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--ideal", action="store_true", help="also report the ideal reconstruction (exact posterior sample)")
    _device_option(p)
    p.add_argument("-j", "--jobs", type=int, default=1, help="parallel workers when INPUT is a directory")
    p.add_argument("--max-memory", type=float, default=8.0, metavar="GB", help="memory cap of the parallel workers (default 8)")
    p.add_argument("--no-verify", action="store_true",
                   help="directory mode: do not decode each file before writing it (faster; a file not decoded is not known to decode)")
    p.set_defaults(func=_encode)

    p = sub.add_parser("decode", help="decompress a .rec file into a PNG")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", default=None, help="the model to decode with (default: the zoo model the file names); "
                                                 "a zoo name, a training checkpoint (.pt) or a shard folder")
    _device_option(p)
    p.set_defaults(func=_decode)

    p = sub.add_parser("info", help="show the header, the sections and each level's bits of a .rec file")
    p.add_argument("input")
    p.add_argument("--model", default=None, help="the model whose latent shapes split the levels' bits "
                                                 "(default: the zoo model the file names)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_info)

    p = sub.add_parser("models", help="list the installed models: the shipped ones and the user zoo's")
    p.add_argument("--json", action="store_true")
    p.add_argument("--path", action="store_true", help="print the zoo folders searched, in order, and what each holds")
    p.set_defaults(func=_models)

    p = sub.add_parser("export", help="put a trained model (checkpoint or shard folder) into the user zoo, by name")
    p.add_argument("checkpoint", help="a training checkpoint (RUN/last.pt) or a shard folder beside its config.json")
    p.add_argument("name", help="the model's name for --model (letters, digits, '.', '_', '-')")
    p.add_argument("--description", default="", help="one line shown by `rec models`")
    p.add_argument("--data", default="", help="what it was trained on")
    p.add_argument("--parent", default="", help="the model it was fine-tuned from")
    p.add_argument("--zoo", help="the zoo folder (default: $REC_ZOO, else $XDG_DATA_HOME/rec/zoo)")
    p.set_defaults(func=_export)

    p = sub.add_parser("samplers", help="list the coded samplers and their parameters (for --sampler)")
    p.set_defaults(func=_samplers)

    p = sub.add_parser("demo", help="compress the bundled sample photo with the default model")
    p.add_argument("--out", default="rec-demo", help="output directory")
    p.set_defaults(func=_demo)

    p = sub.add_parser("train", help="train a model of any kind from a TOML config (resumes from OUT/last.pt)", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.lazy_help = _train_help
    p.add_argument("config", nargs="?", help="TOML config file")
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, config)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable; the keys are listed below)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="where to train (default: the config's train.device)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rec.signals import raising_on_signals, signal_name

    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # SIGTERM / SIGHUP unwind like Ctrl-C: workers stopped, temporary files removed (training keeps
            # the default handling: its processes are torch's)
            with raising_on_signals() if args.command != "train" else contextlib.nullcontext():
                args.func(args)
        except KeyboardInterrupt as e:
            detail = getattr(e, "detail", "")
            print(f"rec: error: interrupted by {signal_name(getattr(e, 'signum', None))}" + (f"; {detail}" if detail else ""),
                  file=sys.stderr)
            return 2
        except RecError as e:
            print(f"rec: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # a file-system failure the checks did not foresee: still no traceback
            print(f"rec: error: {e}", file=sys.stderr)
            return 2
        finally:
            for w in caught:
                print(f"rec: warning: {w.message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
