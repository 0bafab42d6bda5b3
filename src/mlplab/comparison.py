"""``mlplab-compare``: results or summary tables side by side, joined on their knobs, with
each side's 95% interval, the difference's interval and a decision (``mlplab.stats``)."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import stats
from .results import (
    REPEATS,
    RESULTS_CSV,
    SUMMARY_CSV,
    TEXT_COLUMNS,
    atomic_write,
    column_named,
    default_metric,
    is_knob,
    natural_key,
    natural_order,
    write_csv,
)
from .settings import ConfigError, choose


def table_path(path: Path) -> Path:
    """A table's path: the file given, or a sweep folder's results.csv (its runs: what the
    intervals need), else its summary.csv."""
    if not path.is_dir():
        return path
    return path / RESULTS_CSV if (path / RESULTS_CSV).is_file() else path / SUMMARY_CSV


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


@dataclass
class Sample:
    """One configuration's runs in one table: values by repeat (seed, fold), or only the
    (mean, std, n) of a summary table."""

    values: dict | None = None  #: repeat -> value, for a results table
    moments: tuple | None = None  #: (mean, std, n), for a summary table

    def mean_ci(self) -> tuple[float, float, int]:
        if self.values is not None:
            return stats.mean_ci(list(self.values.values()))
        mean, std, n = self.moments
        return mean, stats.half_width(std, n), n


def samples(table: pd.DataFrame, keys: list[str], metric: str) -> dict[tuple, Sample]:
    """Each configuration's Sample of ``metric`` (completed runs only)."""
    raw = metric in table.columns
    if not raw and f"{metric}_mean" not in table.columns:
        options = sorted({c.removesuffix("_mean") for c in table.columns if c.endswith("_mean")} or
                         {c for c in table.columns if not is_knob(c) and c not in TEXT_COLUMNS and pd.api.types.is_numeric_dtype(table[c])})  # fmt: skip
        choose("--metric", metric, options)
    if "status" in table.columns:
        table = table[table["status"] == "completed"]
    names = table[keys].astype(str) if keys else pd.DataFrame(index=table.index)
    repeats = [c for c in REPEATS if c in table.columns]
    out: dict[tuple, Sample] = {}
    groups = (
        table.groupby([names[k] for k in keys], sort=False, dropna=False) if keys else [((), table)]
    )
    for index, rows in groups:
        key = index if isinstance(index, tuple) else (index,)
        if raw:  # each run named by its repeat (seed, fold), for pairing
            ids = rows[repeats].astype(str).agg(",".join, axis=1) if repeats else rows.index
            out[key] = Sample(values=dict(zip(map(str, ids), rows[metric].astype(float))))
        else:
            first = rows.iloc[0]
            moments = (
                first[f"{metric}_mean"],
                first.get(f"{metric}_std", math.nan),
                first.get("n", 1),
            )
            out[key] = Sample(moments=(float(moments[0]), float(moments[1]), int(moments[2])))
    return out


def difference(a: Sample, b: Sample, log: bool) -> stats.Difference:
    """b against a: paired by repeat where both sides hold the same runs, else Welch; on
    the log scale (a ratio) when ``log``."""
    both = a.values is not None and b.values is not None
    same = both and len(a.values) > 1 and set(a.values) == set(b.values)
    if log:
        if not both:
            raise ConfigError("--log needs results tables (runs), not summaries: give "
                              "results.csv files or sweep folders, or --no-log.")  # fmt: skip
        order = sorted(a.values) if same else None
        x = [a.values[k] for k in order] if same else list(a.values.values())
        y = [b.values[k] for k in order] if same else list(b.values.values())
        try:
            return stats.ratio(x, y, pair=same)
        except ValueError as exc:
            raise ConfigError(f"--log: {exc} Give --no-log.") from None
    if same:
        order = sorted(a.values)
        return stats.paired([a.values[k] for k in order], [b.values[k] for k in order])
    side = [list(s.values.values()) if s.values is not None else s.moments for s in (a, b)]
    return stats.welch(*side)


def compare_tables(
    tables: list[pd.DataFrame],
    labels: list[str],
    metric: str,
    log: bool | None = None,
    margin: float | None = None,
) -> tuple[pd.DataFrame, list[str], bool]:
    """(the joined table, its keys, whether it compares on the log scale).

    One row per configuration found in any table (the knobs that vary inside some table;
    seeds and folds are the runs behind each mean). Per table: the mean, the half-width of
    its 95% t interval and n. Per table after the first, against the first: the
    difference (``B - A``; a ratio ``B / A`` on the log scale, the default for losses),
    its 95% interval, the test (paired by seed when both hold the same seeds, else Welch)
    and the decision (``stats.decide``, with ``margin`` for ``equal within ±m``).
    """
    common = set.intersection(*({c for c in t.columns if is_knob(c)} for t in tables))
    # join on the knobs that vary inside some table; a knob that is constant in each
    # table but differs between them is what is being compared, not a key
    keys = [
        c
        for c in tables[0].columns
        if c in common and c not in REPEATS and any(t[c].astype(str).nunique() > 1 for t in tables)
    ]
    if "hidden" in keys:  # depth and width are read off hidden: no keys of their own
        keys = [c for c in keys if c not in ("depth", "width")]
    if log is None:  # a loss on the log scale, unless a summary holds no runs for it
        log = metric.endswith("loss") and all(metric in t.columns for t in tables)
    per_table = [samples(t, keys, metric) for t in tables]
    configurations = list(dict.fromkeys(k for found in per_table for k in found))
    rows = []
    for key in configurations:
        row = dict(zip(keys, key))
        for label, found in zip(labels, per_table):
            mean, ci, n = found[key].mean_ci() if key in found else (math.nan, math.nan, 0)
            row.update({label: mean, f"{label} ci95": ci, f"{label} n": n})
        base = per_table[0].get(key)
        for label, found in zip(labels[1:], per_table[1:]):
            name = f"{label} {'/' if log else '-'} {labels[0]}"
            if base is None or key not in found:
                row[name] = math.nan
                continue
            diff = difference(base, found[key], log)
            row.update({name: diff.estimate, f"{name} low": diff.low, f"{name} high": diff.high,
                        f"{name} test": diff.kind, f"{name} decision": stats.decide(diff, margin)})  # fmt: skip
        rows.append(row)
    joined = pd.DataFrame(rows)
    if keys:  # [4] before [16] before [8,8]: as the results tables sort
        joined = joined.sort_values(keys, key=natural_order, kind="stable", ignore_index=True)
    return joined, keys, log


def within(
    table: pd.DataFrame, by: str, baseline: str | None
) -> tuple[list[pd.DataFrame], list[str]]:
    """One sweep's table split by the levels of knob ``by``, the ``baseline`` level first
    (default: the first in order): each level is then compared against it."""
    columns = [c for c in table.columns if is_knob(c)]
    by = column_named(by, columns, "--by knob")
    levels = sorted(table[by].astype(str).unique(), key=natural_key)
    if len(levels) < 2:
        raise ConfigError(
            f"--by {by}: the table holds one value of it ({levels[0]}); nothing to compare."
        )
    if baseline is not None:
        if str(baseline) not in levels:
            raise ConfigError(
                f"--baseline {baseline}: no run has {by}={baseline}. Choose one of: {', '.join(levels)}."
            )
        levels.remove(str(baseline))
        levels.insert(0, str(baseline))
    parts = [table[table[by].astype(str) == level].drop(columns=[by]) for level in levels]
    return parts, [f"{by}={level}" for level in levels]


def compare(
    *tables,
    metric: str = "auto",
    by: str | None = None,
    baseline: str | None = None,
    margin: float | None = None,
    log: bool | None = None,
) -> pd.DataFrame:
    """``mlplab-compare`` from Python: results or summary tables (paths, sweep folders or
    DataFrames), joined, with each side's mean and 95% interval, the difference against the
    first with its interval, and a decision (see ``compare_tables``). ``by``: compare the
    levels of one knob inside one table instead, against ``baseline``.
    ``frame.attrs``: the keys, the metric and whether it is on the log scale."""
    frames = [t if isinstance(t, pd.DataFrame) else read_table(table_path(Path(t))) for t in tables]
    paths = [Path(t) if not isinstance(t, pd.DataFrame) else Path(f"table{i}")
             for i, t in enumerate(tables)]  # fmt: skip
    if by is not None:
        if len(frames) != 1:
            raise ConfigError("--by compares the levels of a knob inside one table: give one.")
        frames, labels = within(frames[0], by, baseline)
    else:
        if baseline is not None:
            raise ConfigError("--baseline names a level of --by KNOB: give --by too.")
        if len(frames) < 2:
            raise ConfigError(
                "mlplab-compare needs two or more tables to compare (or one with --by KNOB)."
            )
        labels = labels_for(paths, frames)
    if margin is not None and not margin > 0:
        raise ConfigError(
            f"--margin {margin}: give the largest difference that counts as equal (> 0)."
        )
    if metric == "auto":
        metric = default_metric(frames[0].rename(columns=lambda c: c.removesuffix("_mean")))
    joined, keys, on_log = compare_tables(frames, labels, metric, log, margin)
    joined.attrs.update(keys=keys, metric=metric, log=on_log, labels=labels)
    return joined


def shown(joined: pd.DataFrame) -> pd.DataFrame:
    """The joined table as printed: mean ± CI (n) per side; difference [interval] and decision."""
    keys, labels, log = joined.attrs["keys"], joined.attrs["labels"], joined.attrs["log"]
    out = joined[keys].copy()
    for label in labels:
        out[label] = [
            f"{stats.plus_minus(m, c)} (n={n})"
            for m, c, n in zip(joined[label], joined[f"{label} ci95"], joined[f"{label} n"])
        ]
    for label in labels[1:]:
        name = f"{label} {'/' if log else '-'} {labels[0]}"
        if f"{name} low" not in joined.columns:
            continue
        out[name] = [
            stats.interval(e, lo, hi, signed=not log)
            for e, lo, hi in zip(joined[name], joined[f"{name} low"], joined[f"{name} high"])
        ]
        out[f"{name}: decision"] = joined[f"{name} decision"].fillna("-")
    return out


def plot(joined: pd.DataFrame, path: Path) -> None:
    """Bars of each side's mean with their 95% intervals, from zero."""
    from matplotlib.figure import Figure  # not pyplot: its global state is the user's

    keys, labels, metric = joined.attrs["keys"], joined.attrs["labels"], joined.attrs["metric"]
    names = joined[keys].astype(str).agg(" ".join, axis=1) if keys else pd.Series(["all"])
    fig = Figure(figsize=(max(6, 0.6 * len(joined) * len(labels) + 2), 4.5))
    ax = fig.subplots()
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        ax.bar([x + i * width for x in range(len(joined))], joined[label], width=width,
               yerr=joined[f"{label} ci95"].fillna(0), capsize=3, label=label)  # fmt: skip
    ax.set_xticks(
        [x + width * (len(labels) - 1) / 2 for x in range(len(joined))],
        names,
        rotation=30,
        ha="right",
    )
    ax.set_ylim(bottom=0)
    ax.set(ylabel=f"{metric} (mean, 95% CI)", title=f"{metric} by {', '.join(keys) or 'table'}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mlplab-compare", description=__doc__)
    parser.add_argument(
        "tables",
        nargs="+",
        type=Path,
        help="results.csv or summary.csv files, or sweep folders (their results.csv); two or "
        "more, or one with --by",
    )
    parser.add_argument(
        "--metric", default="auto", help="column to compare (default: val_acc, else val_loss)"
    )
    parser.add_argument(
        "--by", metavar="KNOB", help="compare the levels of this knob inside one table"
    )
    parser.add_argument("--baseline", metavar="VALUE", help="with --by: the level the others face")
    parser.add_argument("--margin", type=float, metavar="M",
                        help="call a difference inside ±M (a ratio inside 1±M) equal when shown so")  # fmt: skip
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--log", dest="log", action="store_true", default=None,
                       help="compare ratios on the log scale (the default for losses)")  # fmt: skip
    scale.add_argument("--no-log", dest="log", action="store_false", help="compare differences")
    parser.add_argument(
        "--out",
        type=Path,
        help="write the joined table here (.csv) and a bar chart beside it (.png)",
    )
    args = parser.parse_args(argv)
    try:
        joined = compare(*args.tables, metric=args.metric, by=args.by, baseline=args.baseline,
                         margin=args.margin, log=args.log)  # fmt: skip
    except ConfigError as exc:
        print(f"mlplab-compare: error: {exc}", file=sys.stderr)
        sys.exit(2)
    keys, metric = joined.attrs["keys"], joined.attrs["metric"]
    scale = ("ratios of geometric means on the log scale (the default for a loss; --no-log "
             "for differences)" if joined.attrs["log"] else "differences")  # fmt: skip
    with pd.option_context(
        "display.width", 250, "display.max_columns", 50, "display.max_rows", 500,
        "display.max_colwidth", 80,
    ):  # fmt: skip
        print(f"{metric}, joined on: {', '.join(keys) or '(no varying knobs)'}; "
              f"95% t intervals; {scale}")  # fmt: skip
        print(shown(joined).to_string(index=False))
    if args.out:
        out = args.out.with_suffix(".csv")
        write_csv(out, joined)
        plot(joined, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")
