"""What the diagnostics of issue 6 cost a run: each measurement and figure, timed alone.

    .venv/bin/python scripts/bench_diagnostics.py

One thread (as trainer.threads=1 runs); the median CPU time (process_time: steady on
a shared machine, where wall time is not) of a few repeats after one warm-up call.
Prints one row per configuration, in milliseconds, beside the figures every run
already draws (curves.png, boundary.png) and the run's training time, for scale.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

import mlplab.cli  # noqa: F401  registers the schema, as the CLI does
from mlplab import diagnostics, job, plots, settings
from mlplab.results import history_frame
from mlplab.run_figures import numpy_fn
from mlplab.train import fit, prepare

CONFIGS = [
    ["dataset=two_moons", "model.hidden=[16]"],
    ["dataset=two_moons", "model.hidden=[64,64,64]"],
    ["dataset=sine", "model.hidden=[50]"],
    ["dataset=digits", "model.hidden=[128,64]"],
    ["dataset=gaussian", "model.hidden=[256,256,256,256,256,256,256,256,256,256]"],
]


def timed(fn, repeats: int = 5) -> float:
    fn()  # warm-up: first calls pay for allocator and kernel setup
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return 1000 * statistics.median(times)


def bench(overrides: list[str], out: Path) -> str:
    """One row: the diagnostics' costs for one configuration, and its training time."""
    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    s = settings.from_config(cfg)
    data, model, loss = prepare(s)
    X, y = data.X_train, data.y_train
    stats = timed(lambda: diagnostics.layer_stats(model, X, y, loss))
    grid = diagnostics.region_grid(X)
    regions = 0.0 if grid is None else timed(lambda: diagnostics.linear_regions(model, grid))
    sample = X[: job.ACTIVATION_SAMPLE]
    acts_ms = timed(lambda: diagnostics.hidden_activations(model, sample))
    acts = [a.numpy() for a in diagnostics.hidden_activations(model, sample)]
    act_png = timed(lambda: plots.activations(acts, out / "a.png"), repeats=3)
    other = 0.0
    if data.in_dim == 2:
        units = numpy_fn(diagnostics.first_hidden_units(model), "cpu")
        labels = y.reshape(-1).long().numpy()
        other = timed(lambda: plots.neurons(units, X.numpy(), labels, out / "n.png"), 3)
    elif data.in_dim == 1:
        line = torch.linspace(float(X.min()), float(X.max()), diagnostics.LINE_POINTS)[:, None]
        predict = numpy_fn(model, "cpu")
        other = timed(
            lambda: plots.fit_1d(predict, X.numpy(), y.numpy(), out / "f.png",
                                 kinks=diagnostics.kinks_1d(model, line)),
            repeats=3,
        )  # fmt: skip
    start = time.process_time()
    fitted = fit(model, data, s, loss)
    train = 1000 * (time.process_time() - start)
    history = history_frame(fitted.history)
    existing = timed(lambda: plots.curves(history, out / "c.png"), repeats=3)
    if data.in_dim == 2:
        predict = job._predictor(model, data)
        labels = y.reshape(-1).long().numpy()
        existing += timed(lambda: plots.boundary(predict, X.numpy(), labels, out / "b.png"), 3)
    return (f"{' '.join(overrides)[:50]:50s} {stats:6.1f} {regions:7.1f} {acts_ms:5.1f} | "
            f"{act_png:7.0f} {other:8.0f} | {existing:8.0f} | {train:6.0f}")  # fmt: skip


def main() -> None:
    torch.set_num_threads(1)
    out = Path(tempfile.mkdtemp())
    print(f"{'config (CPU ms)':50s} {'stats':>6s} {'regions':>7s} {'acts':>5s} | "
          f"{'act.png':>7s} {'fit/neur':>8s} | {'existing':>8s} | {'train':>6s}")  # fmt: skip
    for overrides in CONFIGS:
        print(bench(overrides, out))


if __name__ == "__main__":
    main()
