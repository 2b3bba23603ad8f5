"""``rec bench``: coding time against rate, per sampler pair, model (and β) and image.

    rec bench IMAGES... --models A,B --samplers "P1;P2" [--betas B1,B2] [--threads N]
                        [--warmup K] [--repeats R] [--seed S] --out DIR

For every model (a zoo name, a training checkpoint or a shard folder; a variable-rate model
once per β of ``betas``) × sampler pair × image, :func:`run_bench` encodes and decodes the
image with REC's codec (:class:`rec.codecs.rec.RecCodec`, called directly: the image is read
and the weights loaded before any clock starts) and measures the figures below. The pair
``default`` (the default) is each model's own at each β, what ``rec encode`` writes
(:func:`rec.codecs.rec.default_samplers`: the budget sampler on level 1 of an iso-KL model).

* the encode's wall time, split into its networks (``analysis``: ``model.analyze``;
  ``prior``: the level-2 prior, the level-1 prior from the coded z2 and the level-1
  posterior; ``guide``: the distortion guide's ``model.distortion_gradient``), its coding
  (each level's ``sampler.encode``) and the rest (container, checks);
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
figures) is kept. ``threads`` sets ``torch.set_num_threads`` and the samplers' threads
(:func:`rec.threads.limited`) for the run (restored afterwards).

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
import datetime
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.bench_results import BenchPoint, BenchRecord, BenchRun, BenchSeries, LevelMeasure, SamplerPair

__all__ = ["load_bench_images", "parse_betas", "parse_pairs", "run_bench", "threads"]

Log = Callable[[str], None]


# -- inputs ---------------------------------------------------------------------------------


def parse_pairs(text: str | None) -> list[SamplerPair]:
    """``"P1;P2;..."`` → pairs (None or empty: each model's own); two pairs may not share a name."""
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
    """Run with ``n`` threads in torch and in the samplers' kernels (:func:`rec.threads.limited`;
    None: leave them), restoring them afterwards.

    Raises:
        RecError: ``n`` < 1.
    """
    if n is None:
        yield None
        return
    import torch

    from rec.threads import limited

    if n < 1:
        raise RecError(f"--threads must be at least 1, got {n}")
    old_torch = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with limited(n):
            yield n
    finally:
        torch.set_num_threads(old_torch)


# -- measuring ------------------------------------------------------------------------------


class _Clock:
    """Wall time per phase, summed over the calls of the wrapped methods; the samplers' calls one
    entry each, in the order of the levels (level 2 first), with the messages their encodes return."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.encodes: list[tuple[float, Any]] = []
        self.decodes: list[float] = []

    def reset(self) -> None:
        self.seconds.clear()
        self.encodes.clear()
        self.decodes.clear()

    def add(self, key: str, dt: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + dt

    def get(self, key: str) -> float:
        return self.seconds.get(key, 0.0)


@contextlib.contextmanager
def _wrapped(clock: _Clock, net, s2, s1):
    """The model's methods (instance attributes) and the samplers' classes' ``encode`` and ``decode``,
    timed into ``clock``; removed afterwards. The samplers are timed on their classes because the codec
    calls copies of them (a budget sampler bound to its levels) and the decoder builds its own."""
    patched = []

    def wrap(obj, method: str, key: str):
        original = getattr(obj, method)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            out = original(*args, **kwargs)
            clock.add(key, time.perf_counter() - t)
            return out

        object.__setattr__(obj, method, timed)
        patched.append((obj, method))

    wrap(net, "analyze", "analysis")
    for method in ("level2_prior", "level1_prior", "level1_posterior"):
        wrap(net, method, "prior")
    wrap(net, "synthesize", "synthesis")
    wrap(net, "distortion_gradient", "guide")
    keys = [(cls, m) for cls in {type(s2), type(s1)} for m in ("encode", "decode")]
    originals = {key: key[0].__dict__.get(key[1]) for key in keys}  # None: inherited
    resolved = {key: getattr(*key) for key in keys}  # before any wrapping: a subclass is not timed twice

    def class_wrap(cls, method: str):
        original = resolved[cls, method]

        def timed(self, *args, **kwargs):
            t = time.perf_counter()
            out = original(self, *args, **kwargs)
            dt = time.perf_counter() - t
            clock.encodes.append((dt, out)) if method == "encode" else clock.decodes.append(dt)
            return out

        setattr(cls, method, timed)

    try:
        for cls, method in originals:
            class_wrap(cls, method)
        yield clock
    finally:
        for (cls, method), original in originals.items():
            if original is None:
                delattr(cls, method)
            else:
                setattr(cls, method, original)
        for obj, method in reversed(patched):
            object.__delattr__(obj, method)


def _measure_once(codec, net, rgb: np.ndarray, spec: str, seed: int, beta: float | None):
    """One encode and one decode, timed and split; returns (data, decoded, encode figures, decode figures, messages)."""
    from rec.codec import read_header
    from rec.codecs.rec import coding_samplers

    s2, s1 = coding_samplers(net, beta, spec)
    clock = _Clock()
    with _wrapped(clock, net, s2, s1):
        t0 = time.perf_counter()
        data = codec.compress(rgb, net, samplers=(s2, s1), seed=seed, beta=beta, ideal=False, started=t0)
        encode = time.perf_counter() - t0
        levels = [lv.name for lv in data.report.levels]
        enc = dict(clock.seconds, total=encode)
        enc.update({f"encode:{level}": seconds for level, (seconds, _) in zip(levels, clock.encodes)})
        messages = {level: message for level, (_, message) in zip(levels, clock.encodes)}
        clock.reset()
        t0 = time.perf_counter()
        decoded = codec.decompress(bytes(data), read_header(bytes(data)), net)
        dec = dict(clock.seconds, total=time.perf_counter() - t0)
        dec.update({f"decode:{level}": seconds for level, seconds in zip(levels, clock.decodes)})
    return data, decoded, enc, dec, messages


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
        analysis_seconds=enc.get("analysis", 0.0), prior_seconds=enc.get("prior", 0.0), guide_seconds=enc.get("guide", 0.0),
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
        pairs: :class:`SamplerPair` objects or specs (default: each model's own pair at each β).
        betas: the rates of variable-rate models (default: each model's own β); a fixed-rate
            model is measured once whatever ``betas`` says.
        n_threads: torch and sampler threads (None: as they are).
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
        from rec.threads import worker_threads

        run_meta = {"source": "rec bench", "images": [im.name for im in loaded], "seed": seed, "warmup": warmup,
                    "repeats": repeats, "threads": {"torch": torch.get_num_threads(), "samplers": worker_threads()},
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


