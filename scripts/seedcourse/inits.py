"""Initialization, signal propagation and activations: seeds 000 and 004 (E3, E9, E11)."""

from __future__ import annotations

import math

import pandas as pd
import torch

from . import figures
from .experiment import (
    Experiment,
    Finding,
    all_of,
    cell,
    grouped,
    half,
    pct,
    table,
)
from .sweeps import Sweep
from .verdicts import (
    better,
    difference,
    estimate,
    every,
    no_better,
    ratio_matches,
)

# ---------------------------------------------------------------- E3 initialization

E3_SEED = {  # scheme: (the seed's epoch-0 and epoch-99 0.5·MSE)
    "N(0, 0.01²)": (0.2302, 0.0984),
    "N(0, 1)": (1.3312, 0.0658),
    "Xavier": (0.3532, 0.0305),
    "He": (0.5485, 0.0244),
    "PyTorch default": (None, None),
}
E3_WHERE = {
    "N(0, 0.01²)": {"init": "normal", "model__init_std": 0.01},
    "N(0, 1)": {"init": "normal", "model__init_std": 1.0},
    "Xavier": {"init": "xavier_normal"},
    "He": {"init": "he_normal"},
    "PyTorch default": {"init": "torch_default"},
}


def e3(s: dict[str, Sweep]) -> Finding:
    sweep = s["init_compare"]
    start = {k: half(sweep.at_epoch("train_loss", 0, **w)) for k, w in E3_WHERE.items()}
    end = {k: half(sweep.at_epoch("train_loss", 100, **w)) for k, w in E3_WHERE.items()}
    rows = [
        {
            "init": k,
            "epoch 0 (seed)": a if a is not None else "—",
            "epoch 99 (seed)": b if b is not None else "—",
            "epoch 0 (mlplab)": cell(start[k]),
            "epoch 100 (mlplab)": cell(end[k]),
            "n": end[k].n,
        }
        for k, (a, b) in E3_SEED.items()
    ]
    small, he = end["N(0, 0.01²)"], end["He"]
    ratio = difference(small, he, log=True)  # paired by seed: the ratio of geometric means
    others = [k for k in E3_WHERE if k != "N(0, 1)"]
    parts = [
        all_of(
            "He is best for ReLU: it ends below every other scheme (epoch 100)",
            [better("", he, end[k], ("He", k), log=True) for k in E3_WHERE if k != "He"],
        ),
        better(
            "Xavier is slightly worse than He",
            he,
            end["Xavier"],
            ("He", "Xavier"),
            log=True,
        ),
        ratio_matches(
            "small random init ends 4× above He (the seed's “4× slower”: 0.0984/0.0244)",
            ratio,
            4.0,
        ),
        all_of(
            "large random init starts with the highest loss",
            [better("", start[k], start["N(0, 1)"], (k, "N(0, 1)"), log=True) for k in others],
        ),
    ]
    arithmetic = small.mean / he.mean

    def figure(path):
        fig, (ax,) = figures.panels(width=6.5)
        h = sweep.history.copy()
        h["scheme"] = [
            next(
                k
                for k, w in E3_WHERE.items()
                if all(str(row[c.replace("__", ".")]) == str(v) for c, v in w.items())
            )
            for _, row in h.iterrows()
        ]
        h["half_mse"] = h["train_loss"] / 2
        figures.curves(ax, h, "half_mse", "scheme", order=list(E3_WHERE), log=True)
        for i, (a, b) in enumerate(E3_SEED.values()):
            if b is not None:
                ax.plot(
                    [0, 99],
                    [a, b],
                    "*",
                    ms=10,
                    color=figures.COLOURS[i],
                    label="the seed (epochs 0, 99)" if i == 0 else None,
                )
        ax.set(xlabel="epoch (per-sample SGD)", ylabel="training loss, 0.5·MSE")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        figures.save(fig, path, "E3: initialization on the diagonal flip (4→8→4, ReLU)")

    return Finding(
        parts,
        f"0.5·MSE at epoch 100: He {end['He'].text()}, σ=0.01 {end['N(0, 0.01²)'].text()}",
        table(rows),
        figure,
        notes="Losses in the seed's units (0.5·MSE). The seed's epoch-0 loss is the running mean "
        "over its first epoch of per-sample SGD; mlplab's epoch 0 is the network as drawn, before "
        "any step, hence its larger epoch-0 numbers for the wide inits. The seed does not show the "
        "network behind this table; mlplab uses E1's 4→8→4 with E1's training. The “4×” is "
        "read as a ratio of geometric means, paired by seed, on the log scale: a mean of per-seed "
        "ratios would be inflated by the runs whose He loss is near zero. The ratio of the "
        f"arithmetic means is {arithmetic:.2g}. PyTorch's default init (nn.Linear's own, which "
        "the seed calls He: seed error 2) is part of “every other scheme”.",
    )


# ---------------------------------------------------------------- E9 signal propagation

E9_INITS = {  # label: (results.csv filter, std of a weight at fan-in 256)
    "N(0, 0.01²)": ({"init": "normal", "model__init_std": 0.01}, 0.01),
    "N(0, 1)": ({"init": "normal", "model__init_std": 1.0}, 1.0),
    "Xavier": ({"init": "xavier_normal"}, math.sqrt(2 / 512)),
    "He": ({"init": "he_normal"}, math.sqrt(2 / 256)),
}


def layer_profile(sweep: Sweep, where: dict) -> pd.DataFrame:
    """layers.csv at init (epoch 0) of each matching run: mean |activation| per hidden layer."""
    frames = []
    for run_dir in sweep.rows(**where)["run_dir"]:
        layers = pd.read_csv(sweep.dir / run_dir / "layers.csv")
        layers = layers[(layers["epoch"] == 0) & (layers["kind"] == "hidden")]
        frames.append(layers.assign(run_dir=run_dir))
    return pd.concat(frames, ignore_index=True)


def e9(s: dict[str, Sweep]) -> Finding:
    sweep = s["signal_propagation"]
    torch.manual_seed(0)
    x_abs = torch.randn(100, 256).abs().mean().item()  # E[|x|] for the N(0, 1) input, ~0.80
    rows, last, profiles = [], {}, {}
    for label, (where, std) in E9_INITS.items():
        prof = layer_profile(sweep, where)
        profiles[label] = prof
        depth = int(prof["layer"].max())
        per_run = prof[prof["layer"] == depth]["act_abs_mean"].to_numpy() / x_abs
        last[label] = per_run
        gain = estimate(per_run ** (1 / depth))
        rows.append(
            {
                "init": label,
                "weight std": f"{std:.4g}",
                "expected gain per layer, std·√(256/2)": f"{std * math.sqrt(128):.3g}",
                "measured gain per layer": cell(gain),
                "mean |activation|, layer 10 / input's": cell(estimate(per_run)),
                "n": gain.n,
            }
        )
    parts = [
        every(
            "σ = 0.01: the signal vanishes (falls below 1/1000 of the input's)",
            last["N(0, 0.01²)"],
            lambda r: r < 1e-3,
            "fall below 1e-3",
        ),
        every(
            "σ = 1: the signal explodes (grows above 1000× the input's)",
            last["N(0, 1)"],
            lambda r: r > 1e3,
            "grow above 1e3",
        ),
        every(
            "He: the signal is preserved (within 10× of the input's either way)",
            last["He"],
            lambda r: 0.1 <= r <= 10,
            "stay within [0.1, 10]",
        ),
    ]

    def figure(path):
        fig, (ax,) = figures.panels(width=6.5)
        for i, (label, prof) in enumerate(profiles.items()):
            prof = prof.assign(ratio=prof["act_abs_mean"] / x_abs, init_label=label)
            figures.curves(
                ax,
                prof,
                "ratio",
                "init_label",
                x="layer",
                styles={label: {"color": figures.COLOURS[i]}},
                log=True,
            )
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set(
            xlabel="hidden layer (width 256, ReLU, no training)",
            ylabel="mean |activation| / the input's",
        )
        ax.legend(fontsize=8)
        figures.save(fig, path, "E9: signal propagation through 10 ReLU layers at init")

    return Finding(
        parts,
        "mean |activation|, layer 10 over input: "
        + ", ".join(f"{k} {estimate(v).text()}" for k, v in last.items() if k != "Xavier"),
        table(rows),
        figure,
        notes="The seed prints the output's mean |activation|; mlplab's layers.csv records it per "
        "layer (act_abs_mean), here over the input's mean |x| (0.80). A ReLU layer of fan-in n "
        "with weight std σ multiplies the scale by σ·√(n/2) on average, which the measured gains follow.",
    )


# ---------------------------------------------------------------- E11 activations

E11_ACTS = ["relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid"]
E11_DEPTHS = {2: "[16,16]", 5: "[16,16,16,16,16]", 10: "[16,16,16,16,16,16,16,16,16,16]"}
E11_EPOCH = 25  # "slow": the training loss a quarter of the way through the 100 epochs
E11_LRS = [0.001, 0.01, 0.1, 1.0]
E11_INITS = {
    "He": {"init": "he_normal"},
    "N(0, 0.01²)": {"init": "normal", "model__init_std": 0.01},
    "N(0, 1)": {"init": "normal", "model__init_std": 1.0},
}


def e11(s: dict[str, Sweep]) -> Finding:
    acts, dead = s["activations"], s["dead_relu"]
    at = {
        (a, d): acts.at_epoch("train_loss", E11_EPOCH, activation=a, hidden=h)
        for a in E11_ACTS
        for d, h in E11_DEPTHS.items()
    }
    deep, shallow = max(E11_DEPTHS), min(E11_DEPTHS)
    saturation = grouped(
        "a. saturation with depth",
        [
            better(
                f"depth {deep}: sigmoid learns slower than ReLU (BCE at epoch {E11_EPOCH})",
                at[("relu", deep)],
                at[("sigmoid", deep)],
                ("relu", "sigmoid"),
                log=True,
            ),
            better(
                f"depth {deep}: tanh learns slower than ReLU",
                at[("relu", deep)],
                at[("tanh", deep)],
                ("relu", "tanh"),
                log=True,
            ),
            better(
                f"sigmoid slows with depth: depth {deep} behind depth {shallow}",
                at[("sigmoid", shallow)],
                at[("sigmoid", deep)],
                (f"depth {shallow}", f"depth {deep}"),
                log=True,
            ),
            better(
                f"tanh slows with depth: depth {deep} behind depth {shallow}",
                at[("tanh", shallow)],
                at[("tanh", deep)],
                (f"depth {shallow}", f"depth {deep}"),
                log=True,
            ),
            no_better(
                f"ReLU does not slow with depth: depth {shallow} not ahead of depth {deep} (its "
                "loss not below half of depth 10's)",
                at[("relu", shallow)],
                at[("relu", deep)],
                (f"depth {shallow}", f"depth {deep}"),
                margin=1.0,
                log=True,
            ),
        ],
    )
    frac = {
        (k, lr): dead.est("dead_fraction", lr=lr, **w)
        for k, w in E11_INITS.items()
        for lr in E11_LRS
    }
    dying = grouped(
        "b. dead ReLUs",
        [
            better(
                "a large learning rate kills units: dead share at lr 1.0 above lr 0.01 (He)",
                frac[("He", 1.0)],
                frac[("He", 0.01)],
                ("lr 1.0", "lr 0.01"),
                lower=False,
                scale=100,
                unit=" points",
            ),
            better(
                "a poor init kills units: N(0, 1) above He (lr 0.01)",
                frac[("N(0, 1)", 0.01)],
                frac[("He", 0.01)],
                ("N(0, 1)", "He"),
                lower=False,
                scale=100,
                unit=" points",
            ),
            better(
                "a poor init kills units: N(0, 0.01²) above He (lr 0.01)",
                frac[("N(0, 0.01²)", 0.01)],
                frac[("He", 0.01)],
                ("N(0, 0.01²)", "He"),
                lower=False,
                scale=100,
                unit=" points",
            ),
        ],
    )
    rows = []
    for a in E11_ACTS:
        row = {"activation": a}
        for d in E11_DEPTHS:
            row[f"BCE@{E11_EPOCH}, depth {d}"] = cell(at[(a, d)])
        row[f"val acc, depth {deep}"] = pct(
            acts.est("val_acc", activation=a, hidden=E11_DEPTHS[deep])
        )
        row[f"grad ratio first/output at init, depth {deep}"] = cell(
            acts.est("grad_ratio_first_last_init", activation=a, hidden=E11_DEPTHS[deep])
        )
        row["n"] = at[(a, deep)].n
        rows.append(row)
    dead_rows = []
    for k, w in E11_INITS.items():
        row = {"init": k}
        for lr in E11_LRS:
            e, runs = frac[(k, lr)], len(dead.rows(completed=False, lr=lr, **w))
            row[f"lr {lr}"] = cell(e) + (
                f" ({runs - e.n} of {runs} diverged)" if e.n < runs else ""
            )
        row["dead at init (lr 0.01)"] = cell(dead.est("dead_fraction_init", lr=0.01, **w))
        dead_rows.append(row)

    def figure(path):
        fig, axes = figures.panels(2, width=5.2)
        frame = acts.history[acts.history["epoch"] == E11_EPOCH]
        figures.points(
            axes[0], frame, "depth", "train_loss", by="activation", order=E11_ACTS, log=True
        )
        axes[0].set(
            xlabel="hidden layers (width 16)",
            ylabel=f"training BCE at epoch {E11_EPOCH}",
            xticks=list(E11_DEPTHS),
        )
        axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes[0].set_title("a. saturating units slow down with depth", fontsize=9)
        scheme = dead.done.assign(
            scheme=[
                next(
                    k
                    for k, w in E11_INITS.items()
                    if all(str(r[c.replace("__", ".")]) == str(v) for c, v in w.items())
                )
                for _, r in dead.done.iterrows()
            ]
        )
        figures.points(axes[1], scheme, "lr", "dead_fraction", by="scheme", order=list(E11_INITS))
        axes[1].set(
            xscale="log", xlabel="Adam learning rate", ylabel="share of dead ReLUs at the end"
        )
        axes[1].legend(fontsize=7)
        axes[1].set_title("b. dead units against learning rate and init", fontsize=9)
        figures.save(fig, path, "E11: activations (two moons, the seed's points)")

    return Finding(
        saturation + dying,
        f"depth 10, BCE@{E11_EPOCH}: relu {at[('relu', deep)].text()}, sigmoid "
        f"{at[('sigmoid', deep)].text()}",
        table(rows),
        figure,
        notes="a: each activation with its auto init (He for the ReLU family, Xavier for tanh and "
        f"sigmoid), Adam lr 0.01, batch 32; “slow” is read as the training loss at epoch {E11_EPOCH} "
        "of 100. Adam rescales each weight's step, which hides part of a vanishing gradient; the "
        "last column shows the gradient itself at init. b: a ReLU net of three layers of 16, Adam "
        "batch 32, 100 epochs; a unit is dead when it is zero on every training point (at init the three inits kill the same "
        "units: with zero biases a weight's scale never changes a pre-activation's sign); runs that "
        "diverged (non-finite loss) have no dead share and are left out, as the counts say.",
        more="**b. dead ReLUs** (share of hidden units dead at the end; `experiment=dead_relu`):\n\n"
        + table(dead_rows),
    )


EXPERIMENTS = [
    Experiment(
        "E3",
        "Initialization",
        "000",
        "“He initialization reaches the lowest loss (0.0244) […] Xavier is close (0.0305) but "
        "slightly worse […] Small random initialization (0.0984) converges 4× slower […] Large "
        "random (0.0658) starts with high loss”",
        "0.5·MSE at epoch 0 → 99: σ=0.01 0.2302 → 0.0984; σ=1.0 1.3312 → 0.0658; "
        "Xavier 0.3532 → 0.0305; He 0.5485 → 0.0244",
        ("init_compare",),
        e3,
        quick=("trainer.epochs=2", "seed=0,1"),
        short_claim="He best; small init 4× slower",
        errors=(2, 8),
    ),
    Experiment(
        "E9",
        "Signal propagation at init",
        "004",
        "“Too small (0.01): Signal vanished! […] Too large (1.0): Signal exploded! […] He "
        "initialization: Signal preserved!”",
        "mean |activation| after 10 layers of width 256: vanishes, explodes, preserved",
        ("signal_propagation",),
        e9,
        quick=("seed=0,1",),
        short_claim="σ=0.01 vanishes, σ=1 explodes, He preserves",
    ),
    Experiment(
        "E11",
        "Activations: saturation with depth, dead ReLUs",
        "000, 004",
        "“for large |x|, the derivative approaches 0. In deep networks, this means early "
        "layers receive almost no gradient signal and learn extremely slowly. ReLU solved "
        "this” (000) and “The dying ReLU problem […] happens more with large learning rates "
        "or poor initialization” (000, 004)",
        "no numbers",
        ("activations", "dead_relu"),
        e11,
        quick=("trainer.epochs=2", "seed=0,1"),
        short_claim="sigmoid/tanh slow when deep; dead ReLUs from large lr or poor init",
        errors=(11,),
    ),
]
