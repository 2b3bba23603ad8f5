"""What ``rec bench`` measured (:mod:`rec.evaluation.bench`), and how it is written.

:class:`LevelMeasure` (one latent level of one encode) < :class:`BenchRecord` (one image)
< :class:`BenchPoint` (one model at one β: its images) < :class:`BenchSeries` (one sampler
pair over every model and β) < :class:`BenchRun` (every pair). A series is one curve of a
CompressAI results file (:meth:`BenchSeries.curve`); a run writes those files, one CSV row per
image and the plot (:func:`plot_bench`). Rates are compared with the thesis's bound
I + 2·log2(I + 1) of I bits of KL.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.results import RDCurve, save_curve

__all__ = ["BenchPoint", "BenchRecord", "BenchRun", "BenchSeries", "LevelMeasure", "SamplerPair", "plot_bench"]


def _bound(kl: float) -> float:
    """The thesis's theoretical size of I bits of KL: I + 2·log2(I + 1)."""
    return kl + 2 * math.log2(kl + 1)


@dataclass(frozen=True)
class SamplerPair:
    """A sampler pair to measure: its label (plots, file names) and its ``"LEVEL2:LEVEL1"`` spec."""

    label: str
    spec: str
    slug: str

    @classmethod
    def parse(cls, text: str | None) -> "SamplerPair":
        """``"SPEC"`` or ``"LABEL=SPEC"`` (a label holds no parenthesis); None or ``"default"``: each
        model's own pair at each β (:func:`rec.codecs.rec.default_samplers`, what ``rec encode`` uses).

        Raises:
            RecError: a bad spec (the message names a bad sampler parameter and the valid ones).
        """
        from rec.codecs.rec import OWN_PAIR, parse_samplers
        from rec.evaluation.names import pair_label, pair_slug

        text = OWN_PAIR if text is None else text.strip()
        label = None
        head, sep, rest = text.partition("=")
        if sep and "(" not in head and ":" not in head:
            label, text = head.strip(), rest.strip()
        if not text:
            raise RecError("empty sampler pair")
        if text == OWN_PAIR:
            return cls(label or "each model's own (default)", OWN_PAIR, OWN_PAIR)
        parse_samplers(text)  # fail early on a bad spec
        return cls(label or pair_label(text), text, pair_slug(text))


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
    ``prior_seconds`` + ``guide_seconds`` (networks; the last the distortion guide's synthesis
    forward and backward) + ``coding_seconds`` (the samplers) + the rest (container, checks);
    ``decode_seconds`` = ``decode_coding_seconds`` + ``decode_network_seconds`` + the rest.
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
    guide_seconds: float = 0.0

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
        """The encode's networks: analysis, priors and the distortion guide's gradient."""
        return self.analysis_seconds + self.prior_seconds + self.guide_seconds

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
    "guide_seconds": "encode_guide_time",
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
                "guide_seconds", "coding_seconds", "decode_seconds", "decode_coding_seconds", "decode_network_seconds"]
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
    models = {p.model for s in run.series for p in s.points}
    one_model = len(models) == 1  # then a point is named by its β alone, the model in the title

    def name(p: BenchPoint) -> str:
        return f"β={p.beta:g}" if one_model and p.beta is not None else p.label
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
                ax1.annotate(name(p), (xv, yv), fontsize=9, xytext=(6, 6 if j % 2 == 0 else -12),
                             textcoords="offset points", color=color)
        bpp = [p.mean("bpp") for p in points]
        ax2.plot(bpp, y, "-", marker=markers[i % len(markers)], color=color, label=f"{s.pair.label}: encode")
        ax2.plot(bpp, [p.mean("decode_seconds") for p in points], "--", marker=markers[i % len(markers)], color=color,
                 mfc="none", label=f"{s.pair.label}: decode")
    images = len(run.meta.get("images", [])) or "?"
    threads_ = run.meta.get("threads", {}).get("torch", "?")
    ax1.set_xlabel("bits written / KL", fontsize=12)
    ax1.set_ylabel("seconds per image (filled: encode; hollow: its coding)", fontsize=12)
    model = f"{next(iter(models))}, " if one_model else ""
    ax1.set_title(f"Encode time against rate overhead ({model}{images} images; threads: {threads_})", fontsize=12)
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
