"""End-to-end cost of mlplab's sweeps: the stack as the unit of work, and what is around it.

    python scripts/bench_sweep.py               # the three sweeps of issue 11, and the basic launcher on the first
    python scripts/bench_sweep.py --only 2000   # one of them
    python scripts/bench_sweep.py --quick       # small versions of all (a smoke run)

Each sweep runs the real ``mlplab-run -m`` command in a fresh process into a new
temporary folder, so start-up, composition, training, writing, the tables and the figures
all count. For each it prints the wall time and the CPU time of the whole command (all its
processes), the sum of results.csv's ``seconds`` (each model's share of its stack's
training wall time: what the models' training costs) and of ``diagnostics_seconds``, and
from these the cost around each job: (wall - training) / jobs, and (CPU - training) / jobs,
which does not credit the worker processes. The 50-job sweep also runs under
``hydra/launcher=basic`` (one job after another through Hydra's own run_job) in the same
invocation; with ``--repeat N`` the two launchers take turns N times on it, and the
ratios of their best and of their median wall times are printed (a shared machine only
ever adds time).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

SWEEPS = {
    "50": ["experiment=two_moons_arch", "seed=range(10)"],
    "500": ["experiment=two_moons_arch", "seed=range(100)"],
    "2000": [
        "model.hidden=[2],[4],[8],[16],[32],[64],[128],[256]",
        "optimizer.lr=0.001,0.003,0.01,0.03,0.1", "seed=range(50)", "trainer.epochs=100",
    ],
}  # fmt: skip
QUICK = {
    "50": ["experiment=two_moons_arch", "seed=range(2)", "trainer.epochs=20"],
    "500": ["experiment=two_moons_arch", "seed=range(4)", "trainer.epochs=20"],
    "2000": [
        "model.hidden=[2],[16]",
        "optimizer.lr=0.01,0.1",
        "seed=range(3)",
        "trainer.epochs=10",
    ],
}


def sweep(overrides: list[str], folder: Path) -> dict:
    """Run one sweep command; its wall and CPU seconds and what results.csv says."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mlplab", "-m", *overrides, f"hydra.sweep.dir={folder}"],
                          capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"sweep {' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
    results = pd.read_csv(folder / "results.csv")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "jobs": len(results),
        "wall": wall,
        "cpu": cpu,
        "train": results["seconds"].sum(),
        "diagnostics": results["diagnostics_seconds"].sum(),
        "summary": pd.read_csv(folder / "summary.csv"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=sorted(SWEEPS), help="run one of the sweeps")
    parser.add_argument("--quick", action="store_true", help="small versions (a smoke run)")
    parser.add_argument(
        "--no-basic", action="store_true", help="skip the basic launcher's 50-job run"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="turns of the two launchers on the 50-job sweep"
    )
    args = parser.parse_args()
    grids = QUICK if args.quick else SWEEPS
    names = [args.only] if args.only else list(grids)
    print(f"{os.cpu_count()} cores, one thread per process; wall and CPU of the whole command")
    header = (
        f"{'sweep':<14}{'jobs':>6}{'wall s':>9}{'CPU s':>9}{'train s':>9}{'diag s':>8}{'diag %':>8}"
    )
    print(header + f"{'(wall-train)/job':>18}{'(CPU-train)/job':>17}")
    with tempfile.TemporaryDirectory() as tmp:
        measured = {}
        for name in names:
            m = measured[name] = sweep(grids[name], Path(tmp) / name)
            around = (m["wall"] - m["train"]) / m["jobs"] * 1e3
            around_cpu = (m["cpu"] - m["train"]) / m["jobs"] * 1e3
            print(f"{name + ' stacked':<14}{m['jobs']:>6}{m['wall']:>9.1f}{m['cpu']:>9.1f}{m['train']:>9.1f}"
                  f"{m['diagnostics']:>8.2f}{100 * m['diagnostics'] / m['train']:>7.1f}%"
                  f"{around:>15.1f} ms{around_cpu:>14.1f} ms")  # fmt: skip
        if "50" in measured and not args.no_basic:
            walls = {"stacked": [measured["50"]["wall"]], "basic": []}
            for turn in range(args.repeat):
                basic = sweep([*grids["50"], "hydra/launcher=basic"], Path(tmp) / f"basic{turn}")
                walls["basic"].append(basic["wall"])
                print(
                    f"{'50 basic':<14}{basic['jobs']:>6}{basic['wall']:>9.1f}{basic['cpu']:>9.1f}{basic['train']:>9.1f}"
                )
                if turn + 1 < args.repeat:
                    walls["stacked"].append(
                        sweep(grids["50"], Path(tmp) / f"stacked{turn}")["wall"]
                    )
            best = min(walls["basic"]) / min(walls["stacked"])
            median = statistics.median(walls["basic"]) / statistics.median(walls["stacked"])
            runs = ", ".join(
                f"{name} " + " ".join(f"{w:.1f}" for w in ws) for name, ws in walls.items()
            )
            print(f"the 50-job sweep: stacked is {best:.1f}x faster end to end than basic "
                  f"(best times; {median:.1f}x by medians; {runs} s)")  # fmt: skip
            stacked = measured["50"]
            gap = (
                (basic["summary"]["val_acc_mean"] - stacked["summary"]["val_acc_mean"]).abs().max()
            )
            print(f"largest difference in mean val_acc between the two summaries: {gap:.2g}")
        for name, m in measured.items():
            verdict = "<=" if m["wall"] <= m["train"] else ">"
            print(
                f"{name}-job sweep: wall {m['wall']:.1f} s {verdict} the models' training {m['train']:.1f} s"
            )


if __name__ == "__main__":
    main()
