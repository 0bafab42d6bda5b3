"""End-to-end wall time of the seed-002 two-moons sweep, basic launcher against stacked.

    python scripts/bench_sweep.py              # 5 architectures x 10 seeds, 300 epochs (~3 min)
    python scripts/bench_sweep.py --repeat 1   # one run each (~1 min)
    python scripts/bench_sweep.py --quick      # 5 x 2 seeds, 20 epochs: a smoke run

Each launcher runs the same `mlplab-run -m` command in a fresh process (start-up,
composition, training, writing, the tables and figures all counted) into a new
temporary sweep folder. The launchers take turns, ``--repeat`` times each, in this one
invocation, so the ratio compares like with like; it is the ratio of the best times
(the machine's noise only ever adds time), with the medians beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def sweep(launcher: str, seeds: int, epochs: int, root: Path) -> tuple[float, pd.DataFrame]:
    folder = root / launcher
    args = [
        sys.executable, "-m", "mlplab", "-m", "experiment=two_moons_arch",
        f"seed={','.join(map(str, range(seeds)))}", f"trainer.epochs={epochs}",
        f"hydra/launcher={launcher}", f"hydra.sweep.dir={folder}",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{launcher} sweep failed:\n{proc.stderr[-2000:]}")
    return seconds, pd.read_csv(folder / "summary.csv")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per launcher (default 3)")
    args = parser.parse_args()
    seeds, epochs = (2, 20) if args.quick else (10, 300)
    launchers = ("basic", "stacked")
    times: dict[str, list[float]] = {name: [] for name in launchers}
    summaries = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for name in launchers:
                seconds, summaries[name] = sweep(name, seeds, epochs, Path(tmp) / str(r))
                times[name].append(seconds)
    jobs = 5 * seeds
    print(
        f"two-moons sweep, 5 architectures x {seeds} seeds = {jobs} jobs, {epochs} epochs, "
        f"one thread per job, {os.cpu_count()} cores, {args.repeat} runs each"
    )
    print(f"{'launcher':<10}{'best s':>9}{'median s':>10}{'s per job':>11}  all runs")
    for name in launchers:
        t = times[name]
        runs = " ".join(f"{x:.1f}" for x in t)
        print(
            f"{name:<10}{min(t):>9.1f}{statistics.median(t):>10.1f}{min(t) / jobs:>11.3f}  {runs}"
        )
    best = min(times["basic"]) / min(times["stacked"])
    median = statistics.median(times["basic"]) / statistics.median(times["stacked"])
    print(f"stacked is {best:.1f}x faster end to end (best times; {median:.1f}x by medians)")
    gap = (summaries["basic"]["val_acc_mean"] - summaries["stacked"]["val_acc_mean"]).abs().max()
    print(f"largest difference in mean val_acc between the two summaries: {gap:.4f}")


if __name__ == "__main__":
    main()
