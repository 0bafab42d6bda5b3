"""mlplab.stats against scipy.stats' own tests and worked textbook examples."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from mlplab import stats

RNG = np.random.default_rng(7)
# Student's sleep data (Cushny & Peebles, as in R's `sleep`): extra hours of sleep of the
# same 10 patients under two drugs
DRUG1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


@pytest.mark.parametrize("n_a, n_b, shift", [(5, 5, 0.3), (4, 9, -1.0), (12, 3, 0.0)])
def test_welch_is_scipys_welch_t_interval(n_a, n_b, shift):
    a, b = RNG.normal(0, 1, n_a), RNG.normal(shift, 2, n_b)
    ours = stats.welch(a, b)
    ref = sp.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high))
    assert ours.estimate == pytest.approx(b.mean() - a.mean())
    # from a summary table's (mean, std, n): the same interval
    moments = [(x.mean(), x.std(ddof=1), len(x)) for x in (a, b)]
    again = stats.welch(*moments)
    assert (again.low, again.high) == pytest.approx((ours.low, ours.high))


def test_paired_is_scipys_paired_t_interval_and_the_sleep_data_textbook_answer():
    ours = stats.paired(DRUG1, DRUG2)
    ref = sp.ttest_rel(DRUG2, DRUG1).confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high))
    # the textbook's numbers: mean difference 1.58 hours, 95% CI 0.700 to 2.460, df 9
    assert ours.estimate == pytest.approx(1.58)
    assert (round(ours.low, 3), round(ours.high, 3)) == (0.700, 2.460) and ours.df == 9
    assert stats.decide(ours) == "higher"
    # the same data as if unpaired: Welch's interval holds zero, so it is not resolved
    unpaired = stats.welch(DRUG1, DRUG2)
    assert unpaired.low < 0 < unpaired.high
    assert stats.decide(unpaired).startswith("not resolved at n=10 (~")


def test_a_difference_the_normal_rule_calls_real_is_not_resolved_at_n_5():
    # five paired differences whose mean is 2.65 standard errors from zero: beyond the
    # normal 1.96, inside the t(4) critical value 2.776
    a = np.zeros(5)
    b = np.array([1.0, 2.0, 0.5, 3.0, 0.2])
    t = b.mean() / (b.std(ddof=1) / math.sqrt(5))
    assert 1.96 < t < sp.t.ppf(0.975, 4)
    diff = stats.paired(a, b)
    assert not diff.resolved and stats.decide(diff).startswith("not resolved at n=5 (~")
    z_low = b.mean() - 1.96 * b.std(ddof=1) / math.sqrt(5)
    assert z_low > 0  # what a z interval would have said


def test_runs_to_resolve_is_the_first_n_whose_t_interval_excludes_zero():
    diff = stats.paired(np.zeros(5), [1.0, 2.0, 0.5, 3.0, 0.2])
    n = stats.runs_to_resolve(diff)
    per_run = diff.se * math.sqrt(5)  # the spread of one paired difference

    def resolves(k):  # by scipy: t(k - 1) * s / sqrt(k) < |mean|
        return sp.t.ppf(0.975, k - 1) * per_run / math.sqrt(k) < abs(diff.estimate)

    assert n is not None and resolves(n) and not resolves(n - 1)
    assert stats.runs_to_resolve(stats.paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])) is None


@pytest.mark.parametrize("margin, expected", [(0.5, True), (0.05, False)])
def test_equivalence_is_two_one_sided_tests(margin, expected):
    a = np.zeros(8)
    b = np.array([0.15, -0.1, 0.12, -0.05, 0.2, -0.08, 0.05, 0.07])  # paired differences
    d = b - a
    # scipy's one-sided t tests: above -margin and below +margin, each at 5%
    above = sp.ttest_1samp(d, -margin, alternative="greater").pvalue < 0.05
    below = sp.ttest_1samp(d, margin, alternative="less").pvalue < 0.05
    assert stats.equivalent(stats.paired(a, b), margin) == (above and below) == expected
    decision = stats.decide(stats.paired(a, b), margin)
    assert (decision == f"equal within ±{margin:g}") == (
        expected and not stats.paired(a, b).resolved
    )


def test_a_ratio_of_losses_is_compared_on_the_log_scale():
    a, b = RNG.lognormal(0, 1, 6), RNG.lognormal(1, 1, 6)
    ours = stats.ratio(a, b)
    ref = sp.ttest_ind(np.log(b), np.log(a), equal_var=False).confidence_interval(0.95)
    assert (ours.low, ours.high) == pytest.approx((math.exp(ref.low), math.exp(ref.high)))
    assert ours.estimate == pytest.approx(sp.gmean(b) / sp.gmean(a))
    paired = stats.ratio(a, a * 2, pair=True)  # every run exactly twice: a sure ratio of 2
    assert paired.estimate == pytest.approx(2.0) and stats.decide(paired) == "higher"
    with pytest.raises(ValueError, match="positive"):
        stats.ratio([1.0, 0.0], [1.0, 2.0])


def test_mean_ci_and_half_width_are_the_t_interval_of_a_mean():
    x = RNG.normal(3, 1, 7)
    mean, half, n = stats.mean_ci(x)
    ref = sp.ttest_1samp(x, 0).confidence_interval(0.95)
    assert (mean - half, mean + half) == pytest.approx((ref.low, ref.high)) and n == 7
    assert math.isnan(stats.mean_ci([1.0])[1])


@pytest.mark.parametrize(
    "value, error, text",
    [(0.03665, 0.0218, "0.037 ± 0.022"), (2e10, 4.22e9, "(2.00 ± 0.42)e+10"),
     (2.22e-10, 3.0e-11, "(2.22 ± 0.30)e-10"), (5e-8, 0.2, "0.00 ± 0.20"),
     (1.8, 1e-15, "1.8 ± 0"),
     (123.456, 7.8, "123.5 ± 7.8"), (0.9, 0.0, "0.9 ± 0"), (float("nan"), 1.0, "-")],
)  # fmt: skip
def test_plus_minus_gives_two_significant_digits_of_error(value, error, text):
    assert stats.plus_minus(value, error) == text
