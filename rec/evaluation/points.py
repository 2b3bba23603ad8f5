"""The points file of ``rec eval``: every measurement appended as it is made, read back to resume.

One JSON line per image and rate point in ``<directory>/<codec>.points.jsonl``; an interrupted
run loses at most the image in progress, and a run with the same settings measures only what is
missing (:class:`PointStore`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.measurements import EvalImage, Failure, ImageResult

__all__ = ["PointStore", "open_store"]


class PointStore:
    """The measurements of one codec, one JSON line per image and rate point: ``<directory>/<codec>.points.jsonl``.

    Each line is appended and flushed as soon as the image is measured. A line records
    ``run`` (a hash of the codec's parameters ``params``, also written), ``setting_id``
    (the rate point: quality, or model and weights hash, and the rate of a variable-rate model), ``image`` and ``image_sha256``,
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



def open_store(points_dir: str | os.PathLike | None, codec: str, params: dict[str, Any], resume: bool) -> PointStore | None:
    """The :class:`PointStore` of ``codec`` in ``points_dir``; None when there is no ``points_dir``."""
    return None if points_dir is None else PointStore(points_dir, codec, params, resume)
