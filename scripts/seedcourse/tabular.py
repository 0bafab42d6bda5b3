"""Seed 001's tabular tasks: linear against MLP, input scale, double descent, cross-validation
(E6, E7, E19, E20, E22)."""

from __future__ import annotations

import math

import numpy as np
import torch

from . import figures
from .experiment import (
    Experiment,
    Finding,
    cell,
    pct,
    table,
)
from .sweeps import Sweep
from .verdicts import (
    Estimate,
    Part,
    better,
    beyond,
    computed,
    estimate,
    every,
    wins,
)

# ---------------------------------------------------------------- E6, E7 linear against MLP


def converged_linear(sweep: Sweep) -> float:
    """Validation accuracy of a logistic regression fitted to convergence on the sweep's split."""
    from sklearn.linear_model import LogisticRegression

    from mlplab.data import load

    _, run = sweep.model(sweep.rows(hidden="[]")["run_dir"].iloc[0])
    d = load(run.dataset)
    fit = LogisticRegression(C=1e6, max_iter=10_000).fit(
        d.X_train.numpy(), d.y_train.reshape(-1).numpy()
    )
    return float(fit.score(d.X_val.numpy(), d.y_val.reshape(-1).numpy()))


def linear_vs_mlp(name: str, mlp: str, title: str):
    def analyse(s: dict[str, Sweep]) -> Finding:
        sweep = s[name]
        val = {h: sweep.est("val_acc", hidden=h) for h in ("[]", mlp)}
        converged = converged_linear(sweep)
        rows = [
            {
                "hidden": h,
                "params": int(sweep.rows(hidden=h)["params"].iloc[0]),
                "train accuracy": pct(sweep.est("train_acc", hidden=h)),
                "val accuracy": pct(val[h]),
                "n": val[h].n,
            }
            for h in ("[]", mlp)
        ]
        parts = [
            better(
                f"the MLP {mlp} beats a linear model on validation accuracy",
                val[mlp],
                val["[]"],
                (mlp, "linear"),
                lower=False,
                fmt="{:.3f}",
            ),
            beyond(
                f"the MLP {mlp} beats a linear model trained to convergence (scikit-learn's "
                "logistic regression, unregularized, on the same split)",
                val[mlp],
                converged,
                (mlp, "logistic regression"),
                lower=False,
                fmt="{:.3f}",
            ),
        ]

        def figure(path):
            fig, (ax,) = figures.panels()
            figures.curves(
                ax,
                sweep.history,
                "val_acc",
                "hidden",
                lambda k: "linear ([])" if k == "[]" else f"MLP {k}",
                order=["[]", mlp],
                scale=100,
            )
            ax.axhline(
                100 * converged,
                color="k",
                ls="--",
                lw=1,
                label="logistic regression, fitted to convergence",
            )
            ax.set(xlabel="epoch", ylabel="validation accuracy (%)")
            ax.legend(fontsize=8)
            figures.save(fig, path, title)

        return Finding(
            parts,
            f"val: MLP {pct(val[mlp])}, linear {pct(val['[]'])} (n={val[mlp].n})",
            table(rows),
            figure,
            notes="The second part sets the MLP against a linear model fitted to convergence "
            f"(a logistic regression, scikit-learn, on the same split: {100 * converged:.1f}% on "
            "validation), so that a linear model stopped early by the seed's budget cannot make "
            "the MLP look better than it is.",
        )

    return analyse


# ---------------------------------------------------------------- E19 input scale

E19 = {
    "N(0, 1) features, raw": (1.0, False),
    "x0 × 1000, raw": (1000.0, False),
    "N(0, 1) features, standardized": (1.0, True),
    "x0 × 1000, standardized": (1000.0, True),
}


def first_layer_share(scale: float, standardize: bool, seeds: range) -> np.ndarray:
    """At init: |dL/dW1[:, 0]| over the median |dL/dW1[:, j]| of the other features, per seed."""
    from hydra import compose, initialize_config_module

    import mlplab.cli  # noqa: F401
    from mlplab import settings
    from mlplab.data import load
    from mlplab.train import LOSSES, build_model, targets_for

    out = []
    for seed in seeds:
        overrides = [
            "experiment=input_scale",
            f"seed={seed}",
            f"dataset.feature_scale={scale}",
            f"dataset.standardize={str(standardize).lower()}",
        ]
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
    rows = [
        {
            "inputs": k,
            "x0's gradient over the others' (median), at init": cell(estimate(share[k]), "{:.3g}"),
            "train acc": pct(
                sweep.est("train_acc", dataset__feature_scale=sc, dataset__standardize=st)
            ),
            "val acc": pct(val[k]),
            "n": val[k].n,
        }
        for k, (sc, st) in E19.items()
    ]
    parts = [
        every(
            "a feature 1000× larger dominates the first layer's gradient (over 100× the median "
            "other feature's)",
            share["x0 × 1000, raw"],
            lambda r: r > 100,
            "give x0 over 100×",
        ),
        better(
            "the badly scaled input trains worse than the same data unscaled",
            val["N(0, 1) features, raw"],
            val["x0 × 1000, raw"],
            ("unscaled", "x0 × 1000"),
            lower=False,
            fmt="{:.3f}",
        ),
        better(
            "standardizing repairs it",
            val["x0 × 1000, standardized"],
            val["x0 × 1000, raw"],
            ("standardized", "raw"),
            lower=False,
            fmt="{:.3f}",
        ),
    ]

    def figure(path):
        fig, (ax,) = figures.panels()
        h = sweep.history.assign(
            cond=[
                next(k for k, (sc, st) in E19.items() if sc == float(a) and st == bool(b))
                for a, b in zip(
                    sweep.history["dataset.feature_scale"], sweep.history["dataset.standardize"]
                )
            ]
        )
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
    table_ = done.groupby("width").agg(
        params=("params", "first"),
        train=("train_err", "mean"),
        train_sd=("train_err", "std"),
        val=("val_err", "mean"),
        val_sd=("val_err", "std"),
        n=("val_err", "count"),
    )
    n_train = int(done["n_train"].iloc[0])
    fitted = table_[table_["train"] <= 0.01]
    threshold = int(fitted.index.min()) if len(fitted) else int(table_.index.max())
    est = {w: estimate(done[done["width"] == w]["val_err"]) for w in table_.index}
    widest = int(table_.index.max())
    below = [w for w in table_.index if w < threshold]
    best_below = min(below, key=lambda w: est[w].mean) if below else None
    peak = int(table_["val"].idxmax())
    rows = [
        {
            "width": w,
            "params": int(r["params"]),
            "train error": f"{100 * r['train']:.1f}% ± {100 * r['train_sd']:.1f}%",
            "val error (clean labels)": f"{100 * r['val']:.1f}% ± {100 * r['val_sd']:.1f}%",
            "n": int(r["n"]),
            "": "interpolation threshold"
            if w == threshold
            else ("worst val error" if w == peak else ""),
        }
        for w, r in table_.iterrows()
    ]
    parts = [
        better(
            f"past the interpolation threshold (width {threshold}, the first to fit 99% of the "
            f"noisy labels), test error decreases as the model grows (width {widest})",
            est[widest],
            est[threshold],
            (f"width {widest}", f"width {threshold}"),
            fmt="{:.3f}",
        ),
    ]
    if best_below is None:
        parts.append(
            computed(
                "test error peaks at the threshold: below it, a smaller model does better",
                False,
                "no width is below the threshold",
            )
        )
    else:
        parts.append(
            better(
                "test error peaks at the threshold: a smaller model (the classical "
                "regime) does better than the threshold's",
                est[best_below],
                est[threshold],
                (f"width {best_below}", f"width {threshold}"),
                fmt="{:.3f}",
            )
        )

    def figure(path):
        fig, axes = figures.panels(2, width=5.2)
        for ax, column, what in (
            (axes[0], "train_err", "training error (20% of labels flipped)"),
            (axes[1], "val_err", "validation error (clean labels)"),
        ):
            figures.points(ax, done, "params", column, scale=100)
            ax.axvline(
                table_.loc[threshold, "params"],
                color="k",
                ls="--",
                lw=1,
                label=f"interpolation threshold (width {threshold})",
            )
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


# ---------------------------------------------------------------- E22 cross-validation


def spread(values: np.ndarray) -> Estimate:
    """The std of ``values`` as an estimate: its SE is std / sqrt(2 (n - 1)) (normal data)."""
    n = len(values)
    sd = float(np.std(values, ddof=1))
    # Estimate.se is std / sqrt(n): give it the std that makes that sd / sqrt(2 (n - 1))
    return Estimate(sd, sd * math.sqrt(n / (2 * (n - 1))), n)


def e22(s: dict[str, Sweep]) -> Finding:
    sweep = s["cross_validation"]
    done = sweep.done
    per = done.groupby("dataset.seed").agg(
        single=("val_acc", lambda v: v[done.loc[v.index, "dataset.fold"] == 0].mean()),
        cv=("val_acc", "mean"),
        folds=("val_acc", "count"),
    )
    one, cv = spread(per["single"].to_numpy()), spread(per["cv"].to_numpy())
    rows = [
        {
            "data shuffle (dataset.seed)": k,
            "one 80/20 split (fold 0)": f"{100 * r['single']:.1f}%",
            "5-fold mean": f"{100 * r['cv']:.1f}%",
            "folds": int(r["folds"]),
        }
        for k, r in per.iterrows()
    ]
    se = {k: e.se for k, e in (("one", one), ("cv", cv))}
    gap, gap_se = one.mean - cv.mean, math.sqrt(se["one"] ** 2 + se["cv"] ** 2)
    parts = [
        Part(
            "a single split's estimate varies more from shuffle to shuffle than the 5-fold mean",
            wins(cv, one, lower=True),
            f"std over {one.n} shuffles: one split {one.mean:.4f} (SE {se['one']:.4f}), 5-fold "
            f"{cv.mean:.4f} (SE {se['cv']:.4f}); the one split's is {gap:.4f} higher "
            f"(2 SE = {2 * gap_se:.4f}; a std's SE is std / √(2(n − 1)))",
        )
    ]

    def figure(path):
        fig, (ax,) = figures.panels(width=6.5)
        for i, (k, r) in enumerate(per.iterrows()):
            folds = done[done["dataset.seed"] == k]
            ax.plot(
                [i] * len(folds),
                100 * folds["val_acc"],
                "o",
                color="0.7",
                ms=4,
                label="each fold" if i == 0 else None,
            )
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
        ax.set(
            xlabel="data shuffle (dataset.seed)",
            ylabel="validation accuracy (%)",
            xticks=range(0, len(per), 2),
        )
        ax.legend(fontsize=8)
        figures.save(
            fig, path, "E22: one split against 5-fold cross-validation (wine, 178 samples)"
        )

    return Finding(
        parts,
        f"std over shuffles: one split {one.mean:.3f}, 5-fold {cv.mean:.3f}",
        table(rows),
        figure,
    )


EXPERIMENTS = [
    Experiment(
        "E6",
        "Non-linear tabular data",
        "001",
        "“The true fraud signal lives in interactions between features […] Multi-layer neural "
        "networks can represent these interactions”",
        "no numbers (y = x0 + x1·x2 > 0)",
        ("tabular",),
        linear_vs_mlp("tabular", "[64,32]", "E6: y = (x0 + x1·x2 > 0), 20 features"),
        short_claim="an MLP beats a linear model",
    ),
    Experiment(
        "E7",
        "The 4-class sign pattern",
        "001",
        "“Class determined by sign pattern of feature products - not linearly separable”",
        "no numbers",
        ("sign4",),
        linear_vs_mlp("sign4", "[128,64]", "E7: y = 2·(x0 > 0) + (x1·x2 > 0), 20 features"),
        short_claim="not linearly separable: an MLP beats a linear model",
    ),
    Experiment(
        "E19",
        "Input normalization",
        "001",
        "“Features with large magnitudes dominate the early weight updates and cause others to "
        "receive negligible gradient. Always normalize inputs to approximately mean 0, standard "
        "deviation 1”",
        "no numbers",
        ("input_scale",),
        e19,
        short_claim="a large feature dominates; normalize",
    ),
    Experiment(
        "E20",
        "Double descent over width",
        "003",
        "“Past the interpolation threshold (where the network can perfectly memorize the "
        "training set), test error often decreases as you grow the model further.”",
        "no numbers",
        ("double_descent",),
        e20,
        quick=("trainer.epochs=2", "seed=0,1"),
        short_claim="past interpolation, test error falls again",
    ),
    Experiment(
        "E22",
        "Cross-validation against one split",
        "001",
        "“Cross-validate rather than using validation loss alone - tabular datasets are often "
        "too small for reliable single-split evaluation.”",
        "no numbers",
        ("cross_validation",),
        e22,
        quick=("trainer.epochs=2", "dataset.seed=0,1"),
        short_claim="one split is unreliable on small tabular data",
    ),
]
