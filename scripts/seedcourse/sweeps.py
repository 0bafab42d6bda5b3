"""Running the course's sweeps through the real command, and reading their tables back."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .verdicts import Estimate, estimate

ROOT = Path(__file__).resolve().parents[2]
PAIRING = ("seed", "dataset.fold", "dataset.seed")  #: what a run shares with its pair


class SweepFailed(RuntimeError):
    """``mlplab-run -m experiment=NAME`` could not run its sweep (not: some jobs failed)."""


def run(name: str, root: Path, extra: list[str]) -> float:
    """``mlplab-run -m experiment=NAME hydra.sweep.dir=ROOT/NAME [extra]``; its wall seconds.

    The default (stacked) launcher; completed jobs in the folder are skipped. Exit 1
    means some job failed or diverged: its row in results.csv says which.
    """
    args = [sys.executable, "-m", "mlplab", "-m", f"experiment={name}"]
    args += [f"hydra.sweep.dir={root / name}", *extra]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1) or not (root / name / "results.csv").is_file():
        raise SweepFailed(f"experiment={name} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def matching(frame: pd.DataFrame, where: dict, name: str) -> pd.DataFrame:
    """Rows of ``frame`` whose columns equal ``where``; ``None`` matches an empty cell (null).

    Keys may spell a dot as ``__`` (``model__init_std`` for ``model.init_std``); values
    compare as text, so ``lr=0.01`` and ``hidden="[16]"`` match what results.csv holds.
    """
    for column, value in where.items():
        column = column.replace("__", ".")
        if column not in frame.columns:
            raise KeyError(f"{name}: no column {column!r}")
        cells = frame[column]
        frame = frame[cells.isna() if value is None else cells.astype(str) == str(value)]
    return frame


class Sweep:
    """One finished sweep folder: its results.csv, each job's history, and means over seeds."""

    def __init__(self, folder: Path, seconds: float = float("nan")):
        self.dir = Path(folder)
        self.name = self.dir.name
        self.seconds = seconds  #: wall seconds of the command that made it
        self.results = pd.read_csv(self.dir / "results.csv")

    @property
    def done(self) -> pd.DataFrame:
        """The completed jobs' rows."""
        return self.results[self.results["status"] == "completed"]

    def rows(self, completed: bool = True, **where) -> pd.DataFrame:
        """Rows whose columns equal ``where`` (``hidden="[16]"``, ``lr=0.01``): completed ones,
        or all of them (failed and diverged too) with ``completed=False``."""
        return matching(self.done if completed else self.results, where, self.name)

    def est(self, metric: str, **where) -> Estimate:
        """``metric`` over the completed runs matching ``where``: mean, std, n, with each
        run's key (seed, fold, data draw) for paired intervals."""
        rows = self.rows(**where)
        return estimate(rows[metric], self.keys(rows))

    def keys(self, rows: pd.DataFrame) -> list[tuple]:
        """Each row's run key: what two conditions share when their runs pair up."""
        columns = [c for c in PAIRING if c in rows.columns]
        return [tuple(r) for r in rows[columns].astype(str).itertuples(index=False)]

    def values(self, metric: str, **where) -> np.ndarray:
        return self.rows(**where)[metric].to_numpy(dtype=float)

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        """Every completed job's history.csv rows, with that job's results.csv columns."""
        frames = []
        for _, job in self.done.iterrows():
            h = pd.read_csv(self.dir / job["run_dir"] / "history.csv")
            frames.append(h.assign(**{c: job[c] for c in self.results.columns if c not in h}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def at_epoch(self, metric: str, epoch: int, **where) -> Estimate:
        """``metric`` at ``epoch`` (the last recorded epoch before, for a run that stopped)."""
        last = self._last(metric, epoch, where)
        runs = self.done.set_index("run_dir").loc[last.index]
        return estimate(last.to_numpy(dtype=float), self.keys(runs))

    def per_run_at(self, metric: str, epoch: int, **where) -> np.ndarray:
        return self._last(metric, epoch, where).to_numpy(dtype=float)

    def _last(self, metric: str, epoch: int, where: dict) -> pd.Series:
        h = matching(self.history, where, self.name)
        h = h[h["epoch"] <= epoch]
        return h.sort_values("epoch").groupby("run_dir")[metric].last()

    def result(self, run_dir: str) -> dict:
        return json.loads((self.dir / run_dir / "result.json").read_text())

    def model(self, run_dir: str):
        """The job's trained network (``mlplab.load_model``: on the CPU, in eval mode) and
        its settings."""
        from omegaconf import OmegaConf

        import mlplab
        from mlplab import settings

        config = self.result(run_dir)["config"]
        s = settings.from_config(OmegaConf.create(settings.unflatten(config)))
        return mlplab.load_model(self.dir / run_dir), s
