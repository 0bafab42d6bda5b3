"""Typed run settings: the Hydra schema, the defaults, and the one validation pass.

This module imports no torch, so a typo in a name fails in a fraction of a second,
before any data is touched. The name tuples below are the keys of the registries in
``data.py``, ``model.py`` and ``train.py``; ``tests/test_settings.py`` checks that the
two never drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import typing
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

DATASET_NAMES = (
    "two_moons", "xor", "diag_flip", "circles", "spiral", "sine", "sawtooth", "tabular",
    "sign4", "gaussian", "digits", "iris", "wine", "breast_cancer", "diabetes", "mnist1d",
    "file",
)  # fmt: skip
ACTIVATION_NAMES = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "silu", "identity")
INIT_NAMES = (
    "auto", "he_normal", "he_uniform", "xavier_normal", "xavier_uniform", "normal",
    "torch_default",
)  # fmt: skip
NORM_NAMES = ("none", "batch", "layer")
LOSS_NAMES = ("auto", "mse", "bce", "cross_entropy")
OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULE_NAMES = ("constant", "step", "cosine")
DEVICE_NAMES = ("auto", "cpu", "cuda")
# the per-epoch metrics of history.csv, which early stopping can follow
METRIC_NAMES = ("train_loss", "val_loss", "train_acc", "val_acc")


class ConfigError(ValueError):
    """A user mistake in the configuration: one line that names the key, value and choices."""


def choose(key: str, value: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``; else raise the one-line error."""
    if value not in choices:
        raise ConfigError(f"Unknown {key} {value!r}. Choose one of: {', '.join(sorted(choices))}.")
    return value


# Values live in configs/*.yaml (the one source of defaults); these dataclasses give
# their types and meaning. Fields with a default are optional knobs whose absence
# means "not used" (no path, no momentum), never a second copy of a YAML value.


@dataclass(frozen=True)
class DatasetSettings:
    """Which data, how much of it, and how it is split. Each ``dataset/*.yaml`` fills it."""

    name: str  #: registry name in data.DATASETS
    n_samples: int | None = None  #: samples to generate (None: the set's fixed size)
    n_features: int | None = None  #: input features of the Gaussian tabular sets
    noise: float = 0.0  #: std of Gaussian noise added by the generator
    k: int | None = None  #: sawtooth: how many times the tent map is composed (2**k pieces)
    val_fraction: float = 0.2  #: share held out for validation (0 = train on everything)
    test_fraction: float = 0.0  #: share held out as a test split (files may bring their own)
    standardize: bool = False  #: scale features with the train split's mean and std
    seed: int = 42  #: fixes the data and the split, independent of the run's seed
    path: str | None = None  #: dataset=file: a .csv, .parquet or .npz file
    target: str | None = None  #: dataset=file with a table: the target column
    folds: int | None = None  #: k-fold cross-validation into K folds (replaces val_fraction)
    fold: int = 0  #: with folds: the fold held out for validation, 0 <= fold < folds
    legacy_seed: int | None = None  #: two_moons: seed 002's exact points (np.random.seed(N))
    shuffle_split: bool = True  #: false: split in the data's order, train rows first
    label_noise: float = 0.0  #: share of train labels moved to another class (val/test clean)
    feature_scale: float = 1.0  #: multiplies the first feature, before standardizing


@dataclass(frozen=True)
class ModelSettings:
    """The architecture: ``[in_dim, *hidden, out_dim]`` and how its layers are built."""

    hidden: list[int]  #: hidden widths, one per layer; [] = linear model
    activation: str  #: one of ACTIVATION_NAMES
    init: str  #: one of INIT_NAMES; auto = He for the ReLU family, Xavier otherwise
    init_std: float  #: std of init=normal
    dropout: float  #: dropout probability after each hidden activation
    norm: str  #: none | batch | layer, before each hidden activation
    residual: bool  #: pre-norm residual blocks of equal width (seed 003)


@dataclass(frozen=True)
class OptimizerSettings:
    """The optimizer and its hyper-parameters. Each ``optimizer/*.yaml`` fills it."""

    name: str  #: one of OPTIMIZER_NAMES
    lr: float  #: learning rate
    weight_decay: float = 0.0  #: L2 penalty (decoupled for adamw)
    momentum: float = 0.0  #: sgd and rmsprop only
    # shared by every optimizer: their values live in config.yaml's optimizer section
    _: dataclasses.KW_ONLY
    schedule: str  #: how the lr changes from epoch to epoch: one of SCHEDULE_NAMES
    warmup_epochs: int  #: epochs of linear warmup, from lr/(warmup_epochs+1) up to lr
    step_size: int | None  #: schedule=step: epochs between two decays (StepLR's step_size)
    gamma: float  #: schedule=step: the factor of each decay (StepLR's gamma)
    min_lr: float  #: schedule=cosine: the lr it anneals to (CosineAnnealingLR's eta_min)
    grad_clip: float | None  #: clip each step's gradients to this global L2 norm; null = off


@dataclass(frozen=True)
class EarlyStoppingSettings:
    """When to stop training before ``trainer.epochs``, and which epoch counts as best."""

    patience: int | None  #: stop after this many epochs without improvement; null = off
    metric: str  #: a history metric (METRIC_NAMES), or auto: val_acc, val_loss for regression
    min_delta: float  #: an improvement must beat the best so far by more than this


@dataclass(frozen=True)
class TrainerSettings:
    """How long and on what to train."""

    epochs: int  #: passes over the training split; 0 evaluates the initial network
    batch_size: int | None  #: minibatch size; null = full batch
    device: str  #: auto | cpu | cuda
    threads: int | None  #: torch intra-op threads; null = the plan's (grouping.threads_for)
    progress: bool  #: a progress bar for runs longer than a few seconds
    timing: bool  #: fill history.csv's seconds column (then two runs' files differ in it)
    layer_stats_every: int | None  #: layers.csv rows every N epochs too (null/0: init, end)
    figures: (
        bool | None
    )  #: the run folder's PNGs; null = in single runs, not in sweep jobs (~0.3-0.7 s a job)
    regions: bool | None  #: count linear regions at init and end; null = in single runs only
    early_stopping: EarlyStoppingSettings  #: stop on a plateau and keep the best epoch's weights


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep (``mlplab-run -m``) treats failures and what its tables rank by."""

    fail_fast: bool  #: stop launching jobs after the first failed or diverged one
    metric: str  #: the summary and plot metric; auto = val_acc (classification) or val_loss
    plot_by: str  #: sweep.png draws one line per value of this results column
    plan: bool  #: print how the sweep's jobs would run (stacks, skipped), and run nothing


@dataclass(frozen=True)
class TensorBoardSettings:
    """``logger=tensorboard``: each run folder gets an event file (see ``mlplab.loggers``)."""

    enabled: bool  #: per-epoch scalars, the run's knobs and results for the HParams dashboard


@dataclass(frozen=True)
class MlflowSettings:
    """``logger=mlflow``: one MLflow run per job, one experiment per sweep."""

    enabled: bool  #: params, per-epoch metrics, results, figures and status of every run
    tracking_uri: str  #: any MLflow tracking URI; the default is a SQLite file under outputs/
    experiment: str | None  #: the experiment's name; null = the sweep folder (single runs: runs)


@dataclass(frozen=True)
class LoggerSettings:
    """Where a run is reported besides its folder's files (``logger=csv``, the default: nowhere).

    Each ``logger/*.yaml`` turns its own logger on, so ``logger=[tensorboard,mlflow]`` is both.
    """

    tensorboard: TensorBoardSettings
    mlflow: MlflowSettings
    every_n_epochs: int  #: loggers get every Nth epoch of the history (and the last); 1 = all


@dataclass(frozen=True)
class RunSettings:
    """Everything one training run needs; what the code receives instead of a DictConfig."""

    seed: int  #: seeds init, shuffling and dropout (dataset.seed fixes the data)
    loss: str  #: auto | mse | bce | cross_entropy
    dataset: DatasetSettings
    model: ModelSettings
    optimizer: OptimizerSettings
    trainer: TrainerSettings
    sweep: SweepSettings
    logger: LoggerSettings


def flat(obj) -> dict:
    """Settings (dataclass or plain nested dict) as flat ``section.key`` -> value."""
    tree = dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in flat(value).items()})
        else:
            out[key] = list(value) if isinstance(value, list | tuple) else value
    return out


def unflatten(config: dict, tree: dict | None = None) -> dict:
    """A flat config (``section.key`` -> value, as ``flat`` gives it) as nested dicts, written
    over ``tree`` (a composed config's defaults) if given."""
    tree = {} if tree is None else tree
    for key, value in config.items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def keys_of(section: str) -> list[str]:
    """The valid keys under ``section`` ("" for the top level, "model", ...), sorted."""
    cls = RunSettings
    for part in filter(None, section.split(".")):
        cls = typing.get_type_hints(cls).get(part)
        if not dataclasses.is_dataclass(cls):
            return []
    return sorted(f.name for f in dataclasses.fields(cls))


def dotted_keys(cls=None, prefix: str = "") -> list[str]:
    """Every key a command line can set, as its full dotted path (``optimizer.lr``, ...)."""
    keys = []
    for f in dataclasses.fields(cls or RunSettings):
        kind = typing.get_type_hints(cls or RunSettings)[f.name]
        if dataclasses.is_dataclass(kind):
            keys += dotted_keys(kind, f"{prefix}{f.name}.")
        elif f.name != "_":
            keys.append(f"{prefix}{f.name}")
    return keys


def did_you_mean(key: str) -> str | None:
    """The full key someone most likely meant by ``key``: one whose last part is ``key``'s
    (``lr`` -> ``optimizer.lr``), or a near spelling of it (``model.activaton``)."""
    import difflib

    known = dotted_keys()
    last = key.rpartition(".")[2]
    same_end = [k for k in known if k.rpartition(".")[2] == last and k != key]
    if same_end:
        return " or ".join(same_end)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
    return close[0] if close else None


_field_types = functools.cache(typing.get_type_hints)  # a settings class's field types


@functools.cache
def schema() -> DictConfig:
    """The structured config Hydra merges YAML and overrides into (wrong types fail there).

    Built once: merging reads it and never changes it.
    """
    return _laid_out(RunSettings)


def _laid_out(cls) -> DictConfig:
    """``cls`` as a structured config, its sections laid out and unlocked, nested ones too.

    Frozen dataclasses make read-only nodes and Hydra must still merge into them; a
    section left missing would be laid out read-only by the merge itself.
    """
    cfg = OmegaConf.structured(cls)
    _unlock(cfg)
    for name, kind in _field_types(cls).items():
        if dataclasses.is_dataclass(kind):
            cfg[name] = _laid_out(kind)
    return cfg


def _unlock(node) -> None:
    """Clear the read-only flag a frozen dataclass sets, on ``node`` and every container in it
    (values inherit their container's flag)."""
    OmegaConf.set_readonly(node, None)
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        if OmegaConf.is_missing(node, key):
            continue
        child = node[key]
        if isinstance(child, DictConfig | ListConfig):
            _unlock(child)


def from_config(cfg: DictConfig) -> RunSettings:
    """Turn a composed config into validated RunSettings, or raise ConfigError.

    A config Hydra composed onto the schema is typed already (OmegaConf checked every
    value's type as it merged); any other config is merged onto the schema first.
    """
    if OmegaConf.get_type(cfg) is not RunSettings:
        keys = [k for k in cfg if k != "hydra"]
        plain = OmegaConf.masked_copy(cfg, keys) if "hydra" in cfg else cfg
        cfg = OmegaConf.merge(schema(), plain)
    return validate(from_tree(task_tree(cfg)))


def task_tree(cfg: DictConfig) -> dict:
    """A composed config's task keys (all but ``hydra``) as plain, resolved values."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if isinstance(cfg[key], DictConfig | ListConfig)
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }


_field_types = functools.cache(typing.get_type_hints)  # a settings class's field types


def from_tree(tree: dict, cls: type = RunSettings):
    """``cls`` filled from plain nested values (a typed config's container), unvalidated.

    Keys that are no field are ignored, as the typed config carries them (``+key=...``).
    """
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in tree and f.default is not dataclasses.MISSING:
            continue  # an optional knob no config sets: its dataclass default ("off")
        kind, value = _field_types(cls)[f.name], tree[f.name]
        values[f.name] = from_tree(value, kind) if dataclasses.is_dataclass(kind) else value
    return cls(**values)


def validate(s: RunSettings) -> RunSettings:
    """Check every name and number a user typed; raise ConfigError on the first bad one."""
    d, m, o, t = s.dataset, s.model, s.optimizer, s.trainer
    choose("dataset", d.name, DATASET_NAMES)
    choose("model.activation", m.activation, ACTIVATION_NAMES)
    choose("model.init", m.init, INIT_NAMES)
    choose("model.norm", m.norm, NORM_NAMES)
    choose("loss", s.loss, LOSS_NAMES)
    choose("optimizer", o.name, OPTIMIZER_NAMES)
    choose("trainer.device", t.device, DEVICE_NAMES)

    for width in m.hidden:
        if width <= 0:
            raise ConfigError(
                f"model.hidden={list(m.hidden)}: every width must be a positive integer, got {width}."
            )
    if m.residual and len(set(m.hidden)) > 1:
        raise ConfigError(
            f"model.residual=true needs equal widths, got model.hidden={list(m.hidden)}."
        )
    _check_range("model.dropout", m.dropout, 0.0, 1.0, hi_open=True)
    _check_positive("model.init_std", m.init_std)
    _check_positive("optimizer.lr", o.lr)
    _check_range("optimizer.weight_decay", o.weight_decay, 0.0, math.inf)
    _check_range("optimizer.momentum", o.momentum, 0.0, 1.0, hi_open=True)
    if o.momentum and o.name not in ("sgd", "rmsprop"):
        raise ConfigError(
            f"optimizer.momentum={o.momentum} applies to sgd and rmsprop only, not {o.name!r}."
        )
    if t.epochs < 0:
        raise ConfigError(f"trainer.epochs must be >= 0, got {t.epochs}.")
    _validate_schedule(o, t.epochs)
    if o.grad_clip is not None:
        _check_positive("optimizer.grad_clip", o.grad_clip, "or null (off)")
    es = t.early_stopping
    if es.patience is not None and es.patience < 1:
        raise ConfigError(
            f"trainer.early_stopping.patience must be a positive integer or null (off), got {es.patience}."
        )
    choose("trainer.early_stopping.metric", es.metric, ["auto", *METRIC_NAMES])
    _check_range("trainer.early_stopping.min_delta", es.min_delta, 0.0, math.inf, hi_open=True)
    if t.batch_size is not None and t.batch_size <= 0:
        raise ConfigError(
            f"trainer.batch_size must be a positive integer or null (full batch), got {t.batch_size}."
        )
    if t.layer_stats_every is not None and t.layer_stats_every < 0:
        raise ConfigError(
            f"trainer.layer_stats_every must be >= 0 or null (at init and end only), got {t.layer_stats_every}."
        )
    if t.threads is not None and t.threads <= 0:
        raise ConfigError(f"trainer.threads must be a positive integer or null, got {t.threads}.")
    _check_range("dataset.val_fraction", d.val_fraction, 0.0, 1.0, hi_open=True)
    _check_range("dataset.test_fraction", d.test_fraction, 0.0, 1.0, hi_open=True)
    if (0.0 if d.folds else d.val_fraction) + d.test_fraction >= 1.0:  # folds replace val
        raise ConfigError(
            f"dataset.val_fraction + dataset.test_fraction must be < 1 (nothing left to train on), "
            f"got {d.val_fraction} + {d.test_fraction}."
        )
    _check_range("dataset.noise", d.noise, 0.0, math.inf)
    if d.n_samples is not None and d.n_samples <= 0:
        raise ConfigError(f"dataset.n_samples must be a positive integer, got {d.n_samples}.")
    if d.n_features is not None and d.n_features <= 0:
        raise ConfigError(f"dataset.n_features must be a positive integer, got {d.n_features}.")
    if d.k is not None and d.k < 1:
        raise ConfigError(f"dataset.k must be >= 1, got {d.k}.")
    if d.folds is not None and d.folds < 2:
        raise ConfigError(
            f"dataset.folds must be an integer >= 2 or null (no cross-validation), got {d.folds}."
        )
    if d.folds is None and d.fold != 0:
        raise ConfigError(f"dataset.fold={d.fold} needs dataset.folds=K (k-fold cross-validation).")
    if d.folds is not None and not 0 <= d.fold < d.folds:
        raise ConfigError(
            f"dataset.fold must be in 0..{d.folds - 1} with dataset.folds={d.folds}, got {d.fold}."
        )
    if d.legacy_seed is not None and d.name != "two_moons":
        raise ConfigError(
            f"dataset.legacy_seed applies to dataset=two_moons only (seed 002's generator), not {d.name!r}."
        )
    if d.legacy_seed is not None and not 0 <= d.legacy_seed < 2**32:
        raise ConfigError(
            f"dataset.legacy_seed must be in [0, 2**32) (NumPy's legacy seed), got {d.legacy_seed}."
        )
    _check_range("dataset.label_noise", d.label_noise, 0.0, 1.0)
    _check_positive("dataset.feature_scale", d.feature_scale)
    if not d.shuffle_split and d.folds is not None:
        raise ConfigError(
            f"dataset.shuffle_split=false keeps the data's order for a val split; it does not "
            f"combine with dataset.folds={d.folds} (folds are dealt from a shuffle)."
        )
    _validate_loggers(s.logger)
    if d.name == "file" and not d.path:
        raise ConfigError("dataset=file needs dataset.path=FILE (.csv, .parquet or .npz).")
    if d.name == "file" and not Path(d.path).expanduser().is_file():
        raise ConfigError(f"dataset.path={d.path!r}: no such file.")
    return s


@functools.cache
def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ValueError:  # imported before, and unusable (sys.modules[package] is None)
        return False


def _validate_loggers(lg: LoggerSettings) -> None:
    """A logger asked for needs its package (the ``[tensorboard]``, ``[mlflow]`` extras)."""
    if lg.every_n_epochs < 1:
        raise ConfigError(
            f"logger.every_n_epochs must be a positive integer, got {lg.every_n_epochs}."
        )
    for name, on in (("tensorboard", lg.tensorboard.enabled), ("mlflow", lg.mlflow.enabled)):
        if on and not _installed(name):
            raise ConfigError(
                f"logger={name} needs the {name} package: pip install 'mlplab[{name}]'."
            )
    if lg.mlflow.enabled and not lg.mlflow.tracking_uri.strip():
        raise ConfigError(
            "logger.mlflow.tracking_uri is empty: give a tracking URI, "
            "e.g. sqlite:///outputs/mlflow.db or http://host:5000."
        )


def _validate_schedule(o: OptimizerSettings, epochs: int) -> None:
    """The lr schedule's knobs, each refused where its schedule does not use it."""
    choose("optimizer.schedule", o.schedule, SCHEDULE_NAMES)
    if o.warmup_epochs < 0:
        raise ConfigError(f"optimizer.warmup_epochs must be >= 0, got {o.warmup_epochs}.")
    if o.warmup_epochs and o.warmup_epochs >= epochs:
        raise ConfigError(
            f"optimizer.warmup_epochs={o.warmup_epochs} leaves no epoch at the full lr: "
            f"it must be below trainer.epochs={epochs}."
        )
    if o.schedule == "step" and o.step_size is None:
        raise ConfigError(
            "optimizer.schedule=step needs optimizer.step_size=N (epochs between two decays)."
        )
    if o.step_size is not None and o.schedule != "step":
        raise ConfigError(
            f"optimizer.step_size={o.step_size} applies to optimizer.schedule=step only, not {o.schedule!r}."
        )
    if o.step_size is not None and o.step_size < 1:
        raise ConfigError(f"optimizer.step_size must be a positive integer, got {o.step_size}.")
    if not (0 < o.gamma <= 1):
        raise ConfigError(f"optimizer.gamma must be in (0, 1], got {o.gamma}.")
    if o.min_lr and o.schedule != "cosine":
        raise ConfigError(
            f"optimizer.min_lr={o.min_lr} applies to optimizer.schedule=cosine only, not {o.schedule!r}."
        )
    _check_range("optimizer.min_lr", o.min_lr, 0.0, o.lr)


def _check_positive(key: str, value: float, alternative: str = "") -> None:
    if not (value > 0 and math.isfinite(value)):
        what = f"a positive number {alternative}".rstrip()
        raise ConfigError(f"{key} must be {what}, got {value}.")


def _check_range(key, value, lo, hi, hi_open=False) -> None:
    ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok or math.isnan(value):
        bracket = ")" if hi_open else "]"
        raise ConfigError(f"{key} must be in [{lo}, {hi}{bracket}, got {value}.")
