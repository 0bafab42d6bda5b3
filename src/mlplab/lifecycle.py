"""A sweep's jobs (``Job``) and its life, shared by mlplab's sweepers (``hydra/sweeper=grid`` and ``optuna``).

Start (the folder, ``multirun.yaml``, provenance and ``jobs.jsonl``), record the jobs as
they are launched, and finish: ``results.csv`` and ``summary.csv`` built from the job
folders (``mlplab.results``), the figures drawn by the ``draw`` the caller gives
(``plots.sweep_figures``), the summary printed and the failures listed, also after Ctrl-C,
SIGTERM or a crash (``finishing``). Torch-free, no plotting and no Hydra internals: the
launching process plans, records and writes the tables without any of them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .results import (
    FINISHED,
    JOBS_FILE,
    RESULTS_CSV,
    SUMMARY_CSV,
    collect,
    column_named,
    default_metric,
    disk_full,
    is_knob,
    jsonable,
    read_jobs,
    summarize_sweep,
    write_csv,
    write_json,
    write_text,
)
from .settings import ConfigError, RunSettings, SweepSettings

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Job:
    """One job of a sweep: what re-runs it alone, where it writes, and its settings."""

    num: int  #: its index in the sweep (hydra.job.num)
    overrides: tuple[str, ...]  #: the task overrides: ``mlplab-run <these>`` re-runs it alone
    run_dir: Path  #: its folder (absolute)
    config: dict  #: its task config, flat (``section.key``), as composed
    settings: RunSettings | None  #: None when its config is invalid
    error: str | None = None  #: why its config is invalid (a ConfigError's line)
    identity: str | None = None  #: what decides its result (``results.identity``), when known


def record_jobs(sweep_dir: Path, jobs: Iterable) -> None:
    """Add jobs (``lifecycle.Job``) to the sweep's ``jobs.jsonl``: the tables list every
    launched job, those that never finished as ``incomplete`` with the overrides that
    re-run them."""
    path = Path(sweep_dir) / JOBS_FILE
    known = {line["run_dir"]: line for line in read_jobs(path)}
    for job in jobs:
        run_dir = os.path.relpath(job.run_dir, sweep_dir)
        known[run_dir] = {
            "run_dir": run_dir,
            "overrides": list(job.overrides),
            "config": job.config,
        }
    write_text(path, "".join(json.dumps(jsonable(line)) + "\n" for line in known.values()))


Draw = Callable[[Path, "pd.DataFrame", "pd.DataFrame", str, str], None]  #: plots.sweep_figures


def write_sweep_tables(
    sweep_dir: Path, metric: str = "auto", by: str = "depth", draw: Draw | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Re)build ``results.csv``, ``summary.csv`` and, with ``draw``, the sweep's figures."""
    sweep_dir = Path(sweep_dir)
    results = collect(sweep_dir)
    if results.empty:
        return results, results
    summary = summarize_sweep(results)
    write_csv(sweep_dir / RESULTS_CSV, results)
    write_csv(sweep_dir / SUMMARY_CSV, summary)
    if not (results.get("status") == "completed").any():
        return results, summary  # no metric to show yet (a sweep stopped before any job ended)
    metric = default_metric(results) if metric == "auto" else metric
    if metric not in results.columns:
        choices = sorted(c for c in results.columns if f"{c}_mean" in summary.columns)
        print(
            f"mlplab: warning: metric {metric!r} is not in results.csv; choose one of: {', '.join(choices)}.",
            file=sys.stderr,
        )
    try:
        by = ",".join(column_named(name.strip(), results.columns) for name in by.split(","))
    except ConfigError as exc:
        print(f"mlplab: warning: sweep figures skipped: {exc}", file=sys.stderr)
        return results, summary
    if draw is not None:
        draw(sweep_dir, results, summary, metric, by)
    return results, summary


def format_summary(results, summary, metric: str = "auto") -> str:
    """The summary as an aligned text table: varying knobs, params, metric mean ± std, n."""
    import pandas as pd

    metric = default_metric(results) if metric == "auto" else metric
    keys = [c for c in summary.columns if is_knob(c) and summary[c].astype(str).nunique() > 1]
    keys = keys or [c for c in ("dataset", "hidden") if c in summary.columns]
    table = summary[keys].copy()
    if "params_mean" in summary.columns:
        table["params"] = summary["params_mean"].round().astype("Int64")
    for name in dict.fromkeys(("train_acc" if metric.endswith("acc") else "train_loss", metric)):
        mean, std = summary.get(f"{name}_mean"), summary.get(f"{name}_std")
        if mean is None:
            continue
        scale, fmt, fmt_std = (
            (100, "{:.1f}", "{:.1f}") if name.endswith("acc") else (1, "{:.4g}", "{:.2g}")
        )
        stds = std if std is not None else [None] * len(mean)
        table[name + (" %" if scale == 100 else "")] = [
            "-" if pd.isna(m)
            else fmt.format(m * scale) + ("" if pd.isna(s) else " ± " + fmt_std.format(s * scale))
            for m, s in zip(mean, stds)
        ]  # fmt: skip
    table["n"] = summary["n"]
    if summary["n_failed"].any():
        table["failed"] = summary["n_failed"]
    # one mark for a missing value, whatever the column's type (<NA>, NaN, None)
    return table.astype(object).where(table.notna(), "-").to_string(index=False)


def finish_sweep(
    sweep_dir: Path,
    metric: str = "auto",
    by: str = "depth",
    stopped: str | None = None,
    draw: Draw | None = None,
) -> int:
    """Write the sweep's tables (and figures, with ``draw``), print its summary and
    failures; return the exit code.

    ``stopped``: why the sweep stopped launching jobs early (``sweep.fail_fast``), a line.
    """
    results, summary = write_sweep_tables(sweep_dir, metric, by, draw)
    if results.empty:
        print(f"no jobs found under {sweep_dir}", file=sys.stderr)
        return 1
    print(format_summary(results, summary, metric))
    counts = ", ".join(f"{n} {status}" for status, n in results["status"].value_counts().items())
    print(f"\n{len(results)} jobs: {counts}")
    plot = f"  plot: {sweep_dir / 'sweep.png'}" if draw is not None else ""
    print(f"tables: {sweep_dir / RESULTS_CSV}  {sweep_dir / SUMMARY_CSV}{plot}")
    bad = results[~results["status"].isin(FINISHED)]
    for _, row in bad.head(10).iterrows():
        print(
            f"  {row['status']}: {row['overrides'] or row['run_dir']}: {row['error']}",
            file=sys.stderr,
        )
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more (see results.csv)", file=sys.stderr)
    if stopped:
        print(stopped, file=sys.stderr)
    return 0 if bad.empty and not stopped else 1


class SweepFailed(Exception):
    """A sweep ended with jobs that did not complete (their rows say why): exit status 1."""


def check_jobs(jobs: list) -> None:
    """Refuse a sweep in which every job's settings are invalid: one line, nothing written."""
    if jobs and all(job.error for job in jobs):
        raise ConfigError(jobs[0].error)


def start_sweep(config, jobs: list) -> Path:
    """Make the sweep folder, save its config (``multirun.yaml``) and its provenance, and
    record its jobs."""
    from omegaconf import OmegaConf

    from . import provenance

    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, sweep_dir / "multirun.yaml")  # as Hydra's basic sweeper does
        write_json(sweep_dir / provenance.PROVENANCE_FILE, provenance.record())
        record_jobs(sweep_dir, jobs)
    except OSError as exc:
        raise ConfigError(
            f"hydra.sweep.dir={str(sweep_dir)!r}: cannot write the sweep folder there ({exc.strerror})."
        ) from None
    return sweep_dir


def first_failure(returns) -> str | None:
    """``fail_fast: stopped after <overrides>: <error>`` for the first job (in job order)
    that did not complete, if any."""
    for ret in returns:
        value = ret.return_value
        if isinstance(value, dict) and value.get("status") not in FINISHED:
            overrides = " ".join(value.get("overrides") or [])
            return f"fail_fast: stopped after {overrides}: {value.get('error')}"
    return None


class finishing:
    """``with finishing(sweep_dir, sweep, draw) as end:`` the sweep's jobs, then its tables.

    On the way out the tables are written and printed (by ``sweep.metric`` and
    ``sweep.plot_by``); ``end.stopped`` says why the sweep stopped early, if it did. A sweep
    with jobs that did not complete raises SweepFailed; one that crashed still gets the
    tables of the jobs on disk, then its error. A Ctrl-C or a SIGTERM (KeyboardInterrupt)
    gets the tables of what finished, written without a word: the command says in one
    line how to resume.
    """

    def __init__(self, sweep_dir: Path, sweep: SweepSettings, draw: Draw | None = None) -> None:
        self.sweep_dir, self.stopped, self.draw = Path(sweep_dir), None, draw
        self.metric, self.by = sweep.metric, sweep.plot_by

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace) -> None:
        if disk_full(error):  # no table could be written either: the command says what is kept
            return
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            try:
                write_sweep_tables(self.sweep_dir, self.metric, self.by, self.draw)
            except Exception as exc:
                print(f"mlplab: warning: no tables ({type(exc).__name__}: {exc})", file=sys.stderr)
            return
        if kind is not None:  # a crash: the tables of what is on disk, then its error
            try:
                finish_sweep(self.sweep_dir, self.metric, self.by, self.stopped, self.draw)
            except Exception as exc:
                print(f"mlplab: warning: no tables ({type(exc).__name__}: {exc})", file=sys.stderr)
            return
        code = finish_sweep(self.sweep_dir, self.metric, self.by, self.stopped, self.draw)
        if code:
            raise SweepFailed(f"some jobs of the sweep in {self.sweep_dir} did not complete")
