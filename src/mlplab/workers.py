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


_interrupted = False  # set by _on_ctrl_c: some libraries turn a KeyboardInterrupt into another error


def catch_ctrl_c() -> None:
    """Remember every Ctrl-C (SIGINT) this process gets, then raise KeyboardInterrupt as usual.

    A Ctrl-C that lands inside an import (numpy's, under torch's) can come out as an
    ImportError, or be swallowed by a library that catches too much; :func:`interrupted`
    still knows. Only replaces Python's default handler.
    """
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_ctrl_c)


def _on_ctrl_c(signum, frame) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Has this process had a Ctrl-C (since :func:`catch_ctrl_c`)?"""
    return _interrupted


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
        if _interrupted:  # the workers ended on the Ctrl-C: do not redo their work here
            raise KeyboardInterrupt
        return results
    finally:
        for read, (_, pid) in children.items():  # an interrupt (or a bug) here: end them
            os.close(read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        gc.unfreeze()


def _work_and_exit(fn: Callable[[int], Any], rank: int, write: int, parent: int) -> None:
    def call():
        _die_with(parent)
        return fn(rank)

    _answer_and_exit(call, write)


def _answer_and_exit(call: Callable[[], Any], write: int) -> None:
    """In a forked process: send ``call()`` (or what it raised) down ``write``, and exit."""
    code = 0
    try:
        try:
            result: Any = call()
        except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the parent says it
            os._exit(130)
        except BaseException as exc:
            result = exc
        try:
            data = pickle.dumps((result,), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that does not pickle: its message does
            data = pickle.dumps((RuntimeError(f"{type(result).__name__}: {result} ({exc})"),))
        sys.stdout.flush()  # what it printed is out before the parent hears it is done
        sys.stderr.flush()
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


# Processes started ahead of need (see Ahead), by the module they import: whoever
# needs that module later takes one from here, or does the work itself.
AHEAD: dict[str, Ahead] = {}


class Ahead:
    """A process forked now, that imports ``module`` while this one goes on, to run one call.

    Made while this process is still small and single-threaded (at the start of a
    sweep), it imports a slow module on a core that would otherwise wait (matplotlib,
    while the sweep imports torch), and later runs :meth:`call` with it loaded, so that
    this process never needs the module itself. Without fork it does nothing and
    :meth:`call` runs here. It ends with this process, or at :meth:`close`.
    """

    def __init__(self, module: str) -> None:
        self.module, self.pid = module, None
        if not can_fork():
            return
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        calls, to_it = os.pipe()
        from_it, results = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(to_it)
            os.close(from_it)
            _serve_and_exit(module, calls, results, parent)
        os.close(calls)
        os.close(results)
        self.pid, self.to_it, self.from_it = pid, to_it, from_it

    def call(self, fn: Callable, *args) -> Any:
        """``fn(*args)`` in that process (here without it), its result or its exception raised.

        ``fn`` and ``args`` are pickled across: a module-level function, plain data.
        One call per process; a second runs here.
        """
        if self.pid is None:
            return fn(*args)
        pid, self.pid = self.pid, None
        data = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)
        try:
            try:
                os.write(self.to_it, len(data).to_bytes(8, "little"))
                with os.fdopen(self.to_it, "wb", closefd=False) as pipe:
                    pipe.write(data)
            except OSError:  # it has ended (BrokenPipeError)
                received = b""
            else:
                with os.fdopen(self.from_it, "rb", closefd=False) as pipe:
                    received = pipe.read()
            os.waitpid(pid, 0)
        finally:
            os.close(self.to_it)
            os.close(self.from_it)
        try:
            (result,) = pickle.loads(received)
        except Exception:
            message = f"the process that imported {self.module} ended with no result"
            raise WorkerDied(message) from None
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """End the process unused (``call`` ends it otherwise)."""
        if self.pid is not None:
            pid, self.pid = self.pid, None
            os.close(self.to_it)
            os.close(self.from_it)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _serve_and_exit(module: str, calls: int, results: int, parent: int) -> None:
    def call():
        _die_with(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle
        import importlib

        try:
            importlib.import_module(module)
        except Exception:
            pass  # the call imports it again, and reports why it cannot
        with os.fdopen(calls, "rb") as pipe:
            size = int.from_bytes(pipe.read(8) or b"\0", "little")
            data = pipe.read(size) if size else b""
        if not data:
            os._exit(0)  # the parent ended without a call
        fn, args = pickle.loads(data)
        return fn(*args)

    _answer_and_exit(call, results)


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
