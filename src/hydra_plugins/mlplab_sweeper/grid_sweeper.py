"""``hydra/sweeper=grid``: mlplab's default sweeper, Hydra's grid with mlplab's bookkeeping.

It expands the same grid as Hydra's basic sweeper (``a=1,2 b=range(3)``, and
``hydra.sweeper.params``), then, before anything runs: composes every job once per set
of config-group choices (an unknown group or a value of the wrong type stops the sweep
with one line; so does a value every job refuses), and with ``sweep.plan=true`` only
prints what the launcher would do. It hands the whole grid to the launcher as one batch
(so the stacked launcher can stack it all), records every job in the sweep folder's
``jobs.jsonl``, and writes the tables when the jobs are done, or when the sweep stops
early (``sweep.fail_fast``, a crash). With a launcher that runs jobs one by one (basic,
joblib, submitit, ray), ``sweep.fail_fast`` hands it one job at a time.
"""

from collections.abc import Sequence
from typing import Any, Optional  # noqa: UP035  (see config.py)

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import GridSweeperConf  # noqa: F401  (registers hydra/sweeper=grid)


class GridSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params=None) -> None:  # noqa: UP045
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.launcher = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from mlplab import lifecycle
        from mlplab.compose import JobConfigs, expand_grid

        grid = expand_grid([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        configs = JobConfigs(self.hydra_context.config_loader, self.config)
        jobs = configs.jobs(grid)
        if hasattr(self.launcher, "share"):  # it composes the same jobs: share what is composed
            self.launcher.share(configs)
        lifecycle.check_jobs(jobs)
        if configs.sweep.plan:
            print(self.describe(grid, jobs))
            return None
        from mlplab.loggers import check_servers

        check_servers([job.settings for job in jobs])  # a server that is down: before anything
        sweep_dir = lifecycle.start_sweep(self.config, jobs)
        fail_fast = configs.sweep.fail_fast
        size = self.max_batch_size or len(grid)
        if fail_fast and not getattr(self.launcher, "stops_part_way", False):
            size = 1  # a launcher that cannot stop part-way gets one job at a time
        returns: list = []
        from mlplab.plots import sweep_figures

        with lifecycle.finishing(sweep_dir, configs.sweep, sweep_figures) as finish:
            for first in range(0, len(grid), size):
                returns += self.launcher.launch(grid[first : first + size], initial_job_idx=first)
                finish.stopped = lifecycle.first_failure(returns) if fail_fast else None
                if finish.stopped:
                    break
        return returns

    def describe(self, grid: Sequence[Sequence[str]], jobs: list) -> str:
        """What the sweep would do: the stacked launcher's plan, or the count of jobs."""
        from mlplab.results import is_complete

        if hasattr(self.launcher, "describe"):
            return f"plan: {self.launcher.describe(grid)}"
        done = sum(is_complete(job.run_dir) for job in jobs)
        name = type(self.launcher).__name__
        return f"plan: {len(jobs)} jobs: {done} complete (skipped); {name} runs each job alone"
