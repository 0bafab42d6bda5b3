"""The page's figures: means over runs with a band of +-2 SE, compared conditions in one panel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .verdicts import Estimate, Z  # noqa: E402

BAND = f"lines: mean over runs; bands and bars: ±{Z:g} SE (the verdicts' interval)"
COLOURS = plt.get_cmap("tab10").colors


def panels(n: int = 1, width: float = 6.0, height: float = 3.8):
    """A figure of ``n`` panels side by side."""
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def save(fig, path: Path, title: str = "") -> None:
    """Write the PNG (small: 100 dpi), with the band's meaning under the title."""
    for ax in fig.axes:  # a log axis showing two decades or more: label the decades only
        low, high = ax.get_ylim()
        if ax.get_yscale() == "log" and np.floor(np.log10(high)) - np.ceil(np.log10(low)) >= 1:
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.suptitle((title + "\n" if title else "") + BAND, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _mean_se(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Row-wise mean and standard error of a (x, runs) table."""
    n = table.count(axis=1)
    se = table.std(axis=1, ddof=1) / np.sqrt(n)
    return table.mean(axis=1), se.fillna(0.0)


def curves(
    ax,
    history: pd.DataFrame,
    y: str,
    by: str,
    label: Callable[[object], str] = str,
    order: list | None = None,
    scale: float = 1.0,
    x: str = "epoch",
    styles: dict | None = None,
) -> None:
    """``y`` against ``x`` averaged over runs, one line and band per value of ``by``."""
    keys = order if order is not None else sorted(history[by].unique(), key=str)
    for i, key in enumerate(keys):
        rows = history[history[by].astype(str) == str(key)]
        if rows.empty:
            continue
        table = rows.pivot_table(index=x, columns="run_dir", values=y)
        mean, se = _mean_se(table * scale)
        style = (styles or {}).get(key, {})
        colour = style.get("color", COLOURS[i % len(COLOURS)])
        ax.plot(
            mean.index,
            mean,
            color=colour,
            lw=1.6,
            ls=style.get("ls", "-"),
            label=f"{label(key)} (n={table.shape[1]})",
        )
        ax.fill_between(mean.index, mean - Z * se, mean + Z * se, color=colour, alpha=0.18, lw=0)


def points(
    ax,
    frame: pd.DataFrame,
    x: str,
    y: str,
    by: str | None = None,
    label: Callable[[object], str] = str,
    order: list | None = None,
    scale: float = 1.0,
    xs: Callable[[object], float] | None = None,
    marker: str = "o",
) -> None:
    """``y`` (mean +- 2 SE over runs) against ``x``, one line per value of ``by``."""
    groups = (
        [(None, frame)]
        if by is None
        else [
            (key, frame[frame[by].astype(str) == str(key)])
            for key in (order if order is not None else sorted(frame[by].unique(), key=str))
        ]
    )
    for i, (key, rows) in enumerate(groups):
        if rows.empty:
            continue
        table = rows.groupby(x)[y].agg(["mean", "std", "count"])
        if xs is not None:
            table.index = [xs(v) for v in table.index]
            table = table.sort_index()
        se = (table["std"] / np.sqrt(table["count"])).fillna(0.0) * scale
        colour = COLOURS[i % len(COLOURS)]
        n = int(table["count"].min())
        ax.errorbar(
            table.index,
            table["mean"] * scale,
            yerr=Z * se,
            color=colour,
            marker=marker,
            ms=4,
            capsize=3,
            lw=1.4,
            label=(f"{label(key)} " if key is not None else "") + f"(n={n} per point)",
        )


def bars(
    ax,
    labels: list[str],
    estimates: list[Estimate],
    scale: float = 1.0,
    colours: list | None = None,
    reference: float | None = None,
    reference_label: str = "",
) -> None:
    """One bar per condition: its mean, with a +-2 SE error bar and n under the label."""
    x = np.arange(len(labels))
    means = [e.mean * scale for e in estimates]
    errors = [Z * e.se * scale if e.n > 1 else 0.0 for e in estimates]
    ax.bar(
        x,
        means,
        yerr=errors,
        capsize=4,
        alpha=0.85,
        color=colours or [COLOURS[i % len(COLOURS)] for i in range(len(labels))],
    )
    ax.set_xticks(x, [f"{lab}\n(n={e.n})" for lab, e in zip(labels, estimates)], fontsize=8)
    if reference is not None:
        ax.axhline(reference * scale, color="k", ls="--", lw=1, label=reference_label)
        ax.legend(fontsize=8)
