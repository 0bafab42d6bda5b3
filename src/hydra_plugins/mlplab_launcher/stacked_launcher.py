"""``hydra/launcher=stacked``: a sweep's jobs run as stacks of models trained together.

Most sweep jobs are tiny, so a job costs what is done around it, not its arithmetic. This
launcher makes the stack, not the job, the unit of work: it composes the batch's jobs
(``mlplab.compose.JobConfigs``: once per set of config-group choices), skips those already
complete, groups the rest into stacks that ``mlplab.stacked.fit_many`` trains as one model
(same depth, data, loss, optimizer, batch size and epochs; widths, seeds, inits and
learning rates free), and hands each stack to ``mlplab.job.run_group``, which trains it,
measures it in batched passes and writes its job folders in bulk. Stacks run on this
machine's cores through a standard process pool, or each as one Ray task or submitit job
(``groups_on``). See ``_core.py``.
"""

from collections.abc import Sequence
from typing import Optional  # noqa: UP035  (see config.py)

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from mlplab.grouping import MAX_MODELS

from . import _core
from .config import StackedLauncherConf  # noqa: F401  (registers hydra/launcher=stacked)


class StackedLauncher(Launcher):
    def __init__(
        self,
        max_models: int = MAX_MODELS,
        workers: Optional[int] = None,  # noqa: UP045
        groups_on: str = "local",
        save_every: float = 60.0,
        ray_init=None,
        submitit=None,
    ) -> None:
        from mlplab.settings import ConfigError, choose

        self.max_models = max_models
        self.groups_on = choose("hydra.launcher.groups_on", groups_on, _core.PLACES)
        if workers is not None and workers < 1:
            raise ConfigError(
                f"hydra.launcher.workers={workers}: give a positive number of processes, "
                "or null for one per core."
            )
        self.workers = workers
        if save_every < 0:
            raise ConfigError(
                f"hydra.launcher.save_every={save_every}: give the seconds between saves of a "
                "running stack's state, or 0 to save it only when the sweep is stopped."
            )
        self.save_every = save_every
        self.options = {"ray_init": dict(ray_init or {}), "submitit": dict(submitit or {})}
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.jobs = None  # mlplab.compose.JobConfigs, made at the first launch
        self.pruning = None  # an Optuna search's Pruning for the next batch

    #: a sweep with sweep.fail_fast may hand it the whole grid: it stops launching stacks itself
    stops_part_way = True

    def share(self, jobs) -> None:
        """Take a sweeper's ``mlplab.compose.JobConfigs``: the jobs it composed are not composed
        again."""
        self.jobs = jobs

    def prune_with(self, pruning) -> None:
        """Have the next batch's stacks report to a search's trials and leave when its pruner
        says so (``pruning.for_jobs(jobs)`` gives a stack's ``stacked.Watch.prune``)."""
        self.pruning = pruning

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        return _core.launch(self, job_overrides, initial_job_idx)

    def describe(self, job_overrides: Sequence[Sequence[str]]) -> str:
        """What launching these jobs would do (``sweep.plan=true``), launching nothing."""
        return _core.describe(self, job_overrides)
