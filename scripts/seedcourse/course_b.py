"""E12-E22: depth separation, residual blocks, learning rate, losses, linear collapse, linear
regions, batch size, input scale, double descent, XOR width, cross-validation."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pandas as pd
import torch

from . import figures
from .course_a import all_of, grouped
from .errors import params
from .experiment import Experiment, Finding, cell, pct, table
from .sweeps import Sweep
from .verdicts import Estimate, better, beyond, computed, estimate, every, matches, no_better

# ---------------------------------------------------------------- E12 depth separation

E12_K = 6
E12_PAIRS = [("[2,2,2,2,2,2]", "[12]"), ("[4,4,4,4,4,4]", "[37]"), ("[8,8,8,8,8,8]", "[128]")]
E12_SHALLOW_EXACT = "[63]"  # the narrowest one layer with 2**k linear pieces: 2**k - 1 kinks


def widths(hidden: str) -> list[int]:
    return [int(w) for w in hidden.strip("[]").split(",") if w]


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
    rows = [{"network": "hand-set tent map (Telgarsky)", "layers": E12_K, "params": params(1, [2] * E12_K, 1),
             "train MSE": f"{exact_mse:.1e}", "val MSE": f"{exact_mse:.1e}",
             "share of variance explained": "100%", "linear pieces": exact_regions, "n": 1}]  # fmt: skip
    for h in order:
        rows.append({
            "network": h, "layers": len(widths(h)), "params": params(1, widths(h), 1),
            "train MSE": cell(sweep.est("train_loss", hidden=h), "{:.4f}"),
            "val MSE": cell(val[h], "{:.4f}"),
            "share of variance explained": f"{100 * (1 - val[h].mean / variance):.0f}%",
            "linear pieces": cell(sweep.est("linear_regions", hidden=h), "{:.0f}"), "n": val[h].n,
        })  # fmt: skip
    parts = [
        computed(f"a deep narrow net represents the {2**E12_K}-piece sawtooth with far fewer "
                 f"parameters: {E12_K} layers of 2 ({params(1, [2] * E12_K, 1)} parameters) against "
                 f"at least {2**E12_K - 1} units in one layer ({params(1, [2**E12_K - 1], 1)})",
                 exact_mse < 1e-10 and exact_regions == 2**E12_K,
                 f"the hand-set network's MSE is {exact_mse:.1e} with {exact_regions} linear pieces; one "
                 f"layer of n units has at most n + 1 pieces"),
    ]  # fmt: skip
    for deep, shallow in E12_PAIRS:
        # "fits better" needs a fit: the deep net must also beat predicting the mean
        parts.append(all_of(
            f"trained, at {params(1, widths(deep), 1)} parameters, {deep} fits it better than "
            f"{shallow} (and better than predicting the mean)", [
                better("", val[deep], val[shallow], (deep, shallow), fmt="{:.4f}"),
                beyond("", val[deep], variance, (deep, "the mean's"), fmt="{:.4f}"),
            ]))  # fmt: skip
    biggest = E12_PAIRS[-1][0]
    parts.append(every(
        f"trained by Adam, the deep net {biggest} fits it (explains ≥ 90% of the variance on "
        "validation points)", sweep.values("val_loss", hidden=biggest),
        lambda v: v <= 0.1 * variance, f"reach val MSE ≤ {0.1 * variance:.4f}"))  # fmt: skip

    def figure(path):
        fig, axes = figures.panels(2, width=5.4)
        frame = sweep.done
        frame = frame.assign(
            kind=frame["depth"].map(lambda d: f"{d} layers" if d > 1 else "1 layer")
        )
        figures.points(
            axes[0], frame, "params", "val_loss", by="kind", order=["1 layer", f"{E12_K} layers"]
        )
        axes[0].plot(params(1, [2] * E12_K, 1), exact_mse, "k*", ms=12,
                     label="hand-set tent network (MSE 0)")  # fmt: skip
        axes[0].axhline(variance, color="0.5", ls=":", lw=1, label="predicting the mean (val)")
        axes[0].set(xscale="log", xlabel="parameters", ylabel="validation MSE",
                    ylim=(-0.005, 1.25 * variance))  # fmt: skip
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
                ax.plot(line, model((line - mean) / scale), color=figures.COLOURS[i + 1], lw=1.2,
                        label=f"{h}, best of its runs")  # fmt: skip
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
    rows = [{"blocks": d, "residual: params": int(res.rows(depth=d)["params"].iloc[0]),
             "residual: val acc": pct(rv[d]), "plain: hidden": f"{2 * d} × {widths(h)[0]}",
             "plain: params": int(plain.rows(hidden=h)["params"].iloc[0]),
             "plain: val acc": pct(pv[d]), "n": rv[d].n}
            for d, h in E13_BLOCKS.items()]  # fmt: skip
    lo, hi = min(E13_BLOCKS), max(E13_BLOCKS)
    parts = [
        better(f"at {hi} blocks the residual MLP beats a plain MLP of the same size",
               rv[hi], pv[hi], ("residual", "plain"), lower=False, fmt="{:.3f}"),
        no_better(f"residual blocks train deeper: {lo} blocks no better than {hi}", rv[lo], rv[hi],
                  (f"{lo} blocks", f"{hi} blocks"), lower=False, fmt="{:.3f}"),
        better(f"without skips depth hurts: the plain MLP at {2 * lo} layers beats it at {2 * hi}",
               pv[lo], pv[hi], (f"{2 * lo} layers", f"{2 * hi} layers"), lower=False, fmt="{:.3f}"),
    ]  # fmt: skip

    def figure(path):
        fig, (ax,) = figures.panels()
        r = res.done.assign(layers=res.done["depth"] * 2, kind="residual (pre-LN blocks)")
        p = plain.done.assign(layers=plain.done["depth"], kind="plain, same parameters")
        figures.points(ax, pd.concat([r, p]), "layers", "val_acc", by="kind", scale=100)
        ax.set(xticks=[4, 16, 32], xlabel="Linear layers in the body (2 per residual block)",
               ylabel="validation accuracy (%)")  # fmt: skip
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
            rows.append({
                "optimizer": name, "lr": lr, "train acc": pct(sweep.est("train_acc", lr=lr)),
                "train BCE": cell(sweep.est("train_loss", lr=lr), "{:.3g}"),
                "epochs with a rising loss": cell(estimate(rising_share(sweep, lr)), "{:.2f}"),
                "dead ReLUs": cell(sweep.est("dead_fraction", lr=lr), "{:.2f}"),
                "diverged": f"{int((all_runs['status'] == 'diverged').sum())} of {len(all_runs)}",
            })  # fmt: skip
    factor, missed = slower_factor(gd)
    ten = matches(f"GD: “with lr = 0.1, convergence would be 10× slower” (epochs to reach lr 1.0's "
                  f"loss at epoch {E14_REF_EPOCH}, over {E14_REF_EPOCH})", estimate(factor), 10.0)  # fmt: skip
    if missed:
        ten = dataclasses.replace(
            ten, holds=False, evidence=ten.evidence + f"; {missed} runs never got there"
        )
    parts = [
        ten,
    ]  # fmt: skip
    # lr 3.0 against the rate each optimizer was run at in the seed: 1.0 (GD), 0.01 (Adam)
    for name, sweep, base in (("GD", gd, 1.0), ("Adam", adam, 0.01)):
        parts += [
            better(f"{name}: at lr 3.0 the loss oscillates or diverges (share of epochs whose "
                   f"loss rose, against lr {base})", estimate(rising_share(sweep, 3.0)),
                   estimate(rising_share(sweep, base)), ("lr 3.0", f"lr {base}"), lower=False,
                   fmt="{:.3f}"),
            better(f"{name}: at lr 3.0 “too-fast learning destroys the structure” (final "
                   f"training accuracy against lr {base})", sweep.est("train_acc", lr=base),
                   sweep.est("train_acc", lr=3.0), (f"lr {base}", "lr 3.0"), lower=False, fmt="{:.3f}"),
        ]  # fmt: skip

    def figure(path):
        fig, axes = figures.panels(2, width=5.4)
        figures.curves(axes[0], gd.history, "train_loss", "lr", lambda v: f"lr {v}", order=E14_GD)
        axes[0].set(yscale="log", xlabel="epoch (full-batch GD, 300 points)", ylabel="training BCE")
        axes[0].legend(fontsize=7)
        figures.curves(axes[1], adam.history, "train_acc", "lr", lambda v: f"lr {v}", order=E14_ADAM,
                       scale=100)  # fmt: skip
        axes[1].set(xlabel="epoch (Adam, batch 32)", ylabel="training accuracy (%)")
        axes[1].legend(fontsize=7)
        figures.save(fig, path, "E14: learning rate on two moons (the seed's points)")

    return Finding(
        parts,
        f"GD lr 0.1 needs {estimate(factor).text('{:.2f}')} times the epochs of lr 1.0",
        table(rows),
        figure,
        notes="E4's network and full-batch GD (500 epochs, all 300 points) and E5's Adam (batch 32, "
        "300 epochs, X[:240] / X[240:]), from He draws, 10 seeds per learning rate. A run whose "
        "loss became non-finite is recorded as diverged; its last finite epoch counts. The dead "
        "share is measured at the end. Dead units against init, at four Adam learning rates, are "
        "in [E11](#e11) (`experiment=dead_relu`).",
    )


# ---------------------------------------------------------------- E15 MSE against BCE


def mse_pending() -> str | None:
    from mlplab.train import LOSSES

    if "binary" in LOSSES["mse"][1]:
        return None
    return ("needs `loss=mse` on a binary task (a sigmoid output and MSE on the probability, as "
            "seed 002 does), which another open issue adds; today mlplab refuses it.")  # fmt: skip


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


def e15(s: dict[str, Sweep]) -> Finding:
    sweep = s["mse_vs_bce"]
    grads = logit_gradients()
    at = {(k, loss): sweep.at_epoch("train_acc", 100, loss=loss, **w)
          for k, w in E15_INITS.items() for loss in ("bce", "mse")}  # fmt: skip
    rows = [{"init": k, "loss": loss, "train acc, epoch 100": pct(at[(k, loss)]),
             "train acc, epoch 500": pct(sweep.est("train_acc", loss=loss, **w)), "n": at[(k, loss)].n}
            for k, w in E15_INITS.items() for loss in ("bce", "mse")]  # fmt: skip
    wrong = grads[0]
    parts = [
        computed("MSE's gradient on the logit vanishes when the output is confidently wrong "
                 "(ŷ = 0.01, y = 1), BCE's does not",
                 abs(float(wrong["MSE: dL/dz"])) < 0.1 * abs(float(wrong["BCE: dL/dz"])),
                 f"MSE {wrong['MSE: dL/dz']}, BCE {wrong['BCE: dL/dz']} (autograd)"),
        better("BCE learns faster than MSE (training accuracy at epoch 100, He init)",
               at[("He", "bce")], at[("He", "mse")], ("BCE", "MSE"), lower=False, fmt="{:.3f}"),
        better("from saturated, confidently wrong outputs (N(0, 1) init) BCE recovers faster",
               at[("N(0, 1)", "bce")], at[("N(0, 1)", "mse")], ("BCE", "MSE"), lower=False, fmt="{:.3f}"),
    ]  # fmt: skip

    def figure(path):
        fig, (ax,) = figures.panels()
        h = sweep.history.assign(cond=lambda f: f["loss"].str.upper() + ", " + np.where(
            f["init"] == "he_normal", "He", "N(0, 1)"))  # fmt: skip
        figures.curves(ax, h, "train_acc", "cond", scale=100,
                       order=["BCE, He", "MSE, He", "BCE, N(0, 1)", "MSE, N(0, 1)"])  # fmt: skip
        ax.set(xlabel="epoch (full-batch GD, lr 1.0)", ylabel="training accuracy (%)")
        ax.legend(fontsize=8)
        figures.save(fig, path, "E15: MSE against BCE on a sigmoid output")

    return Finding(parts, f"acc@100, He: BCE {pct(at[('He', 'bce')])}, MSE {pct(at[('He', 'mse')])}",
                   table(rows), figure, more="Gradients at the seed's three outputs:\n\n" + table(grads),
                   notes="E4's setup (2→16→1, full-batch GD lr 1.0, the seed's 300 points).")  # fmt: skip


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
        models = {"linear ([])": {"hidden": "[]", "activation": "identity"},
                  "4×16, identity": {"hidden": E16_DEEP, "activation": "identity"},
                  "4×16, ReLU": {"hidden": E16_DEEP, "activation": "relu"}}  # fmt: skip
        val = {k: sweep.est("val_acc", dataset=ds, **w) for k, w in models.items()}
        for k, w in models.items():
            rows.append({"data": ds, "model": k, "params": int(sweep.rows(dataset=ds, **w)["params"].iloc[0]),
                         "train acc": pct(sweep.est("train_acc", dataset=ds, **w)), "val acc": pct(val[k]),
                         "n": val[k].n})  # fmt: skip
        for run in sweep.rows(dataset=ds, hidden=E16_DEEP, activation="identity")["run_dir"]:
            model, run_settings = sweep.model(run)
            from mlplab.data import load

            X = load(run_settings.dataset).X_train
            W, b = collapsed(model)
            with torch.no_grad():
                worst = max(worst, (model(X) - (X @ W.T + b)).abs().max().item())
        parts += grouped(ds, [
            no_better("four identity layers are no better than one linear map", val["4×16, identity"],
                      val["linear ([])"], ("4×16 identity", "linear"), lower=False, fmt="{:.3f}"),
            better("the same four layers with ReLU beat it", val["4×16, ReLU"], val["4×16, identity"],
                   ("4×16 ReLU", "4×16 identity"), lower=False, fmt="{:.3f}"),
            every("no straight line separates the classes: a linear model stays below 100% on its "
                  "training points", sweep.values("train_acc", dataset=ds, hidden="[]"),
                  lambda a: a < 1.0, "stay below 100%"),
        ])  # fmt: skip
    parts.append(computed("a trained identity network computes one linear map: W₄W₃W₂W₁x + b",
                          worst < 1e-4, f"largest difference from the collapsed map over all runs "
                          f"and training points: {worst:.1e}"))  # fmt: skip

    def figure(path):
        fig, axes = figures.panels(2, width=4.6)
        for ax, ds in zip(axes, ("two_moons", "circles")):
            labels = ["linear ([])", "4×16, identity", "4×16, ReLU"]
            where = [{"hidden": "[]", "activation": "identity"}, {"hidden": E16_DEEP, "activation": "identity"},
                     {"hidden": E16_DEEP, "activation": "relu"}]  # fmt: skip
            figures.bars(
                ax, labels, [sweep.est("val_acc", dataset=ds, **w) for w in where], scale=100
            )
            ax.set(ylabel="validation accuracy (%)", ylim=(40, 101), title=ds)
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


# ---------------------------------------------------------------- E17 linear regions

E17_1D = ["[4]", "[8]", "[16]", "[32]", "[16,16]", "[8,8,8,8]"]
E17_2D = ["[16]", "[32]", "[16,16]", "[8,8,8,8]"]


def bound(hidden: str, dim: int) -> int:
    """prod over layers of sum_{i<=dim} C(n_l, i): each layer cuts each region at most that often."""
    out = 1
    for n in widths(hidden):
        out *= sum(math.comb(n, i) for i in range(dim + 1))
    return out


def e17(s: dict[str, Sweep]) -> Finding:
    one, two = s["regions_1d"], s["regions_2d"]
    rows = []
    for name, sweep, order, dim in (
        ("1-D (sin)", one, E17_1D, 1),
        ("2-D (two moons)", two, E17_2D, 2),
    ):
        for h in order:
            e = sweep.est("linear_regions", hidden=h)
            rows.append({"input": name, "hidden": h, "units": sum(widths(h)), "bound": f"{bound(h, dim):,}",
                         "regions, trained": cell(e, "{:.1f}"),
                         "regions at init": cell(sweep.est("linear_regions_init", hidden=h), "{:.1f}"),
                         "n": e.n})  # fmt: skip
    r1 = {h: one.est("linear_regions", hidden=h) for h in E17_1D}
    r2 = {h: two.est("linear_regions", hidden=h) for h in E17_2D}
    single = np.concatenate([one.values("linear_regions", hidden=h) - int(h.strip("[]")) - 1
                             for h in E17_1D if "," not in h])  # fmt: skip
    parts = grouped("one layer", [
        every("1-D input: one layer of n ReLUs has at most n + 1 regions", single, lambda v: v <= 0,
              "of the trained one-layer nets stay within n + 1"),
        every("“16 ReLU neurons → 17 linear regions” on the two-moons plane",
              two.values("linear_regions", hidden="[16]"), lambda v: v <= 17, "have at most 17"),
    ]) + grouped("depth multiplies regions (32 units in 1, 2 or 4 layers)", [
        better("1-D: [16,16] has more regions than [32]", r1["[16,16]"], r1["[32]"], ("[16,16]", "[32]"),
               lower=False, fmt="{:.1f}"),
        better("1-D: [8,8,8,8] has more regions than [32]", r1["[8,8,8,8]"], r1["[32]"],
               ("[8,8,8,8]", "[32]"), lower=False, fmt="{:.1f}"),
        better("2-D: [16,16] has more regions than [32]", r2["[16,16]"], r2["[32]"], ("[16,16]", "[32]"),
               lower=False, fmt="{:.1f}"),
        better("2-D: [8,8,8,8] has more regions than [32]", r2["[8,8,8,8]"], r2["[32]"],
               ("[8,8,8,8]", "[32]"), lower=False, fmt="{:.1f}"),
    ])  # fmt: skip

    def figure(path):
        fig, axes = figures.panels(2, width=5.2)
        for ax, sweep, order, dim, title in ((axes[0], one, E17_1D, 1, "1-D input (sin on [−π, π])"),
                                             (axes[1], two, E17_2D, 2, "2-D input (two moons)")):  # fmt: skip
            figures.bars(ax, order, [sweep.est("linear_regions", hidden=h) for h in order])
            ax.plot(range(len(order)), [bound(h, dim) for h in order], "k_", ms=18, mew=2,
                    label="upper bound")  # fmt: skip
            ax.set(yscale="log", ylabel="linear regions (trained)", xlabel="hidden", title=title)
            ax.legend(fontsize=8)
        figures.save(fig, path, "E17: the regions trained ReLU networks have, against their bounds")

    return Finding(
        parts,
        f"[16] on two moons: {r2['[16]'].text('{:.0f}')} regions (seed: 17)",
        table(rows),
        figure,
        notes="Regions are counted as distinct activation patterns (mlplab's diagnostics."
        "linear_regions) on 4096 points along the input's range (1-D) or a 200 × 200 grid over the "
        "data's box (2-D): a lower bound on the regions inside that box. Bound: the product over "
        "layers of Σ_{i≤d} C(n_l, i) for a d-dimensional input (n + 1 in 1-D). 1-D: E10's training "
        "(full-batch Adam, 2000 epochs); 2-D: E5's (Adam, batch 32, 300 epochs).",
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
        parts = [(grad(X[i : i + batch], y[i : i + batch]) - full).norm() / full.norm()
                 for i in range(0, len(X), batch)]  # fmt: skip
        noise.append(torch.stack(parts).mean().item())
    return estimate(noise)


def e18(s: dict[str, Sweep]) -> Finding:
    sweep, long = s["batch_size"], s["batch_full_long"]
    n_train = int(sweep.done["n_train"].iloc[0])
    sizes = {"1": 1.0, "32": 32.0, f"all {n_train}": None}  # None: batch_size=null, the full batch
    seeds = range(int(sweep.done["seed"].nunique()))
    noise = {"1": gradient_noise(1, seeds), "32": gradient_noise(32, seeds),
             f"all {n_train}": Estimate(0.0, 0.0, len(seeds))}  # fmt: skip
    at10 = {k: sweep.at_epoch("train_loss", 10, batch_size=v) for k, v in sizes.items()}
    rows = [{"batch": k, "updates per epoch": math.ceil(n_train / (v or n_train)),
             "gradient noise at init": cell(noise[k], "{:.3f}"),
             "train BCE, epoch 10": cell(at10[k], "{:.3f}"),
             "train BCE, epoch 300": cell(sweep.est("train_loss", batch_size=v), "{:.3f}"),
             "val acc, epoch 300": pct(sweep.est("val_acc", batch_size=v)), "n": at10[k].n}
            for k, v in sizes.items()]  # fmt: skip
    full_long = long.est("val_acc")
    rows.append({"batch": f"all {n_train}, 2400 epochs", "updates per epoch": 1,
                 "gradient noise at init": "0", "train BCE, epoch 10": "—",
                 "train BCE, epoch 300": f"epoch 2400: {cell(long.est('train_loss'), '{:.3f}')}",
                 "val acc, epoch 300": f"epoch 2400: {pct(full_long)}", "n": full_long.n})  # fmt: skip
    full = f"all {n_train}"
    parts = [
        better("gradient noise grows as the batch shrinks: batch 1 noisier than batch 32",
               noise["32"], noise["1"], ("batch 32", "batch 1"), fmt="{:.3f}"),
        better("mini-batches make more progress per epoch: batch 32 ahead of the full batch at "
               "epoch 10", at10["32"], at10[full], ("batch 32", "full batch"), fmt="{:.3f}"),
        better("“stochastic (batch 1): noisy but fast”: ahead of batch 32 at epoch 10", at10["1"],
               at10["32"], ("batch 1", "batch 32"), fmt="{:.3f}"),
        better("mini-batch noise helps generalization: at 2400 updates each, batch 32 validates "
               "better than the full batch", sweep.est("val_acc", batch_size=32.0), full_long,
               ("batch 32", "full batch"), lower=False, fmt="{:.3f}"),
    ]  # fmt: skip

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
        )
        axes[0].set(
            yscale="log", xscale="symlog", xlim=(0, None), xlabel="epoch", ylabel="training BCE"
        )
        axes[0].legend(fontsize=7)
        steps = {"1": n_train, "32": math.ceil(n_train / 32), str(n_train): 1}
        h = h.assign(updates=lambda f: f["epoch"] * f["batch"].map(steps))
        lg = long.history.assign(batch=f"{n_train}, 2400 epochs", updates=lambda f: f["epoch"])
        # the full batch's first 300 updates are its 2400-epoch run's: draw that one only
        figures.curves(axes[1], pd.concat([h, lg]), "val_acc", "batch", lambda b: f"batch {b}",
                       x="updates", scale=100, order=["1", "32", f"{n_train}, 2400 epochs"])  # fmt: skip
        axes[1].set(xscale="symlog", xlim=(0, None), xlabel="updates (optimizer steps)",
                    ylabel="validation accuracy (%)", ylim=(70, 101))  # fmt: skip
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


# ---------------------------------------------------------------- E19 input scale

E19 = {"N(0, 1) features, raw": (1.0, False), "x0 × 1000, raw": (1000.0, False),
       "N(0, 1) features, standardized": (1.0, True), "x0 × 1000, standardized": (1000.0, True)}  # fmt: skip


def first_layer_share(scale: float, standardize: bool, seeds: range) -> np.ndarray:
    """At init: |dL/dW1[:, 0]| over the median |dL/dW1[:, j]| of the other features, per seed."""
    from hydra import compose, initialize_config_module

    import mlplab.cli  # noqa: F401
    from mlplab import settings
    from mlplab.data import load
    from mlplab.train import LOSSES, build_model, targets_for

    out = []
    for seed in seeds:
        overrides = ["experiment=input_scale", f"seed={seed}", f"dataset.feature_scale={scale}",
                     f"dataset.standardize={str(standardize).lower()}"]  # fmt: skip
        with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
            run = settings.from_config(compose(config_name="config", overrides=overrides))
        data = load(run.dataset)
        model, loss = build_model(run, data)
        first = model[0].weight
        value = LOSSES[loss][0](model(data.X_train), targets_for(data.y_train, loss))
        g = torch.autograd.grad(value, first)[0].norm(dim=0)  # one norm per input feature
        out.append((g[0] / g[1:].median()).item())
    return np.array(out)


def e19(s: dict[str, Sweep]) -> Finding:
    sweep = s["input_scale"]
    seeds = range(int(sweep.done["seed"].nunique()))
    val, share = {}, {}
    for k, (scale, std) in E19.items():
        val[k] = sweep.est("val_acc", dataset__feature_scale=scale, dataset__standardize=std)
        share[k] = first_layer_share(scale, std, seeds)
    rows = [{"inputs": k, "x0's gradient over the others' (median), at init": cell(estimate(share[k]), "{:.3g}"),
             "train acc": pct(sweep.est("train_acc", dataset__feature_scale=sc, dataset__standardize=st)),
             "val acc": pct(val[k]), "n": val[k].n} for k, (sc, st) in E19.items()]  # fmt: skip
    parts = [
        every("a feature 1000× larger dominates the first layer's gradient (over 100× the median "
              "other feature's)", share["x0 × 1000, raw"], lambda r: r > 100, "give x0 over 100×"),
        better("the badly scaled input trains worse than the same data unscaled",
               val["N(0, 1) features, raw"], val["x0 × 1000, raw"], ("unscaled", "x0 × 1000"),
               lower=False, fmt="{:.3f}"),
        better("standardizing repairs it", val["x0 × 1000, standardized"], val["x0 × 1000, raw"],
               ("standardized", "raw"), lower=False, fmt="{:.3f}"),
    ]  # fmt: skip

    def figure(path):
        fig, (ax,) = figures.panels()
        h = sweep.history.assign(cond=[
            next(k for k, (sc, st) in E19.items() if sc == float(a) and st == bool(b))
            for a, b in zip(sweep.history["dataset.feature_scale"], sweep.history["dataset.standardize"])])  # fmt: skip
        figures.curves(ax, h, "val_acc", "cond", order=list(E19), scale=100)
        ax.set(xlabel="epoch (AdamW, batch 32)", ylabel="validation accuracy (%)")
        ax.legend(fontsize=8)
        figures.save(fig, path, "E19: one feature × 1000, standardized or not (y = x0 + x1·x2 > 0)")

    return Finding(
        parts,
        f"val: x0×1000 raw {pct(val['x0 × 1000, raw'])}, standardized {pct(val['x0 × 1000, standardized'])}",
        table(rows),
        figure,
        notes="E6's task and training (20 features, [64,32], AdamW lr 1e-3, wd 1e-4, cross-entropy, "
        "batch 32, 20 epochs) with dataset.feature_scale multiplying x0, the first feature, and "
        "dataset.standardize scaling every feature with the training split's mean and std. The "
        "gradient ratio is computed here at each seed's initial network (autograd). Adam divides "
        "each weight's step by its own gradient scale, which evens out the updates themselves. "
        "Standardized, the scaled and unscaled sets are the same numbers, so their rows and lines "
        "coincide.",
    )


# ---------------------------------------------------------------- E20 double descent


def e20(s: dict[str, Sweep]) -> Finding:
    sweep = s["double_descent"]
    done = sweep.done.assign(
        train_err=lambda f: 1 - f["train_acc"], val_err=lambda f: 1 - f["val_acc"]
    )
    table_ = done.groupby("width").agg(params=("params", "first"), train=("train_err", "mean"),
                                       train_sd=("train_err", "std"), val=("val_err", "mean"),
                                       val_sd=("val_err", "std"), n=("val_err", "count"))  # fmt: skip
    n_train = int(done["n_train"].iloc[0])
    fitted = table_[table_["train"] <= 0.01]
    threshold = int(fitted.index.min()) if len(fitted) else int(table_.index.max())
    est = {w: estimate(done[done["width"] == w]["val_err"]) for w in table_.index}
    widest = int(table_.index.max())
    below = [w for w in table_.index if w < threshold]
    best_below = min(below, key=lambda w: est[w].mean) if below else None
    peak = int(table_["val"].idxmax())
    rows = [{"width": w, "params": int(r["params"]), "train error": f"{100 * r['train']:.1f}% ± {100 * r['train_sd']:.1f}%",
             "val error (clean labels)": f"{100 * r['val']:.1f}% ± {100 * r['val_sd']:.1f}%", "n": int(r["n"]),
             "": "interpolation threshold" if w == threshold else ("worst val error" if w == peak else "")}
            for w, r in table_.iterrows()]  # fmt: skip
    parts = [
        better(f"past the interpolation threshold (width {threshold}, the first to fit 99% of the "
               f"noisy labels), test error decreases as the model grows (width {widest})",
               est[widest], est[threshold], (f"width {widest}", f"width {threshold}"), fmt="{:.3f}"),
    ]  # fmt: skip
    if best_below is None:
        parts.append(computed("test error peaks at the threshold: below it, a smaller model does better",
                              False, "no width is below the threshold"))  # fmt: skip
    else:
        parts.append(better("test error peaks at the threshold: a smaller model (the classical "
                            "regime) does better than the threshold's",
                            est[best_below], est[threshold], (f"width {best_below}", f"width {threshold}"),
                            fmt="{:.3f}"))  # fmt: skip

    def figure(path):
        fig, axes = figures.panels(2, width=5.2)
        for ax, column, what in ((axes[0], "train_err", "training error (20% of labels flipped)"),
                                 (axes[1], "val_err", "validation error (clean labels)")):  # fmt: skip
            figures.points(ax, done, "params", column, scale=100)
            ax.axvline(table_.loc[threshold, "params"], color="k", ls="--", lw=1,
                       label=f"interpolation threshold (width {threshold})")  # fmt: skip
            ax.axvline(
                n_train, color="0.5", ls=":", lw=1, label=f"parameters = {n_train} training points"
            )
            ax.set(
                xscale="log",
                xlabel="parameters (one hidden layer of 1 to 64 units)",
                ylabel=f"{what} (%)",
            )
            ax.legend(fontsize=7)
        figures.save(
            fig,
            path,
            "E20: error against model size (seed 001's rule, 150 points, 20% label noise)",
        )

    return Finding(
        parts,
        f"val error: width {threshold} (threshold) {est[threshold].text('{:.3f}')}, width {widest} "
        f"{est[widest].text('{:.3f}')}",
        table(rows),
        figure,
        notes=f"{len(done)} trained networks: {len(table_)} widths × {int(table_['n'].min())} seeds, one "
        f"sweep. Seed 001's rule y = (x0 + x1·x2 > 0) on 20 Gaussian features, {n_train} training "
        "points with 20% of their labels flipped (dataset.label_noise=0.2), 450 validation points "
        "with clean labels; full-batch Adam lr 0.01 for 800 epochs, no regularization. The "
        "interpolation threshold is the narrowest width whose mean training error is at most 1%.",
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
    reached = {
        h: estimate((sweep.values("train_acc", hidden=h) >= 1 - 1e-9).astype(float))
        for h in ("[2]", "[4]")
    }
    at = {h: sweep.at_epoch("train_loss", 2000, hidden=h) for h in ("[2]", "[4]")}
    rows = [{"hidden": h, "params": params(2, widths(h), 1), "runs at 100%": f"{int(reached[h].mean * reached[h].n)} of {reached[h].n}",
             "BCE, epoch 2000": cell(at[h], "{:.3g}"), "BCE, epoch 10000": cell(sweep.est("train_loss", hidden=h), "{:.3g}"),
             "n": at[h].n} for h in ("[2]", "[4]")]  # fmt: skip
    parts = [
        computed("2 hidden units suffice in principle: seed 004's hand-set 2→2→1 network solves XOR",
                 bool(((out > 0.5).float() == target).all()),
                 "outputs " + ", ".join(f"{v:.3g}" for v in out.tolist()) + " on (0,0), (0,1), (1,0), (1,1)"),
        better("4 units train faster than 2 (BCE at epoch 2000)", at["[4]"], at["[2]"], ("[4]", "[2]"),
               fmt="{:.3g}"),
        better("more units train more reliably (share of runs reaching 100%)", reached["[4]"],
               reached["[2]"], ("[4]", "[2]"), lower=False, fmt="{:.2f}"),
    ]  # fmt: skip

    def figure(path):
        fig, axes = figures.panels(2, width=5)
        figures.curves(axes[0], sweep.history, "train_loss", "hidden", lambda h: f"2→{h.strip('[]')}→1",
                       order=["[2]", "[4]"])  # fmt: skip
        axes[0].set(
            xscale="symlog",
            yscale="log",
            xlabel="epoch (full-batch GD, lr 0.1)",
            ylabel="training BCE",
        )
        axes[0].legend(fontsize=8)
        solved = sweep.history.assign(solved=lambda f: (f["train_acc"] >= 1 - 1e-9).astype(float))
        figures.curves(axes[1], solved, "solved", "hidden", lambda h: f"2→{h.strip('[]')}→1",
                       order=["[2]", "[4]"], scale=100)  # fmt: skip
        axes[1].set(xscale="symlog", xlabel="epoch", ylabel="runs at 100% accuracy (%)")
        axes[1].legend(fontsize=8)
        figures.save(fig, path, "E21: XOR with 2 and 4 sigmoid units")

    return Finding(parts, f"at 100%: [2] {rows[0]['runs at 100%']}, [4] {rows[1]['runs at 100%']}",
                   table(rows), figure,
                   notes="E8's setup (sigmoid units, N(0, 0.5²) weights, BCE, full-batch GD lr 0.1, "
                   "10 000 epochs), 20 seeds each. The share of runs at 100% is a mean of 0/1 "
                   "outcomes, judged by the same 2-SE rule. “Faster” was fixed before the run as "
                   "the loss at epoch 2000, a fifth of the budget; both nets are still on their "
                   f"common plateau there, and the curves part after it (epoch 10 000: [4] "
                   f"{cell(sweep.est('train_loss', hidden='[4]'), '{:.3g}')}, [2] "
                   f"{cell(sweep.est('train_loss', hidden='[2]'), '{:.3g}')}).")  # fmt: skip


# ---------------------------------------------------------------- E22 cross-validation


def folds_pending() -> str | None:
    from mlplab.settings import DatasetSettings

    if "folds" in {f.name for f in dataclasses.fields(DatasetSettings)}:
        return None
    return ("needs k-fold cross-validation (`dataset.folds=K dataset.fold=i`), which another open "
            "issue adds.")  # fmt: skip


def spread(values: np.ndarray) -> Estimate:
    """The std of ``values`` as an estimate: its SE is std / sqrt(2 (n - 1)) (normal data)."""
    n = len(values)
    sd = float(np.std(values, ddof=1))
    # Estimate.se is std / sqrt(n): give it the std that makes that sd / sqrt(2 (n - 1))
    return Estimate(sd, sd * math.sqrt(n / (2 * (n - 1))), n)


def e22(s: dict[str, Sweep]) -> Finding:
    sweep = s["cross_validation"]
    done = sweep.done
    per = done.groupby("dataset.seed").agg(single=("val_acc", lambda v: v[done.loc[v.index, "dataset.fold"] == 0].mean()),
                                           cv=("val_acc", "mean"), folds=("val_acc", "count"))  # fmt: skip
    one, cv = spread(per["single"].to_numpy()), spread(per["cv"].to_numpy())
    rows = [{"data shuffle (dataset.seed)": k, "one 80/20 split (fold 0)": f"{100 * r['single']:.1f}%",
             "5-fold mean": f"{100 * r['cv']:.1f}%", "folds": int(r["folds"])} for k, r in per.iterrows()]  # fmt: skip
    parts = [better("a single split's estimate varies more from shuffle to shuffle than the 5-fold "
                    f"mean (std over {one.n} shuffles)", cv, one, ("5-fold", "one split"), fmt="{:.4f}")]  # fmt: skip

    def figure(path):
        fig, (ax,) = figures.panels(width=6.5)
        for i, (k, r) in enumerate(per.iterrows()):
            folds = done[done["dataset.seed"] == k]
            ax.plot([i] * len(folds), 100 * folds["val_acc"], "o", color="0.7", ms=4,
                    label="each fold" if i == 0 else None)  # fmt: skip
            ax.plot(
                i,
                100 * r["single"],
                "s",
                color="tab:red",
                label="one split (fold 0)" if i == 0 else None,
            )
            ax.plot(
                i, 100 * r["cv"], "D", color="tab:blue", label="5-fold mean" if i == 0 else None
            )
        ax.set(xlabel="data shuffle (dataset.seed)", ylabel="validation accuracy (%)")
        ax.legend(fontsize=8)
        figures.save(
            fig, path, "E22: one split against 5-fold cross-validation (wine, 178 samples)"
        )

    return Finding(parts, f"std over shuffles: one split {one.mean:.3f}, 5-fold {cv.mean:.3f}",
                   table(rows), figure)  # fmt: skip


EXPERIMENTS = [
    Experiment("E12", "Depth separation on Telgarsky's sawtooth", "001",
               "“for every k, there exists a function that a depth-k ReLU network of polynomial size "
               "can compute, but any depth-o(k/log k) ReLU network requires exponentially many "
               "neurons” […] “each layer of a ReLU network can at most double the number of linear "
               "regions”", "no numbers", ("depth_separation",), e12,
               short_claim="deep narrow nets fit the sawtooth with far fewer parameters",
               errors=(13,)),
    Experiment("E13", "Residual MLP blocks", "003",
               "“Residual MLP block — mitigates vanishing gradients, enables deeper models”",
               "no numbers", ("residual", "residual_plain"), e13, quick=("trainer.epochs=1", "seed=0,1"),
               short_claim="residual blocks train deeper than a plain MLP"),
    Experiment("E14", "Learning rate", "002, 000, 003, 004",
               "“We use lr = 1.0 because the gradient is averaged over 300 samples […] With lr = "
               "0.1, convergence would be 10× slower.” […] “Learning rate = 3.0: […] The boundary may "
               "oscillate wildly or even diverge. Too-fast learning destroys the structure the network "
               "has built.”", "no numbers", ("lr_gd", "lr_adam"), e14,
               short_claim="lr 0.1 is 10× slower than 1.0; lr 3.0 oscillates"),
    Experiment("E15", "MSE against BCE for classification", "002",
               "“Consider a sample with true label y=1 and predicted probability ŷ=0.01 (confidently "
               "wrong) […] The network is confidently wrong but the gradient is nearly zero — it cannot "
               "fix its mistake.”", "its table of gradients on z at ŷ = 0.01 / 0.5 / 0.99: MSE "
               "vanishes / moderate / tiny; BCE −0.99 / −0.50 / −0.01", ("mse_vs_bce",), e15,
               pending=mse_pending, short_claim="MSE's gradient vanishes when confidently wrong; BCE learns faster"),
    Experiment("E16", "Linear collapse", "001, 003, 004",
               "“A 100-layer linear network is mathematically identical to a 1-layer linear network.” "
               "(001) […] “no straight line can separate them” (002, 004)", "no numbers",
               ("linear_collapse",), e16, short_claim="without a non-linearity depth collapses to one linear map"),
    Experiment("E17", "Linear regions against their bounds", "000, 001, 002",
               "“With 16 ReLU neurons, we get 17 linear regions” (002) […] “L hidden layers with n "
               "neurons each: up to O(n^L) regions” (000)", "16 neurons → 17 regions; depth: O(n^L)",
               ("regions_1d", "regions_2d"), e17, short_claim="n+1 regions per layer; depth multiplies them"),
    Experiment("E18", "Batch size", "002",
               "“Mini-batch SGD makes progress after seeing just 32 examples. […] The noise from random "
               "mini-batches actually helps generalization.”",
               "full batch: 300 samples, 1 update per epoch, no gradient noise; batch 32: 8 updates, "
               "moderate; batch 1: 300 updates, high", ("batch_size", "batch_full_long"), e18,
               quick=("trainer.epochs=2", "seed=0,1"), short_claim="mini-batches: more updates, noisier, generalize better",
               errors=(12,)),
    Experiment("E19", "Input normalization", "001",
               "“Features with large magnitudes dominate the early weight updates and cause others to "
               "receive negligible gradient. Always normalize inputs to approximately mean 0, standard "
               "deviation 1”", "no numbers", ("input_scale",), e19,
               short_claim="a large feature dominates; normalize"),
    Experiment("E20", "Double descent over width", "003",
               "“Past the interpolation threshold (where the network can perfectly memorize the "
               "training set), test error often decreases as you grow the model further.”",
               "no numbers", ("double_descent",), e20, quick=("trainer.epochs=2", "seed=0,1"),
               short_claim="past interpolation, test error falls again"),
    Experiment("E21", "XOR: 2 against 4 hidden units", "001, 004",
               "“XOR only needs 2 neurons but 4 trains faster” (001)", "no numbers",
               ("xor_width",), e21, short_claim="2 units suffice; 4 train faster and more reliably"),
    Experiment("E22", "Cross-validation against one split", "001",
               "“Cross-validate rather than using validation loss alone - tabular datasets are often "
               "too small for reliable single-split evaluation.”", "no numbers", ("cross_validation",),
               e22, pending=folds_pending, quick=("trainer.epochs=2", "dataset.seed=0,1"),
               short_claim="one split is unreliable on small tabular data"),
]  # fmt: skip
