"""Termination signals: the ``rec`` command stops cleanly, and worker processes never outlive it.

* :func:`raising_on_signals` turns SIGTERM and SIGHUP into :class:`Interrupted` (SIGINT
  already raises :class:`KeyboardInterrupt`, its base class) while a command runs, so that
  the code in progress unwinds: ``finally`` blocks remove temporary files, a process pool
  is shut down and its workers killed (:mod:`rec.batch`), and ``rec`` ends with
  ``rec: error: interrupted`` and exit code 2 instead of dying where it stood.
* :func:`die_with_parent`, run first in every worker process, makes the kernel kill the
  worker when its parent dies, however it dies (SIGKILL included): a worker never goes on
  writing files for a command that is gone. On Linux through ``prctl(PR_SET_PDEATHSIG)``;
  elsewhere the worker checks its parent (:func:`parent_alive`) before writing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["Interrupted", "raising_on_signals", "die_with_parent", "parent_alive", "signal_name"]

#: Signals turned into :class:`Interrupted` by :func:`raising_on_signals` (those that exist here).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """The process received a termination signal (``signum``) and is unwinding to stop."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"interrupted by {signal_name(self.signum)}"


def signal_name(signum: int | None) -> str:
    """``"SIGTERM"`` for 15, ``"SIGINT"`` for None (a plain :class:`KeyboardInterrupt`)."""
    if signum is None:
        return "SIGINT"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _raise(signum, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def raising_on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread.

    Does nothing outside the main thread (Python delivers signals only there). The
    previous handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def die_with_parent(parent: int) -> None:
    """Make this (worker) process die with its parent ``parent`` (a pid); exits at once if it is gone.

    Also restores the default SIGTERM / SIGHUP handling (a forked worker inherits the
    parent's :func:`raising_on_signals` handlers, which would turn a kill into an exception
    the pool machinery swallows) and ignores SIGINT: Ctrl-C reaches the whole process group,
    and the parent, which handles it, stops the workers itself.
    """
    for s in SIGNALS:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: parent_alive() checks remain
            pass
    if not parent_alive(parent):  # the parent died before prctl took effect
        os._exit(1)


def parent_alive(parent: int) -> bool:
    """Whether this process's parent is still ``parent`` (an orphan is adopted by another process)."""
    return os.getppid() == parent
