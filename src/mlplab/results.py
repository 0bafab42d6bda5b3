"""Run and sweep tables: atomic writes, the run folder's files, and sweep aggregation.

A run folder is complete when its ``result.json`` exists: it is written last, after
every other file, so a killed run leaves no result and is run again on resume.
This module imports no torch: ``mlplab-aggregate`` and ``mlplab-compare`` start fast.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

RESULT_FILE = "result.json"
HISTORY_FILE = "history.csv"
CHECKPOINT_FILE = "model.safetensors"
RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
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
    return pd.DataFrame(list(history), columns=list(HISTORY_COLUMNS))
