"""Runs reported where people already look: TensorBoard and MLflow, a group at a time.

``job.run_group`` calls :func:`log_group` once per group, after the group's folders are
written (failed jobs' too), so a logger reads what is on disk and never slows a step or
an epoch: each job's per-epoch scalars come from its ``history.csv`` and go out in one
write. What a job reports is what its results.csv row says: its knobs (``hidden``,
``lr``, ``seed``, every ``section.key``) as hyper-parameters, and its numeric outcomes
(``val_acc``, ``best_val_acc``, ``params``, ...) as results under ``result/<column>``.

- ``tensorboard``: one event file in each run folder, so that ``tensorboard --logdir
  SWEEP`` shows every job as a run (named after its folder): the history as scalars per
  epoch, the results at the last epoch, and the knobs (with ``status``) in the HParams
  dashboard.
- ``mlflow``: one MLflow run per job (named after its folder), in one experiment per
  sweep (named after the sweep folder; single runs go to ``runs``): params, per-epoch
  metrics, results, the run folder's figures as artifacts, and the run's status
  (FINISHED, or FAILED for a failed or diverged job). The default store is the SQLite
  file ``outputs/mlflow.db`` with artifacts beside it in ``outputs/mlartifacts``.

A logger that fails (a tracking server down) costs a warning line, never a run.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from . import environ, settings
from .lifecycle import Job
from .results import (
    FINISHED,
    HISTORY_COLUMNS,
    HISTORY_FILE,
    JOBS_FILE,
    atomic_write,
    is_knob,
    job_row,
)
from .settings import ConfigError, LoggerSettings

RESULT_PREFIX = "result/"  #: results (final and best metrics, params, ...) under result/<column>
EPOCH_METRICS = tuple(c for c in HISTORY_COLUMNS if c not in ("epoch", "seconds"))
SINGLE_RUNS_EXPERIMENT = "runs"  #: MLflow's experiment for runs of their own, by default
NOT_REPORTED = ("status", "error", "overrides", "run_dir", "trial")  #: neither knob nor result


SERVER_TIMEOUT = 3.0  # seconds a tracking server has to answer before any training


def check_servers(settings_list: list) -> None:
    """Refuse, before any training, an MLflow tracking server that does not answer: one
    line naming the URI (MLflow's own client would retry for minutes, run after run).
    Only http(s) URIs are servers; a database or file store is opened where it is used."""
    import urllib.error
    import urllib.request

    uris = {
        s.logger.mlflow.tracking_uri
        for s in settings_list
        if s is not None and s.logger.mlflow.enabled
        and s.logger.mlflow.tracking_uri.startswith(("http://", "https://"))
    }  # fmt: skip
    for uri in sorted(uris):
        try:  # the server's health endpoint; no retries
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT).close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(
                f"logger.mlflow.tracking_uri={uri}: no MLflow server answers there ({reason}); "
                "start it (mlflow server --host HOST --port PORT) or log to a file store, "
                "e.g. logger.mlflow.tracking_uri=sqlite:///outputs/mlflow.db."
            ) from None


def log_group(
    jobs: list[Job], results: list[dict], single: bool = False, warn: bool = True
) -> None:
    """Report each job (with its result, as returned by ``run_group``) to the loggers it
    asks for. Never raises: a logger that fails marks the results it could not report
    (``result["unreported"]``: logger name -> why) and, with ``warn``, prints one warning
    line (a sweep's launcher says it once for the whole sweep instead)."""
    for name, report in LOGGERS.items():
        chosen = [
            (job, result)
            for job, result in zip(jobs, results)
            if _enabled(name, logger_settings(job))
        ]
        if not chosen:
            continue
        try:
            report([Report.of(job, result, single) for job, result in chosen])
        except Exception as exc:
            why = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            for _, result in chosen:
                result.setdefault("unreported", {})[name] = why
            if warn:
                print(unreported_line(name, len(chosen), why), file=sys.stderr)


def unreported_line(name: str, count: int, why: str) -> str:
    return (
        f"mlplab: warning: logger={name} could not report {count} run(s) ({why}); "
        "their folders are complete."
    )


def logger_settings(job: Job) -> LoggerSettings:
    """The job's ``logger`` settings (from its config when its settings were refused)."""
    if job.settings is not None:
        return job.settings.logger
    tree = settings.unflatten(job.config)
    return settings.from_tree(tree.get("logger", {}), LoggerSettings)


def _enabled(name: str, options: LoggerSettings) -> bool:
    section = getattr(options, name, None)  # csv has none: its files are the folders' own
    return section is not None and section.enabled


class Report:
    """What one job reports: its names, knobs, per-epoch history and results."""

    def __init__(self, job: Job, result: dict, sweep_dir: Path | None) -> None:
        self.job, self.result = job, result
        self.run_dir = Path(result.get("run_dir") or job.run_dir)
        self.sweep_dir = sweep_dir
        self.name = str(self.run_dir.relative_to(sweep_dir)) if sweep_dir else self.run_dir.name
        row = job_row(result, self.name)
        self.status = row["status"]
        self.knobs = {c: v for c, v in row.items() if is_knob(c) and v is not None}
        self.results = {
            RESULT_PREFIX + c: float(v)
            for c, v in row.items()
            if not is_knob(c) and c not in NOT_REPORTED and _is_number(v)
        }
        self.epochs = int(result.get("epochs_run") or 0)

    @classmethod
    def of(cls, job: Job, result: dict, single: bool) -> Report:
        return cls(job, result, None if single else sweep_dir_of(Path(job.run_dir)))

    def history(self) -> list[dict]:
        """``history.csv``'s rows as numbers, every ``logger.every_n_epochs``-th epoch and the
        last (a failed job may have none)."""
        try:
            with open(self.run_dir / HISTORY_FILE, newline="") as file:
                rows = list(csv.DictReader(file))
        except FileNotFoundError:
            return []
        every = logger_settings(self.job).every_n_epochs
        kept = [row for i, row in enumerate(rows) if i % every == 0 or i == len(rows) - 1]
        return [{k: float(v) if v else None for k, v in row.items()} for row in kept]

    def started(self) -> datetime:
        stamp = (self.result.get("provenance") or {}).get("started")
        return datetime.fromisoformat(stamp) if stamp else datetime.now().astimezone()


def sweep_dir_of(run_dir: Path) -> Path:
    """The sweep folder a job folder belongs to: the nearest one above it with the sweep's
    ``jobs.jsonl`` (mlplab's sweepers write it first), else its parent."""
    for folder in run_dir.parents:
        if (folder / JOBS_FILE).is_file():
            return folder
    return run_dir.parent


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------- TensorBoard


def to_tensorboard(reports: list[Report]) -> None:
    """One event file per run folder: knobs, per-epoch scalars, results (TensorBoard's own
    protobufs and record writer; written in one go, replacing an earlier attempt's file)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams.summary_v2 import hparams_pb

    for report in reports:
        wall = time.time()
        hparams = {**report.knobs, "status": report.status}
        summaries = [(0, hparams_pb(hparams, start_time_secs=report.started().timestamp()))]
        for row in report.history():
            values = [Summary.Value(tag=name, simple_value=row[name])
                      for name in EPOCH_METRICS if row.get(name) is not None]  # fmt: skip
            summaries.append((int(row["epoch"]), Summary(value=values)))
        results = [Summary.Value(tag=k, simple_value=v) for k, v in report.results.items()]
        summaries.append((report.epochs, Summary(value=results)))
        events = [Event(wall_time=wall, file_version="brain.Event:2")]  # the file's header
        events += [Event(wall_time=wall, step=step, summary=s) for step, s in summaries]
        for old in report.run_dir.glob("events.out.tfevents.*"):  # an earlier attempt's
            old.unlink()
        name = f"events.out.tfevents.{int(wall):010d}.{socket.gethostname()}.{os.getpid()}.mlplab"
        atomic_write(report.run_dir / name, functools.partial(_write_events, events))


def _write_events(events: list, path: Path) -> None:
    from tensorboard.summary.writer.record_writer import RecordWriter

    with open(path, "wb") as file:
        writer = RecordWriter(file)  # TensorBoard's framing: length, data, checksums
        for event in events:
            writer.write(event.SerializeToString())


# ---------------------------------------------------------------- MLflow


def to_mlflow(reports: list[Report]) -> None:
    """One MLflow run per job, in its sweep's experiment (created on first use)."""
    by_store: dict[tuple[str, str], list[Report]] = {}
    for report in reports:
        options = logger_settings(report.job).mlflow
        name = options.experiment or (
            _display_path(report.sweep_dir) if report.sweep_dir else SINGLE_RUNS_EXPERIMENT
        )
        by_store.setdefault((_resolved(options.tracking_uri), name), []).append(report)
    for (uri, experiment), group in by_store.items():
        # a server lost during a sweep: one failure, at once (MLflow retries for minutes
        # by default, and urllib3 says so on the terminal each time)
        with environ.defaults(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
                              MLFLOW_HTTP_REQUEST_TIMEOUT=str(int(SERVER_TIMEOUT * 4))):  # fmt: skip
            _report_to(uri, experiment, group)


def _report_to(uri: str, experiment: str, group: list) -> None:
    from mlflow.entities import Metric, Param

    urllib3 = logging.getLogger("urllib3")
    level = urllib3.level
    urllib3.setLevel(logging.ERROR)
    try:
        client, experiment_id = _experiment(uri, experiment, group[0].sweep_dir)
        for report in group:
            run = client.create_run(
                experiment_id,
                start_time=int(report.started().timestamp() * 1000),
                run_name=report.name,
                tags=_tags(report),
            )
            now = int(time.time() * 1000)
            metrics = [
                Metric(name, row[name], now, int(row["epoch"]))
                for row in report.history()
                for name in EPOCH_METRICS
                if row.get(name) is not None
            ]
            metrics += [Metric(k, v, now, report.epochs) for k, v in report.results.items()]
            params = [Param(k, _text(v)) for k, v in report.knobs.items()]
            # the client cuts these into MLflow's batch limits: one call per 1000 metrics
            client.log_batch(run.info.run_id, metrics=metrics, params=params)
            for figure in sorted(report.run_dir.glob("*.png")):
                client.log_artifact(run.info.run_id, str(figure))
            status = "FINISHED" if report.status in FINISHED else "FAILED"
            client.set_terminated(run.info.run_id, status, int(time.time() * 1000))
    finally:
        urllib3.setLevel(level)


def _tags(report: Report) -> dict[str, str]:
    tags = {
        "mlplab.status": report.status,
        "mlplab.run_dir": str(report.run_dir),
        "mlplab.overrides": " ".join(report.result.get("overrides") or []),
    }
    if report.result.get("error"):
        tags["mlplab.error"] = str(report.result["error"])[:5000]
    for key, value in (report.result.get("provenance") or {}).items():
        tags[f"mlplab.provenance.{key}"] = _text(value)
    return tags


def _text(value) -> str:
    """A param or tag value as typed in a config: 0.01, true, null, relu, [8,8]."""
    return value if isinstance(value, str) else json.dumps(value)


def _experiment(uri: str, name: str, sweep_dir: Path | None):
    """(client, experiment id) of the experiment called ``name``, made on first use.

    A new SQLite store is created by the first process that opens it; the lock keeps two
    workers of a sweep from creating it (or the experiment) at once.
    """
    from mlflow.exceptions import MlflowException

    with _store_lock(uri):
        client = _client(uri)
        found = client.get_experiment_by_name(name)
        if found is None:
            tags = {"mlplab.sweep_dir": str(sweep_dir)} if sweep_dir else None
            try:
                return client, client.create_experiment(name, _artifacts(uri), tags)
            except MlflowException:  # made meanwhile by another process (a server's store)
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":  # deleted in the UI: the sweep brings it back
            client.restore_experiment(found.experiment_id)
    return client, found.experiment_id


@functools.cache
def _client(uri: str):
    """One client per tracking URI and process. Its database engine is made here, with
    SQLAlchemy's NullPool (an MLflow setting): no connection stays open between calls, so
    none is carried into a worker forked later."""
    from mlflow import MlflowClient

    chatter = logging.getLogger("mlflow.store.db.utils")  # "Creating initial ... tables"
    level = chatter.level
    chatter.setLevel(logging.WARNING)  # not between a sweep's progress lines
    try:
        with environ.defaults(MLFLOW_SQLALCHEMYSTORE_POOLCLASS="NullPool"):
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)  # opens the store (and its engine) now
    finally:
        chatter.setLevel(level)
    return client


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _resolved(uri: str) -> str:
    """A SQLite store's path made absolute (relative paths are from the working directory)."""
    path = _sqlite_path(uri)
    return f"sqlite:///{path.absolute()}" if path is not None else uri


def _artifacts(uri: str) -> str | None:
    """Where a SQLite store's runs keep artifacts: ``mlartifacts/`` beside the database
    (a server decides for itself)."""
    path = _sqlite_path(uri)
    return (path.parent / "mlartifacts").absolute().as_uri() if path is not None else None


@contextlib.contextmanager
def _store_lock(uri: str):
    path = _sqlite_path(uri)
    try:
        import fcntl
    except ImportError:  # Windows: no worker processes there (see hydra_plugins/mlplab_launcher)
        fcntl = None
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _display_path(folder: Path) -> str:
    """``folder`` relative to the working directory when inside it (the experiment's name)."""
    try:
        return str(folder.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(folder.absolute())


def _nothing(reports: list[Report]) -> None:
    """logger=csv: the run folders' own files are the record."""


# configs/logger/<name>.yaml -> what reports a group's jobs (tests/test_loggers.py checks the two agree)
LOGGERS: dict[str, Callable[[list[Report]], None]] = {
    "csv": _nothing,
    "tensorboard": to_tensorboard,
    "mlflow": to_mlflow,
}
