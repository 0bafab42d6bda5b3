"""Launchers: the stacked launcher against Hydra's own, its worker processes, and scaling out."""

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
from conftest import run_cli

GRID = ["model.hidden=[4],[8],[16]", "model.activation=relu,tanh", "seed=0,1", "trainer.epochs=3"]
SAME = [
    "hidden",
    "activation",
    "seed",
    "params",
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "best_epoch",
]


def sweep_rows(tmp_path, name, *launcher):
    proc = run_cli("-m", *GRID, *launcher, f"hydra.sweep.dir={name}", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = pd.read_csv(tmp_path / name / "results.csv")
    assert len(results) == 12 and (results["status"] == "completed").all()
    return results[SAME].sort_values(["hidden", "activation", "seed"], ignore_index=True)


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("basic")
    return folder / "basic", sweep_rows(folder, "basic", "hydra/launcher=basic")


@pytest.fixture(scope="module")
def basic_rows(basic_sweep):
    return basic_sweep[1]


def test_the_stacked_launcher_leaves_the_basic_launchers_rows_and_lean_folders(
    tmp_path, basic_sweep
):
    # the default launcher for sweeps trains the 12 jobs as 2 stacks (fit_many)
    proc = run_cli("-m", *GRID, "hydra.sweep.dir=basic", cwd=tmp_path, timeout=600)
    assert "12 in 2 stacks" in proc.stderr, proc.stderr[-2000:]
    rows = sweep_rows(tmp_path, "basic")  # resumes: every job is complete
    pd.testing.assert_frame_equal(rows, basic_sweep[1], check_exact=False, rtol=1e-5)
    # each job's folder is lean: what Hydra's run_job leaves, less its .hydra/ (the log
    # file is made only when a job logs something: these log nothing)
    ours, theirs = tmp_path / "basic", basic_sweep[0]
    jobs = sorted(p.name for p in ours.iterdir() if p.is_dir())
    assert len(jobs) == 12 and jobs == sorted(p.name for p in theirs.iterdir() if p.is_dir())
    for job in jobs:
        lean = {p.name for p in (ours / job).iterdir()}
        assert lean == {"history.csv", "layers.csv", "model.safetensors", "result.json"}
        assert {p.name for p in (theirs / job).iterdir()} - lean == {".hydra"}


def test_a_jobs_recorded_overrides_re_run_it_alone(tmp_path):
    proc = run_cli("-m", *GRID, "hydra.sweep.dir=sweep", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = pd.read_csv(tmp_path / "sweep" / "results.csv").iloc[7]
    alone = run_cli(*row["overrides"].split(), cwd=tmp_path)  # a single run, as a user types it
    assert alone.returncode == 0, alone.stderr[-2000:]
    (result,) = (tmp_path / "outputs" / "runs").glob("*/*/result.json")
    again = json.loads(result.read_text())
    job = json.loads((tmp_path / "sweep" / row["run_dir"] / "result.json").read_text())
    assert again["config"] == job["config"] and again["overrides"] == job["overrides"]
    for key in ("train_loss", "val_loss", "val_acc"):
        assert again[key] == pytest.approx(row[key], rel=1e-5)


@pytest.mark.parametrize(
    "plugin, launcher",
    [
        (
            "hydra_plugins.hydra_joblib_launcher",
            ["hydra/launcher=processes", "hydra.launcher.n_jobs=2"],
        ),
        ("hydra_plugins.hydra_submitit_launcher", ["hydra/launcher=submitit_local"]),
        (
            "hydra_plugins.hydra_ray_launcher",
            ["hydra/launcher=ray_local", "hydra.launcher.ray.init.num_cpus=2"],
        ),
    ],
    ids=["joblib", "submitit_local", "ray_local"],
)
def test_every_launcher_leaves_the_basic_launchers_rows(tmp_path, basic_rows, plugin, launcher):
    pytest.importorskip(plugin)
    rows = sweep_rows(tmp_path, "sweep", *launcher)
    pd.testing.assert_frame_equal(rows, basic_rows)  # same metrics for the same seeds on CPU


@pytest.mark.parametrize(
    "plugin, where",
    [
        ("ray", ["hydra.launcher.groups_on=ray", "+hydra.launcher.ray_init.num_cpus=2",
                 "+hydra.launcher.ray_init.include_dashboard=false"]),
        ("submitit", ["hydra.launcher.groups_on=submitit", "+hydra.launcher.submitit.cluster=local",
                      "+hydra.launcher.submitit.timeout_min=10"]),
    ],
    ids=["ray", "submitit_local"],
)  # fmt: skip
def test_stacked_groups_run_as_one_task_each_on_ray_and_submitit(
    tmp_path, basic_rows, plugin, where
):
    pytest.importorskip(plugin)
    proc = run_cli("-m", *GRID, *where, "hydra.sweep.dir=sweep", cwd=tmp_path, timeout=600)
    assert f"12 in 2 stacks, 0 alone; on {plugin}" in proc.stderr, proc.stderr[-2000:]
    rows = sweep_rows(tmp_path, "sweep")  # resumes: every job is complete
    pd.testing.assert_frame_equal(rows, basic_rows, check_exact=False, rtol=1e-5)


def test_an_unknown_place_for_groups_is_refused(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[8]", "hydra.launcher.groups_on=moon", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        "Unknown hydra.launcher.groups_on 'moon'. Choose one of: local, ray, submitit."
        in proc.stderr
    )


def test_worker_processes_leave_the_same_rows_as_one_process(tmp_path):
    one = run_cli("-m", *GRID, "hydra.launcher.workers=1", "hydra.sweep.dir=one", cwd=tmp_path)
    two = run_cli("-m", *GRID, "hydra.launcher.workers=2", "hydra.sweep.dir=two", cwd=tmp_path)
    assert one.returncode == two.returncode == 0, two.stderr[-2000:]
    assert "on 1 process" in one.stderr and "on 2 processes" in two.stderr
    rows = [pd.read_csv(tmp_path / name / "results.csv") for name in ("one", "two")]
    columns = [c for c in rows[0].columns if "seconds" not in c]
    pd.testing.assert_frame_equal(rows[0][columns], rows[1][columns])  # exactly: same arithmetic


PARENT = os.getpid()


def _die_in_a_worker_for_depth_two(fit_many):
    """fit_many, but a worker process that gets a depth-2 stack dies (out of memory, say)."""

    def fit(settings, data, *rest):
        if os.getpid() != PARENT and len(settings[0].model.hidden) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return fit_many(settings, data, *rest)

    return fit


def test_the_stacks_a_dead_worker_left_run_in_this_process(tmp_path, monkeypatch):
    import threading

    import mlplab.job
    from mlplab.cli import run

    # workers are forked from this process (no other thread runs): they inherit the fault
    assert threading.active_count() == 1, threading.enumerate()
    monkeypatch.setattr(mlplab.job, "fit_many", _die_in_a_worker_for_depth_two(mlplab.job.fit_many))
    grid = ["-m", "model.hidden=[4],[8],[4,4],[8,8]", "seed=0,1", "trainer.epochs=3",
            "hydra.launcher.workers=2", f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    run(grid)
    results = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert len(results) == 8 and (results["status"] == "completed").all()
    assert "a worker process died" in (tmp_path / "sweep" / "sweep.log").read_text()


def test_a_sweep_with_another_thread_alive_gives_the_same_rows(tmp_path):
    """Fork copies a lock another thread holds: with threads alive (a notebook's kernel),
    the workers start from a fork server instead."""
    import threading

    from mlplab.cli import run

    grid = [
        "-m",
        "model.hidden=[4],[4,4]",
        "seed=0,1",
        "trainer.epochs=3",
        "hydra.launcher.workers=2",
    ]
    run([*grid, f"hydra.sweep.dir={tmp_path / 'quiet'}"])
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        run([*grid, f"hydra.sweep.dir={tmp_path / 'busy'}"])
    finally:
        stop.set()
        thread.join()
    quiet, busy = (pd.read_csv(tmp_path / name / "results.csv") for name in ("quiet", "busy"))
    columns = [c for c in quiet.columns if "seconds" not in c]
    pd.testing.assert_frame_equal(quiet[columns], busy[columns])


def test_a_bad_worker_count_is_refused(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[8]", "hydra.launcher.workers=0", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "hydra.launcher.workers=0: give a positive number of processes" in proc.stderr
    assert not (tmp_path / "outputs").exists() or not any(
        (tmp_path / "outputs").rglob("result.json")
    )


def test_a_joblib_sweep_resumes_leaving_finished_jobs_untouched(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    joblib = ["hydra/launcher=processes", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep"]
    sweep = tmp_path / "sweep"
    first = run_cli(
        "-m", "model.hidden=[4],[8]", "seed=0,1", "trainer.epochs=3", *joblib, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr[-3000:]
    done = {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/result.json")}
    assert len(done) == 4
    rerun = run_cli("-m", "model.hidden=[4],[8],[16]", "seed=0,1,2", "trainer.epochs=3", *joblib,
                    cwd=tmp_path, timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) == 9 and (results["status"] == "completed").all()
    assert all((sweep / name / "result.json").stat().st_mtime_ns == t for name, t in done.items())


def test_all_extras_resolve_together():
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _raise_for_width_eight(fit):
    """fit, but the run of width 8 raises (a bug, say), wherever it trains."""

    def broken(model, data, s, loss, progress=None):
        if s.model.hidden == [8]:
            raise RuntimeError("planted")
        return fit(model, data, s, loss, progress)

    return broken


def test_a_job_that_raises_is_recorded_and_the_rest_complete(tmp_path, monkeypatch):
    import mlplab.job
    from mlplab.cli import run
    from mlplab.lifecycle import SweepFailed

    monkeypatch.setattr(mlplab.job, "fit", _raise_for_width_eight(mlplab.job.fit))
    # norm=layer does not stack: each job trains alone with fit
    grid = ["-m", "model.hidden=[4],[8],[16]", "model.norm=layer", "trainer.epochs=2",
            "hydra.launcher.workers=1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    with pytest.raises(SweepFailed):
        run(grid)
    results = pd.read_csv(tmp_path / "sweep" / "results.csv").set_index("hidden")
    assert results.loc["[8]", "status"] == "failed"
    assert results.loc["[8]", "error"] == "RuntimeError: planted"
    assert (results.drop("[8]")["status"] == "completed").all()
    failed = json.loads(
        (tmp_path / "sweep" / results.loc["[8]", "run_dir"] / "result.json").read_text()
    )
    assert "raise RuntimeError" in failed["traceback"]  # a bug says where it happened


def test_mlplabs_plugins_are_registered_without_patching_the_namespace_path(tmp_path):
    # a fresh process: Hydra's scan of hydra_plugins cannot see an editable checkout's
    # folder, so mlplab registers its classes through Plugins.register instead
    code = (
        "import hydra_plugins\n"
        "before = list(hydra_plugins.__path__)\n"
        "import mlplab.cli\n"
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.launcher import Launcher\n"
        "from hydra.plugins.sweeper import Sweeper\n"
        "print(list(hydra_plugins.__path__) == before)\n"
        "names = {c.__name__ for t in (Launcher, Sweeper) for c in Plugins.instance().discover(t)}\n"
        "print(sorted(names & {'StackedLauncher', 'GridSweeper', 'OptunaSweeper'}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == [
        "True", "['GridSweeper', 'OptunaSweeper', 'StackedLauncher']"
    ]  # fmt: skip
