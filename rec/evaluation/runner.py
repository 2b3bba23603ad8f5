"""The measuring loop of ``rec eval``: codecs × rate points × images → RD curves.

Every codec is run the same way on every image of a directory (lossless files,
read with :func:`rec.image.read_image`), one rate point after the other::

    for each rate point (a quality setting, or a model):
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
``rec``      one point per PLN model: :func:`rec.codec.compress` (``verify=False``,
             ``ideal=True``); the decode is :func:`rec.codec.decompress` of the bytes alone
             (model read from the header for zoo models; a model object is passed to it,
             as nothing else could find it). Also per image: KL and the bound
             I + 2·log2(I + 1) in bits per pixel, and the PSNR / MS-SSIM of the ideal
             reconstruction (an exact posterior sample, no coding). One curve per model
             family: ``rec-gamma-pln``, ``rec-pln``, ``rec-vae``
``mbt2018``  one point per mbt2018 (:class:`rec.models.joint.JointPrior`) model of the zoo,
             coded with :mod:`rec.reference`; skipped with a message when the zoo has none
===========  ===================================================================================

Models (``models`` of :func:`evaluate`) are zoo names or model objects
(:class:`rec.models.pln.PLN` for ``rec``, :class:`~rec.models.joint.JointPrior`
for ``mbt2018``). Each codec takes the models of its kind among them; when none
is of its kind (or ``models`` is None) it takes every zoo model of its kind.

Means follow CompressAI: every number of a rate point is the plain mean over the
images of the per-image values (PSNR too, not the PSNR of the mean MSE); MS-SSIM
in dB of a point is -10·log10(1 - mean MS-SSIM), as :meth:`RDCurve.values` derives
it. MS-SSIM needs every side ≥ 161 px: for smaller images it is None, and a point
with any such image has no MS-SSIM at all (never a mean over a subset).

Output (:meth:`CodecResult.write`): ``<codec>.json`` in CompressAI's results
format (``name``, ``description``, ``meta``, ``results`` with ``bpp``,
``psnr-rgb``, ``ms-ssim-rgb``, ``encoding_time``, ``decoding_time`` and per-codec
lists: ``quality`` for classical codecs; ``kl_bpp``, ``bound_bpp``,
``ideal_psnr``, ``ideal_ms_ssim`` for ``rec-*``; ``lambda`` for ``mbt2018``), and
``<codec>.per_image.csv`` with one row per image and rate point.

Points file, failures and resuming (``points_dir`` of :func:`evaluate`; ``rec eval``
uses ``--out``): every image measured at a rate point is appended at once, as one JSON
line, to ``<points_dir>/<codec>.points.jsonl`` (:class:`PointStore`), so an interrupted
run loses at most the image in progress. A run with the same settings reads those lines
back and measures only what is missing: a line is reused only when the codec's
parameters (library version; samplers and seed for ``rec``), the rate point (quality,
or model name and weights hash) and the image (name and SHA-256 of its pixels) all match.
An image that fails (any exception but an interrupt) is recorded as a :class:`Failure`
in its point instead of ending the run; a point with a failure is left out of the curve
(never a mean over a subset of the images) and listed under ``meta.failures`` of the
JSON and in the CSV's ``error`` column; failures are measured again on the next run.
At the end, :func:`summary_table` and :func:`bd_summary` (BD-rates against an anchor:
a codec of the run, or a published anchor of :func:`rec.evaluation.results.load_anchor`).

Typical use::

    from rec.evaluation.runner import evaluate, write_results
    results = evaluate("kodak", ["jpeg", "rec"], models=["gamma-pln-mid"], limit=2)
    write_results(results, "out")

Times are wall clock in one process (no parallelism): indicative only on a shared machine.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.classical import ClassicalCodec, all_codecs, get_codec
from rec.metrics import MS_SSIM_MIN_SIDE, ms_ssim, ms_ssim_db, psnr
from rec.evaluation.results import RDCurve, save_curve
from rec.evaluation.machine import machine

__all__ = [
    "IMAGE_SUFFIXES",
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
    "zoo_models",
    "load_mbt2018",
    "evaluate_classical",
    "evaluate_rec",
    "evaluate_mbt2018",
    "evaluate",
    "write_results",
    "format_point",
    "summary_table",
    "bd_summary",
]

#: Lossless formats read from an image directory.
IMAGE_SUFFIXES = (".png", ".bmp", ".ppm", ".tif", ".tiff")


def _learned() -> tuple[str, ...]:
    """The learned codecs besides the classical ones: the registry's (rec.codecs), in its order."""
    from rec.codecs import codecs

    return tuple(c.codec_id for c in codecs())


def __getattr__(name):
    if name == "LEARNED_CODECS":  # the registry's codec ids; read on first use (it imports torch)
        return _learned()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

Log = Callable[[str], None]
OnPoint = Callable[["CodecResult", "RatePoint", float], None]


def _default_log(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


# -- data ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EvalImage:
    """One test image: its file name and RGB uint8 pixels (H, W, 3)."""

    name: str
    rgb: np.ndarray

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the pixels and their shape: what a stored measurement of this image is bound to."""
        h = hashlib.sha256(repr(tuple(self.rgb.shape)).encode())
        h.update(np.ascontiguousarray(self.rgb).tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class ImageResult:
    """One image coded at one rate point.

    Attributes:
        image: file name.
        setting: the rate point: a quality (classical codecs) or a model name.
        width, height: image size.
        bytes: size of the compressed file; ``bpp`` = 8·bytes / (W·H).
        psnr: RGB PSNR (dB) of the decoded image.
        ms_ssim: RGB MS-SSIM (linear), None when a side is < 161 px.
        ms_ssim_db: -10·log10(1 - ms_ssim), None with it.
        encoding_time, decoding_time: wall seconds.
        kl_bpp, bound_bpp: ``rec`` only: KL I and I + 2·log2(I + 1) per pixel (bits).
        ideal_psnr, ideal_ms_ssim: ``rec`` only: quality of the exact posterior sample.
    """

    image: str
    setting: float | str
    width: int
    height: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    encoding_time: float
    decoding_time: float
    kl_bpp: float | None = None
    bound_bpp: float | None = None
    ideal_psnr: float | None = None
    ideal_ms_ssim: float | None = None


@dataclass(frozen=True)
class Failure:
    """One image that could not be measured at one rate point: the error in place of the numbers."""

    image: str
    setting: float | str
    error: str


#: Per-image fields averaged into a rate point (``ms_ssim_db`` is derived from the mean instead).
_MEANS = ("bpp", "psnr", "ms_ssim", "encoding_time", "decoding_time", "kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim")


@dataclass(frozen=True)
class RatePoint:
    """One rate point: the per-image results and their means (CompressAI: plain means over images).

    ``failures``: the images that could not be measured; a point with any is not
    :attr:`complete` and stays out of the curve (its means are over the other images).
    """

    setting: float | str
    images: tuple[ImageResult, ...]
    failures: tuple[Failure, ...] = ()

    @property
    def complete(self) -> bool:
        """Measured on every image (no failure)."""
        return bool(self.images) and not self.failures

    def mean(self, attr: str) -> float | None:
        """Mean of a per-image field over the images; None if any image lacks it."""
        values = [getattr(r, attr) for r in self.images]
        if not values or any(v is None for v in values):
            return None
        return float(np.mean(values))

    @property
    def bpp(self) -> float:
        return self.mean("bpp")  # type: ignore[return-value]

    @property
    def psnr(self) -> float:
        return self.mean("psnr")  # type: ignore[return-value]

    @property
    def ms_ssim(self) -> float | None:
        return self.mean("ms_ssim")

    @property
    def ms_ssim_db(self) -> float | None:
        """-10·log10(1 - mean MS-SSIM): the dB of the mean, as CompressAI and :class:`RDCurve`."""
        m = self.ms_ssim
        return None if m is None else ms_ssim_db(min(max(m, -1.0), 1.0))

    @property
    def encoding_time(self) -> float:
        return self.mean("encoding_time")  # type: ignore[return-value]

    @property
    def decoding_time(self) -> float:
        return self.mean("decoding_time")  # type: ignore[return-value]

    @property
    def kl_bpp(self) -> float | None:
        return self.mean("kl_bpp")

    @property
    def bound_bpp(self) -> float | None:
        return self.mean("bound_bpp")

    @property
    def ideal_psnr(self) -> float | None:
        return self.mean("ideal_psnr")

    @property
    def ideal_ms_ssim(self) -> float | None:
        return self.mean("ideal_ms_ssim")


@dataclass
class CodecResult:
    """One codec's measurements: rate points in order, and what to write about them.

    Attributes:
        codec: short name, the stem of the output files (``"jpeg"``, ``"rec-gamma-pln"``...).
        name: the curve's human name (``name`` of the JSON).
        description: library, versions, settings.
        setting_name: what a point's ``setting`` is: ``"quality"`` or ``"model"``.
        points: the rate points, complete or not (only complete ones form the curve).
        meta: free-form ``meta`` of the JSON (data set, machine, date, command...).
        extra: further per-point numeric lists for ``results`` (e.g. ``lambda``), one value per
            *complete* point.
    """

    codec: str
    name: str
    description: str
    setting_name: str
    points: list[RatePoint] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def rows(self) -> list[ImageResult]:
        return [r for p in self.points for r in p.images]

    @property
    def failures(self) -> list[Failure]:
        return [f for p in self.points for f in p.failures]

    @property
    def complete_points(self) -> list[RatePoint]:
        """The points measured on every image: those of the curve."""
        return [p for p in self.points if p.complete]

    @staticmethod
    def _column(points: Sequence[RatePoint], attr: str) -> list[float] | None:
        values = [getattr(p, attr) for p in points]
        return None if any(v is None for v in values) else values

    def curve(self) -> RDCurve:
        """The CompressAI curve: one entry per complete point, each the mean over the images.

        Failures, if any, are listed in ``meta["failures"]``.

        Raises:
            RecError: no point was measured on every image.
        """
        points = self.complete_points
        if not points:
            raise RecError(f"{self.codec}: no rate point measured on every image")
        extra: dict[str, list[float]] = {}
        if self.setting_name == "quality":
            extra["quality"] = [float(p.setting) for p in points]
        for attr in ("kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim"):
            if any(getattr(r, attr) is not None for p in points for r in p.images):
                col = self._column(points, attr)
                if col is not None:
                    extra[attr] = col
        extra.update(self.extra)
        meta = self.meta
        if self.failures:
            meta = dict(meta, failures=[asdict(f) for f in self.failures])
        return RDCurve(
            name=self.name,
            description=self.description,
            bpp=[p.bpp for p in points],
            psnr=[p.psnr for p in points],
            ms_ssim=self._column(points, "ms_ssim"),
            encoding_time=[p.encoding_time for p in points],
            decoding_time=[p.decoding_time for p in points],
            extra=extra,
            meta=meta,
        )

    def csv_columns(self) -> list[str]:
        """Columns of the per-image CSV: run_classical's, then MS-SSIM dB, then those the codec has."""
        cols = ["image", self.setting_name, "bytes", "bpp", "psnr", "ms_ssim", "encoding_time", "decoding_time", "ms_ssim_db"]
        rows = self.rows
        for attr in ("kl_bpp", "bound_bpp", "ideal_psnr", "ideal_ms_ssim"):
            if any(getattr(r, attr) is not None for r in rows):
                cols.append(attr)
        if self.failures:
            cols.append("error")
        return cols

    def write_csv(self, path: str | os.PathLike) -> None:
        """The per-image measurements, floats with 6 significant digits, None as empty; failed images
        last, with only the image, the setting and the ``error``."""
        cols = self.csv_columns()
        with Path(path).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in [*self.rows, *self.failures]:
                row = []
                for c in cols:
                    v = r.setting if c == self.setting_name else getattr(r, c, None)
                    row.append("" if v is None else f"{v:.6g}" if isinstance(v, float) else v)
                w.writerow(row)

    def write(self, out: str | os.PathLike) -> tuple[Path, ...]:
        """Write ``<out>/<codec>.json`` and ``<out>/<codec>.per_image.csv``; returns the paths written.

        Without a complete point there is no curve: only the CSV is written (and a JSON of an
        earlier run removed, which would otherwise pass for this one's).
        """
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = d / f"{self.codec}.json", d / f"{self.codec}.per_image.csv"
        paths: tuple[Path, ...] = (csv_path,)
        if self.complete_points:
            save_curve(self.curve(), json_path)
            paths = (json_path, csv_path)
        elif json_path.exists():
            json_path.unlink()
        self.write_csv(csv_path)
        return paths


class PointStore:
    """The measurements of one codec, one JSON line per image and rate point: ``<directory>/<codec>.points.jsonl``.

    Each line is appended and flushed as soon as the image is measured. A line records
    ``run`` (a hash of the codec's parameters ``params``, also written), ``setting_id``
    (the rate point: quality, or model and weights hash), ``image`` and ``image_sha256``,
    and either ``result`` (an :class:`ImageResult`) or ``error``. With ``resume``, the
    results of matching lines are read back (:meth:`get`); the last line for a key wins, so
    a later failure hides an earlier result, and lines cut short by a crash or written with
    other parameters are ignored (and kept).
    """

    def __init__(self, directory: str | os.PathLike, codec: str, params: dict[str, Any], resume: bool = True):
        self.path = Path(directory) / f"{codec}.points.jsonl"
        self.codec = codec
        self.params = params
        self.run = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.known: dict[tuple[str, str, str], ImageResult] = {}
        self.reused = 0
        self._file = None
        if resume:
            self._read()

    def _read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as e:
            raise RecError(f"cannot read the points file {self.path}: {e}") from None
        for line in text.splitlines():
            try:
                rec = json.loads(line)
                if rec.get("run") != self.run:
                    continue
                key = (str(rec["setting_id"]), str(rec["image"]), str(rec["image_sha256"]))
                if "result" in rec:
                    self.known[key] = ImageResult(**rec["result"])
                else:
                    self.known.pop(key, None)
            except (ValueError, TypeError, KeyError, AttributeError):  # a line cut short, or not ours
                continue

    def get(self, setting_id: str, image: EvalImage) -> ImageResult | None:
        """The stored result of ``image`` at the rate point ``setting_id``, or None."""
        found = self.known.get((setting_id, image.name, image.digest))
        if found is not None:
            self.reused += 1
        return found

    def put(self, setting_id: str, image: EvalImage, outcome: ImageResult | Failure) -> None:
        """Append one measurement (or failure) and flush it."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut = False
            if self.path.exists() and self.path.stat().st_size:
                with self.path.open("rb") as f:
                    f.seek(-1, os.SEEK_END)
                    cut = f.read(1) != b"\n"
            self._file = self.path.open("a", encoding="utf-8")
            if cut:  # the last line was cut short by a crash: start on a line of our own
                self._file.write("\n")
        line: dict[str, Any] = {"codec": self.codec, "run": self.run, "params": self.params, "setting_id": setting_id,
                                "image": image.name, "image_sha256": image.digest}
        if isinstance(outcome, Failure):
            line["error"] = outcome.error
        else:
            line["result"] = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in asdict(outcome).items()}
        self._file.write(json.dumps(line, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# -- inputs ---------------------------------------------------------------------------------


def codec_names() -> list[str]:
    """Every codec name :func:`evaluate` knows: the classical ones, then ``rec`` and ``mbt2018``."""
    return [c.name for c in all_codecs()] + list(_learned())


def load_images(directory: str | os.PathLike, limit: int | None = None) -> list[EvalImage]:
    """The lossless images of ``directory`` (sorted by name), the first ``limit`` of them.

    Raises:
        RecError: no such directory, no images, a bad ``limit`` or an unreadable image.
    """
    from rec.image import read_image

    d = Path(directory)
    if not d.is_dir():
        raise RecError(f"no such directory: {d}")
    if limit is not None and limit < 1:
        raise RecError(f"--limit must be at least 1, got {limit}")
    paths = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise RecError(f"no lossless images ({', '.join(IMAGE_SUFFIXES)}) in {d}")
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


def parse_models(text: str) -> list[str]:
    """``"a,b,c"`` → ["a", "b", "c"] (order kept, duplicates dropped)."""
    names = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not names:
        raise RecError("--models is empty")
    return names


def _zoo_kinds() -> dict[str, str]:
    """Zoo model name → kind (``"gamma-pln"``, ``"pln"``, ``"vae"`` or ``"mbt2018"``)."""
    from rec.models.zoo import list_models

    return {e.name: e.kind for e in list_models()}


def zoo_models(codec: str) -> list[str]:
    """Names of the zoo models a learned codec can use: PLN models for ``rec``, mbt2018 ones for ``mbt2018``."""
    from rec.codecs import get_codec

    if codec not in _learned():
        raise RecError(f"zoo models are for {' and '.join(_learned())}, not {codec!r}")
    kinds = get_codec(codec).kinds
    return [name for name, kind in _zoo_kinds().items() if kind in kinds]


def load_mbt2018(name: str):
    """The mbt2018 zoo model ``name`` (a :class:`JointPrior`, eval, float32), hash-checked.

    Its weights are ``rec/zoo/<name>.safetensors``, described in ``index.json`` with a
    config of kind ``"mbt2018"`` (a :class:`rec.models.joint.JointConfig`).

    Raises:
        RecError: unknown name, not an mbt2018 model, missing file or a hash mismatch.
    """
    from rec.models.zoo import load_model

    if name not in zoo_models("mbt2018"):
        raise RecError(f"no mbt2018 model {name!r} in the zoo; mbt2018 models: {', '.join(zoo_models('mbt2018')) or 'none'}")
    return load_model(name)


def _model_kind(model: Any) -> str:
    """The id of the learned codec a model (object or zoo name) belongs to (the registry's answer)."""
    from rec.codecs import codec_for, codec_for_kind

    if isinstance(model, str):
        kinds = _zoo_kinds()
        if model not in kinds:
            raise RecError(f"unknown model {model!r}; zoo models: {', '.join(kinds) or 'none'}")
        return codec_for_kind(kinds[model]).codec_id
    return codec_for(model).codec_id


def _models_for(codec: str, models: Sequence[Any] | None, log: Log) -> list[Any]:
    """The models of ``codec``'s kind among ``models``; every zoo model of that kind if none is."""
    if models is not None:
        mine = [m for m in models if _model_kind(m) == codec]
        if mine:
            return mine
        log(f"{codec}: none of the given models is for {codec}: using every zoo model for it")
    return list(zoo_models(codec))


def _model_name(model: Any, i: int) -> str:
    return model if isinstance(model, str) else (getattr(model, "name", "") or f"model{i}")


# -- measuring ------------------------------------------------------------------------------


def _distortion(original: np.ndarray, decoded: np.ndarray) -> tuple[float, float | None, float | None]:
    """PSNR, MS-SSIM and MS-SSIM dB (the last two None when a side is < 161 px)."""
    p = psnr(original, decoded)
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return p, None, None
    m = ms_ssim(original, decoded)
    return p, m, ms_ssim_db(min(max(m, -1.0), 1.0))


def _warn_small(images: Sequence[EvalImage], log: Log, codec: str) -> None:
    small = [im.name for im in images if min(im.height, im.width) < MS_SSIM_MIN_SIDE]
    if small:
        log(f"{codec}: {len(small)} image(s) smaller than {MS_SSIM_MIN_SIDE} px on a side "
            f"({', '.join(small[:3])}{'…' if len(small) > 3 else ''}): no MS-SSIM")


def _progress(total: int, desc: str, progress: bool | None):
    from tqdm import tqdm

    # progress=None: a bar only when stderr is a terminal (tqdm's disable=None)
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False,
                disable=None if progress is None else not progress, dynamic_ncols=True)


def _error_text(e: Exception) -> str:
    return str(e) if isinstance(e, RecError) else f"{type(e).__name__}: {e}"


def _store(points_dir: str | os.PathLike | None, codec: str, params: dict[str, Any], resume: bool) -> PointStore | None:
    return None if points_dir is None else PointStore(points_dir, codec, params, resume)


def _run(result: CodecResult, settings: Sequence[Any], labels: Sequence[float | str], images: Sequence[EvalImage],
         code: Callable[[Any, float | str, EvalImage], ImageResult], progress: bool | None,
         on_point: OnPoint | None, store: PointStore | None = None, setting_ids: Sequence[str] | None = None,
         log: Log | None = None) -> CodecResult:
    """Code every image at every setting, appending one :class:`RatePoint` per setting to ``result``.

    With a ``store``, each measurement is appended to it as made, and one it already holds
    (same ``setting_ids`` entry, default the label, and same image) is taken from it instead.
    An image whose coding raises (an :class:`Exception`, not an interrupt) is a :class:`Failure`.
    """
    ids = list(setting_ids) if setting_ids is not None else [json.dumps(label) for label in labels]
    try:
        with _progress(len(settings) * len(images), result.codec, progress) as bar:
            for setting, label, sid in zip(settings, labels, ids):
                started = time.perf_counter()
                bar.set_postfix_str(f"{result.setting_name} {label:g}" if isinstance(label, float) else str(label))
                rows, failures = [], []
                for im in images:
                    row = store.get(sid, im) if store is not None else None
                    if row is None:
                        try:
                            row = code(setting, label, im)
                        except Exception as e:  # one image's failure is recorded, not the end of the run
                            failures.append(Failure(im.name, label, _error_text(e)))
                            if store is not None:
                                store.put(sid, im, failures[-1])
                            bar.update()
                            continue
                        if store is not None:
                            store.put(sid, im, row)
                    rows.append(row)
                    bar.update()
                point = RatePoint(label, tuple(rows), tuple(failures))
                result.points.append(point)
                if on_point is not None:
                    on_point(result, point, time.perf_counter() - started)
    finally:
        if store is not None:
            store.close()
            if store.reused and log is not None:
                log(f"{result.codec}: {store.reused} of {len(settings) * len(images)} measurements read back "
                    f"from {store.path}")
    return result


def _by_rate(point: RatePoint) -> tuple[bool, float]:
    """Sort key: points in order of rate, those measured on no image last."""
    return (point.bpp is None, point.bpp or 0.0)


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
        p, m, mdb = _distortion(im.rgb, decoded)
        return ImageResult(im.name, label, im.width, im.height, len(data), 8.0 * len(data) / im.pixels,
                           p, m, mdb, t1 - t0, t2 - t1)

    # the quality as given (e.g. 20.0) labels the point; int grids print as before ("q=20")
    store = _store(points_dir, c.name, {"codec": c.name, "library": library}, resume)
    return _run(result, grid, grid, images, code, progress, on_point, store, log=log or _default_log)


_FAMILY_NAMES = {"gamma-pln": "REC γ-PLN", "pln": "REC PLN", "vae": "REC one-level VAE"}


def evaluate_rec(images: Sequence[EvalImage], models: Sequence[Any] | None = None, samplers: str | None = None,
                 seed: int = 0, *, meta: dict | None = None, progress: bool | None = None,
                 on_point: OnPoint | None = None, log: Log | None = None, points_dir: str | os.PathLike | None = None,
                 resume: bool = True) -> list[CodecResult]:
    """One rate point per PLN model (zoo names or :class:`PLN` objects; default: every PLN of the zoo).

    One curve per model family (``config.kind``): codec ``rec-gamma-pln``, ``rec-pln``,
    ``rec-vae``, in that order, since only models of one family form a rate-distortion
    curve. A run with other samplers than the default, or a seed other than 0, adds them
    to the codec name (the files' stem) and to the curve's name
    (:func:`rec.evaluation.names.run_suffix`): ``rec-gamma-pln-is-bits10-maxgroup8_gs-bits8-shards4-seed7``,
    ``REC γ-PLN, IS(bits=10,max_group=8):GS(bits=8,shards=4), seed 7``. Encoding is :func:`rec.codec.compress` (its ``encode_seconds``: the ideal
    reconstruction is computed after it and not counted); decoding is
    :func:`rec.codec.decompress` of the bytes, with the model found from the
    header for zoo models. Points are sorted by rate. ``points_dir``, ``resume``: the
    points file (a point is bound to its model's weights hash, the samplers and the seed).

    Raises:
        RecError: no PLN model, unknown model name, bad samplers.
    """
    from rec.codec import DEFAULT_SAMPLERS, compress, decompress, model_hash, parse_samplers, resolve_model

    log = log or _default_log
    chosen = _models_for("rec", models, log)
    if not chosen:
        raise RecError("rec: no PLN model given and none in the zoo")
    parse_samplers(samplers)  # fail early on a bad spec
    spec = samplers if samplers is not None else DEFAULT_SAMPLERS
    nets, names = [], []
    for i, m in enumerate(chosen):
        net = resolve_model(m)  # load (and hash-check) outside the timed code
        model_hash(net)
        nets.append(net)
        names.append(_model_name(m, i))
    if len(set(names)) != len(names):
        raise RecError(f"rec: models need distinct names, got {names}")
    by_name = {n: (m, net) for n, m, net in zip(names, chosen, nets)}

    def code(net, name: str, im: EvalImage) -> ImageResult:
        source = by_name[name][0]
        data = compress(im.rgb, model=net, samplers=samplers, seed=seed, verify=False, ideal=True)
        report = data.report
        t0 = time.perf_counter()
        decoded = decompress(bytes(data), model=None if isinstance(source, str) else net)
        t1 = time.perf_counter()
        p, m, mdb = _distortion(im.rgb, decoded)
        return ImageResult(im.name, name, im.width, im.height, len(data), 8.0 * len(data) / im.pixels, p, m, mdb,
                           report.encode_seconds, t1 - t0, kl_bpp=report.kl_bits / im.pixels,
                           bound_bpp=report.bound_bits / im.pixels, ideal_psnr=report.ideal_psnr,
                           ideal_ms_ssim=report.ideal_ms_ssim)

    from rec.evaluation.names import run_suffix

    stem, suffix = run_suffix(samplers, seed)  # the samplers unless the default, the seed unless 0
    results = []
    for kind, title in _FAMILY_NAMES.items():
        mine = [n for n, net in zip(names, nets) if net.config.kind == kind]
        if not mine:
            continue
        result = CodecResult(
            codec=f"rec-{kind}{stem}",
            name=f"{title}{suffix}",
            description=f"rec (relative entropy coding), {kind} models {', '.join(mine)}, samplers {spec}, seed {seed}",
            setting_name="model",
            meta=dict(meta or {}, samplers=spec, seed=seed),
        )
        store = _store(points_dir, result.codec, {"codec": result.codec, "samplers": spec, "seed": seed}, resume)
        ids = [f"{n} {model_hash(by_name[n][1]).hex()}" for n in mine]
        _run(result, [by_name[n][1] for n in mine], mine, images, code, progress, on_point, store, ids, log)
        result.points.sort(key=_by_rate)
        result.meta["models"] = [p.setting for p in result.complete_points]
        results.append(result)
    return results


def evaluate_mbt2018(images: Sequence[EvalImage], models: Sequence[Any] | None = None, *, meta: dict | None = None,
                     progress: bool | None = None, on_point: OnPoint | None = None,
                     log: Log | None = None, points_dir: str | os.PathLike | None = None,
                     resume: bool = True) -> CodecResult | None:
    """One rate point per mbt2018 model, coded with :mod:`rec.reference`; None if there is none.

    ``models``: zoo names or :class:`JointPrior` objects; default every mbt2018 model
    of the zoo. Points are sorted by rate; ``extra["lambda"]`` is each point's λ.
    """
    from rec import reference

    return evaluate_quantized(
        "mbt2018", images, models, meta=meta, progress=progress, on_point=on_point, log=log, points_dir=points_dir,
        resume=resume, name="mbt2018 (rec.reference)",
        description="Minnen et al. 2018 joint prior, rec.reference range coder (constriction)",
        encode=lambda net, name, digest, rgb: reference.compress(net, rgb, model_id=name, model_hash=digest),
        decode=lambda net, digest, data: reference.decompress(net, data, model_hash=digest),
        per_model={"lambda": lambda net: float(net.config.lmbda)})


def evaluate_quantized(codec_id: str, images: Sequence[EvalImage], models: Sequence[Any] | None = None, *,
                       meta: dict | None = None, progress: bool | None = None, on_point: OnPoint | None = None,
                       log: Log | None = None, points_dir: str | os.PathLike | None = None, resume: bool = True,
                       name: str | None = None, description: str | None = None,
                       encode: Callable[[Any, str, bytes, np.ndarray], bytes] | None = None,
                       decode: Callable[[Any, bytes, bytes], np.ndarray] | None = None,
                       per_model: dict[str, Callable[[Any], float]] | None = None) -> CodecResult | None:
    """One rate point per model of a quantized codec of the registry; None if the zoo has no such model.

    Coded through the front door (:func:`rec.codec.compress` / :func:`rec.codec.decompress`)
    unless ``encode(net, model_name, weights_hash, rgb)`` / ``decode(net, weights_hash, data)``
    say otherwise; ``name`` and ``description`` default to the codec's label; ``per_model``
    adds ``extra`` lists of a figure of each point's model (e.g. its λ).
    """
    from rec.codec import compress, decompress, resolve_model
    from rec.codecs import get_codec, model_hash

    log = log or _default_log
    codec = get_codec(codec_id)
    chosen = _models_for(codec_id, models, log)
    if not chosen:
        kinds = ", ".join(repr(k) for k in codec.kinds)
        log(f"{codec_id}: skipped: the zoo has no {codec_id} model (none of kind {kinds} in rec/zoo/index.json)")
        return None
    nets = [resolve_model(m) for m in chosen]
    names = [_model_name(m, i) for i, m in enumerate(chosen)]
    if len(set(names)) != len(names):
        raise RecError(f"{codec_id}: models need distinct names, got {names}")
    hashes = {n: model_hash(net) for n, net in zip(names, nets)}
    encode = encode or (lambda net, _name, _digest, rgb: compress(rgb, model=net, verify=False))
    decode = decode or (lambda net, _digest, data: decompress(data, model=net))
    result = CodecResult(codec=codec_id, name=name or codec.label,
                         description=f"{description or codec.label}; models: {', '.join(names)}",
                         setting_name="model", meta=dict(meta or {}))

    def code(net, name: str, im: EvalImage) -> ImageResult:
        t0 = time.perf_counter()
        data = encode(net, name, hashes[name], im.rgb)
        t1 = time.perf_counter()
        decoded = decode(net, hashes[name], data)
        t2 = time.perf_counter()
        p, m, mdb = _distortion(im.rgb, decoded)
        return ImageResult(im.name, name, im.width, im.height, len(data), 8.0 * len(data) / im.pixels,
                           p, m, mdb, t1 - t0, t2 - t1)

    store = _store(points_dir, result.codec, {"codec": result.codec}, resume)
    _run(result, nets, names, images, code, progress, on_point, store, [f"{n} {hashes[n].hex()}" for n in names], log)
    result.points.sort(key=_by_rate)
    result.meta["models"] = [p.setting for p in result.complete_points]
    by_name = dict(zip(names, nets))
    for key, figure in (per_model or {}).items():
        result.extra[key] = [figure(by_name[p.setting]) for p in result.complete_points]
    return result


#: The evaluator of each learned codec of the registry: (images, models, samplers, seed, **options) → results.
_EVALUATORS: dict[str, Callable[..., list[CodecResult]]] = {
    "rec": evaluate_rec,
    "mbt2018": lambda images, models, samplers, seed, **options: [
        r for r in [evaluate_mbt2018(images, models, **options)] if r is not None],
    "brummer2021": lambda images, models, samplers, seed, **options: [
        r for r in [evaluate_quantized("brummer2021", images, models, **options)] if r is not None],
    "mentzer2018": lambda images, models, samplers, seed, **options: [
        r for r in [evaluate_quantized("mentzer2018", images, models, **options)] if r is not None],
}


def format_point(result: CodecResult, point: RatePoint, seconds: float) -> str:
    """One summary line: ``  q=20: 0.512 bpp, 30.12 dB, MS-SSIM 0.9610 (3 s)`` (plus KL for rec; failures)."""
    label = _label(result, point)
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


def _label(result: CodecResult, point: RatePoint) -> str:
    return f"q={point.setting:g}" if result.setting_name == "quality" else str(point.setting)


def summary_table(results: Sequence[CodecResult]) -> str:
    """A plain-text table of every rate point: codec, setting, bpp, PSNR, MS-SSIM (means over the images)."""
    rows = [("codec", "setting", "bpp", "PSNR", "MS-SSIM")]
    for r in results:
        for p in r.points:
            if not p.complete:
                rows.append((r.codec, _label(r, p), f"failed on {len(p.failures)} of "
                             f"{len(p.images) + len(p.failures)} images", "", ""))
                continue
            rows.append((r.codec, _label(r, p), f"{p.bpp:.4f}", f"{p.psnr:.2f}",
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


def evaluate(images: str | os.PathLike | Sequence[EvalImage], codecs: Sequence[str], *,
             models: Sequence[Any] | None = None, samplers: str | None = None,
             qualities: Sequence[float] | None = None, limit: int | None = None, seed: int = 0,
             meta: dict | None = None, progress: bool | None = None, on_point: OnPoint | None = None,
             log: Log | None = None, points_dir: str | os.PathLike | None = None,
             resume: bool = True) -> list[CodecResult]:
    """Evaluate ``codecs`` on a directory of images (or loaded images); see the module docstring.

    Args:
        images: a directory of lossless images, or :class:`EvalImage` objects.
        codecs: classical codec names, ``"rec"``, ``"mbt2018"`` (in this order of output).
        models: zoo names and/or model objects for the learned codecs.
        samplers: ``rec``'s ``"LEVEL2:LEVEL1"`` (default :data:`rec.codec.DEFAULT_SAMPLERS`).
        qualities: a quality grid replacing the codec's; only with exactly one classical codec.
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

    Returns:
        One :class:`CodecResult` per codec that ran; unavailable classical codecs and an
        ``mbt2018`` without models are skipped with a message.

    Raises:
        RecError: unknown codec, bad arguments, no images. An image that fails to code is
        recorded as a :class:`Failure` of its point instead.
    """
    log = log or _default_log
    names = list(dict.fromkeys(codecs))
    if not names:
        raise RecError("no codec to evaluate")
    known = codec_names()
    for n in names:
        if n not in known:
            raise RecError(f"unknown codec {n!r}; known: {', '.join(known)}")
    learned = _learned()
    classical = [n for n in names if n not in learned]
    if qualities is not None and len(classical) != 1:
        raise RecError("--qualities needs exactly one classical codec")
    if models is not None:
        for m in models:
            _model_kind(m)  # unknown names fail before any work
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
        _warn_small(loaded, log, n)
        if n in learned:
            results.extend(_EVALUATORS[n](loaded, models, samplers, seed, meta=base, progress=progress,
                                          on_point=on_point, log=log, points_dir=points_dir, resume=resume))
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
