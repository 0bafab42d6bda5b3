"""The stacked launcher's work: plan the stacks, run them, and report as they finish."""

# No `from __future__ import annotations` (see config.py).
import contextlib
import dataclasses
import gc
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

log = logging.getLogger("mlplab.sweep")  # one line per job, into the sweep's sweep.log
LOG_FILE = "sweep.log"
STACKS_DIR = ".stacks"  # in the sweep folder: the saved state of stacks stopped part-way


@dataclass
class Plan:
    """What launching a batch of jobs does with each of them."""

    done: list = field(default_factory=list)  #: complete already (resume): skipped
    stale: list = field(default_factory=list)  #: complete under another identity: rerun
    older: int = 0  #: of the done ones, how many another mlplab version made
    invalid: list = field(default_factory=list)  #: settings refused: recorded as failed
    groups: list = field(
        default_factory=list
    )  #: the units of work (lists of jobs), costliest first
    threads: list = field(default_factory=list)  #: torch threads for each group
    why: list = field(default_factory=list)  #: each group's estimated seconds and padding
    saved: list = field(default_factory=list)  #: each group's saved epoch (0: starts afresh)

    @property
    def stacks(self) -> list[list]:
        """The groups of several jobs, trained together by fit_many."""
        return [group for group in self.groups if len(group) > 1]

    @property
    def alone(self) -> list:
        """The jobs trained by themselves with fit."""
        return [group[0] for group in self.groups if len(group) == 1]


def make_plan(jobs: list, max_models: int, cores: int, stacks: Path | None = None) -> Plan:
    """Skip the complete jobs, set the invalid ones aside, and plan the rest by cost.

    A job is complete when its folder holds a completed result of its identity (its
    composed config and its data file's fingerprint, ``results.identity``); one made under
    another identity is stale: planned to run again (``launch`` moves its folder aside).
    ``mlplab.grouping.plan`` prices the stacks from the data's shape (read once per
    dataset), stacks where that is cheaper, and cuts the work for ``cores`` workers.
    Per-epoch layer statistics (``trainer.layer_stats_every``) need fit's own loop.
    A stack that was stopped part-way (its manifest in ``stacks``) is planned as it was, so
    it goes on from its saved state.
    """
    from mlplab import __version__, grouping
    from mlplab.data import fingerprint, shape_of
    from mlplab.results import identity, reusable

    plan = Plan()
    todo, alone = [], []
    prints = {}  # each data file hashed once per batch
    for i, job in enumerate(jobs):
        data = None
        if job.settings is not None:
            if job.settings.dataset not in prints:
                prints[job.settings.dataset] = fingerprint(job.settings.dataset)
            data = prints[job.settings.dataset]
            jobs[i] = job = dataclasses.replace(job, identity=identity(job.config, data))
        found, result = reusable(job.run_dir, job.identity, data) if job.identity else (None, None)
        if found == "complete":
            plan.done.append(job)
            plan.older += (result.get("provenance") or {}).get("mlplab") != __version__
            continue
        if found == "stale":
            plan.stale.append(job)
        if job.settings is None:
            plan.invalid.append(job)
        elif job.settings.trainer.layer_stats_every:
            alone.append([job])
        else:
            todo.append(job)
    resumed = _saved_stacks(stacks, todo)
    taken = {job.identity for group, _ in resumed for job in group}
    todo = [job for job in todo if job.identity not in taken]
    settings = [job.settings for job in todo]
    shapes = {}
    for s in settings + [job.settings for group, _ in resumed for job in group]:
        if s.dataset not in shapes:
            found = shape_of(s.dataset)
            shapes[s.dataset] = grouping.Shape(*found) if found else None
    memory = grouping.available_memory() / max(1, cores)
    units = grouping.plan(settings, shapes, cores, max_models, memory)
    plan.groups = [group for group, _ in resumed] + [[todo[i] for i in unit] for unit in units]
    plan.groups += alone
    plan.saved = [epoch for _, epoch in resumed] + [0] * (len(plan.groups) - len(resumed))
    for group in plan.groups:
        price = grouping.stack_seconds(
            [job.settings for job in group], shapes.get(group[0].settings.dataset)
        )
        plan.why.append(price)
        # the machine's cores shared by the units that run at once
        running = min(cores, len(plan.groups))
        threads = grouping.threads_for(price, grouping.usable_cores(), running)
        plan.threads.append(group[0].settings.trainer.threads or threads)
    return plan


def _saved_stacks(stacks: Path | None, todo: list) -> list[tuple[list, int]]:
    """(its jobs, its saved epoch) of each stack stopped part-way whose jobs are all to do."""
    if stacks is None or not stacks.is_dir():
        return []
    by_identity = {job.identity: job for job in todo}
    found = []
    for manifest in sorted(stacks.glob("*.json")):
        try:
            saved = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue  # half a file cannot be: it is written atomically; another's, then
        group = [by_identity.pop(ident, None) for ident in saved.get("jobs", [])]
        if group and all(group):
            found.append((group, int(saved.get("epoch", 0))))
        else:
            by_identity.update((job.identity, job) for job in group if job is not None)
    return found


def state_file(stacks: Path, group: list) -> Path | None:
    """Where a stack of these jobs keeps its state (named by their identities); None for a
    job trained alone, which keeps none."""
    if len(group) < 2:
        return None
    key = hashlib.sha256(" ".join(sorted(job.identity for job in group)).encode()).hexdigest()
    return stacks / f"{key[:20]}.pt"


def job_configs(launcher):
    """The launcher's ``JobConfigs`` (made once: later batches reuse its compositions)."""
    from mlplab.compose import JobConfigs

    if launcher.jobs is None:  # no sweeper shared its compositions (Hydra's basic sweeper)
        launcher.share(JobConfigs(launcher.hydra_context.config_loader, launcher.config))
    return launcher.jobs


def launch(launcher, job_overrides: Sequence[Sequence[str]], first: int) -> list[JobReturn]:
    """Run a batch of jobs; return each one's JobReturn, its result dict as return value
    (None for a job that ``sweep.fail_fast`` kept from starting)."""
    from mlplab.loggers import log_group
    from mlplab.results import move_aside, read_result, record_invalid

    configs = job_configs(launcher)
    jobs = configs.jobs(job_overrides, first)
    stacks = configs.sweep_dir / STACKS_DIR
    plan = make_plan(jobs, launcher.max_models, worker_count(launcher), stacks)
    configs.sweep_dir.mkdir(parents=True, exist_ok=True)
    for job in plan.stale:  # kept, not overwritten: the same command runs them anew
        move_aside(job.run_dir, configs.sweep_dir)
    results = {
        job.num: {**read_result(job.run_dir), "run_dir": str(job.run_dir)} for job in plan.done
    }
    invalid = [record_invalid(job) for job in plan.invalid]
    log_group(plan.invalid, invalid)  # the loggers hear of the jobs that never ran too
    results.update((job.num, result) for job, result in zip(plan.invalid, invalid))
    fail_fast = configs.sweep.fail_fast
    groups = plan.groups
    workers = min(worker_count(launcher), max(1, len(groups)))
    print(f"mlplab: {summary_line(plan, workers, launcher.groups_on)}", file=sys.stderr)
    handler = logging.FileHandler(configs.sweep_dir / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the terminal gets the progress bar, the file the lines
    try:
        log.info(summary_line(plan, workers, launcher.groups_on))
        if groups and not (fail_fast and plan.invalid):
            results.update(run(launcher, plan, workers, fail_fast, stacks))
    finally:
        log.removeHandler(handler)
        handler.close()
    returns = []
    for job in jobs:
        ret = JobReturn(overrides=list(job.overrides), working_dir=str(job.run_dir),
                        task_name="mlplab", status=JobStatus.COMPLETED)  # fmt: skip
        ret.return_value = results.get(job.num)
        returns.append(ret)
    return returns


def summary_line(plan: Plan, workers: int, place: str) -> str:
    from mlplab.results import STALE_DIR

    n = len(plan.done) + len(plan.invalid) + sum(map(len, plan.groups))
    older = f" of which {plan.older} by another mlplab version" if plan.older else ""
    stale = (
        f", {len(plan.stale)} stale (made under another config or data; their folders "
        f"kept in {STALE_DIR}/)" if plan.stale else ""
    )  # fmt: skip
    stacked = sum(map(len, plan.stacks))
    where = f"{workers} process{'es' if workers > 1 else ''}" if place == "local" else place
    stacks = len(plan.stacks)
    in_stacks = (
        f"{stacked} in {stacks} stack{'s' if stacks > 1 else ''}" if stacks else "none stacked"
    )
    resumed = sum(epoch > 0 for epoch in plan.saved)
    goes_on = (
        f" ({resumed} go{'es' if resumed == 1 else ''} on from a saved epoch)" if resumed else ""
    )
    return (
        f"{n} job{'s' if n != 1 else ''}: {len(plan.done)} complete (skipped{older}){stale}, "
        f"{len(plan.invalid)} invalid, {in_stacks}{goes_on}, {len(plan.alone)} alone; "
        f"on {where}"
    )


def describe(launcher, job_overrides: Sequence[Sequence[str]]) -> str:
    """The plan as text: the counts, then one line per unit of work (what it shares, its
    widths, and why: its estimated time, padding and threads)."""
    configs = job_configs(launcher)
    jobs = configs.jobs(job_overrides, 0)
    plan = make_plan(
        jobs, launcher.max_models, worker_count(launcher), configs.sweep_dir / STACKS_DIR
    )
    workers = min(worker_count(launcher), max(1, len(plan.groups)))
    lines = [summary_line(plan, workers, launcher.groups_on)]
    units = zip(plan.groups, plan.why, plan.threads, plan.saved)
    for i, (group, price, threads, saved) in enumerate(units):
        s = group[0].settings
        cost = (f"~{price.seconds:.2g} s, {price.padding:.0%} padding, "
                f"{'arithmetic' if price.arithmetic >= 0.5 else 'overhead'}-bound, "
                f"{threads} thread{'s' if threads > 1 else ''}")  # fmt: skip
        widths = sorted({max(j.settings.model.hidden, default=0) for j in group})
        shown = ", ".join(map(str, widths[:8])) + (", ..." if len(widths) > 8 else "")
        what = f"{len(group)} models" if len(group) > 1 else "alone"
        if saved:
            what += f", from saved epoch {saved}"
        lines.append(
            f"  {i + 1}. {what} ({cost}): dataset={s.dataset.name} "
            f"depth={len(s.model.hidden)} activation={s.model.activation} "
            f"optimizer={s.optimizer.name} epochs={s.trainer.epochs}, widths {shown}"
        )
    for job in plan.invalid:
        lines.append(f"  invalid: {' '.join(job.overrides)}: {job.error}")
    return "\n".join(lines)


def worker_count(launcher) -> int:
    """``hydra.launcher.workers``, or one per usable core.

    1 (this process only) outside Linux (workers are forked) and once this process has
    started CUDA (a CUDA context does not survive a fork). This process plans and writes
    the tables; it imports torch only when it trains itself, so workers forked from it
    may each use CUDA.
    """
    torch = sys.modules.get("torch")
    if sys.platform != "linux" or (torch is not None and torch.cuda.is_initialized()):
        return 1
    from mlplab.grouping import usable_cores

    return max(1, launcher.workers or usable_cores())


def run(launcher, plan: Plan, workers: int, fail_fast: bool, stacks: Path) -> dict[int, dict]:
    """Run the plan's groups (each on its threads); show the job-epochs trained on the
    progress bar, and record each finished job on it and in the log.

    Ctrl-C or SIGTERM asks the running stacks to save their state at the end of the epoch
    they are in (``stacked.Watch``); then it stops the sweep as it would have (a second one
    stops it at once). With ``fail_fast``, stop launching groups once one has a job that
    did not complete.
    """
    from mlplab.loggers import unreported_line
    from mlplab.progress import ProgressBar
    from mlplab.results import FINISHED

    groups = plan.groups
    unreported: dict[str, int] = {}  # runs each logger could not report
    epochs = [sum(job.settings.trainer.epochs for job in group) for group in groups]
    trained = [len(group) * saved for group, saved in zip(groups, plan.saved)]
    results: dict[int, dict] = {}
    failed = finished = 0
    bar = ProgressBar(total=sum(epochs), initial=sum(trained), unit="job-epoch", desc="sweep",
                      dynamic_ncols=True, disable=None,
                      postfix={"jobs": f"0/{sum(map(len, groups))}", "failed": 0})  # fmt: skip

    def progress(i: int, n: int) -> None:
        """Group i trained n more job-epochs (late news of a finished group is dropped)."""
        n = min(n, epochs[i] - trained[i])
        trained[i] += n
        bar.update(n)

    tasks = [
        (group, threads, state_file(stacks, group), launcher.save_every, launcher.pruning)
        for group, threads in zip(groups, plan.threads)
    ]
    method = "fork" if threading.active_count() == 1 else "forkserver"  # see _on_pool
    stop = _stop_event(launcher, workers, method)
    with _stop_on_signal(stop):
        done = _each_done(launcher, tasks, workers, stop, progress, method)
        try:
            for i, outcome in done:
                for job, result in zip(groups[i], outcome):
                    results[job.num] = result
                    failed += result["status"] not in FINISHED
                    for name, why in result.get("unreported", {}).items():
                        if name not in unreported:  # said once; counted to the end
                            missed = sum(name in r.get("unreported", {}) for r in outcome)
                            bar.write(unreported_line(name, missed, why) + " The sweep goes on.",
                                      file=sys.stderr)  # fmt: skip
                        unreported[name] = unreported.get(name, 0) + 1
                    log.info(f"#{job.num} {result['status']}: {' '.join(job.overrides)}"
                             + (f": {result['error']}" if result.get("error") else ""))  # fmt: skip
                finished += len(groups[i])
                progress(i, epochs[i])  # jobs that stopped early count in full
                bar.set_postfix(jobs=f"{finished}/{sum(map(len, groups))}", failed=failed,
                                refresh=False)  # fmt: skip
                bar.refresh()
                if fail_fast and failed:
                    break
        finally:
            done.close()  # stops the workers if the loop ended early
            bar.close()
            for name, count in unreported.items():
                print(f"mlplab: warning: logger={name}: {count} of {len(results)} runs were not "
                      "reported; their folders are complete", file=sys.stderr)  # fmt: skip
    return results


def _stop_event(launcher, workers: int, method: str):
    """The flag that asks running stacks to stop: shared with the pool's workers if any."""
    if launcher.groups_on == "local" and workers > 1:
        import multiprocessing

        return multiprocessing.get_context(method).Event()
    return threading.Event()


@contextlib.contextmanager
def _stop_on_signal(stop):
    """While the sweep runs, Ctrl-C and SIGTERM set ``stop`` (the running stacks save their
    state at their epoch's end and stop); on the way out the signal is raised again, so it
    ends the sweep as it would have. A second one goes straight to the handler there was.

    Python runs signal handlers in the main thread only: elsewhere (a notebook's worker
    thread) the signals are left as they are; so is a signal that is ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []

    def ask(signum, frame):
        if caught:
            _pass_on(signum, before[signum], frame)
            return
        caught.append(signum)
        stop.set()
        print(
            "\nmlplab: stopping: running stacks save their state at the end of this epoch "
            f"({'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'} again to stop now)",
            file=sys.stderr,
        )

    before = {
        sig: signal.signal(sig, ask)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) != signal.SIG_IGN  # (a background job's Ctrl-C, say)
    }
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if caught:
        _pass_on(caught[0], before[caught[0]], None)


def _pass_on(signum: int, handler, frame) -> None:
    """Handle ``signum`` as ``handler`` (what signal.signal returned) would have."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


PLACES = ("local", "ray", "submitit")


def _each_done(
    launcher, tasks: list[tuple], workers: int, stop, progress, method: str
) -> Iterator[tuple[int, list[dict]]]:
    """(task index, its results) for every task (group, threads, state file, save_every), as
    they finish, wherever they run. Tasks that ``stop`` ends part-way give nothing."""
    if launcher.groups_on == "ray":
        yield from _on_ray(tasks, launcher.options["ray_init"])
    elif launcher.groups_on == "submitit":
        sweep_dir = launcher.jobs.sweep_dir
        yield from _on_submitit(tasks, launcher.options["submitit"], sweep_dir)
    elif workers == 1:
        from mlplab.stacked import Stopped

        for i, task in enumerate(tasks):
            if stop.is_set():
                return
            try:
                yield i, run_group(*task, index=i, stop=stop.is_set, progress=progress)
            except Stopped:
                return
    else:
        yield from _on_pool(tasks, workers, stop, progress, method)


def _on_pool(
    tasks: list[tuple], workers: int, stop, progress, method: str
) -> Iterator[tuple[int, list[dict]]]:
    """The groups on a pool of forked processes (they start with torch loaded).

    The workers share ``stop`` and send their progress back on a queue. A worker that dies
    (killed, out of memory) breaks the pool: the groups it left unfinished run here
    afterwards. Once ``stop`` is set, no group starts and the running ones end at their
    epoch's end; an error here (or a second Ctrl-C) ends every worker now.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # Imported here, before the fork, so that every worker starts with torch loaded (two
    # processes importing torch at once take ~3 s each here; a fork takes milliseconds),
    # and with the data, when every group trains on the same (a fork server's workers
    # start from the server, not from this process: they load their own).
    import mlplab.job
    from mlplab.stacked import Stopped

    datasets = {group[0].settings.dataset for group, *_ in tasks}
    if method == "fork" and len(datasets) == 1:
        mlplab.job.preload(tasks[0][0][0].settings)

    # Fork starts a worker in milliseconds with torch loaded; but a lock that another
    # thread holds at the fork stays held in the child, so with threads alive (a notebook's
    # kernel) the workers come from a fork server (each imports torch once): ``method``.
    context = multiprocessing.get_context(method)
    news = context.Queue()  # (task index, job-epochs trained) from the workers
    # What Python's gc docs advise before fork(): the objects alive now (torch's among them)
    # move to a permanent generation, so no collection in a worker writes to their pages
    # (copy-on-write) and none in this process walks them again, at exit either. Measured
    # on the 50-job sweep (experiment=two_moons_arch seed=range(10), 5 runs each, medians):
    # 3.74 s with it, 4.41 s without: 15%, past the 10% a trick must earn.
    gc.freeze()
    pool = ProcessPoolExecutor(workers, context, initializer=_worker_start, initargs=(stop, news))
    futures = {pool.submit(run_group, *task, index=i): i for i, task in enumerate(tasks)}
    left, pending = [], set(futures)
    try:
        while pending:
            # the timeout only paces the progress bar; the results come as they finish
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(news, progress)
            if stop.is_set():
                for future in pending:
                    future.cancel()  # not started yet: never starts
            for future in finished:
                if future.cancelled():
                    continue
                i = futures[future]
                try:
                    outcome = future.result()
                except Stopped:
                    continue  # its state is saved; the same command goes on from it
                except BrokenProcessPool:
                    left.append(i)
                    continue
                yield i, outcome
    except GeneratorExit:  # the caller stops early (sweep.fail_fast): let running ones end
        _shut(pool, cancel=True)
        raise
    except BaseException:  # a second Ctrl-C, or a bug: end every worker now
        _kill(pool)
        raise
    _shut(pool, cancel=False)
    if left and not stop.is_set():
        log.warning(f"a worker process died; running its {len(left)} groups here")
        for i in left:
            yield i, run_group(*tasks[i], index=i, progress=progress)


def _drain(news, progress) -> None:
    """Give the progress the workers sent so far."""
    import queue

    while True:
        try:
            i, n = news.get_nowait()
        except queue.Empty:
            return
        progress(i, n)


def _shut(pool, cancel: bool) -> None:
    """Wait for the running groups to end (a Ctrl-C meanwhile ends them now)."""
    try:
        pool.shutdown(wait=True, cancel_futures=cancel)
    except BaseException:
        _kill(pool)
        raise


def _kill(pool) -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
    pool.shutdown(wait=False, cancel_futures=True)


_SHARED: dict = {}  # in a pool's worker: the stop flag and news queue given to _worker_start


def _worker_start(stop, news) -> None:
    """In each worker: Ctrl-C and SIGTERM are the launching process's to handle (it tells
    the worker through ``stop``); it ends when its parent ends, even by SIGKILL, so a killed
    sweep leaves nothing writing while the same command resumes it (Linux's
    PR_SET_PDEATHSIG; a fork server ends with the launching process too). ``stop`` and
    ``news`` are shared by inheritance: a pool's initializer is where a worker gets them."""
    import ctypes

    _SHARED.update(stop=stop, news=news)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # sent to the group too (scancel): ours
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent was gone before the line above
        os.kill(os.getpid(), signal.SIGKILL)


def run_group(
    group: list,
    threads: int = 1,
    state: Path | None = None,
    every: float = 0.0,
    pruning=None,
    index: int = 0,
    stop=None,
    progress=None,
) -> list[dict]:
    """``mlplab.job.run_group``, imported where the group runs: in a worker, a Ray task or a
    submitit job. This process never imports torch for the jobs it hands out.

    ``state``, ``every``: where the stack keeps its work and how often (``stacked.Watch``).
    ``stop()`` and ``progress(index, job_epochs)``: given in this process; a pool's worker
    uses the flag and queue it shares with the launching process (a Ray task or submitit
    job has neither: its work is kept every ``every`` seconds). ``pruning``: an Optuna
    search's (``Pruning.for_jobs`` gives the stack its pruner).
    """
    from mlplab.job import run_group as run
    from mlplab.stacked import Stopped, Watch

    shared_stop, news = _SHARED.get("stop"), _SHARED.get("news")
    if stop is None and shared_stop is not None:
        stop = shared_stop.is_set
    if progress is None and news is not None:
        progress = _paced(lambda i, n: news.put((i, n)))
    if stop is not None and stop():
        raise Stopped  # asked to stop before it started: nothing to keep
    watch = Watch(
        state=state,
        jobs=[job.identity for job in group],
        every=every,
        stop=stop or (lambda: False),
        progress=(lambda n: progress(index, n)) if progress else (lambda n: None),
        prune=None if pruning is None else pruning.for_jobs(group),
    )
    return run(group, threads=threads, watch=watch)


def _paced(send, seconds: float = 0.25):
    """``send(i, n)`` at most every ``seconds``, with what was held back added in."""
    held = {"n": 0, "at": time.monotonic()}

    def paced(i: int, n: int) -> None:
        held["n"] += n
        if time.monotonic() - held["at"] >= seconds:
            send(i, held["n"])
            held.update(n=0, at=time.monotonic())

    return paced


def _on_ray(tasks: list[tuple], ray_init: dict) -> Iterator[tuple[list, list[dict]]]:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(**ray_init)
    try:
        task = ray.remote(num_cpus=1)(run_group)
        pending = {task.remote(*t, index=i): i for i, t in enumerate(tasks)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(ready[0]), ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def _on_submitit(
    tasks: list[tuple], options: dict, sweep_dir: Path
) -> Iterator[tuple[list, list[dict]]]:
    import submitit

    params = dict(options)
    executor = submitit.AutoExecutor(
        folder=sweep_dir / ".submitit" / "%j", cluster=params.pop("cluster", None)
    )
    executor.update_parameters(**params)
    columns = [list(x) for x in zip(*tasks)] if tasks else [[], [], [], [], []]
    for i, job in enumerate(executor.map_array(run_group, *columns)):
        yield i, job.result()
