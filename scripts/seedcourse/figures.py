"""The page's figures: means over runs with 95% t intervals, compared conditions in one panel.

Each drawing function records what it drew, and :func:`save` writes a subtitle for what
is there only. On a log axis the lines are geometric means and the bands are computed on
the logs (a band in linear space would reach the floor); bars start at zero and are never
drawn on a log axis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402

from mlplab import stats  # noqa: E402

from .verdicts import Estimate  # noqa: E402

COLOURS = plt.get_cmap("tab10").colors
SAYS = {  # what each drawing function adds to the subtitle
    "curves": "lines: mean over runs, bands: its 95% t interval",
    "log curves": "lines: geometric mean over runs, bands: its 95% t interval, computed on the logs",
    "points": "points: mean over runs with its 95% t interval",
    "log points": "points: geometric mean over runs with its 95% t interval, computed on the logs",
    "bars": "bars: mean over runs with its 95% t interval",
}


def panels(n: int = 1, width: float = 6.0, height: float = 3.8):
    """A figure of ``n`` panels side by side."""
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def _drew(ax, what: str) -> None:
    drawn = ax.figure.__dict__.setdefault("seedcourse_drawn", [])
    if (ax, what) not in drawn:
        drawn.append((ax, what))


def subtitle(fig) -> str:
    """What the marks mean; per panel ("left: ...; right: ...") when the panels differ."""
    drawn = fig.__dict__.get("seedcourse_drawn", [])
    kinds = list(dict.fromkeys(w for _, w in drawn))
    if len(kinds) <= 1:
        return SAYS[kinds[0]] if kinds else ""
    panels = [ax for ax in fig.axes if any(a is ax for a, _ in drawn)]
    names = (
        ["left", "right"] if len(panels) == 2 else [f"panel {i + 1}" for i in range(len(panels))]
    )
    return "; ".join(
        f"{name}: " + ", ".join(SAYS[w] for a, w in drawn if a is ax)
        for name, ax in zip(names, panels)
    )


def log_ticks(axis) -> None:
    """A log axis of any span: labels on the decades when it spans two or more, on 1, 2
    and 5 times a power of ten when it spans less; never on the other minor ticks."""
    low, high = axis.get_view_interval()
    if low <= 0 or high <= 0:
        return
    decades = np.log10(high) - np.log10(low)
    subs = (1.0,) if decades >= 2 else (1.0, 2.0, 5.0)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(ticker.LogFormatterSciNotation(labelOnlyBase=False))
    axis.set_minor_formatter(ticker.NullFormatter())


def save(fig, path: Path, title: str = "") -> None:
    """Write the PNG (small: 100 dpi), with what its marks mean under the title."""
    for ax in fig.axes:
        if ax.get_yscale() == "log":
            log_ticks(ax.yaxis)
        if ax.get_xscale() == "log":
            log_ticks(ax.xaxis)
    lines = [t for t in (title, subtitle(fig)) if t]
    if lines:
        fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _mean_ci(table: pd.DataFrame, log: bool = False) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Row-wise mean and the 95% t interval (low, high) of a (x, runs) table; on the logs
    (a geometric mean) with ``log``."""
    values = np.log(table.where(table > 0)) if log else table
    n = values.count(axis=1)
    mean = values.mean(axis=1)
    half = pd.Series(
        [stats.half_width(s, int(k)) for s, k in zip(values.std(axis=1, ddof=1), n)],
        index=values.index,
    ).fillna(0.0)
    low, high = mean - half, mean + half
    if log:
        return np.exp(mean), np.exp(low), np.exp(high)
    return mean, low, high


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
    log: bool = False,
) -> None:
    """``y`` against ``x`` averaged over runs, one line and band per value of ``by``; on a
    log axis, computed on the logs, with ``log``."""
    keys = order if order is not None else sorted(history[by].unique(), key=str)
    for i, key in enumerate(keys):
        rows = history[history[by].astype(str) == str(key)]
        if rows.empty:
            continue
        table = rows.pivot_table(index=x, columns="run_dir", values=y)
        mean, low, high = _mean_ci(table * scale, log)
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
        ax.fill_between(mean.index, low, high, color=colour, alpha=0.18, lw=0)
    if log:
        ax.set_yscale("log")
    _drew(ax, "log curves" if log else "curves")


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
    log: bool = False,
) -> None:
    """``y`` (mean and its 95% interval over runs; on the logs with ``log``) against
    ``x``, one line per value of ``by``."""
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
        table = rows.assign(_run=rows.groupby(x).cumcount()).pivot_table(
            index=x, columns="_run", values=y
        )
        if xs is not None:
            table.index = [xs(v) for v in table.index]
            table = table.sort_index()
        mean, low, high = _mean_ci(table * scale, log)
        colour = COLOURS[i % len(COLOURS)]
        n = int(table.count(axis=1).min())
        ax.errorbar(
            table.index,
            mean,
            yerr=[mean - low, high - mean],
            color=colour,
            marker=marker,
            ms=4,
            capsize=3,
            lw=1.4,
            label=("" if key is None and label is str else f"{label(key)} ") + f"(n={n} per point)",
        )
    if log:
        ax.set_yscale("log")
    _drew(ax, "log points" if log else "points")


def bars(
    ax,
    labels: list[str],
    estimates: list[Estimate],
    scale: float = 1.0,
    colours: list | None = None,
    reference: float | None = None,
    reference_label: str = "",
) -> None:
    """One bar per condition: its mean, with its 95% t interval and n under the label. The
    axis starts at zero; a log axis takes points, not bars."""
    if ax.get_yscale() == "log":
        raise ValueError("bars on a log axis: draw points instead")
    x = np.arange(len(labels))
    means = [e.mean * scale for e in estimates]
    errors = [e.ci * scale if e.n > 1 else 0.0 for e in estimates]
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
    if min(means) >= 0:
        ax.set_ylim(bottom=0)
    _drew(ax, "bars")
