"""``hydra/launcher=stacked``: a sweep's compatible jobs trained together with ``fit_many``.

Most sweep jobs are tiny, so a job costs its per-step overhead, not its arithmetic.
This launcher

1. composes every job's config (``mlplab.compose.ComposeOnce``: once per set of
   config-group choices, shared with the sweeper's own check of the batch);
2. groups the jobs that can share one stacked model (``mlplab.stacked.stack_groups``:
   same depth, data, loss, optimizer, batch size and epochs) and trains each group of
   two or more with one ``fit_many`` call, as one task: in worker processes forked
   from this one (``workers``, default one per core), on Ray, or as submitit jobs
   (``groups_on``);
3. runs every job through ``run_job`` (Hydra's own, less its redundant work), as the
   basic launcher does (``.hydra/`` files, logging, callbacks, the job's return). A
   job trained in step 2 writes its folder from the stored result instead of training
   again; jobs already completed are skipped, invalid ones recorded as failed, and
   jobs that do not stack train with ``fit``.

With workers (:meth:`StackedLauncher.train_and_run_forked`), each worker trains a
group and then writes job folders, its own group's first, then any other trained
group's, taking work from counters they share. Worker processes are forked, so they
start in milliseconds with torch and the composed configs already loaded; nothing is
sent to them, and only the jobs' returns come back. Forking is used on Linux only,
never when a job may use CUDA, and not under ``sweep.fail_fast`` (which runs the jobs
in order, in one process).
"""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module
# before it is in sys.modules, and dataclasses cannot resolve string annotations then.
import functools
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional  # noqa: UP035  (see the note on imports)

import yaml
from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf._utils import OmegaConfDumper, get_omega_conf_dumper

from mlplab.workers import Claims, WorkerDied, can_fork, caught, cores, fork_each

log = logging.getLogger(__name__)


@dataclass
class StackedLauncherConf:
    _target_: str = "hydra_plugins.mlplab_launcher.stacked_launcher.StackedLauncher"
    max_models: int = 256  #: largest stack; beyond a few hundred tiny models it stops paying
    #: processes that train the groups and write the job folders (null: one per core; Linux)
    workers: Optional[int] = None  # noqa: UP045
    groups_on: str = (
        "local"  #: where each stacked group trains, as one task: local | ray | submitit
    )
    ray_init: dict[str, Any] = field(default_factory=dict)  #: ray.init kwargs (groups_on=ray)
    #: submitit.AutoExecutor: cluster (local | slurm | None = auto) and update_parameters kwargs
    submitit: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/launcher", name="stacked", node=StackedLauncherConf, provider="mlplab"
)


class StackedLauncher(Launcher):
    def __init__(
        self,
        max_models: int = 256,
        groups_on: str = "local",
        workers: Optional[int] = None,  # noqa: UP045  (see the note on imports)
        ray_init=None,
        submitit=None,
    ) -> None:
        from mlplab.settings import choose

        self.max_models = max_models
        self.groups_on = choose("hydra.launcher.groups_on", groups_on, RUN_GROUPS)
        if workers is not None and workers < 1:
            from mlplab.settings import ConfigError

            raise ConfigError(
                f"hydra.launcher.workers={workers}: give a positive number of processes, or null for one per core."
            )
        self.workers = workers
        self.options = {"ray_init": ray_init or {}, "submitit": submitit or {}}
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from mlplab.compose import ComposeOnce

        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        # The sweeper holds this same context: its check of each batch and our launch
        # then share one composition per job (see mlplab.compose).
        if not isinstance(hydra_context.config_loader, ComposeOnce):
            hydra_context.config_loader = ComposeOnce(hydra_context.config_loader)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            cfg = self.hydra_context.config_loader.take(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.id = cfg.hydra.job.num = idx
            configs.append(cfg)
        workers = worker_count(self.workers, configs)
        groups = plan(configs, self.max_models)
        log.info(
            f"Launching {len(configs)} jobs, {sum(len(g.jobs) for g in groups)} of them trained in "
            f"{len(groups)} stacked groups ({self.groups_on}), in {workers} process{'es' if workers > 1 else ''}"
        )
        if self.groups_on == "local" and workers > 1 and can_fork():
            runs = self.train_and_run_forked(configs, groups, workers)
        else:
            runs = self.train_then_run(configs, groups)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs

    def train_then_run(self, configs: list[DictConfig], groups: list["Group"]) -> list[JobReturn]:
        """In this process: train every group (or on Ray, or as submitit jobs), then run
        every job through run_job in order: a trained job writes its folder from its
        group's result, any other job trains with ``fit``."""
        from mlplab.job import PRETRAINED

        settings = [g.settings for g in groups]
        if self.groups_on == "local":
            from mlplab.stacked import train_group

            outcomes = [caught(train_group, s) for s in settings]
        else:
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            outcomes = RUN_GROUPS[self.groups_on](settings, self.options, sweep_dir)
        for group, outcome in zip(groups, outcomes):
            park(configs, group, outcome)
        try:
            return self.run_jobs(configs, range(len(configs)))
        finally:
            PRETRAINED.clear()  # anything left belonged to jobs that did not run here

    def train_and_run_forked(
        self, configs: list[DictConfig], groups: list["Group"], workers: int
    ) -> list[JobReturn]:
        """The same work over forked workers, each taking what no other has taken yet.

        A worker trains a group (the biggest first), then runs the jobs that stack
        with nothing (``fit``), then writes job folders: its own group's first, then
        those of groups other workers trained (their results reach it through a
        pickle), so that no worker waits for all training to end, and none idles while
        folders are left. Work a dead worker took runs here afterwards.
        """
        import pickle
        import shutil
        import tempfile
        import time

        from mlplab.job import PRETRAINED
        from mlplab.results import atomic_write
        from mlplab.stacked import train_group

        grouped = {i for g in groups for i in g.jobs}
        alone = [i for i in range(len(configs)) if i not in grouped]
        n = len(groups)
        # counters: 0 next group to train, 1 next job alone; 2+g group g's state
        # (0 training, 1 trained, 2 failed, 3 lost with its worker); 2+n+g next job of
        # group g to write; 2+2n+g 1 + the rank of the worker training group g
        claims = Claims(2 + 3 * n)
        trainer = 2 + 2 * n
        folder = Path(tempfile.mkdtemp(prefix="mlplab-groups-"))  # the groups' results

        def fitted(g: int, mine: dict) -> list:
            if g not in mine:
                mine[g] = pickle.loads((folder / f"{g}.pkl").read_bytes())
            return mine[g]

        def work(rank: int) -> dict[int, tuple[JobReturn, str]]:
            runs: dict[int, tuple[JobReturn, str]] = {}
            mine: dict[int, list] = {}  # the groups' results this worker holds
            while (g := claims.take(0, n, owner=trainer, stamp=rank + 1)) is not None:
                outcome = caught(train_group, groups[g].settings)
                if isinstance(outcome, BaseException):
                    park(configs, groups[g], outcome)  # says so; the jobs train with fit
                    claims.put(2 + g, 2)
                    continue
                data = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
                atomic_write(folder / f"{g}.pkl", lambda tmp, data=data: tmp.write_bytes(data))
                mine[g] = outcome
                claims.put(2 + g, 1)
            while (k := claims.take(1, len(alone))) is not None:
                runs[alone[k]] = pack(self.run_jobs(configs, [alone[k]])[0])
            while True:
                order = [*mine, *(g for g in range(n) if g not in mine)]
                state = [claims.get(2 + g) for g in range(n)]
                for g in order:
                    if (
                        state[g] in (0, 3)
                        or (k := claims.take(2 + n + g, len(groups[g].jobs))) is None
                    ):
                        continue  # training, lost (left for this process), or all taken
                    i = groups[g].jobs[k]
                    if state[g] == 1:
                        PRETRAINED[job_dir(configs[i])] = fitted(g, mine)[k]
                    runs[i] = pack(self.run_jobs(configs, [i])[0])
                    break
                else:  # nothing to take now: done, or wait for a group still training
                    if 0 not in state:
                        return runs
                    time.sleep(0.002)

        def lost(rank: int) -> None:  # a worker died: nobody waits for what it was training
            for g in range(n):
                if claims.get(trainer + g) == rank + 1 and claims.get(2 + g) == 0:
                    claims.put(2 + g, 3)

        runs: dict[int, JobReturn] = {}
        try:
            for outcome in fork_each(work, workers, _before_the_tables, on_death=lost):
                if isinstance(outcome, WorkerDied):
                    log.warning(f"a worker process died ({outcome}); running its work here")
                elif isinstance(outcome, BaseException):
                    raise outcome  # run_job returns a job's own failure: this is ours
                else:
                    runs.update((i, unpack(configs[i], *packed)) for i, packed in outcome.items())
            left = [i for i in range(len(configs)) if i not in runs]
            for g, group in enumerate(groups):  # whose jobs a dead worker took
                if any(i in left for i in group.jobs):
                    state = claims.get(2 + g)
                    if state == 1:  # trained: the results are on file
                        park(configs, group, pickle.loads((folder / f"{g}.pkl").read_bytes()))
                    elif state != 2:  # lost with its worker: train it again (failed: fit)
                        park(configs, group, caught(train_group, group.settings))
            runs.update(zip(left, self.run_jobs(configs, left)))
        finally:
            PRETRAINED.clear()
            shutil.rmtree(folder, ignore_errors=True)
        return [runs[i] for i in range(len(configs))]

    def run_jobs(self, configs: list[DictConfig], jobs: range) -> list[JobReturn]:
        """Run these jobs one after another with run_job, as the basic launcher does."""
        runs = []
        for i in jobs:
            cfg = configs[i]
            log.info(
                f"\t#{cfg.hydra.job.num} : {' '.join(filter_overrides(cfg.hydra.overrides.task))}"
            )
            runs.append(run_job(self.hydra_context, self.task_function, cfg))
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs


def run_job(
    hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
) -> JobReturn:
    """Hydra's ``hydra.core.utils.run_job`` for a sweep job, minus its redundant work.

    The same steps in the same order (folder, ``.hydra/`` files, job logging, env,
    callbacks, the task, the return), but the config is deep-copied once, not four
    times: HydraConfig is given the job's own (read-only) Hydra node, as
    ``HydraConfig.set_config`` would give a copy of it, and then the output folder;
    the returned Hydra config is that same object; the task's config is copied
    without the Hydra node. The ``.hydra/`` files are written with libyaml where that
    gives the same bytes (:func:`save_config`). That is ~16 of the ~29 ms Hydra's own
    takes per job here. ``tests/test_launchers.py`` checks each job folder against the
    basic launcher's: the same files, ``config.yaml`` byte for byte, and ``hydra.yaml``
    and ``overrides.yaml`` equal but for the launcher's own entries and the folder.
    """
    import copy

    from hydra import version
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobRuntime, JobStatus, _flush_loggers, env_override
    from omegaconf.nodes import AnyNode

    callbacks = hydra_context.callbacks
    old_cwd = os.getcwd()
    orig_hydra_cfg = HydraConfig.instance().cfg
    hydra_cfg = hydra_view(config)
    HydraConfig.instance().cfg = hydra_cfg  # the folder may interpolate ${hydra:...}
    output_dir = os.path.join(
        str(OmegaConf.select(config, "hydra.sweep.dir")),
        str(OmegaConf.select(config, "hydra.sweep.subdir")),
    )
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    _chdir = None
    try:
        ret = JobReturn()
        # a deep copy without the Hydra node: the copy sees a placeholder there, then drops it
        task_cfg = copy.deepcopy(config, {id(config._get_node("hydra")): AnyNode(None)})
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        ret.cfg = task_cfg
        ret.hydra_cfg = hydra_cfg
        ret.overrides = OmegaConf.to_container(config.hydra.overrides.task)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        _chdir = hydra_cfg.hydra.job.chdir
        if _chdir is None:
            _chdir = not version.base_at_least("1.2")
        if _chdir:
            os.chdir(output_dir)
            ret.working_dir = output_dir
        else:
            ret.working_dir = os.getcwd()
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            save_config(task_cfg, "config.yaml", hydra_output)
            save_config(hydra_cfg, "hydra.yaml", hydra_output)
            save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        with env_override(hydra_cfg.hydra.job.env_set):
            callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        callbacks.on_job_end(config=config, job_return=ret)
        return ret
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg
        if _chdir:
            os.chdir(old_cwd)


def pack(ret: JobReturn) -> tuple[JobReturn, str]:
    """A worker's JobReturn to send back, less its Hydra config, and the job's folder.

    The Hydra config would pickle the whole job config a second time (its node's parent
    is the job config); :func:`unpack` rebuilds the same view from the launching
    process's own copy of that config.
    """
    output_dir = ret.hydra_cfg.hydra.runtime.output_dir
    ret.hydra_cfg = None
    return ret, output_dir


def unpack(config: DictConfig, ret: JobReturn, output_dir: str) -> JobReturn:
    """The JobReturn :func:`pack` sent, whole again: ``config`` as run_job left it, viewed."""
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = output_dir
    ret.hydra_cfg = hydra_view(config)
    return ret


def hydra_view(config: DictConfig) -> DictConfig:
    """What ``HydraConfig.set_config(config)`` makes, without its deep copy of ``hydra``.

    Hydra sets ``config.hydra`` read-only, then keeps a config whose only key is a
    copy of that node, re-parented to ``config`` so that ``${...}`` in it resolves
    against the whole config. Here the key holds the node itself, whose parent is
    already ``config``: the same view, and nothing in it can change.
    """
    OmegaConf.set_readonly(config.hydra, True)
    view = OmegaConf.create({})
    view.__dict__["_content"]["hydra"] = config._get_node("hydra")
    return view


def save_config(cfg: DictConfig, filename: str, output_dir: Path) -> None:
    """Hydra's ``_save_config``: ``OmegaConf.to_yaml(cfg)`` to ``output_dir/filename``.

    libyaml's emitter (``yaml.CDumper``) writes it ~6x faster, and byte for byte the
    same wherever PyYAML would write no double-quoted string (libyaml folds long ones
    elsewhere) and every string is printable ASCII (the two differ on some control
    characters and Unicode) and no key is empty, multi-line or long (they differ on
    when to write ``? key``). Anything else goes through OmegaConf's own dumper.
    """
    container = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    fast = _FAST_DUMPER is not None and _libyaml_same(container)
    text = yaml.dump(
        container,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        Dumper=_FAST_DUMPER if fast else get_omega_conf_dumper(),
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / filename, "w", encoding="utf-8") as file:
        file.write(text)


def _libyaml_same(obj: Any, key: bool = False) -> bool:
    """Do PyYAML and libyaml write this container identically (see :func:`save_config`)?"""
    if isinstance(obj, str):
        return _libyaml_same_string(obj, key)
    if isinstance(obj, dict):
        return all(_libyaml_same(k, key=True) and _libyaml_same(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_libyaml_same(v) for v in obj)
    return True


@functools.lru_cache(maxsize=4096)  # a sweep's jobs repeat nearly all their strings
def _libyaml_same_string(text: str, key: bool) -> bool:
    if not text.isascii() or not text.replace("\n", "").isprintable():
        return False
    if key and ("\n" in text or not 0 < len(text) <= 100):
        return False
    return _ANALYZER.analyze_scalar(text).allow_single_quoted  # else PyYAML double-quotes it


def _fast_dumper():
    """OmegaConf's YAML dumper on libyaml's emitter; None where PyYAML was built without it."""
    if not hasattr(yaml, "CDumper"):
        return None
    dumper = type("OmegaConfCDumper", (yaml.CDumper,), {})
    dumper.add_representer(str, OmegaConfDumper.str_representer)
    return dumper


_FAST_DUMPER = _fast_dumper()
_ANALYZER = yaml.emitter.Emitter(io.StringIO())  # PyYAML's own scalar analysis


@dataclass
class Group:
    """Jobs that train as one stacked model: their indices into the launch, and settings."""

    jobs: list[int]
    settings: list[Any]  #: RunSettings, one per job


def _before_the_tables() -> None:
    """Import matplotlib (~0.4 s) while the workers write: the sweep's figures come next.

    Unless a process started with the sweep has imported it (mlplab.workers.Ahead).
    """
    from mlplab.workers import AHEAD

    if "mlplab.plots" not in AHEAD:
        import mlplab.plots  # noqa: F401


def worker_count(asked: Optional[int], configs: list[DictConfig]) -> int:  # noqa: UP045
    """How many processes share the work: ``asked``, or one per usable core (null).

    1 (this process only) under ``sweep.fail_fast`` (jobs run in order, so nothing
    starts after the first failure), and where forking is not safe: outside Linux, and
    wherever a job may use CUDA (a CUDA context does not survive a fork).
    """
    if not can_fork() or any(
        OmegaConf.select(c, "sweep.fail_fast", default=False) for c in configs
    ):
        return 1
    import torch

    if torch.cuda.is_initialized() or (
        torch.backends.cuda.is_built()
        and any(OmegaConf.select(c, "trainer.device", default="cpu") != "cpu" for c in configs)
    ):
        return 1
    return asked or cores()


def job_dir(cfg: DictConfig) -> Path:
    """The folder ``run_job`` will give this job (as ``hydra.runtime.output_dir``)."""
    return Path(
        os.path.abspath(os.path.join(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir)))
    )


def plan(configs: list[DictConfig], max_models: int) -> list[Group]:
    """The stacked groups of two or more jobs, biggest first; every other job runs alone.

    Jobs already complete (resume), jobs whose config is invalid (their own run records
    why) and jobs that cannot stack are left out: they run with ``fit`` as usual.
    """
    from mlplab import settings, stacked
    from mlplab.results import is_complete

    todo: list[tuple[int, settings.RunSettings]] = []
    for i, cfg in enumerate(configs):
        if is_complete(job_dir(cfg)):
            continue  # resume: the job will be skipped
        try:
            s = settings.from_config(cfg)  # reads the task's keys only, not cfg.hydra
        except Exception:
            continue  # an invalid job is recorded as failed by its own run
        if not s.trainer.layer_stats_every:  # per-epoch layer statistics need fit's loop
            todo.append((i, s))
    groups = [
        Group([todo[i][0] for i in g], [todo[i][1] for i in g])
        for g in stacked.stack_groups([s for _, s in todo], max_models)
        if len(g) > 1
    ]
    return sorted(groups, key=lambda g: -len(g.jobs))  # the biggest first: workers end together


def park(configs: list[DictConfig], group: Group, outcome) -> None:
    """Leave each job's FitResult where mlplab.job.run_job looks for it (or say why not)."""
    from mlplab.job import PRETRAINED

    if isinstance(outcome, BaseException):  # the jobs fall back to fit, record their own errors
        log.warning(
            f"stacked group of {len(group.jobs)} failed ({type(outcome).__name__}: {outcome}); running them one by one"
        )
        return
    for i, fitted in zip(group.jobs, outcome):
        PRETRAINED[job_dir(configs[i])] = fitted


def _groups_on_ray(groups, options, sweep_dir):
    import ray

    from mlplab.stacked import train_group

    started = not ray.is_initialized()
    if started:
        ray.init(**OmegaConf.to_container(options.get("ray_init", {}) or {}))
    try:
        task = ray.remote(num_cpus=1)(train_group)
        futures = [task.remote(g) for g in groups]
        return [caught(ray.get, f) for f in futures]
    finally:
        if started:
            ray.shutdown()


def _groups_on_submitit(groups, options, sweep_dir):
    import submitit

    from mlplab.stacked import train_group

    params = dict(OmegaConf.to_container(options.get("submitit", {}) or {}))
    executor = submitit.AutoExecutor(
        folder=sweep_dir / ".submitit" / "%j", cluster=params.pop("cluster", None)
    )
    executor.update_parameters(**params)
    jobs = executor.map_array(train_group, groups)
    return [caught(j.result) for j in jobs]


RUN_GROUPS = {
    "local": None,
    "ray": _groups_on_ray,
    "submitit": _groups_on_submitit,
}  # local: map_forked
