"""rec.threads: stripes cover [0, n) exactly once, on as many threads as asked, one in a forked child."""

import multiprocessing as mp

import numpy as np
import pytest

import rec.threads


@pytest.mark.parametrize("threads,n,min_stripe", [(1, 1000, 1), (3, 1000, 1), (4, 10, 1), (4, 100, 60), (2, 0, 1)])
def test_stripes_cover_every_index_once(monkeypatch, threads, n, min_stripe):
    monkeypatch.setattr(rec.threads, "worker_threads", lambda: threads)
    hits = np.zeros(n, np.int64)
    calls = []

    def work(i0, i1):
        calls.append((i0, i1))
        hits[i0:i1] += 1

    rec.threads.striped(work, n, min_stripe)
    assert np.all(hits == 1)
    if threads == 1 or n < 2 * min_stripe:
        assert calls == [(0, n)]  # one stripe, on the calling thread


def _child_threads(queue):
    queue.put(rec.threads.worker_threads())


def test_a_forked_child_works_on_one_thread():
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_threads, args=(queue,))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) == 1
    assert rec.threads.worker_threads() >= 1


def test_limited_caps_the_threads_and_nests(monkeypatch):
    monkeypatch.setattr(rec.threads.os, "sched_getaffinity", lambda pid: set(range(8)))
    assert rec.threads.worker_threads() == 8
    with rec.threads.limited(3):
        assert rec.threads.worker_threads() == 3
        with rec.threads.limited(1):
            assert rec.threads.worker_threads() == 1
        assert rec.threads.worker_threads() == 3
    assert rec.threads.worker_threads() == 8
