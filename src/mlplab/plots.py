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
