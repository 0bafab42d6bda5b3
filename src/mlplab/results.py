"""Run and sweep files: atomic writes, a run folder's files, and a sweep's tables.

A run folder is complete when its ``result.json`` exists: it is written last, after
every other file, so a killed run leaves no result and runs again on resume. A sweep's
tables are a function of its folder: ``jobs.jsonl`` (every job the sweep launched, with
its overrides and config), each job's ``result.json``, and an Optuna search's
``trials.csv``. So ``mlplab-aggregate`` rebuilds exactly what the sweep wrote, after a
kill too. This module imports no torch (``mlplab-aggregate`` starts fast).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .settings import METRIC_NAMES, ConfigError

if TYPE_CHECKING:
    import pandas as pd

RESULT_FILE = "result.json"
HISTORY_FILE = "history.csv"
LAYERS_FILE = "layers.csv"
CHECKPOINT_FILE = "model.safetensors"
RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
JOBS_FILE = "jobs.jsonl"  #: one line per job a sweep launched: run_dir, overrides, config
TRIALS_CSV = "trials.csv"  #: an optimizing sweeper's trials: trial, state, value, run_dir, ...
HISTORY_COLUMNS = ("epoch", *METRIC_NAMES, "seconds")
# layers.csv: where and what (mlplab.diagnostics measures them), then the measurements
LAYER_COLUMNS = (
    "epoch", "layer", "kind", "width", "act_mean", "act_std", "act_abs_mean", "zero_fraction",
    "dead_fraction", "weight_norm", "grad_norm",
)  # fmt: skip
LAYER_METRICS = LAYER_COLUMNS[LAYER_COLUMNS.index("act_mean") :]


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space, or no quota, left on the device


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that found its device full: the sweep stops there."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see half a file.

    The temporary file is named after this process, so two processes never share one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_rows(path: Path, rows: Iterable[dict], columns: Sequence[str]) -> None:
    """A CSV of ``rows`` (dicts) under ``columns``, read back by pandas as written: floats
    by ``repr`` (exact), None as an empty cell, NaN as ``nan``. No pandas needed to write."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([row.get(c) for c in columns] for row in rows)
    write_text(path, out.getvalue())


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")


def jsonable(obj):
    """NaN/inf are not JSON: store them as null (a diverged run has no finite loss)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def read_result(run_dir: Path) -> dict | None:
    """The run's ``result.json``, or None when the run never finished writing it."""
    path = Path(run_dir) / RESULT_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


FINISHED = ("completed", "pruned")  # a job that ran to its end (a search's pruner ends some)


def is_complete(run_dir: Path) -> bool:
    result = read_result(run_dir)
    return result is not None and result.get("status") in FINISHED


STALE_DIR = "stale"  # where a sweep keeps the folders of jobs whose identity changed


def identity(config: dict, data: str | None) -> str:
    """What decides a job's result: every key of its composed config (flat) but the ones
    that do not reach training (``NOT_KNOBS``: progress, threads, loggers, ...), and the
    fingerprint of its data file (``data.fingerprint``; None for generated data)."""
    knobs = {key: value for key, value in config.items() if key not in NOT_KNOBS}
    text = json.dumps([knobs, data], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def reusable(run_dir: Path, ident: str, data: str | None) -> tuple[str | None, dict | None]:
    """Whether the folder's result can stand for this job, and the result.

    ("complete", result): a completed result of this identity; ("stale", result): a
    completed result made under another config or other data; (None, None): none. A result
    written before identities were recorded is checked against its stored config, and is
    stale when a data file is involved (its data cannot be told).
    """
    result = read_result(run_dir)
    if result is None or result.get("status") not in FINISHED:
        return None, None
    stored = result.get("identity")
    if stored is None:
        stored = identity(result.get("config") or {}, None) if data is None else None
    return ("complete" if stored == ident else "stale"), result


def move_aside(run_dir: Path, sweep_dir: Path, copy: bool = False) -> Path:
    """Move a stale job folder into the sweep's ``stale/`` folder, never over another.

    ``copy``: copy it there instead and remove its result.json, for a folder a launcher has
    already prepared for the job's new run (Hydra's own launchers write ``.hydra/`` first).
    """
    import shutil

    target = Path(sweep_dir) / STALE_DIR / Path(run_dir).name
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{Path(run_dir).name}.{n}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copytree(run_dir, target)
        (Path(run_dir) / RESULT_FILE).unlink()
    else:
        os.replace(run_dir, target)
    return target


def history_frame(history: Iterable[dict]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(history), columns=list(HISTORY_COLUMNS))


# ---------------------------------------------------------------- sweep tables

# The knobs people sweep, under the short column names they read in results.csv.
SHORT_NAMES = {
    "dataset.name": "dataset",
    "model.hidden": "hidden",
    "model.activation": "activation",
    "model.init": "init",
    "loss": "loss",
    "optimizer.name": "optimizer",
    "optimizer.lr": "lr",
    "optimizer.weight_decay": "weight_decay",
    "trainer.batch_size": "batch_size",
    "trainer.epochs": "epochs",
    "seed": "seed",
}
# Settings that never change a result: kept out of the knob columns (configs/config.yaml
# keeps them out of job folder names too; tests/test_sweep.py checks the two agree).
NOT_KNOBS = (
    "trainer.progress",
    "trainer.threads",
    "trainer.figures",
    "trainer.timing",
    "sweep.fail_fast",
    "sweep.metric",
    "sweep.plot_by",
    "sweep.plan",
    # where runs are reported (mlplab.loggers), not what they compute
    "logger.tensorboard.enabled",
    "logger.mlflow.enabled",
    "logger.mlflow.tracking_uri",
    "logger.mlflow.experiment",
    "logger.every_n_epochs",
)
# What summary.csv groups over: runs that differ only in these are repeats of one setting.
REPEATS = ("seed", "dataset.fold")
RESULT_META = ("status", "error", "overrides", "config", "task", "loss_fn", "traceback",
               "train_seconds", "run_dir", "identity")  # fmt: skip
TEXT_COLUMNS = ("status", "error", "overrides", "run_dir")
INCOMPLETE = "no result.json (killed, or not run yet)"


def hidden_text(hidden) -> str:
    """``[8, 8]`` as typed on the command line: ``[8,8]``."""
    return "[" + ",".join(str(int(w)) for w in hidden) + "]"


def read_jobs(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def record_failure(job, error: str, traceback: str | None = None, started=None) -> dict:
    """Write the result.json of a job (``lifecycle.Job``) that failed before or while it ran."""
    from .provenance import record

    result = {
        "status": "failed",
        "error": error,
        "overrides": list(job.overrides),
        "config": job.config,
        "provenance": record(started),
    }
    if traceback:
        result["traceback"] = traceback
    write_json(Path(job.run_dir) / RESULT_FILE, result)
    return {**result, "run_dir": str(job.run_dir)}


def record_invalid(job) -> dict:
    """A job whose settings failed validation: its result.json, with the one-line reason."""
    return record_failure(job, f"ConfigError: {job.error}")


def job_row(result: dict, run_dir: str) -> dict:
    """One results.csv row from a job's result (``run_dir`` relative to the sweep)."""
    config = result.get("config") or {}
    row = {"status": result["status"]}
    for key, value in config.items():
        if key not in NOT_KNOBS:
            row[SHORT_NAMES.get(key, key)] = value
    hidden = config.get("model.hidden")
    if isinstance(hidden, list):
        row["hidden"] = hidden_text(hidden)
        row["depth"] = len(hidden)
        row["width"] = max(hidden, default=0)
    row["seconds"] = result.get("train_seconds")
    for key, value in result.items():
        if key not in RESULT_META and key not in row and not isinstance(value, dict | list):
            row[key] = value
    row["error"] = result.get("error")
    row["overrides"] = " ".join(result.get("overrides") or [])
    row["run_dir"] = run_dir
    return row


def is_knob(column: str) -> bool:
    """Knob columns come from the config: short names, ``section.key`` names, depth, width."""
    return column in SHORT_NAMES.values() or "." in column or column in ("depth", "width")


def collect(sweep_dir: Path) -> pd.DataFrame:
    """A sweep folder's results table: every launched job (``jobs.jsonl``) and every job
    folder with a ``result.json`` (any launcher, any depth; not under ``stale/``), one row each."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    planned = {line["run_dir"]: line for line in read_jobs(sweep_dir / JOBS_FILE)}
    found = {
        str(p.parent.relative_to(sweep_dir)) for p in sweep_dir.glob(f"*/**/{RESULT_FILE}")
        if p.relative_to(sweep_dir).parts[0] != STALE_DIR  # results another config made
    }  # fmt: skip
    rows = []
    for run_dir in sorted(planned.keys() | found):
        result = read_result(sweep_dir / run_dir)
        if result is None:
            plan = planned[run_dir]
            result = {"status": "incomplete", "error": INCOMPLETE, **plan}
        rows.append(job_row(result, run_dir))
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    trials = sweep_dir / TRIALS_CSV
    if trials.is_file():  # an Optuna search: each job's trial numbers
        asked = pd.read_csv(trials, usecols=["trial", "run_dir"]).dropna()
        numbers = asked.groupby("run_dir")["trial"].agg(
            lambda t: " ".join(str(int(n)) for n in sorted(t))
        )  # "3 7": two trials asked for the same job
        frame.insert(1, "trial", frame["run_dir"].map(numbers).fillna(""))
    knobs = [c for c in frame.columns if is_knob(c)]
    # the knobs that vary first (what the sweep is about), then the fixed ones, then outcomes
    varying = [c for c in knobs if frame[c].astype(str).nunique() > 1]
    fixed = [c for c in knobs if c not in varying]
    outcomes = [c for c in frame.columns if not is_knob(c) and c not in TEXT_COLUMNS]
    # repeats (seeds, folds) last: side by side
    varying = [c for c in varying if c not in REPEATS] + [c for c in varying if c in REPEATS]
    frame = frame[["status", *varying, *fixed, *outcomes, "error", "overrides", "run_dir"]]
    return frame.sort_values(
        varying or ["run_dir"], key=natural_order, kind="stable", ignore_index=True
    )


def natural_order(column: pd.Series) -> pd.Series:
    """Sort [4] < [16] < [8,8]: hidden by depth, then widths; everything else as is."""
    if column.name != "hidden":
        return column
    return column.map(
        lambda h: (h.count(",") + (h != "[]"), *map(int, filter(None, h.strip("[]").split(","))))
    )


# sweep.metric=auto: the first of these a run has (accuracy for classification)
METRICS = tuple(sorted(METRIC_NAMES, key=lambda m: (m.endswith("loss"), m.startswith("train"))))


def default_metric(frame) -> str:
    """val_acc for classification, val_loss for regression (train_* when no val split).

    ``frame``: a results table, or one result dict.
    """
    for name in METRICS:
        if isinstance(frame, dict):
            if frame.get(name) is not None:
                return name
        elif name in frame.columns and frame[name].notna().any():
            return name
    return "train_loss"


def summarize_sweep(results: pd.DataFrame) -> pd.DataFrame:
    """Group completed rows over repeats (seeds, folds): mean, std, the half-width of the
    mean's 95% t interval (``_ci95``) and n of every numeric outcome.

    One groupby for every outcome at once (a search's 64 one-trial groups took 0.45 s as a
    loop over groups, 0.03 s so); tests/test_results.py holds it to that loop.
    """
    import pandas as pd

    from .stats import half_width

    keys = [c for c in results.columns if is_knob(c) and c not in REPEATS]
    outcomes = [
        c for c in results.columns
        if not is_knob(c) and c not in (*TEXT_COLUMNS, "best_epoch", "trial")
        and pd.api.types.is_numeric_dtype(results[c])
    ]  # fmt: skip
    # group on text, so that lists and missing values group like any other value; groups
    # are numbered in the order their first row comes
    group = results.groupby(
        [results[k].astype(str) for k in keys], sort=False, dropna=False
    ).ngroup()
    groups = range(group.max() + 1) if len(group) else range(0)
    done = results["status"] == "completed"
    ok = results.loc[done, outcomes].astype(float).groupby(group[done])
    mean, std, count = (part.reindex(groups) for part in (ok.mean(), ok.std(), ok.count()))
    # the t interval's half-width (mlplab.stats) per count: its t quantile, times the std
    per_std = {n: half_width(1.0, n) for n in set(count.to_numpy().ravel().tolist()) if n > 1}
    first = results.loc[~group.duplicated(), keys].reset_index(drop=True)
    columns = {k: first[k] for k in keys}
    for c in outcomes:
        columns[f"{c}_mean"] = mean[c].to_numpy()
        columns[f"{c}_std"] = std[c].to_numpy()
        columns[f"{c}_ci95"] = std[c].to_numpy() * count[c].map(per_std).to_numpy(float)
    columns["n"] = done.groupby(group).sum().reindex(groups).to_numpy()
    failed = ~results["status"].isin(FINISHED)
    columns["n_failed"] = failed.groupby(group).sum().reindex(groups).to_numpy()
    return pd.DataFrame(columns)


def column_named(name: str, columns, key: str = "sweep.plot_by") -> str:
    """The results column a knob's short or dotted name means (``lr`` or ``optimizer.lr``,
    ``init_std`` or ``model.init_std``); ConfigError naming ``key`` and the knob columns if
    none."""
    columns = list(map(str, columns))
    if name in columns:
        return name
    ends = [c for c in columns if c.rpartition(".")[2] == name]
    if SHORT_NAMES.get(name) in columns:
        return SHORT_NAMES[name]
    if len(ends) == 1:
        return ends[0]
    knobs = ", ".join(c for c in columns if is_knob(c))
    raise ConfigError(f"Unknown {key} {name!r}. Choose one of the knobs: {knobs}.")


ALONG_A_LINE = ("hidden", "width", "depth")  # what moves a point along sweep.png's params axis


def line_keys(summary: pd.DataFrame, by: str) -> list[str]:
    """The columns whose values name one line of sweep.png: ``by``'s, then every other knob
    that varies (an lr in a width x lr grid), so that a line never joins points that differ
    in a knob its legend does not name. The architecture moves a point along the line."""
    named = [name.strip() for name in by.split(",") if name.strip() in summary.columns]
    varying = [
        c for c in summary.columns
        if is_knob(c) and c not in named and c not in ALONG_A_LINE
        and summary[c].astype(str).nunique() > 1
    ]  # fmt: skip
    return named + varying


DERIVED = ("width", "depth")  # knob columns read off model.hidden, not knobs of their own


def varying_knobs(results: pd.DataFrame) -> list[str]:
    """The knobs a sweep varies, besides its repeats (seeds, folds), in column order."""
    return [
        c for c in results.columns
        if is_knob(c) and c not in REPEATS and c not in DERIVED
        and results[c].astype(str).nunique() > 1
    ]  # fmt: skip


@dataclass
class Heatmap:
    """The mean of ``metric`` per cell of two knobs (``x`` across, ``y`` down), over every
    completed run in the cell; ``note`` says what the other knobs were (fixed or averaged)."""

    x: str
    y: str
    metric: str
    mean: pd.DataFrame  #: index: y's values, columns: x's values, each in order
    n: pd.DataFrame  #: the runs behind each cell
    note: str


def heatmap(results: pd.DataFrame, x: str, y: str, metric: str, where: dict | None = None):
    """The ``Heatmap`` of ``metric`` over knobs ``x`` and ``y`` (short or dotted names).

    ``where``: other knobs fixed to a value (``{"activation": "relu"}``); the knobs that vary
    and are not fixed are averaged over, and ``note`` names both. ConfigError (naming the
    choices) for an unknown knob, a value no run has, or x == y.
    """
    import pandas as pd

    varying = varying_knobs(results)  # first in the choices a mistake gets
    knobs = varying + [c for c in results.columns if is_knob(c) and c not in (*DERIVED, *varying)]
    x, y = column_named(x, knobs, "--heatmap knob"), column_named(y, knobs, "--heatmap knob")
    if x == y:
        raise ConfigError(f"--heatmap {x},{y}: give two different knobs.")
    done = results[results["status"] == "completed"]
    fixed = []
    for key, value in (where or {}).items():
        column = column_named(key, knobs, "--where knob")
        values = done[column].astype(str)
        match = values == str(value)
        if not match.any():  # 0.01 and 1e-2 name the same number
            number = pd.to_numeric(done[column], errors="coerce")
            match = number == pd.to_numeric(value, errors="coerce")
        if not match.any():
            raise ConfigError(
                f"--where {key}={value}: no completed run has it. Choose one of: "
                f"{', '.join(sorted(set(values), key=natural_key))}."
            )
        done = done[match]
        fixed.append(f"{column}={value}")
    averaged = [c for c in varying_knobs(done) if c not in (x, y)]
    note = "; ".join(
        part for part in (
            f"where {', '.join(fixed)}" if fixed else "",
            f"averaged over {', '.join(averaged)}" if averaged else "",
        ) if part
    )  # fmt: skip
    cells = done.groupby([done[y].astype(str), done[x].astype(str)])[metric]
    mean, n = cells.mean().unstack(), cells.count().unstack().fillna(0).astype(int)
    counts = sorted({int(k) for k in n.to_numpy().ravel() if k})
    runs = f"n={counts[0]}" if len(counts) == 1 else f"n={counts[0]}-{counts[-1]}"
    note = ", ".join(part for part in (f"mean of {runs} runs per cell", note) if part)
    rows = sorted(mean.index, key=natural_key)
    columns = sorted(mean.columns, key=natural_key)
    return Heatmap(x, y, metric, mean.loc[rows, columns], n.loc[rows, columns], note)


def natural_key(text: str):
    """Numbers by value, then text with its numbers read as numbers ("[4]" < "[16]" < "[4,4]")."""
    try:
        return (0, float(text), ())
    except (TypeError, ValueError):
        parts = tuple(int(n) for n in re.findall(r"\d+", str(text)))
        return (1, len(parts), parts, str(text))
