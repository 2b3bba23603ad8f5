"""The measuring loop every codec of ``rec eval`` runs: settings × images → rate points.

For each setting (a quality, or a model and a rate) and each image: code, decode, measure
(:func:`measure_quality`), one :class:`~rec.evaluation.measurements.RatePoint` per setting. A
measurement is appended to the points file as it is made and taken from it when it is there
already (:mod:`rec.evaluation.points`); an image whose coding raises is a
:class:`~rec.evaluation.measurements.Failure` of its point, not the end of the run.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rec.errors import RecError
from rec.evaluation.measurements import CodecResult, EvalImage, Failure, ImageResult, RatePoint
from rec.evaluation.points import PointStore
from rec.metrics import MS_SSIM_MIN_SIDE, ms_ssim, ms_ssim_db, psnr

__all__ = ["Log", "OnPoint", "default_log", "measure_quality", "warn_small", "progress_bar", "error_text", "run_points",
           "by_rate"]

#: Where messages go: a function of one line.
Log = Callable[[str], None]
#: Called after each rate point with (codec result, point, seconds).
OnPoint = Callable[[CodecResult, RatePoint, float], None]


def default_log(message: str) -> None:
    """A message on stderr, above the progress bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def measure_quality(original: np.ndarray, decoded: np.ndarray) -> tuple[float, float | None, float | None]:
    """PSNR, MS-SSIM and MS-SSIM dB (the last two None when a side is < 161 px)."""
    p = psnr(original, decoded)
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return p, None, None
    m = ms_ssim(original, decoded)
    return p, m, ms_ssim_db(min(max(m, -1.0), 1.0))


def warn_small(images: Sequence[EvalImage], log: Log, codec: str) -> None:
    """Say which images are too small for MS-SSIM."""
    small = [im.name for im in images if min(im.height, im.width) < MS_SSIM_MIN_SIDE]
    if small:
        log(f"{codec}: {len(small)} image(s) smaller than {MS_SSIM_MIN_SIDE} px on a side "
            f"({', '.join(small[:3])}{'…' if len(small) > 3 else ''}): no MS-SSIM")


def progress_bar(total: int, desc: str, progress: bool | None):
    """A tqdm bar on stderr; ``progress`` None: only when stderr is a terminal (tqdm's disable=None)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False,
                disable=None if progress is None else not progress, dynamic_ncols=True)


def error_text(e: Exception) -> str:
    """What a failure records: a RecError's message, else the exception's type and message."""
    return str(e) if isinstance(e, RecError) else f"{type(e).__name__}: {e}"


def run_points(result: CodecResult, settings: Sequence[Any], labels: Sequence[float | str], images: Sequence[EvalImage],
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
        with progress_bar(len(settings) * len(images), result.codec, progress) as bar:
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
                            failures.append(Failure(im.name, label, error_text(e)))
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


def by_rate(point: RatePoint) -> tuple[bool, float]:
    """Sort key: points in order of rate, those measured on no image last."""
    return (point.bpp is None, point.bpp or 0.0)

