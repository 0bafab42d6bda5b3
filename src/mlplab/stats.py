"""Is a difference real? Confidence intervals and decisions for a few runs per side.

Sweeps compare means over a handful of seeds, so every interval here is t-based (at
n = 5 the 95% t critical value is 2.78, not the normal 1.96), and every function says
what it assumes:

- :func:`welch`: two independent groups, unequal variances (Welch's t, with the
  Welch-Satterthwaite degrees of freedom); from raw values or from (mean, std, n).
- :func:`paired`: the same seeds (and folds) on both sides: the t interval of the
  per-seed differences, which removes what the seeds share.
- :func:`ratio`: positive, skewed metrics (losses): the interval of log(b) - log(a),
  turned back into a ratio of geometric means.
- :func:`decide`: ``higher``, ``lower``, ``equal within ±m`` (two one-sided tests: the
  90% interval inside ±m) or ``not resolved at n=5 (~N runs would resolve this
  difference)``, where N comes from :func:`runs_to_resolve`.

Every quantile is scipy's t quantile (``scipy.special.stdtrit``, what
``scipy.stats.t.ppf`` computes, without importing scipy.stats); the tests hold the results
against ``scipy.stats.ttest_ind``/``ttest_rel`` and textbook examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit  # the t quantile (scipy.stats.t.ppf), without scipy.stats

LEVEL = 0.95
MAX_RUNS = 100_000  # beyond this, "would resolve" is not a useful number


@dataclass(frozen=True)
class Difference:
    """``b`` against ``a``: the estimate (b - a, or b / a for a ratio) and its interval."""

    estimate: float
    low: float
    high: float
    kind: str  #: welch | paired | ratio | paired ratio
    n_a: int
    n_b: int
    df: float  #: the t distribution's degrees of freedom
    se: float  #: the standard error of the difference (of the logs, for a ratio)
    level: float = LEVEL

    @property
    def ratio(self) -> bool:
        return "ratio" in self.kind

    @property
    def null(self) -> float:
        """The value of no difference: 0, or 1 for a ratio."""
        return 1.0 if self.ratio else 0.0

    @property
    def resolved(self) -> bool:
        """The interval excludes no difference."""
        return self.low > self.null or self.high < self.null


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, the t-based half-width of its interval, n) of the finite values; the
    half-width is NaN for fewer than 2 values."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(x[0]), math.nan, 1
    return float(x.mean()), half_width(float(x.std(ddof=1)), n, level), n


def half_width(std: float, n: int, level: float = LEVEL) -> float:
    """The t-based half-width of the interval of a mean of n values with this std."""
    if n < 2 or not math.isfinite(std):
        return math.nan
    return float(_t(0.5 + level / 2, n - 1) * std / math.sqrt(n))


def welch(a, b, level: float = LEVEL) -> Difference:
    """mean(b) - mean(a) with Welch's t interval; ``a`` and ``b`` are values, or
    (mean, std, n) triples (a summary table's columns)."""
    (ma, sa, na), (mb, sb, nb) = _moments(a), _moments(b)
    return _welch(ma, sa, na, mb, sb, nb, level, "welch")


def paired(a, b, level: float = LEVEL) -> Difference:
    """mean(b - a) over pairs (the same seed on both sides) with the t interval of the
    differences; ``a`` and ``b`` are aligned sequences (pairs with a NaN are dropped)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired: {len(a)} values against {len(b)}; pair them by seed first.")
    keep = np.isfinite(a) & np.isfinite(b)
    d = b[keep] - a[keep]
    n = len(d)
    if n < 2:
        return Difference(float(d.mean()) if n else math.nan, math.nan, math.nan, "paired",
                          n, n, math.nan, math.nan, level)  # fmt: skip
    se = float(d.std(ddof=1) / math.sqrt(n))
    return _interval(float(d.mean()), se, n - 1, "paired", n, n, level)


def ratio(a, b, level: float = LEVEL, pair: bool = False) -> Difference:
    """The ratio of geometric means b / a, with the interval of the difference of the
    logs turned back (Welch, or paired when ``pair``). For positive values only."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if (a[np.isfinite(a)] <= 0).any() or (b[np.isfinite(b)] <= 0).any():
        raise ValueError(
            "ratio: the values must be positive (a loss, a time); compare differences."
        )
    logs = paired(np.log(a), np.log(b), level) if pair else welch(np.log(a), np.log(b), level)
    return Difference(
        math.exp(logs.estimate), math.exp(logs.low) if math.isfinite(logs.low) else math.nan,
        math.exp(logs.high) if math.isfinite(logs.high) else math.nan,
        "paired ratio" if pair else "ratio", logs.n_a, logs.n_b, logs.df, logs.se, level,
    )  # fmt: skip


def equivalent(diff: Difference, margin: float) -> bool:
    """Two one-sided tests at the 5% level: the 90% interval lies inside ±margin (a ratio:
    inside [1/(1+margin), 1+margin])."""
    if not math.isfinite(diff.se):
        return False
    if diff.ratio:
        centre, limit = math.log(diff.estimate), math.log1p(margin)
    else:
        centre, limit = diff.estimate, margin
    if diff.se == 0:
        return abs(centre) < limit
    t = _t(0.95, diff.df)
    return centre - t * diff.se > -limit and centre + t * diff.se < limit


def runs_to_resolve(diff: Difference, limit: int = MAX_RUNS) -> int | None:
    """Runs per side at which a difference of this size, with this spread, would have an
    interval that excludes no difference (None: beyond ``limit``, or no difference at all).
    The spread per run is the one observed; the degrees of freedom grow with n."""
    if not math.isfinite(diff.se) or diff.se == 0:
        return None
    effect = abs(math.log(diff.estimate)) if diff.ratio else abs(diff.estimate - diff.null)
    if effect == 0:
        return None
    n_now = max(2, min(diff.n_a, diff.n_b))
    per_run = diff.se * math.sqrt(n_now)  # the standard error scales as 1/sqrt(n) ...
    scale = diff.df / (n_now - 1)  # ... and the degrees of freedom as n - 1

    def resolved(n: int) -> bool:
        t = _t(0.5 + diff.level / 2, scale * (n - 1))
        return t * per_run / math.sqrt(n) < effect

    if not resolved(limit):
        return None
    lo, hi = n_now, limit  # the smallest n that resolves it, by bisection
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if resolved(mid) else (mid + 1, hi)
    return lo


def decide(diff: Difference, margin: float | None = None) -> str:
    """``higher`` / ``lower`` (b against a, when the interval excludes no difference),
    ``equal within ±m`` (with a margin, when two one-sided tests say so), or ``not resolved
    at n=...`` with the runs per side that would resolve a difference of this size."""
    if diff.resolved:
        return "higher" if diff.estimate > diff.null else "lower"
    if margin is not None and equivalent(diff, margin):
        return f"equal within ±{margin:g}"
    n = min(diff.n_a, diff.n_b)
    needed = runs_to_resolve(diff)
    if needed is None:
        return f"not resolved at n={n}"
    return f"not resolved at n={n} (~{needed} runs would resolve this difference)"


def plus_minus(value: float, error: float) -> str:
    """``value ± error`` with two significant digits in the error and the value given to
    the same decimal place (0.0367 ± 0.022 -> "0.037 ± 0.022"); very large or very small
    numbers share one power of ten ("(2.00 ± 0.42)e+10")."""
    if not math.isfinite(value):
        return "-"
    if not math.isfinite(error):
        return f"{value:.4g}"
    if error <= 1e-9 * abs(value) or error == 0:  # no spread, or rounding's only
        return f"{value:.4g} ± 0"
    places = 1 - math.floor(math.log10(error))
    if -6 <= places <= 6 and abs(value) < 1e6:
        places = max(places, 0)
        return f"{value:.{places}f} ± {error:.{places}f}"
    power = math.floor(math.log10(max(abs(value), error)))
    scale = 10.0**power
    return f"({plus_minus(value / scale, error / scale)})e{power:+03d}"


def interval(estimate: float, low: float, high: float, signed: bool = True) -> str:
    """``+0.010 [-0.020, +0.040]``: an estimate and its interval, to the decimal place of two
    significant digits of the interval's half-width."""
    if not math.isfinite(estimate):
        return "-"
    half = (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.nan
    sign = "+" if signed else ""
    if not math.isfinite(half) or half <= 1e-9 * abs(estimate) or abs(estimate) >= 1e6:
        text = f"{estimate:{sign}.3g}"
        return text if not math.isfinite(half) else f"{text} [{low:{sign}.3g}, {high:{sign}.3g}]"
    places = max(0, 1 - math.floor(math.log10(half)))
    return f"{estimate:{sign}.{places}f} [{low:{sign}.{places}f}, {high:{sign}.{places}f}]"


# ---------------------------------------------------------------- helpers


def _t(q: float, df: float) -> float:
    """The t distribution's q-quantile at df degrees of freedom."""
    return float(stdtrit(df, q))


def _finite(values) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def _moments(side) -> tuple[float, float, int]:
    """(mean, std, n) of values, or of a (mean, std, n) triple as it is."""
    if isinstance(side, tuple) and len(side) == 3 and not hasattr(side[0], "__len__"):
        mean, std, n = side
        return float(mean), float(std) if std is not None else math.nan, int(n)
    x = _finite(side)
    return (float(x.mean()) if len(x) else math.nan,
            float(x.std(ddof=1)) if len(x) > 1 else math.nan, len(x))  # fmt: skip


def _welch(ma, sa, na, mb, sb, nb, level, kind) -> Difference:
    estimate = mb - ma
    if na < 2 or nb < 2 or not (math.isfinite(sa) and math.isfinite(sb)):
        return Difference(estimate, math.nan, math.nan, kind, na, nb, math.nan, math.nan, level)
    va, vb = sa**2 / na, sb**2 / nb
    se = math.sqrt(va + vb)
    if se == 0:  # no spread on either side: the difference is what it is
        return Difference(estimate, estimate, estimate, kind, na, nb, math.inf, 0.0, level)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return _interval(estimate, se, df, kind, na, nb, level)


def _interval(estimate, se, df, kind, na, nb, level) -> Difference:
    t = _t(0.5 + level / 2, df)
    return Difference(estimate, estimate - t * se, estimate + t * se, kind, na, nb, df, se, level)
