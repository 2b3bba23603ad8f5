"""Mutation fuzzing of the decoder: every input must end in FormatError or a decoded image.

A valid file is mutated (bit flips, byte overwrites, truncation, insertion, deletion,
splicing, random bytes, header width and height set to other or huge sizes) and,
for half of the mutants (all of the size edits), *resealed*: the declared length
and the CRC-32 are recomputed so that the mutation gets past the integrity check and
reaches the header parser and the sampler decoders. Each input is fed to
:func:`rec.container.Container.from_bytes` and to :func:`rec.codec.decompress`; the
outcome, the time and the peak memory are recorded.

:func:`smooth_image` makes the photo-like images the seeds (and the tests) are
coded from.
"""

from __future__ import annotations

import resource
import struct
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from rec.container import Container, body_offset, length_field
from rec.errors import FormatError

__all__ = ["FuzzReport", "mutate", "reseal", "fuzz", "smooth_image"]


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like RGB test image: smooth gradients, edges and a little noise (uint8)."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), np.sin(4 * (xx + yy))], -1)
    edges = (xx + 0.3 * yy > rng.uniform(0.3, 0.7))[..., None] * rng.uniform(-0.5, 0.5, 3)
    img = 0.5 + 0.35 * base + edges + 0.03 * rng.standard_normal((height, width, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@dataclass
class FuzzReport:
    inputs: int = 0
    decoded: int = 0  # accepted and decoded into an image (a mutation the format cannot see)
    format_errors: int = 0
    escapes: list[str] = field(default_factory=list)  # any other exception: a bug
    slowest_seconds: float = 0.0  # wall clock
    slowest_cpu_seconds: float = 0.0  # CPU time of this process: what the input cost, whatever else runs
    peak_rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.escapes


def _size_offset(data: bytes) -> int | None:
    """Where the header's width and height start, None for a prefix the parser refuses."""
    try:
        return body_offset(data)
    except FormatError:
        return None


def reseal(data: bytes) -> bytes:
    """Recompute the declared total length and the CRC-32 of a (mutated) container of a known version."""
    start = _size_offset(data)
    if start is None or len(data) < start + 8:
        return data
    rest = data[start:-4]
    head = data[:5] + length_field(data[4], 5 + len(rest) + 4)
    body = head + rest
    return body + struct.pack("<I", zlib.crc32(body))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation of ``data`` (see the module docstring)."""
    b = bytearray(data)
    kind = rng.integers(9)
    n = len(b)
    start = _size_offset(data)
    if kind == 8 and start is not None and n >= start + 8:  # the header claims another (often huge) size, resealed
        for offset in rng.permutation([start, start + 2])[: rng.integers(1, 3)]:
            side = int(rng.choice([1, 2, 63, 64, 65, 1 << 12, 8192, 8193, 1 << 14, 1 << 15, 1 << 16, rng.integers(1, 1 << 16)]))
            b[offset : offset + 2] = struct.pack("<H", side - 1)
        return reseal(bytes(b))
    if kind == 0 and n:
        for _ in range(rng.integers(1, 4)):
            i = rng.integers(n)
            b[i] ^= 1 << rng.integers(8)
    elif kind == 1 and n:
        i = rng.integers(n)
        b[i] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.integers(256)])
    elif kind == 2:
        b = b[: rng.integers(n + 1)]
    elif kind == 3:
        i = rng.integers(n + 1)
        b[i:i] = rng.integers(0, 256, rng.integers(1, 16), dtype=np.uint8).tobytes()
    elif kind == 4 and n:
        i = rng.integers(n)
        del b[i : i + rng.integers(1, 16)]
    elif kind == 5 and n:
        i, j = sorted(rng.integers(0, n, 2))
        k = rng.integers(n)
        b[k:k] = b[i:j]
    elif kind == 6:
        b = bytearray(rng.integers(0, 256, rng.integers(0, 64), dtype=np.uint8).tobytes())
        if rng.random() < 0.5:
            b[:4] = data[:4]
    else:  # a 32-bit field overwritten with an extreme value
        if n >= 4:
            i = rng.integers(n - 3)
            b[i : i + 4] = struct.pack("<I", int(rng.choice([0, 1, 2**16, 2**31 - 1, 2**32 - 1])))
    out = bytes(b)
    return reseal(out) if rng.random() < 0.5 else out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fuzz(seeds: list[bytes], count: int, model, rng_seed: int = 0) -> FuzzReport:
    """Feed ``count`` mutants of ``seeds`` to the parser and the decoder."""
    from rec.codec import decompress

    rng = np.random.default_rng(rng_seed)
    report = FuzzReport()
    for k in range(count):
        data = mutate(seeds[k % len(seeds)], rng)
        t, c = time.perf_counter(), time.process_time()
        try:
            Container.from_bytes(data)
        except FormatError:
            pass
        except Exception as e:  # noqa: BLE001 - anything else is what we are hunting
            report.escapes.append(f"parse: {type(e).__name__}: {e}")
        try:
            decompress(data, model=model)
            report.decoded += 1
        except FormatError:
            report.format_errors += 1
        except Exception as e:  # noqa: BLE001
            report.escapes.append(f"decode: {type(e).__name__}: {e}")
        report.slowest_seconds = max(report.slowest_seconds, time.perf_counter() - t)
        report.slowest_cpu_seconds = max(report.slowest_cpu_seconds, time.process_time() - c)
        report.inputs += 1
    report.peak_rss_mb = _rss_mb()
    return report
