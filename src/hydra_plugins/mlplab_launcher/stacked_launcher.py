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
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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


ConfigStore.instance().store(
    group="hydra/launcher", name="stacked", node=StackedLauncherConf, provider="mlplab"
)


class StackedLauncher(Launcher):
    def __init__(self, max_models: int = 256) -> None:
        self.max_models = max_models
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
        pretrained = pretrain(configs, self.max_models)
        log.info(f"Launching {len(configs)} jobs, {pretrained} of them trained in stacked groups")
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


def pretrain(configs: list[DictConfig], max_models: int) -> int:
    """Train the stackable jobs group by group; park each result for its job. Returns the count."""
    from mlplab import job, settings, stacked
    from mlplab.data import load
    from mlplab.results import is_complete
    from mlplab.train import resolve_device

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
    count = 0
    for group in stacked.stack_groups([s for _, s in todo], max_models):
        if len(group) < 2:
            continue  # nothing to share: the job trains with fit
        members = [todo[i] for i in group]
        first = members[0][1]
        try:
            job.prepare(first)  # threads, device and data checks, as the job itself would
            data = load(first.dataset, resolve_device(first.trainer.device))
            results = stacked.fit_many([s for _, s in members], data)
        except (
            Exception
        ) as exc:  # the jobs fall back to fit, one by one, and record their own errors
            log.warning(
                f"stacked group of {len(group)} failed ({type(exc).__name__}: {exc}); running them one by one"
            )
            continue
        for (run_dir, _), fitted in zip(members, results):
            job.PRETRAINED[run_dir] = fitted
        count += len(members)
    return count
