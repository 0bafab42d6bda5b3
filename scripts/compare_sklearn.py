"""What early stopping and a cosine schedule buy, next to scikit-learn's MLPClassifier.

The set is scikit-learn's bundled digits (1797 8x8 images, 10 classes), split once by
mlplab (dataset.seed 42): 20% test, 20% validation, the rest to train, standardized on
the training split. Every method trains hidden [100, 100] ReLU with Adam, batch 100,
at most 150 epochs, at each learning rate of --lrs, once per seed (0..--seeds-1,
which draws the initial weights and the shuffle order), and is scored on the test
split, which none of them sees while training:

  mlplab, last epoch            the weights after the last epoch (no knob)
  mlplab, early stopping        trainer.early_stopping.patience=10 on val_acc; the best
                                epoch's weights restored
  mlplab, cosine                optimizer.schedule=cosine (to 0 over the epochs)
  mlplab, cosine + early stop.  both
  sklearn, early_stopping       MLPClassifier(early_stopping=True, n_iter_no_change=10), fit on
                                the same training + validation samples with
                                validation_fraction = mlplab's validation share; it keeps its
                                best epoch's weights too. No L2 (alpha=0), as mlplab.

Why digits and not breast_cancer: breast_cancer's test split is 114 samples (one sample
is 0.9 points), a linear model already scores ~96% on it and these five methods measured
96.0-97.2% there, within about one test sample of each other: no knob shows above the noise. On digits an MLP fits the training set within a few epochs; what is left
to a knob is where the last epoch lands, which depends on the learning rate: at Adam's
usual 0.01 the weights settle and the knobs change little, at 0.05 the last epoch lands
anywhere and annealing or restoring the best epoch matters. Both rates are in the table.

mlplab's models all train in one fit_many stack (the knobs and the lr are per model;
tests/test_stacked.py holds fit_many to fit model by model).

    python scripts/compare_sklearn.py            # the README table (a few minutes)
    python scripts/compare_sklearn.py --quick    # a smoke run: 2 seeds, 3 epochs (numbers meaningless)
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch
from hydra import compose, initialize_config_module

import mlplab.cli  # noqa: F401  registers the config schema, as the CLI does
from mlplab import settings as settings_module
from mlplab.data import load
from mlplab.stacked import fit_many
from mlplab.train import evaluate, targets_for

RECIPE = (
    "dataset=digits", "dataset.test_fraction=0.2", "model.hidden=[100,100]",
    "model.activation=relu", "optimizer=adam", "trainer.batch_size=100",
)  # fmt: skip
SKLEARN = "sklearn MLPClassifier, early_stopping"


def methods(patience: int) -> dict[str, list[str]]:
    """Table row name -> the overrides that make it."""
    stop = f"trainer.early_stopping.patience={patience}"
    return {
        "mlplab, last epoch": [],
        "mlplab, early stopping (restore best)": [stop],
        "mlplab, cosine": ["optimizer.schedule=cosine"],
        "mlplab, cosine + early stopping": ["optimizer.schedule=cosine", stop],
    }


def run_settings(*overrides: str):
    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*RECIPE, *overrides])
    return settings_module.from_config(cfg)


def mlplab_runs(args) -> tuple[dict[tuple[float, str], list[tuple[float, int]]], object]:
    """(lr, method) -> one (test accuracy, epochs run) per seed, all trained in one stack;
    and the Dataset."""
    keys, group = [], []
    for lr in args.lrs:
        for name, extra in methods(args.patience).items():
            for seed in range(args.seeds):
                keys.append((lr, name))
                group.append(
                    run_settings(
                        *extra, f"optimizer.lr={lr}", f"trainer.epochs={args.epochs}",
                        f"seed={seed}",
                    )
                )  # fmt: skip
    data = load(group[0].dataset)
    y_test = targets_for(data.y_test, "cross_entropy")
    runs: dict = {}
    for key, fitted in zip(keys, fit_many(group, data)):
        accuracy = evaluate(fitted.model, data.X_test, y_test, "cross_entropy")[1]
        runs.setdefault(key, []).append((float(accuracy), fitted.epochs_run))
    return runs, data


def sklearn_runs(args, data) -> dict[tuple[float, str], list[tuple[float, int]]]:
    """MLPClassifier with its own early stopping on mlplab's training + validation samples."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X = torch.cat([data.X_train, data.X_val]).numpy()
    y = torch.cat([data.y_train, data.y_val]).numpy()
    runs: dict = {}
    for lr in args.lrs:
        for seed in range(args.seeds):
            clf = MLPClassifier(
                hidden_layer_sizes=(100, 100), activation="relu", solver="adam",
                learning_rate_init=lr, batch_size=100, max_iter=args.epochs, alpha=0.0,
                early_stopping=True, validation_fraction=len(data.X_val) / len(X),
                n_iter_no_change=args.patience, random_state=seed,
            )  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # --quick's few epochs
                clf.fit(X, y)
            accuracy = clf.score(data.X_test.numpy(), data.y_test.numpy())
            runs.setdefault((lr, SKLEARN), []).append((float(accuracy), clf.n_iter_))
    return runs


def table(runs: dict) -> str:
    """A Markdown table: one row per (lr, method), test accuracy mean ± std over seeds."""
    lines = [
        "| Adam lr | method | test accuracy (mean ± std) | epochs run (mean) | seeds |",
        "|---|---|---|---|---|",
    ]
    for (lr, name), results in runs.items():
        accuracy = [a for a, _ in results]
        epochs = statistics.mean(e for _, e in results)
        spread = statistics.stdev(accuracy) if len(accuracy) > 1 else float("nan")
        lines.append(
            f"| {lr:g} | {name} | {statistics.mean(accuracy):.2%} ± {spread:.2%} "
            f"| {epochs:.1f} | {len(results)} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 seeds, 3 epochs")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.05])
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.patience, args.lrs = 2, 3, 1, [0.05]
    torch.set_num_threads(1)  # tiny models: one thread is fastest and steadiest
    print(
        f"mlplab compare_sklearn: digits, hidden [100, 100], Adam, batch 100, <= {args.epochs} "
        f"epochs, patience {args.patience}, seeds 0..{args.seeds - 1}; torch {torch.__version__}"
    )
    runs, data = mlplab_runs(args)
    runs.update(sklearn_runs(args, data))
    by_lr = dict(sorted(runs.items(), key=lambda item: item[0][0]))  # each lr's rows together
    print(f"train {len(data.X_train)}, validation {len(data.X_val)}, test {len(data.X_test)}\n")
    print(table(by_lr))


if __name__ == "__main__":
    main()
