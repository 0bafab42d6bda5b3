"""What a network can represent: XOR, sin, linear collapse, XOR's width (E8, E10, E16, E21)."""

from __future__ import annotations

import math

import pandas as pd
import torch

from . import figures
from .errors import params
from .experiment import (
    Experiment,
    Finding,
    cell,
    grouped,
    pct,
    table,
    widths,
)
from .sweeps import Sweep, matching
from .verdicts import (
    better,
    computed,
    estimate,
    every,
    no_better,
)

# ---------------------------------------------------------------- E8 XOR


# XOR's two losses: what seed 001 prints (BCE) and what its backward pass trains (seed
# error 10: 0.5·MSE through the sigmoid at lr 0.1, which is mlplab's MSE at lr 0.05)
XOR_LOSSES = {
    "BCE (printed)": {"loss": "bce", "lr": 0.1},
    "0.5·MSE (trained)": {"loss": "mse", "lr": 0.05},
}


def e8(s: dict[str, Sweep]) -> Finding:
    sweep = s["xor"]
    rows, parts = [], []
    for name, w in XOR_LOSSES.items():
        for h in ("[]", "[4]"):
            acc = sweep.values("train_acc", hidden=h, **w)
            rows.append(
                {
                    "loss": name,
                    "hidden": h,
                    "params": int(sweep.rows(hidden=h, **w)["params"].iloc[0]),
                    "train accuracy": pct(estimate(acc)),
                    "runs at 100%": f"{int((acc >= 1 - 1e-9).sum())} of {len(acc)}",
                    "n": len(acc),
                }
            )
        linear = sweep.values("train_acc", hidden="[]", **w)
        parts += grouped(
            name,
            [
                every(
                    "the 2→4→1 MLP reaches 100%",
                    sweep.values("train_acc", hidden="[4]", **w),
                    lambda a: a >= 1 - 1e-9,
                    "reach 100%",
                ),
                computed(
                    "a linear model cannot exceed 75% (no line separates XOR's classes: a "
                    "theorem, which trained runs can only be consistent with)",
                    bool((linear <= 0.75 + 1e-9).all()),
                    f"{int((linear <= 0.75 + 1e-9).sum())} of {len(linear)} trained linear runs "
                    "stay at or below 75%",
                ),
            ],
        )

    def figure(path):
        fig, axes = figures.panels(2, width=5)
        for ax, (name, w) in zip(axes, XOR_LOSSES.items()):
            h = matching(sweep.history, w, sweep.name)
            figures.curves(
                ax,
                h,
                "train_acc",
                "hidden",
                lambda k: "linear ([])" if k == "[]" else "2→4→1, sigmoid units",
                order=["[]", "[4]"],
                scale=100,
            )
            ax.set(
                xscale="symlog",
                xlim=(0, None),
                ylim=(0, 101),
                xlabel="epoch (full-batch GD)",
                ylabel="training accuracy (%)",
                title=name,
            )
            ax.legend(fontsize=8, loc="lower right")
        figures.save(fig, path, "E8: XOR needs a hidden layer")

    return Finding(
        parts,
        f"[4]: {rows[1]['runs at 100%']} runs at 100% with BCE, {rows[3]['runs at 100%']} with "
        "the seed's 0.5·MSE; linear ≤ 75%",
        table(rows),
        figure,
        notes="Weights N(0, 0.5²) as the seed draws them, full-batch GD. Two losses: BCE at the "
        "seed's lr 0.1 (what its code prints), and the loss its backward pass trains, 0.5·MSE "
        "through the sigmoid at lr 0.1 (seed error 10), run as mlplab's MSE at lr 0.05, which "
        "takes the same steps. The sweep also runs the other two pairs (`experiment=xor`).",
    )


# ---------------------------------------------------------------- E10 universal approximation

E10_ORDER = ["[2]", "[5]", "[50]"]


def e10(s: dict[str, Sweep]) -> Finding:
    sweep = s["sine_approx"]
    mse = {h: sweep.est("train_loss", hidden=h) for h in E10_ORDER}
    rows = [
        {
            "hidden": h,
            "params": params(1, [int(h.strip("[]"))], 1),
            "MSE against sin": cell(mse[h]),
            "most linear pieces (n+1)": int(h.strip("[]")) + 1,
            "pieces used": cell(sweep.est("linear_regions", hidden=h)),
            "n": mse[h].n,
        }
        for h in E10_ORDER
    ]
    parts = [
        every(
            "a trained 1→50→1 ReLU network approximates sin on [−π, π]: MSE ≤ 0.005 "
            "(99% of sin's variance 0.5 explained)",
            sweep.values("train_loss", hidden="[50]"),
            lambda v: v <= 0.005,
            "reach MSE ≤ 0.005",
        )
    ]

    def figure(path):
        fig, (ax,) = figures.panels(width=6.5)
        line = torch.linspace(-math.pi, math.pi, 400)[:, None]
        fits = []  # each trained net's output on the line, in long form for figures.curves
        for h in E10_ORDER:
            for run_dir in sweep.rows(hidden=h)["run_dir"]:
                model, _ = sweep.model(run_dir)
                with torch.no_grad():
                    out = model(line)[:, 0].numpy()
                fits.append(pd.DataFrame({"x": line[:, 0].numpy(), "output": out,
                                          "run_dir": run_dir, "hidden": h}))  # fmt: skip
        figures.curves(
            ax,
            pd.concat(fits),
            "output",
            by="hidden",
            x="x",
            order=E10_ORDER,
            label=lambda h: f"1→{h.strip('[]')}→1",
        )
        ax.plot(line[:, 0], torch.sin(line[:, 0]), "k--", lw=1, label="sin(x)", zorder=3)
        ax.set(xlabel="x", ylabel="network output")
        ax.legend(fontsize=8)
        figures.save(fig, path, "E10: one hidden layer fits sin(x)")

    return Finding(
        parts,
        f"[50]: MSE {mse['[50]'].text()}",
        table(rows),
        figure,
        notes="The seed shows only an untrained random network and says that training "
        "would fit; mlplab trains it (full-batch Adam, lr 0.01, 2000 epochs, all 100 points).",
    )


# ---------------------------------------------------------------- E16 linear collapse

E16_DEEP = "[16,16,16,16]"


def collapsed(model: torch.nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """The one affine map (W, b) an identity-activation network computes: W = W_L ... W_1."""
    W, b = None, None
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            W = layer.weight if W is None else layer.weight @ W
            b = layer.bias if b is None else layer.weight @ b + layer.bias
    return W, b


def e16(s: dict[str, Sweep]) -> Finding:
    sweep = s["linear_collapse"]
    rows, parts, worst = [], [], 0.0
    for ds in ("two_moons", "circles"):
        models = {
            "linear ([])": {"hidden": "[]", "activation": "identity"},
            "4×16, identity": {"hidden": E16_DEEP, "activation": "identity"},
            "4×16, ReLU": {"hidden": E16_DEEP, "activation": "relu"},
        }
        val = {k: sweep.est("val_acc", dataset=ds, **w) for k, w in models.items()}
        for k, w in models.items():
            rows.append(
                {
                    "data": ds,
                    "model": k,
                    "params": int(sweep.rows(dataset=ds, **w)["params"].iloc[0]),
                    "train acc": pct(sweep.est("train_acc", dataset=ds, **w)),
                    "val acc": pct(val[k]),
                    "n": val[k].n,
                }
            )
        for run in sweep.rows(dataset=ds, hidden=E16_DEEP, activation="identity")["run_dir"]:
            model, run_settings = sweep.model(run)
            from mlplab.data import load

            X = load(run_settings.dataset).X_train
            W, b = collapsed(model)
            with torch.no_grad():
                worst = max(worst, (model(X) - (X @ W.T + b)).abs().max().item())
        parts += grouped(
            ds,
            [
                no_better(
                    "four identity layers are no better than one linear map (by 2 points or more)",
                    val["4×16, identity"],
                    val["linear ([])"],
                    ("4×16 identity", "linear"),
                    margin=0.02,
                    lower=False,
                    scale=100,
                    unit=" points",
                ),
                better(
                    "the same four layers with ReLU beat it",
                    val["4×16, ReLU"],
                    val["4×16, identity"],
                    ("4×16 ReLU", "4×16 identity"),
                    lower=False,
                    scale=100,
                    unit=" points",
                ),
                every(
                    "no straight line separates the classes: a linear model stays below 100% on its "
                    "training points",
                    sweep.values("train_acc", dataset=ds, hidden="[]"),
                    lambda a: a < 1.0,
                    "stay below 100%",
                ),
            ],
        )
    parts.append(
        computed(
            "a trained identity network computes one linear map: W₄W₃W₂W₁x + b",
            worst < 1e-4,
            f"largest difference from the collapsed map over all runs "
            f"and training points: {worst:.1e}",
        )
    )

    def figure(path):
        fig, axes = figures.panels(2, width=4.6)
        for ax, ds in zip(axes, ("two_moons", "circles")):
            labels = ["linear ([])", "4×16, identity", "4×16, ReLU"]
            where = [
                {"hidden": "[]", "activation": "identity"},
                {"hidden": E16_DEEP, "activation": "identity"},
                {"hidden": E16_DEEP, "activation": "relu"},
            ]
            figures.bars(
                ax, labels, [sweep.est("val_acc", dataset=ds, **w) for w in where], scale=100
            )
            ax.set(ylabel="validation accuracy (%)", ylim=(0, 101), title=ds)
        figures.save(fig, path, "E16: without a non-linearity, depth collapses to a linear model")

    return Finding(
        parts,
        "circles, val acc: "
        + ", ".join(f"{r['model']} {r['val acc']}" for r in rows if r["data"] == "circles")
        + f" (n={rows[-1]['n']})",
        table(rows),
        figure,
        notes="Adam lr 0.01, batch 32, 200 epochs; mlplab's two-moons generator (noise 0.1) and "
        "seed 004's ring of radius 2 around an N(0, 0.5²) centre. The collapse is checked on every "
        "trained identity network by multiplying its weight matrices.",
    )


# ---------------------------------------------------------------- E21 XOR width


def hand_set_xor() -> torch.Tensor:
    """Seed 004's hand-set 2-2-1 sigmoid network (AND-like and OR-like units) on the corners."""
    from mlplab.model import make_mlp

    net = make_mlp(2, [2], 1, activation="sigmoid")
    with torch.no_grad():  # the seed's x @ W1 + b1 with W1 = [[20, 20], [20, 20]]
        net[0].weight.copy_(torch.tensor([[20.0, 20.0], [20.0, 20.0]]))
        net[0].bias.copy_(torch.tensor([-30.0, -10.0]))
        net[2].weight.copy_(torch.tensor([[-60.0, 60.0]]))
        net[2].bias.copy_(torch.tensor([-30.0]))
        return torch.sigmoid(net(torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]])))[:, 0]


def e21(s: dict[str, Sweep]) -> Finding:
    sweep = s["xor_width"]
    out = hand_set_xor()
    target = torch.tensor([0.0, 1, 1, 0])
    parts = [
        computed(
            "2 hidden units suffice in principle: seed 004's hand-set 2→2→1 network solves XOR",
            bool(((out > 0.5).float() == target).all()),
            "outputs "
            + ", ".join(f"{v:.3g}" for v in out.tolist())
            + " on (0,0), (0,1), (1,0), (1,1)",
        ),
    ]
    rows = []
    for name, w in XOR_LOSSES.items():
        reached = {
            h: estimate(
                (sweep.values("train_acc", hidden=h, **w) >= 1 - 1e-9).astype(float),
                sweep.keys(sweep.rows(hidden=h, **w)),
            )
            for h in ("[2]", "[4]")
        }
        at = {h: sweep.at_epoch("train_loss", 2000, hidden=h, **w) for h in ("[2]", "[4]")}
        rows += [
            {
                "loss": name,
                "hidden": h,
                "params": params(2, widths(h), 1),
                "runs at 100%": f"{int(round(reached[h].mean * reached[h].n))} of {reached[h].n}",
                "loss, epoch 2000": cell(at[h]),
                "loss, epoch 10000": cell(sweep.est("train_loss", hidden=h, **w)),
                "n": at[h].n,
            }
            for h in ("[2]", "[4]")
        ]
        parts += grouped(
            name,
            [
                better(
                    "4 units train faster than 2 (the loss at epoch 2000)",
                    at["[4]"],
                    at["[2]"],
                    ("[4]", "[2]"),
                    log=True,
                ),
                better(
                    "more units train more reliably (share of runs reaching 100%)",
                    reached["[4]"],
                    reached["[2]"],
                    ("[4]", "[2]"),
                    lower=False,
                    scale=100,
                    unit=" points",
                ),
            ],
        )

    def figure(path):
        fig, axes = figures.panels(2, width=5)
        for ax, (name, w) in zip(axes, XOR_LOSSES.items()):
            solved = matching(sweep.history, w, sweep.name).assign(
                solved=lambda f: (f["train_acc"] >= 1 - 1e-9).astype(float)
            )
            figures.curves(
                ax,
                solved,
                "solved",
                "hidden",
                lambda h: f"2→{h.strip('[]')}→1",
                order=["[2]", "[4]"],
                scale=100,
            )
            ax.set(
                xscale="symlog",
                xlim=(0, None),
                ylim=(0, 101),
                xlabel="epoch (full-batch GD)",
                ylabel="runs at 100% accuracy (%)",
                title=name,
            )
            ax.legend(fontsize=8, loc="upper left")
        figures.save(fig, path, "E21: XOR with 2 and 4 sigmoid units")

    return Finding(
        parts,
        "at 100%, BCE: [2] "
        + f"{rows[0]['runs at 100%']}, [4] {rows[1]['runs at 100%']}; the seed's 0.5·MSE: "
        + f"[2] {rows[2]['runs at 100%']}, [4] {rows[3]['runs at 100%']}",
        table(rows),
        figure,
        notes="E8's setup (sigmoid units, N(0, 0.5²) weights, full-batch GD, 10 000 epochs) with "
        "both of E8's losses: BCE at lr 0.1 and the seed's own 0.5·MSE through the sigmoid "
        "(mlplab's MSE at lr 0.05); 20 seeds each. The share of runs at 100% is a mean of 0/1 "
        "outcomes, compared by the same t interval. “Faster” was fixed before the run as the "
        "loss at epoch 2000, a fifth of the budget.",
    )


EXPERIMENTS = [
    Experiment(
        "E8",
        "XOR",
        "001",
        "“XOR Learnable by 2-Layer MLP” […] “no single line can separate” its classes",
        "the MLP reaches 100%; a linear model cannot exceed 75%",
        ("xor",),
        e8,
        short_claim="2→4→1 reaches 100%, linear ≤ 75%",
        errors=(10,),
    ),
    Experiment(
        "E10",
        "Universal approximation of sin(x)",
        "004",
        "“with training, this network CAN approximate sin(x)” (1 → 50 ReLUs → 1)",
        "no numbers (only an untrained network)",
        ("sine_approx",),
        e10,
        short_claim="1→50→1 fits sin",
    ),
    Experiment(
        "E16",
        "Linear collapse",
        "001, 003, 004",
        "“A 100-layer linear network is mathematically identical to a 1-layer linear network.” "
        "(001) […] “no straight line can separate them” (002, 004)",
        "no numbers",
        ("linear_collapse",),
        e16,
        short_claim="without a non-linearity depth collapses to one linear map",
    ),
    Experiment(
        "E21",
        "XOR: 2 against 4 hidden units",
        "001, 004",
        "“XOR only needs 2 neurons but 4 trains faster” (001)",
        "no numbers",
        ("xor_width",),
        e21,
        short_claim="2 units suffice; 4 train faster and more reliably",
    ),
]
