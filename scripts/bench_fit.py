"""How fast is mlplab's training, against baselines run in the same process?

The job is seed 002's two moons: hidden [16], batch 32, Adam lr 0.01, 300 epochs,
240 training samples. Per model and per thread count it times

  textbook   DataLoader(TensorDataset, shuffle=True) + nn.Sequential + torch.optim.Adam
  sklearn    MLPClassifier(hidden (16,), adam, lr 0.01, batch 32, 300 epochs, no early stop)
  fit        mlplab.train.fit (it also evaluates both splits every epoch; the baselines don't)
  fit_many   mlplab.stacked.fit_many with K models (seeds 0..K-1), time / K

and then the FLOP rate of fit_many on a wide model (hidden [512, 512]) against a
plain batched matmul of the same shape, timed in the same run. Each number is the
best of --repeats runs, with the spread (min-max) beside it: on a shared machine the
best is the cleanest estimate and the spread says how noisy it was.

    python scripts/bench_fit.py            # the full table, 1 and 2 threads (a few minutes)
    python scripts/bench_fit.py --quick    # a smoke version in seconds (numbers meaningless)
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import torch
from hydra import compose, initialize_config_module
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import mlplab.cli  # noqa: F401  registers the config schema, as the CLI does
from mlplab import settings as settings_module
from mlplab.data import load
from mlplab.stacked import fit_many
from mlplab.train import build_model, fit

JOB = (
    "dataset=two_moons", "model.hidden=[16]", "model.activation=relu", "optimizer=adam",
    "optimizer.lr=0.01", "trainer.batch_size=32", "trainer.epochs=300",
)  # fmt: skip


def job_settings(*overrides: str):
    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*JOB, *overrides])
    return settings_module.from_config(cfg)


def timed(run, repeats: int, warmup: bool = True) -> list[tuple[float, float]]:
    """(wall, cpu) seconds of ``repeats`` calls of ``run``, after one untimed warm-up.

    The CPU time of this process beside the wall time shows how much of a slow run
    was the code and how much was other work on a shared machine.
    """
    if warmup:
        run()
    times = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


# ---------------------------------------------------------------- the contenders


def textbook(s, data):
    """The loop from the PyTorch tutorials: DataLoader, nn.Module, torch.optim.Adam."""
    hidden = s.model.hidden[0]
    model = nn.Sequential(nn.Linear(data.in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=s.optimizer.lr)
    loader = DataLoader(
        TensorDataset(data.X_train, data.y_train), batch_size=s.trainer.batch_size, shuffle=True
    )
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(s.trainer.epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()


def sklearn_mlp(s, data):
    """scikit-learn's MLPClassifier with the same settings, forced to run every epoch."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(s.model.hidden), activation="relu", solver="adam",
        learning_rate_init=s.optimizer.lr, batch_size=s.trainer.batch_size,
        max_iter=s.trainer.epochs, alpha=0.0, early_stopping=False, tol=1e-12,
        n_iter_no_change=s.trainer.epochs + 1, shuffle=True, random_state=s.seed,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data.X_train.numpy(), data.y_train.numpy().ravel())
    if clf.n_iter_ != s.trainer.epochs:
        raise RuntimeError(f"MLPClassifier stopped after {clf.n_iter_} epochs")


def mlplab_fit(s, data):
    model, loss = build_model(s, data)
    fit(model, data, s, loss)


def mlplab_fit_many(group, data):
    fit_many(group, data)


def matmul_flops(sizes: list[int], n_train: int, n_eval: int, epochs: int) -> float:
    """Matmul FLOPs of one model: forward + backward (weights, inputs) per epoch, plus eval."""
    macs = [i * o for i, o in zip(sizes, sizes[1:])]
    per_row = 2 * sum(macs) + sum(macs[1:])  # forward, weight grads, input grads (not layer 0)
    return 2 * (n_train * epochs * per_row + n_eval * (epochs + 1) * sum(macs))


# ---------------------------------------------------------------- the tables


def bench_threads(threads: int, args) -> dict:
    """Per-model seconds of every contender on the seed-002 job, as a printed table."""
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        threadpool_limits = None
    warm = threads == args.threads[0]  # first-call costs are paid once per process
    s = job_settings(f"trainer.epochs={args.epochs}")
    data = load(s.dataset)
    steps = args.epochs * -(-len(data.X_train) // s.trainer.batch_size)
    rows = {"textbook": timed(lambda: textbook(s, data), args.repeats, warm)}
    try:
        limits = threadpool_limits(limits=threads) if threadpool_limits else None
        rows["sklearn"] = timed(lambda: sklearn_mlp(s, data), args.repeats, warm)
        if limits is not None:
            limits.restore_original_limits()
    except ImportError:
        rows["sklearn"] = None
    rows["fit"] = timed(lambda: mlplab_fit(s, data), args.repeats, warm)
    for K in args.ks:
        group = [dataclasses.replace(s, seed=k) for k in range(K)]
        times = timed(lambda g=group: mlplab_fit_many(g, data), args.repeats, warm)
        rows[f"fit_many K={K}"] = [(wall / K, cpu / K) for wall, cpu in times]

    best = {name: min(t)[0] if t else None for name, t in rows.items()}
    base, skl = best["textbook"], best["sklearn"]
    print(f"\nthreads={threads}: per model, wall-clock best of {args.repeats} (spread min - max)")
    print(
        f"{'method':16s} {'ms/model':>10s} {'spread (ms)':>21s} {'cpu ms':>9s} "
        f"{'vs textbook':>11s} {'vs sklearn':>10s} {'us/model-step':>13s}"
    )
    for name, times in rows.items():
        if times is None:
            print(f"{name:16s} {'n/a (pip install scikit-learn)':>42s}")
            continue
        wall = [w for w, _ in times]
        cpu = min(c for _, c in times)
        vs_skl = f"{skl / best[name]:9.2f}x" if skl else f"{'n/a':>10s}"
        print(
            f"{name:16s} {best[name] * 1e3:10.2f} {min(wall) * 1e3:10.2f} - {max(wall) * 1e3:8.2f} "
            f"{cpu * 1e3:9.2f} {base / best[name]:10.2f}x {vs_skl} "
            f"{best[name] / steps * 1e6:13.2f}"
        )
    return best | {"steps": steps}


def wide_rate(batch, args) -> tuple[float, float, float]:
    """(seconds, GFLOP/s) of fit_many on hidden [512, 512], and a bmm's GFLOP/s on its big layer."""
    s = job_settings(
        "model.hidden=[512,512]", "optimizer.lr=0.001", f"trainer.batch_size={batch}",
        f"trainer.epochs={args.wide_epochs}",
    )  # fmt: skip
    data = load(s.dataset)
    group = [dataclasses.replace(s, seed=k) for k in range(args.wide_k)]
    seconds = min(wall for wall, _ in timed(lambda: fit_many(group, data), args.repeats))
    n_eval = len(data.X_train) + (0 if data.X_val is None else len(data.X_val))
    sizes = [data.in_dim, 512, 512, 1]
    flops = args.wide_k * matmul_flops(sizes, len(data.X_train), n_eval, args.wide_epochs)
    # the peak: the same batched matmul as the 512 x 512 layer, ~2 GFLOP per timing
    rows = len(data.X_train) if batch == "null" else batch
    a, w = torch.randn(args.wide_k, rows, 512), torch.randn(args.wide_k, 512, 512)
    reps = max(1, int(2e9 / (2 * a.numel() * 512)))
    peak_seconds = min(wall for wall, _ in timed(lambda: [torch.bmm(a, w) for _ in range(reps)], 3))
    return seconds, flops / seconds / 1e9, 2 * a.numel() * 512 * reps / peak_seconds / 1e9


def bench_wide(threads: int, args) -> dict:
    """fit_many's matmul FLOP rate on a wide model against a plain bmm, as a printed table."""
    torch.set_num_threads(threads)
    print(f"\nthreads={threads}: wide model, hidden [512, 512], Adam, K={args.wide_k}")
    print(f"{'batch':>8s} {'s/run':>8s} {'GFLOP/s':>9s} {'bmm peak':>9s} {'of peak':>8s}")
    out = {}
    for batch in (32, "null"):
        seconds, rate, peak = wide_rate(batch, args)
        out[batch] = rate / peak
        print(f"{batch!s:>8s} {seconds:8.3f} {rate:9.1f} {peak:9.1f} {rate / peak:8.0%}")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny budgets")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    args.epochs, args.ks, args.wide_k, args.wide_epochs = 300, [10, 50, 200], 10, 10
    if args.quick:
        args.epochs, args.ks, args.wide_k, args.wide_epochs = 5, [4, 8], 2, 1
        args.repeats, args.threads = 1, [1]

    print(
        "mlplab bench_fit: two_moons (240 train), hidden [16], batch 32, Adam lr 0.01, "
        f"{args.epochs} epochs; torch {torch.__version__}"
    )
    results = {t: bench_threads(t, args) for t in args.threads}
    wide = {t: bench_wide(t, args) for t in args.threads}

    r, k_mid, k_max = results[args.threads[0]], args.ks[len(args.ks) // 2], args.ks[-1]
    big = r[f"fit_many K={k_max}"]
    checks = [
        ("fit >= 2x textbook", r["textbook"] / r["fit"], 2.0, "x"),
        (f"fit_many K={k_mid} >= 40x textbook", r["textbook"] / r[f"fit_many K={k_mid}"], 40, "x"),
        (f"fit_many K={k_max} <= 6 us per model-step", big / r["steps"] * 1e6, 6.0, "us"),
        ("wide fit_many (batch 32) >= 40% of matmul peak", wide[args.threads[0]][32], 0.4, "%"),
    ]
    if r["sklearn"]:
        checks += [
            ("fit no slower than sklearn (stretch)", r["sklearn"] / r["fit"], 1.0, "x"),
            (
                f"fit_many K={k_mid} >= 10x sklearn",
                r["sklearn"] / r[f"fit_many K={k_mid}"],
                10,
                "x",
            ),
        ]
    note = " (--quick: budgets too small to judge)" if args.quick else ""
    print(f"\ntargets (threads={args.threads[0]}){note}:")
    for name, value, target, unit in checks:
        ok = value <= target if unit == "us" else value >= target
        shown = f"{value:.0%}" if unit == "%" else f"{value:.2f}{unit}"
        print(f"  {'met   ' if ok else 'MISSED'} {name}: {shown}")


if __name__ == "__main__":
    main()
