"""Threads: stripes of the encoder's numba kernels on every core; one torch thread where both sides must agree.

Results must not depend on the number of threads: each stripe writes its own
outputs and each value depends on its index only (the tests compare 1, 2 and 3
threads). Python threads over kernels compiled with ``nogil=True``, not numba's
parallel layers: numba's OpenMP layer kills every child forked after the parent
used it (``rec encode DIR -j 2`` after in-process coding), its workqueue layer is
not fork-safe either.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

__all__ = ["limited", "single_thread", "striped", "worker_threads"]

_HOME_PID = os.getpid()
_limits: list[int] = []  # innermost :func:`limited` last


def worker_threads() -> int:
    """Threads for :func:`striped`: the CPUs this process may use, at most the innermost
    :func:`limited`; 1 in a child forked from the process that imported rec (batch workers
    share the cores among themselves)."""
    if os.getpid() != _HOME_PID:
        return 1
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return min(n, _limits[-1]) if _limits else n


@contextlib.contextmanager
def limited(n: int) -> Iterator[int]:
    """At most ``n`` >= 1 threads for :func:`striped` inside the block (``rec bench --threads``)."""
    _limits.append(max(1, int(n)))
    try:
        yield _limits[-1]
    finally:
        _limits.pop()


def striped(work: Callable[[int, int], None], n: int, min_stripe: int = 1) -> None:
    """``work(i0, i1)`` over stripes of [0, n) on :func:`worker_threads` Python threads.

    ``work`` must run numba kernels compiled with ``nogil=True`` (so the threads run at once)
    and write disjoint outputs; each value must depend on its index only.
    """
    threads = min(worker_threads(), max(1, n // max(1, min_stripe)))
    if threads <= 1:
        work(0, n)
        return
    k = 8 * threads
    edges = [n * i // k for i in range(k + 1)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: work(edges[i], edges[i + 1]), range(k)))


@contextlib.contextmanager
def single_thread():
    """Run what both sides must compute identically on one intra-op thread.

    torch's CPU kernels may split work differently for different thread counts,
    which changes the last bits of what both sides compute (measured with mbt2018's
    h_s(ẑ): encoding with 2 threads and decoding with 1 gave a different ŷ). What
    only one side runs (g_a, g_s) keeps every thread. Changes the process-wide setting
    for the duration: do not code concurrently from several Python threads.
    """
    import torch  # only the codecs that run torch networks need it

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
