"""The measuring loop of ``rec eval``: codecs × rate points × images → RD curves.

Every codec is run the same way on every image of a directory (lossless files,
read with :func:`rec.image.read_image`), one rate point after the other::

    for each rate point (a quality setting, a model, or a model at one rate):
        for each image x:
            t0; data = encode(x); t1; x̂ = decode(data); t2      (wall clock, this process)
            bytes = len(data), bpp = 8·bytes / (W·H)             (the file's bytes, nothing estimated)
            PSNR (RGB, data range 255), MS-SSIM (RGB, pytorch-msssim), MS-SSIM dB   (rec.evaluation.metrics)

Codecs (the ``codec`` names of :func:`evaluate`):

===========  ===================================================================================
name         rate points
===========  ===================================================================================
``jpeg``     every classical codec of :mod:`rec.evaluation.classical` (``jpeg``, ``jpeg444``,
…            ``webp``, ``jpeg2000``, ``avif``, ``heic``, ``jpegxl``): one point per quality of
             its grid (``codec.qualities``) or of ``qualities``; unavailable ones are skipped
``rec``      one point per fixed-rate PLN model, one per rate of a variable-rate one:
             :func:`rec.codec.compress` (``verify=False``, ``ideal=True``); the decode is
             :func:`rec.codec.decompress` of the bytes alone (model read from the header for
             zoo models; a model object or file is passed to it, as nothing else could find
             it). Also per image: KL and the bound I + 2·log2(I + 1) in bits per pixel, and the
             PSNR / MS-SSIM of the ideal reconstruction (an exact posterior sample, no coding).
             One curve per family of fixed-rate models: ``rec-gamma-pln``, ``rec-pln``,
             ``rec-vae``; one per variable-rate model: ``rec-<model name>``
``mbt2018``  one point per mbt2018 (:class:`rec.models.joint.JointPrior`) model of the zoo (per
…            rate of a variable-rate one), coded with :mod:`rec.reference`; the other quantized
             codecs of the registry alike; skipped with a message when the zoo has none
===========  ===================================================================================

Models (``models`` of :func:`evaluate`) are zoo names, paths of model files (what
:func:`rec.codec.resolve_model` reads: a training checkpoint ``.pt``, a shard folder; named
after the file) or model objects (:class:`rec.models.pln.PLN` for ``rec``, :class:`~rec.models.joint.JointPrior`
for ``mbt2018`` …). Each codec takes the models of its kind among them; when none is of
its kind (or ``models`` is None) it takes every zoo model of its kind. A variable-rate model
(``config.rate_range``: β of a γ-PLN, larger β fewer bits; λ of mbt2018, larger λ more bits)
is evaluated at ``rates`` (each inside its range, else an error before any coding) or at six
rates log-spaced over its range (:func:`rec.models.rate.standard_rates`); its points are
labelled ``gamma-pln-vr4 β=0.5`` and its curve's ``extra`` lists each point's rate under
the parameter's name (``beta``, ``lambda``); see :mod:`rec.evaluation.model_choice`.

Means follow CompressAI (:mod:`rec.evaluation.measurements`): every number of a rate point
is the plain mean over the images of the per-image values (PSNR too, not the PSNR of the
mean MSE); MS-SSIM in dB of a point is -10·log10(1 - mean MS-SSIM), as
:meth:`RDCurve.values` derives it. MS-SSIM needs every side ≥ 161 px: for smaller images it
is None, and a point with any such image has no MS-SSIM at all (never a mean over a subset).

Output (:meth:`CodecResult.write`): ``<codec>.json`` in CompressAI's results
format (``name``, ``description``, ``meta``, ``results`` with ``bpp``,
``psnr-rgb``, ``ms-ssim-rgb``, ``encoding_time``, ``decoding_time`` and per-codec
lists: ``quality`` for classical codecs; ``kl_bpp``, ``bound_bpp``,
``ideal_psnr``, ``ideal_ms_ssim`` for ``rec-*``; ``lambda`` for ``mbt2018``; the rate
parameter of a variable-rate model's points), and ``<codec>.per_image.csv`` with one row
per image and rate point.

Points file, failures and resuming (``points_dir`` of :func:`evaluate`; ``rec eval``
uses ``--out``): every image measured at a rate point is appended at once, as one JSON
line, to ``<points_dir>/<codec>.points.jsonl`` (:class:`PointStore`), so an interrupted
run loses at most the image in progress. A run with the same settings reads those lines
back and measures only what is missing: a line is reused only when the codec's
parameters (library version; samplers and seed for ``rec``), the rate point (quality,
or model name, weights hash and rate) and the image (name and SHA-256 of its pixels) all
match. An image that fails (any exception but an interrupt) is recorded as a :class:`Failure`
in its point instead of ending the run; a point with a failure is left out of the curve
(never a mean over a subset of the images) and listed under ``meta.failures`` of the
JSON and in the CSV's ``error`` column; failures are measured again on the next run.
At the end, :func:`summary_table` and :func:`bd_summary` (BD-rates against an anchor:
a codec of the run, or a published anchor of :func:`rec.evaluation.results.load_anchor`).

The parts, one job each (every name below is importable from here too)::

    measurements   EvalImage, ImageResult, Failure, RatePoint, CodecResult (JSON + CSV)
    points         PointStore: the points file
    sweep          the loop shared by every codec (run_points), quality of a decoded image
    model_choice   which models, their names and rates (paths, variable rate), parse_models
    learned        evaluate_rec, evaluate_quantized, evaluate_mbt2018, EVALUATORS
    summary        format_point, summary_table, bd_summary
    runner         evaluate, evaluate_classical, load_images, write_results (this module)

Typical use::

    from rec.evaluation.runner import evaluate, write_results
    results = evaluate("kodak", ["jpeg", "rec"], models=["gamma-pln-iso"], limit=2)
    write_results(results, "out")

Times are wall clock in one process (no parallelism): indicative only on a shared machine.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rec.errors import RecError
from rec.evaluation.classical import ClassicalCodec, all_codecs, get_codec
from rec.evaluation.learned import EVALUATORS, evaluate_mbt2018, evaluate_quantized, evaluate_rec
from rec.evaluation.machine import machine
from rec.evaluation.measurements import CodecResult, EvalImage, Failure, ImageResult, RatePoint
from rec.evaluation.model_choice import (check_rates, learned_codecs, load_mbt2018, model_kind, open_models, parse_models,
                                         parse_rates, zoo_models)
from rec.evaluation.points import PointStore, open_store
from rec.evaluation.summary import bd_summary, format_point, summary_table
from rec.evaluation.sweep import Log, OnPoint, default_log, measure_quality, run_points, warn_small

__all__ = [
    "EvalImage",
    "ImageResult",
    "Failure",
    "RatePoint",
    "CodecResult",
    "PointStore",
    "codec_names",
    "load_images",
    "machine",
    "parse_qualities",
    "parse_models",
    "parse_rates",
    "zoo_models",
    "load_mbt2018",
    "evaluate_classical",
    "evaluate_rec",
    "evaluate_quantized",
    "evaluate_mbt2018",
    "evaluate",
    "write_results",
    "format_point",
    "summary_table",
    "bd_summary",
]

def __getattr__(name):
    if name == "LEARNED_CODECS":  # the registry's codec ids; read on first use (it imports torch)
        return learned_codecs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- inputs ---------------------------------------------------------------------------------


def codec_names() -> list[str]:
    """Every codec name :func:`evaluate` knows: the classical ones, then the learned ones of the registry."""
    return [c.name for c in all_codecs()] + list(learned_codecs())


def load_images(directory: str | os.PathLike, limit: int | None = None) -> list[EvalImage]:
    """The lossless images of ``directory`` (sorted by name), the first ``limit`` of them.

    Raises:
        RecError: no such directory, no images, a bad ``limit`` or an unreadable image.
    """
    from rec.image import LOSSLESS_SUFFIXES, image_files, read_image

    paths = image_files(directory, LOSSLESS_SUFFIXES)
    if limit is not None and limit < 1:
        raise RecError(f"--limit must be at least 1, got {limit}")
    if not paths:
        raise RecError(f"no lossless images ({', '.join(sorted(LOSSLESS_SUFFIXES))}) in {directory}")
    if limit is not None:
        paths = paths[:limit]
    images = []
    for p in paths:
        rgb = read_image(p)
        images.append(EvalImage(p.name, rgb if rgb.flags.writeable else rgb.copy()))  # torch.from_numpy wants writable
    return images


def parse_qualities(text: str) -> list[float]:
    """``"5,10,20"`` → [5.0, 10.0, 20.0] (sorted, duplicates dropped)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise RecError(f"--qualities must be comma-separated numbers: {e}") from e
    if not values:
        raise RecError("--qualities is empty")
    return sorted(set(values))


# -- the classical codecs -------------------------------------------------------------------


def evaluate_classical(codec: ClassicalCodec | str, images: Sequence[EvalImage], qualities: Sequence[float] | None = None,
                       *, meta: dict | None = None, progress: bool | None = None,
                       on_point: OnPoint | None = None, points_dir: str | os.PathLike | None = None,
                       resume: bool = True, log: Log | None = None) -> CodecResult:
    """Sweep a classical codec over ``qualities`` (default: its grid) on every image.

    ``points_dir``, ``resume``: the points file (see the module docstring and :class:`PointStore`).

    Raises:
        RecError: unknown or unavailable codec, a quality out of its range, a library failure.
    """
    c = get_codec(codec) if isinstance(codec, str) else codec
    reason = c.unavailable_reason()
    if reason is not None:
        raise RecError(f"{c.name} is unavailable: {reason}")
    grid = [float(q) for q in (qualities if qualities is not None else c.qualities)]
    if not grid:
        raise RecError(f"{c.name}: no qualities to evaluate")
    lo, hi = c.quality_range
    for q in grid:  # a bad argument, not a failure of an image: refused before any work
        if not lo <= q <= hi:
            raise RecError(f"{c.name}: quality must be in [{lo}, {hi}], got {q:g}")
    library = c.version()
    result = CodecResult(
        codec=c.name,
        name=c.label,
        description=f"{c.label}: {library}; quality = {c.quality_meaning}",
        setting_name="quality",
        meta=dict(meta or {}, library=library, quality_meaning=c.quality_meaning),
    )

    def code(q: float, label: float, im: EvalImage) -> ImageResult:
        t0 = time.perf_counter()
        data = c.encode(im.rgb, q)
        t1 = time.perf_counter()
        decoded = c.decode(data)
        t2 = time.perf_counter()
        p, m, mdb = measure_quality(im.rgb, decoded)
        return ImageResult(im.name, label, im.width, im.height, len(data), 8.0 * len(data) / im.pixels,
                           p, m, mdb, t1 - t0, t2 - t1)

    # the quality as given (e.g. 20.0) labels the point; int grids print as before ("q=20")
    store = open_store(points_dir, c.name, {"codec": c.name, "library": library}, resume)
    return run_points(result, grid, grid, images, code, progress, on_point, store, log=log or default_log)


# -- the run --------------------------------------------------------------------------------


def evaluate(images: str | os.PathLike | Sequence[EvalImage], codecs: Sequence[str], *,
             models: Sequence[Any] | None = None, samplers: str | None = None,
             qualities: Sequence[float] | None = None, rates: Sequence[float] | None = None,
             limit: int | None = None, seed: int = 0, meta: dict | None = None, progress: bool | None = None,
             on_point: OnPoint | None = None, log: Log | None = None, points_dir: str | os.PathLike | None = None,
             resume: bool = True, device=None) -> list[CodecResult]:
    """Evaluate ``codecs`` on a directory of images (or loaded images); see the module docstring.

    Args:
        images: a directory of lossless images, or :class:`EvalImage` objects.
        codecs: classical codec names, ``"rec"``, ``"mbt2018"`` … (in this order of output).
        models: zoo names, paths of model files (a checkpoint, a shard folder) and/or model
            objects for the learned codecs.
        samplers: ``rec``'s ``"LEVEL2:LEVEL1"`` (default :data:`rec.codec.DEFAULT_SAMPLERS`).
        qualities: a quality grid replacing the codec's; only with exactly one classical codec.
        rates: the rates of every variable-rate model (each inside its range); default six
            log-spaced over each model's range. Fixed-rate models make one point regardless.
        limit: only the first ``limit`` images (sorted by name).
        seed: ``rec``'s seed of the shared randomness.
        meta: extra ``meta`` for every JSON; ``dataset``, ``images``, ``machine`` and
            ``date`` are filled in when absent.
        progress: a tqdm bar on stderr (None: only on a terminal).
        on_point: called after each rate point with (codec result, point, seconds).
        log: where messages go (default: stderr, through tqdm).
        points_dir: where each measurement is appended as it is made
            (``<codec>.points.jsonl``, :class:`PointStore`); None: nowhere.
        resume: take the measurements ``points_dir`` already holds for the same settings
            instead of measuring them again.
        device: where the learned codecs' networks run (:func:`rec.codec.compress`; None:
            the CPU); checked for every learned codec of the run before any work.

    Returns:
        One :class:`CodecResult` per codec that ran (``rec``: one per curve); unavailable
        classical codecs and a learned codec without models are skipped with a message.

    Raises:
        RecError: unknown codec or model, bad arguments (a rate outside a model's range among
        them), no images; all before any coding. An image that fails to code is recorded as a
        :class:`Failure` of its point instead.
    """
    log = log or default_log
    names = list(dict.fromkeys(codecs))
    if not names:
        raise RecError("no codec to evaluate")
    known = codec_names()
    for n in names:
        if n not in known:
            raise RecError(f"unknown codec {n!r}; known: {', '.join(known)}")
    learned = learned_codecs()
    classical = [n for n in names if n not in learned]
    if qualities is not None and len(classical) != 1:
        raise RecError("--qualities needs exactly one classical codec")
    if rates is not None:
        rates = [float(r) for r in rates]
        if not rates or any(not r > 0 for r in rates):
            raise RecError(f"rates must be positive numbers, got {rates}")
    if device is not None:
        from rec.codecs import checked_device, get_codec as registered

        for n in names:
            if n not in classical:
                checked_device(registered(n), device)
        if len(classical) == len(names):
            log("--device: no learned codec in this run: ignored")
    models = open_models(models)  # model files loaded once
    for m in models or ():
        model_kind(m)  # unknown names fail before any work
    variable = sum(check_rates(n, models, rates) for n in names if n in learned)
    if rates is not None and not variable:
        log("--rates: no variable-rate model in this run: ignored")
    if isinstance(images, (str, os.PathLike)):
        dataset = Path(images).name
        loaded = load_images(images, limit)
    else:
        dataset = "images"
        loaded = list(images)[:limit] if limit is not None else list(images)
        if not loaded:
            raise RecError("no images to evaluate")
    base = {"dataset": dataset, "images": len(loaded), "machine": machine(),
            "date": datetime.date.today().isoformat(), **(meta or {})}
    results: list[CodecResult] = []
    for n in names:
        warn_small(loaded, log, n)
        if n in learned:
            results.extend(EVALUATORS[n](loaded, models, samplers, seed, rates=rates, meta=base, progress=progress,
                                         on_point=on_point, log=log, points_dir=points_dir, resume=resume,
                                         device=device))
        else:
            c = get_codec(n)
            reason = c.unavailable_reason()
            if reason is not None:
                log(f"skip {n}: {reason}")
                continue
            results.append(evaluate_classical(c, loaded, qualities, meta=base, progress=progress, on_point=on_point,
                                              points_dir=points_dir, resume=resume, log=log))
    return results


def write_results(results: Sequence[CodecResult], out: str | os.PathLike) -> list[Path]:
    """Write every result's JSON and per-image CSV into ``out``; returns the paths written."""
    paths: list[Path] = []
    for r in results:
        paths.extend(r.write(out))
    return paths
