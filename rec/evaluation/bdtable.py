"""A table of BD-rates: many test curves against a few anchors, in PSNR and MS-SSIM dB.

Each cell is :func:`rec.evaluation.bdrate.bd_metrics` (PCHIP by default) of one test
curve against one anchor in one metric — or, where that would mean nothing, ``n/a``
with the reason:

- a curve without the metric, or with fewer than 2 points;
- no quality overlap with the anchor, or an overlap covering less than
  ``min_overlap`` (default 25 %) of the test curve's quality range: BD-rate is
  defined only where both curves are, and a sliver says little about the curve;
- curves the interpolation refuses (repeated quality values...).

A cell whose overlap covers less than half of the test curve's quality range shows
the covered share, e.g. ``-31.2 % (40 %)``.

Invariants: a curve against itself gives 0 %; halving every rate gives -50 %.

Typical use::

    table = bd_table([("WebP", webp), ("AVIF", avif)], [("JPEG", jpeg), ("HEIC", heic)])
    print(table.markdown())
    table.cell("WebP", "JPEG", "psnr").result.bd_rate
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rec.errors import RecError
from rec.evaluation.bdrate import BDResult, Method, bd_metrics
from rec.evaluation.results import Metric, RDCurve

__all__ = ["METRIC_LABELS", "BDCell", "BDColumn", "BDRow", "BDTable", "bd_cell", "bd_table", "rd_frontier",
           "distinct_curves"]

#: How each metric is named in a table header.
METRIC_LABELS = {"psnr": "PSNR", "ms-ssim-db": "MS-SSIM dB", "ms-ssim": "MS-SSIM"}

#: Below this share of the test's quality range a cell shows the share beside the value.
_SHOW_OVERLAP_BELOW = 0.5


@dataclass(frozen=True)
class BDCell:
    """One BD figure, or the reason there is none.

    Attributes:
        result: the BD-rate and BD-quality with their intervals, or None.
        reason: why ``result`` is None (empty otherwise).
        overlap: share of the test curve's quality range inside the overlap with the anchor, in [0, 1].
        dropped: points of the two curves left out as dominated (see :func:`rd_frontier`).
    """

    result: BDResult | None
    reason: str = ""
    overlap: float = 0.0
    dropped: int = 0

    @property
    def bd_rate(self) -> float | None:
        return None if self.result is None else self.result.bd_rate

    def text(self) -> str:
        """``-31.2 %``, ``-31.2 % (40 %)`` with a partial overlap, ``-31.2 % (1 dominated left out)``, or ``n/a (reason)``."""
        if self.result is None:
            return f"n/a ({self.reason})"
        notes = [f"{100 * self.overlap:.0f} %"] if self.overlap < _SHOW_OVERLAP_BELOW else []
        if self.dropped:
            notes.append(f"{self.dropped} dominated left out")
        return f"{self.result.bd_rate:+.1f} %" + (f" ({', '.join(notes)})" if notes else "")


def rd_frontier(rate: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Indices of the points that no other point dominates (no more rate and no less quality, one of them
    strictly better), in order of rate: the operational RD curve, which BD fits need monotone."""
    r, q = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    dominated = [bool(np.any((r <= r[i]) & (q >= q[i]) & ((r < r[i]) | (q > q[i])))) for i in range(r.size)]
    return np.array([i for i in np.argsort(r, kind="stable") if not dominated[i]], dtype=np.int64)


def bd_cell(anchor: RDCurve, test: RDCurve, metric: Metric, *, method: Method = "pchip",
            min_overlap: float = 0.25) -> BDCell:
    """BD-rate of ``test`` against ``anchor`` in ``metric`` (``"psnr"`` or ``"ms-ssim-db"``), or n/a with a reason.

    Each curve is first reduced to its :func:`rd_frontier` in ``metric`` (the cell counts the
    points left out). ``min_overlap`` is the least share of the test curve's quality range the
    overlap with the anchor must cover.
    """
    for who, c in (("anchor", anchor), ("curve", test)):
        if not c.has(metric):
            return BDCell(None, f"{who} has no {METRIC_LABELS.get(metric, metric)}")
        if len(c) < 2:
            return BDCell(None, "one point" if who == "curve" else "anchor has one point")
    (ra, qa), (rt, qt) = _frontier(anchor, metric), _frontier(test, metric)
    dropped = len(anchor) + len(test) - len(ra) - len(rt)
    qa_range, qt_range = _finite_range(qa), _finite_range(qt)
    if qa_range is None or qt_range is None:
        return BDCell(None, "no finite quality values")
    lo, hi = max(qa_range[0], qt_range[0]), min(qa_range[1], qt_range[1])
    if not hi > lo:
        return BDCell(None, "no overlap")
    span = qt_range[1] - qt_range[0]
    share = (hi - lo) / span if span > 0 else 0.0
    if share < min_overlap:
        return BDCell(None, f"overlap {100 * share:.0f} % of its range", share)
    try:
        result = bd_metrics(ra, qa, rt, qt, method)
    except RecError as e:
        return BDCell(None, str(e).split(":", 1)[-1].strip(), share)
    return BDCell(result, "", share, dropped)


def _finite_range(q: np.ndarray) -> tuple[float, float] | None:
    q = q[np.isfinite(q)]
    return (float(q.min()), float(q.max())) if q.size else None


def _frontier(curve: RDCurve, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    rate, quality = np.asarray(curve.bpp, dtype=np.float64), np.asarray(curve.values(metric), dtype=np.float64)
    keep = rd_frontier(rate, quality)
    return rate[keep], quality[keep]


@dataclass(frozen=True)
class BDColumn:
    """An anchor and a metric: one column of a :class:`BDTable`."""

    anchor: str
    metric: Metric

    @property
    def header(self) -> str:
        return f"vs {self.anchor}, {METRIC_LABELS.get(self.metric, self.metric)}"


@dataclass(frozen=True)
class BDRow:
    """A test curve and its cells, one per column.

    Attributes:
        label: how the row is named (unique in its table).
        group: free grouping text (``"ours"``, ``"published"``...).
        curve: the test curve.
        cells: one :class:`BDCell` per column of the table.
    """

    label: str
    group: str
    curve: RDCurve
    cells: tuple[BDCell, ...]


@dataclass(frozen=True)
class BDTable:
    """BD-rates of test curves (rows) against anchors × metrics (columns)."""

    columns: tuple[BDColumn, ...]
    rows: tuple[BDRow, ...]

    def cell(self, row: str, anchor: str, metric: Metric) -> BDCell:
        """The cell of the row labelled ``row``, column (``anchor``, ``metric``).

        Raises:
            RecError: no such row or column.
        """
        try:
            j = self.columns.index(BDColumn(anchor, metric))
        except ValueError:
            raise RecError(f"no column {anchor!r} / {metric!r}") from None
        for r in self.rows:
            if r.label == row:
                return r.cells[j]
        raise RecError(f"no row {row!r}")

    def markdown(self, extra: Sequence[str] = ("points", "bpp")) -> str:
        """The table in markdown: group, curve, optional ``points`` / ``bpp`` range columns, then one per column."""
        head = ["group", "curve"] + [{"points": "points", "bpp": "bpp range"}[e] for e in extra] + [c.header for c in self.columns]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cols = [r.group, r.label]
            for e in extra:
                cols.append(str(len(r.curve)) if e == "points" else f"{min(r.curve.bpp):.3f}-{max(r.curve.bpp):.3f}")
            cols += [c.text() for c in r.cells]
            lines.append("| " + " | ".join(cols) + " |")
        return "\n".join(lines)


def bd_table(tests: Sequence[tuple[str, str, RDCurve]], anchors: Sequence[tuple[str, RDCurve]],
             metrics: Sequence[Metric] = ("psnr", "ms-ssim-db"), *, method: Method = "pchip",
             min_overlap: float = 0.25) -> BDTable:
    """Every test curve against every anchor in every metric.

    Args:
        tests: (label, group, curve) per row; labels must be distinct.
        anchors: (label, curve) per anchor; labels must be distinct.
        metrics: the metrics, columns ordered anchor-major.

    Raises:
        RecError: repeated labels.
    """
    labels = [t[0] for t in tests]
    names = [a[0] for a in anchors]
    for what, seq in (("row", labels), ("anchor", names)):
        if len(set(seq)) != len(seq):
            raise RecError(f"{what} labels must be distinct: {seq}")
    columns = tuple(BDColumn(name, m) for name, _ in anchors for m in metrics)
    by_name = dict(anchors)
    rows = tuple(
        BDRow(label, group, curve, tuple(bd_cell(by_name[c.anchor], curve, c.metric, method=method, min_overlap=min_overlap)
                                         for c in columns))
        for label, group, curve in tests)
    return BDTable(columns, rows)


def _same_rd(a: RDCurve, b: RDCurve, rtol: float) -> bool:
    if len(a) != len(b):
        return False
    for x, y in ((a.bpp, b.bpp), (a.psnr, b.psnr), (a.ms_ssim, b.ms_ssim), (a.ms_ssim_db, b.ms_ssim_db)):
        if (x is None) != (y is None):
            return False
        if x is not None and not np.allclose(x, y, rtol=rtol, atol=0.0):
            return False
    return True


def distinct_curves(named: Sequence[tuple[str, RDCurve]], rtol: float = 1e-3) -> tuple[list[tuple[str, RDCurve]], dict[str, str]]:
    """Drop curves whose rate-distortion values repeat an earlier one's within ``rtol``.

    CompressAI's ``_cpu`` / ``_cuda`` anchors are such twins: the same models, values
    equal to about 1e-5 (the GPU's arithmetic), only the times differ.

    Returns:
        The kept (label, curve) pairs in order, and {dropped label: label of the kept twin}.
    """
    kept: list[tuple[str, RDCurve]] = []
    dropped: dict[str, str] = {}
    for label, curve in named:
        twin = next((k for k, c in kept if _same_rd(c, curve, rtol)), None)
        if twin is None:
            kept.append((label, curve))
        else:
            dropped[label] = twin
    return kept, dropped
