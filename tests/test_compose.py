"""ComposeOnce gives every sweep job the config Hydra's own load_sweep_config gives it."""

from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf

import mlplab.cli  # noqa: F401  (registers the schema, the resolvers and the launcher)
from mlplab.compose import ComposeOnce

EXPERIMENTS = sorted(
    p.stem
    for p in (Path(mlplab.cli.__file__).parent.parent.parent / "configs/experiment").glob("*.yaml")
)


def loader() -> ConfigLoaderImpl:
    return ConfigLoaderImpl(config_search_path=create_config_search_path("pkg://mlplab.configs"))


def sweep_jobs(command: list[str]):
    """The master config and each job's overrides, as Hydra's basic sweeper makes them."""
    master = loader().load_configuration("config", overrides=command, run_mode=RunMode.MULTIRUN)
    params = [f"{k}={v}" for k, v in (master.hydra.sweeper.params or {}).items()]
    task = list(master.hydra.overrides.task)
    parsed = OverridesParser.create().parse_overrides(params + task)
    batches = BasicSweeper.split_arguments(parsed, None)
    return master, [list(job) for batch in batches for job in batch]


def same_config(fast, plain) -> None:
    assert OmegaConf.to_yaml(fast) == OmegaConf.to_yaml(plain)
    assert OmegaConf.get_type(fast) is OmegaConf.get_type(plain)
    assert OmegaConf.is_struct(fast) == OmegaConf.is_struct(plain)
    assert OmegaConf.is_readonly(fast.hydra) == OmegaConf.is_readonly(plain.hydra)
    assert fast.hydra.job.override_dirname == plain.hydra.job.override_dirname
    assert list(fast.hydra.overrides.task) == list(plain.hydra.overrides.task)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_job_of_every_seed_experiment_matches_hydra(experiment):
    master, jobs = sweep_jobs([f"experiment={experiment}", "seed=0,1"])
    assert len(jobs) >= 2
    plain, fast = loader(), ComposeOnce(loader())
    for job in jobs:
        same_config(fast.load_sweep_config(master, job), plain.load_sweep_config(master, job))
    # a grid over values composes once per set of group choices, not once per job
    assert len(fast.bases) < len(jobs)


@pytest.mark.parametrize(
    "job",
    [
        ["dataset=iris", "model.hidden=[3,4]", "optimizer=sgd", "optimizer.momentum=0.9"],
        ["init_scheme=xavier", "seed=3", "model.activation=tanh"],
        ["model.hidden=[]", "trainer.batch_size=null", "loss=mse"],
        ["dataset={name: xor, n_samples: 64}", "seed=1"],  # a dict value merges into the group
        ["++trainer.figures=true", "~init_scheme", "+model.extra=1"],  # add, force, delete
        ["hydra.job.chdir=true", "seed=2", "hydra.job.name=other"],  # hydra.* overrides
        ["seed=4", "dataset=two_moons", "dataset.noise=0.3", "dataset=circles"],  # order kept
    ],
)
def test_groups_appends_deletes_dicts_and_hydra_overrides_match_hydra(job):
    master, _ = sweep_jobs(["model.hidden=[4],[8]"])
    plain, fast = loader(), ComposeOnce(loader())
    expected = plain.load_sweep_config(master, job)
    same_config(fast.load_sweep_config(master, job), expected)
    # a second job of the same shape reuses the composed base
    again = [*job, "trainer.epochs=7"]
    same_config(fast.load_sweep_config(master, again), plain.load_sweep_config(master, again))
    assert len(fast.bases) == 1


@pytest.mark.parametrize(
    "job",
    [
        ["model.hiden=3"],
        ["dataset=nope"],
        ["trainer.epochs=abc"],
        ["+init_scheme=he"],
        ["~trainer.threads"],
    ],
)
def test_a_bad_job_raises_what_hydra_raises(job):
    master, _ = sweep_jobs(["model.hidden=[4],[8]"])
    with pytest.raises(Exception) as plain:
        loader().load_sweep_config(master, job)
    with pytest.raises(Exception) as fast:
        ComposeOnce(loader()).load_sweep_config(master, job)
    assert type(fast.value) is type(plain.value)
    assert str(fast.value) == str(plain.value)


def test_the_launcher_takes_the_config_the_sweepers_check_composed():
    master, jobs = sweep_jobs(["model.hidden=[4],[8]", "seed=0,1"])
    fast = ComposeOnce(loader())
    checked = [fast.load_sweep_config(master, job) for job in jobs]  # the sweeper's check
    taken = [fast.take(master, job) for job in jobs]  # the launcher
    assert all(a is b for a, b in zip(checked, taken))
    fresh = fast.take(master, jobs[0])  # nothing waiting: composed anew, not shared
    assert fresh is not checked[0]
    same_config(fresh, loader().load_sweep_config(master, jobs[0]))
    # everything else is Hydra's own loader
    assert fast.get_search_path() is fast.loader.get_search_path()
