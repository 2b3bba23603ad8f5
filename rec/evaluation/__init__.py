"""Evaluation toolkit: quality metrics, classical codecs, BD-rate, RD-curve files, the runner.

==========================  =====================================================
module                      job
==========================  =====================================================
:mod:`.metrics`             PSNR, MS-SSIM (linear and dB), bpp; :class:`Quality`
:mod:`.classical`           JPEG, WebP, JPEG 2000, AVIF, HEIC 4:4:4, JPEG XL
:mod:`.bdrate`              Bjøntegaard delta rate / PSNR (PCHIP, VCEG-M33 cubic)
:mod:`.results`             CompressAI results JSON: :class:`RDCurve`, anchors
:mod:`.runner`              ``evaluate``: codecs × rate points × images →
                            :class:`CodecResult` → JSON + per-image CSV; the classical sweep
:mod:`.measurements`        what is measured: :class:`EvalImage`, :class:`ImageResult`,
                            :class:`RatePoint`, :class:`CodecResult` (its JSON and CSV)
:mod:`.points`              the points file: each measurement as made, read back to resume
:mod:`.sweep`               the loop every codec runs: settings × images → rate points
:mod:`.model_choice`        the learned codecs' models: zoo names, paths, rates of variable-rate models
:mod:`.learned`             the learned codecs' evaluators (REC, mbt2018, the quantized codecs)
:mod:`.summary`             the lines ``rec eval`` prints: per point, table, BD-rates
:mod:`.cli_eval`            the ``rec eval`` command on top of the runner
:mod:`.names`               names of sampler pairs in curve and file names (``rec eval``, ``rec bench``)
:mod:`.bench`               coding time against rate: sampler pairs × models × images, encode
                            split into networks and coding, bits per level against KL and bound
:mod:`.cli_bench`           the ``rec bench`` command on top of :mod:`.bench`
:mod:`.bdtable`             BD-rate tables: curves × anchors × metrics, n/a with reasons
:mod:`.bound`               thesis analysis a: theoretical (bound, ideal) against actual
                            points of REC curves; the ideal curve
:mod:`.latents`             exact per-level KLs of a PLN (thesis Fig. 4.2), posterior draws
:mod:`.provenance`          the command / date / machine line of results files
:mod:`.reference_study`     the mbt2018 reference codec: bits of y and z, fragility of
                            decoding under a perturbed h_s (scripts/reference_report.py)
:mod:`.oracle`              GDN and entropy models against tensorflow-compression
                            (optional; tests/test_reference_oracle.py)
==========================  =====================================================

Typical use::

    from rec.evaluation import metrics, classical, bdrate, results

    codec = classical.get_codec("webp")
    data = codec.encode(rgb, 75)
    q = metrics.quality(rgb, codec.decode(data))        # Quality(psnr, ms_ssim, ms_ssim_db)
    jpeg = results.load_anchor("jpeg")
    ours = results.load_curve("results/classical/webp.json")
    bdrate.bd_rate(jpeg.bpp, jpeg.values("psnr"), ours.bpp, ours.values("psnr"))

    from rec.evaluation import evaluate, write_results
    write_results(evaluate("kodak", ["jpeg", "rec"], models=["gamma-pln-iso"], limit=2), "out")

``rec eval`` (:mod:`.cli_eval`), ``scripts/run_classical.py`` and
``scripts/plot_rd.py`` drive these on Kodak.

The names below are imported on first use, so that importing the package (as
``rec``'s command line does) does not load SciPy or torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BDResult": "bdrate",
    "bd_metrics": "bdrate",
    "bd_psnr": "bdrate",
    "bd_rate": "bdrate",
    "Quality": "metrics",
    "bpp": "metrics",
    "ms_ssim": "metrics",
    "ms_ssim_db": "metrics",
    "psnr": "metrics",
    "quality": "metrics",
    "RDCurve": "results",
    "load_anchor": "results",
    "load_curve": "results",
    "save_curve": "results",
    "CodecResult": "measurements",
    "RatePoint": "measurements",
    "ImageResult": "measurements",
    "evaluate": "runner",
    "write_results": "runner",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
