"""``mlplab-compare``: results or summary tables side by side, joined on their knobs, with deltas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from .results import (
    SUMMARY_CSV,
    TEXT_COLUMNS,
    atomic_write,
    default_metric,
    is_knob,
    natural_order,
    write_csv,
)
from .settings import ConfigError, choose


def table_path(path: Path) -> Path:
    """A table's path: the file given, or a sweep folder's summary.csv."""
    return path / SUMMARY_CSV if path.is_dir() else path


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"{str(path)!r}: no such file.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{str(path)!r}: not a readable CSV ({type(exc).__name__}).") from None
    if not any(is_knob(c) for c in frame.columns):
        raise ConfigError(
            f"{str(path)!r}: not an mlplab results.csv or summary.csv (no knob columns)."
        )
    return frame


def labels_for(paths: list[Path], tables: list[pd.DataFrame]) -> list[str]:
    """Short names for the tables: the knobs that set them apart (``activation=gelu``),
    else file stems, else their folders' names."""
    common = set.intersection(*({c for c in t.columns if is_knob(c)} for t in tables))
    constant = [
        c
        for c in tables[0].columns
        if c in common and all(t[c].astype(str).nunique() == 1 for t in tables)
    ]
    apart = [c for c in constant if len({str(t[c].iloc[0]) for t in tables}) > 1]
    names = [",".join(f"{c}={t[c].iloc[0]}" for c in apart) for t in tables]
    if apart and len(set(names)) == len(names):
        return names
    names = [p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [p.parent.name or p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [f"{chr(65 + i)}:{n}" for i, n in enumerate(names)]
    return [n if len(n) <= 40 else n[:37] + "..." for n in names]


def join(
    tables: list[pd.DataFrame], labels: list[str], metric: str
) -> tuple[pd.DataFrame, list[str]]:
    """One row per configuration found in any table; the metric of each table and deltas."""
    column = {True: f"{metric}_mean", False: metric}
    common = set.intersection(*({c for c in t.columns if is_knob(c)} for t in tables))
    # join on the knobs that vary inside some table; a knob that is constant in each
    # table but differs between them is what is being compared, not a key
    keys = [
        c
        for c in tables[0].columns
        if c in common and any(t[c].astype(str).nunique() > 1 for t in tables)
    ]
    joined = None
    for table, label in zip(tables, labels):
        col = column[f"{metric}_mean" in table.columns]
        if col not in table.columns:
            options = sorted({c.removesuffix("_mean") for c in table.columns if c.endswith("_mean")} or
                             {c for c in table.columns if not is_knob(c) and c not in TEXT_COLUMNS and pd.api.types.is_numeric_dtype(table[c])})  # fmt: skip
            choose("--metric", metric, options)
        part = table[[*keys, col]].copy()
        if "status" in table.columns:
            part = part[table["status"] == "completed"]
        part[keys] = part[keys].astype(str)
        part = (
            part.groupby(keys, sort=False, dropna=False)[col].mean().rename(label)
            if keys
            else part[col].mean()
        )
        part = part.to_frame() if keys else pd.DataFrame({label: [part]})
        joined = part if joined is None else joined.join(part, how="outer")
    joined = joined.reset_index() if keys else joined
    if keys:  # [4] before [16] before [8,8]: as the results tables sort
        joined = joined.sort_values(keys, key=natural_order, kind="stable", ignore_index=True)
    for label in labels[1:]:
        joined[f"{label} - {labels[0]}"] = joined[label] - joined[labels[0]]
    return joined, keys


def plot(joined: pd.DataFrame, keys: list[str], labels: list[str], metric: str, path: Path) -> None:
    from matplotlib.figure import Figure  # not pyplot: its global state is the user's

    names = joined[keys].astype(str).agg(" ".join, axis=1) if keys else pd.Series(["all"])
    fig = Figure(figsize=(max(6, 0.6 * len(joined) * len(labels) + 2), 4.5))
    ax = fig.subplots()
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        ax.bar([x + i * width for x in range(len(joined))], joined[label], width=width, label=label)
    ax.set_xticks(
        [x + width * (len(labels) - 1) / 2 for x in range(len(joined))],
        names,
        rotation=30,
        ha="right",
    )
    values = joined[labels].to_numpy(dtype=float)
    lo, hi = pd.Series(values.ravel()).min(), pd.Series(values.ravel()).max()
    if lo > 0 and hi > lo:  # zoom in: differences of a few points must be visible
        ax.set_ylim(max(0.0, lo - 0.5 * (hi - lo)), hi + 0.1 * (hi - lo))
    ax.set(ylabel=metric, title=f"{metric} by {', '.join(keys) or 'table'}")
    ax.legend()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mlplab-compare", description=__doc__)
    parser.add_argument(
        "tables",
        nargs="+",
        type=Path,
        help="results.csv or summary.csv files, or sweep folders (their summary.csv); two or more",
    )
    parser.add_argument(
        "--metric", default="auto", help="column to compare (default: val_acc, else val_loss)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write the joined table here (.csv) and a bar chart beside it (.png)",
    )
    args = parser.parse_args(argv)
    try:
        if len(args.tables) < 2:
            raise ConfigError("mlplab-compare needs two or more tables to compare.")
        paths = [table_path(p) for p in args.tables]
        tables = [read_table(p) for p in paths]
        metric = args.metric
        if metric == "auto":
            first = tables[0]
            metric = default_metric(first.rename(columns=lambda c: c.removesuffix("_mean")))
        labels = labels_for(paths, tables)
        joined, keys = join(tables, labels, metric)
    except ConfigError as exc:
        print(f"mlplab-compare: error: {exc}", file=sys.stderr)
        sys.exit(2)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 50, "display.max_rows", 500
    ):
        print(f"{metric}, joined on: {', '.join(keys) or '(no varying knobs)'}")
        print(joined.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        out = args.out.with_suffix(".csv")
        write_csv(out, joined)
        plot(joined, keys, labels, metric, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")
