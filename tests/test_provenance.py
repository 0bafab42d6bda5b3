"""Provenance through the real command: each result.json and a sweep's provenance.json say
which software, hardware, start time and git commit produced them."""

import json
import platform
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy
import pytest
import torch
from conftest import run_cli

import mlplab
from mlplab import provenance

KEYS = {"mlplab", "torch", "python", "numpy", "platform", "cuda_devices", "git_commit",
        "git_dirty", "device", "device_name", "threads", "started"}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return proc.stdout.strip()


NEEDS_GIT = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "notes.txt").write_text("first\n")
    git(tmp_path, "add", "notes.txt")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def cpu_model_by_hand() -> str:
    """The CPU's name as /proc/cpuinfo gives it (or platform, elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        if names:
            return names[0]
    return platform.processor() or platform.machine()


def single_result(folder: Path) -> dict:
    (path,) = (folder / "outputs" / "runs").glob("*/*/result.json")
    return json.loads(path.read_text())


def check_versions_and_machine(record: dict, threads: int | None) -> None:
    """``threads`` None: the record of a process that had not loaded torch (a sweep's
    launching process), whose torch-only keys are null."""
    assert set(record) == KEYS
    assert record["mlplab"] == mlplab.__version__
    assert record["torch"] == torch.__version__
    assert record["numpy"] == numpy.__version__
    assert record["python"] == platform.python_version()
    assert record["cuda_devices"] == (None if threads is None else torch.cuda.device_count())
    if record["device"] == "cpu":
        assert record["device_name"] == cpu_model_by_hand()
    else:
        assert record["device_name"] == torch.cuda.get_device_name(record["device"])
    assert record["threads"] == threads


@NEEDS_GIT
def test_a_run_and_a_sweep_record_their_software_machine_time_and_commit(repo):
    before = datetime.now().astimezone()
    proc = run_cli("trainer.epochs=2", "trainer.figures=false", cwd=repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = run_cli("-m", "seed=0,1", "trainer.epochs=2", "hydra.sweep.dir=sweep", cwd=repo)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    after = datetime.now().astimezone()
    head = git(repo, "rev-parse", "HEAD")
    records = [single_result(repo)["provenance"]]
    records += [
        json.loads(p.read_text())["provenance"] for p in (repo / "sweep").glob("*/result.json")
    ]
    assert len(records) == 3
    for record in records:
        check_versions_and_machine(record, threads=1)  # trainer.threads=1, the default
        assert record["git_commit"] == head
        assert record["git_dirty"] is False  # outputs/ and sweep/ are untracked: not changes
        assert before <= datetime.fromisoformat(record["started"]) <= after
    # the two jobs of the sweep trained as one stack: one start
    assert records[1]["started"] == records[2]["started"]
    # the sweep folder records the same once, for the process that launched it: it plans
    # and writes tables without torch, so torch's device count and threads are the jobs'
    sweep_record = json.loads((repo / "sweep" / provenance.PROVENANCE_FILE).read_text())
    check_versions_and_machine(sweep_record, threads=None)
    assert sweep_record["git_commit"] == head and sweep_record["git_dirty"] is False
    assert datetime.fromisoformat(sweep_record["started"]) <= datetime.fromisoformat(
        records[1]["started"]
    )


@NEEDS_GIT
def test_a_changed_tracked_file_makes_the_checkout_dirty(repo):
    (repo / "notes.txt").write_text("changed\n")
    proc = run_cli("trainer.epochs=1", "trainer.figures=false", cwd=repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = single_result(repo)["provenance"]
    assert record["git_dirty"] is True and record["git_commit"] == git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "-am", "second")  # committed: clean again, at the new commit
    shutil.rmtree(repo / "outputs")
    proc = run_cli("trainer.epochs=1", "trainer.figures=false", cwd=repo)
    record = single_result(repo)["provenance"]
    assert record["git_dirty"] is False and record["git_commit"] == git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("git_on_path", [True, False], ids=["outside a checkout", "without git"])
def test_outside_a_checkout_or_without_git_the_git_keys_are_null(tmp_path, git_on_path):
    # no git repository above tmp_path is looked at; without git, PATH holds no git at all
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    if not git_on_path:
        env["PATH"] = str(Path(sys.executable).parent)
        assert shutil.which("git", path=env["PATH"]) is None
    proc = run_cli("trainer.epochs=1", "trainer.figures=false", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = single_result(tmp_path)["provenance"]
    assert record["git_commit"] is None and record["git_dirty"] is None
    check_versions_and_machine(record, threads=1)


def test_a_failed_job_records_provenance_too(tmp_path):
    proc = run_cli(
        "-m", "model.dropout=0.0,1.5", "trainer.epochs=1", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    for path in (tmp_path / "sweep").glob("*/result.json"):
        assert set(json.loads(path.read_text())["provenance"]) == KEYS


def test_the_fixed_part_is_looked_up_once_per_process_and_folder(tmp_path, monkeypatch):
    provenance.record()
    calls = provenance.git_state.cache_info().misses
    provenance.record()
    assert provenance.git_state.cache_info().misses == calls  # the same folder: cached
    monkeypatch.chdir(tmp_path)
    provenance.record()
    assert provenance.git_state.cache_info().misses == calls + 1  # another folder: looked up
