"""Rate-distortion curves in CompressAI's results JSON format.

The format (CompressAI ``results/image/kodak/*.json``, also our anchors in
``rec/evaluation/anchors/kodak``) is one object per codec::

    {
      "name": "JPEG",
      "description": "JPEG. Pillow version 7.1.2",
      "meta": {...},                      # optional, free-form (paper curves)
      "results": {
        "bpp":            [0.221, 0.327, ...],   # one entry per rate point
        "psnr-rgb":       [23.78, 26.58, ...],   # dB, data range 255
        "ms-ssim-rgb":    [0.803, 0.890, ...],   # linear, in [0, 1]
        "ms-ssim-db-rgb": [10.49, 12.29, ...],   # -10 log10(1 - ms-ssim), some paper curves
        "encoding_time":  [...],                 # seconds per image
        "decoding_time":  [...]
      }
    }

Every list in ``results`` has one value per rate point, each the mean over the
images of the data set. Only ``bpp`` is required; paper curves often carry
just ``bpp`` and ``psnr-rgb`` (or ``ms-ssim-db-rgb``). Other lists under
``results`` (e.g. our ``quality``: the codec setting of each point) are kept in
:attr:`RDCurve.extra` so that reading and writing a file loses nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rec.errors import RecError

__all__ = [
    "RDCurve",
    "Metric",
    "load_curve",
    "save_curve",
    "anchor_dir",
    "list_anchors",
    "load_anchor",
]

Metric = Literal["psnr", "ms-ssim", "ms-ssim-db"]

#: JSON keys of the named result lists, in the order they are written.
_KEYS = {
    "bpp": "bpp",
    "psnr": "psnr-rgb",
    "ms_ssim": "ms-ssim-rgb",
    "ms_ssim_db": "ms-ssim-db-rgb",
    "encoding_time": "encoding_time",
    "decoding_time": "decoding_time",
}


def _floats(values: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as e:
        raise RecError(f"{what} must be a list of numbers: {e}") from e
    return out


@dataclass(frozen=True)
class RDCurve:
    """One codec's rate-distortion curve: means over a data set, one entry per rate point.

    Attributes:
        name: codec name (``"JPEG"``, ``"mbt2018"``...).
        description: free text (library versions, settings).
        bpp: mean bits per pixel of each point (required).
        psnr: mean RGB PSNR (dB), or None.
        ms_ssim: mean RGB MS-SSIM (linear), or None.
        ms_ssim_db: MS-SSIM in dB *as stored in the file* (paper curves), or None;
            use :meth:`values` to get dB derived from ``ms_ssim`` when absent.
        encoding_time, decoding_time: mean seconds per image, or None.
        extra: any other per-point lists of ``results`` (e.g. ``"quality"``).
        meta: the optional free-form ``meta`` object of the file.
    """

    name: str
    bpp: tuple[float, ...]
    description: str = ""
    psnr: tuple[float, ...] | None = None
    ms_ssim: tuple[float, ...] | None = None
    ms_ssim_db: tuple[float, ...] | None = None
    encoding_time: tuple[float, ...] | None = None
    decoding_time: tuple[float, ...] | None = None
    extra: dict[str, tuple[float, ...]] = field(default_factory=dict)
    meta: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        n = len(self.bpp)
        set_ = object.__setattr__
        for attr in _KEYS:
            v = _floats(getattr(self, attr), f"{self.name}: {attr}")
            set_(self, attr, v)
            if v is not None and len(v) != n:
                raise RecError(f"{self.name}: {attr} has {len(v)} values but bpp has {n}")
        extra = {}
        for k, v in self.extra.items():
            fv = _floats(v, f"{self.name}: {k}")
            if len(fv) != n:
                raise RecError(f"{self.name}: {k} has {len(fv)} values but bpp has {n}")
            extra[str(k)] = fv
        set_(self, "extra", extra)
        if n == 0:
            raise RecError(f"{self.name}: a curve needs at least one point")

    def __len__(self) -> int:
        return len(self.bpp)

    def subset(self, keep: Sequence[int], name: str) -> RDCurve:
        """The curve of the points ``keep`` (indices, in that order), named ``name``."""
        def pick(values):
            return None if values is None else tuple(values[i] for i in keep)

        return RDCurve(name=name, bpp=pick(self.bpp), description=self.description, psnr=pick(self.psnr),
                       ms_ssim=pick(self.ms_ssim), ms_ssim_db=pick(self.ms_ssim_db), encoding_time=pick(self.encoding_time),
                       decoding_time=pick(self.decoding_time), extra={k: pick(v) for k, v in self.extra.items()},
                       meta=self.meta)

    def has(self, metric: Metric) -> bool:
        """Whether the curve has values for ``metric`` (dB derivable from linear MS-SSIM)."""
        if metric == "psnr":
            return self.psnr is not None
        if metric == "ms-ssim":
            return self.ms_ssim is not None
        if metric == "ms-ssim-db":
            return self.ms_ssim_db is not None or self.ms_ssim is not None
        raise RecError(f"unknown metric {metric!r}; use 'psnr', 'ms-ssim' or 'ms-ssim-db'")

    def values(self, metric: Metric) -> tuple[float, ...]:
        """The quality values for ``metric``; MS-SSIM dB is -10·log10(1 - mean MS-SSIM) if not stored.

        Raises:
            RecError: the curve has no such metric.
        """
        if not self.has(metric):
            raise RecError(f"{self.name}: no {metric} values")
        if metric == "psnr":
            return self.psnr  # type: ignore[return-value]
        if metric == "ms-ssim":
            return self.ms_ssim  # type: ignore[return-value]
        if self.ms_ssim_db is not None:
            return self.ms_ssim_db
        return tuple(math.inf if v >= 1.0 else -10.0 * math.log10(1.0 - v) for v in self.ms_ssim)  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        """The CompressAI JSON object (a plain dict ready for ``json.dump``)."""
        results: dict[str, list[float]] = {}
        for attr, key in _KEYS.items():
            v = getattr(self, attr)
            if v is not None:
                results[key] = list(v)
        for k, v in self.extra.items():
            results[k] = list(v)
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.meta is not None:
            out["meta"] = self.meta
        out["results"] = results
        return out

    @classmethod
    def from_json(cls, obj: Any, source: str = "JSON") -> RDCurve:
        """Parse a CompressAI results object.

        Raises:
            RecError: not an object with ``name`` and ``results.bpp``, or lists
                of different lengths.
        """
        if not isinstance(obj, dict):
            raise RecError(f"{source}: expected a JSON object, got {type(obj).__name__}")
        results = obj.get("results")
        if not isinstance(results, dict):
            raise RecError(f"{source}: missing 'results' object")
        if "bpp" not in results:
            raise RecError(f"{source}: 'results' has no 'bpp' list")
        for k, v in results.items():
            if not isinstance(v, list):
                raise RecError(f"{source}: results[{k!r}] is not a list")
        known = {key: attr for attr, key in _KEYS.items()}
        kwargs = {known[k]: v for k, v in results.items() if k in known}
        extra = {k: v for k, v in results.items() if k not in known}
        meta = obj.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise RecError(f"{source}: 'meta' is not an object")
        name = obj.get("name")
        if not isinstance(name, str):
            raise RecError(f"{source}: missing 'name' string")
        return cls(name=name, description=str(obj.get("description", "")), extra=extra, meta=meta, **kwargs)


def load_curve(path: str | os.PathLike) -> RDCurve:
    """Read one CompressAI results JSON file.

    Raises:
        RecError: unreadable file, invalid JSON or invalid content.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RecError(f"cannot read {p}: {e}") from e
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise RecError(f"{p}: invalid JSON: {e}") from e
    return RDCurve.from_json(obj, source=str(p))


def save_curve(curve: RDCurve, path: str | os.PathLike) -> None:
    """Write a curve as CompressAI results JSON (indent 2, trailing newline).

    Raises:
        RecError: a value is NaN or infinite (not representable in JSON).
    """
    try:
        text = json.dumps(curve.to_json(), indent=2, allow_nan=False)
    except ValueError as e:
        raise RecError(f"{curve.name}: cannot write non-finite values to JSON: {e}") from e
    Path(path).write_text(text + "\n", encoding="utf-8")


def anchor_dir() -> Path:
    """Where the published Kodak anchors lie.

    ``$REC_ANCHOR_DIR`` if set, else the copy that ships with the package
    (``rec/evaluation/anchors/kodak``, see its README), so an installed ``rec`` finds them.
    """
    env = os.environ.get("REC_ANCHOR_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "anchors" / "kodak"


def _dir(directory: str | os.PathLike | None) -> Path:
    d = Path(directory) if directory is not None else anchor_dir()
    if not d.is_dir():
        raise RecError(f"anchor directory {d} does not exist (set REC_ANCHOR_DIR)")
    return d


def list_anchors(directory: str | os.PathLike | None = None) -> list[str]:
    """Names (file stems, e.g. ``"jpeg"``, ``"paper-mbt2018"``) of the anchors, sorted."""
    return sorted(p.stem for p in _dir(directory).glob("*.json"))


def load_anchor(name: str, directory: str | os.PathLike | None = None) -> RDCurve:
    """Load the anchor ``<name>.json`` (e.g. ``"jpeg"``, ``"vtm"``, ``"paper-mbt2018"``).

    Raises:
        RecError: no such anchor, or an invalid file.
    """
    d = _dir(directory)
    p = d / f"{name}.json"
    if not p.is_file():
        raise RecError(f"no anchor {name!r} in {d}; known: {', '.join(list_anchors(d))}")
    return load_curve(p)
