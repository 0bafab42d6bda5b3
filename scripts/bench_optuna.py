"""Wall time of an Optuna search on two moons: trials in batches against one at a time.

    python scripts/bench_optuna.py            # 64 trials over lr and width, 100 epochs
    python scripts/bench_optuna.py --epochs 300 --batch 32
    python scripts/bench_optuna.py --quick    # 8 trials, 5 epochs: a smoke run
    python scripts/bench_optuna.py --pruning  # successive halving against no pruner

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

``--pruning``: the same 64-trial search at seed 002's 300 epochs (batches of 16), with
``hydra.sweeper.pruner=successive_halving`` against no pruner, each with study seeds 0, 1
and 2 (``hydra.sweeper.sampler.seed``): the mean and spread of the best value, the mean
wall time, and the sum of the models' training seconds (the stack's own time, where
models leaving it can save time). Successive halving runs with ``min_resource=30``: its
first rung at a tenth of the epochs, where Optuna's ``auto`` puts it at 1% (epoch 3),
too early to judge a wide MNIST-1D model that starts slowly (it cost 1.5 points of the
best val_acc there). ``--pruning --data mnist1d``: the same on MNIST-1D
(``dataset=mnist1d``, 3,200 training rows x 40 features, 10 classes) over widths 64-512,
where training, not start-up, is most of a search's time (about 16 minutes here).
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
WIDTHS_MNIST1D = "choice([64],[128],[256],[512])"
PRUNERS = {
    "none": ("hydra.sweeper.pruner=none",),
    "successive_halving": (
        "hydra.sweeper.pruner=successive_halving",
        "+hydra.sweeper.pruner_options.min_resource=30",
    ),
}


def search(
    n_trials: int,
    n_jobs: int,
    epochs: int,
    folder: Path,
    seed: int = 0,
    extra: tuple = (),
    widths: str = WIDTHS,
) -> tuple[float, pd.Series]:
    """Run one search; return its wall time and its best trial's row of trials.csv."""
    args = [
        sys.executable, "-m", "mlplab", "-m", "hparams_search=two_moons_optuna",
        f"model.hidden={widths}", f"trainer.epochs={epochs}",
        f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.n_jobs={n_jobs}",
        f"hydra.sweeper.sampler.seed={seed}", f"hydra.sweep.dir={folder}", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"search with n_jobs={n_jobs} failed:\n{proc.stderr[-2000:]}")
    trials = pd.read_csv(folder / "trials.csv")
    done = trials[trials["state"] == "COMPLETE"]
    return seconds, done.loc[done["value"].idxmax()]


def pruning(quick: bool, data: str) -> None:
    """Successive halving against no pruner: best value and wall time over 3 study seeds."""
    n_trials, batch, epochs = (8, 4, 20) if quick else (64, 16, 300)
    widths, extra = (WIDTHS, ()) if data == "two_moons" else (WIDTHS_MNIST1D, ("dataset=mnist1d",))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pruner in PRUNERS:
            for seed in (0, 1, 2):
                folder = Path(tmp) / f"{pruner}-{seed}"
                seconds, best = search(n_trials, batch, epochs, folder, seed,
                                       (*PRUNERS[pruner], *extra), widths)  # fmt: skip
                results = pd.read_csv(folder / "results.csv")
                rows.append({"pruner": pruner, "seed": seed, "wall": seconds,
                             "best": best["value"], "training": results["seconds"].sum(),
                             "epochs": results["epochs_run"].sum(),
                             "pruned": (results["status"] == "pruned").sum()})  # fmt: skip
    table = pd.DataFrame(rows)
    print(
        f"Optuna (TPE) on {data}: {n_trials} trials in batches of {batch} over lr and width "
        f"{widths}, {epochs} epochs, study seeds 0-2, {os.cpu_count()} cores"
    )
    print(
        f"{'pruner':<20}{'best val_acc':>16}{'wall s':>9}{'training s':>12}{'epochs':>9}{'pruned':>8}"
    )
    means = {}
    for pruner, runs in table.groupby("pruner", sort=False):
        means[pruner] = runs.mean(numeric_only=True)
        best = f"{runs['best'].mean():.4f} ± {runs['best'].std():.4f}"
        print(f"{pruner:<20}{best:>16}{runs['wall'].mean():>9.1f}{runs['training'].mean():>12.2f}"
              f"{runs['epochs'].mean():>9.0f}{runs['pruned'].mean():>8.1f}")  # fmt: skip
    none, halving = means["none"], means["successive_halving"]
    print(f"successive halving: {none['wall'] / halving['wall']:.2f}x less wall time, "
          f"{none['training'] / halving['training']:.2f}x less training time, "
          f"{none['epochs'] / halving['epochs']:.2f}x fewer job-epochs (goal: 2x less wall time)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pruning", action="store_true", help="successive halving vs none")
    parser.add_argument("--data", choices=["two_moons", "mnist1d"], default="two_moons",
                        help="the data of --pruning's searches")  # fmt: skip
    parser.add_argument("--batch", type=int, default=16, help="n_jobs of the batched search")
    parser.add_argument("--epochs", type=int, default=100, help="epochs per trial (the preset's)")
    args = parser.parse_args()
    if args.pruning:
        pruning(args.quick, args.data)
        return
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
