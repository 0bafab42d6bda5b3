"""Run and sweep tables: atomic writes, the run folder's files, and sweep aggregation.

A run folder is complete when its ``result.json`` exists: it is written last, after
every other file, so a killed run leaves no result and is run again on resume.
This module imports no torch: ``mlplab-aggregate`` and ``mlplab-compare`` start fast;
and pandas only where it builds tables: a sweep's job folders are written without it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .settings import ConfigError

if TYPE_CHECKING:
    import pandas as pd

RESULT_FILE = "result.json"
HISTORY_FILE = "history.csv"
CHECKPOINT_FILE = "model.safetensors"
RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
TRIALS_CSV = "trials.csv"  # an Optuna search's trials: trial, state, value, params, run_dir
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "seconds")


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_rows(path: Path, rows: Iterable[dict], columns: Sequence[str]) -> None:
    """``pd.DataFrame(rows, columns=columns).to_csv(path, index=False)``, byte for byte.

    Without pandas where every column holds Python ints, floats, bools or strings
    (None and NaN empty), typed as pandas types them: ints with a gap become floats,
    floats are written by ``repr``. Any other column goes through pandas itself.
    """
    rows = list(rows)
    cells = [_csv_cells([row.get(c) for row in rows]) for c in columns]
    if any(column is None for column in cells):
        import pandas as pd

        return write_csv(path, pd.DataFrame(rows, columns=list(columns)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*cells))
    write_text(path, out.getvalue())


def _csv_cells(values: list) -> list[str] | None:
    """One column's cells as ``DataFrame.to_csv`` writes them, or None if unsure."""
    missing = [v is None or (type(v) is float and v != v) for v in values]
    kinds = {type(v) for v, gap in zip(values, missing) if not gap}
    if kinds == {int} and not any(missing):
        return [str(v) for v in values]
    if kinds and kinds <= {int, float}:  # float64; a gap turns an int column to floats
        return ["" if gap else repr(float(v)) for v, gap in zip(values, missing)]
    if len(kinds) <= 1 and kinds <= {bool, str}:
        return ["" if gap else str(v) for v, gap in zip(values, missing)]
    return None


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def _jsonable(obj):
    """NaN/inf are not JSON: store them as null (a diverged run has no finite loss)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def summarize(history: list[dict], task: str) -> dict:
    """Final and best metrics from a history: the metric keys of ``result.json``."""
    last = history[-1] if history else {}
    out = {
        "epochs_run": int(last.get("epoch", 0)),
        "train_loss": last.get("train_loss"),
        "val_loss": last.get("val_loss"),
    }
    classification = task != "regression"
    if classification:
        out["train_acc"], out["val_acc"] = last.get("train_acc"), last.get("val_acc")
    # best epoch: highest val accuracy (classification) or lowest val loss; train when no val
    split = "val" if history and history[0].get("val_loss") is not None else "train"
    if history:
        if classification:
            best = max(
                history,
                key=lambda r: (_num(r[f"{split}_acc"], -1), -_num(r[f"{split}_loss"], math.inf)),
            )
            out["best_val_acc"] = best["val_acc"]
        else:
            best = min(history, key=lambda r: _num(r[f"{split}_loss"], math.inf))
        out["best_val_loss"] = best["val_loss"]
        out["best_epoch"] = int(best["epoch"])
    return out


def _num(x, default):
    return default if x is None or (isinstance(x, float) and math.isnan(x)) else x


def read_result(run_dir: Path) -> dict | None:
    """The run's ``result.json``, or None when the run never finished writing it."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def is_complete(run_dir: Path) -> bool:
    result = read_result(run_dir)
    return result is not None and result.get("status") == "completed"


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
# Settings that never change a result: kept out of the knob columns.
NOT_KNOBS = (
    "trainer.progress",
    "trainer.threads",
    "trainer.figures",
    "trainer.timing",
    "sweep.fail_fast",
    "sweep.metric",
    "sweep.plot_by",
)
RESULT_META = (
    "status",
    "error",
    "overrides",
    "config",
    "task",
    "loss_fn",
    "traceback",
    "train_seconds",
)


def hidden_text(hidden) -> str:
    """``[8, 8]`` as typed on the command line: ``[8,8]``."""
    return "[" + ",".join(str(int(w)) for w in hidden) + "]"


def job_row(run_dir: Path, sweep_dir: Path) -> dict | None:
    """One results.csv row from a job folder (None if it is no job folder)."""
    result = read_result(run_dir)
    if result is None:
        config_file = run_dir / ".hydra" / "config.yaml"
        if not config_file.is_file():
            return None
        from omegaconf import OmegaConf

        from .settings import flat

        config = flat(OmegaConf.to_container(OmegaConf.load(config_file)))
        result = {
            "status": "incomplete",
            "config": config,
            "error": "no result.json (killed or still running)",
        }
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
    row["run_dir"] = str(run_dir.relative_to(sweep_dir))
    return row


TEXT_COLUMNS = ("status", "error", "overrides", "run_dir")


def is_knob(column: str) -> bool:
    """Knob columns come from the config: short names, ``section.key`` names, depth, width."""
    return column in SHORT_NAMES.values() or "." in column or column in ("depth", "width")


def collect(sweep_dir: Path) -> pd.DataFrame:
    """Scan a sweep folder's job folders (any launcher, any depth) into one results table."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    marked = [p.parent.parent for p in sweep_dir.glob("**/.hydra/config.yaml")]
    marked += [p.parent for p in sweep_dir.glob(f"**/{RESULT_FILE}")]
    rows = [row for d in sorted(set(marked)) if d != sweep_dir and (row := job_row(d, sweep_dir))]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    knobs = [c for c in frame.columns if is_knob(c)]
    # the knobs that vary first (what the sweep is about), then the fixed ones, then outcomes
    varying = [c for c in knobs if frame[c].astype(str).nunique() > 1]
    fixed = [c for c in knobs if c not in varying]
    outcomes = [c for c in frame.columns if not is_knob(c) and c not in TEXT_COLUMNS]
    frame = frame[["status", *varying, *fixed, *outcomes, "error", "overrides", "run_dir"]]
    if (sweep_dir / TRIALS_CSV).is_file():  # each job's trials, "3 7" when two asked for it
        trials = pd.read_csv(sweep_dir / TRIALS_CSV, usecols=["trial", "run_dir"]).dropna()
        numbers = trials.groupby("run_dir")["trial"].agg(lambda n: " ".join(map(str, sorted(n))))
        frame.insert(1, "trial", frame["run_dir"].map(numbers))
    order = [c for c in varying if c != "seed"] + [
        c for c in varying if c == "seed"
    ]  # seeds side by side
    return frame.sort_values(order or ["run_dir"], key=_natural, kind="stable", ignore_index=True)


def _natural(column: pd.Series) -> pd.Series:
    """Sort [4] < [16] < [8,8]: hidden by depth, then widths; everything else as is."""
    if column.name != "hidden":
        return column
    return column.map(
        lambda h: (h.count(",") + (h != "[]"), *map(int, filter(None, h.strip("[]").split(","))))
    )


# sweep.metric=auto: the first of these a run has (accuracy for classification)
METRICS = ("val_acc", "train_acc", "val_loss", "train_loss")


def default_metric(frame: pd.DataFrame) -> str:
    """val_acc for classification, val_loss for regression (train_* when no val split)."""
    for name in METRICS:
        if name in frame.columns and frame[name].notna().any():
            return name
    return "train_loss"


def summarize_sweep(results: pd.DataFrame) -> pd.DataFrame:
    """Group completed rows over seeds: mean, std and n of every numeric outcome."""
    import pandas as pd

    keys = [c for c in results.columns if is_knob(c) and c != "seed"]
    outcomes = [
        c for c in results.columns
        if not is_knob(c) and c not in (*TEXT_COLUMNS, "best_epoch") and pd.api.types.is_numeric_dtype(results[c])
    ]  # fmt: skip
    # group on text, so that lists and missing values group like any other value
    key_frame = results[keys].astype(str)
    done = results["status"] == "completed"
    groups = results.groupby([key_frame[k] for k in keys], sort=False, dropna=False)
    rows = []
    for _, index in groups.groups.items():
        block = results.loc[index]
        ok = block[done.loc[index]]
        row = block.iloc[0][keys].to_dict()
        for c in outcomes:
            row[f"{c}_mean"] = ok[c].mean() if len(ok) else None
            row[f"{c}_std"] = ok[c].std() if len(ok) > 1 else None
        row["n"], row["n_failed"] = len(ok), len(block) - len(ok)
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep_tables(
    sweep_dir: Path, metric: str = "auto", by: str = "depth"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Re)build ``results.csv``, ``summary.csv`` and ``sweep.png`` from the job folders on disk."""
    sweep_dir = Path(sweep_dir)
    results = collect(sweep_dir)
    if results.empty:
        return results, results
    summary = summarize_sweep(results)
    write_csv(sweep_dir / RESULTS_CSV, results)
    write_csv(sweep_dir / SUMMARY_CSV, summary)
    metric = default_metric(results) if metric == "auto" else metric
    if metric not in results.columns:
        choices = sorted(c for c in results.columns if f"{c}_mean" in summary.columns)
        print(
            f"mlplab: warning: metric {metric!r} is not in results.csv; choose one of: {', '.join(choices)}.",
            file=sys.stderr,
        )
    figures = []  # (plots function, args, keyword args): drawn side by side, one per core
    plottable = {f"{metric}_mean", "params_mean"} <= set(summary.columns)
    if plottable and summary[f"{metric}_mean"].notna().any():
        figures.append(("sweep", (summary, metric, by, sweep_dir / "sweep.png"),
                        {"title": sweep_dir.name}))  # fmt: skip
    runs = [sweep_dir / d for d in results.loc[results["status"] == "completed", "run_dir"]]
    # every run's loss curve on one figure, and (where recorded) the layer profile at init
    if runs and (results["epochs_run"] > 0).any():
        curve_metric = "val_loss" if results["val_loss"].notna().any() else "train_loss"
        figures.append(("sweep_curves", (runs, by, sweep_dir / "curves.png"),
                        {"metric": curve_metric, "title": sweep_dir.name}))  # fmt: skip
    if runs and all((run / "layers.csv").is_file() for run in runs):
        figures.append(("layer_profile", (runs, by, sweep_dir / "layers.png"),
                        {"title": sweep_dir.name}))  # fmt: skip
    from .workers import AHEAD, WorkerDied

    # where a process started with the sweep has imported matplotlib already, it draws
    drawer = AHEAD.pop("mlplab.plots", None)
    try:
        outcomes = drawer.call(draw, figures) if drawer is not None else draw(figures)
    except WorkerDied:  # that process was killed: draw them here
        outcomes = draw(figures)
    for outcome in outcomes:
        if isinstance(outcome, ConfigError):  # e.g. a plot_by column these runs do not have
            print(f"mlplab: warning: sweep figure skipped: {outcome}", file=sys.stderr)
        elif isinstance(outcome, BaseException):
            raise outcome
    return results, summary


def draw(figures: list[tuple[str, tuple, dict]]) -> list:
    """Draw each (``plots`` function name, args, keyword args) figure, one process per core.

    Returns each figure's outcome: None, or the exception that stopped it.
    """
    from . import plots
    from .workers import cores, map_forked

    return map_forked(lambda f: getattr(plots, f[0])(*f[1], **f[2]), figures, cores())
