"""mlplab.lifecycle as units: a sweep's end on folders written by hand, and what the module
leaves unimported. The end-to-end tests (tests/test_sweep.py) run it through the command."""

import subprocess
import sys

import pandas as pd
import pytest

from mlplab.lifecycle import Job, SweepFailed, finish_sweep, finishing, record_jobs
from mlplab.results import RESULT_FILE, RESULTS_CSV, SUMMARY_CSV, write_json
from mlplab.settings import SweepSettings

KNOBS = {"model.hidden": [8], "optimizer.lr": 0.01}
SWEEP = SweepSettings(fail_fast=False, metric="auto", plot_by="seed", plan=False)


def finished_sweep(folder, statuses=("completed", "completed")):
    jobs = [
        Job(k, (f"seed={k}",), folder / f"seed={k}", {**KNOBS, "seed": k}, None)
        for k in range(len(statuses))
    ]
    record_jobs(folder, jobs)
    for job, status in zip(jobs, statuses):
        write_json(job.run_dir / RESULT_FILE, {
            "status": status, "config": job.config, "overrides": list(job.overrides),
            "val_acc": 0.5 + 0.1 * job.num, "error": None if status == "completed" else "boom",
        })  # fmt: skip


def test_the_module_imports_no_torch_plotting_or_hydra_internals():
    code = (
        "import sys, mlplab.lifecycle\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'mlplab.plots', 'hydra._internal')"
        " if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_tables_are_written_and_the_figures_drawn_only_by_the_callers_draw(tmp_path):
    finished_sweep(tmp_path)
    assert finish_sweep(tmp_path) == 0
    results = pd.read_csv(tmp_path / RESULTS_CSV)
    assert sorted(results["val_acc"]) == pytest.approx([0.5, 0.6])
    assert (tmp_path / SUMMARY_CSV).is_file() and not (tmp_path / "sweep.png").exists()
    drawn = []
    finish_sweep(tmp_path, by="seed", draw=lambda *args: drawn.append(args))
    assert len(drawn) == 1
    folder, table, summary, metric, by = drawn[0]
    assert folder == tmp_path and metric == "val_acc" and by == "seed" and len(table) == 2


def test_finishing_raises_sweep_failed_for_a_failed_job_after_writing_the_tables(tmp_path):
    finished_sweep(tmp_path, ("completed", "failed"))
    with pytest.raises(SweepFailed):
        with finishing(tmp_path, SWEEP):
            pass
    assert set(pd.read_csv(tmp_path / RESULTS_CSV)["status"]) == {"completed", "failed"}


def test_an_interrupt_still_leaves_the_tables_of_what_finished(tmp_path):
    finished_sweep(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with finishing(tmp_path, SWEEP):
            raise KeyboardInterrupt
    assert len(pd.read_csv(tmp_path / RESULTS_CSV)) == 2
