"""What one section of the page is: the seed's claim, its sweeps, and how they are read."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlplab import stats

from .sweeps import Sweep
from .verdicts import Estimate, Part, combined


@dataclass
class Finding:
    """What an experiment's analysis returns for its section of the page."""

    parts: list[Part]  #: the claim's checkable parts, each decided by the one criterion
    headline: str  #: mlplab's number for the summary table (mean ± std, n)
    table: str  #: markdown: mlplab's numbers beside the seed's
    figure: Callable[[Path], None] | None = None  #: draws the section's PNG
    notes: str = ""  #: how mlplab's setup differs from the seed's, and why the digits differ
    more: str = ""  #: further markdown (a second table, a computed check)


@dataclass
class Experiment:
    """One of REFERENCE.md's E1-E22."""

    id: str
    title: str
    seeds: str  #: the seed files it comes from
    claim: str  #: the seed's claim, in its words
    seed_numbers: str  #: the seed's own numbers (or "no numbers")
    sweeps: tuple[str, ...]  #: configs/experiment/NAME.yaml files it runs
    analyse: Callable[[dict[str, Sweep]], Finding]
    pending: Callable[[], str | None] = lambda: None  #: why it cannot run yet (a missing key)
    quick: tuple[str, ...] = ("trainer.epochs=2", "seed=0,1")  #: --quick overrides
    short_claim: str = ""  #: the claim in a few words, for the summary table
    errors: tuple[int, ...] = field(default_factory=tuple)  #: seed errors named in this section


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table (pandas' to_markdown would need tabulate)."""

    def text(v) -> str:  # a "|" inside a cell would end it
        return str(v).replace("|", "\\|")

    rows = [[text(c) for c in frame.columns], ["---"] * len(frame.columns)]
    rows += [[text(v) for v in row] for row in frame.itertuples(index=False)]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def cell(e: Estimate, scale: float = 1.0, unit: str = "") -> str:
    """``mean ± std`` over runs, two significant digits in the std (n goes in its own
    column)."""
    if e.n == 0:
        return "—"
    if e.n == 1:
        return f"{e.mean * scale:.4g}{unit}"
    text = stats.plus_minus(e.mean * scale, e.std * scale)
    return text.replace(" ± ", f"{unit} ± ") + unit if unit else text


def pct(e: Estimate) -> str:
    return cell(e, 100, "%")


def table(rows: list[dict]) -> str:
    return markdown(pd.DataFrame(rows))


def grouped(group: str, parts: list[Part]) -> list[Part]:
    """``parts`` marked as belonging to one of a section's separate claims."""
    return [dataclasses.replace(p, group=group) for p in parts]


def half(e: Estimate) -> Estimate:
    """An MSE estimate in the seeds' units, 0.5·MSE."""
    return Estimate(e.mean / 2, e.std / 2, e.n, tuple(v / 2 for v in e.values), e.keys)


def all_of(claim: str, parts: list[Part]) -> Part:
    """One part made of ``parts`` (comparisons behind one sentence): it holds when each
    holds, and is refuted when one is."""
    return Part(claim, combined([p.state for p in parts]), "; ".join(p.evidence for p in parts))


def widths(hidden: str) -> list[int]:
    return [int(w) for w in hidden.strip("[]").split(",") if w]
