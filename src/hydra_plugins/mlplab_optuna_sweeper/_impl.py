"""The work of ``hydra/sweeper=optuna``: the search space, the study, and the search.

The search asks Optuna for a batch of ``n_jobs`` trials (``Study.ask``), launches
them with one ``Launcher.launch`` call (so the stacked launcher trains the batch as
one stack), and tells Optuna each job's ``sweep.metric`` (``Study.tell``), or that
the trial failed. Only Optuna's and Hydra's public APIs are used. Hydra skips the
plugin scan for modules whose name starts with ``_``, so this one, which imports
Optuna, is imported only when a search starts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from omegaconf import OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mlplab.lifecycle import finishing, record_jobs, start_sweep
from mlplab.results import METRICS, TRIALS_CSV, write_rows, write_text
from mlplab.settings import ConfigError, choose

if TYPE_CHECKING:
    from .optuna_sweeper import OptunaSweeper

log = logging.getLogger(__name__)

# Optuna's samplers by the name people give in hydra.sweeper.sampler.name.
SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,  # Optuna's default; a batch's trials are asked with a "constant liar"
    "random": optuna.samplers.RandomSampler,
    "gp": optuna.samplers.GPSampler,  # Gaussian process (scipy and torch)
    "qmc": optuna.samplers.QMCSampler,  # quasi-random (Sobol), spreads a batch evenly
    "nsgaii": optuna.samplers.NSGAIISampler,  # genetic
    "cmaes": optuna.samplers.CmaEsSampler,  # needs `pip install cmaes`; floats and ints only
}
# Optuna's pruners by the name people give in hydra.sweeper.pruner.
PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
PRUNED = "pruned"  # the error outcome() gives a job a pruner stopped
SAMPLER_NEEDS = {"cmaes": "cmaes"}  # the module a sampler imports only when it first samples
DIRECTIONS = ("minimize", "maximize")
STUDY_FILE = "optuna.journal"  # the default storage, in the sweep folder
RESULTS_FILE = "optimization_results.yaml"  # the best trial, as the official sweeper wrote it
INTERVAL_TAGS = ("int", "log")
SUPPORTED = (
    "choice(a, b, ...) or a,b,...; glob(...) over a config group; range(start, stop[, step]); "
    "interval(low, high) (floats); "
    "tag(log, interval(low, high)); tag(int, interval(low, high)) (ints; with log too); "
    "or one value, fixed for every trial"
)


def check(
    direction: str | None, n_trials: int, n_jobs: int, max_failure_rate: float, sampler
) -> None:
    """Raise the one-line ConfigError for a bad knob, before anything is written."""
    if direction is not None:
        choose("hydra.sweeper.direction", direction, DIRECTIONS)
    for key, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"hydra.sweeper.{key}={value}: give a whole number of at least 1.")
    if not 0.0 <= max_failure_rate <= 1.0:
        raise ConfigError(
            f"hydra.sweeper.max_failure_rate={max_failure_rate}: give a fraction from 0.0 "
            "(stop after the first failed batch) to 1.0 (never stop)."
        )
    make_sampler(sampler.name, sampler.seed, sampler.options)


def make_sampler(name: str, seed: int | None, options) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` with its seed and options, or the one-line error."""
    choose("hydra.sweeper.sampler.name", name, SAMPLERS)
    module = SAMPLER_NEEDS.get(name)
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"hydra.sweeper.sampler.name={name} needs the {module} package: pip install {module}."
            )
    options = OmegaConf.to_container(options) if OmegaConf.is_config(options) else dict(options)
    try:
        return SAMPLERS[name](seed=seed, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"hydra.sweeper.sampler.options={options}: {exc}.") from exc


def make_pruner(name: str, options, report_every: int = 1) -> optuna.pruners.BasePruner:
    """The pruner ``name`` with its options, or the one-line error."""
    choose("hydra.sweeper.pruner", name, PRUNERS)
    if not isinstance(report_every, int) or report_every < 1:
        raise ConfigError(
            f"hydra.sweeper.report_every={report_every}: give a whole number of epochs, at least 1."
        )
    options = OmegaConf.to_container(options) if OmegaConf.is_config(options) else dict(options)
    try:
        return PRUNERS[name](**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"hydra.sweeper.pruner_options={options} ({name}): {exc}.") from exc


@dataclass(frozen=True)
class Pruning:
    """What the stacks of one batch need to report to their trials and hear their pruner,
    wherever they train (a pool's worker, a Ray task): the study's storage, its pruner, and
    the trial numbers behind each job. Picklable; ``for_jobs`` opens the study where it runs.
    """

    storage: str  #: a journal file's path, or an RDB URL
    study_name: str
    pruner: str
    options: dict
    report_every: int
    metric: str  #: sweep.metric (auto: each row's own, as results.default_metric picks)
    trials: dict = field(default_factory=dict)  #: a job's overrides (tuple) -> trial numbers

    def for_jobs(self, jobs: list) -> Callable[[dict[int, dict]], set[int]] | None:
        """``stacked.Watch.prune`` for a stack of these jobs (None if no trial asked them).

        Every ``report_every`` epochs each model's metric goes to its trials
        (``Trial.report``), then each asks the pruner (``Trial.should_prune``); a model
        leaves when every trial that asked for it should be pruned (two trials that ask the
        same job share its run).
        """
        numbers = {k: self.trials.get(tuple(job.overrides), []) for k, job in enumerate(jobs)}
        if not any(numbers.values()):
            return None
        opened: dict = {}

        def prune(rows: dict[int, dict]) -> set[int]:
            epoch = next(iter(rows.values()))["epoch"]
            if epoch % self.report_every:
                return set()
            if not opened:
                opened.update(self._trials(numbers))
            reported = set()
            for k, row in rows.items():
                value = row.get(self._metric(row))
                if value is None or not math.isfinite(value) or not opened.get(k):
                    continue
                for trial in opened[k]:
                    trial.report(value, epoch)
                reported.add(k)
            return {k for k in reported if all(t.should_prune() for t in opened[k])}

        return prune

    def _metric(self, row: dict) -> str:
        if self.metric != "auto":
            return self.metric
        return next((m for m in METRICS if row.get(m) is not None), METRICS[0])

    def _trials(self, numbers: dict[int, list[int]]) -> dict[int, list]:
        """Each model's trials, opened in this process. Optuna makes a Trial of an existing
        trial from its study and trial id (``Trial(study, trial_id)``, as ``Study.ask``
        does); the id comes from the storage's public interface."""
        if "://" in self.storage:
            storage = optuna.storages.RDBStorage(self.storage)
        else:
            storage = JournalStorage(JournalFileBackend(self.storage))
        study = optuna.load_study(
            study_name=self.study_name, storage=storage,
            pruner=make_pruner(self.pruner, self.options, self.report_every),
        )  # fmt: skip
        study_id = storage.get_study_id_from_name(self.study_name)
        return {
            k: [optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, n))
                for n in ns]
            for k, ns in numbers.items()
        }  # fmt: skip


# ---------------------------------------------------------------- the search space


@dataclass(frozen=True)
class Param:
    """One searched key: its Optuna distribution and how a value becomes an override."""

    key: str  #: as on the command line (model.hidden, +extra); also Optuna's parameter name
    distribution: BaseDistribution
    #: a choice's override texts, one per choice: a list such as [16,16] cannot be an Optuna
    #: choice, so the choice is its text and the override is that text again
    texts: tuple[str, ...] = ()

    def override(self, value) -> str:
        if self.texts:
            return f"{self.key}={self.texts[self.distribution.choices.index(value)]}"
        return f"{self.key}={value}"

    def ends(self) -> list:
        """The values at the edges of this distribution: every choice, or low and high."""
        if isinstance(self.distribution, CategoricalDistribution):
            return list(self.distribution.choices)
        return list(dict.fromkeys((self.distribution.low, self.distribution.high)))


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]  #: what Optuna asks for
    fixed: tuple[str, ...]  #: overrides every trial gets as they are

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.key: p.distribution for p in self.params}

    def overrides(self, values: dict[str, Any]) -> tuple[str, ...]:
        """One job's overrides for a trial's parameter values."""
        return tuple(p.override(values[p.key]) for p in self.params) + self.fixed

    def probes(self) -> list[tuple[str, ...]]:
        """Jobs that between them hold every choice and every end of a range once.

        Composing them (the sweeper's check) catches an unknown key or a value of the
        wrong type before anything is written.
        """
        first = {p.key: p.ends()[0] for p in self.params}
        jobs = [self.overrides(first)]
        for p in self.params:
            jobs += [self.overrides({**first, p.key: v}) for v in p.ends()[1:]]
        return jobs


def search_space(lines: list[str], parser: OverridesParser | None = None) -> SearchSpace:
    """Parse ``key=value`` overrides (``hydra.sweeper.params``, then the command line).

    A later override of the same key replaces an earlier one, so the command line wins.
    Hydra parses an interval's ends as floats, so ``interval(1, 10)`` is a float interval;
    ``tag(int, interval(1, 10))`` asks for ints.
    """
    parser = parser or OverridesParser.create()
    by_key: dict[tuple, Override] = {}
    for line in lines:
        try:
            (override,) = parser.parse_overrides([line])
        except HydraException as exc:  # Hydra's reason, less its frame and link
            lines = str(exc).splitlines()
            reason = [s for s in lines if s and not s.startswith(("Error parsing", "See https"))]
            raise ConfigError(
                f"Cannot parse the search space override {line!r}: "
                f"{' '.join(reason or lines[:1])}. Supported: {SUPPORTED}."
            ) from exc
        by_key.pop((override.key_or_group, override.package), None)  # keeps the later order
        by_key[(override.key_or_group, override.package)] = override
    params, fixed = [], []
    for override in by_key.values():
        if override.is_sweep_override():
            params.append(to_param(override))
        elif override.is_delete():
            fixed.append(override.input_line)
        else:  # as Hydra's basic sweeper writes a fixed override
            fixed.append(f"{override.get_key_element()}={override.get_value_element_as_str()}")
    return SearchSpace(tuple(params), tuple(fixed))


def to_param(override: Override) -> Param:
    """An Optuna distribution for one sweep override, or the one-line error."""
    key, value = override.get_key_element(), override.value()
    where = override.input_line
    tags = set(getattr(value, "tags", ()))
    if getattr(value, "shuffle", False):  # and a new order would be a new distribution on resume
        raise ConfigError(
            f"Search space {where}: shuffle means nothing to a sampler; leave it out."
        )
    allowed = set(INTERVAL_TAGS) if override.is_interval_sweep() else set()
    if tags - allowed:
        raise ConfigError(
            f"Search space {where}: tag {', '.join(sorted(tags - allowed))} is not supported "
            f"here; tags work on interval only (log, int). Supported: {SUPPORTED}."
        )
    try:
        if override.is_choice_sweep():
            return choice_param(override, key, where)
        if override.is_range_sweep():
            return Param(key, range_distribution(override, where))
        if override.is_interval_sweep():
            low, high, log_scale = value.start, value.end, "log" in tags
            if "int" in tags:
                if not (low.is_integer() and high.is_integer()):
                    raise ConfigError(f"Search space {where}: an int interval needs whole ends.")
                return Param(key, IntDistribution(int(low), int(high), log=log_scale))
            return Param(key, FloatDistribution(low, high, log=log_scale))
    except ValueError as exc:  # Optuna's own check of the ends (low > high, log of 0, ...)
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"Search space {where}: {exc}") from exc
    raise ConfigError(
        f"Search space {where}: {override.value_type.name.lower()} is not supported. "
        f"Supported: {SUPPORTED}."
    )


def choice_param(override: Override, key: str, where: str) -> Param:
    """Numbers and strings are Optuna's choices as they are (a dashboard plots them);
    lists, dicts and booleans are held as their override text."""
    pairs = [(v, Transformer.str(v)) for v in override.sweep_iterator()]
    if not pairs:
        raise ConfigError(
            f"Search space {where}: nothing to choose from (glob lists a config group's options)."
        )
    choices = [v if isinstance(v, int | float | str) and not isinstance(v, bool) else text
               for v, text in pairs]  # fmt: skip
    if any(a == b for i, a in enumerate(choices) for b in choices[i + 1 :]):
        raise ConfigError(f"Search space {where}: a choice is listed twice.")
    return Param(key, CategoricalDistribution(choices), tuple(text for _, text in pairs))


def range_distribution(override: Override, where: str) -> BaseDistribution:
    """range(start, stop, step) as Optuna's stepped distribution of the same values."""
    value = override.value()
    count = len(list(override.sweep_iterator()))
    if count == 0:
        raise ConfigError(f"Search space {where}: the range is empty.")
    # the last value in decimal, so that range(0.1, 0.35, 0.1) ends at 0.3, not 0.30000000000000004
    start, step = Decimal(str(value.start)), Decimal(str(value.step))
    low, high = sorted((start, start + step * (count - 1)))
    if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
        return IntDistribution(int(low), int(high), step=abs(int(step)))
    return FloatDistribution(float(low), float(high), step=float(abs(step)))


# ---------------------------------------------------------------- the study and the search


def open_study(
    sweeper: OptunaSweeper, sweep_dir: Path, space: SearchSpace, direction: str
) -> tuple[optuna.Study, str]:
    """Create the study, or load it (resume), with its sampler; and where it lives, in words.

    A seeded sampler of a resumed study is seeded with seed + the trials it holds: it
    then asks new trials, and the same commands run in order ask the same trials.
    """
    storage = sweeper.storage
    if storage is None or "://" not in storage:  # a journal file
        path = Path(storage) if storage else sweep_dir / STUDY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        where, backend = str(path), JournalStorage(JournalFileBackend(str(path)))
    else:
        where, backend = storage, storage
    name = sweeper.study_name or sweep_dir.name
    try:
        study = optuna.create_study(
            storage=backend, study_name=name, direction=direction, load_if_exists=True
        )
    except Exception as exc:  # a storage URL Optuna cannot open
        raise ConfigError(
            f"hydra.sweeper.storage={storage!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"hydra.sweeper.direction={direction}: study {name!r} in {where} was made to "
            f"{study.direction.name.lower()}; give that direction, or a new study_name."
        )
    check_resume(study, space, where)
    sampler = sweeper.sampler
    seed = None if sampler.seed is None else sampler.seed + len(study.trials)
    sampler = make_sampler(sampler.name, seed, sampler.options)
    pruner = make_pruner(sweeper.pruner, sweeper.pruner_options, sweeper.report_every)
    study = optuna.load_study(study_name=name, storage=backend, sampler=sampler, pruner=pruner)
    return study, where


def check_resume(study: optuna.Study, space: SearchSpace, where: str) -> None:
    """A resumed study asks each key as before: same kind, same scale, same choices."""
    before: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        before.update(trial.distributions)
    for key, new in space.distributions.items():
        old = before.get(key, new)
        same_choices = not isinstance(new, CategoricalDistribution) or old == new
        if (
            type(old) is not type(new)
            or getattr(old, "log", None) != getattr(new, "log", None)
            or not same_choices
        ):
            raise ConfigError(
                f"Search space {key}: study {study.study_name!r} in {where} asked it as {old}, "
                f"not {new}; give a new hydra.sweeper.study_name (or sweep folder) for a new space."
            )


def check_reports(sweeper: OptunaSweeper) -> None:
    """A pruner needs a report before a trial's last epoch (none is made at the last): one
    whose trials never report would prune nothing, without a word."""
    epochs = max((job.settings.trainer.epochs for job in sweeper.probes if job.settings), default=0)
    if sweeper.pruner != "none" and epochs <= sweeper.report_every:
        raise ConfigError(
            f"hydra.sweeper.report_every={sweeper.report_every} with trainer.epochs={epochs}: no "
            f"trial reports before its last epoch, so hydra.sweeper.pruner={sweeper.pruner} "
            "would prune nothing; give a report_every below the epochs."
        )


def search(sweeper: OptunaSweeper, space: SearchSpace) -> list[list[JobReturn]]:
    """Ask a batch, launch it at once, tell each trial; until n_trials or too many failures."""
    config = sweeper.config
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    options = sweeper.jobs.sweep  # sweep.*, typed
    metric = options.metric
    direction = objective(sweeper.direction, metric, [job.settings for job in sweeper.probes])
    check_reports(sweeper)
    start_sweep(config, [])  # the study's file lives in the sweep folder
    study, where = open_study(sweeper, sweep_dir, space, direction)
    # sweep.fail_fast launches nothing after a failure: the search stops there too
    fail_fast = options.fail_fast
    limit = (
        ("sweep.fail_fast", 0.0)
        if fail_fast
        else ("hydra.sweeper.max_failure_rate", sweeper.max_failure_rate)
    )
    log.info(
        f"Optuna study {study.study_name!r} in {where} ({len(study.trials)} trials so far): "
        f"{direction} {metric}, sampler {sweeper.sampler.name}, "
        f"{sweeper.n_trials} trials in batches of {sweeper.n_jobs}"
    )
    pruning = None
    if sweeper.pruner != "none":
        if not hasattr(sweeper.launcher, "prune_with"):
            log.warning(
                f"hydra.sweeper.pruner={sweeper.pruner} prunes trials that the stacked launcher "
                f"trains; {type(sweeper.launcher).__name__} runs every trial to its end."
            )
        else:
            pruning = Pruning(where, study.study_name, sweeper.pruner, sweeper.pruner_options,
                              sweeper.report_every, metric)  # fmt: skip
    returns, failed, told = [], 0, 0
    from mlplab.plots import sweep_figures

    with finishing(sweep_dir, options, sweep_figures) as end:
        while told < sweeper.n_trials:
            size = min(sweeper.n_jobs, sweeper.n_trials - told)
            trials = [study.ask(space.distributions) for _ in range(size)]
            overrides = [space.overrides(t.params) for t in trials]
            jobs = list(dict.fromkeys(overrides))  # trials asking the same job share one run
            first = sum(map(len, returns))
            if pruning is not None:  # each stack reports to its trials as it trains
                asked: dict = {}
                for trial, job in zip(trials, overrides):
                    asked.setdefault(tuple(job), []).append(trial.number)
                sweeper.launcher.prune_with(dataclasses.replace(pruning, trials=asked))
            try:
                record_jobs(sweep_dir, sweeper.jobs.jobs(jobs, first))
                batch = sweeper.launcher.launch(jobs, initial_job_idx=first)
            except BaseException:  # Ctrl-C or a broken launch: these trials are over
                for trial in trials:
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                write_trials(study, sweep_dir)
                raise
            returns.append(batch)
            outcomes = [outcome(ret, metric) for ret in batch]
            by_job = dict(zip(jobs, outcomes))
            failed += tell(study, trials, [by_job[job] for job in overrides], sweep_dir)
            told += size
            write_trials(study, sweep_dir)
            if failed / told > limit[1]:
                why = f"{failed} of {told} trials failed ({limit[0]}={limit[1]})"
                end.stopped = f"stopped the search: {why}"
                log.error(f"Stopping the search: {why}")
                break
        write_best(study, sweep_dir, where, metric)
    return returns


def tell(study: optuna.Study, trials: list, outcomes: list[tuple], sweep_dir: Path) -> int:
    """Tell Optuna each trial's value, or that it failed; return how many failed."""
    failed = 0
    for trial, (value, run_dir, error, _) in zip(trials, outcomes):
        if run_dir is not None:  # trials.csv and results.csv name a job by its folder
            trial.set_user_attr("run_dir", os.path.relpath(run_dir, sweep_dir))
        if error == PRUNED:  # its last reported value stands for it (Optuna's rule)
            study.tell(trial, state=TrialState.PRUNED)
        elif value is None:
            failed += 1
            trial.set_user_attr("error", error)
            log.warning(f"Trial {trial.number} {trial.params} failed: {error}")
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
    return failed


def outcome(ret: JobReturn, metric: str) -> tuple[float | None, str | None, str | None, str]:
    """(value, job folder, error, metric) of one job: its metric's value, or None and why.

    ``metric`` auto is resolved per job as ``results.default_metric`` resolves it for a table.
    """
    try:
        result = ret.return_value
    except Exception as exc:  # the task raised (mlplab's records its failures instead)
        return None, OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir"), repr(exc), metric
    if not isinstance(result, dict):
        return None, None, "not run (sweep.fail_fast: an earlier job failed)", metric
    if metric == "auto":
        metric = next((m for m in METRICS if result.get(m) is not None), METRICS[0])
    run_dir, value = result.get("run_dir"), result.get(metric)
    if result.get("status") == "pruned":
        return None, run_dir, PRUNED, metric
    if result.get("status") != "completed":
        return None, run_dir, f"{result.get('status')}: {result.get('error')}", metric
    if value is None or not math.isfinite(value):
        return None, run_dir, f"no {metric} in its result", metric
    return float(value), run_dir, None, metric


def objective(direction: str | None, metric: str, settings: list) -> str:
    """The study's direction, decided before the first trial: the one given, or the metric's own.

    An accuracy is maximized and a loss minimized; ``auto`` is val_acc for classification
    and val_loss for regression (``results.default_metric``), so the data's task, read
    without torch, decides it. A metric of neither kind needs a direction; a direction
    against the metric's kind is most likely a slip and gets one warning line now.
    """
    from mlplab.data import task_of

    if metric == "auto":
        tasks = {task_of(d) for d in {s.dataset for s in settings if s is not None}}
        kinds = {"loss" if task == "regression" else "acc" for task in tasks}
    else:
        kinds = {kind for kind in ("acc", "loss") if metric.endswith(kind)}
    if len(kinds) != 1:
        if direction is None:
            raise ConfigError(
                f"hydra.sweeper.direction is needed: sweep.metric={metric} is "
                f"{'an accuracy for some trials and a loss for others' if kinds else 'neither an accuracy nor a loss'}. "
                f"Choose one of: {', '.join(DIRECTIONS)}."
            )
        return direction
    own = "maximize" if kinds == {"acc"} else "minimize"
    if direction is not None and direction != own:
        log.warning(
            f"hydra.sweeper.direction={direction} of sweep.metric={metric} (an accuracy is "
            f"maximized, a loss minimized): is that meant?"
        )
    return direction or own


def write_trials(study: optuna.Study, sweep_dir: Path) -> None:
    """``trials.csv``: one row per trial of the study (number, state, value, params, run_dir)."""
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    rows = [
        {"trial": t.number, "state": t.state.name, "value": t.value, **t.params,
         "run_dir": t.user_attrs.get("run_dir")}
        for t in trials
    ]  # fmt: skip
    write_rows(sweep_dir / TRIALS_CSV, rows, ["trial", "state", "value", *names, "run_dir"])


def write_best(study: optuna.Study, sweep_dir: Path, where: str, metric: str) -> None:
    """Log the best trial and write it to ``optimization_results.yaml``."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        log.error(f"Optuna study {study.study_name!r}: no trial completed")
        return
    best = study.best_trial
    log.info(f"Best trial {best.number}: {metric}={best.value} with {best.params}")
    summary = {
        "study_name": study.study_name, "storage": where, "direction": study.direction.name.lower(),
        "metric": metric, "trials": len(study.trials), "completed": len(done),
        "best_trial": best.number, "best_value": best.value, "best_params": best.params,
        "best_run_dir": best.user_attrs.get("run_dir"),
    }  # fmt: skip
    write_text(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(summary)))
