"""Scaling out with Hydra's real launchers: same rows, resume (the Optuna sweeper: test_optuna)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
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


def hydra_files(job: Path, sweep: Path) -> dict:
    """A job's .hydra/ files as parsed YAML, its working folder and launcher left out."""
    files = {}
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        text = (job / ".hydra" / name).read_text()
        files[name] = yaml.safe_load(text.replace(str(sweep.parent), "CWD"))  # the run's folder
    hydra = files["hydra.yaml"]["hydra"]
    del hydra["launcher"], hydra["runtime"]["choices"]["hydra/launcher"]
    hydra["overrides"]["hydra"] = [o for o in hydra["overrides"]["hydra"] if "launcher" not in o]
    return files


def test_the_stacked_launcher_leaves_the_basic_launchers_rows_and_files(tmp_path, basic_sweep):
    # the default launcher for sweeps trains the 12 jobs as 2 stacked groups (fit_many)
    proc = run_cli("-m", *GRID, "hydra.sweep.dir=basic", cwd=tmp_path, timeout=600)
    assert "12 of them trained in 2 stacked groups (local)" in proc.stderr + proc.stdout
    rows = sweep_rows(tmp_path, "basic")  # resumes: every job is complete
    pd.testing.assert_frame_equal(rows, basic_sweep[1], check_exact=False, rtol=1e-5)
    # each job's folder holds what Hydra's own run_job leaves under the basic launcher
    ours, theirs = tmp_path / "basic", basic_sweep[0]
    jobs = sorted(p.name for p in ours.iterdir() if p.is_dir())
    assert len(jobs) == 12 and jobs == sorted(p.name for p in theirs.iterdir() if p.is_dir())
    for job in jobs:
        assert hydra_files(ours / job, ours) == hydra_files(theirs / job, theirs), job
        assert (ours / job / ".hydra" / "config.yaml").read_bytes() == (
            theirs / job / ".hydra" / "config.yaml"
        ).read_bytes()
        assert {p.name for p in (ours / job).iterdir()} == {
            p.name for p in (theirs / job).iterdir()
        }


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
    assert f"12 of them trained in 2 stacked groups ({plugin})" in proc.stderr + proc.stdout, (
        proc.stderr[-2000:]
    )
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
    assert "in 1 process" in one.stdout + one.stderr
    assert "in 2 processes" in two.stdout + two.stderr
    rows = [pd.read_csv(tmp_path / name / "results.csv") for name in ("one", "two")]
    columns = [c for c in rows[0].columns if "seconds" not in c]
    pd.testing.assert_frame_equal(rows[0][columns], rows[1][columns])  # exactly: same arithmetic
    for job in rows[1]["run_dir"]:  # every folder complete, as Hydra's run_job leaves it
        folder = tmp_path / "two" / job
        assert {"config.yaml", "hydra.yaml", "overrides.yaml"} <= {
            p.name for p in (folder / ".hydra").iterdir()
        }
        assert (folder / "history.csv").is_file() and (folder / "result.json").is_file()


PARENT = os.getpid()


def _square_or_die(x):
    if x == 2 and os.getpid() != PARENT:
        os._exit(9)  # a worker killed mid-task (out of memory, say)
    if x == 3:
        raise ValueError("three")
    return x * x


def test_work_a_dead_worker_took_runs_in_this_process():
    from mlplab.workers import map_forked

    out = map_forked(_square_or_die, [0, 1, 2, 3, 4], workers=2)
    assert out[:3] == [0, 1, 4] and out[4] == 16
    assert isinstance(out[3], ValueError)  # an exception comes back in its item's place
    assert map_forked(_square_or_die, [0, 1, 2, 3, 4], workers=1)[2] == 4


def test_no_fork_while_another_thread_runs():
    import threading

    from mlplab.workers import map_forked

    assert set(map_forked(lambda _: os.getpid(), range(4), workers=2)) != {os.getpid()}
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:  # a lock that thread held would stay held in a forked child: everything runs here
        assert map_forked(lambda _: os.getpid(), range(4), workers=2) == [os.getpid()] * 4
    finally:
        stop.set()
        thread.join()


def test_a_bad_worker_count_is_refused(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[8]", "hydra.launcher.workers=0", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "hydra.launcher.workers=0: give a positive number of processes" in proc.stderr
    assert not (tmp_path / "outputs").exists() or not any(
        (tmp_path / "outputs").rglob("result.json")
    )


def test_a_killed_joblib_sweep_resumes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    args = ["-m", "model.hidden=[4],[8],[16],[32]", "seed=0,1,2", "trainer.epochs=200",
            "hydra/launcher=processes", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep"]  # fmt: skip
    sweep = tmp_path / "sweep"
    # a new session, so the kill takes the joblib workers down with the parent
    proc = subprocess.Popen([sys.executable, "-m", "mlplab", *args], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 180
    while (
        len(list(sweep.glob("*/result.json"))) < 3
        and time.monotonic() < deadline
        and proc.poll() is None
    ):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    done = {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/result.json")}
    assert 3 <= len(done) < 12
    rerun = run_cli(*args, cwd=tmp_path, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) == 12 and (results["status"] == "completed").all()
    assert all((sweep / name / "result.json").stat().st_mtime_ns == t for name, t in done.items())


def test_all_extras_resolve_together():
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
