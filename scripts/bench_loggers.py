"""What each logger costs per job, measured on the issue's 500-job sweep in this one process.

    python scripts/bench_loggers.py              # 5 architectures x 100 seeds, 300 epochs (~4 min)
    python scripts/bench_loggers.py --quick      # 5 x 10 seeds, 30 epochs: a smoke run
    python scripts/bench_loggers.py --repeat 3   # each sweep three times, the loggers taking turns

Two measurements, both in this process:

1. End to end: ``mlplab-run -m experiment=two_moons_arch seed=range(100)`` through
   ``mlplab.cli.run`` (the real Hydra app) with ``logger=csv`` (the default: nothing more
   than the run folders), ``logger=tensorboard`` and ``logger=mlflow``, each into a new
   folder, with ``hydra.launcher.workers=1`` so that every group is trained and reported
   in this process: a logger's cost per job is its wall time less csv's, over the jobs.
   A small sweep of each logger runs first, so the one-time costs (imports, creating the
   MLflow store) are left out.
2. The report alone: ``mlplab.loggers.log_group`` called on the csv sweep's job folders
   (as ``run_group`` calls it once per group), timed per logger: the same cost without
   the training's noise around it.

Also: what the provenance record costs per result.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from mlplab import cli, loggers, provenance
from mlplab.lifecycle import Job
from mlplab.results import RESULT_FILE

LOGGERS = ("csv", "tensorboard", "mlflow")


def sweep(name: str, seeds: int, epochs: int, folder: Path, store: str) -> float:
    args = [
        "-m", "experiment=two_moons_arch", f"seed=range({seeds})", f"trainer.epochs={epochs}",
        f"logger={name}", f"logger.mlflow.tracking_uri={store}", "hydra.launcher.workers=1",
        f"hydra.sweep.dir={folder}",
    ]  # fmt: skip
    start = time.perf_counter()
    cli.run(args)
    return time.perf_counter() - start


def report_alone(name: str, sweep_dir: Path, store: str, every: int = 1) -> float:
    """Seconds per job ``loggers.log_group`` takes to report every job of ``sweep_dir`` to
    ``name``, with ``logger.every_n_epochs=every``."""
    jobs, results = [], []
    for i, path in enumerate(sorted(sweep_dir.glob(f"*/{RESULT_FILE}"))):
        result = {**json.loads(path.read_text()), "run_dir": str(path.parent)}
        config = {
            **result["config"],
            "logger.tensorboard.enabled": name == "tensorboard",
            "logger.mlflow.enabled": name == "mlflow",
            "logger.mlflow.tracking_uri": store,
            "logger.mlflow.experiment": f"alone-{every}-{sweep_dir.name}",
            "logger.every_n_epochs": every,
        }
        jobs.append(Job(i, tuple(result["overrides"]), path.parent, config, None))
        results.append(result)
    loggers.log_group(jobs[:1], results[:1])  # the experiment made, outside the timing
    start = time.perf_counter()
    loggers.log_group(jobs[1:], results[1:])
    return (time.perf_counter() - start) / (len(jobs) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="sweeps per logger (default 1)")
    args = parser.parse_args()
    seeds, epochs = (10, 30) if args.quick else (100, 300)
    jobs = 5 * seeds
    walls: dict[str, list[float]] = {name: [] for name in LOGGERS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = f"sqlite:///{root / 'mlflow.db'}"
        for name in LOGGERS:  # warm-up: imports, the MLflow store and its tables
            sweep(name, 1, 2, root / f"warm-{name}", store)
        for r in range(args.repeat):
            for name in LOGGERS:
                walls[name].append(sweep(name, seeds, epochs, root / f"{name}-{r}", store))
        alone = {name: report_alone(name, root / "csv-0", store) for name in LOGGERS}
        thinned = {name: report_alone(name, root / "csv-0", store, 10) for name in LOGGERS}
    start = time.perf_counter()
    for _ in range(1000):
        provenance.record(provenance.now())
    per_record = (time.perf_counter() - start) / 1000

    csv = min(walls["csv"])
    print(f"{jobs} jobs (experiment=two_moons_arch, {epochs} epochs), one process, "
          f"best of {args.repeat}:\n")  # fmt: skip
    print(
        "| logger | sweep wall | vs csv | per job, end to end | per job, report alone "
        "| report alone, logger.every_n_epochs=10 |"
    )
    print("|---|---|---|---|---|---|")
    for name in LOGGERS:
        best = min(walls[name])
        extra = (best - csv) / jobs * 1000
        print(
            f"| {name} | {best:.1f} s | {best / csv:.2f}x | {extra:+.1f} ms | "
            f"{alone[name] * 1000:.2f} ms | {thinned[name] * 1000:.2f} ms |"
        )
    print(f"\nprovenance record per result.json: {per_record * 1e6:.0f} us")


if __name__ == "__main__":
    main()
