"""mlplab.workers: forked workers, the counters they share, and a process started ahead."""

import os
import signal
import sys
import threading

import pytest

from mlplab import workers
from mlplab.workers import Ahead, Claims, WorkerDied, fork_each, map_forked

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="forks on Linux only")

PARENT = os.getpid()


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not today")


def test_fork_each_gives_each_rank_its_result_or_exception():
    def fn(rank):
        if rank == 1:
            raise ValueError("one")
        if rank == 2:
            raise Unpicklable("two")
        return rank, os.getpid()

    out = fork_each(fn, 4)
    assert out[0][0] == 0 and out[3][0] == 3
    assert len({out[0][1], out[3][1], PARENT}) == 3  # each in a process of its own
    assert isinstance(out[1], ValueError) and str(out[1]) == "one"
    assert isinstance(out[2], RuntimeError) and "Unpicklable: two" in str(out[2])


def test_a_dead_worker_is_reported_at_once_and_the_others_finish():
    claims = Claims(1)
    died = []

    def fn(rank):
        if rank == 0:
            os._exit(9)  # killed: no result
        while claims.get(0) == 0:  # waits for the parent to hear of the death
            pass
        return "done"

    def on_death(rank):
        died.append(rank)
        claims.put(0, 1)

    out = fork_each(fn, 2, on_death=on_death)
    assert died == [0] and out[1] == "done"
    assert isinstance(out[0], WorkerDied) and "ended with 9" in str(out[0])


def test_claims_hand_out_each_number_once_across_processes():
    claims = Claims(1 + 200)

    def fn(rank):
        taken = []
        while (i := claims.take(0, 200, owner=1, stamp=rank + 1)) is not None:
            taken.append(i)
        return taken

    out = fork_each(fn, 3)
    everything = sorted(i for taken in out for i in taken)
    assert everything == list(range(200))
    for rank, taken in enumerate(out):  # the stamps say who took what
        assert all(claims.get(1 + i) == rank + 1 for i in taken)
    assert claims.take(0, 200) is None


def test_map_forked_runs_items_a_dead_worker_took_here():
    def fn(x):
        if x == 2 and os.getpid() != PARENT:
            os._exit(9)
        return x * x

    assert map_forked(fn, range(6), workers=3) == [0, 1, 4, 9, 16, 25]


def test_ctrl_c_here_ends_the_workers():
    def fn(rank):
        signal.pause()  # would wait for ever

    pids = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    def interrupt():
        raise KeyboardInterrupt

    os.fork = fork
    try:
        with pytest.raises(KeyboardInterrupt):
            fork_each(fn, 2, meanwhile=interrupt)
    finally:
        os.fork = real_fork
    assert len(pids) == 2
    for pid in pids:  # killed and reaped
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def loaded(module):
    return module in sys.modules, os.getpid()


def test_ahead_imports_its_module_in_its_own_process_then_runs_one_call():
    assert "tests.ahead_probe" not in sys.modules
    ahead = Ahead("tests.ahead_probe")
    has_it, pid = ahead.call(loaded, "tests.ahead_probe")
    assert has_it and pid != PARENT
    assert "tests.ahead_probe" not in sys.modules  # this process never imported it
    assert ahead.call(loaded, "tests.ahead_probe")[1] == PARENT  # one call; a second runs here


def raise_value_error(text):
    raise ValueError(text)


def test_ahead_raises_the_calls_exception_here():
    with pytest.raises(ValueError, match="bad plot"):
        Ahead("json").call(raise_value_error, "bad plot")


def test_ahead_closed_unused_ends_its_process():
    ahead = Ahead("json")
    pid = ahead.pid
    ahead.close()
    with pytest.raises(ChildProcessError):  # ended and reaped
        os.waitpid(pid, os.WNOHANG)


def test_ahead_killed_is_a_worker_died():
    ahead = Ahead("json")
    os.kill(ahead.pid, signal.SIGKILL)
    with pytest.raises(WorkerDied):
        ahead.call(loaded, "json")


def test_ahead_without_fork_runs_the_call_here():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:  # another thread runs: no fork
        ahead = Ahead("json")
        assert ahead.pid is None and ahead.call(loaded, "json")[1] == PARENT
    finally:
        stop.set()
        thread.join()
