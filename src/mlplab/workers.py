"""Use every core for a sweep's work: a map over forked worker processes.

A forked worker starts in milliseconds with everything this process has loaded
(torch, the composed configs, the trained groups), so sending it work costs nothing
but an index; only results are pickled back. Fork is used on Linux only (macOS and
Windows spawn fresh interpreters, which would import torch again), never while other
Python threads run, and never by code that may hold a CUDA context: callers decide
that and pass ``workers=1``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# The map in progress: forked workers find their function and items here.
_WORK: tuple[Callable, Sequence] | None = None


def cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def can_fork() -> bool:
    """Fork on Linux, and only while this process runs no other Python thread (a thread
    holding a lock at the fork, a Ray client's say, would leave it held in the child)."""
    return sys.platform == "linux" and threading.active_count() == 1


def map_forked(
    fn: Callable[[Any], Any],
    items: Sequence,
    workers: int,
    meanwhile: Callable[[], None] | None = None,
) -> list:
    """``[fn(x) for x in items]``, spread over up to ``workers`` forked processes.

    An exception is returned in its item's place. Items whose worker died (killed,
    out of memory) run here afterwards. One worker, one item, or no fork: all here.
    ``meanwhile`` runs here while the workers work (whatever this process does next
    and can start early).
    """
    global _WORK
    results: dict[int, Any] = {}
    if workers > 1 and len(items) > 1 and can_fork():
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        _WORK = (fn, items)
        gc.freeze()  # the garbage collector leaves inherited objects alone: no copy-on-write
        try:
            with ProcessPoolExecutor(
                min(workers, len(items)),
                multiprocessing.get_context("fork"),
                initializer=_die_with,
                initargs=(os.getpid(),),
            ) as pool:
                futures = {pool.submit(_call, i): i for i in range(len(items))}
                if meanwhile is not None:
                    meanwhile()
                try:
                    for future in as_completed(futures):
                        try:
                            results[futures[future]] = future.result()
                        except BrokenProcessPool:
                            raise
                        except Exception as exc:
                            results[futures[future]] = exc
                except BrokenProcessPool as exc:
                    log.warning(f"a worker process died ({exc}); running its work here")
        finally:
            _WORK = None
            gc.unfreeze()
    return [results[i] if i in results else caught(fn, x) for i, x in enumerate(items)]


def _call(i: int):
    fn, items = _WORK
    return fn(items[i])


def caught(fn, *args):
    """``fn(*args)``, or the exception it raised."""
    try:
        return fn(*args)
    except Exception as exc:
        return exc


def _die_with(parent: int) -> None:
    """Make this worker end when the process that forked it ends, even by SIGKILL.

    A killed sweep then stops at once, as a one-process sweep does: the job a worker
    was writing stays incomplete (no result.json) and runs again on resume.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent was gone before the line above
        os._exit(1)
