"""Validation: every bad value fails with one line naming the key, the value and the choices."""

import dataclasses

import pytest
from conftest import REPO, make_settings

from mlplab import data, model, settings, train
from mlplab.settings import ConfigError


def test_name_tuples_match_the_registries():
    # settings.py validates without importing torch; its names must be the registries' keys
    assert settings.DATASET_NAMES == tuple(data.DATASETS)
    assert settings.ACTIVATION_NAMES == tuple(model.ACTIVATIONS)
    assert settings.INIT_NAMES == tuple(model.INITIALIZERS)
    assert settings.NORM_NAMES == tuple(model.NORMS)
    assert settings.OPTIMIZER_NAMES == tuple(train.OPTIMIZERS)
    assert settings.SCHEDULE_NAMES == tuple(train.SCHEDULES)
    # every loss a config can name, and the one loss=mse means on a binary task
    assert settings.LOSS_NAMES == ("auto", *(k for k in train.LOSSES if k != "sigmoid_mse"))
    assert set(train.TASK_LOSSES.values()) == {"sigmoid_mse"}
    assert set(settings.METRIC_NAMES) < set(train.history_row(0, [0.0, 0.0], [0.0, 0.0], 0.0))


def test_defaults_compose_into_frozen_settings():
    s = make_settings()
    assert s.dataset.name == "two_moons" and list(s.model.hidden) == [16]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 3


@pytest.mark.parametrize(
    "override, match",
    [
        (
            "model.activation=rleu",
            r"Unknown model.activation 'rleu'. Choose one of: gelu, identity, leaky_relu, relu",
        ),
        ("model.init=kaiming", r"Unknown model.init 'kaiming'. Choose one of: auto, he_normal"),
        ("model.norm=group", r"Unknown model.norm 'group'. Choose one of: batch, layer, none"),
        ("loss=hinge", r"Unknown loss 'hinge'. Choose one of: auto, bce, cross_entropy, mse"),
        ("trainer.device=tpu", r"Unknown trainer.device 'tpu'. Choose one of: auto, cpu, cuda"),
        (
            "optimizer.name=adagrad",
            r"Unknown optimizer 'adagrad'. Choose one of: adam, adamw, rmsprop, sgd",
        ),
        (
            "model.hidden=[16,0]",
            r"model.hidden=\[16, 0\]: every width must be a positive integer, got 0",
        ),
        ("model.hidden=[-4]", r"every width must be a positive integer, got -4"),
        ("optimizer.lr=0", r"optimizer.lr must be a positive number, got 0"),
        ("optimizer.lr=-0.1", r"optimizer.lr must be a positive number, got -0.1"),
        ("optimizer.lr=nan", r"optimizer.lr must be a positive number, got nan"),
        ("model.dropout=1.0", r"model.dropout must be in \[0.0, 1.0\), got 1.0"),
        ("trainer.epochs=-1", r"trainer.epochs must be >= 0, got -1"),
        ("trainer.batch_size=0", r"trainer.batch_size must be a positive integer or null"),
        ("dataset.val_fraction=1.5", r"dataset.val_fraction must be in \[0.0, 1.0\)"),
        (
            "optimizer.momentum=0.9",
            r"optimizer.momentum=0.9 applies to sgd and rmsprop only, not 'adam'",
        ),
        ("model.residual=true", None),  # equal widths [16]: fine
        (
            "trainer.early_stopping.patience=0",
            r"trainer.early_stopping.patience must be a positive integer or null \(off\), got 0",
        ),
        ("trainer.early_stopping.patience=-3", r"patience must be a positive integer .*got -3"),
        (
            "trainer.early_stopping.metric=val_f1",
            r"Unknown trainer.early_stopping.metric 'val_f1'. Choose one of: auto, train_acc, "
            r"train_loss, val_acc, val_loss\.$",
        ),
        (
            "trainer.early_stopping.min_delta=-0.1",
            r"trainer.early_stopping.min_delta must be in \[0.0, inf\), got -0.1",
        ),
        (
            "optimizer.schedule=linear",
            r"Unknown optimizer.schedule 'linear'. Choose one of: constant, cosine, step\.$",
        ),
        ("optimizer.warmup_epochs=-1", r"optimizer.warmup_epochs must be >= 0, got -1"),
        (
            "optimizer.warmup_epochs=300",
            r"optimizer.warmup_epochs=300 leaves no epoch at the full lr: it must be below "
            r"trainer.epochs=300",
        ),
        (
            "optimizer.schedule=step",
            r"optimizer.schedule=step needs optimizer.step_size=N \(epochs between two decays\)",
        ),
        (
            "optimizer.step_size=10",
            r"optimizer.step_size=10 applies to optimizer.schedule=step only, not 'constant'",
        ),
        (
            ["optimizer.schedule=step", "optimizer.step_size=0"],
            r"optimizer.step_size must be a positive integer, got 0",
        ),
        ("optimizer.gamma=0", r"optimizer.gamma must be in \(0, 1\], got 0"),
        ("optimizer.gamma=1.5", r"optimizer.gamma must be in \(0, 1\], got 1.5"),
        (
            "optimizer.min_lr=0.001",
            r"optimizer.min_lr=0.001 applies to optimizer.schedule=cosine only, not 'constant'",
        ),
        (
            ["optimizer.schedule=cosine", "optimizer.min_lr=0.1"],
            r"optimizer.min_lr must be in \[0.0, 0.01\], got 0.1",
        ),
        (
            "optimizer.grad_clip=0",
            r"optimizer.grad_clip must be a positive number or null \(off\), got 0",
        ),
        ("optimizer.grad_clip=-1", r"optimizer.grad_clip must be a positive number .*got -1"),
        ("optimizer.grad_clip=inf", r"optimizer.grad_clip must be a positive number .*got inf"),
        (
            "dataset.folds=1",
            r"dataset.folds must be an integer >= 2 or null \(no cross-validation\), got 1",
        ),
        (
            ["dataset.folds=5", "dataset.fold=5"],
            r"dataset.fold must be in 0..4 with dataset.folds=5, got 5",
        ),
        (["dataset.folds=5", "dataset.fold=-1"], r"dataset.fold must be in 0..4 .*got -1"),
        ("dataset.fold=2", r"dataset.fold=2 needs dataset.folds=K \(k-fold cross-validation\)"),
        (
            [
                "optimizer.schedule=cosine",
                "optimizer.warmup_epochs=5",
                "optimizer.min_lr=0.001",
                "optimizer.grad_clip=1.0",
                "trainer.early_stopping.patience=10",
                "trainer.early_stopping.metric=val_loss",
                "dataset.folds=5",
                "dataset.fold=4",
            ],
            None,
        ),  # fmt: skip
        (["optimizer.schedule=step", "optimizer.step_size=30", "optimizer.gamma=0.5"], None),
    ],
)
def test_bad_values_are_refused_with_a_clear_line(override, match):
    overrides = override if isinstance(override, list) else [override]
    if match is None:
        make_settings(*overrides)
        return
    with pytest.raises(ConfigError, match=match) as info:
        make_settings(*overrides)
    assert "\n" not in str(info.value)


def test_residual_needs_equal_widths():
    with pytest.raises(
        ConfigError, match=r"model.residual=true needs equal widths, got model.hidden=\[8, 16\]"
    ):
        make_settings("model.residual=true", "model.hidden=[8,16]")


def test_file_dataset_needs_a_path():
    with pytest.raises(ConfigError, match=r"dataset=file needs dataset.path=FILE"):
        make_settings("dataset=file")


def test_choose_lists_sorted_choices():
    with pytest.raises(ConfigError, match=r"^Unknown x 'c'. Choose one of: a, b.$"):
        settings.choose("x", "c", ["b", "a"])


def test_layer_stats_every_is_null_by_default_and_refuses_negatives():
    assert make_settings().trainer.layer_stats_every is None
    assert make_settings("trainer.layer_stats_every=5").trainer.layer_stats_every == 5
    with pytest.raises(
        ConfigError,
        match=r"trainer.layer_stats_every must be >= 0 or null \(at init and end only\), got -1",
    ):
        make_settings("trainer.layer_stats_every=-1")


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["experiment=two_moons_arch", "model.hidden=[8,8]", "seed=3"],
        ["dataset=iris", "optimizer=sgd", "optimizer.momentum=0.9", "trainer.batch_size=null"],
        ["init_scheme=large_normal", "model.hidden=[]", "trainer.figures=true"],
    ],
)
def test_a_typed_config_builds_the_same_settings_as_merging_it_onto_the_schema(overrides):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    assert OmegaConf.get_type(cfg) is settings.RunSettings  # composed onto the schema: typed
    fast = settings.from_config(cfg)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    plain = OmegaConf.to_container(task, resolve=True)  # untyped: the merging path
    slow = settings.from_config(OmegaConf.create(plain))
    assert fast == slow and type(fast.model.hidden) is type(slow.model.hidden) is list
    bad = OmegaConf.create({**plain, "model": {**plain["model"], "activation": "rleu"}})
    with pytest.raises(ConfigError, match="Unknown model.activation 'rleu'"):
        settings.from_config(OmegaConf.merge(settings.schema(), bad))  # typed, still validated


def test_the_new_knobs_default_to_off_in_the_yaml():
    s = make_settings()
    o, es = s.optimizer, s.trainer.early_stopping
    assert (o.schedule, o.warmup_epochs, o.step_size, o.gamma, o.min_lr, o.grad_clip) == (
        "constant", 0, None, 0.1, 0.0, None,
    )  # fmt: skip
    assert (es.patience, es.metric, es.min_delta) == (None, "auto", 0.0)
    assert (s.dataset.folds, s.dataset.fold) == (None, 0)
    # the optimizer groups share the schedule knobs of config.yaml
    assert (
        make_settings("optimizer=sgd", "optimizer.schedule=cosine").optimizer.schedule == "cosine"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        es.patience = 3


def test_a_typo_in_a_new_key_lists_the_valid_ones():
    assert settings.keys_of("trainer.early_stopping") == ["metric", "min_delta", "patience"]
    assert {"schedule", "warmup_epochs", "step_size", "gamma", "min_lr", "grad_clip"} < set(
        settings.keys_of("optimizer")
    )
    assert {"folds", "fold"} < set(settings.keys_of("dataset"))


def test_what_names_no_job_folder_is_what_is_no_knob():
    """configs/config.yaml's exclude_keys (kept out of job folder names, a YAML copy) and
    results.NOT_KNOBS (kept out of a job's identity and the tables' knobs) are one list:
    a key that does not change a result changes neither a folder's name nor an identity."""
    from omegaconf import OmegaConf

    from mlplab.results import NOT_KNOBS

    config = OmegaConf.load(REPO / "configs" / "config.yaml")
    excluded = set(config.hydra.job.config.override_dirname.exclude_keys)
    assert excluded - {"logger"} == set(NOT_KNOBS)  # logger: the group choice, not a key
