"""The seed course's machinery (scripts/seedcourse): the verdict rules on made-up numbers, the
seeds' errors against hand counts, the hand-set networks, and the page on small fake results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sp
import torch
from conftest import REPO


@pytest.fixture(scope="module")
def course():
    """The scripts/seedcourse package (a script's package, not installed with mlplab)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO / "scripts"))
        import seedcourse.course
        import seedcourse.errors
        import seedcourse.experiment
        import seedcourse.page
        import seedcourse.sweeps
        import seedcourse.verdicts

        yield seedcourse


# ---------------------------------------------------------------- the criterion


def test_estimate_is_mean_sample_std_and_n_of_the_finite_values(course):
    e = course.verdicts.estimate([1.0, 2.0, 3.0, 4.0, 5.0, float("nan"), None])
    assert (e.mean, e.n) == (3.0, 5)
    assert e.std == pytest.approx(math.sqrt(2.5))  # sum of squares 10 over n - 1 = 4
    assert e.se == pytest.approx(math.sqrt(2.5) / math.sqrt(5))
    ref = sp.ttest_1samp([1.0, 2.0, 3.0, 4.0, 5.0], 0).confidence_interval(0.95)
    assert e.ci == pytest.approx((ref.high - ref.low) / 2)  # t at 4 df, not 1.96


def _runs(n=10, seed=0):
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def test_better_has_three_states_on_welchs_t_interval(course):
    v = course.verdicts
    x, y = _runs(seed=1), _runs(seed=2)
    y = y - y.mean() + x.mean()  # the same mean: the gap below is exactly k SE
    se = math.sqrt(x.var(ddof=1) / 10 + y.var(ddof=1) / 10)
    a = v.estimate(x)
    # the gap at 2.05 SE: a normal-rule (z) reading calls it real; Welch's t (df < 19,
    # critical value > 2.09) does not, and neither does scipy
    b = v.estimate(y + 2.05 * se)
    assert sp.ttest_ind(y + 2.05 * se, x, equal_var=False).pvalue > 0.05
    part = v.better("", a, b, ("a", "b"))
    assert part.state == v.UNSHOWN and "runs per side would resolve it" in part.evidence
    far = y + 2.6 * se
    assert sp.ttest_ind(far, x, equal_var=False).pvalue < 0.05
    assert v.better("", a, v.estimate(far), ("a", "b")).state == v.HOLDS  # a lower: better
    assert v.better("", v.estimate(far), a, ("a", "b")).state == v.REFUTED  # the other side
    assert v.better("", v.estimate(far), a, ("a", "b"), lower=False).state == v.HOLDS
    # the interval printed is scipy's, for b - a read as a - b
    ci = sp.ttest_ind(x, far, equal_var=False).confidence_interval(0.95)
    d = v.difference(a, v.estimate(far))
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))


def test_fewer_than_ten_runs_show_nothing(course):
    v = course.verdicts
    a, b = v.estimate([1.0, 1.1, 0.9, 1.0, 1.0]), v.estimate([2.0, 2.1, 1.9, 2.0, 2.0])
    part = v.better("", a, b, ("a", "b"))  # a clear gap, but n = 5
    assert part.state == v.UNSHOWN and "only 5 runs, fewer than 10" in part.evidence


def test_matched_seeds_are_paired_in_any_order(course):
    v = course.verdicts
    base = np.arange(10.0) * 3  # a large per-seed effect, shared by both sides
    shift = 0.5 + 0.1 * _runs(seed=3)
    a, b = base, base + shift
    seeds = list(range(10))
    welch = v.better("", v.estimate(a), v.estimate(b), ("a", "b"))
    assert welch.state == v.UNSHOWN  # the seed effect hides the shift from Welch's t
    order = seeds[::-1]  # the same seeds, listed in another order
    pa = v.estimate(a, seeds)
    pb = v.estimate(b[order], order)
    part = v.better("", pa, pb, ("a", "b"))
    assert part.state == v.HOLDS and "(paired t)" in part.evidence
    ci = sp.ttest_rel(a, b).confidence_interval(0.95)  # a - b, pair by pair
    d = v.difference(pa, pb)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))


def test_losses_compare_as_a_ratio_of_geometric_means(course):
    v = course.verdicts
    a = np.exp(_runs(seed=4) - 1.0)  # log-normal losses, a about e^-1 of b
    b = np.exp(_runs(seed=5))
    d = v.difference(v.estimate(a), v.estimate(b), log=True)
    ci = sp.ttest_ind(np.log(a), np.log(b), equal_var=False).confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((math.exp(ci.low), math.exp(ci.high)))
    assert d.estimate == pytest.approx(sp.gmean(a) / sp.gmean(b))
    part = v.better("", v.estimate(a), v.estimate(b), ("a", "b"), log=True)
    assert part.state == (v.HOLDS if ci.high < 0 else v.UNSHOWN) and "on the logs" in part.evidence


def test_no_better_within_a_margin(course):
    v = course.verdicts
    x = _runs(seed=6)
    same = v.estimate(x)
    a = v.estimate(x + 0.01 * _runs(seed=7))  # a tie, tightly paired... but unpaired here
    tie = v.no_better("", a, same, ("a", "b"), margin=2.0)
    # A's advantage (b - a, lower is better) has an interval inside (-inf, 2): no better
    d = v.difference(a, same)
    assert -d.high < 2.0 and tie.state == v.HOLDS
    assert v.no_better("", a, same, ("a", "b"), margin=0.01).state == v.UNSHOWN
    ahead = v.estimate(x - 5.0)  # five lower: better by far more than the margin
    assert v.no_better("", ahead, same, ("a", "b"), margin=1.0).state == v.REFUTED


def test_beyond_is_the_one_sample_t_interval(course):
    v = course.verdicts
    acc = 0.55 + 0.05 * _runs(seed=8)
    ci = sp.ttest_1samp(acc, 0.5).confidence_interval(0.95)  # of the mean itself
    part = v.beyond("", v.estimate(acc), 0.5, ("acc", "chance"), lower=False)
    expected = v.HOLDS if ci.low > 0.5 else v.REFUTED if ci.high < 0.5 else v.UNSHOWN
    assert part.state == expected and "(one-sample t)" in part.evidence
    shown = v.stats.interval(acc.mean() - 0.5, ci.low - 0.5, ci.high - 0.5)  # acc - chance
    assert f"{shown} (one-sample t)" in part.evidence
    below = v.beyond("", v.estimate(acc - 0.2), 0.5, ("acc", "chance"), lower=False)
    assert below.state == v.REFUTED


def test_matches_when_the_interval_lies_within_ten_percent(course):
    v = course.verdicts
    tight = 10.0 + 0.1 * _runs(seed=9)
    assert v.matches("", v.estimate(tight), 10.0).state == v.HOLDS
    assert v.matches("", v.estimate(tight + 2.0), 10.0).state == v.REFUTED  # 20% off
    wide = 10.0 + 3.0 * _runs(seed=9)  # its interval reaches past ±10% on both sides
    assert v.matches("", v.estimate(wide), 10.0).state == v.UNSHOWN


def test_every_is_refuted_by_one_run(course):
    v = course.verdicts
    ten = [1.0] * 10
    assert v.every("", ten, lambda a: a >= 1.0, "reach").state == v.HOLDS
    part = v.every("", [1.0, 0.99, 1.0], lambda a: a >= 1.0, "reach 100%")
    assert part.state == v.REFUTED and part.evidence == "2 of 3 runs reach 100%"
    assert v.every("", [1.0] * 3, lambda a: a >= 1.0, "reach").state == v.UNSHOWN


def test_a_claims_verdict_is_built_from_its_parts(course):
    v = course.verdicts
    yes, no = v.computed("", True, ""), v.computed("", False, "")
    maybe = v.Part("", v.UNSHOWN, "")
    assert v.verdict([yes, yes]) == "holds"
    assert v.verdict([no, no]) == "refuted"
    assert v.verdict([maybe, maybe]) == "not shown at this n"
    assert v.verdict([yes, no, maybe, yes]) == "partly (2 hold, 1 refuted, 1 not shown)"
    assert v.verdict([]) == "pending"
    assert v.combined([v.HOLDS, v.UNSHOWN]) == v.UNSHOWN
    assert v.combined([v.HOLDS, v.REFUTED, v.UNSHOWN]) == v.REFUTED


# ---------------------------------------------------------------- the seeds' errors, recomputed


def test_every_seed_error_is_confirmed_by_its_computation(course):
    errors = course.errors
    assert [e.number for e in errors.SEED_ERRORS] == list(range(1, 15))
    for e in errors.SEED_ERRORS:
        assert errors.compute(e.number).confirmed, e.number


def test_seed_error_numbers_against_hand_counts(course):
    errors = course.errors
    # [in, *hidden, out]: sum over layers of fan_in * fan_out + fan_out
    assert errors.params(4, [4, 4], 4) == 3 * (16 + 4) == 60
    assert errors.params(4, [8, 8], 4) == (32 + 8) + (64 + 8) + (32 + 4) == 148
    assert errors.params(4, [63], 4) == (4 * 63 + 63) + (63 * 4 + 4) == 571
    assert errors.params(4, [4, 4, 4], 4) == 80
    assert (errors.params(1, [4, 4, 4], 1), errors.params(1, [8], 1)) == (8 + 20 + 20 + 5, 16 + 9)
    assert [errors.regions_bound(n, 4) for n in (2, 3, 8, 16)] == [4, 8, 163, 2517]
    assert errors.regions_bound(16, 2) == 1 + 16 + 120
    assert (
        "**2.45×**" in errors.compute(2).right
    )  # sqrt(2 / fan_in) over 1 / sqrt(3 fan_in) = sqrt(6)
    assert "**8**" in errors.compute(12).right and "= 10" in errors.compute(12).right


def test_zigzag_layers_fold_three_times_each(course):
    from mlplab.diagnostics import linear_regions

    line = ((torch.arange(6000) + 0.5) / 6000)[:, None]
    net = course.errors.zigzag(3, 2)
    assert linear_regions(net, line) == 9
    with torch.no_grad():  # maps [0, 1] onto itself: 3x on the first third, 2 - 3x on the second
        out = net(torch.tensor([[0.0], [1 / 3], [0.5], [1.0]]))[:, 0]
    assert torch.allclose(net[:2](torch.tensor([[0.2]])), torch.tensor([[0.2, 0.0, 0.0]]))
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


@pytest.mark.parametrize("k", [1, 3, 6])
def test_tent_network_is_the_sawtooth_exactly(course, k):
    from mlplab.diagnostics import linear_regions

    net = course.depth.tent_network(k)
    x = torch.linspace(0, 1, 4097)[:, None]
    with torch.no_grad():
        y = net(x)[:, 0]
    assert torch.allclose(y, 1 - torch.abs(torch.remainder(2**k * x[:, 0], 2) - 1), atol=1e-5)
    assert linear_regions(net, ((torch.arange(20000) + 0.5) / 20000)[:, None]) == 2**k
    assert sum(p.numel() for p in net.parameters()) == 4 + 6 * (k - 1) + 3


def test_hand_set_xor_network_solves_xor(course):
    out = course.representation.hand_set_xor()
    assert ((out > 0.5).float() == torch.tensor([0.0, 1, 1, 0])).all()


# ---------------------------------------------------------------- figures


def test_a_subtitle_says_only_what_is_drawn_and_on_which_panel(course):
    import seedcourse.figures as figures

    runs = pd.DataFrame(
        {
            "epoch": [0, 1] * 4,
            "run_dir": ["a", "a", "b", "b"] * 2,
            "loss": [1.0, 0.5, 2.0, 0.25] * 2,
            "k": ["x"] * 4 + ["y"] * 4,
        }  # fmt: skip
    )
    fig, axes = figures.panels(2)
    assert figures.subtitle(fig) == ""  # nothing drawn, nothing said
    figures.curves(axes[0], runs, "loss", "k", log=True)
    assert figures.subtitle(fig) == figures.SAYS["log curves"]
    figures.curves(axes[1], runs, "loss", "k")
    assert figures.subtitle(fig) == (
        f"left: {figures.SAYS['log curves']}; right: {figures.SAYS['curves']}"
    )
    # the log band is the geometric mean's: at epoch 1, sqrt(0.5 * 0.25), not 0.375
    line = axes[0].get_lines()[0]
    assert line.get_ydata()[1] == pytest.approx(math.sqrt(0.5 * 0.25))
    figures.plt.close(fig)


# ---------------------------------------------------------------- the page on fake results


def fake_sweep(folder, losses: dict[str, list[float]]):
    """A sweep folder as mlplab writes one: results.csv and each job's history.csv."""
    rows = []
    for hidden, values in losses.items():
        for seed, final in enumerate(values):
            run_dir = f"hidden={hidden},seed={seed}"
            (folder / run_dir).mkdir(parents=True)
            history = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [1.0, 0.5, final]})
            history.to_csv(folder / run_dir / "history.csv", index=False)
            rows.append(
                {
                    "status": "completed",
                    "hidden": hidden,
                    "seed": seed,
                    "train_loss": final,
                    "run_dir": run_dir,
                }
            )
    rows.append(
        {
            "status": "diverged",
            "hidden": "[2]",
            "seed": 9,
            "train_loss": np.nan,
            "run_dir": "hidden=[2],seed=9",
        }
    )
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)


def test_sweep_reads_means_histories_and_skips_failed_runs(course, tmp_path):
    fake_sweep(tmp_path / "toy", {"[2]": [0.3, 0.32, 0.28], "[16]": [0.01, 0.02, 0.03]})
    sweep = course.sweeps.Sweep(tmp_path / "toy", seconds=1.5)
    e = sweep.est("train_loss", hidden="[2]")
    assert (e.n, round(e.mean, 6)) == (3, 0.3)  # the diverged run is left out
    assert len(sweep.rows(completed=False, hidden="[2]")) == 4
    assert sweep.at_epoch("train_loss", 1, hidden="[16]").mean == 0.5
    assert sorted(sweep.per_run_at("train_loss", 2, hidden="[16]")) == [0.01, 0.02, 0.03]


def test_page_renders_summary_errors_and_sections_from_fake_results(course, tmp_path):
    narrow = [0.30 + 0.01 * (i % 3) for i in range(10)]
    wide = [0.02 + 0.001 * (i % 4) for i in range(10)]
    fake_sweep(tmp_path / "toy", {"[2]": narrow, "[16]": wide})
    v, exp, page = course.verdicts, course.experiment, course.page

    def analyse(sweeps):
        s = sweeps["toy"]
        w, n = s.est("train_loss", hidden="[16]"), s.est("train_loss", hidden="[2]")
        parts = [
            v.better("wide beats narrow", w, n, ("[16]", "[2]"), log=True),
            v.better("narrow beats wide", n, w, ("[2]", "[16]"), log=True),
            v.Part("a part the data leave open", v.UNSHOWN, "needs more runs"),
        ]
        return exp.Finding(
            parts, f"wide {w.text()}", exp.table([{"hidden": "[16]", "loss": exp.cell(w)}])
        )

    toy = exp.Experiment(
        "E1",
        "A toy",
        "000",
        "“wider is better”",
        "w=16: 0.0005",
        ("toy",),
        analyse,
        short_claim="wider is better",
        errors=(6,),
    )
    sweeps = {"toy": course.sweeps.Sweep(tmp_path / "toy", seconds=2.0)}
    done = page.Outcome(toy, finding=analyse(sweeps), sweeps=[sweeps["toy"]], figure="E1.png")
    waiting = page.Outcome(
        exp.Experiment(
            "E22",
            "Later",
            "001",
            "“cross-validate”",
            "none",
            ("cross_validation",),
            analyse,
            short_claim="cv",
        ),
        pending="needs dataset.folds.",
    )
    text = page.render([done, waiting], "Made in a test.", quick=False)
    w = v.estimate(wide)
    # the summary's ± is the 95% t interval's half-width: 0.0015 +- t(9) * std / sqrt(10)
    half = sp.t.ppf(0.975, 9) * np.std(wide, ddof=1) / math.sqrt(10)
    said = v.stats.plus_minus(np.mean(wide), half)
    assert w.text() == f"{said} (n=10)"
    summary = "| [E1](#e1) | A toy | wider is better | wide {} (n=10) | **{}** |"
    assert summary.format(said, "partly (1 hold, 1 refuted, 1 not shown)") in text
    assert "| [E22](#e22) | Later | cv | — | **pending** |" in text
    assert "**Verdict: partly (1 hold, 1 refuted, 1 not shown).**" in text
    assert f"- ✅ wide beats narrow — [16] {said} (n=10), [2] " in text
    assert "(paired t on the logs)" in text  # both sides ran seeds 0..9
    assert "- ❌ narrow beats wide" in text and "- ❔ a part the data leave open" in text
    assert "`mlplab-run -m experiment=toy` (21 jobs, 2 s)" in text
    assert "![E1](figures/E1.png)" in text and "(6) The seed says" in text
    assert "**Pending:** needs dataset.folds." in text and "--quick" not in text
    assert "three states" in text  # the criterion, once
    errors = text[text.index("## The seeds' errors") : text.index('<a id="e1">')]
    assert errors.count("\n| ") == 2 + 14  # header, rule, one row per error
    assert "**no**" not in errors  # every error confirmed by its computation


# ---------------------------------------------------------------- the pending sections, on fake results
# E15 and E22 wait for knobs another issue adds; their analyses run here on made-up tables.


def write_runs(folder, rows: list[dict], epochs: int = 0) -> None:
    """results.csv from ``rows`` and, with ``epochs``, a history.csv per run (its final numbers)."""
    for i, row in enumerate(rows):
        row.setdefault("status", "completed")
        row["run_dir"] = f"job{i}"
        if epochs:
            (folder / row["run_dir"]).mkdir(parents=True)
            steps = np.linspace(0, 1, epochs + 1)
            pd.DataFrame(
                {
                    "epoch": range(epochs + 1),
                    "train_acc": 0.5 + steps * (row["train_acc"] - 0.5),
                    "train_loss": 0.7 - 0.6 * steps,
                }
            ).to_csv(folder / row["run_dir"] / "history.csv", index=False)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)


def cv_rows(error) -> list[dict]:
    """20 data draws x 5 folds whose validation accuracy misses a test accuracy of 0.8 by
    ``error(draw, fold)``."""
    return [
        {
            "dataset.seed": d,
            "dataset.fold": f,
            "seed": 0,
            "n_train": 160,
            "test_acc": 0.8,
            "val_acc": 0.8 + error(d, f),
        }  # fmt: skip
        for d in range(20)
        for f in range(5)
    ]


def test_cross_validation_analysis_on_fake_folds(course, tmp_path):
    # fold 0 misses by 0.1 (+-, by draw), the other four by a quarter of that the other
    # way: one split's |error| is 0.1, the 5-fold mean's 0 (by hand)
    def swing(d, f):
        e = 0.1 * (1 + 0.01 * d) * (-1) ** d
        return e if f == 0 else -e / 4

    write_runs(tmp_path / "cross_validation", cv_rows(swing))
    finding = course.tabular.e22(
        {"cross_validation": course.sweeps.Sweep(tmp_path / "cross_validation")}
    )
    one, closer = finding.parts
    assert one.holds and closer.holds and "(paired t)" in closer.evidence
    assert "RMS of estimate − reference" in finding.table and "| 0.0 points | 20 |" in finding.table
    finding.figure(tmp_path / "E22.png")
    assert (tmp_path / "E22.png").stat().st_size > 10_000

    # the other folds miss by 20% more or less than fold 0, by turns: the 5-fold mean is as
    # often closer as farther, and "closer" is not shown either way
    def tie(d, f):
        e = 0.05 * (-1) ** d
        return e if f == 0 else e * (1 + 0.2 * (-1) ** (d // 2))

    write_runs(tmp_path / "tie" / "cross_validation", cv_rows(tie))
    even = course.tabular.e22(
        {"cross_validation": course.sweeps.Sweep(tmp_path / "tie" / "cross_validation")}
    )
    assert even.parts[0].holds  # 5 points off, beyond the 2-point margin
    assert even.parts[1].state == course.verdicts.UNSHOWN


def test_mse_against_bce_analysis_on_fake_runs(course, tmp_path):
    # BCE at its matched rate (1.0) ends above MSE at its matched rate (2.0); the unmatched
    # pairs are set the other way round, so reading the wrong rate flips the parts
    final = {("bce", 1.0): 0.99, ("mse", 2.0): 0.9, ("bce", 2.0): 0.8, ("mse", 1.0): 0.995}
    rows = [
        {
            "loss": loss,
            "lr": lr,
            "init": init,
            "model.init_std": std,
            "seed": s,
            "train_acc": acc - 0.001 * s,
        }  # fmt: skip
        for (loss, lr), acc in final.items()
        for init, std in (("he_normal", 0.01), ("normal", 1.0))
        for s in range(10)
    ]
    write_runs(tmp_path / "mse_vs_bce", rows, epochs=500)
    finding = course.training.e15({"mse_vs_bce": course.sweeps.Sweep(tmp_path / "mse_vs_bce")})
    computed, faster, saturated = finding.parts
    assert computed.holds and "MSE -0.0196, BCE -0.9900" in computed.evidence  # 2(p-1)p(1-p), p-1
    assert faster.holds and saturated.holds and "(paired t)" in faster.evidence
    # history rises linearly from 0.5: at epoch 100 of 500, 0.5 + 0.2 * (final - 0.5), and
    # the finals average 0.99 - 0.0045 and 0.9 - 0.0045; every pair differs by exactly 1.8
    assert "BCE 59.710 ± 0.043 points" in faster.evidence and "MSE 57.910 ± " in faster.evidence
    assert "BCE − MSE = +1.8 points [+1.8, +1.8] (paired t)" in faster.evidence
    finding.figure(tmp_path / "E15.png")
    assert (tmp_path / "E15.png").is_file()
