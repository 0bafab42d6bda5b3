"""The stacked launcher's work: plan the stacks, run them, and report as they finish."""

# No `from __future__ import annotations` (see config.py).
import dataclasses
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

log = logging.getLogger("mlplab.sweep")  # one line per job, into the sweep's sweep.log
LOG_FILE = "sweep.log"


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

    @property
    def stacks(self) -> list[list]:
        """The groups of several jobs, trained together by fit_many."""
        return [group for group in self.groups if len(group) > 1]

    @property
    def alone(self) -> list:
        """The jobs trained by themselves with fit."""
        return [group[0] for group in self.groups if len(group) == 1]


def make_plan(jobs: list, max_models: int, cores: int) -> Plan:
    """Skip the complete jobs, set the invalid ones aside, and plan the rest by cost.

    A job is complete when its folder holds a completed result of its identity (its
    composed config and its data file's fingerprint, ``results.identity``); one made under
    another identity is stale: planned to run again (``launch`` moves its folder aside).
    ``mlplab.grouping.plan`` prices the stacks from the data's shape (read once per
    dataset), stacks where that is cheaper, and cuts the work for ``cores`` workers.
    Per-epoch layer statistics (``trainer.layer_stats_every``) need fit's own loop.
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
    settings = [job.settings for job in todo]
    shapes = {}
    for s in settings:
        if s.dataset not in shapes:
            found = shape_of(s.dataset)
            shapes[s.dataset] = grouping.Shape(*found) if found else None
    memory = grouping.available_memory() / max(1, cores)
    units = grouping.plan(settings, shapes, cores, max_models, memory)
    plan.groups = [[todo[i] for i in unit] for unit in units] + alone
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
    plan = make_plan(jobs, launcher.max_models, worker_count(launcher))
    configs.sweep_dir.mkdir(parents=True, exist_ok=True)
    for job in plan.stale:  # kept, not overwritten: the same command runs them anew
        move_aside(job.run_dir, configs.sweep_dir)
    results = {
        job.num: {**read_result(job.run_dir), "run_dir": str(job.run_dir)} for job in plan.done
    }
    invalid = [record_invalid(job) for job in plan.invalid]
    log_group(plan.invalid, invalid)  # the loggers hear of the jobs that never ran too
    results.update((job.num, result) for job, result in zip(plan.invalid, invalid))
    fail_fast = bool(launcher.config.sweep.get("fail_fast", False))
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
            results.update(run(launcher, groups, plan.threads, workers, fail_fast))
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
    return (
        f"{n} job{'s' if n != 1 else ''}: {len(plan.done)} complete (skipped{older}){stale}, "
        f"{len(plan.invalid)} invalid, {in_stacks}, {len(plan.alone)} alone; on {where}"
    )


def describe(launcher, job_overrides: Sequence[Sequence[str]]) -> str:
    """The plan as text: the counts, then one line per unit of work (what it shares, its
    widths, and why: its estimated time, padding and threads)."""
    jobs = job_configs(launcher).jobs(job_overrides, 0)
    plan = make_plan(jobs, launcher.max_models, worker_count(launcher))
    workers = min(worker_count(launcher), max(1, len(plan.groups)))
    lines = [summary_line(plan, workers, launcher.groups_on)]
    for i, (group, price, threads) in enumerate(zip(plan.groups, plan.why, plan.threads)):
        s = group[0].settings
        cost = (f"~{price.seconds:.2g} s, {price.padding:.0%} padding, "
                f"{'arithmetic' if price.arithmetic >= 0.5 else 'overhead'}-bound, "
                f"{threads} thread{'s' if threads > 1 else ''}")  # fmt: skip
        widths = sorted({max(j.settings.model.hidden, default=0) for j in group})
        shown = ", ".join(map(str, widths[:8])) + (", ..." if len(widths) > 8 else "")
        what = f"{len(group)} models" if len(group) > 1 else "alone"
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


def run(
    launcher, groups: list[list], threads: list[int], workers: int, fail_fast: bool
) -> dict[int, dict]:
    """Run the groups (each on its ``threads``); record each finished job on the progress
    bar and in the log.

    With ``fail_fast``, stop launching groups once one has a job that did not complete.
    """
    from mlplab.progress import ProgressBar

    results: dict[int, dict] = {}
    failed = 0
    bar = ProgressBar(total=sum(map(len, groups)), unit="job", desc="sweep", dynamic_ncols=True,
                      disable=None, postfix={"failed": 0})  # fmt: skip
    done = _each_done(launcher, list(zip(groups, threads)), workers)
    try:
        for group, outcome in done:
            for job, result in zip(group, outcome):
                results[job.num] = result
                failed += result["status"] != "completed"
                log.info(f"#{job.num} {result['status']}: {' '.join(job.overrides)}"
                         + (f": {result['error']}" if result.get("error") else ""))  # fmt: skip
            bar.set_postfix(failed=failed, refresh=False)
            bar.update(len(group))
            if fail_fast and failed:
                break
    finally:
        done.close()  # stops the workers if the loop ended early
        bar.close()
    return results


PLACES = ("local", "ray", "submitit")


def _each_done(launcher, tasks: list[tuple], workers: int) -> Iterator[tuple[list, list[dict]]]:
    """(group, its results) for every (group, threads), as they finish, wherever they run."""
    if launcher.groups_on == "ray":
        yield from _on_ray(tasks, launcher.options["ray_init"])
    elif launcher.groups_on == "submitit":
        sweep_dir = launcher.jobs.sweep_dir
        yield from _on_submitit(tasks, launcher.options["submitit"], sweep_dir)
    elif workers == 1:
        for group, threads in tasks:
            yield group, run_group(group, threads)
    else:
        yield from _on_pool(tasks, workers)


def _on_pool(tasks: list[tuple], workers: int) -> Iterator[tuple[list, list[dict]]]:
    """The groups on a pool of forked processes (they start with torch loaded).

    A worker that dies (killed, out of memory) breaks the pool: the groups it left
    unfinished run here afterwards. Ctrl-C or an error here ends every worker.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # Imported here, before the fork, so that every worker starts with torch loaded (two
    # processes importing torch at once take ~3 s each here; a fork takes milliseconds).
    import mlplab.job  # noqa: F401

    # Fork starts a worker in milliseconds with torch loaded; but a lock that another
    # thread holds at the fork stays held in the child, so with threads alive (a notebook's
    # kernel) the workers come from a fork server (each imports torch once).
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")
    # What Python's gc docs advise before fork(): the objects alive now (torch's among them)
    # move to a permanent generation, so no collection in a worker writes to their pages
    # (copy-on-write) and none in this process walks them again, at exit either (~0.3 s
    # of a 50-job sweep's ~3.5 s here, scripts/bench_sweep.py).
    gc.freeze()
    pool = ProcessPoolExecutor(workers, context, initializer=_worker_start)
    left = []
    try:
        futures = {pool.submit(run_group, *task): task for task in tasks}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                left.append(futures[future])
                continue
            yield futures[future][0], outcome
    except GeneratorExit:  # the caller stops early (sweep.fail_fast): let running ones end
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:  # Ctrl-C, or a bug: end every worker now
        for child in multiprocessing.active_children():
            child.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    if left:
        log.warning(f"a worker process died; running its {len(left)} groups here")
        for group, threads in left:
            yield group, run_group(group, threads)


def _worker_start() -> None:
    """In each worker: Ctrl-C and SIGTERM are the launching process's to handle; it ends
    when its parent ends, even by SIGKILL, so a killed sweep leaves nothing writing while
    the same command resumes it (Linux's PR_SET_PDEATHSIG; a fork server ends with the
    launching process too)."""
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # sent to the group too (scancel): ours
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent was gone before the line above
        os.kill(os.getpid(), signal.SIGKILL)


def run_group(group: list, threads: int = 1) -> list[dict]:
    """``mlplab.job.run_group``, imported where the group runs: in a worker, a Ray task or a
    submitit job. This process never imports torch for the jobs it hands out."""
    from mlplab.job import run_group as run

    return run(group, threads=threads)


def _on_ray(tasks: list[tuple], ray_init: dict) -> Iterator[tuple[list, list[dict]]]:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(**ray_init)
    try:
        task = ray.remote(num_cpus=1)(run_group)
        pending = {task.remote(group, threads): group for group, threads in tasks}
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
    groups, threads = [list(x) for x in zip(*tasks)] if tasks else ([], [])
    for group, job in zip(groups, executor.map_array(run_group, groups, threads)):
        yield group, job.result()
