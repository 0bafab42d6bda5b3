"""``hydra/launcher=stacked``: a sweep's compatible jobs trained together with ``fit_many``.

Most sweep jobs are tiny, so a job costs its per-step overhead, not its arithmetic.
This launcher composes every job's config first, groups the jobs that can share one
stacked model (``mlplab.stacked.stack_groups``: same depth, data, loss, optimizer,
batch size and epochs), and trains each group of two or more with one ``fit_many``
call. Then every job goes through Hydra's own ``run_job``, one after another, exactly
as with the basic launcher (``.hydra/`` files, logging, callbacks, the job's return);
a job trained in a group writes its folder from the stored result instead of
training again. Jobs already completed, jobs whose config is invalid and jobs that do
not stack simply run (or are skipped, or recorded as failed) the usual way.
"""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module
# before it is in sys.modules, and dataclasses cannot resolve string annotations then.
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional  # noqa: UP035  (see the note on imports)

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class StackedLauncherConf:
    _target_: str = "hydra_plugins.mlplab_launcher.stacked_launcher.StackedLauncher"
    max_models: int = 256  #: largest stack; beyond a few hundred tiny models it stops paying
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
        self, max_models: int = 256, groups_on: str = "local", ray_init=None, submitit=None
    ) -> None:
        from mlplab.settings import choose

        self.max_models = max_models
        self.groups_on = choose("hydra.launcher.groups_on", groups_on, RUN_GROUPS)
        self.options = {"ray_init": ray_init or {}, "submitit": submitit or {}}
        self.config: Optional[DictConfig] = None  # noqa: UP045  (see the note on imports)
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.id = cfg.hydra.job.num = idx
            configs.append(cfg)
        pretrained, groups = pretrain(configs, self.max_models, self.groups_on, self.options)
        log.info(
            f"Launching {len(configs)} jobs, {pretrained} of them trained in {groups} stacked groups ({self.groups_on})"
        )
        runs = []
        for idx, cfg in enumerate(configs, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(cfg.hydra.overrides.task))}")
            runs.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=cfg,
                                job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))  # fmt: skip
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs


def job_dir(cfg: DictConfig) -> Path:
    """The folder ``run_job`` will give this job (as ``hydra.runtime.output_dir``)."""
    return Path(
        os.path.abspath(os.path.join(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir)))
    )


def pretrain(
    configs: list[DictConfig], max_models: int, groups_on: str = "local", options=None
) -> int:
    """Train the stackable jobs group by group; park each result for its job.

    Returns (jobs trained, groups trained).

    ``groups_on``: where each group trains, as one task: ``local`` (this process),
    ``ray`` (a Ray task each; ``options.ray_init`` goes to ``ray.init``) or ``submitit``
    (one job of a submitit job array each; ``options.submitit`` sets the executor).
    """
    from mlplab import job, settings, stacked
    from mlplab.results import is_complete

    todo: list[tuple[Path, settings.RunSettings]] = []
    for cfg in configs:
        run_dir = job_dir(cfg)
        if is_complete(run_dir):
            continue  # resume: the job will be skipped
        task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        try:
            s = settings.from_config(task_cfg)
        except Exception:
            continue  # an invalid job is recorded as failed by its own run
        if not s.trainer.layer_stats_every:  # per-epoch layer statistics need fit's loop
            todo.append((run_dir, s))
    groups = [
        [todo[i] for i in g]
        for g in stacked.stack_groups([s for _, s in todo], max_models)
        if len(g) > 1
    ]
    if not groups:
        return 0, 0  # nothing to share: every job trains with fit
    sweep_dir = Path(str(configs[0].hydra.sweep.dir))
    outcomes = RUN_GROUPS[groups_on]([[s for _, s in g] for g in groups], options or {}, sweep_dir)
    count = 0
    for members, outcome in zip(groups, outcomes):
        if isinstance(
            outcome, BaseException
        ):  # the jobs fall back to fit and record their own errors
            log.warning(
                f"stacked group of {len(members)} failed ({type(outcome).__name__}: {outcome}); running them one by one"
            )
            continue
        for (run_dir, _), fitted in zip(members, outcome):
            job.PRETRAINED[run_dir] = fitted
        count += len(members)
    return count, len(groups)


def _caught(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        return exc


def _groups_here(groups, options, sweep_dir):
    from mlplab.stacked import train_group

    return [_caught(train_group, g) for g in groups]


def _groups_on_ray(groups, options, sweep_dir):
    import ray

    from mlplab.stacked import train_group

    started = not ray.is_initialized()
    if started:
        ray.init(**OmegaConf.to_container(options.get("ray_init", {}) or {}))
    try:
        task = ray.remote(num_cpus=1)(train_group)
        futures = [task.remote(g) for g in groups]
        return [_caught(ray.get, f) for f in futures]
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
    return [_caught(j.result) for j in jobs]


RUN_GROUPS = {"local": _groups_here, "ray": _groups_on_ray, "submitit": _groups_on_submitit}
