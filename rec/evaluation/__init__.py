"""Evaluation toolkit: quality metrics, classical codecs, BD-rate, RD-curve files.

==========================  =====================================================
module                      job
==========================  =====================================================
:mod:`.metrics`             PSNR, MS-SSIM (linear and dB), bpp; :class:`Quality`
:mod:`.classical`           JPEG, WebP, JPEG 2000, AVIF, HEIC 4:4:4, JPEG XL
:mod:`.bdrate`              Bjøntegaard delta rate / PSNR (PCHIP, VCEG-M33 cubic)
:mod:`.results`             CompressAI results JSON: :class:`RDCurve`, anchors
==========================  =====================================================

Typical use::

    from rec.evaluation import metrics, classical, bdrate, results

    codec = classical.get_codec("webp")
    data = codec.encode(rgb, 75)
    q = metrics.quality(rgb, codec.decode(data))        # Quality(psnr, ms_ssim, ms_ssim_db)
    jpeg = results.load_anchor("jpeg")
    ours = results.load_curve("results/classical/webp.json")
    bdrate.bd_rate(jpeg.bpp, jpeg.values("psnr"), ours.bpp, ours.values("psnr"))

``scripts/run_classical.py`` and ``scripts/plot_rd.py`` drive these on Kodak.
"""

from rec.evaluation.bdrate import BDResult, bd_metrics, bd_psnr, bd_rate
from rec.evaluation.metrics import Quality, bpp, ms_ssim, ms_ssim_db, psnr, quality
from rec.evaluation.results import RDCurve, load_anchor, load_curve, save_curve

__all__ = [
    "BDResult",
    "bd_metrics",
    "bd_psnr",
    "bd_rate",
    "Quality",
    "bpp",
    "ms_ssim",
    "ms_ssim_db",
    "psnr",
    "quality",
    "RDCurve",
    "load_anchor",
    "load_curve",
    "save_curve",
]
