"""Validation: every bad value fails with one line naming the key, the value and the choices."""

import dataclasses

import pytest
from conftest import make_settings

from mlplab import data, model, settings, train
from mlplab.settings import ConfigError


def test_name_tuples_match_the_registries():
    # settings.py validates without importing torch; its names must be the registries' keys
    assert settings.DATASET_NAMES == tuple(data.DATASETS)
    assert settings.ACTIVATION_NAMES == tuple(model.ACTIVATIONS)
    assert settings.INIT_NAMES == tuple(model.INITIALIZERS)
    assert settings.NORM_NAMES == tuple(model.NORMS)
    assert settings.OPTIMIZER_NAMES == tuple(train.OPTIMIZERS)
    assert settings.LOSS_NAMES == ("auto", *train.LOSSES)


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
    ],
)
def test_bad_values_are_refused_with_a_clear_line(override, match):
    if match is None:
        make_settings(override)
        return
    with pytest.raises(ConfigError, match=match) as info:
        make_settings(override)
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
