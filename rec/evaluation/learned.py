"""The evaluators of the learned codecs of ``rec eval``: REC, mbt2018 and the other quantized codecs.

Every evaluator codes through the front door (:func:`rec.codec.compress` /
:func:`rec.codec.decompress`), one rate point per fixed-rate model and one per rate of a
variable-rate model (:mod:`rec.evaluation.model_choice`), measured by the shared loop
(:func:`rec.evaluation.sweep.run_points`) into :class:`~rec.evaluation.measurements.CodecResult`:

=======================  ==================================================================
:func:`evaluate_rec`     REC: one curve per family of fixed-rate models (``rec-gamma-pln``,
                         ``rec-pln``, ``rec-vae``), one per variable-rate model (``rec-<name>``)
:func:`evaluate_quantized`  a quantized codec of the registry: one result per codec
:func:`evaluate_mbt2018`  :func:`evaluate_quantized` for mbt2018, with each point's λ
:func:`evaluate_mentzer2018`  :func:`evaluate_quantized` per objective of the mentzer2018 models
:data:`EVALUATORS`       the evaluator of each learned codec id, as :func:`rec.evaluation.runner.evaluate` calls it
=======================  ==================================================================

Points are in order of rate (fewer bits first); the points of a variable-rate model alone in
its result in order of its rate parameter (β falling, λ rising), which its ``extra`` lists
under the parameter's name (``beta``, ``lambda``) and ``meta["rates"]`` records.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from rec.errors import RecError
from rec.evaluation.measurements import CodecResult, EvalImage, ImageResult
from rec.evaluation.model_choice import EvalModel, load_models, rate_of
from rec.evaluation.points import PointStore, open_store
from rec.evaluation.sweep import Log, OnPoint, by_rate, default_log, measure_quality, run_points

__all__ = ["evaluate_rec", "evaluate_quantized", "evaluate_mbt2018", "evaluate_mentzer2018", "EVALUATORS"]


def _measure(codec_id: str, result: CodecResult, models: Sequence[EvalModel], images: Sequence[EvalImage],
             code: Callable[[tuple[EvalModel, float | None], str, EvalImage], ImageResult], *, progress: bool | None,
             on_point: OnPoint | None, store: PointStore | None, log: Log,
             figures: dict[str, Callable[[Any], float]] | None = None) -> CodecResult:
    """One rate point per (model, rate) of ``models`` into ``result``, in order of rate, then its
    ``meta`` (``models``; ``rate_parameter`` and ``rates`` with a variable-rate model) and its
    ``extra`` (the rate of each point under the parameter's name; ``figures`` of each point's model)."""
    settings = [(m, r) for m in models for r in m.rates]
    labels = [m.label(r) for m, r in settings]
    if len(set(labels)) != len(labels):
        raise RecError(f"{result.codec}: two rate points of one label: {labels}")
    run_points(result, settings, labels, images, code, progress, on_point, store, [m.setting_id(r) for m, r in settings],
               log)
    by_label = dict(zip(labels, settings))
    rate_name, _, more_bits = rate_of(codec_id)
    if len(models) == 1 and models[0].variable_rate:  # one model's curve: in order of its rate parameter
        sign = 1.0 if more_bits else -1.0
        result.points.sort(key=lambda p: (not p.images, sign * by_label[p.setting][1]))
    else:
        result.points.sort(key=by_rate)
    complete = [by_label[p.setting] for p in result.complete_points]
    result.meta["models"] = [p.setting for p in result.complete_points]
    if any(m.variable_rate for m in models):
        result.meta["rate_parameter"] = rate_name
        result.meta["rates"] = [r for _, r in complete]
        if all(r is not None for _, r in complete):
            result.extra[rate_name] = [r for _, r in complete]
    for key, figure in (figures or {}).items():
        result.extra[key] = [r if key == rate_name and r is not None else figure(m.net) for m, r in complete]
    return result


def _file_part(name: str) -> str:
    """A model name as part of a file stem (letters, digits, ``.-_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def evaluate_rec(images: Sequence[EvalImage], models: Sequence[Any] | None = None, samplers: str | None = None,
                 seed: int = 0, *, rates: Sequence[float] | None = None, meta: dict | None = None,
                 progress: bool | None = None, on_point: OnPoint | None = None, log: Log | None = None,
                 points_dir: str | os.PathLike | None = None, resume: bool = True, device=None) -> list[CodecResult]:
    """One rate point per fixed-rate PLN model and per rate of a variable-rate one (zoo names, paths or
    :class:`PLN` objects; default: every PLN of the zoo).

    One curve per family of fixed-rate models (``config.kind``): codec ``rec-gamma-pln``,
    ``rec-pln``, ``rec-vae``, in that order, since only models of one family form a
    rate-distortion curve; then one curve per variable-rate model, codec ``rec-<model name>``
    (name ``REC <model name>``), its points at ``rates`` (each inside the model's β range) or
    six β log-spaced over the range, labelled ``<model> β=<β>``, ``extra["beta"]`` the β of each.
    A run with other samplers than the default, or a seed other than 0, adds them
    to the codec name (the files' stem) and to the curve's name
    (:func:`rec.evaluation.names.run_suffix`): ``rec-gamma-pln-is-bits10-maxgroup8_gs-bits8-shards4-seed7``,
    ``REC γ-PLN, IS(bits=10,max_group=8):GS(bits=8,shards=4), seed 7``. Encoding is
    :func:`rec.codec.compress` (its ``encode_seconds``: the ideal reconstruction is computed
    after it and not counted); decoding is :func:`rec.codec.decompress` of the bytes, with the
    model found from the header for zoo models (given the object for the others). Points are
    sorted by rate. ``points_dir``, ``resume``: the points file (a point is bound to its model's
    weights hash, its rate, the samplers and the seed). ``device``: where the networks run
    (:func:`rec.codec.compress`).

    Raises:
        RecError: no PLN model, unknown model name, bad samplers, a rate outside a model's range.
    """
    from rec.codec import compress, decompress, parse_samplers
    from rec.codecs import get_codec, model_kind
    from rec.codecs.rec import OWN_PAIR, describe_default_samplers
    from rec.evaluation.names import run_suffix

    log = log or default_log
    if samplers == OWN_PAIR:
        samplers = None
    parse_samplers(samplers)  # fail early on a bad spec
    # the default pair is each model's own at its rate (rec.codecs.rec.default_samplers)
    spec = samplers if samplers is not None else describe_default_samplers()
    chosen = load_models("rec", models, rates, log)
    if not chosen:
        raise RecError("rec: no PLN model given and none in the zoo")

    def code(setting: tuple[EvalModel, float | None], label: str, im: EvalImage) -> ImageResult:
        model, rate = setting
        data = compress(im.rgb, model=model.net, samplers=samplers, seed=seed, verify=False, ideal=True, rate=rate,
                        device=device)
        report = data.report
        t0 = time.perf_counter()
        decoded = decompress(bytes(data), model=None if model.from_zoo else model.net, device=device)
        t1 = time.perf_counter()
        p, m, mdb = measure_quality(im.rgb, decoded)
        return ImageResult(im.name, label, im.width, im.height, len(data), 8.0 * len(data) / im.pixels, p, m, mdb,
                           report.encode_seconds, t1 - t0, kl_bpp=report.kl_bits / im.pixels,
                           bound_bpp=report.bound_bits / im.pixels, ideal_psnr=report.ideal_psnr,
                           ideal_ms_ssim=report.ideal_ms_ssim)

    stem, suffix = run_suffix(samplers, seed)  # the samplers unless the default, the seed unless 0
    curves: list[tuple[str, str, str, list[EvalModel]]] = []  # codec, name, description, models
    families = get_codec("rec").families  # kind → the title of the curve its fixed-rate models share
    for kind, title in families.items():
        mine = [m for m in chosen if not m.variable_rate and model_kind(m.net) == kind]
        if mine:
            curves.append((f"rec-{kind}{stem}", f"{title}{suffix}",
                           f"rec (relative entropy coding), {kind} models {', '.join(m.name for m in mine)}", mine))
    for m in chosen:
        if m.variable_rate:
            curves.append((f"rec-{_file_part(m.name)}{stem}", f"REC {m.name}{suffix}",
                           f"rec (relative entropy coding), variable-rate {model_kind(m.net)} model {m.name} at "
                           f"{m.symbol} = {', '.join(f'{r:g}' for r in m.rates)}", [m]))
    codecs = [c[0] for c in curves]
    if len(set(codecs)) != len(codecs):
        raise RecError(f"rec: two curves of one name {codecs}: rename a model")
    results = []
    for codec, name, description, mine in curves:
        result = CodecResult(codec=codec, name=name, description=f"{description}, samplers {spec}, seed {seed}",
                             setting_name="model", meta=dict(meta or {}, samplers=spec, seed=seed))
        store = open_store(points_dir, codec, {"codec": codec, "samplers": spec, "seed": seed}, resume)
        results.append(_measure("rec", result, mine, images, code, progress=progress, on_point=on_point, store=store,
                                log=log))
    return results


def evaluate_quantized(codec_id: str, images: Sequence[EvalImage], models: Sequence[Any] | None = None, *,
                       rates: Sequence[float] | None = None, meta: dict | None = None, progress: bool | None = None,
                       on_point: OnPoint | None = None, log: Log | None = None,
                       points_dir: str | os.PathLike | None = None, resume: bool = True, name: str | None = None,
                       description: str | None = None, stem: str | None = None,
                       per_model: dict[str, Callable[[Any], float]] | None = None, device=None) -> CodecResult | None:
    """One rate point per fixed-rate model and per rate of a variable-rate model (``rates``, or six
    log-spaced over its range) of a quantized codec of the registry, all in one result; None if
    there is no such model.

    Coded through the front door (:func:`rec.codec.compress` / :func:`rec.codec.decompress`
    with the model object); ``name`` and ``description`` default to the codec's label, ``stem``
    (the result's codec: its files' stem) to the codec id;
    ``per_model`` adds ``extra`` lists of a figure of each point's model (e.g. its λ; a point
    of a variable-rate model has its own rate under the rate parameter's name instead).
    ``device``: as :func:`rec.codec.compress` (the quantized codecs refuse all but the CPU).
    """
    from rec.codec import compress, decompress
    from rec.codecs import get_codec
    from rec.models.zoo import PACK_HINT

    log = log or default_log
    codec = get_codec(codec_id)
    chosen = load_models(codec_id, models, rates, log)
    if not chosen:
        kinds = ", ".join(repr(k) for k in codec.kinds)
        log(f"{codec_id}: skipped: the zoo has no {codec_id} model (none of kind {kinds} installed; {PACK_HINT})")
        return None
    stem = stem or codec_id
    result = CodecResult(codec=stem, name=name or codec.label,
                         description=f"{description or codec.label}; models: {', '.join(m.name for m in chosen)}",
                         setting_name="model", meta=dict(meta or {}))

    def code(setting: tuple[EvalModel, float | None], label: str, im: EvalImage) -> ImageResult:
        model, rate = setting
        t0 = time.perf_counter()
        data = compress(im.rgb, model=model.net, verify=False, rate=rate, device=device)
        t1 = time.perf_counter()
        decoded = decompress(bytes(data), model=model.net, device=device)
        t2 = time.perf_counter()
        p, m, mdb = measure_quality(im.rgb, decoded)
        return ImageResult(im.name, label, im.width, im.height, len(data), 8.0 * len(data) / im.pixels,
                           p, m, mdb, t1 - t0, t2 - t1)

    store = open_store(points_dir, stem, {"codec": stem}, resume)
    return _measure(codec_id, result, chosen, images, code, progress=progress, on_point=on_point, store=store, log=log,
                    figures=per_model)


def evaluate_mbt2018(images: Sequence[EvalImage], models: Sequence[Any] | None = None, *,
                     rates: Sequence[float] | None = None, meta: dict | None = None, progress: bool | None = None,
                     on_point: OnPoint | None = None, log: Log | None = None,
                     points_dir: str | os.PathLike | None = None, resume: bool = True, device=None) -> CodecResult | None:
    """One rate point per mbt2018 model (per rate of a variable-rate one), coded with :mod:`rec.reference`
    through the front door; None if there is none.

    ``models``: zoo names, paths or :class:`JointPrior` objects; default every mbt2018 model
    of the zoo. Points are sorted by rate; ``extra["lambda"]`` is each point's λ.
    """
    return evaluate_quantized(
        "mbt2018", images, models, rates=rates, meta=meta, progress=progress, on_point=on_point, log=log,
        points_dir=points_dir, resume=resume, device=device, name="mbt2018 (rec.reference)",
        description="Minnen et al. 2018 joint prior, rec.reference range coder (constriction)",
        per_model={"lambda": lambda net: float(net.config.lmbda)})


def evaluate_mentzer2018(images: Sequence[EvalImage], models: Sequence[Any] | None = None, *,
                         log: Log | None = None, **options) -> list[CodecResult]:
    """One curve per objective the mentzer2018 models were trained for (``config.distortion``):
    codec ``mentzer2018-ms-ssim`` (the paper's), then ``mentzer2018-mse``, each point with its
    target rate R_t (``extra["target_bpp"]``); empty without a model. ``options`` as
    :func:`evaluate_quantized`'s."""
    from rec.codec import resolve_model
    from rec.evaluation.model_choice import models_for, open_models
    from rec.models.mentzer import DISTORTIONS

    log = log or default_log
    chosen = [(m, resolve_model(m).config.distortion) for m in models_for("mentzer2018", open_models(models), log)]
    results = []
    for distortion in DISTORTIONS:
        mine = [m for m, d in chosen if d == distortion]
        if mine:
            results += _one(evaluate_quantized(
                "mentzer2018", images, mine, log=log, stem=f"mentzer2018-{distortion}", name=f"mentzer2018, {distortion}",
                description=f"Mentzer et al. 2018 (3D context model, importance map), trained for {distortion}",
                per_model={"target_bpp": lambda net: float(net.config.target_bpp)}, **options))
    if not chosen:
        from rec.models.zoo import PACK_HINT

        log(f"mentzer2018: skipped: the zoo has no mentzer2018 model ({PACK_HINT})")
    return results


def _one(result: CodecResult | None) -> list[CodecResult]:
    return [] if result is None else [result]


#: The evaluator of each learned codec of the registry: (images, models, samplers, seed, **options) → results;
#: ``options``: ``rates``, ``meta``, ``progress``, ``on_point``, ``log``, ``points_dir``, ``resume``, ``device``.
EVALUATORS: dict[str, Callable[..., list[CodecResult]]] = {
    "rec": evaluate_rec,
    "mbt2018": lambda images, models, samplers, seed, **options: _one(evaluate_mbt2018(images, models, **options)),
    "brummer2021": lambda images, models, samplers, seed, **options: _one(
        evaluate_quantized("brummer2021", images, models, per_model={"lambda": lambda net: float(net.config.lmbda)},
                           **options)),
    "mentzer2018": lambda images, models, samplers, seed, **options: evaluate_mentzer2018(images, models, **options),
}

