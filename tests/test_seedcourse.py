"""The seed course's machinery (scripts/seedcourse): the verdict rules on made-up numbers, the
seeds' errors against hand counts, the hand-set networks, and the page on small fake results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
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


def test_better_wins_ties_and_losses(course):
    v = course.verdicts
    low, high = v.estimate([1.0, 1.1, 0.9, 1.0, 1.0]), v.estimate([2.0, 2.1, 1.9, 2.0, 2.0])
    noisy = v.estimate([0.5, 2.5, 1.0, 2.0, 1.5])
    assert v.better("", low, high, ("a", "b")).holds  # a clear win (lower is better)
    assert not v.better("", low, noisy, ("a", "b")).holds  # a tie: within the spread
    assert not v.better("", high, low, ("a", "b")).holds  # a loss
    assert v.better("", high, low, ("a", "b"), lower=False).holds  # higher is better


def test_better_needs_more_than_two_standard_errors_exactly(course):
    v = course.verdicts
    # each mean has SE sqrt(2.5 / 5) = 0.7071; the difference's SE is 1.0 and the gap is 2.0
    a, b = v.estimate([1, 2, 3, 4, 5]), v.estimate([3, 4, 5, 6, 7])
    assert not v.better("", a, b, ("a", "b")).holds  # 2.0 is not more than 2 x 1.0
    c = v.estimate([3.01, 4.01, 5.01, 6.01, 7.01])
    assert v.better("", a, c, ("a", "b")).holds
    part = v.better("claim", a, b, ("a", "b"))
    assert "a is 2 lower (2 SE = 2)" in part.evidence and part.claim == "claim"


def test_no_better_is_the_negation_of_better_with_enough_runs(course):
    v = course.verdicts
    low, high = v.estimate([1.0, 1.1, 0.9, 1.0, 1.0]), v.estimate([2.0, 2.1, 1.9, 2.0, 2.0])
    assert not v.no_better("", low, high, ("a", "b")).holds  # a wins: it is better
    assert v.no_better("", low, low, ("a", "b")).holds  # a tie
    assert v.no_better("", high, low, ("a", "b")).holds  # a loses
    one = v.estimate([1.0])
    assert not v.no_better("", one, high, ("a", "b")).holds  # one run decides nothing


def test_beyond_compares_with_a_fixed_number(course):
    v = course.verdicts
    assert v.beyond(
        "", v.estimate([0.8, 0.82, 0.78, 0.8]), 0.5, ("acc", "chance"), lower=False
    ).holds
    assert not v.beyond(
        "", v.estimate([0.3, 0.7, 0.5, 0.6]), 0.5, ("acc", "chance"), lower=False
    ).holds
    assert not v.beyond(
        "", v.estimate([0.2, 0.21, 0.19]), 0.5, ("acc", "chance"), lower=False
    ).holds


def test_matches_within_two_se_or_ten_percent(course):
    v = course.verdicts
    assert v.matches("", v.estimate([9.0, 11.0, 10.0, 12.0, 8.0]), 10.0).holds  # on the mean
    assert v.matches("", v.estimate([10.9, 10.9, 10.9]), 10.0).holds  # 9% off, no spread
    assert not v.matches("", v.estimate([12.0, 12.1, 11.9]), 10.0).holds  # 20% off, tight
    assert v.matches("", v.estimate([5.0, 20.0, 8.0, 15.0]), 10.0).holds  # wide: within 2 SE


def test_every_needs_each_run_and_at_least_two(course):
    v = course.verdicts
    assert v.every("", [1.0, 1.0, 1.0], lambda a: a >= 1.0, "reach").holds
    part = v.every("", [1.0, 0.99, 1.0], lambda a: a >= 1.0, "reach 100%")
    assert not part.holds and part.evidence == "2 of 3 runs reach 100%"
    assert not v.every("", [1.0], lambda a: a >= 1.0, "reach").holds


def test_verdict_holds_partly_does_not_hold(course):
    v = course.verdicts
    yes, no = v.computed("", True, ""), v.computed("", False, "")
    assert v.verdict([yes, yes]) == "holds"
    assert v.verdict([yes, no]) == "partly"
    assert v.verdict([no, no]) == "does not hold"
    assert v.verdict([]) == "pending"


# ---------------------------------------------------------------- the seeds' errors, recomputed


def test_every_seed_error_is_confirmed_by_its_computation(course):
    errors = course.errors
    assert [e.number for e in errors.SEED_ERRORS] == list(range(1, 14))
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
    fake_sweep(tmp_path / "toy", {"[2]": [0.3, 0.32, 0.28], "[16]": [0.01, 0.02, 0.03]})
    v, exp, page = course.verdicts, course.experiment, course.page

    def analyse(sweeps):
        s = sweeps["toy"]
        wide, narrow = s.est("train_loss", hidden="[16]"), s.est("train_loss", hidden="[2]")
        parts = [
            v.better("wide beats narrow", wide, narrow, ("[16]", "[2]")),
            v.better("narrow beats wide", narrow, wide, ("[2]", "[16]")),
        ]
        return exp.Finding(
            parts, f"wide {wide.text()}", exp.table([{"hidden": "[16]", "loss": exp.cell(wide)}])
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
    assert "| [E1](#e1) | A toy | wider is better | wide 0.02 ± 0.01 (n=3) | **partly** |" in text
    assert "| [E22](#e22) | Later | cv | — | **pending** |" in text
    assert "## E1 — A toy (seed 000)" in text and "**Verdict: partly.**" in text
    assert "- ✅ wide beats narrow — [16] 0.02 ± 0.01 (n=3) against [2] 0.3 ± 0.02 (n=3)" in text
    assert "- ❌ narrow beats wide" in text
    assert "`mlplab-run -m experiment=toy` (7 jobs, 2 s)" in text
    assert "![E1](figures/E1.png)" in text and "(6) The seed says" in text
    assert "**Pending:** needs dataset.folds." in text and "--quick" not in text
    errors = text[text.index("## The seeds' errors") : text.index('<a id="e1">')]
    assert errors.count("\n| ") == 2 + 13  # header, rule, one row per error
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


def cv_rows(fold_value) -> list[dict]:
    return [
        {"dataset.seed": d, "dataset.fold": f, "val_acc": fold_value(d, f)}
        for d in range(20)
        for f in range(5)
    ]


def test_cross_validation_analysis_on_fake_folds(course, tmp_path):
    # fold 0 swings +-0.1 from shuffle to shuffle while fold 1 swings the other way:
    # one split varies (std 0.1026, by hand), the 5-fold mean does not (std 0)
    swing = cv_rows(lambda d, f: 0.9 + 0.1 * (-1) ** d * (f == 0) - 0.1 * (-1) ** d * (f == 1))
    write_runs(tmp_path / "cross_validation", swing)
    finding = course.tabular.e22(
        {"cross_validation": course.sweeps.Sweep(tmp_path / "cross_validation")}
    )
    assert "one split 0.103, 5-fold 0.000" in finding.headline and finding.parts[0].holds
    assert finding.table.count("\n") == 2 + 20 - 1  # header, rule, a row per shuffle
    finding.figure(tmp_path / "E22.png")
    assert (tmp_path / "E22.png").stat().st_size > 10_000
    # every fold moves with its shuffle: one split is as good as five, a tie
    together = cv_rows(lambda d, f: 0.9 + 0.05 * (-1) ** d)
    write_runs(tmp_path / "tie" / "cross_validation", together)
    tie = course.tabular.e22(
        {"cross_validation": course.sweeps.Sweep(tmp_path / "tie" / "cross_validation")}
    )
    assert not tie.parts[0].holds


def test_mse_against_bce_analysis_on_fake_runs(course, tmp_path):
    rows = []
    for loss, acc in (("bce", 0.99), ("mse", 0.9)):
        for init, std in (("he_normal", 0.01), ("normal", 1.0)):
            rows += [
                {
                    "loss": loss,
                    "init": init,
                    "model.init_std": std,
                    "seed": s,
                    "train_acc": acc - 0.01 * s,
                }
                for s in range(5)
            ]
    write_runs(tmp_path / "mse_vs_bce", rows, epochs=500)
    finding = course.training.e15({"mse_vs_bce": course.sweeps.Sweep(tmp_path / "mse_vs_bce")})
    computed, faster, saturated = finding.parts
    assert computed.holds and "MSE -0.0196, BCE -0.9900" in computed.evidence  # 2(p-1)p(1-p), p-1
    assert faster.holds and saturated.holds  # BCE's made-up accuracies are higher
    finding.figure(tmp_path / "E15.png")
    assert (tmp_path / "E15.png").is_file()
