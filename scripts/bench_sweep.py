"""End-to-end wall time of the seed-002 two-moons sweep, basic launcher against stacked.

    python scripts/bench_sweep.py            # 5 architectures x 10 seeds, 300 epochs (~1 min)
    python scripts/bench_sweep.py --quick    # 5 x 2 seeds, 20 epochs: a smoke run

Each launcher runs the same `mlplab-run -m` command in a fresh process (start-up,
composition, training, writing and the tables all counted) into its own temporary
sweep folder; both run in this one invocation, so the ratio compares like with like.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    seeds, epochs = (2, 20) if args.quick else (10, 300)
    with tempfile.TemporaryDirectory() as tmp:
        basic, basic_summary = sweep("basic", seeds, epochs, Path(tmp))
        stacked, stacked_summary = sweep("stacked", seeds, epochs, Path(tmp))
    jobs = 5 * seeds
    print(
        f"two-moons sweep, 5 architectures x {seeds} seeds = {jobs} jobs, {epochs} epochs, one thread per job"
    )
    print(f"{'launcher':<10}{'wall s':>10}{'s per job':>12}")
    print(f"{'basic':<10}{basic:>10.1f}{basic / jobs:>12.3f}")
    print(f"{'stacked':<10}{stacked:>10.1f}{stacked / jobs:>12.3f}")
    print(f"stacked is {basic / stacked:.1f}x faster end to end")
    gap = (basic_summary["val_acc_mean"] - stacked_summary["val_acc_mean"]).abs().max()
    print(f"largest difference in mean val_acc between the two summaries: {gap:.4f}")


if __name__ == "__main__":
    main()
