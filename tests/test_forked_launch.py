"""The stacked launcher's forked workers, driven in this process so that faults can be planted.

Workers train the groups, then write job folders, their own group's first, then any
other trained group's. Whatever goes wrong on the way (a group that fails to train, a
worker that dies training or writing), every job ends complete with the rows one
process gives.
"""

import os
import pickle

import pandas as pd
import pytest
from hydra._internal.callbacks import Callbacks
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.types import HydraContext
from omegaconf import OmegaConf

import mlplab.cli
import mlplab.job
import mlplab.stacked
from hydra_plugins.mlplab_launcher import stacked_launcher as sl
from mlplab import workers
from mlplab.compose import ComposeOnce
from mlplab.results import collect
from tests.test_compose import loader, sweep_jobs

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="forks on Linux only")

PARENT = os.getpid()
GRID = [
    "model.hidden=[4],[8],[4,4]",
    "seed=0,1,2",
    "trainer.epochs=5",
    "trainer.batch_size=64",
    "hydra.mode=MULTIRUN",
]  # fmt: skip  (what -m adds)
COLUMNS = ["hidden", "seed", "status", "train_loss", "val_loss", "val_acc", "linear_regions"]


def launch(folder, workers_: int, *extra: str):
    """The sweep's JobReturns and its rows, launched as Hydra's sweeper would."""
    master, jobs = sweep_jobs([*GRID, *extra, f"hydra.sweep.dir={folder}",
                               f"hydra.launcher.workers={workers_}"])  # fmt: skip
    HydraConfig.instance().set_config(master)
    context = HydraContext(config_loader=ComposeOnce(loader()), callbacks=Callbacks(master))
    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=context, task_function=mlplab.cli._task, config=master
    )
    returns = launcher.launch(jobs, initial_job_idx=0)
    rows = collect(folder)
    rows = rows.assign(hidden=rows["hidden"].astype(str))
    return returns, rows[COLUMNS].sort_values(["hidden", "seed"], ignore_index=True)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    return launch(tmp_path_factory.mktemp("one"), 1)


def same_as_one_process(returns, rows, one_process):
    plain_returns, plain_rows = one_process
    pd.testing.assert_frame_equal(rows, plain_rows)
    assert (rows["status"] == "completed").all() and len(rows) == 9
    assert [r.status for r in returns] == [JobStatus.COMPLETED] * 9
    for ret, plain in zip(returns, plain_returns):  # what the sweeper gets back, in order
        assert ret.overrides == plain.overrides
        assert ret.return_value["val_acc"] == plain.return_value["val_acc"]
        assert OmegaConf.to_yaml(ret.cfg) == OmegaConf.to_yaml(plain.cfg)
        output_dir = ret.hydra_cfg.hydra.runtime.output_dir
        assert output_dir.endswith(os.path.basename(plain.hydra_cfg.hydra.runtime.output_dir))
        assert ret.hydra_cfg.hydra.job.num == plain.hydra_cfg.hydra.job.num


def test_two_workers_give_the_rows_and_returns_of_one_process(tmp_path, one_process):
    same_as_one_process(*launch(tmp_path, 2), one_process)


def test_a_worker_with_no_group_writes_the_jobs_of_one_another_trained(tmp_path, monkeypatch):
    """One group, two workers: the second can only write jobs from the first's pickle."""
    writers = tmp_path / "writers"
    writers.mkdir()
    real = mlplab.job.run_job

    def run_job(s, run_dir, *args, **kwargs):
        (writers / str(os.getpid())).touch()
        return real(s, run_dir, *args, **kwargs)

    monkeypatch.setattr(mlplab.job, "run_job", run_job)
    master, jobs = sweep_jobs(["model.hidden=[4],[8]", "seed=0,1,2,3,4,5", "trainer.epochs=5", "hydra.mode=MULTIRUN",
                               f"hydra.sweep.dir={tmp_path / 's'}"])  # fmt: skip
    HydraConfig.instance().set_config(master)
    context = HydraContext(config_loader=ComposeOnce(loader()), callbacks=Callbacks(master))
    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=context, task_function=mlplab.cli._task, config=master
    )
    launcher.workers = 2
    returns = launcher.launch(jobs, initial_job_idx=0)
    assert [r.status for r in returns] == [JobStatus.COMPLETED] * 12
    assert len(list(writers.iterdir())) == 2  # both workers wrote folders
    assert (collect(tmp_path / "s")["status"] == "completed").all()


def test_a_group_that_fails_to_train_falls_back_to_fit(tmp_path, one_process, monkeypatch, capfd):
    real = mlplab.stacked.train_group

    def train_group(settings):
        if list(settings[0].model.hidden) == [4, 4]:
            raise RuntimeError("no memory for this group")
        return real(settings)

    monkeypatch.setattr(mlplab.stacked, "train_group", train_group)
    returns, rows = launch(tmp_path, 2)
    # fit and fit_many agree to float tolerance, not bit for bit: compare what the table shows
    plain = one_process[1]
    assert (rows["status"] == "completed").all()
    assert rows["val_acc"].round(6).equals(plain["val_acc"].round(6))
    logged = "".join(capfd.readouterr())  # the worker that trained it says so
    assert "stacked group of 3 failed (RuntimeError: no memory for this group)" in logged


@pytest.mark.parametrize("where", ["training", "writing"])
def test_work_of_a_worker_that_dies_runs_here(tmp_path, one_process, monkeypatch, capfd, where):
    real_train, real_run = mlplab.stacked.train_group, mlplab.job.run_job

    def train_group(settings):
        if where == "training" and os.getpid() != PARENT and len(settings[0].model.hidden) == 2:
            os._exit(9)  # killed mid-task (out of memory, say)
        return real_train(settings)

    def run_job(s, run_dir, *args, **kwargs):
        if where == "writing" and os.getpid() != PARENT and s.seed == 2:
            os._exit(9)
        return real_run(s, run_dir, *args, **kwargs)

    monkeypatch.setattr(mlplab.stacked, "train_group", train_group)
    monkeypatch.setattr(mlplab.job, "run_job", run_job)
    same_as_one_process(*launch(tmp_path, 2), one_process)
    assert "a worker process died" in "".join(capfd.readouterr())
    assert not list(tmp_path.glob("mlplab-groups-*"))


def test_pack_and_unpack_carry_a_job_return_across(tmp_path):
    master, jobs = sweep_jobs([*GRID, f"hydra.sweep.dir={tmp_path}"])
    compose = ComposeOnce(loader())
    config = compose.load_sweep_config(master, jobs[4])
    twin = pickle.loads(pickle.dumps(config))  # the launching process's own copy
    context = HydraContext(config_loader=compose, callbacks=Callbacks(master))
    ret = sl.run_job(context, lambda cfg: {"ok": 1}, config)
    expected = OmegaConf.to_yaml(ret.hydra_cfg)
    arrived = sl.unpack(twin, *pickle.loads(pickle.dumps(sl.pack(ret))))
    assert OmegaConf.to_yaml(arrived.hydra_cfg) == expected
    assert arrived.hydra_cfg.hydra.runtime.output_dir == os.path.abspath(tmp_path / "4") or (
        arrived.hydra_cfg.hydra.runtime.output_dir.startswith(str(tmp_path))
    )
    assert OmegaConf.is_readonly(arrived.hydra_cfg.hydra)
    assert arrived.return_value == {"ok": 1} and OmegaConf.to_yaml(
        arrived.cfg
    ) == OmegaConf.to_yaml(ret.cfg)
