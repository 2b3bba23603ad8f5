"""What ``rec eval`` prints: a line per rate point, a table of every point, BD-rates against an anchor."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rec.errors import RecError
from rec.evaluation.measurements import CodecResult, RatePoint

__all__ = ["point_label", "format_point", "summary_table", "bd_summary"]


def point_label(result: CodecResult, point: RatePoint) -> str:
    """A point's setting as printed: ``q=20`` for a quality, else the model (and rate) label."""
    return f"q={point.setting:g}" if result.setting_name == "quality" else str(point.setting)


def format_point(result: CodecResult, point: RatePoint, seconds: float) -> str:
    """One summary line: ``  q=20: 0.512 bpp, 30.12 dB, MS-SSIM 0.9610 (3 s)`` (plus KL for rec; failures)."""
    label = point_label(result, point)
    if not point.images:
        first = point.failures[0]
        return f"  {label}: failed on every image ({first.image}: {first.error}) ({seconds:.0f} s)"
    ms = "n/a" if point.ms_ssim is None else f"{point.ms_ssim:.4f}"
    line = f"  {label}: {point.bpp:.3f} bpp, {point.psnr:.2f} dB, MS-SSIM {ms}"
    if point.kl_bpp is not None:
        line += f", KL {point.kl_bpp:.3f} bpp"
    if point.failures:
        first = point.failures[0]
        line += (f"; failed on {len(point.failures)} of {len(point.images) + len(point.failures)} images, "
                 f"left out of the curve ({first.image}: {first.error})")
    return line + f" ({seconds:.0f} s)"



def summary_table(results: Sequence[CodecResult]) -> str:
    """A plain-text table of every rate point: codec, setting, bpp, PSNR, MS-SSIM (means over the images)."""
    rows = [("codec", "setting", "bpp", "PSNR", "MS-SSIM")]
    for r in results:
        for p in r.points:
            if not p.complete:
                rows.append((r.codec, point_label(r, p), f"failed on {len(p.failures)} of "
                             f"{len(p.images) + len(p.failures)} images", "", ""))
                continue
            rows.append((r.codec, point_label(r, p), f"{p.bpp:.4f}", f"{p.psnr:.2f}",
                         "n/a" if p.ms_ssim is None else f"{p.ms_ssim:.4f}"))
    w0 = max(len(row[0]) for row in rows) + 2
    w1 = max(len(row[1]) for row in rows) + 2
    lines = []
    for row in rows:
        if row[3] == "" and row[2].startswith("failed"):
            lines.append(f"{row[0]:<{w0}}{row[1]:<{w1}}{row[2]}")
        else:
            lines.append(f"{row[0]:<{w0}}{row[1]:<{w1}}{row[2]:>8}{row[3]:>8}{row[4]:>9}")
    return "\n".join(lines)


def bd_summary(results: Sequence[CodecResult], anchor: str = "jpeg",
               anchor_directory: str | os.PathLike | None = None) -> list[str]:
    """BD-rates (PSNR and MS-SSIM dB, :func:`rec.evaluation.bdtable.bd_cell`) of every curve against ``anchor``.

    The anchor is the curve of codec ``anchor`` of ``results`` when there is one (measured on
    the same images), else the published anchor ``<anchor>.json`` of
    :func:`rec.evaluation.results.load_anchor` (``anchor_directory``, default
    :func:`~rec.evaluation.results.anchor_dir`: Kodak). Returns the lines to print; one line
    saying why when no anchor is found.
    """
    from rec.evaluation.bdtable import METRIC_LABELS, bd_cell
    from rec.evaluation.results import load_anchor

    curves = [(r.codec, r.curve()) for r in results if r.complete_points]
    measured = dict(curves)
    if anchor in measured:
        reference, what = measured[anchor], f"{anchor} as measured here"
    else:
        try:
            reference = load_anchor(anchor, anchor_directory)
        except RecError as e:
            return [f"no BD-rates: {anchor!r} is neither a codec of this run nor a published anchor ({e})"]
        datasets = {str(r.meta.get("dataset", "")) for r in results}
        note = "" if all("kodak" in d.lower() for d in datasets) else "; these images may not be Kodak"
        what = f"the published anchor {anchor!r} ({reference.name}, measured on Kodak{note})"
    others = [(codec, c) for codec, c in curves if c is not reference]
    if not others:
        return []
    width = max(len(codec) for codec, _ in others) + 2
    lines = [f"BD-rate against {what}; negative: fewer bits for the same quality"]
    for codec, c in others:
        cells = [f"{METRIC_LABELS[m]} {bd_cell(reference, c, m).text()}" for m in ("psnr", "ms-ssim-db")]
        lines.append(f"  {codec:<{width}}" + ", ".join(cells))
    return lines

