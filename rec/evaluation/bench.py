"""``rec bench``: coding time against rate, per sampler pair, model (and β) and image.

    rec bench IMAGES... --models A,B --samplers "P1;P2" [--betas B1,B2] [--threads N]
                        [--warmup K] [--repeats R] [--seed S] --out DIR

For every model (a zoo name, a training checkpoint or a shard folder; a variable-rate model
once per β of ``betas``) × sampler pair × image, :func:`run_bench` encodes and decodes the
image with REC's codec (:class:`rec.codecs.rec.RecCodec`, called directly: the image is read
and the weights loaded before any clock starts) and measures

* the encode's wall time, split into its networks (``analysis``: ``model.analyze``;
  ``prior``: the level-2 prior, the level-1 prior from the coded z2 and the level-1
  posterior), its coding (each level's ``sampler.encode``) and the rest (container, checks);
* the decode's wall time, split into coding (each level's ``sampler.decode``) and networks
  (priors and ``model.synthesize``);
* per level: KL I_l, the bound I_l + 2·log2(I_l + 1), the bits written (index, side,
  outliers), groups and outliers (the sampler's ``stats``), the coding seconds;
* bytes, bpp, KL, the bound of the whole image, PSNR and MS-SSIM of the decoded image.

The split is measured by wrapping the model's and the samplers' methods on the instances
for the duration of one measurement (nothing of the codec is changed). ``warmup`` untimed
encodes and decodes of the first image run before each model × pair (numba compiles its
kernels on first use); each image is then measured ``repeats`` times, and the repeat with
the shortest encode (for the encode figures) and the shortest decode (for the decode
figures) is kept. ``threads`` sets ``torch.set_num_threads`` and numba's
``set_num_threads`` for the run (restored afterwards).

Output (:meth:`BenchRun.write`): ``bench-<pair>.json`` per sampler pair in CompressAI's
results format (one rate point per model and β, means over the images: ``bpp``,
``psnr-rgb``, ``encoding_time``, ``decoding_time``; extra lists ``kl_bpp``, ``bound_bpp``,
``bits_over_kl``, ``bits_over_bound``, ``encode_network_time``, ``encode_coding_time``, the
per-level ``<level>_kl_bits``, ``<level>_bits``, ``<level>_bits_over_kl``, ...; ``meta``
holding every image's measurement with its levels), ``bench.csv`` (one row per image),
and ``bench.png`` / ``bench.svg``: encode time against bits written / KL, one series
per sampler pair, and encode and decode time against bpp.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.results import RDCurve, save_curve

__all__ = [
    "SamplerPair",
    "LevelMeasure",
    "BenchRecord",
    "BenchPoint",
    "BenchSeries",
    "BenchRun",
    "parse_pairs",
    "parse_betas",
    "load_bench_images",
    "threads",
    "run_bench",
    "plot_bench",
]

Log = Callable[[str], None]


def _bound(kl: float) -> float:
    """The thesis's theoretical size of I bits of KL: I + 2·log2(I + 1)."""
    return kl + 2 * math.log2(kl + 1)


# -- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerPair:
    """A sampler pair to measure: its label (plots, file names) and its ``"LEVEL2:LEVEL1"`` spec."""

    label: str
    spec: str
    slug: str

    @classmethod
    def parse(cls, text: str | None) -> "SamplerPair":
        """``"SPEC"`` or ``"LABEL=SPEC"`` (a label holds no parenthesis); None: the default pair.

        Raises:
            RecError: a bad spec (the message names a bad sampler parameter and the valid ones).
        """
        from rec.codecs.rec import DEFAULT_SAMPLERS, parse_samplers
        from rec.evaluation.names import is_default_pair, pair_label, pair_slug

        text = DEFAULT_SAMPLERS if text is None else text.strip()
        label = None
        head, sep, rest = text.partition("=")
        if sep and "(" not in head and ":" not in head:
            label, text = head.strip(), rest.strip()
        if not text:
            raise RecError("empty sampler pair")
        parse_samplers(text)  # fail early on a bad spec
        if label is None:
            label = pair_label(text) + (" (default)" if is_default_pair(text) else "")
        return cls(label, text, pair_slug(text))


def parse_pairs(text: str | None) -> list[SamplerPair]:
    """``"P1;P2;..."`` → pairs (None or empty: the default pair); two pairs may not share a name."""
    items = [t for t in (text or "").split(";") if t.strip()] or [None]
    pairs = [SamplerPair.parse(t) for t in items]
    slugs = [p.slug for p in pairs]
    if len(set(slugs)) != len(slugs):
        raise RecError(f"--samplers lists one pair twice: {[p.label for p in pairs]}")
    return pairs


def parse_betas(text: str | None) -> list[float] | None:
    """``"0.1,0.3"`` → [0.1, 0.3] (positive numbers, order kept); None: each model's own β."""
    from rec.evaluation.model_choice import parse_rates

    return parse_rates(text, "--betas")


def load_bench_images(paths: Sequence[str | os.PathLike], limit: int | None = None):
    """The images of ``paths`` (files, or directories of lossless images sorted by name), the
    first ``limit`` of them, as :class:`rec.evaluation.measurements.EvalImage`.

    Raises:
        RecError: a path that is neither, no image, two images of one name.
    """
    from rec.evaluation.measurements import EvalImage
    from rec.evaluation.runner import load_images
    from rec.image import read_image

    images = []
    for p in map(Path, paths):
        if p.is_dir():
            images.extend(load_images(p))
        elif p.is_file():
            rgb = read_image(p)
            images.append(EvalImage(p.name, rgb if rgb.flags.writeable else rgb.copy()))
        else:
            raise RecError(f"no such image or directory: {p}")
    if not images:
        raise RecError("no images to benchmark")
    if limit is not None:
        if limit < 1:
            raise RecError(f"--limit must be at least 1, got {limit}")
        images = images[:limit]
    names = [im.name for im in images]
    if len(set(names)) != len(names):
        raise RecError(f"two images share a name: {sorted(n for n in names if names.count(n) > 1)}")
    return images


@contextlib.contextmanager
def threads(n: int | None):
    """Run with ``n`` threads in torch and numba (None: leave them), restoring them afterwards.

    Raises:
        RecError: ``n`` < 1, or more threads than numba was started with (``NUMBA_NUM_THREADS``).
    """
    if n is None:
        yield None
        return
    import numba
    import torch

    if n < 1:
        raise RecError(f"--threads must be at least 1, got {n}")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise RecError(f"--threads {n}: numba was started with {numba.config.NUMBA_NUM_THREADS} threads at most "
                       f"(set NUMBA_NUM_THREADS)")
    old_torch, old_numba = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(n)
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old_torch)
        numba.set_num_threads(old_numba)


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelMeasure:
    """One latent level of one encode: rate against its KL, and the time of its sampler."""

    name: str
    sampler: str
    dimensions: int
    kl_bits: float
    index_bits: int
    side_bits: int
    outlier_bits: int
    groups: int | None
    outliers: int | None
    encode_seconds: float
    decode_seconds: float

    @property
    def bits(self) -> int:
        return self.index_bits + self.side_bits + self.outlier_bits

    @property
    def bound_bits(self) -> float:
        """I_l + 2·log2(I_l + 1) of this level alone."""
        return _bound(self.kl_bits)

    @property
    def bits_over_kl(self) -> float:
        return self.bits / self.kl_bits if self.kl_bits > 0 else math.nan

    @property
    def bits_over_bound(self) -> float:
        return self.bits / self.bound_bits if self.bound_bits > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(bits=self.bits, bound_bits=self.bound_bits, bits_over_kl=self.bits_over_kl,
                 bits_over_bound=self.bits_over_bound)
        return d


@dataclass(frozen=True)
class BenchRecord:
    """One image coded by one model (at one β) with one sampler pair.

    Times are seconds of wall clock: ``encode_seconds`` = ``analysis_seconds`` +
    ``prior_seconds`` (networks) + ``coding_seconds`` (the samplers) + the rest (container,
    checks); ``decode_seconds`` = ``decode_coding_seconds`` + ``decode_network_seconds`` + the rest.
    """

    image: str
    model: str
    beta: float | None
    pair: str
    width: int
    height: int
    bytes: int
    kl_bits: float
    psnr: float
    ms_ssim: float | None
    encode_seconds: float
    analysis_seconds: float
    prior_seconds: float
    coding_seconds: float
    decode_seconds: float
    decode_coding_seconds: float
    decode_network_seconds: float
    levels: tuple[LevelMeasure, ...]

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def bpp(self) -> float:
        return 8.0 * self.bytes / self.pixels

    @property
    def kl_bpp(self) -> float:
        return self.kl_bits / self.pixels

    @property
    def bound_bits(self) -> float:
        """I + 2·log2(I + 1) of the whole image's KL (the per-level bounds sum to more)."""
        return _bound(self.kl_bits)

    @property
    def bits_over_kl(self) -> float:
        return 8.0 * self.bytes / self.kl_bits if self.kl_bits > 0 else math.nan

    @property
    def bits_over_bound(self) -> float:
        return 8.0 * self.bytes / self.bound_bits if self.bound_bits > 0 else math.nan

    @property
    def network_seconds(self) -> float:
        """The encode's networks: analysis and priors."""
        return self.analysis_seconds + self.prior_seconds

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["levels"] = [lv.to_dict() for lv in self.levels]
        d.update(bpp=self.bpp, kl_bpp=self.kl_bpp, bound_bits=self.bound_bits, bits_over_kl=self.bits_over_kl,
                 bits_over_bound=self.bits_over_bound, network_seconds=self.network_seconds)
        return d


def _mean(values) -> float | None:
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return float(np.mean(values))


@dataclass
class BenchPoint:
    """One model at one β with one pair: its records (one per image) and their means."""

    model: str
    beta: float | None
    records: list[BenchRecord] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model if self.beta is None else f"{self.model} β={self.beta:g}"

    def mean(self, attr: str) -> float | None:
        return _mean(getattr(r, attr) for r in self.records)

    def level_names(self) -> list[str]:
        return [lv.name for lv in self.records[0].levels] if self.records else []

    def level_mean(self, level: str, attr: str) -> float | None:
        return _mean(getattr(lv, attr) for r in self.records for lv in r.levels if lv.name == level)


#: Per-point lists of a bench JSON's ``results`` beyond CompressAI's (record attribute → key).
_EXTRA = {
    "kl_bpp": "kl_bpp",
    "bits_over_kl": "bits_over_kl",
    "bits_over_bound": "bits_over_bound",
    "network_seconds": "encode_network_time",
    "analysis_seconds": "encode_analysis_time",
    "prior_seconds": "encode_prior_time",
    "coding_seconds": "encode_coding_time",
    "decode_coding_seconds": "decode_coding_time",
    "decode_network_seconds": "decode_network_time",
}
_LEVEL_EXTRA = ("kl_bits", "bound_bits", "bits", "index_bits", "side_bits", "outlier_bits", "bits_over_kl",
                "bits_over_bound", "groups", "outliers", "encode_seconds", "decode_seconds")


@dataclass
class BenchSeries:
    """One sampler pair over every model and β: one curve of the JSON, one series of the plot."""

    pair: SamplerPair
    points: list[BenchPoint] = field(default_factory=list)

    @property
    def complete_points(self) -> list[BenchPoint]:
        return sorted((p for p in self.points if p.records), key=lambda p: p.mean("bpp"))

    def curve(self, meta: dict[str, Any] | None = None) -> RDCurve:
        """The CompressAI curve: one point per model and β (sorted by rate), means over the images."""
        points = self.complete_points
        if not points:
            raise RecError(f"{self.pair.label}: nothing measured")
        extra: dict[str, list[float]] = {}
        for attr, key in _EXTRA.items():
            extra[key] = [p.mean(attr) for p in points]
        extra["bound_bpp"] = [_mean(r.bound_bits / r.pixels for r in p.records) for p in points]
        levels = list(dict.fromkeys(name for p in points for name in p.level_names()))
        for level in levels:
            for attr in _LEVEL_EXTRA:
                col = [p.level_mean(level, attr) for p in points]
                if all(v is not None and math.isfinite(v) for v in col):
                    key = attr.replace("_seconds", "_time") if attr.endswith("_seconds") else attr
                    extra[f"{level}_{key}"] = col
        if all(p.beta is not None for p in points):
            extra["beta"] = [p.beta for p in points]
        extra = {k: v for k, v in extra.items() if all(x is not None and math.isfinite(x) for x in v)}
        ms = [p.mean("ms_ssim") for p in points]
        return RDCurve(
            name=f"REC {self.pair.label}",
            description=f"rec bench: samplers {self.pair.spec}; models {', '.join(p.label for p in points)}",
            bpp=[p.mean("bpp") for p in points],
            psnr=[p.mean("psnr") for p in points],
            ms_ssim=None if any(v is None for v in ms) else ms,
            encoding_time=[p.mean("encode_seconds") for p in points],
            decoding_time=[p.mean("decode_seconds") for p in points],
            extra=extra,
            meta=dict(meta or {}, samplers=self.pair.spec, pair=self.pair.label, levels=levels,
                      points=[{"model": p.model, "beta": p.beta, "images": [r.to_dict() for r in p.records]}
                              for p in points]),
        )


@dataclass
class BenchRun:
    """Everything :func:`run_bench` measured, and how."""

    series: list[BenchSeries]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> list[BenchRecord]:
        return [r for s in self.series for p in s.points for r in p.records]

    def write(self, out: str | os.PathLike, plot: bool = True) -> list[Path]:
        """``bench-<pair>.json`` per pair, ``bench.csv``, and (``plot``) ``bench.png`` / ``bench.svg``."""
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        for s in self.series:
            if s.complete_points:
                path = d / f"bench-{s.pair.slug}.json"
                save_curve(s.curve(self.meta), path)
                paths.append(path)
        paths.append(self.write_csv(d / "bench.csv"))
        if plot and self.records:
            paths.extend(plot_bench(self, d / "bench"))
        return paths

    def write_csv(self, path: Path) -> Path:
        """One row per image, model, β and pair; per-level columns ``<level>_<figure>``."""
        levels = list(dict.fromkeys(lv.name for r in self.records for lv in r.levels))
        cols = ["pair", "model", "beta", "image", "width", "height", "bytes", "bpp", "kl_bpp", "bits_over_kl",
                "bits_over_bound", "psnr", "ms_ssim", "encode_seconds", "analysis_seconds", "prior_seconds",
                "coding_seconds", "decode_seconds", "decode_coding_seconds", "decode_network_seconds"]
        level_cols = ["kl_bits", "bound_bits", "bits", "bits_over_kl", "groups", "outliers", "encode_seconds", "decode_seconds"]
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols + [f"{lv}_{c}" for lv in levels for c in level_cols])
            for r in self.records:
                row = [getattr(r, c) for c in cols]
                by = {lv.name: lv for lv in r.levels}
                for lv in levels:
                    row += [getattr(by[lv], c) if lv in by else None for c in level_cols]
                w.writerow(["" if v is None else f"{v:.6g}" if isinstance(v, float) else v for v in row])
        return path

    def table(self) -> str:
        """A plain-text summary: one line per pair, model and β (means over the images)."""
        levels = list(dict.fromkeys(lv.name for r in self.records for lv in r.levels))
        head = (f"{'pair':<34}{'model':<24}{'bpp':>8}{'bits/KL':>9}{'/bound':>8}"
                + "".join(f"{lv + ' b/KL':>10}" for lv in levels)
                + f"{'enc s':>8}{'net':>7}{'coding':>8}{'dec s':>8}{'PSNR':>7}")
        lines = [head]
        for s in self.series:
            for p in s.complete_points:
                line = (f"{s.pair.label[:33]:<34}{p.label[:23]:<24}{p.mean('bpp'):>8.4f}{p.mean('bits_over_kl'):>9.3f}"
                        f"{p.mean('bits_over_bound'):>8.3f}")
                for lv in levels:
                    v = p.level_mean(lv, "bits_over_kl")
                    line += f"{'n/a' if v is None or not math.isfinite(v) else f'{v:.3f}':>10}"
                line += (f"{p.mean('encode_seconds'):>8.3f}{p.mean('network_seconds'):>7.3f}{p.mean('coding_seconds'):>8.3f}"
                         f"{p.mean('decode_seconds'):>8.3f}{p.mean('psnr'):>7.2f}")
                lines.append(line)
        return "\n".join(lines)


# -- measuring ------------------------------------------------------------------------------


class _Clock:
    """Wall time per phase, summed over the calls of the wrapped methods."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.messages: dict[str, Any] = {}
        self.decodes: list[float] = []

    def reset(self) -> None:
        self.seconds.clear()
        self.decodes.clear()

    def add(self, key: str, dt: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + dt

    def get(self, key: str) -> float:
        return self.seconds.get(key, 0.0)


@contextlib.contextmanager
def _wrapped(clock: _Clock, net, s2, s1):
    """The model's and the samplers' methods, timed into ``clock`` (instance attributes, removed afterwards)."""
    patched = []

    def wrap(obj, method: str, key: str, keep_message: str | None = None):
        original = getattr(obj, method)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            out = original(*args, **kwargs)
            clock.add(key, time.perf_counter() - t)
            if keep_message is not None:
                clock.messages[keep_message] = out
            return out

        object.__setattr__(obj, method, timed)
        patched.append((obj, method))

    wrap(net, "analyze", "analysis")
    for method in ("level2_prior", "level1_prior", "level1_posterior"):
        wrap(net, method, "prior")
    wrap(net, "synthesize", "synthesis")
    for level, sampler in (("z2", s2), ("z1", s1)):
        wrap(sampler, "encode", f"encode:{level}", keep_message=level)
    # the decoder builds its samplers from the header: their classes' decode is timed, one entry per
    # call, in the order of the levels (level 2 first)
    classes = {type(s2), type(s1)}
    originals = {cls: cls.__dict__.get("decode") for cls in classes}

    def class_wrap(cls):
        original = cls.decode

        def timed(self, *args, **kwargs):
            t = time.perf_counter()
            out = original(self, *args, **kwargs)
            clock.decodes.append(time.perf_counter() - t)
            return out

        cls.decode = timed

    try:
        for cls in classes:
            class_wrap(cls)
        yield clock
    finally:
        for cls, original in originals.items():
            if original is None:
                del cls.decode
            else:
                cls.decode = original
        for obj, method in reversed(patched):
            object.__delattr__(obj, method)


def _measure_once(codec, net, rgb: np.ndarray, spec: str, seed: int, beta: float | None):
    """One encode and one decode, timed and split; returns (data, decoded, encode figures, decode figures, messages)."""
    from rec.codec import read_header
    from rec.codecs.rec import parse_samplers

    s2, s1 = parse_samplers(spec)
    clock = _Clock()
    with _wrapped(clock, net, s2, s1):
        t0 = time.perf_counter()
        data = codec.compress(rgb, net, samplers=(s2, s1), seed=seed, beta=beta, ideal=False, started=t0)
        encode = time.perf_counter() - t0
        enc = dict(clock.seconds, total=encode)
        clock.reset()
        t0 = time.perf_counter()
        decoded = codec.decompress(bytes(data), read_header(bytes(data)), net)
        dec = dict(clock.seconds, total=time.perf_counter() - t0)
        for level, seconds in zip([lv.name for lv in data.report.levels], clock.decodes):
            dec[f"decode:{level}"] = seconds
    return data, decoded, enc, dec, dict(clock.messages)


def _record(image, model: str, beta, pair: SamplerPair, codec, net, seed: int, repeats: int) -> BenchRecord:
    from rec.codecs.base import distortion

    runs = [_measure_once(codec, net, image.rgb, pair.spec, seed, beta) for _ in range(repeats)]
    data, decoded, _, _, messages = runs[0]
    if any(bytes(r[0]) != bytes(data) for r in runs[1:]):
        raise RecError(f"{model}, {pair.label}: repeats wrote different bytes for {image.name}")
    enc = min((r[2] for r in runs), key=lambda t: t["total"])
    dec = min((r[3] for r in runs), key=lambda t: t["total"])
    psnr, ms = distortion(image.rgb, decoded)
    levels = []
    for lr in data.report.levels:
        msg = messages.get(lr.name)
        stats = getattr(msg, "stats", {}) or {}
        levels.append(LevelMeasure(lr.name, lr.sampler, lr.dimensions, lr.kl_bits, lr.index_bits, lr.side_bits,
                                   lr.outlier_bits, stats.get("groups"), stats.get("outliers"),
                                   enc.get(f"encode:{lr.name}", 0.0), dec.get(f"decode:{lr.name}", 0.0)))
    report = data.report
    return BenchRecord(
        image=image.name, model=model, beta=report.beta, pair=pair.label, width=report.width, height=report.height,
        bytes=len(data), kl_bits=report.kl_bits, psnr=psnr, ms_ssim=ms, encode_seconds=enc["total"],
        analysis_seconds=enc.get("analysis", 0.0), prior_seconds=enc.get("prior", 0.0),
        coding_seconds=sum((v for k, v in enc.items() if k.startswith("encode:")), 0.0), decode_seconds=dec["total"],
        decode_coding_seconds=sum((v for k, v in dec.items() if k.startswith("decode:")), 0.0),
        decode_network_seconds=dec.get("prior", 0.0) + dec.get("synthesis", 0.0), levels=tuple(levels),
    )


def _resolve(models: Sequence[Any] | None):
    """(name, prepared model) of each model; REC models only."""
    from rec.codec import resolve_model
    from rec.codecs import codec_for
    from rec.models.zoo import DEFAULT_MODEL

    out = []
    for i, m in enumerate(models if models else [DEFAULT_MODEL]):
        net = resolve_model(m)
        codec = codec_for(net)
        name = m if isinstance(m, str) else (getattr(m, "name", "") or f"model{i}")
        if codec.codec_id != "rec":
            raise RecError(f"rec bench measures REC's coded samplers; {name!r} is a {codec.label} model")
        out.append((name, net, codec))
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise RecError(f"models need distinct names, got {names}")
    return out


def run_bench(images, models: Sequence[Any] | None = None, pairs: Sequence[SamplerPair | str] | None = None, *,
              betas: Sequence[float] | None = None, n_threads: int | None = None, warmup: int = 1, repeats: int = 1,
              seed: int = 0, meta: dict | None = None, log: Log | None = None,
              on_record: Callable[[BenchRecord], None] | None = None) -> BenchRun:
    """Measure every model (× β) × pair × image; see the module docstring.

    Args:
        images: :class:`~rec.evaluation.measurements.EvalImage` objects, or paths of images and directories.
        models: zoo names, checkpoint paths, shard folders or PLN objects (default: the zoo's default).
        pairs: :class:`SamplerPair` objects or specs (default: the default pair).
        betas: the rates of variable-rate models (default: each model's own β); a fixed-rate
            model is measured once whatever ``betas`` says.
        n_threads: torch and numba threads (None: as they are).
        warmup: untimed encodes and decodes of the first image before each model × pair.
        repeats: measurements per image; the fastest is kept.
        seed: the shared randomness's seed.

    Raises:
        RecError: a bad argument, an unknown model, a model that is not REC's, a β out of a model's range.
    """
    from rec.evaluation.machine import machine

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    if warmup < 0 or repeats < 1:
        raise RecError(f"need --warmup >= 0 and --repeats >= 1, got {warmup} and {repeats}")
    loaded = list(images) if images and not isinstance(images[0], (str, os.PathLike)) else load_bench_images(images)
    if not loaded:
        raise RecError("no images to benchmark")
    pair_list = [p if isinstance(p, SamplerPair) else SamplerPair.parse(p) for p in (pairs or [None])]
    if len({p.slug for p in pair_list}) != len(pair_list):
        raise RecError(f"one sampler pair is listed twice: {[p.label for p in pair_list]}")
    chosen = _resolve(models)
    rates: list[tuple[str, Any, Any, float | None]] = []
    for name, net, codec in chosen:
        if net.config.variable_rate and betas:
            for b in betas:
                net.rate_weights(b)  # a β out of the model's range fails before any work
                rates.append((name, net, codec, float(b)))
        else:
            if betas and not net.config.variable_rate:
                log(f"{name}: a fixed-rate model: --betas ignored")
            rates.append((name, net, codec, None))
    import torch

    series = [BenchSeries(p) for p in pair_list]
    with threads(n_threads), torch.no_grad():
        import numba

        run_meta = {"source": "rec bench", "images": [im.name for im in loaded], "seed": seed, "warmup": warmup,
                    "repeats": repeats, "threads": {"torch": torch.get_num_threads(), "numba": numba.get_num_threads()},
                    "timing": "wall clock of the fastest of the repeats; encode = networks + coding + container",
                    "machine": machine(), "torch": torch.__version__, "date": datetime.date.today().isoformat(),
                    **(meta or {})}
        warmed: set[tuple[str, str]] = set()
        for s in series:
            for name, net, codec, beta in rates:
                if (name, s.pair.slug) not in warmed:
                    for _ in range(warmup):
                        _measure_once(codec, net, loaded[0].rgb, s.pair.spec, seed, beta)
                    warmed.add((name, s.pair.slug))
                records = []
                for im in loaded:
                    records.append(_record(im, name, beta, s.pair, codec, net, seed, repeats))
                    if on_record is not None:
                        on_record(records[-1])
                s.points.append(BenchPoint(name, records[0].beta, records))  # β: the model's own when not given
    return BenchRun(series, run_meta)


# -- plot -----------------------------------------------------------------------------------


def plot_bench(run: BenchRun, stem: str | os.PathLike) -> list[Path]:
    """``<stem>.png`` and ``<stem>.svg``: encode time against bits written / KL (left; one series
    per pair, one marker per model and β), and encode (solid) and decode (dashed) time against
    bpp (right). Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stem = Path(stem)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.6))
    markers = "osD^vP*Xh<>"
    many_models = len({p.label for s in run.series for p in s.points}) > 1
    for i, s in enumerate(run.series):
        points = s.complete_points
        if not points:
            continue
        color = f"C{i % 10}"
        x = [p.mean("bits_over_kl") for p in points]
        y = [p.mean("encode_seconds") for p in points]
        ax1.scatter(x, y, s=60, color=color, marker=markers[i % len(markers)], label=s.pair.label, zorder=3)
        ax1.scatter(x, [p.mean("coding_seconds") for p in points], s=60, facecolors="none", edgecolors=color,
                    marker=markers[i % len(markers)], zorder=3)
        if many_models:
            for j, (p, xv, yv) in enumerate(zip(points, x, y)):
                ax1.annotate(p.label, (xv, yv), fontsize=9, xytext=(6, 6 if j % 2 == 0 else -12),
                             textcoords="offset points", color=color)
        bpp = [p.mean("bpp") for p in points]
        ax2.plot(bpp, y, "-", marker=markers[i % len(markers)], color=color, label=f"{s.pair.label}: encode")
        ax2.plot(bpp, [p.mean("decode_seconds") for p in points], "--", marker=markers[i % len(markers)], color=color,
                 mfc="none", label=f"{s.pair.label}: decode")
    images = len(run.meta.get("images", [])) or "?"
    threads_ = run.meta.get("threads", {}).get("torch", "?")
    ax1.set_xlabel("bits written / KL", fontsize=12)
    ax1.set_ylabel("seconds per image (filled: encode; hollow: its coding)", fontsize=12)
    ax1.set_title(f"Encode time against rate overhead ({images} images; threads: {threads_})", fontsize=12)
    ax1.margins(x=0.15, y=0.1)
    ax2.set_xlabel("bits per pixel written", fontsize=12)
    ax2.set_ylabel("seconds per image", fontsize=12)
    ax2.set_title("Encode (solid) and decode (dashed) time against rate", fontsize=12)
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=11)
        ax.set_ylim(bottom=0)
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(2, max(1, len(labels))), fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(labels) + 1) // 2), 1, 1))
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=120)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
