"""The one criterion by which the page says that a seed's claim holds.

A claim is split into parts; each part is decided by one of four rules, all resting on
the same interval: a mean over n runs (seeds, or seeds and folds) give or take two
standard errors (SE = std / sqrt(n), std with n - 1).

- ``better``: A beats B when the difference of their means, in the claimed direction,
  exceeds twice its standard error, sqrt(SE_A^2 + SE_B^2).
- ``no_better``: A does not beat B when ``better`` does not find it (absence of a
  detectable advantage at this n, which the evidence shows with its SE).
- ``matches``: a number the seed states (a "10x", a loss) lies within mean +- 2 SE, or
  within 10% of itself: the seeds state such numbers to one or two digits.
- ``beyond``: the same rule against a fixed number (chance level), whose SE is 0.
- ``every``: a claim about each run ("reaches 100%") holds when every run meets it.
- ``computed``: an exact computation (a parameter count, a hand-set network): no spread.

A claim **holds** when all its parts hold, holds **partly** when some do, and **does not
hold** when none does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

Z = 2.0  #: how many standard errors a difference must exceed
RELATIVE = 0.10  #: a stated number also matches within this share of itself

CRITERION = (
    "**How a verdict is reached.** Each seed's claim is split into parts, and each part is "
    "decided by one rule, applied by `scripts/seedcourse/verdicts.py` to every comparison: "
    "*A beats B* when the difference of the means over runs, in the claimed direction, exceeds "
    "twice its standard error (SE = std/√n per mean, √(SE_A² + SE_B²) for the difference); "
    "*A is no better than B* when that test finds no advantage (absence of evidence at this n; "
    "the evidence gives the SE); a number the seed states (a ratio, a loss) *matches* when it "
    "lies within mean ± 2 SE or within 10% of itself (the seeds give such numbers to one or two "
    'digits); a claim about every run ("reaches 100%") holds when every run meets it; exact '
    "computations (parameter counts, hand-set networks) have no spread. A claim **holds** when "
    "all its parts hold, holds **partly** when at least one part holds and at least one does "
    "not, and **does not hold** when no part holds. Every verdict that depends on spread rests "
    "on at least 5 runs per condition. The verdicts were reported as found: each design was "
    "fixed from the seed's claim before its full run."
)


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` runs, with the runs' standard deviation (n - 1)."""

    mean: float
    std: float
    n: int

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 0 else math.nan

    def text(self, fmt: str = "{:.4g}", scale: float = 1.0, unit: str = "") -> str:
        """``mean ± std (n=..)``, each number scaled (100 for percent) and formatted."""
        mean, std = fmt.format(self.mean * scale), fmt.format(self.std * scale)
        return f"{mean}{unit} ± {std}{unit} (n={self.n})"


def estimate(values: Iterable[float]) -> Estimate:
    """Mean, std (n - 1; 0 for one run) and n of the finite ``values``."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return Estimate(math.nan, math.nan, 0)
    return Estimate(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v))


@dataclass(frozen=True)
class Part:
    """One checkable part of a seed's claim, whether it holds, and the numbers that say so."""

    claim: str
    holds: bool
    evidence: str
    group: str = ""  #: which of a section's separate claims it belongs to ("" when one)


def _gap(a: Estimate, b: Estimate, lower: bool) -> tuple[float, float]:
    """(A's advantage over B in the claimed direction, its standard error)."""
    advantage = (b.mean - a.mean) if lower else (a.mean - b.mean)
    return advantage, math.sqrt(a.se**2 + b.se**2)


def wins(a: Estimate, b: Estimate, lower: bool = True) -> bool:
    """The criterion: A's advantage over B exceeds Z standard errors (needs n >= 2 each)."""
    if min(a.n, b.n) < 2:
        return False
    advantage, se = _gap(a, b, lower)
    return advantage > Z * se if se > 0 else advantage > 0


def _compare(a: Estimate, b: Estimate, names: tuple[str, str], lower: bool, fmt: str) -> str:
    advantage, se = _gap(a, b, lower)
    word = "lower" if lower else "higher"
    return (
        f"{names[0]} {a.text(fmt)} against {names[1]} {b.text(fmt)}: {names[0]} is "
        f"{fmt.format(advantage)} {word} (2 SE = {fmt.format(Z * se)})"
    )


def better(
    claim: str,
    a: Estimate,
    b: Estimate,
    names: tuple[str, str],
    lower: bool = True,
    fmt: str = "{:.4g}",
) -> Part:
    """A beats B (``lower``: a lower number is better) by more than 2 SE."""
    return Part(claim, wins(a, b, lower), _compare(a, b, names, lower, fmt))


def no_better(
    claim: str,
    a: Estimate,
    b: Estimate,
    names: tuple[str, str],
    lower: bool = True,
    fmt: str = "{:.4g}",
) -> Part:
    """A does not beat B: the criterion finds no advantage of A over B."""
    return Part(
        claim, min(a.n, b.n) >= 2 and not wins(a, b, lower), _compare(a, b, names, lower, fmt)
    )


def beyond(
    claim: str,
    a: Estimate,
    value: float,
    names: tuple[str, str],
    lower: bool = True,
    fmt: str = "{:.4g}",
) -> Part:
    """The ``better`` rule against a fixed number (chance, a seed's value): its SE is 0."""
    fixed = Estimate(value, 0.0, a.n)
    return Part(
        claim,
        wins(a, fixed, lower),
        _compare(a, fixed, names, lower, fmt).replace(
            f"{names[1]} {fixed.text(fmt)}", f"{names[1]} {fmt.format(value)}"
        ),
    )


def matches(claim: str, e: Estimate, value: float, fmt: str = "{:.3g}") -> Part:
    """A number the seed states lies within mean +- 2 SE, or within 10% of itself."""
    near = abs(e.mean - value) <= max(Z * e.se, RELATIVE * abs(value))
    return Part(
        claim,
        e.n >= 2 and bool(near),
        f"measured {e.text(fmt)}, 2 SE = {fmt.format(Z * e.se)}; the seed's value: {fmt.format(value)}",
    )


def every(claim: str, values: Iterable[float], test: Callable[[float], bool], what: str) -> Part:
    """A claim about each run: holds when every run (at least 2) passes ``test``."""
    v = [x for x in values if x is not None and np.isfinite(x)]
    passed = sum(bool(test(x)) for x in v)
    return Part(claim, len(v) >= 2 and passed == len(v), f"{passed} of {len(v)} runs {what}")


def computed(claim: str, holds: bool, evidence: str) -> Part:
    """An exact computation: it holds or it does not, with no spread."""
    return Part(claim, bool(holds), evidence)


HOLDS, PARTLY, FAILS, PENDING = "holds", "partly", "does not hold", "pending"


def verdict(parts: list[Part]) -> str:
    """holds (all parts), partly (some), does not hold (none); pending without parts."""
    if not parts:
        return PENDING
    held = sum(p.holds for p in parts)
    return HOLDS if held == len(parts) else (FAILS if held == 0 else PARTLY)
