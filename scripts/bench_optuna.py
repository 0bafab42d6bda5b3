"""Wall time of an Optuna search on two moons: trials in batches against one at a time.

    python scripts/bench_optuna.py            # 64 trials over lr and width, 100 epochs
    python scripts/bench_optuna.py --epochs 300 --batch 32
    python scripts/bench_optuna.py --quick    # 8 trials, 5 epochs: a smoke run

The search (``hparams_search=two_moons_optuna``: TPE, maximize val_acc) runs over the
learning rate (log interval) and the width of one hidden layer. Both runs are the same
``mlplab-run -m`` command in a fresh process each (start-up, every batch's composition,
training and writing, the tables and figures all counted), with the same sampler seed,
into new sweep folders, in this one invocation. They differ only in
``hydra.sweeper.n_jobs``: batched, each batch of trials is launched at once and the
stacked launcher trains it as one stack; one-by-one, each trial is launched, trained
and told before the next is asked (the official Optuna sweeper's way with n_jobs=1).
A batch is asked before its trials are told, so the two searches see different trials;
the best value each finds is printed beside its time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

WIDTHS = "choice([4],[8],[16],[32],[64])"


def search(n_trials: int, n_jobs: int, epochs: int, folder: Path) -> tuple[float, pd.Series]:
    """Run one search; return its wall time and its best trial's row of trials.csv."""
    args = [
        sys.executable, "-m", "mlplab", "-m", "hparams_search=two_moons_optuna",
        f"model.hidden={WIDTHS}", f"trainer.epochs={epochs}",
        f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.n_jobs={n_jobs}",
        "hydra.sweeper.sampler.seed=0", f"hydra.sweep.dir={folder}",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"search with n_jobs={n_jobs} failed:\n{proc.stderr[-2000:]}")
    trials = pd.read_csv(folder / "trials.csv")
    return seconds, trials.loc[trials["value"].idxmax()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=16, help="n_jobs of the batched search")
    parser.add_argument("--epochs", type=int, default=100, help="epochs per trial (the preset's)")
    args = parser.parse_args()
    n_trials, batch, epochs = (8, 4, 5) if args.quick else (64, args.batch, args.epochs)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, n_jobs in (("batched", batch), ("one-by-one", 1)):
            runs[name] = (n_jobs, *search(n_trials, n_jobs, epochs, Path(tmp) / name))
    print(
        f"Optuna (TPE) on two moons: {n_trials} trials over lr (log interval) and width "
        f"{WIDTHS}, {epochs} epochs, {os.cpu_count()} cores"
    )
    print(f"{'search':<12}{'n_jobs':>7}{'wall s':>9}{'best val_acc':>14}  best trial")
    for name, (n_jobs, seconds, best) in runs.items():
        print(
            f"{name:<12}{n_jobs:>7}{seconds:>9.1f}{best['value']:>14.4f}  #{best['trial']}: "
            f"lr={best['optimizer.lr']:.3g} hidden={best['model.hidden']}"
        )
    ratio = runs["one-by-one"][1] / runs["batched"][1]
    print(f"batched is {ratio:.1f}x faster end to end (goal: 5x)")


if __name__ == "__main__":
    main()
