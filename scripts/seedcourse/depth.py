"""Depth separation on Telgarsky's sawtooth, and residual blocks (E12, E13)."""

from __future__ import annotations

import pandas as pd
import torch

from . import figures
from .errors import params
from .experiment import (
    Experiment,
    Finding,
    all_of,
    cell,
    pct,
    table,
    widths,
)
from .sweeps import Sweep
from .verdicts import (
    better,
    beyond,
    computed,
    every,
    no_better,
)

# ---------------------------------------------------------------- E12 depth separation

E12_K = 6
E12_PAIRS = [("[2,2,2,2,2,2]", "[12]"), ("[4,4,4,4,4,4]", "[37]"), ("[8,8,8,8,8,8]", "[128]")]
E12_SHALLOW_EXACT = "[63]"  # the narrowest one layer with 2**k linear pieces: 2**k - 1 kinks


def tent_network(k: int) -> torch.nn.Sequential:
    """Telgarsky's construction: k layers of 2 ReLUs computing the tent map composed k times.

    m(x) = 2 relu(x) - 4 relu(x - 1/2) on [0, 1]; each layer's two units read the previous
    layer's m through their weights (2, -4) and biases (0, -1/2).
    """
    from mlplab.model import make_mlp

    net = make_mlp(1, [2] * k, 1)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    fold = torch.tensor([[2.0, -4.0], [2.0, -4.0]])
    with torch.no_grad():
        for i, layer in enumerate(linears[:-1]):
            layer.weight.copy_(torch.ones(2, 1) if i == 0 else fold)
            layer.bias.copy_(torch.tensor([0.0, -0.5]))
        linears[-1].weight.copy_(fold[:1])
        linears[-1].bias.zero_()
    return net


def sawtooth_points(standardize: bool, n: int = 1024):
    """All of E12's points, raw or standardized as the sweep's networks read them."""
    from mlplab.data import load
    from mlplab.settings import DatasetSettings

    d = DatasetSettings("sawtooth", n, k=E12_K, val_fraction=0.0, standardize=standardize)
    data = load(d)
    return data.X_train, data.y_train


def mean_baseline(sweep: Sweep) -> float:
    """Validation MSE of predicting the training targets' mean: the score of not fitting at all."""
    from mlplab.data import load

    _, run = sweep.model(sweep.done["run_dir"].iloc[0])
    data = load(run.dataset)
    return torch.mean((data.y_val - data.y_train.mean()) ** 2).item()


def e12(s: dict[str, Sweep]) -> Finding:
    from mlplab.diagnostics import linear_regions

    sweep = s["depth_separation"]
    x, y = sweep_x, _ = sawtooth_points(standardize=False)
    variance = mean_baseline(sweep)
    exact = tent_network(E12_K)
    with torch.no_grad():
        exact_mse = torch.mean((exact(x) - y) ** 2).item()
    exact_regions = linear_regions(exact, ((torch.arange(20000) + 0.5) / 20000)[:, None])
    order = [h for pair in E12_PAIRS for h in pair] + [E12_SHALLOW_EXACT]
    val = {h: sweep.est("val_loss", hidden=h) for h in order}
    rows = [
        {
            "network": "hand-set tent map (Telgarsky)",
            "layers": E12_K,
            "params": params(1, [2] * E12_K, 1),
            "train MSE": f"{exact_mse:.1e}",
            "val MSE": f"{exact_mse:.1e}",
            "share of variance explained": "100%",
            "linear pieces": exact_regions,
            "n": 1,
        }
    ]
    for h in order:
        rows.append(
            {
                "network": h,
                "layers": len(widths(h)),
                "params": params(1, widths(h), 1),
                "train MSE": cell(sweep.est("train_loss", hidden=h), "{:.4f}"),
                "val MSE": cell(val[h], "{:.4f}"),
                "share of variance explained": f"{100 * (1 - val[h].mean / variance):.0f}%",
                "linear pieces": cell(sweep.est("linear_regions", hidden=h), "{:.0f}"),
                "n": val[h].n,
            }
        )
    parts = [
        computed(
            f"a deep narrow net represents the {2**E12_K}-piece sawtooth with far fewer "
            f"parameters: {E12_K} layers of 2 ({params(1, [2] * E12_K, 1)} parameters) against "
            f"at least {2**E12_K - 1} units in one layer ({params(1, [2**E12_K - 1], 1)})",
            exact_mse < 1e-10 and exact_regions == 2**E12_K,
            f"the hand-set network's MSE is {exact_mse:.1e} with {exact_regions} linear pieces; one "
            f"layer of n units has at most n + 1 pieces",
        ),
    ]
    for deep, shallow in E12_PAIRS:
        # "fits better" needs a fit: the deep net must also beat predicting the mean
        parts.append(
            all_of(
                f"trained, at {params(1, widths(deep), 1)} parameters, {deep} fits it better than "
                f"{shallow} (and better than predicting the mean)",
                [
                    better("", val[deep], val[shallow], (deep, shallow), fmt="{:.4f}"),
                    beyond("", val[deep], variance, (deep, "the mean's"), fmt="{:.4f}"),
                ],
            )
        )
    biggest = E12_PAIRS[-1][0]
    parts.append(
        every(
            f"trained by Adam, the deep net {biggest} fits it (explains ≥ 90% of the variance on "
            "validation points)",
            sweep.values("val_loss", hidden=biggest),
            lambda v: v <= 0.1 * variance,
            f"reach val MSE ≤ {0.1 * variance:.4f}",
        )
    )

    def figure(path):
        fig, axes = figures.panels(2, width=5.4)
        frame = sweep.done
        frame = frame.assign(
            kind=frame["depth"].map(lambda d: f"{d} layers" if d > 1 else "1 layer")
        )
        figures.points(
            axes[0], frame, "params", "val_loss", by="kind", order=["1 layer", f"{E12_K} layers"]
        )
        axes[0].plot(
            params(1, [2] * E12_K, 1), exact_mse, "k*", ms=12, label="hand-set tent network (MSE 0)"
        )
        axes[0].axhline(variance, color="0.5", ls=":", lw=1, label="predicting the mean (val)")
        axes[0].set(
            xscale="log",
            xlabel="parameters",
            ylabel="validation MSE",
            ylim=(-0.005, 1.25 * variance),
        )
        axes[0].legend(fontsize=7)
        ax = axes[1]
        line = torch.linspace(0, 1, 2000)[:, None]
        std = sawtooth_points(standardize=True)[0]  # the trained nets read standardized x
        mean, scale = sweep_x.mean(), sweep_x.std(unbiased=False)
        assert torch.allclose((sweep_x - mean) / scale, std, atol=1e-5)
        with torch.no_grad():
            ax.plot(line, exact(line), color="k", lw=1, label="target = hand-set network")
            for i, h in enumerate((E12_PAIRS[-1][0], E12_PAIRS[-1][1])):
                run = sweep.rows(hidden=h).sort_values("val_loss")["run_dir"].iloc[0]
                model, _ = sweep.model(run)
                ax.plot(
                    line,
                    model((line - mean) / scale),
                    color=figures.COLOURS[i + 1],
                    lw=1.2,
                    label=f"{h}, best of its runs",
                )
        ax.set(xlabel="x", ylabel="y", xlim=(0, 1))
        ax.legend(fontsize=7, loc="lower right")
        figures.save(fig, path, f"E12: the tent map composed {E12_K} times ({2**E12_K} pieces)")

    return Finding(
        parts,
        f"val MSE at 385 params: deep {val[E12_PAIRS[-1][0]].text('{:.3f}')}, shallow "
        f"{val[E12_PAIRS[-1][1]].text('{:.3f}')}; hand-set 37 params: 0",
        table(rows),
        figure,
        notes=f"The sawtooth has {2**E12_K} linear pieces on [0, 1]; 1024 points (16 per piece), 20% "
        "held out; inputs standardized. Predicting the training mean scores a validation MSE of "
        f"{variance:.4f}; the share of variance explained is 1 − MSE / that. Adam lr 0.003, batch 128, 1000 epochs. A first, larger run (2048 points, "
        "Adam at lr 0.001, 0.003 and 0.01, batch 64, 1000 epochs, 5 seeds each) found the same: "
        "every one-layer net and the deep nets of width 2 and 4 stayed at the variance at every "
        "rate, and only 6 × 8 got below it (best at 0.003); it cost 5 minutes, so the page runs "
        "one rate. Depth separation is a statement about what a network can represent; whether "
        "gradient descent finds that network is a separate question, which the trained rows answer.",
    )


# ---------------------------------------------------------------- E13 residual blocks

E13_BLOCKS = {
    2: "[73,73,73,73]",
    8: "[" + ",".join(["65"] * 16) + "]",
    16: "[" + ",".join(["64"] * 32) + "]",
}


def e13(s: dict[str, Sweep]) -> Finding:
    res, plain = s["residual"], s["residual_plain"]
    rv = {d: res.est("val_acc", depth=d) for d in E13_BLOCKS}
    pv = {d: plain.est("val_acc", hidden=h) for d, h in E13_BLOCKS.items()}
    rows = [
        {
            "blocks": d,
            "residual: params": int(res.rows(depth=d)["params"].iloc[0]),
            "residual: val acc": pct(rv[d]),
            "plain: hidden": f"{2 * d} × {widths(h)[0]}",
            "plain: params": int(plain.rows(hidden=h)["params"].iloc[0]),
            "plain: val acc": pct(pv[d]),
            "n": rv[d].n,
        }
        for d, h in E13_BLOCKS.items()
    ]
    lo, hi = min(E13_BLOCKS), max(E13_BLOCKS)
    parts = [
        better(
            f"at {hi} blocks the residual MLP beats a plain MLP of the same size",
            rv[hi],
            pv[hi],
            ("residual", "plain"),
            lower=False,
            fmt="{:.3f}",
        ),
        no_better(
            f"residual blocks train deeper: {lo} blocks no better than {hi}",
            rv[lo],
            rv[hi],
            (f"{lo} blocks", f"{hi} blocks"),
            lower=False,
            fmt="{:.3f}",
        ),
        better(
            f"without skips depth hurts: the plain MLP at {2 * lo} layers beats it at {2 * hi}",
            pv[lo],
            pv[hi],
            (f"{2 * lo} layers", f"{2 * hi} layers"),
            lower=False,
            fmt="{:.3f}",
        ),
    ]

    def figure(path):
        fig, (ax,) = figures.panels()
        r = res.done.assign(layers=res.done["depth"] * 2, kind="residual (pre-LN blocks)")
        p = plain.done.assign(layers=plain.done["depth"], kind="plain, same parameters")
        figures.points(ax, pd.concat([r, p]), "layers", "val_acc", by="kind", scale=100)
        ax.set(
            xticks=[4, 16, 32],
            xlabel="Linear layers in the body (2 per residual block)",
            ylabel="validation accuracy (%)",
        )
        ax.legend(fontsize=8)
        figures.save(fig, path, "E13: residual against plain MLPs of equal size (spiral)")

    return Finding(
        parts,
        f"{hi} blocks: residual {pct(rv[hi])}, plain {pct(pv[hi])} (n={rv[hi].n})",
        table(rows),
        figure,
        notes="Both have LayerNorm, GELU and dropout 0.1, AdamW lr 1e-3, wd 1e-4, batch 32, 100 "
        "epochs, on CS231n's 3-arm spiral (the seed names no task). A residual block is LayerNorm → "
        "Linear(32, 128) → GELU → dropout → Linear(128, 32) plus the skip: two Linear layers and "
        "8416 parameters; the plain baseline has as many Linear layers (two per block) of the width "
        "that gives about as many parameters (within 2%). What differs is the skips and the "
        "blocks' 4× bottleneck shape.",
    )


EXPERIMENTS = [
    Experiment(
        "E12",
        "Depth separation on Telgarsky's sawtooth",
        "001",
        "“for every k, there exists a function that a depth-k ReLU network of polynomial size "
        "can compute, but any depth-o(k/log k) ReLU network requires exponentially many "
        "neurons” […] “each layer of a ReLU network can at most double the number of linear "
        "regions”",
        "no numbers",
        ("depth_separation",),
        e12,
        short_claim="deep narrow nets fit the sawtooth with far fewer parameters",
        errors=(13,),
    ),
    Experiment(
        "E13",
        "Residual MLP blocks",
        "003",
        "“Residual MLP block — mitigates vanishing gradients, enables deeper models”",
        "no numbers",
        ("residual", "residual_plain"),
        e13,
        quick=("trainer.epochs=1", "seed=0,1"),
        short_claim="residual blocks train deeper than a plain MLP",
    ),
]
