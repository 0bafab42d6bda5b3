"""The one criterion by which the page decides a seed's claim, on mlplab's own statistics.

A claim is split into parts. Each part is decided by one of the rules below, on 95%
t-based confidence intervals from :mod:`mlplab.stats` (the functions ``mlplab-compare``
uses): Welch's t for two groups, the paired t when both sides ran the same seeds (and
folds and data draws), and the interval of the difference of the logs (a ratio of
geometric means) for positive, skewed metrics such as losses. Each part ends in one of
three states:

- **holds**: the interval lies on the claimed side;
- **refuted**: the interval lies on the other side (the data contradict the claim);
- **not shown at this n**: the interval holds both, with the runs per side that would
  resolve a difference of the observed size.

The rules:

- ``better``: A beats B (the interval of A against B excludes no difference, in the
  claimed direction).
- ``no_better``: A is no better than B, within a stated margin: the interval of A's
  advantage lies below the margin (refuted when it lies wholly above it).
- ``beyond``: ``better`` against a fixed number (chance level).
- ``matches``: a number the seed states (a "10x") lies within 10% of the measured one: the
  interval lies inside ``value`` ± 10% (the seeds state such numbers to one or two digits);
  refuted when the interval lies wholly outside that band.
- ``every``: a claim about each run ("reaches 100%"): refuted by one run that does not.
- ``computed``: an exact computation (a parameter count, a hand-set network): no spread.

Every rule that rests on spread needs ``MIN_RUNS`` runs per side; below that it says
"not shown". A claim **holds** when all its parts hold, is **refuted** when all are, is
**not shown at this n** when none is decided, and holds **partly** otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from mlplab import stats

MIN_RUNS = 10  #: runs per condition a verdict that rests on spread needs
RELATIVE = 0.10  #: a stated number matches when it lies within this share of the measured one
LEVEL = stats.LEVEL

HOLDS, REFUTED, UNSHOWN = "holds", "refuted", "not shown at this n"
PARTLY, PENDING = "partly", "pending"

CRITERION = (
    "**How a verdict is reached.** Each seed's claim is split into parts, and each part is "
    "decided on a 95% confidence interval computed by `mlplab.stats` (the functions "
    "`mlplab-compare` uses), by `scripts/seedcourse/verdicts.py`: Welch's t interval for the "
    "difference of two means, the paired t interval when both sides ran the same seeds, and, "
    "for losses (positive and skewed), the interval of the ratio of geometric means, computed "
    "on the log scale. Each part ends in one of three states: **holds** (the interval lies on "
    "the claimed side), **refuted** (it lies on the other side: the data contradict the "
    "claim), or **not shown at this n** (it holds both; the page gives the runs per side that "
    "would resolve a difference of the observed size). *A beats B* needs the interval of A "
    "against B to exclude no difference; *A is no better than B* needs the interval of A's "
    "advantage to lie below a margin stated with the part; a number the seed states (a ratio, "
    "a loss) *matches* when the interval lies within ±10% of it (the seeds give such numbers "
    'to one or two digits); a claim about every run ("reaches 100%") is refuted by one run '
    "that does not; exact computations (parameter counts, hand-set networks) have no spread. "
    f"Every part that rests on spread has at least {MIN_RUNS} runs per condition. A claim "
    "**holds** when all its parts hold, is **refuted** when all are refuted, is **not shown "
    "at this n** when no part is decided, and holds **partly** otherwise. Numbers are given "
    "as mean ± the 95% interval's half-width, to two significant digits of the half-width; "
    "the tables' ± is the standard deviation over runs. Unless a section says that "
    "`dataset.seed` varies, every run of a sweep sees the same data draw, and the intervals "
    "cover the initialization and the shuffling only. Each design was fixed from the seed's "
    "claim before its full run, and the verdicts are reported as found."
)


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` runs, with the runs' standard deviation (n - 1); ``values`` and
    ``keys`` (each run's seed, fold and data draw) when known, for paired and log-scale
    intervals."""

    mean: float
    std: float
    n: int
    values: tuple = ()
    keys: tuple = ()

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 0 else math.nan

    @property
    def ci(self) -> float:
        """The 95% t interval's half-width."""
        return stats.half_width(self.std, self.n)

    def text(self, scale: float = 1.0, unit: str = "") -> str:
        """``mean ± half-width (95% CI, n=..)``, scaled (100 for percent)."""
        return f"{stats.plus_minus(self.mean * scale, self.ci * scale)}{unit} (n={self.n})"


def estimate(values: Iterable[float], keys: Iterable | None = None) -> Estimate:
    """Mean, std (n - 1; 0 for one run) and n of the finite ``values``, keeping them (and
    their ``keys``) for paired and log-scale intervals."""
    raw = list(values)
    keyed = list(keys) if keys is not None else [None] * len(raw)
    kept = [(float(v), k) for v, k in zip(raw, keyed) if v is not None and np.isfinite(float(v))]
    if not kept:
        return Estimate(math.nan, math.nan, 0)
    v = np.array([x for x, _ in kept])
    ks = tuple(k for _, k in kept) if keys is not None else ()
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return Estimate(float(v.mean()), std, len(v), tuple(v.tolist()), ks)


@dataclass(frozen=True)
class Part:
    """One checkable part of a seed's claim, its state, and the numbers that say so."""

    claim: str
    state: str  #: HOLDS, REFUTED or UNSHOWN
    evidence: str
    group: str = ""  #: which of a section's separate claims it belongs to ("" when one)

    @property
    def holds(self) -> bool:
        return self.state == HOLDS


def _paired(a: Estimate, b: Estimate) -> bool:
    """Both sides ran the same seeds (folds, data draws), each once."""
    return (
        bool(a.keys)
        and len(set(a.keys)) == a.n
        and set(a.keys) == set(b.keys)
        and len(set(b.keys)) == b.n
    )


def difference(a: Estimate, b: Estimate, log: bool = False) -> stats.Difference:
    """A against B: mean(A) - mean(B), or with ``log`` the ratio of geometric means A / B;
    paired when both sides ran the same seeds."""
    pair = _paired(a, b)
    if pair:
        order_b = {k: i for i, k in enumerate(b.keys)}
        bv = [b.values[order_b[k]] for k in a.keys]
        av = list(a.values)
    else:
        av, bv = list(a.values), list(b.values)
    if log:
        return stats.ratio(bv, av, pair=pair)
    if pair:
        return stats.paired(bv, av)
    if a.values and b.values:
        return stats.welch(bv, av)
    return stats.welch((b.mean, b.std, b.n), (a.mean, a.std, a.n))


def _fixed(a: Estimate, value: float, log: bool = False) -> stats.Difference:
    """A against a fixed number (its SE is 0): the one-sample t interval."""
    if log:
        logs = estimate(np.log(a.values))
        d = _fixed(logs, math.log(value))
        return stats.Difference(
            math.exp(d.estimate), math.exp(d.low), math.exp(d.high), "one-sample ratio",
            d.n_a, d.n_b, d.df, d.se,
        )  # fmt: skip
    half = a.ci
    return stats.Difference(
        a.mean - value, a.mean - value - half, a.mean - value + half, "one-sample",
        a.n, a.n, a.n - 1, a.se,
    )  # fmt: skip


def _needed(d: stats.Difference) -> str:
    n = stats.runs_to_resolve(d)
    return f"~{n} runs per side would resolve it" if n else "no n within reach would resolve it"


KINDS = {
    "welch": "Welch t",
    "paired": "paired t",
    "ratio": "Welch t on the logs",
    "paired ratio": "paired t on the logs",
    "one-sample": "one-sample t",
    "one-sample ratio": "one-sample t on the logs",
}


def _interval_text(d: stats.Difference, scale: float = 1.0, unit: str = "") -> str:
    if d.ratio:
        return f"{stats.interval(d.estimate, d.low, d.high, signed=False)}× ({KINDS[d.kind]})"
    text = stats.interval(d.estimate * scale, d.low * scale, d.high * scale)
    return text.replace(" [", f"{unit} [", 1) + f" ({KINDS[d.kind]})"


def _side(d: stats.Difference, lower: bool) -> tuple[bool, bool]:
    """(the interval lies wholly on the claimed side of no difference, wholly on the other)."""
    if not (math.isfinite(d.low) and math.isfinite(d.high)):
        return False, False
    if lower:  # A's number is claimed below B's
        return d.high < d.null, d.low > d.null
    return d.low > d.null, d.high < d.null


def _few(*es: Estimate) -> bool:
    return min(e.n for e in es) < MIN_RUNS


def _decide(
    claim: str,
    d: stats.Difference,
    claimed: bool,
    against: bool,
    evidence: str,
    few: bool,
) -> Part:
    if few:
        n = min(d.n_a, d.n_b)
        return Part(claim, UNSHOWN, f"{evidence}; only {n} runs, fewer than {MIN_RUNS}")
    if claimed:
        return Part(claim, HOLDS, evidence)
    if against:
        return Part(claim, REFUTED, evidence)
    return Part(claim, UNSHOWN, f"{evidence}; {_needed(d)}")


def better(
    claim: str,
    a: Estimate,
    b: Estimate,
    names: tuple[str, str],
    lower: bool = True,
    log: bool = False,
    scale: float = 1.0,
    unit: str = "",
) -> Part:
    """A beats B (``lower``: a lower number is better); ``log`` for losses."""
    d = difference(a, b, log)
    claimed, against = _side(d, lower)
    what = f"{names[0]} / {names[1]}" if log else f"{names[0]} − {names[1]}"
    evidence = (
        f"{names[0]} {a.text(scale, unit)}, {names[1]} {b.text(scale, unit)}; "
        f"{what} = {_interval_text(d, scale, unit)}"
    )
    return _decide(claim, d, claimed, against, evidence, _few(a, b))


def no_better(
    claim: str,
    a: Estimate,
    b: Estimate,
    names: tuple[str, str],
    margin: float,
    lower: bool = True,
    log: bool = False,
    scale: float = 1.0,
    unit: str = "",
) -> Part:
    """A is no better than B by more than ``margin`` (a share for ``log``): the interval of
    A's advantage lies below it; refuted when it lies wholly above it."""
    d = difference(a, b, log)
    # A's advantage in the claimed direction is B - A (lower) or A - B; "no better" holds
    # when that advantage stays below the margin.
    if d.ratio:
        bound = 1 / (1 + margin) if lower else 1 + margin
        held = d.low > bound if lower else d.high < bound
        refuted = d.high < bound if lower else d.low > bound
        limit = f"{names[0]} / {names[1]} {'above' if lower else 'below'} {bound:.3g}"
    else:
        held = d.low > -margin if lower else d.high < margin
        refuted = d.high < -margin if lower else d.low > margin
        m = stats.plus_minus(margin * scale, math.nan).split(" ")[0]
        limit = f"an advantage of {names[0]} under {m}{unit}"
    what = f"{names[0]} / {names[1]}" if log else f"{names[0]} − {names[1]}"
    evidence = (
        f"{names[0]} {a.text(scale, unit)}, {names[1]} {b.text(scale, unit)}; "
        f"{what} = {_interval_text(d, scale, unit)}; the margin: {limit}"
    )
    return _decide(claim, d, held, refuted, evidence, _few(a, b))


def beyond(
    claim: str,
    a: Estimate,
    value: float,
    names: tuple[str, str],
    lower: bool = True,
    scale: float = 1.0,
    unit: str = "",
) -> Part:
    """The ``better`` rule against a fixed number (chance, a seed's value)."""
    d = _fixed(a, value)
    claimed, against = _side(d, lower)
    evidence = (
        f"{names[0]} {a.text(scale, unit)} against {names[1]} "
        f"{value * scale:.4g}{unit}: {_interval_text(d, scale, unit)}"
    )
    return _decide(claim, d, claimed, against, evidence, _few(a))


def matches(claim: str, e: Estimate, value: float, log: bool = False) -> Part:
    """A number the seed states lies within 10% of the measured one: the interval of the mean
    (of the geometric mean, with ``log``) lies inside value ± 10%; refuted when it lies
    wholly outside."""
    if log:
        d = _fixed(e, value, log=True)
        centre, low, high = d.estimate * value, d.low * value, d.high * value
    else:
        centre, low, high = e.mean, e.mean - e.ci, e.mean + e.ci
    what = "geometric mean" if log else "mean"
    return _within(claim, f"measured {what}", centre, low, high, value, e.n)


def ratio_matches(claim: str, d: stats.Difference, value: float) -> Part:
    """A ratio the seed states lies within 10% of a measured ratio of geometric means."""
    kind = KINDS[d.kind]
    return _within(claim, f"ratio of geometric means ({kind})", d.estimate, d.low, d.high,
                   value, min(d.n_a, d.n_b))  # fmt: skip


def _within(claim: str, what: str, centre, low, high, value: float, n: int) -> Part:
    band = (value * (1 - RELATIVE), value * (1 + RELATIVE))
    inside = band[0] <= low and high <= band[1]
    outside = high < band[0] or low > band[1]
    evidence = (
        f"{what} {stats.interval(centre, low, high, signed=False)} (95% CI, n={n}); the "
        f"seed's value {value:.3g}, ±10%: [{band[0]:.3g}, {band[1]:.3g}]"
    )
    if n < MIN_RUNS:
        return Part(claim, UNSHOWN, f"{evidence}; only {n} runs, fewer than {MIN_RUNS}")
    return Part(claim, HOLDS if inside else REFUTED if outside else UNSHOWN, evidence)


def every(claim: str, values: Iterable[float], test: Callable[[float], bool], what: str) -> Part:
    """A claim about each run: holds when every run passes ``test``; one that does not
    refutes it."""
    v = [x for x in values if x is not None and np.isfinite(x)]
    passed = sum(bool(test(x)) for x in v)
    evidence = f"{passed} of {len(v)} runs {what}"
    if passed < len(v):
        return Part(claim, REFUTED, evidence)
    if len(v) < MIN_RUNS:
        return Part(claim, UNSHOWN, f"{evidence}; fewer than {MIN_RUNS} runs")
    return Part(claim, HOLDS, evidence)


def computed(claim: str, holds: bool, evidence: str) -> Part:
    """An exact computation: it holds or it is refuted, with no spread."""
    return Part(claim, HOLDS if holds else REFUTED, evidence)


def combined(states: list[str]) -> str:
    """The state of parts taken as one: holds when all hold, refuted when one is."""
    if any(s == REFUTED for s in states):
        return REFUTED
    return HOLDS if all(s == HOLDS for s in states) else UNSHOWN


def verdict(parts: list[Part]) -> str:
    """holds / refuted / not shown at this n when all parts agree; partly (with the
    counts) otherwise; pending without parts."""
    if not parts:
        return PENDING
    states = [p.state for p in parts]
    if len(set(states)) == 1:
        return states[0]
    counts = [(HOLDS, "hold"), (REFUTED, "refuted"), (UNSHOWN, "not shown")]
    said = ", ".join(f"{states.count(s)} {word}" for s, word in counts if states.count(s))
    return f"{PARTLY} ({said})"
