"""Seed 002's two moons, on its own points: full-batch gradient descent and the architecture
table (E4, E5)."""

from __future__ import annotations

import numpy as np
import torch

from . import figures
from .errors import params
from .experiment import (
    Experiment,
    Finding,
    cell,
    pct,
    table,
)
from .sweeps import Sweep
from .verdicts import (
    better,
    beyond,
    computed,
    every,
    no_better,
)

# ---------------------------------------------------------------- E4 two moons, full-batch GD

E4_SEED = {0: (0.773, 0.4991), 100: (0.897, 0.2186), 200: (0.973, 0.1079), 499: (0.990, 0.0377)}


def seed_002_weights() -> tuple[np.ndarray, np.ndarray]:
    """Seed 002's initial weights, drawn as its code draws them (np.random.seed(0))."""
    np.random.seed(0)
    W1 = np.random.randn(2, 16) * np.sqrt(2 / 2)
    W2 = np.random.randn(16, 1) * np.sqrt(2 / 16)
    return W1, W2


def seed_002_numpy() -> dict[int, tuple[float, float]]:
    """Seed 002's NumPy training, run as printed: accuracy and BCE at epochs 0/100/200/499."""
    from mlplab.data import load
    from mlplab.settings import DatasetSettings

    d = load(
        DatasetSettings(
            "two_moons", 300, noise=0.1, val_fraction=0.0, legacy_seed=42, shuffle_split=False
        )
    )
    X, y = d.X_train.double().numpy(), d.y_train.double().numpy()[:, 0]
    W1, W2 = seed_002_weights()
    b1, b2 = np.zeros(16), np.zeros(1)
    out = {}
    for epoch in range(500):
        Z1 = X @ W1 + b1
        H = np.maximum(0, Z1)
        A2 = 1 / (1 + np.exp(-np.clip((H @ W2 + b2)[:, 0], -500, 500)))
        if epoch in E4_SEED:
            bce = -np.mean(y * np.log(A2 + 1e-7) + (1 - y) * np.log(1 - A2 + 1e-7))
            out[epoch] = (float(np.mean((A2 > 0.5) == y)), float(bce))
        dZ2 = ((A2 - y) / 300)[:, None]
        dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
        W2, b2 = W2 - H.T @ dZ2, b2 - dZ2.sum(0)
        W1, b1 = W1 - X.T @ dZ1, b1 - dZ1.sum(0)
    return out


def mlplab_from_seed_weights() -> dict[int, tuple[float, float]]:
    """mlplab's own fit() on E4's settings, started from the seed's initial weights."""
    from hydra import compose, initialize_config_module

    import mlplab.cli  # noqa: F401  registers the schema, as the command does
    from mlplab import settings
    from mlplab.data import load
    from mlplab.train import build_model, fit

    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=two_moons_gd"])
    run = settings.from_config(cfg)
    data = load(run.dataset)
    model, loss = build_model(run, data)
    W1, W2 = seed_002_weights()
    with torch.no_grad():  # nn.Linear keeps W as (out, in): the seed's matrices transposed
        model[0].weight.copy_(torch.tensor(W1.T))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor(W2.T))
        model[2].bias.zero_()
    history = fit(model, data, run, loss).history
    return {r["epoch"]: (r["train_acc"], r["train_loss"]) for r in history}


def e4(s: dict[str, Sweep]) -> Finding:
    sweep = s["two_moons_gd"]
    numpy_run, mlplab_run = seed_002_numpy(), mlplab_from_seed_weights()
    rows = []
    for epoch, (acc, bce) in E4_SEED.items():
        rows.append(
            {
                "epoch": epoch,
                "seed (printed)": f"{100 * acc:.1f}% / {bce:.4f}",
                "seed's code, rerun": f"{100 * numpy_run[epoch][0]:.1f}% / {numpy_run[epoch][1]:.4f}",
                "mlplab fit(), the seed's initial weights": f"{100 * mlplab_run[epoch][0]:.1f}% / {mlplab_run[epoch][1]:.4f}",
                "mlplab, 10 He draws: accuracy": pct(sweep.at_epoch("train_acc", epoch)),
                "BCE": cell(sweep.at_epoch("train_loss", epoch)),
            }
        )
    same = all(
        abs(mlplab_run[e][0] - a) <= 1 / 300 + 1e-9 and abs(mlplab_run[e][1] - b) < 5e-4
        for e, (a, b) in E4_SEED.items()
    )
    start = sweep.at_epoch("train_acc", 0)
    parts = [
        computed(
            "on the seed's points, from the seed's initial weights, training reaches the "
            "seed's numbers (77.3% → 89.7% → 97.3% → 99.0%, BCE 0.0377)",
            same,
            "mlplab's fit() gives "
            + ", ".join(f"{100 * mlplab_run[e][0]:.1f}%" for e in E4_SEED)
            + f", BCE {mlplab_run[499][1]:.4f}: each accuracy within one point of 300",
        ),
        every(
            "it “reaches 99% accuracy in 500 epochs” from other He draws too",
            sweep.per_run_at("train_acc", 499),
            lambda v: v >= 0.99 - 1e-9,
            "reach ≥ 99% at epoch 499",
        ),
        beyond(
            "at epoch 0, He init is “better than 50% chance”",
            start,
            0.5,
            ("epoch-0 accuracy", "chance"),
            lower=False,
            scale=100,
            unit="%",
        ),
    ]

    def figure(path):
        fig, (ax,) = figures.panels(width=6.5)
        figures.curves(
            ax, sweep.history, "train_acc", "init", lambda k: "mlplab, He draws", scale=100
        )
        epochs = sorted(mlplab_run)
        ax.plot(
            epochs,
            [100 * mlplab_run[e][0] for e in epochs],
            "--",
            color="tab:green",
            label="mlplab from the seed's initial weights",
        )
        ax.plot(
            list(E4_SEED),
            [100 * a for a, _ in E4_SEED.values()],
            "*",
            ms=12,
            color="k",
            label="the seed (printed)",
        )
        ax.set(
            xlabel="epoch (full-batch gradient descent, lr 1.0)",
            ylabel="training accuracy (%), all 300 points",
            ylim=(40, 101),
        )
        ax.legend(fontsize=8, loc="lower right")
        figures.save(fig, path, "E4: two moons, 2→16→1, the seed's own points")

    return Finding(
        parts,
        f"epoch 499: {pct(sweep.at_epoch('train_acc', 499))} (n={sweep.at_epoch('train_acc', 499).n}); "
        f"from the seed's weights {100 * mlplab_run[499][0]:.1f}%",
        table(rows),
        figure,
        notes="The points are the seed's own (dataset.legacy_seed=42: its generator under "
        "NumPy's legacy np.random.seed(42)), all 300 used for training as the seed does. "
        "Accuracy / BCE in each cell. The third column feeds the seed's initial weights "
        "(np.random.seed(0)) to mlplab's training loop; the last two average ten PyTorch He draws.",
    )


# ---------------------------------------------------------------- E5 the architecture table

E5_SEED = {
    "[4]": (17, 1.0, 0.967),
    "[16]": (65, 1.0, 0.983),
    "[32]": (129, 1.0, 0.983),
    "[8,8]": (105, 1.0, 0.983),
    "[16,16]": (337, 1.0, 0.983),
}


E5_POINT = 1 / 60  #: one validation point: the margin of "no benefit", fixed before the run


def e5(s: dict[str, Sweep]) -> Finding:
    sweep = s["two_moons_arch"]
    train = {h: sweep.est("train_acc", hidden=h) for h in E5_SEED}
    val = {h: sweep.est("val_acc", hidden=h) for h in E5_SEED}
    rows = []
    for h, (p, t, v) in E5_SEED.items():
        widths = [int(w) for w in h.strip("[]").split(",")]
        full = int((sweep.values("train_acc", hidden=h) >= 1.0 - 1e-9).sum())
        rows.append(
            {
                "hidden": h,
                "params (seed)": p,
                "params (mlplab)": params(2, widths, 1),
                "train (seed)": f"{100 * t:.1f}%",
                "val (seed)": f"{100 * v:.1f}%",
                "train (mlplab)": pct(train[h]),
                "val (mlplab)": pct(val[h]),
                "runs at 100% train": f"{full} of {train[h].n}",
                "n": train[h].n,
            }
        )
    reach = [sweep.values("train_acc", hidden=h) for h in E5_SEED]
    parts = [
        every(
            "“All architectures reach 100% training accuracy”",
            np.concatenate(reach),
            lambda a: a >= 1.0 - 1e-9,
            "(all five architectures together) reach 100%",
        ),
        better(
            "width 16 generalizes better than width 4 (96.7% → 98.3%)",
            val["[16]"],
            val["[4]"],
            ("[16]", "[4]"),
            lower=False,
            scale=100,
            unit=" points",
        ),
        no_better(
            "going from 16 to 32 units adds no benefit (not one validation point, 1.7 points)",
            val["[32]"],
            val["[16]"],
            ("[32]", "[16]"),
            margin=E5_POINT,
            lower=False,
            scale=100,
            unit=" points",
        ),
        no_better(
            "depth does not help: [8,8] no better than [16] (by one validation point or more)",
            val["[8,8]"],
            val["[16]"],
            ("[8,8]", "[16]"),
            margin=E5_POINT,
            lower=False,
            scale=100,
            unit=" points",
        ),
        no_better(
            "[16,16], 5× the parameters, no better than [16] (by one validation point or more)",
            val["[16,16]"],
            val["[16]"],
            ("[16,16]", "[16]"),
            margin=E5_POINT,
            lower=False,
            scale=100,
            unit=" points",
        ),
    ]

    def figure(path):
        fig, axes = figures.panels(2, width=4.6)
        labels = list(E5_SEED)
        for ax, metric, what, est in ((axes[0], "train", 1, train), (axes[1], "val", 2, val)):
            figures.bars(ax, labels, [est[h] for h in labels], scale=100)
            ax.plot(
                range(len(labels)),
                [100 * E5_SEED[h][what] for h in labels],
                "k*",
                ms=11,
                label="the seed",
            )
            ax.set(ylabel=f"{metric} accuracy (%)", ylim=(0, 101), xlabel="hidden")
            ax.legend(fontsize=8, loc="lower right")
        figures.save(
            fig, path, "E5: two-moons architectures (the seed's points, X[:240] / X[240:])"
        )

    return Finding(
        parts,
        f"train {pct(train['[16]'])}, val {pct(val['[16]'])} for [16] (n={val['[16]'].n})",
        table(rows),
        figure,
        notes="The seed's own 300 points and split (X[:240] train, X[240:] val: "
        "dataset.legacy_seed=42, dataset.shuffle_split=false), batch 32, Adam lr 0.01, 300 epochs. "
        "One validation point is 1.7%. The seed reports one run per architecture; mlplab ten.",
    )


EXPERIMENTS = [
    Experiment(
        "E4",
        "Two moons, full-batch gradient descent",
        "002",
        "“This code generates the two-moons dataset, trains using full-batch gradient descent "
        "with BCE loss, and reaches 99% accuracy in 500 epochs.”",
        "accuracy 77.3% (epoch 0), 89.7% (100), 97.3% (200), 99.0% (499); BCE 0.0377",
        ("two_moons_gd",),
        e4,
        short_claim="reaches 99% in 500 epochs",
        errors=(3,),
    ),
    Experiment(
        "E5",
        "The two-moons architecture table",
        "002",
        "“All architectures reach 100% training accuracy. […] Going from 4 to 16 hidden "
        "neurons improves val accuracy from 96.7% to 98.3%. But going from 16 to 32 adds no "
        "benefit […] Depth does not help for this task.”",
        "[4]: 17 params, train 100%, val 96.7%; [16]: 65, 100%, 98.3%; [32]: 129, 100%, 98.3%; "
        "[8,8]: 105, 100%, 98.3%; [16,16]: 337, 100%, 98.3%",
        ("two_moons_arch",),
        e5,
        short_claim="all reach 100% train; [16] is the sweet spot",
    ),
]
