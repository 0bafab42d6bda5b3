"""Use every core for a sweep's work: forked worker processes that share counters.

A forked worker starts in milliseconds with everything this process has loaded
(torch, the composed configs, the trained groups), so it needs no work sent to it:
workers take the next piece of work from counters they share (:class:`Claims`), and
each sends its results back once, when nothing is left. Fork is used on Linux only
(macOS and Windows spawn fresh interpreters, which would import torch again), never
while other Python threads run, and never by code that may hold a CUDA context:
callers decide that and pass ``workers=1``.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


def cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def can_fork() -> bool:
    """Fork on Linux, and only while this process runs no other Python thread (a thread
    holding a lock at the fork, a Ray client's say, would leave it held in the child)."""
    return sys.platform == "linux" and threading.active_count() == 1


class WorkerDied(RuntimeError):
    """What :func:`fork_each` gives for a worker that ended without a result (killed, OOM)."""


class Claims:
    """Counters shared by this process and the workers it forks next.

    ``take(k, limit)`` hands each number below ``limit`` out once, across all of them
    (and may stamp who took it into the counters from ``owner`` on); ``get``/``put``
    read and write a counter used as a flag.
    """

    def __init__(self, size: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.values = context.RawArray("q", size)
        self.lock = context.Lock()

    def take(self, k: int, limit: int, owner: int | None = None, stamp: int = 0) -> int | None:
        with self.lock:
            value = self.values[k]
            if value >= limit:
                return None
            self.values[k] = value + 1
            if owner is not None:
                self.values[owner + value] = stamp
            return value

    def get(self, k: int) -> int:
        with self.lock:
            return self.values[k]

    def put(self, k: int, value: int) -> None:
        with self.lock:
            self.values[k] = value


def fork_each(
    fn: Callable[[int], Any],
    workers: int,
    meanwhile: Callable[[], None] | None = None,
    on_death: Callable[[int], None] | None = None,
) -> list:
    """``[fn(rank) for rank in range(workers)]``, each call in its own forked process.

    The calls run side by side; each result is pickled back when its call returns. An
    exception comes back in its call's place, and a worker that ended without a result
    (killed, out of memory) as a :class:`WorkerDied`, after ``on_death(rank)`` was
    called here as soon as it ended (so that workers waiting on it can be told).
    ``meanwhile`` runs here while the workers work. Ctrl-C here (or a kill: see
    :func:`_die_with`) ends them all. The caller checks :func:`can_fork` first.
    """
    import selectors

    parent = os.getpid()
    sys.stdout.flush()  # else each child would write what this process has buffered, again
    sys.stderr.flush()
    gc.freeze()  # the garbage collector leaves inherited objects alone: no copy-on-write
    children: dict[int, tuple[int, int]] = {}  # read end of its pipe -> (rank, pid)
    try:
        for rank in range(workers):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                os.close(read)
                _work_and_exit(fn, rank, write, parent)
            os.close(write)
            children[read] = (rank, pid)
        if meanwhile is not None:
            meanwhile()
        results: list[Any] = [None] * workers
        received = {read: bytearray() for read in children}
        with selectors.DefaultSelector() as selector:
            for read in children:
                selector.register(read, selectors.EVENT_READ)
            while children:
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 1 << 20)
                    if chunk:
                        received[key.fd] += chunk
                        continue
                    selector.unregister(key.fd)  # the worker closed its end: it has ended
                    os.close(key.fd)
                    rank, pid = children.pop(key.fd)
                    _, status = os.waitpid(pid, 0)
                    try:
                        results[rank] = pickle.loads(received[key.fd])[0]
                    except Exception:  # nothing, or half a result: it died
                        code = os.waitstatus_to_exitcode(status)
                        results[rank] = WorkerDied(f"worker {pid} ended with {code}, no result")
                        if on_death is not None:
                            on_death(rank)
        return results
    finally:
        for read, (_, pid) in children.items():  # an interrupt (or a bug) here: end them
            os.close(read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        gc.unfreeze()


def _work_and_exit(fn: Callable[[int], Any], rank: int, write: int, parent: int) -> None:
    code = 0
    try:
        _die_with(parent)
        try:
            result: Any = fn(rank)
        except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the parent says it
            os._exit(130)
        except BaseException as exc:
            result = exc
        try:
            data = pickle.dumps((result,), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that does not pickle: its message does
            data = pickle.dumps((RuntimeError(f"{type(result).__name__}: {result} ({exc})"),))
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # no atexit handlers, no second flush of the parent's buffers


def map_forked(
    fn: Callable[[Any], Any],
    items: Sequence,
    workers: int,
    meanwhile: Callable[[], None] | None = None,
) -> list:
    """``[fn(x) for x in items]``, spread over up to ``workers`` forked processes.

    Each worker takes the next item not yet taken until none is left. An exception is
    returned in its item's place. Items whose worker died (killed, out of memory) run
    here afterwards. One worker, one item, or no fork: all here. ``meanwhile`` runs
    here while the workers work (whatever this process does next and can start early).
    """
    results: dict[int, Any] = {}
    if workers > 1 and len(items) > 1 and can_fork():
        claims = Claims(1)

        def work(rank: int) -> dict[int, Any]:
            done = {}
            while (i := claims.take(0, len(items))) is not None:
                done[i] = caught(fn, items[i])
            return done

        for outcome in fork_each(work, min(workers, len(items)), meanwhile):
            if isinstance(outcome, dict):
                results.update(outcome)
            else:
                log.warning(f"a worker process died ({outcome}); running its work here")
    elif meanwhile is not None:
        meanwhile()
    return [results[i] if i in results else caught(fn, x) for i, x in enumerate(items)]


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

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent was gone before the line above
        os._exit(1)
