"""JobConfigs gives every sweep job the settings, folder and overrides Hydra's own composition gives it."""

from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.utils import setup_globals
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

import mlplab.cli  # noqa: F401  (registers the schema, the resolvers and the plugins)
from mlplab import settings
from mlplab.compose import DEFAULT_SUBDIR, JobConfigs, expand_grid

REPO = Path(mlplab.cli.__file__).resolve().parents[2]
setup_globals()  # the ${now:} resolver, as every Hydra app has it
SEEDS = ("seed=", "dataset.seed=", "dataset.fold=")  # what an experiment repeats over
EXPERIMENTS = sorted(p.stem for p in (REPO / "configs/experiment").glob("*.yaml"))


def loader() -> ConfigLoaderImpl:
    return ConfigLoaderImpl(config_search_path=create_config_search_path("pkg://mlplab.configs"))


def sweep(command: list[str]):
    """The master config of a sweep command and each job's overrides."""
    master = loader().load_configuration("config", overrides=command, run_mode=RunMode.MULTIRUN)
    params = [f"{k}={v}" for k, v in (master.hydra.sweeper.params or {}).items()]
    return master, expand_grid(params + list(master.hydra.overrides.task))


def check_job(configs: JobConfigs, master, overrides: list[str], num: int = 0) -> None:
    """The fast job against Hydra's load_sweep_config of the same overrides."""
    job = configs.job(overrides, num)
    plain = loader().load_sweep_config(master, overrides)
    with open_dict(plain.hydra):  # what Hydra's launchers set before resolving
        plain.hydra.job.num = plain.hydra.job.id = num
    assert list(job.overrides) == OmegaConf.to_container(plain.hydra.overrides.task, resolve=False)
    assert job.run_dir == Path(str(plain.hydra.sweep.dir)).absolute() / str(
        plain.hydra.sweep.subdir
    )
    try:
        expected = settings.from_config(plain)
    except settings.ConfigError as exc:
        assert job.settings is None and job.error == str(exc)
    else:
        assert job.error is None and job.settings == expected
    same = configs.config(overrides, num)
    assert OmegaConf.to_yaml(same) == OmegaConf.to_yaml(plain)


def test_the_grid_is_the_product_of_the_sweeps_in_order():
    assert expand_grid(["a=1,2", "b=x", "c=range(2)"]) == [
        ["a=1", "b=x", "c=0"], ["a=1", "b=x", "c=1"], ["a=2", "b=x", "c=0"], ["a=2", "b=x", "c=1"],
    ]  # fmt: skip


def test_the_default_subdir_is_the_one_config_yaml_sets():
    raw = OmegaConf.load(REPO / "configs/config.yaml")
    assert OmegaConf.to_container(raw.hydra.sweep, resolve=False)["subdir"] == DEFAULT_SUBDIR


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_setting_of_every_seed_experiment_matches_hydra(experiment):
    master, jobs = sweep([f"experiment={experiment}", "seed=0,1"])
    assert len(jobs) >= 2
    configs = JobConfigs(loader(), master)
    # every job that sets a knob differently, beyond the seeds it repeats over (E22's 200
    # jobs are one setting over seeds, data draws and folds), and the last job
    seen = set()
    for num, job in enumerate(jobs):
        setting = tuple(o for o in job if not o.startswith(SEEDS))
        if setting not in seen or num == len(jobs) - 1:
            seen.add(setting)
            check_job(configs, master, job, num)
    # a grid over values composes once per set of group choices, not once per job
    assert len(configs.bases) < len(jobs)


@pytest.mark.parametrize(
    "job",
    [
        ["dataset=iris", "model.hidden=[3,4]", "optimizer=sgd", "optimizer.momentum=0.9"],
        ["init_scheme=xavier", "seed=3", "model.activation=tanh"],
        ["model.hidden=[]", "trainer.batch_size=null", "loss=mse"],
        ["optimizer.lr=1", "trainer.epochs=7"],  # an int where a float goes: converted
        ["dataset={name: xor, n_samples: 64}", "seed=1"],  # a dict value merges into the group
        ["++trainer.figures=true", "~init_scheme", "+model.extra=1"],  # add, force, delete
        ["hydra.job.chdir=true", "seed=2", "hydra.job.name=other"],  # hydra.* overrides
        ["seed=4", "dataset=two_moons", "dataset.noise=0.3", "dataset=circles"],  # order kept
        ["model.hidden=[0]", "seed=1"],  # an invalid job: its error, not an exception
        ["model.activation=rleu"],
        ["hydra.sweep.subdir=job${hydra.job.num}_s${seed}", "seed=5"],  # a subdir of one's own
    ],
)
def test_groups_appends_deletes_dicts_and_hydra_overrides_match_hydra(job):
    master, _ = sweep(["model.hidden=[4],[8]"])
    configs = JobConfigs(loader(), master)
    check_job(configs, master, job, num=3)
    # a second job of the same shape reuses the composed base
    check_job(configs, master, [*job, "trainer.epochs=9"], num=4)
    assert len(configs.bases) == 1


def test_a_searchs_many_values_of_one_key_match_hydra():
    """A search asks for a new lr (a new override line) every trial: once Hydra has shown
    that ``optimizer.lr=<float>`` sets just that leaf, other floats are set there directly."""
    master, _ = sweep(["model.hidden=[4],[8]"])
    configs = JobConfigs(loader(), master)
    jobs = [
        [f"optimizer.lr={lr}", f"model.hidden=[{w}]", f"seed={seed}", f"model.activation={act}",
         f"trainer.figures={figures}"]
        for lr, w, seed, act, figures in [
            (0.0123, 4, 0, "tanh", "true"), (0.001, 8, 1, "relu", "false"),  # 0.001: the default
            (0.5, 4, 2, "gelu", "true"), (1, 8, 3, "tanh", "false"),  # an int lr: converted
            (3e-05, 4, 4, "rleu", "true"), (0.07, 8, 5, "relu", "false"),  # rleu: refused
        ]
    ]  # fmt: skip
    for num, job in enumerate(jobs):
        check_job(configs, master, job, num)
    base = next(iter(configs.bases))
    assert configs.leaves[(base, "optimizer.lr", float)] == ("optimizer", "lr")
    assert configs.leaves[(base, "model.activation", str)] == ("model", "activation")
    assert (base, "optimizer.lr", int) not in configs.leaves  # Hydra made the int a float


def test_a_config_that_interpolates_its_own_keys_is_composed_whole():
    master, _ = sweep(["model.hidden=[4],[8]", "+trainer.stats_every=${trainer.epochs}"])
    configs = JobConfigs(loader(), master)
    check_job(configs, master, ["+dataset.noise_copy=${dataset.noise}", "dataset.noise=0.4"])


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
    master, _ = sweep(["model.hidden=[4],[8]"])
    with pytest.raises(Exception) as plain:
        loader().load_sweep_config(master, job)
    with pytest.raises(Exception) as fast:
        JobConfigs(loader(), master).job(job, 0)
    assert type(fast.value) is type(plain.value)
    assert str(fast.value) == str(plain.value)


def test_the_command_line_is_read_as_hydra_main_reads_it():
    from hydra._internal.utils import get_args_parser

    from mlplab.compose import command_line

    argv = ["-m", "--config-dir", "mine", "model.hidden=[4],[8]", "hydra.sweep.dir=x", "seed=1"]
    parsed = get_args_parser().parse_args(argv)
    assert command_line(argv) == (True, parsed.overrides) == (True, argv[3:])
    assert command_line(["seed=1", "-cn", "config"]) == (False, ["seed=1"])


def test_the_sweeps_own_settings_are_typed_from_the_master_config():
    master, _ = sweep(["model.hidden=[4],[8]", "sweep.fail_fast=true", "sweep.metric=val_loss"])
    typed = JobConfigs(loader(), master).sweep
    assert isinstance(typed, settings.SweepSettings)
    assert typed == settings.SweepSettings(
        fail_fast=True, metric="val_loss", plot_by=master.sweep.plot_by, plan=False
    )
