"""``hydra/sweeper=optuna``: the knobs of mlplab's Optuna sweeper, and their defaults.

The search space is written as people write it for Hydra's own sweepers, under
``hydra.sweeper.params`` or on the command line (see ``_impl.search_space``)::

    optimizer.lr: tag(log, interval(0.0001, 0.1))     # float, sampled on a log scale
    model.hidden: choice([8],[16],[16,16])              # any values, lists included
    trainer.batch_size: range(16, 129, 16)              # ints 16, 32, ..., 128
    trainer.epochs: 50                                  # fixed for every trial
"""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module
# before it is in sys.modules, and dataclasses cannot resolve string annotations then.
from dataclasses import dataclass, field
from typing import Any, Optional  # noqa: UP035

from hydra.core.config_store import ConfigStore


@dataclass
class SamplerConf:
    """Which Optuna sampler proposes the trials."""

    #: a name in ``_impl.SAMPLERS``: tpe | random | gp | qmc | nsgaii | cmaes (needs `cmaes`)
    name: str = "tpe"
    #: fixes the trials asked; a resumed study seeds it with seed + its number of trials,
    #: so that it asks new trials, and the same commands in order ask the same trials
    seed: int | None = None
    #: keyword arguments for the sampler's class, e.g. {n_startup_trials: 4} for tpe
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.mlplab_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    #: minimize | maximize the run's ``sweep.metric``; null: the metric's own (an accuracy is
    #: maximized, a loss minimized; another metric needs a direction)
    direction: Optional[str] = None  # noqa: UP045
    n_trials: int = 20  #: trials this command adds to the study (a resumed study grows by as many)
    #: the batch size: trials asked together and launched as one batch (one stack, under
    #: the stacked launcher); each batch is told to Optuna before the next is asked.
    #: The name is the official Optuna sweeper's; it is not a number of processes.
    n_jobs: int = 8
    #: the search stops asking for trials once, after a batch, the failed trials
    #: (failed, diverged or without the metric) exceed this fraction of the trials this
    #: command has run: 0.0 stops after the first batch with a failure, 1.0 never stops
    max_failure_rate: float = 1.0
    study_name: str | None = None  #: null: the sweep folder's name
    #: null: a journal file (optuna.journal) in the sweep folder; a URL such as
    #: sqlite:///path.db or postgresql://... opens Optuna's RDB storage; any other
    #: text is the path of a journal file
    storage: str | None = None
    sampler: SamplerConf = field(default_factory=SamplerConf)
    #: none | median | percentile | successive_halving | hyperband: Optuna's pruner of that
    #: name stops unpromising trials part-way; a stacked trial leaves its stack there
    pruner: str = "none"
    #: keyword arguments of the pruner's class, e.g. {n_warmup_steps: 20} for median,
    #: {percentile: 25.0} (needed) for percentile, {reduction_factor: 3} for successive_halving
    pruner_options: dict[str, Any] = field(default_factory=dict)
    #: each trial reports its sweep.metric to Optuna every this many epochs (the pruner's
    #: steps). Each report and pruner question costs about as much as a two-moons stack's
    #: epoch: every epoch doubles such a search's training time (scripts/bench_optuna.py)
    report_every: int = 10
    #: the search space, one override per key (as on the command line, which wins)
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="mlplab"
)
