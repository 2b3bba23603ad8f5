"""Encoding a directory of images, in parallel worker processes under a memory cap.

Every file is coded exactly as ``rec encode FILE`` would code it (same model, samplers
and seed), so the outputs are byte-identical whatever the number of workers. Workers
run one torch thread each. A job is admitted only while the estimated memory of the
running jobs plus its own stays under the cap (one job always runs, however large);
the estimate is linear in the pixel count, calibrated on the 4000×3000 measurement of
results/codec.md.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rec.errors import RecError
from rec.image import IMAGE_SUFFIXES, estimated_memory_gb

__all__ = ["BatchItem", "estimated_memory_gb", "encode_directory"]


@dataclass(frozen=True)
class BatchItem:
    source: str
    output: str
    bytes: int | None  # None when the file failed
    bpp: float | None
    error: str | None = None


def _encode_one(source: str, output: str, model, samplers, seed: int, threads: int) -> BatchItem:
    import torch

    from rec.codec import compress
    from rec.image import write_atomic

    torch.set_num_threads(threads)
    try:
        data = compress(source, model=model, samplers=samplers, seed=seed, verify=False)
        write_atomic(output, data)
        return BatchItem(source, output, len(data), data.report.bpp)
    except RecError as e:
        return BatchItem(source, output, None, None, str(e))


def encode_directory(source: str | os.PathLike, destination: str | os.PathLike, *, model=None, samplers=None, seed: int = 0,
                     jobs: int = 1, max_memory_gb: float = 8.0) -> list[BatchItem]:
    """Encode every image of ``source`` into ``destination/<stem>.rec``; see the module docstring."""
    src, dst = Path(source), Path(destination)
    if not src.is_dir():
        raise RecError(f"not a directory: {src}")
    if jobs < 1:
        raise RecError("jobs must be at least 1")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RecError(f"no images in {src}")
    by_output: dict[str, list[str]] = {}
    for p in files:
        by_output.setdefault(f"{p.stem}.rec", []).append(p.name)
    clashes = {out: names for out, names in by_output.items() if len(names) > 1}
    if clashes:
        listed = "; ".join(f"{', '.join(names[:-1])} and {names[-1]} would {'both' if len(names) == 2 else 'all'} be written to {out}"
                           for out, names in sorted(clashes.items()))
        raise RecError(f"{len(clashes)} output name collision(s) in {src}: {listed}; rename the files first")
    if not str(destination).strip():
        raise RecError("the output directory path is empty")
    if dst.exists() and not dst.is_dir():
        raise RecError(f"the output {dst} is not a directory")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecError(f"cannot create the output directory {dst}: {e.strerror or e}") from None
    if not os.access(dst, os.W_OK | os.X_OK):
        raise RecError(f"the output directory {dst} is not writable")
    tasks = []
    for p in files:
        try:
            with Image.open(p) as im:
                need = estimated_memory_gb(*im.size)
        except Exception:  # unreadable files are reported by the worker with a clear error
            need = estimated_memory_gb(1, 1)
        tasks.append((p, dst / f"{p.stem}.rec", need))
    if jobs == 1:
        return [_encode_one(str(p), str(o), model, samplers, seed, max(1, os.cpu_count() or 1)) for p, o, _ in tasks]
    results: dict[int, BatchItem] = {}
    running: dict[Future, tuple[int, float]] = {}
    with ProcessPoolExecutor(jobs) as pool:
        for i, (p, o, need) in enumerate(tasks):
            while running and (len(running) >= jobs or sum(n for _, n in running.values()) + need > max_memory_gb):
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    k, _ = running.pop(f)
                    results[k] = f.result()
            running[pool.submit(_encode_one, str(p), str(o), model, samplers, seed, 1)] = (i, need)
        for f in running:
            results[running[f][0]] = f.result()
    return [results[i] for i in range(len(tasks))]
