"""Rate-distortion plots: RGB PSNR and MS-SSIM (dB) against bpp, ours beside published anchors.

Every curve measured here is drawn solid with markers; a REC curve that stores its ideal
reconstruction (``kl_bpp``, ``ideal_psnr``, ``ideal_ms_ssim``: the KL rate a perfect coder
approaches, an exact posterior sample) adds that curve dotted in its colour. The published
anchors (``rec/evaluation/anchors/kodak``) are dashed and labelled so. A curve without a
metric (paper curves often lack MS-SSIM) is left out of that panel. MS-SSIM dB is
-10·log10(1 - mean MS-SSIM) unless the file stores ``ms-ssim-db-rgb``. ``rec eval`` draws
its curves with :func:`plot_rd`; ``scripts/plot_rd.py`` draws result files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rec.evaluation.results import RDCurve

__all__ = ["DEFAULT_ANCHORS", "plot_rd"]

#: A readable default: two classical image codecs, the two video-intra ones, and two learned ones
#: (CompressAI's measurements of the MSE-trained hyperprior and mbt2018: PSNR and MS-SSIM both).
DEFAULT_ANCHORS = ("jpeg", "webp", "bpg_444_x265_ycbcr", "vtm", "compressai-bmshj2018-hyperprior_mse_cpu",
                   "compressai-mbt2018_mse_cpu")

PANELS = (("psnr", "PSNR (RGB) [dB]"), ("ms-ssim-db", "MS-SSIM (RGB) [dB]"))


def plot_rd(curves: list[RDCurve], anchors: list[RDCurve], out: str | os.PathLike, xmax: float = 2.0,
            title: str = "Kodak (24 images)") -> list[Path]:
    """Two panels, PSNR and MS-SSIM dB against bpp: ``out`` (PNG) and the same as SVG beside it.
    Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2 + 0.25 * -(-(len(curves) * 2 + len(anchors)) // 3)))
    # results: solid, tab10 colours; anchors: dashed, Dark2 colours, so the two never share a colour
    ours, theirs = plt.get_cmap("tab10"), plt.get_cmap("Dark2")
    for ax, (metric, ylabel) in zip(axes, PANELS, strict=True):
        ymin, ymax = np.inf, -np.inf
        entries = [(c, False, ours(i % ours.N)) for i, c in enumerate(curves)]
        entries += [(a, True, theirs(i % theirs.N)) for i, a in enumerate(anchors)]
        for c, is_anchor, color in entries:
            if not c.has(metric):
                continue
            x = np.asarray(c.bpp)
            y = np.asarray(c.values(metric))
            order = np.argsort(x)
            x, y = x[order], y[order]
            keep = (x <= xmax) & np.isfinite(y)
            if not keep.any():
                continue
            if is_anchor:
                style = {"ls": "--", "lw": 1.3, "marker": "", "alpha": 0.9}
            else:
                style = {"ls": "-", "lw": 1.8, "marker": "o", "ms": 3.5}
            ax.plot(x, y, color=color, label=f"{c.name} (published)" if is_anchor else c.name, **style)
            ymin, ymax = min(ymin, y[keep].min()), max(ymax, y[keep].max())
            ideal = _ideal(c, metric) if not is_anchor else None
            if ideal is not None:
                ax.plot(*ideal, color=color, ls=":", lw=1.6, label=f"{c.name}, ideal (KL rate, exact sample)")
        ax.set_xlim(0, xmax)
        if np.isfinite(ymin):
            pad = 0.03 * (ymax - ymin) or 0.5  # a single point: some room around it
            ax.set_ylim(ymin - pad, ymax + pad)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    # one legend under both panels (a curve may be missing from one of them)
    handles: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    rows = -(-len(handles) // 3)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{title}: solid measured here, dashed published")
    fig.tight_layout(rect=(0, 0.027 * rows + 0.01, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out, out.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=130)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def _ideal(c: RDCurve, metric: str):
    """(KL bpp, ideal quality) of a REC curve that stores them, sorted by rate; else None."""
    key = {"psnr": "ideal_psnr", "ms-ssim-db": "ideal_ms_ssim"}[metric]
    if "kl_bpp" not in c.extra or key not in c.extra:
        return None
    x, y = np.asarray(c.extra["kl_bpp"]), np.asarray(c.extra[key])
    if metric == "ms-ssim-db":
        y = -10 * np.log10(np.maximum(1 - y, 1e-12))
    order = np.argsort(x)
    return x[order], y[order]
