"""How a network is trained, on seed 002's two moons: learning rate, loss, batch size
(E14, E15, E18)."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pandas as pd
import torch

from . import figures
from .experiment import (
    Experiment,
    Finding,
    all_of,
    cell,
    pct,
    table,
)
from .sweeps import Sweep
from .verdicts import (
    REFUTED,
    Estimate,
    better,
    computed,
    estimate,
    matches,
)

# ---------------------------------------------------------------- E14 learning rate

E14_GD = [0.1, 0.3, 1.0, 3.0, 10.0]
E14_ADAM = [0.001, 0.01, 0.1, 1.0, 3.0]
E14_REF_EPOCH = 40  # lr 1.0's loss here is the level lr 0.1 must reach ("10x slower": ~400)


def rising_share(sweep: Sweep, lr: float) -> np.ndarray:
    """Per run: the share of epochs whose training loss rose; a diverged run counts as 1."""
    out = []
    for _, row in sweep.rows(completed=False, lr=lr).iterrows():
        if row["status"] == "diverged":
            out.append(1.0)
            continue
        h = pd.read_csv(sweep.dir / row["run_dir"] / "history.csv")["train_loss"].to_numpy()
        out.append(float(np.mean(np.diff(h) > 0)))
    return np.array(out)


def slower_factor(sweep: Sweep) -> tuple[np.ndarray, int]:
    """Per seed: epochs lr 0.1 needs to reach lr 1.0's loss at E14_REF_EPOCH, over E14_REF_EPOCH."""
    h = sweep.history
    ratios, missed = [], 0
    for _, runs in h.groupby("seed"):
        fast = runs[runs["lr"] == 1.0].set_index("epoch")["train_loss"]
        slow = runs[runs["lr"] == 0.1].set_index("epoch")["train_loss"]
        if fast.empty or slow.empty:
            continue
        reached = slow[slow <= fast.loc[E14_REF_EPOCH]]
        if reached.empty:
            missed += 1
        else:
            ratios.append(reached.index[0] / E14_REF_EPOCH)
    return np.array(ratios), missed


def e14(s: dict[str, Sweep]) -> Finding:
    gd, adam = s["lr_gd"], s["lr_adam"]
    rows = []
    for name, sweep, grid in (("full-batch GD", gd, E14_GD), ("Adam, batch 32", adam, E14_ADAM)):
        for lr in grid:
            all_runs = sweep.rows(completed=False, lr=lr)
            rows.append(
                {
                    "optimizer": name,
                    "lr": lr,
                    "train acc": pct(sweep.est("train_acc", lr=lr)),
                    "train BCE": cell(sweep.est("train_loss", lr=lr)),
                    "epochs with a rising loss": cell(estimate(rising_share(sweep, lr))),
                    "dead ReLUs": cell(sweep.est("dead_fraction", lr=lr)),
                    "diverged": f"{int((all_runs['status'] == 'diverged').sum())} of {len(all_runs)}",
                }
            )
    factor, missed = slower_factor(gd)
    ten = matches(
        f"GD: “with lr = 0.1, convergence would be 10× slower” (epochs to reach lr 1.0's "
        f"loss at epoch {E14_REF_EPOCH}, over {E14_REF_EPOCH})",
        estimate(factor),
        10.0,
    )
    if missed:
        ten = dataclasses.replace(
            ten, state=REFUTED, evidence=ten.evidence + f"; {missed} runs never got there"
        )
    parts = [
        ten,
    ]
    # lr 3.0 against the rate each optimizer was run at in the seed: 1.0 (GD), 0.01 (Adam)
    for name, sweep, base in (("GD", gd, 1.0), ("Adam", adam, 0.01)):
        parts += [
            better(
                f"{name}: at lr 3.0 the loss oscillates or diverges (the share of epochs whose "
                f"loss rose, in %, against lr {base})",
                estimate(rising_share(sweep, 3.0)),
                estimate(rising_share(sweep, base)),
                ("lr 3.0", f"lr {base}"),
                lower=False,
                scale=100,
                unit="%",
            ),
            all_of(
                f"{name}: at lr 3.0 “too-fast learning destroys the structure” (final "
                f"training accuracy lower and training BCE higher than at lr {base})",
                [
                    better(
                        "",
                        sweep.est("train_acc", lr=base),
                        sweep.est("train_acc", lr=3.0),
                        (f"accuracy: lr {base}", "lr 3.0"),
                        lower=False,
                        scale=100,
                        unit=" points",
                    ),
                    better(
                        "",
                        sweep.est("train_loss", lr=base),
                        sweep.est("train_loss", lr=3.0),
                        (f"BCE: lr {base}", "lr 3.0"),
                        log=True,
                    ),
                ],
            ),
        ]

    def figure(path):
        fig, axes = figures.panels(2, width=5.4)
        figures.curves(
            axes[0], gd.history, "train_loss", "lr", lambda v: f"lr {v}", order=E14_GD, log=True
        )
        axes[0].set(xlabel="epoch (full-batch GD, 300 points)", ylabel="training BCE")
        axes[0].legend(fontsize=7)
        figures.curves(
            axes[1], adam.history, "train_acc", "lr", lambda v: f"lr {v}", order=E14_ADAM, scale=100
        )
        axes[1].set(xlabel="epoch (Adam, batch 32)", ylabel="training accuracy (%)")
        axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # off the data
        figures.save(fig, path, "E14: learning rate on two moons (the seed's points)")

    return Finding(
        parts,
        f"GD lr 0.1 needs {estimate(factor).text()} times the epochs of lr 1.0",
        table(rows),
        figure,
        notes="E4's network and full-batch GD (500 epochs, all 300 points) and E5's Adam (batch 32, "
        "300 epochs, X[:240] / X[240:]), from He draws, 10 seeds per learning rate. The 10× "
        "holds by construction: with steps this small, full-batch gradient descent follows the "
        "gradient flow, and a tenth of the step takes ten times the epochs to travel the same "
        "path; it is a property of small-step gradient descent, not a finding about this task. "
        "“Oscillates” is read as a loss that rises from one epoch to the next; the table gives "
        "the share of epochs where it does, and the final losses beside it. A run whose "
        "loss became non-finite is recorded as diverged; its last finite epoch counts. The dead "
        "share is measured at the end. Dead units against init, at four Adam learning rates, are "
        "in [E11](#e11) (`experiment=dead_relu`).",
    )


# ---------------------------------------------------------------- E15 MSE against BCE


def logit_gradients() -> list[dict]:
    """d loss / d logit at y = 1 for the seed's ŷ = 0.01, 0.5, 0.99, by autograd."""
    rows = []
    for p in (0.01, 0.5, 0.99):
        z = torch.tensor([math.log(p / (1 - p))], dtype=torch.float64, requires_grad=True)
        y = torch.ones(1, dtype=torch.float64)
        mse = torch.autograd.grad(((torch.sigmoid(z) - y) ** 2).mean(), z)[0].item()
        bce = torch.autograd.grad(torch.nn.functional.binary_cross_entropy_with_logits(z, y), z)[
            0
        ].item()
        rows.append({"ŷ (y = 1)": p, "MSE: dL/dz": f"{mse:.4f}", "BCE: dL/dz": f"{bce:.4f}"})
    return rows


E15_INITS = {"He": {"init": "he_normal"}, "N(0, 1)": {"init": "normal", "model__init_std": 1.0}}


E15_LR = {"bce": 1.0, "mse": 2.0}  #: matched: MSE's logit gradient is half of BCE's at ŷ = 0.5


def e15(s: dict[str, Sweep]) -> Finding:
    sweep = s["mse_vs_bce"]
    grads = logit_gradients()
    at = {
        (k, loss, lr): sweep.at_epoch("train_acc", 100, loss=loss, lr=lr, **w)
        for k, w in E15_INITS.items()
        for loss in ("bce", "mse")
        for lr in (1.0, 2.0)
    }
    rows = [
        {
            "init": k,
            "loss": loss,
            "lr": lr,
            "": "matched" if E15_LR[loss] == lr else "",
            "train acc, epoch 100": pct(at[(k, loss, lr)]),
            "train acc, epoch 500": pct(sweep.est("train_acc", loss=loss, lr=lr, **w)),
            "n": at[(k, loss, lr)].n,
        }
        for k, w in E15_INITS.items()
        for loss in ("bce", "mse")
        for lr in (1.0, 2.0)
    ]
    wrong = grads[0]

    def matched(k: str, loss: str):
        return at[(k, loss, E15_LR[loss])]

    parts = [
        computed(
            "MSE's gradient on the logit vanishes when the output is confidently wrong "
            "(ŷ = 0.01, y = 1), BCE's does not",
            abs(float(wrong["MSE: dL/dz"])) < 0.1 * abs(float(wrong["BCE: dL/dz"])),
            f"MSE {wrong['MSE: dL/dz']}, BCE {wrong['BCE: dL/dz']} (autograd)",
        ),
        better(
            "BCE learns faster than MSE (training accuracy at epoch 100, He init; BCE at lr "
            "1.0, MSE at lr 2.0, where their steps match at ŷ = 0.5)",
            matched("He", "bce"),
            matched("He", "mse"),
            ("BCE", "MSE"),
            lower=False,
            scale=100,
            unit=" points",
        ),
        better(
            "from saturated, confidently wrong outputs (N(0, 1) init) BCE recovers faster (the "
            "same matched rates)",
            matched("N(0, 1)", "bce"),
            matched("N(0, 1)", "mse"),
            ("BCE", "MSE"),
            lower=False,
            scale=100,
            unit=" points",
        ),
    ]

    def figure(path):
        fig, (ax,) = figures.panels()
        h = sweep.history[
            sweep.history["lr"].astype(float) == sweep.history["loss"].map(E15_LR)
        ].assign(
            cond=lambda f: (
                f["loss"].str.upper() + ", " + np.where(f["init"] == "he_normal", "He", "N(0, 1)")
            )
        )
        figures.curves(
            ax,
            h,
            "train_acc",
            "cond",
            scale=100,
            order=["BCE, He", "MSE, He", "BCE, N(0, 1)", "MSE, N(0, 1)"],
            styles={  # colour: the init; dashes: MSE
                "BCE, He": {"color": "tab:blue"},
                "MSE, He": {"color": "tab:blue", "ls": "--"},
                "BCE, N(0, 1)": {"color": "tab:red"},
                "MSE, N(0, 1)": {"color": "tab:red", "ls": "--"},
            },
        )
        ax.set(
            xlabel="epoch (full-batch GD; BCE at lr 1.0, MSE at lr 2.0)",
            ylabel="training accuracy (%)",
            ylim=(80, 100.5),
        )
        ax.legend(fontsize=8, loc="lower right")
        figures.save(
            fig, path, "E15: MSE against BCE on a sigmoid output, steps matched at ŷ = 0.5"
        )

    return Finding(
        parts,
        f"acc@100, He, matched lr: BCE {pct(matched('He', 'bce'))}, MSE {pct(matched('He', 'mse'))}",
        table(rows),
        figure,
        more="Gradients at the seed's three outputs:\n\n" + table(grads),
        notes="E4's setup (2→16→1, full-batch GD, the seed's 300 points). The learning rate is "
        "matched per the gradient scale, not tuned: at ŷ = 0.5 MSE's gradient on the logit, "
        "2(ŷ − y)ŷ(1 − ŷ), is half of BCE's, ŷ − y, so MSE runs at twice BCE's rate (2.0 against "
        "1.0) and the two take the same first steps from an undecided output. The table gives "
        "both losses at both rates.",
    )


# ---------------------------------------------------------------- E18 batch size


def flat_gradient(
    model: torch.nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The gradient of the mean loss on (X, y) with respect to every weight, as one vector."""
    grads = torch.autograd.grad(loss_fn(model(X), y), list(model.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


def gradient_noise(batch: int, seeds: range) -> Estimate:
    """At init, mean over one epoch's batches of |g_batch - g| / |g| (g: the full gradient)."""
    from hydra import compose, initialize_config_module

    import mlplab.cli  # noqa: F401  registers the schema
    from mlplab import settings
    from mlplab.data import load
    from mlplab.train import LOSSES, build_model

    noise = []
    for seed in seeds:
        with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
            cfg = compose(config_name="config", overrides=["experiment=batch_size", f"seed={seed}"])
        run = settings.from_config(cfg)
        data = load(run.dataset)
        model, loss = build_model(run, data)
        fn = LOSSES[loss][0]
        grad = functools.partial(flat_gradient, model, fn)
        full = grad(data.X_train, data.y_train)
        order = torch.randperm(len(data.X_train), generator=torch.Generator().manual_seed(seed))
        X, y = data.X_train[order], data.y_train[order]
        parts = [
            (grad(X[i : i + batch], y[i : i + batch]) - full).norm() / full.norm()
            for i in range(0, len(X), batch)
        ]
        noise.append(torch.stack(parts).mean().item())
    return estimate(noise)


def e18(s: dict[str, Sweep]) -> Finding:
    sweep, long = s["batch_size"], s["batch_full_long"]
    n_train = int(sweep.done["n_train"].iloc[0])
    sizes = {"1": 1.0, "32": 32.0, f"all {n_train}": None}  # None: batch_size=null, the full batch
    seeds = range(int(sweep.done["seed"].nunique()))
    noise = {
        "1": gradient_noise(1, seeds),
        "32": gradient_noise(32, seeds),
        f"all {n_train}": Estimate(0.0, 0.0, len(seeds)),
    }
    at10 = {k: sweep.at_epoch("train_loss", 10, batch_size=v) for k, v in sizes.items()}
    rows = [
        {
            "batch": k,
            "updates per epoch": math.ceil(n_train / (v or n_train)),
            "gradient noise at init": cell(noise[k]),
            "train BCE, epoch 10": cell(at10[k]),
            "train BCE, epoch 300": cell(sweep.est("train_loss", batch_size=v)),
            "val acc, epoch 300": pct(sweep.est("val_acc", batch_size=v)),
            "n": at10[k].n,
        }
        for k, v in sizes.items()
    ]
    full_long = long.est("val_acc")
    rows.append(
        {
            "batch": f"all {n_train}, 2400 epochs",
            "updates per epoch": 1,
            "gradient noise at init": "0",
            "train BCE, epoch 10": "—",
            "train BCE, epoch 300": f"epoch 2400: {cell(long.est('train_loss'))}",
            "val acc, epoch 300": f"epoch 2400: {pct(full_long)}",
            "n": full_long.n,
        }
    )
    full = f"all {n_train}"
    parts = [
        better(
            "gradient noise grows as the batch shrinks: batch 1 noisier than batch 32",
            noise["32"],
            noise["1"],
            ("batch 32", "batch 1"),
        ),
        better(
            "mini-batches make more progress per epoch: batch 32 ahead of the full batch at "
            "epoch 10",
            at10["32"],
            at10[full],
            ("batch 32", "full batch"),
            log=True,
        ),
        better(
            "“stochastic (batch 1): noisy but fast”: ahead of batch 32 at epoch 10",
            at10["1"],
            at10["32"],
            ("batch 1", "batch 32"),
            log=True,
        ),
        better(
            "mini-batch noise helps generalization: at 2400 updates each, batch 32 validates "
            "better than the full batch",
            sweep.est("val_acc", batch_size=32.0),
            full_long,
            ("batch 32", "full batch"),
            lower=False,
            scale=100,
            unit=" points",
        ),
    ]

    def figure(path):
        fig, axes = figures.panels(2, width=5.2)
        h = sweep.history.assign(
            batch=lambda f: f["batch_size"].fillna(n_train).astype(int).astype(str)
        )
        figures.curves(
            axes[0],
            h,
            "train_loss",
            "batch",
            lambda b: f"batch {b}",
            order=["1", "32", str(n_train)],
            log=True,
        )
        axes[0].set(xscale="symlog", xlim=(0, None), xlabel="epoch", ylabel="training BCE")
        axes[0].legend(fontsize=7)
        steps = {"1": n_train, "32": math.ceil(n_train / 32), str(n_train): 1}
        h = h.assign(updates=lambda f: f["epoch"] * f["batch"].map(steps))
        lg = long.history.assign(batch=f"{n_train}, 2400 epochs", updates=lambda f: f["epoch"])
        # the full batch's first 300 updates are its 2400-epoch run's: draw that one only
        figures.curves(
            axes[1],
            pd.concat([h, lg]),
            "val_acc",
            "batch",
            lambda b: f"batch {b}",
            x="updates",
            scale=100,
            order=["1", "32", f"{n_train}, 2400 epochs"],
        )
        axes[1].set(
            xscale="symlog",
            xlim=(0, None),
            xlabel="updates (optimizer steps)",
            ylabel="validation accuracy (%)",
            ylim=(70, 101),
        )
        axes[1].legend(fontsize=7)
        figures.save(fig, path, "E18: batch size (Adam lr 0.01, the seed's points, 240 / 60)")

    return Finding(
        parts,
        f"val acc at 2400 updates: batch 32 {pct(sweep.est('val_acc', batch_size=32.0))}, full {pct(full_long)}",
        table(rows),
        figure,
        notes="E5's setup (2→16→1, He, Adam lr 0.01) on the seed's 240 training points, 300 "
        "epochs; the full batch again for 2400 epochs to match batch 32's 2400 updates. Gradient "
        "noise: at the initial network of each seed, the mean over one shuffled epoch's batches "
        "of ‖g_batch − g‖ / ‖g‖, with g the full-batch gradient (computed here, by autograd).",
    )


EXPERIMENTS = [
    Experiment(
        "E14",
        "Learning rate",
        "002, 000, 003, 004",
        "“We use lr = 1.0 because the gradient is averaged over 300 samples […] With lr = "
        "0.1, convergence would be 10× slower.” […] “Learning rate = 3.0: […] The boundary may "
        "oscillate wildly or even diverge. Too-fast learning destroys the structure the network "
        "has built.”",
        "no numbers",
        ("lr_gd", "lr_adam"),
        e14,
        short_claim="lr 0.1 is 10× slower than 1.0; lr 3.0 oscillates",
    ),
    Experiment(
        "E15",
        "MSE against BCE for classification",
        "002",
        "“Consider a sample with true label y=1 and predicted probability ŷ=0.01 (confidently "
        "wrong) […] The network is confidently wrong but the gradient is nearly zero — it cannot "
        "fix its mistake.”",
        "its table of gradients on z at ŷ = 0.01 / 0.5 / 0.99: MSE "
        "vanishes / moderate / tiny; BCE −0.99 / −0.50 / −0.01",
        ("mse_vs_bce",),
        e15,
        short_claim="MSE's gradient vanishes when confidently wrong; BCE learns faster",
    ),
    Experiment(
        "E18",
        "Batch size",
        "002",
        "“Mini-batch SGD makes progress after seeing just 32 examples. […] The noise from random "
        "mini-batches actually helps generalization.”",
        "full batch: 300 samples, 1 update per epoch, no gradient noise; batch 32: 8 updates, "
        "moderate; batch 1: 300 updates, high",
        ("batch_size", "batch_full_long"),
        e18,
        quick=("trainer.epochs=2", "seed=0,1"),
        short_claim="mini-batches: more updates, noisier, generalize better",
        errors=(12,),
    ),
]
