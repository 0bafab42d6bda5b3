"""Matplotlib figures, rendered headless to PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .results import atomic_write  # noqa: E402


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def curves(history: pd.DataFrame, path: Path, title: str = "") -> None:
    """Loss (log scale) and, for classification, accuracy against epoch, train and val."""
    has_acc = history["train_acc"].notna().any()
    fig, axes = plt.subplots(
        1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 3.8), squeeze=False
    )
    ax = axes[0, 0]
    for split, style in (("train", "-"), ("val", "--")):
        col = history[f"{split}_loss"]
        if col.notna().any():
            ax.plot(history["epoch"], col, style, label=split)
    if (history["train_loss"] > 0).all():
        ax.set_yscale("log")
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
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    cmap = plt.get_cmap("coolwarm" if n_classes == 2 else "viridis", n_classes)
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


def sweep(summary: pd.DataFrame, metric: str, by: str | None, path: Path, title: str = "") -> None:
    """``metric`` (mean ± std over seeds) against parameter count, one line per ``by`` value."""
    mean, std = summary[f"{metric}_mean"], summary.get(f"{metric}_std")
    x = summary["params_mean"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    groups = (
        summary.groupby(summary[by].astype(str), sort=True)
        if by in summary.columns
        else [(None, summary)]
    )
    scale = 100 if metric.endswith("acc") else 1
    for label, block in groups:
        order = block.sort_values("params_mean").index
        err = None if std is None else (std[order].fillna(0) * scale)
        ax.errorbar(x[order], mean[order] * scale, yerr=err, marker="o", capsize=3,
                    label=None if label is None else f"{by}={label}")  # fmt: skip
        if "hidden" in block.columns:
            for i in order:
                ax.annotate(str(block.at[i, "hidden"]), (x[i], mean[i] * scale), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set(
        xlabel="parameters",
        ylabel=f"{metric} (%)" if scale == 100 else metric,
        title=title or metric,
    )
    ax.grid(alpha=0.3)
    if by in summary.columns:
        ax.legend(title=None)
    _save(fig, path)
