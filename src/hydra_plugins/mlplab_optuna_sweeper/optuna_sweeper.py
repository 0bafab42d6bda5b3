"""``hydra/sweeper=optuna``: mlplab's Optuna sweeper (Optuna >= 4, ask/tell in batches).

The knobs are in ``config.py``, the work in ``_impl.py``; this module imports no
Optuna, because Hydra's plugin scan imports it for every command.
"""

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        direction: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        study_name: str | None,
        storage: str | None,
        sampler: DictConfig,
        params: DictConfig | None,
        pruner: str = "none",
        pruner_options: DictConfig | None = None,
        report_every: int = 10,
    ) -> None:
        from mlplab.settings import ConfigError

        try:
            from . import _impl
        except ModuleNotFoundError as exc:  # Optuna is an extra
            raise ConfigError(
                f"hydra/sweeper=optuna needs Optuna ({exc}): pip install 'mlplab[optuna]'."
            ) from exc
        _impl.check(direction, n_trials, n_jobs, max_failure_rate, sampler)
        _impl.make_pruner(pruner, pruner_options or {}, report_every)
        self.pruner, self.pruner_options = pruner, dict(pruner_options or {})
        self.report_every = report_every
        self.direction, self.n_trials, self.n_jobs = direction, n_trials, n_jobs
        self.max_failure_rate = max_failure_rate
        self.study_name, self.storage, self.sampler = study_name, storage, sampler
        self.params = {str(k): str(v) for k, v in (params or {}).items()}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None
        self.jobs = None  # mlplab.compose.JobConfigs
        self.probes = []  # jobs at each choice and each end of a range of the search space

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from mlplab.compose import JobConfigs

        self.config, self.hydra_context = config, hydra_context
        space = self.search_space(list(config.hydra.overrides.task))
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.jobs = JobConfigs(hydra_context.config_loader, config)
        if hasattr(self.launcher, "share"):  # it composes the same jobs: share what is composed
            self.launcher.share(self.jobs)
        # every choice and every end of a range composed once, now: a typo in a key or a
        # value of the wrong type fails here, before a study or a folder is made
        self.probes = self.jobs.jobs(space.probes())
        from mlplab.loggers import check_servers

        check_servers([job.settings for job in self.probes])  # a server that is down: now

    def search_space(self, arguments: list[str]):
        """``hydra.sweeper.params``, then the command line's overrides (which win)."""
        from . import _impl

        lines = [f"{key}={value}" for key, value in self.params.items()] + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        return _impl.search_space(lines, parser)

    def sweep(self, arguments: list[str]) -> Any:
        from . import _impl

        return _impl.search(self, self.search_space(arguments))
