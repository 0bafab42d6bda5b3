"""Matplotlib figures, rendered headless to PNG.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: nothing here touches
pyplot's global backend or figure list, so a notebook that runs mlplab keeps its own
(inline) plots.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import matplotlib
import matplotlib.colorbar
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .results import (
    ALONG_A_LINE,
    HISTORY_FILE,
    LAYER_METRICS,
    LAYERS_FILE,
    atomic_write,
    line_keys,
    read_result,
    varying_knobs,
)
from .results import heatmap as results_heatmap
from .settings import METRIC_NAMES, ConfigError, choose


class _PlainLog(matplotlib.ticker.LogFormatter):
    """A log axis's labels as plain numbers (0.01, 0.6, 100), where matplotlib's default
    writes mathtext ($10^{-2}$, $6\\times10^{-1}$): mathtext's parser takes ~10 ms a label,
    which was a third of a run's curves.png (0.27 s, 0.19 s with these). The labels
    matplotlib's formatter would leave blank stay blank."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def _log(axis) -> None:
    """Put ``axis`` (an Axes' xaxis or yaxis, or a colorbar's) on a log scale, plain-labelled."""
    if isinstance(axis, matplotlib.colorbar.Colorbar):
        axis.formatter, axis.minorformatter = _PlainLog(), _PlainLog(labelOnlyBase=False)
        return
    (axis.axes.set_xscale if axis is axis.axes.xaxis else axis.axes.set_yscale)("log")
    axis.set_major_formatter(_PlainLog())
    axis.set_minor_formatter(_PlainLog(labelOnlyBase=False))


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def curves(history: pd.DataFrame, path: Path, title: str = "") -> None:
    """Loss (log scale) and, for classification, accuracy against epoch, train and val."""
    has_acc = history["train_acc"].notna().any()
    fig = Figure(figsize=(10 if has_acc else 5.5, 3.8))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)
    ax = axes[0, 0]
    for split, style in (("train", "-"), ("val", "--")):
        col = history[f"{split}_loss"]
        if col.notna().any():
            ax.plot(history["epoch"], col, style, label=split)
    if (history["train_loss"] > 0).all():
        _log(ax.yaxis)
    ax.set(xlabel="epoch", ylabel="loss", title="loss")
    ax.legend()
    if has_acc:
        ax = axes[0, 1]
        for split, style in (("train", "-"), ("val", "--")):
            col = history[f"{split}_acc"]
            if col.notna().any():
                ax.plot(history["epoch"], 100 * col, style, label=split)
        ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)


def boundary(predict, X: np.ndarray, y: np.ndarray, path: Path, title: str = "") -> None:
    """Decision regions of a 2-D classifier over a grid, with the training points.

    ``predict`` maps an (N, 2) float array to (N,) class labels.
    """
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-3
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xs, ys = np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300)
    gx, gy = np.meshgrid(xs, ys)
    labels = predict(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)
    n_classes = int(max(labels.max(), y.max())) + 1
    fig = Figure(figsize=(5.5, 4.8))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["coolwarm" if n_classes == 2 else "viridis"].resampled(n_classes)
    ax.contourf(gx, gy, labels, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.3)
    ax.scatter(
        X[:, 0],
        X[:, 1],
        c=y,
        cmap=cmap,
        vmin=-0.5,
        vmax=n_classes - 0.5,
        s=14,
        edgecolors="k",
        linewidths=0.3,
    )
    ax.set(xlabel="x0", ylabel="x1", title=title or "decision boundary")
    _save(fig, path)


def sweep(summary: pd.DataFrame, metric: str, lines, path: Path, title: str = "") -> None:
    """``metric`` (mean ± std over seeds) against parameter count, one line per combination
    of the ``lines`` columns (a name or a list; ``results.line_keys`` gives every varying
    knob), each named in the legend by all of them. More than ``MAX_LINES`` combinations
    (a search's scattered values) are points coloured by the numeric knob with the most
    values, on a colorbar (log-scaled for values over a decade apart)."""
    lines = (
        [lines] if isinstance(lines, str) else [c for c in (lines or []) if c in summary.columns]
    )
    mean, std = summary[f"{metric}_mean"], summary.get(f"{metric}_std")
    x = summary["params_mean"]
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    groups = (
        summary.groupby([summary[c].astype(str) for c in lines], sort=True)
        if set(lines) <= set(summary.columns) and lines
        else [(None, summary)]
    )
    scale = 100 if metric.endswith("acc") else 1
    colour = _colour_knob(summary, lines) if len(groups) > MAX_LINES else None
    if colour is not None:  # a search's scattered values (an Optuna lr): points, coloured
        shade = pd.to_numeric(summary[colour])
        spread = shade[shade > 0]
        norm = (
            matplotlib.colors.LogNorm(spread.min(), spread.max())
            if len(spread) == len(shade) and spread.max() > 10 * spread.min()
            else None
        )
        dots = ax.scatter(x, mean * scale, c=shade, cmap="viridis", norm=norm, s=22)
        bar = fig.colorbar(dots, ax=ax, label=colour)
        if norm is not None:
            _log(bar)
        title = f"{title or metric}  ({len(groups)} combinations; colour: {colour})"
    for values, block in groups if colour is None else ():
        values = values if isinstance(values, tuple) else (values,)
        label = None if values == (None,) else ", ".join(f"{c}={v}" for c, v in zip(lines, values))
        order = block.sort_values("params_mean").index
        err = None if std is None else (std[order].fillna(0) * scale)
        ax.errorbar(x[order], mean[order] * scale, yerr=err, marker="o", capsize=3, label=label)
        if "hidden" in block.columns:
            for i in order:
                ax.annotate(str(block.at[i, "hidden"]), (x[i], mean[i] * scale), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)  # fmt: skip
    _log(ax.xaxis)
    sizes = sorted(x.dropna().unique())
    if 0 < len(sizes) <= 8:  # few sizes: label each one, not the log scale's minor ticks
        ax.set_xticks(sizes, [f"{v:.0f}" for v in sizes])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set(
        xlabel="parameters",
        ylabel=f"{metric} (%)" if scale == 100 else metric,
        title=title or metric,
    )
    ax.grid(alpha=0.3)
    if lines and set(lines) <= set(summary.columns) and colour is None:
        if len(groups) <= MAX_LINES:
            ax.legend(title=None, fontsize=8)
        else:  # a legend of dozens of lines would cover the plot: summary.csv names them
            ax.set_title(f"{title or metric}  ({len(groups)} lines; see summary.csv)")
    _save(fig, path)


MAX_LINES = 12  # sweep.png names its lines in a legend up to this many


def _colour_knob(summary: pd.DataFrame, lines: list[str]) -> str | None:
    """The numeric line knob with the most values (an Optuna search's lr), to colour by."""
    numeric = [c for c in lines if pd.api.types.is_numeric_dtype(summary[c])]
    return max(numeric, key=lambda c: summary[c].nunique(), default=None)


def heatmap(cells, path: Path, title: str = "") -> None:
    """A ``results.Heatmap``: the mean metric in each cell, annotated, on a colorbar, with
    the best cell outlined. A numeric knob whose values are log-spaced (lr 0.001, 0.003,
    0.01, ...) gets a log axis, an evenly spaced one a linear axis; any other is one column
    per value in order."""
    from matplotlib.patches import Rectangle

    scale = 100 if cells.metric.endswith("acc") else 1
    values = cells.mean.to_numpy(dtype=float) * scale
    fig = Figure(
        figsize=(1.2 + 0.9 * max(4, values.shape[1]), 1.4 + 0.55 * max(4, values.shape[0]))
    )
    ax = fig.subplots()
    xs, x_log = _cell_edges(list(cells.mean.columns))
    ys, y_log = _cell_edges(list(cells.mean.index))
    mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(values), cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"{cells.metric} (%)" if scale == 100 else cells.metric)
    low, high = np.nanmin(values), np.nanmax(values)
    middle = lambda i, e, log: np.sqrt(e[i] * e[i + 1]) if log else (e[i] + e[i + 1]) / 2  # noqa: E731
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            if np.isfinite(values[r, c]):
                light = (
                    high > low and (values[r, c] - low) / (high - low) > 0.6
                )  # viridis' yellow end
                ax.text(middle(c, xs, x_log), middle(r, ys, y_log), f"{values[r, c]:.3g}",
                        ha="center", va="center", fontsize=8, color="black" if light else "white")  # fmt: skip
    maximize = cells.metric.endswith("acc")
    if np.isfinite(values).any():
        r, c = np.unravel_index((np.nanargmax if maximize else np.nanargmin)(values), values.shape)
        ax.add_patch(Rectangle((xs[c], ys[r]), xs[c + 1] - xs[c], ys[r + 1] - ys[r], fill=False,
                               edgecolor="red", linewidth=2.5, label="best"))  # fmt: skip
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), fontsize=8, frameon=False)
    for axis, labels, edges, log in ((ax.xaxis, cells.mean.columns, xs, x_log),
                                     (ax.yaxis, cells.mean.index, ys, y_log)):  # fmt: skip
        if log:
            _log(axis)
        centres = [middle(i, edges, log) for i in range(len(labels))]
        axis.set_ticks(centres, [str(v) for v in labels])
        axis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set(xlabel=cells.x, ylabel=cells.y, xlim=(xs[0], xs[-1]), ylim=(ys[0], ys[-1]))
    ax.set_title(f"{title}\n{cells.metric}, {cells.note}" if title else cells.note, fontsize=9)
    _save(fig, path)


def _cell_edges(labels: list[str]) -> tuple[np.ndarray, bool]:
    """Cell edges for a heatmap axis, and whether it is a log axis: midpoints between numeric
    values (geometric ones where they are log-spaced), or one unit per value otherwise."""
    try:
        v = np.array([float(x) for x in labels])
    except ValueError:
        return np.arange(len(labels) + 1) - 0.5, False
    if len(v) < 2 or not np.all(np.diff(v) > 0):
        return np.arange(len(labels) + 1) - 0.5, False
    log = bool(
        v[0] > 0 and len(v) > 2 and np.ptp(np.diff(np.log(v))) < np.ptp(np.diff(v)) / v.mean()
    )
    if v[0] > 0 and len(v) == 2 and v[1] / v[0] >= 10:
        log = True
    w = np.log(v) if log else v
    mid = (w[1:] + w[:-1]) / 2
    edges = np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])
    return (np.exp(edges) if log else edges), log


# ---------------------------------------------------------------- looking inside a network
# The figures below take arrays and callables, never a model, so this module stays
# free of torch (mlplab-compare imports it). ``why_not`` is the one place that says
# which run a figure fits; the job asks it before drawing, the figures before refusing.

FIGURES = {
    "fit_1d": "the fitted function against the data (1-D regression)",
    "neurons": "per-unit activation heatmaps of the first hidden layer (2-D inputs)",
    "activations_init": "per-layer activation distributions at init (hidden layers)",
}


def why_not(figure: str, in_dim: int, task: str, target_dim: int = 1, depth: int = 1) -> str | None:
    """None when ``figure`` fits a run with these inputs, task and depth; else why it does not."""
    choose("figure", figure, FIGURES)
    if figure == "fit_1d" and (in_dim != 1 or task != "regression" or target_dim != 1):
        return (
            f"fit_1d.png needs one input feature and one regression target "
            f"(like dataset=sine or sawtooth); got {in_dim} input features and a {task} task"
            + (f" with {target_dim} targets" if task == "regression" else "")
            + "."
        )
    if figure == "neurons" and in_dim != 2:
        return f"neurons.png draws units over the input plane and needs 2 input features; got {in_dim}."
    if figure in ("neurons", "activations_init") and depth == 0:
        return f"{figure}.png needs a hidden layer; a linear model (model.hidden=[]) has none."
    return None


def _refuse(reason: str | None) -> None:
    if reason is not None:
        raise ConfigError(reason)


def fit_1d(
    predict, X: np.ndarray, y: np.ndarray, path: Path, title: str = "", *, task: str = "regression",
    kinks: list[float] | None = None, X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> None:  # fmt: skip
    """The network's function on a dense line against the data, kinks marked below.

    ``predict`` maps an (N, 1) float array to (N,) outputs; ``kinks`` are the inputs
    where its activation pattern changes (the linear regions' borders).
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    target_dim = 1 if y.ndim == 1 else y.shape[1]
    _refuse(why_not("fit_1d", X.shape[1], task, target_dim))
    lo, hi = X.min(), X.max()
    pad = 0.02 * (hi - lo) + 1e-6
    line = np.linspace(lo - pad, hi + pad, 1000)
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.scatter(X[:, 0], y.reshape(-1), s=12, color="0.55", label="train data", zorder=2)
    if X_val is not None and len(X_val):
        ax.scatter(
            X_val[:, 0], np.reshape(y_val, -1), s=16, facecolors="none", edgecolors="tab:orange",
            label="val data", zorder=2,
        )  # fmt: skip
    ax.plot(line, predict(line[:, None]), color="tab:blue", lw=2, label="network", zorder=3)
    if kinks is not None:
        # short ticks along the bottom edge: x in data units, y in axes units
        ax.plot(
            kinks, np.zeros(len(kinks)), "|", ms=12, color="tab:red",
            transform=ax.get_xaxis_transform(), label=f"kinks ({len(kinks) + 1} linear regions)",
        )  # fmt: skip
    ax.set(xlabel="x", ylabel="y", title=title or "fitted function")
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)


def neurons(
    units, X: np.ndarray, y: np.ndarray | None, path: Path, title: str = "", max_units: int = 32
) -> None:
    """One heatmap per first-layer unit over the input plane (seed 003's explorer, as a grid).

    ``units`` maps an (N, 2) float array to (N, U) activations of the first hidden
    layer; the data points are drawn on top, coloured by class when ``y`` is given.
    """
    X = np.asarray(X, float)
    _refuse(why_not("neurons", X.shape[1], "any"))
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-3
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    # tiles keep the input box's aspect: ny rows by nx columns of pixels
    ny = 80
    nx = int(np.clip(round(ny * (hi[0] - lo[0]) / (hi[1] - lo[1])), ny // 2, 2 * ny))
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], nx), np.linspace(lo[1], hi[1], ny))
    values = np.asarray(units(np.c_[gx.ravel(), gy.ravel()]), float)  # (ny*nx, U)
    total = values.shape[1]
    shown = min(total, max_units)
    cols = min(shown, 8)
    rows = -(-shown // cols)
    # One image of tiles and one scatter for every tile's dots: a grid of 32 axes
    # costs ~5x more to draw, and every sweep job draws this figure.
    gap = 14  # pixels between tiles, room for a label
    mosaic = np.full((rows * (ny + gap), cols * (nx + gap)), np.nan)
    dots_x, dots_y, dots_c = [], [], []
    for k in range(shown):
        r, c = divmod(k, cols)
        v = values[:, k].reshape(ny, nx)
        vmin, vmax = min(v.min(), 0.0), max(v.max(), 1e-12)
        top, left = r * (ny + gap) + gap, c * (nx + gap)
        mosaic[top : top + ny, left : left + nx] = (v[::-1] - vmin) / (vmax - vmin)
        dots_x.append(left + (X[:, 0] - lo[0]) / (hi[0] - lo[0]) * (nx - 1))
        dots_y.append(top + (hi[1] - X[:, 1]) / (hi[1] - lo[1]) * (ny - 1))
        dots_c.append(np.zeros(len(X)) if y is None else np.asarray(y, float))
    scale = 1.7 / ny
    fig = Figure(figsize=(mosaic.shape[1] * scale + 0.3, mosaic.shape[0] * scale + 0.9))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.scatter(np.concatenate(dots_x), np.concatenate(dots_y), s=1.5, c=np.concatenate(dots_c),
               cmap="cool", alpha=0.6, linewidths=0)  # fmt: skip
    for k in range(shown):
        r, c = divmod(k, cols)
        dead = np.all(values[:, k] == 0)
        ax.text(c * (nx + gap) + nx / 2, r * (ny + gap) + gap - 3,
                f"unit {k + 1}" + (" (zero)" if dead else ""), ha="center", va="bottom",
                fontsize=8, color="tab:red" if dead else "black")  # fmt: skip
    ax.set_axis_off()
    more = f" (first {shown} of {total})" if shown < total else ""
    dots = "dots: training data" + (", coloured by class" if y is not None else "")
    ax.set_title(
        (title + "\n" if title else "")
        + f"first hidden layer{more}: each unit's activation over the input plane\n"
        + f"black = 0 (unit off), bright = high (own scale per unit); {dots}",
        fontsize=9,
    )
    _save(fig, path)


def activations(acts: list[np.ndarray], path: Path, title: str = "", max_layers: int = 10) -> None:
    """Per-layer activation distributions (seed 000/004's init comparison).

    ``acts[i]`` holds hidden layer i+1's outputs (any shape). Top: std and mean |a|
    per layer on a log scale, where vanishing and exploding signals show as a slope.
    Below: a histogram per layer on its own scale, exact zeros (ReLU's off units) left
    out and counted in the panel's title.
    """
    if not acts:
        _refuse(why_not("activations_init", 0, "any", depth=0))
    acts = [np.asarray(a, float).ravel() for a in acts]
    finite = [a[np.isfinite(a)] for a in acts]
    depth = len(acts)
    picked = np.unique(np.linspace(0, depth - 1, min(depth, max_layers)).round().astype(int))
    cols = len(picked)
    fig = Figure(figsize=(max(6.0, 1.9 * cols), 5.6))
    grid = fig.add_gridspec(2, cols, height_ratios=[1.2, 1], hspace=0.55)
    top = fig.add_subplot(grid[0, :])
    layers = np.arange(1, depth + 1)
    stds = np.array([a.std() if len(a) else np.nan for a in finite])
    means = np.array([np.abs(a).mean() if len(a) else np.nan for a in finite])
    top.plot(layers, stds, "o-", label="std")
    top.plot(layers, means, "s--", label="mean |activation|")
    scale = np.r_[stds, means]
    scale = scale[np.isfinite(scale)]
    if len(scale) and scale.min() > 0:
        _log(top.yaxis)
        # show at least two decades, so a preserved signal reads as flat, not as a trend
        lo, hi = scale.min(), scale.max()
        if hi / lo < 100:
            mid = np.sqrt(lo * hi)
            top.set_ylim(mid / 10, mid * 10)
    top.set(xlabel="hidden layer", ylabel="activation scale", xticks=layers)
    top.legend(fontsize=8)
    top.set_title(title or "activations at init", fontsize=10)
    for j, i in enumerate(picked):
        ax = fig.add_subplot(grid[1, j])
        a = finite[i]
        nonzero = a[a != 0]
        zero = 1 - len(nonzero) / len(acts[i]) if len(acts[i]) else 0.0
        if len(nonzero):
            counts, edges = np.histogram(nonzero, bins=40)
            ax.stairs(counts, edges, fill=True, color="tab:blue")  # one artist, not 40 bars
        else:
            ax.text(0.5, 0.5, "all zero", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.get_offset_text().set_fontsize(7)
        ax.set_title(f"layer {i + 1}\nstd {stds[i]:.1e}, {zero:.0%} zero", fontsize=8)
        if j == 0:
            ax.set_ylabel("count\n(zeros left out)", fontsize=7)
    _save(fig, path)


# ---------------------------------------------------------------- a sweep on one figure


def sweep_curves(
    runs, colour_by: str, path: Path, metric: str = "train_loss", title: str = ""
) -> None:
    """Every run's ``metric`` against epoch on one figure, one colour per value of ``colour_by``.

    ``runs``: run folders (each with history.csv and result.json), or a long
    DataFrame with columns ``run``, ``epoch``, ``metric`` and ``colour_by``.
    ``colour_by`` is a config key (``init``, ``model.init``, ``lr``) or a result key
    (``params``, ``depth``).
    """
    frame = _runs_frame(runs, colour_by, "history.csv")
    if metric not in frame.columns:
        _refuse(f"Unknown metric {metric!r}. Choose one of: {', '.join(sorted(HISTORY_METRICS))}.")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    _lines(ax, frame, colour_by, "epoch", metric)
    ax.set(
        xlabel="epoch", ylabel=metric.replace("_", " "), title=title or f"{metric} by {colour_by}"
    )
    _save(fig, path)


def layer_profile(
    runs, colour_by: str, path: Path, column: str = "act_std", epoch: int = 0, title: str = ""
) -> None:
    """Each run's layers.csv ``column`` against layer at ``epoch`` (0: init), coloured by ``colour_by``.

    At init this is seed 004's signal-propagation plot: a flat line keeps the signal,
    a falling one loses it, a rising one explodes.
    """
    frame = _runs_frame(runs, colour_by, "layers.csv")
    if column not in frame.columns:
        _refuse(f"Unknown column {column!r}. Choose one of: {', '.join(LAYER_METRICS)}.")
    at = frame[frame["epoch"] == epoch]
    if at.empty:
        epochs = ", ".join(map(str, sorted(frame["epoch"].unique())))
        _refuse(f"No layers.csv rows at epoch {epoch}. Epochs recorded: {epochs}.")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    _lines(ax, at, colour_by, "layer", column, marker="o")
    ax.set_xticks(sorted(at["layer"].unique()))
    when = "at init" if epoch == 0 else f"at epoch {epoch}"
    ax.set(xlabel="layer (last = output)", ylabel=column.replace("_", " "),
           title=title or f"{column} by layer {when}, by {colour_by}")  # fmt: skip
    _save(fig, path)


HISTORY_METRICS = METRIC_NAMES
BAND_ABOVE = 3  # a colour with more runs than this is drawn as their mean and a band


def _runs_frame(runs, colour_by: str, table: str) -> pd.DataFrame:
    """A long frame of the runs' ``table`` rows with ``run`` and ``colour_by`` columns.

    ``colour_by`` may name several keys, comma-separated (``init,init_std``): their
    values are joined into one label.
    """
    keys = [k.strip() for k in colour_by.split(",")]
    if isinstance(runs, pd.DataFrame):
        for key in keys:
            if key not in runs.columns:
                _refuse(
                    f"Unknown column {key!r}. Choose one of: {', '.join(map(str, runs.columns))}."
                )
        if "run" not in runs.columns:
            _refuse(
                "A frame of runs needs a 'run' column that tells one run's rows from another's."
            )
        if len(keys) > 1:
            runs = runs.assign(**{colour_by: _joined(runs, keys)})
        return runs
    frames = []
    for run in map(Path, runs):
        result = read_result(run)
        if result is None or not (run / table).is_file():
            continue  # a run that never finished has nothing to draw
        rows = pd.read_csv(run / table)
        rows["run"] = str(run)
        values = {key: _value_of(result, key) for key in keys}
        for key, value in values.items():
            rows[key] = value
        if len(keys) > 1:
            rows[colour_by] = _joined(rows, keys)
        frames.append(rows)
    if not frames:
        _refuse(f"No finished runs with {table} to draw.")
    return pd.concat(frames, ignore_index=True)


def _joined(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    return (
        frame[keys]
        .astype(str)
        .agg(lambda row: ", ".join(f"{k}={v}" for k, v in zip(keys, row)), axis=1)
    )


def _value_of(result: dict, key: str):
    """``key`` in a result.json: a config key, a result key, or the end of a config key (init)."""
    config = result.get("config", {})
    if key in config:
        value = config[key]
    elif key in result and not isinstance(result[key], dict | list):
        value = result[key]
    else:
        matches = [k for k in config if k.endswith("." + key)]
        if len(matches) != 1:
            scalars = [k for k, v in result.items() if not isinstance(v, dict | list)]
            choices = sorted({*config, *(k.rpartition(".")[2] for k in config), *scalars})
            _refuse(f"Unknown colour_by {key!r}. Choose one of: {', '.join(choices)}.")
        value = config[matches[0]]
    return str(value) if isinstance(value, list) else value


def _lines(ax, frame: pd.DataFrame, colour_by: str, x: str, y: str, marker=None) -> None:
    values = frame[colour_by]
    distinct = sorted(values.dropna().unique(), key=_sort_key)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and len(distinct) > 10:
        # many numeric values (a learning-rate range): a continuous scale with a colour bar
        lo, hi = min(distinct), max(distinct)
        log = lo > 0 and hi / lo > 100
        norm = (matplotlib.colors.LogNorm if log else matplotlib.colors.Normalize)(lo, hi)
        cmap = matplotlib.colormaps["viridis"]
        colours = {v: cmap(norm(v)) for v in distinct}
        fig = ax.get_figure()
        bar = fig.colorbar(
            matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=colour_by
        )
        if log:
            _log(bar)
    else:
        cmap = matplotlib.colormaps["tab10" if len(distinct) <= 10 else "tab20"]
        colours = {v: cmap(i % cmap.N) for i, v in enumerate(distinct)}
    continuous = numeric and len(distinct) > 10
    labelled = set()
    for value, block in frame.groupby(colour_by, sort=False):
        label = None if continuous or value in labelled else _label(colour_by, value)
        labelled.add(value)
        colour = colours.get(value, "0.5")
        runs = block["run"].nunique()
        if runs > BAND_ABOVE:  # many runs: their mean, and a band of one std either side
            stats = block.groupby(x)[y].agg(["mean", "std", "min", "max"]).sort_index()
            ax.plot(stats.index, stats["mean"], color=colour, lw=1.6, marker=marker, ms=3,
                    label=None if label is None else f"{label} (mean ± std of {runs})")  # fmt: skip
            # within the runs' own range: a loss band never dips below the smallest loss
            # (nor to zero, which a log axis cannot show)
            spread = stats["std"].fillna(0)
            low = (stats["mean"] - spread).clip(lower=stats["min"])
            high = (stats["mean"] + spread).clip(upper=stats["max"])
            ax.fill_between(stats.index, low, high, color=colour, alpha=0.2, lw=0)
            continue
        for _, rows in block.groupby("run", sort=False):
            rows = rows.sort_values(x)
            ax.plot(rows[x], rows[y], color=colour, alpha=0.8, lw=1.4, marker=marker, ms=3,
                    label=label)  # fmt: skip
            label = None
    ys = frame[y].dropna()
    if len(ys) and (ys > 0).all() and ys.max() / ys.min() > 20:
        _log(ax.yaxis)
    if not continuous:
        # legend in the order of the sorted values, not of the runs
        handles, labels = ax.get_legend_handles_labels()
        order = {_label(colour_by, v): i for i, v in enumerate(distinct)}
        pairs = sorted(zip(handles, labels), key=lambda hl: order.get(hl[1].split(" (")[0], 0))
        ax.legend(*zip(*pairs), fontsize=8)


def _label(colour_by: str, value) -> str:
    return str(value) if "," in colour_by else f"{colour_by}={value}"


def _sort_key(value):
    # numbers by value; text naturally, so "[2]" < "[16]" < "[8,8]"-style labels read in order
    if isinstance(value, int | float):
        return (0, (value,), "")
    text = str(value)
    return (1, tuple(int(n) for n in re.findall(r"\d+", text)), text)


# ---------------------------------------------------------------- a sweep's figures


def sweep_figures(sweep_dir: Path, results, summary, metric: str, by: str) -> None:
    """sweep.png (the metric against parameters), curves.png and layers.png (mean ± std
    over the runs of each ``by`` value); a figure that cannot be drawn is skipped with a warning."""
    done = results[results["status"] == "completed"]
    figures = []
    if {f"{metric}_mean", "params_mean"} <= set(summary.columns) and summary[
        f"{metric}_mean"
    ].notna().any():
        lines = line_keys(summary, by)
        figures.append(
            lambda: sweep(summary, metric, lines, sweep_dir / "sweep.png", title=sweep_dir.name)
        )
    knobs = varying_knobs(done)
    if len(knobs) == 2 and metric in done.columns and done[metric].notna().any():
        # a grid over exactly two knobs: the metric in each cell (hidden down, lr across); not
        # a search's scattered points (an Optuna sweep's lrs), which leave most cells empty
        y, x = sorted(knobs, key=lambda c: c not in ALONG_A_LINE)
        cells = results_heatmap(done, x, y, metric)
        if (cells.n > 0).all().all():
            figures.append(lambda: heatmap(cells, sweep_dir / "heatmap.png", title=sweep_dir.name))
    if len(done) and (done["epochs_run"] > 0).any():
        curve = "val_loss" if done["val_loss"].notna().any() else "train_loss"
        figures.append(lambda: sweep_curves(
            _long(sweep_dir, done, HISTORY_FILE, by, ["epoch", curve]), by,
            sweep_dir / "curves.png", metric=curve, title=sweep_dir.name))  # fmt: skip
    if len(done):
        figures.append(lambda: layer_profile(
            _long(sweep_dir, done, LAYERS_FILE, by, ["epoch", "layer", "act_std"], epoch=0), by,
            sweep_dir / "layers.png", title=sweep_dir.name))  # fmt: skip
    for draw in figures:
        try:
            draw()
        except ConfigError as exc:  # e.g. a plot_by column these runs do not have
            print(f"mlplab: warning: sweep figure skipped: {exc}", file=sys.stderr)


def _long(sweep_dir: Path, done, table: str, by: str, columns: list[str], epoch: int | None = None):
    """``columns`` of every completed run's ``table`` in one long frame, with ``run`` and the
    ``by`` columns (the rows at ``epoch`` only, if given)."""
    keys = [k.strip() for k in by.split(",")]
    rows = []
    for run_dir, *values in done[["run_dir", *keys]].itertuples(index=False):
        try:
            with open(sweep_dir / run_dir / table, newline="") as file:
                lines = csv.reader(file)
                header = next(lines)
                at = [header.index(c) for c in ("epoch", *columns)]
                for line in lines:
                    if epoch is None or line[at[0]] == str(epoch):
                        rows.append([*(float(line[i] or "nan") for i in at[1:]), run_dir, *values])
        except FileNotFoundError:
            continue
    if not rows:
        raise ConfigError(f"No finished runs with {table} to draw.")
    return pd.DataFrame(rows, columns=[*columns, "run", *keys])
