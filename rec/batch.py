"""Encoding a directory of images, in parallel worker processes under a memory cap.

Every file is coded exactly as ``rec encode FILE`` would code it (same model, samplers
and seed), so the outputs are byte-identical whatever the number of workers. Workers
run one torch thread each. A job is admitted only while the estimated memory of the
running jobs plus its own stays under the cap (one job always runs, however large);
the estimate is linear in the pixel count, calibrated on the 4000×3000 measurement of
results/codec.md.

Every file is verified before it is written (``verify=True``, the default): it is decoded
as ``rec decode`` would decode it, and a file that does not decode is reported as that
file's error and not written. ``verify=False`` (``rec encode DIR OUT --no-verify``) skips
the decode, which saves about a sixth of the time, at the risk of writing a file that
nobody knows to decode.

Signals: a worker dies with the parent however the parent dies (see :mod:`rec.signals`),
and never writes once its parent is gone. When the parent is interrupted
(:class:`KeyboardInterrupt`, or :class:`rec.signals.Interrupted` from SIGTERM under
``rec``), the pending jobs are cancelled, the workers killed and their temporary files
removed before the exception goes on; files finished before it stay (each complete).
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rec.errors import FormatError, RecError
from rec.image import estimated_memory_gb, image_files
from rec.signals import die_with_parent, parent_alive

__all__ = ["BatchItem", "estimated_memory_gb", "encode_directory"]


@dataclass(frozen=True)
class BatchItem:
    source: str
    output: str
    bytes: int | None  # None when the file failed
    bpp: float | None
    error: str | None = None
    verified: bool = False  # decoded without error before it was written


def _encode_one(source: str, output: str, model, samplers, seed: int, threads: int, verify: bool = True,
                parent: int | None = None, beta: float | None = None) -> BatchItem:
    import torch

    from rec.codec import compress
    from rec.image import write_atomic

    torch.set_num_threads(threads)
    try:
        try:
            data = compress(source, model=model, samplers=samplers, seed=seed, verify=verify, beta=beta)
        except FormatError as e:
            if not verify:
                raise
            raise RecError(f"the encoded file does not decode, not written: {e}") from None
        if parent is not None and not parent_alive(parent):  # the command is gone: write nothing
            os._exit(1)
        write_atomic(output, data)
        return BatchItem(source, output, len(data), data.report.bpp, verified=verify)
    except RecError as e:
        return BatchItem(source, output, None, None, str(e))


def _stop(pool: ProcessPoolExecutor, outputs: list[Path]) -> None:
    """Cancel the pending jobs, kill the workers and remove their temporary files (``write_atomic``'s)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    if hasattr(pool, "kill_workers"):  # Python 3.14
        pool.kill_workers()
    for p in processes:
        try:
            p.kill()
        except (OSError, ValueError):  # already gone or closed
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        try:
            p.join(5)
        except (OSError, ValueError, AssertionError):
            pass
    for out in outputs:
        for tmp in out.parent.glob(f".{glob.escape(out.name)}.*.part"):
            try:
                tmp.unlink()
            except OSError:
                pass


def encode_directory(source: str | os.PathLike, destination: str | os.PathLike, *, model=None, samplers=None, seed: int = 0,
                     beta: float | None = None,
                     jobs: int = 1, max_memory_gb: float = 8.0, verify: bool = True) -> list[BatchItem]:
    """Encode every image of ``source`` into ``destination/<stem>.rec``; see the module docstring.

    ``verify``: decode every file before writing it; one that does not decode is that file's
    error and is not written. With False, a file that is not decoded is not known to decode.
    """
    src, dst = Path(source), Path(destination)
    if not src.is_dir():
        raise RecError(f"not a directory: {src}")
    if jobs < 1:
        raise RecError("jobs must be at least 1")
    files = image_files(src)
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
    results: dict[int, BatchItem] = {}
    if jobs == 1:
        try:
            for i, (p, o, _) in enumerate(tasks):
                results[i] = _encode_one(str(p), str(o), model, samplers, seed, max(1, os.cpu_count() or 1), verify, beta=beta)
        except KeyboardInterrupt as e:  # write_atomic has removed its temporary file
            e.detail = _interrupted_detail(results, len(tasks), dst)
            raise
        return [results[i] for i in range(len(tasks))]
    running: dict[Future, tuple[int, float]] = {}
    # fork on Linux (the default before Python 3.14), spawn elsewhere: either way a worker's parent is this
    # process, as die_with_parent needs (a forkserver would be the workers' parent instead)
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        for i, (p, o, need) in enumerate(tasks):
            while running and (len(running) >= jobs or sum(n for _, n in running.values()) + need > max_memory_gb):
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    k, _ = running.pop(f)
                    results[k] = f.result()
            running[pool.submit(_encode_one, str(p), str(o), model, samplers, seed, 1, verify, os.getpid(), beta)] = (i, need)
        for f in running:
            results[running[f][0]] = f.result()
    except BaseException as e:
        _stop(pool, [o for _, o, _ in tasks])
        if isinstance(e, KeyboardInterrupt):
            e.detail = _interrupted_detail(results, len(tasks), dst)
        if isinstance(e, BrokenProcessPool):
            raise RecError(f"a worker process died (out of memory? try fewer --jobs or a lower --max-memory); "
                           f"{_interrupted_detail(results, len(tasks), dst)}") from None
        raise
    pool.shutdown()
    return [results[i] for i in range(len(tasks))]


def _interrupted_detail(results: dict[int, BatchItem], total: int, dst: Path) -> str:
    written = sum(1 for r in results.values() if r.error is None)
    return f"{written} of {total} files were written to {dst} before it, each complete"
