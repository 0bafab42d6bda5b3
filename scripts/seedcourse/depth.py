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
                "train MSE": cell(sweep.est("train_loss", hidden=h)),
                "val MSE": cell(val[h]),
                "share of variance explained": f"{100 * (1 - val[h].mean / variance):.0f}%",
                "linear pieces": cell(sweep.est("linear_regions", hidden=h)),
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
                    better("", val[deep], val[shallow], (deep, shallow), log=True),
                    beyond("", val[deep], variance, (deep, "the mean's")),
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
        axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
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
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        figures.save(fig, path, f"E12: the tent map composed {E12_K} times ({2**E12_K} pieces)")

    explained = {h: f"{100 * (1 - val[h].mean / variance):.0f}%" for h in E12_PAIRS[-1]}
    return Finding(
        parts,
        f"hand-set {E12_K} × 2 ({params(1, [2] * E12_K, 1)} params): MSE 0, {exact_regions} "
        f"pieces; trained at 385 params, share of variance explained: deep "
        f"{explained[E12_PAIRS[-1][0]]}, shallow {explained[E12_PAIRS[-1][1]]} (n={val[E12_PAIRS[-1][0]].n})",
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


def collapsed(sweep: Sweep, hidden: str, dropout: float) -> tuple[int, int, float]:
    """(runs whose trained net gives every validation point one class, runs, the share of
    the validation split in its most common class)."""
    from mlplab.data import load

    runs = sweep.rows(hidden=hidden, model__dropout=dropout)["run_dir"]
    one = 0
    for run_dir in runs:
        model, run = sweep.model(run_dir)
        data = load(run.dataset)
        model.eval()
        with torch.no_grad():
            one += int(model(data.X_val).argmax(1).unique().numel() == 1)
    counts = torch.bincount(data.y_val.reshape(-1).long())
    return one, len(runs), (counts.max() / counts.sum()).item()


def e13(s: dict[str, Sweep]) -> Finding:
    res, plain = s["residual"], s["residual_plain"]
    rv = {d: res.est("val_acc", depth=d) for d in E13_BLOCKS}
    pv = {d: plain.est("val_acc", hidden=h, model__dropout=0.1) for d, h in E13_BLOCKS.items()}
    p0 = {d: plain.est("val_acc", hidden=h, model__dropout=0.0) for d, h in E13_BLOCKS.items()}
    rows = [
        {
            "blocks": d,
            "residual: params": int(res.rows(depth=d)["params"].iloc[0]),
            "residual: val acc": pct(rv[d]),
            "plain: hidden": f"{2 * d} × {widths(h)[0]}",
            "plain: params": int(plain.rows(hidden=h)["params"].iloc[0]),
            "plain, dropout 0.1: val acc": pct(pv[d]),
            "plain, no dropout: val acc": pct(p0[d]),
            "n": rv[d].n,
        }
        for d, h in E13_BLOCKS.items()
    ]
    lo, hi = min(E13_BLOCKS), max(E13_BLOCKS)
    parts = [
        better(
            f"at {hi} blocks the residual MLP beats a plain MLP of the same size with dropout "
            "after every layer (as inside the blocks)",
            rv[hi],
            pv[hi],
            ("residual", "plain, dropout 0.1"),
            lower=False,
            scale=100,
            unit=" points",
        ),
        better(
            f"at {hi} blocks the residual MLP beats a plain MLP of the same size without dropout",
            rv[hi],
            p0[hi],
            ("residual", "plain, no dropout"),
            lower=False,
            scale=100,
            unit=" points",
        ),
        no_better(
            f"residual blocks train deeper: {lo} blocks are no better than {hi} (by 2 points "
            "or more)",
            rv[lo],
            rv[hi],
            (f"{lo} blocks", f"{hi} blocks"),
            margin=0.02,
            lower=False,
            scale=100,
            unit=" points",
        ),
        better(
            f"without skips depth hurts: the plain MLP without dropout at {2 * lo} layers beats "
            f"it at {2 * hi}",
            p0[lo],
            p0[hi],
            (f"{2 * lo} layers", f"{2 * hi} layers"),
            lower=False,
            scale=100,
            unit=" points",
        ),
    ]
    deep = E13_BLOCKS[hi]
    one, runs, majority = collapsed(plain, deep, 0.1)
    one0, runs0, _ = collapsed(plain, deep, 0.0)
    config = res.result(res.done["run_dir"].iloc[0])["config"]
    epochs, init = config["trainer.epochs"], config["model.init"]

    def figure(path):
        fig, (ax,) = figures.panels(width=7.0)
        r = res.done.assign(layers=res.done["depth"] * 2, kind="residual (pre-LN blocks)")
        p = plain.done.assign(
            layers=plain.done["depth"],
            kind=plain.done["model.dropout"].map(
                lambda v: "plain, dropout 0.1" if v > 0 else "plain, no dropout"
            ),
        )
        figures.points(
            ax,
            pd.concat([r, p]),
            "layers",
            "val_acc",
            by="kind",
            order=["residual (pre-LN blocks)", "plain, dropout 0.1", "plain, no dropout"],
            scale=100,
        )
        ax.axhline(100 / 3, color="0.5", ls=":", lw=1, label="chance (3 classes)")
        ax.set(
            xticks=[4, 16, 32],
            ylim=(0, 101),
            xlabel="Linear layers in the body (2 per residual block)",
            ylabel="validation accuracy (%)",
        )
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        figures.save(fig, path, "E13: residual against plain MLPs of equal size (spiral)")

    return Finding(
        parts,
        f"{hi} blocks: residual {pct(rv[hi])}, plain {pct(pv[hi])} with dropout, "
        f"{pct(p0[hi])} without (n={rv[hi].n})",
        table(rows),
        figure,
        more=f"**The collapse.** With dropout 0.1 after each of its {2 * hi} layers, the plain "
        f"MLP gives every validation point the same class in {one} of {runs} runs (without "
        f"dropout: {one0} of {runs0}). Its accuracy is then the share of the validation split's "
        f"most common class, {100 * majority:.1f}%, which can lie below chance (33.3%) on a "
        "split whose classes are not balanced: the network has stopped using its input. Its "
        f"training loss ends at {cell(plain.est('train_loss', hidden=deep, model__dropout=0.1))}, "
        "against ln 3 = 1.099 for a uniform guess.",
        notes=f"Both have LayerNorm and GELU, AdamW lr 1e-3, wd 1e-4, batch 32, {epochs} epochs, "
        f"nn.Linear's own init (model.init={init}), on CS231n's 3-arm spiral (the seed names no "
        "task). A residual block is LayerNorm → Linear(32, 128) → GELU → dropout → Linear(128, 32) "
        "plus the skip: two Linear layers and 8416 parameters, its dropout off the skip path. The "
        "plain controls have as many Linear layers (two per block) of the width that gives about "
        "as many parameters (within 2%), with dropout 0.1 after every layer (in the main path) "
        "or none. What differs is the skips and the blocks' 4× bottleneck shape.",
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
