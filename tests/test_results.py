"""mlplab.results as units: identities, what a folder can stand for, the tables' helpers.

The end-to-end tests (tests/test_sweep.py) run these through the real command; here each
rule is held on its own, on files written by hand.
"""

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from mlplab.lifecycle import Job, record_jobs
from mlplab.results import (
    NOT_KNOBS,
    RESULT_FILE,
    STALE_DIR,
    collect,
    identity,
    jsonable,
    move_aside,
    natural_key,
    reusable,
    summarize_sweep,
    write_json,
)

CONFIG = {"model.hidden": [8], "optimizer.lr": 0.01, "seed": 0}


def test_identity_is_what_reaches_training_and_the_data():
    base = identity(CONFIG, None)
    # the keys that do not reach training leave it as it is
    for key in NOT_KNOBS:
        assert identity({**CONFIG, key: "anything"}, None) == base, key
    # a knob, or the data file's content, makes another one
    assert identity({**CONFIG, "optimizer.lr": 0.02}, None) != base
    assert identity(CONFIG, "fingerprint-a") != identity(CONFIG, "fingerprint-b") != base
    assert identity(dict(reversed(CONFIG.items())), None) == base  # key order does not matter


@pytest.mark.parametrize(
    "status, stored, data, expected",
    [
        ("completed", "same", None, "complete"),
        ("pruned", "same", None, "complete"),  # a search stopped it: finished
        ("completed", "other", None, "stale"),
        ("failed", "same", None, None),  # runs again, no folder to keep
        ("diverged", "same", None, None),
        ("completed", None, None, "complete"),  # from before identities: its config decides
        ("completed", None, "fingerprint", "stale"),  # ... but its data cannot be told
    ],
)
def test_a_folder_stands_for_a_job_only_when_finished_under_its_identity(
    tmp_path, status, stored, data, expected
):
    ident = identity(CONFIG, data)
    result = {"status": status, "config": CONFIG}
    if stored is not None:
        result["identity"] = ident if stored == "same" else "0" * 20
    write_json(tmp_path / RESULT_FILE, result)
    found, got = reusable(tmp_path, ident, data)
    assert found == expected and (got is None) == (expected is None)
    assert reusable(tmp_path / "missing", ident, data) == (None, None)


def test_moving_aside_never_overwrites_an_earlier_stale_folder(tmp_path):
    sweep = tmp_path / "sweep"
    moved = []
    for n in range(3):
        job = sweep / "lr=0.1"
        job.mkdir(parents=True)
        (job / "history.csv").write_text(f"run {n}\n")
        moved.append(move_aside(job, sweep))
        assert not job.exists()
    assert [p.parent.name for p in moved] == [STALE_DIR] * 3 and len(set(moved)) == 3
    assert sorted((p / "history.csv").read_text() for p in moved) == [
        f"run {n}\n" for n in range(3)
    ]
    # copy: the folder stays for a new run, without the result that made it complete
    job = sweep / "lr=0.2"
    job.mkdir()
    write_json(job / RESULT_FILE, {"status": "completed"})
    kept = move_aside(job, sweep, copy=True)
    assert (kept / RESULT_FILE).is_file() and not (job / RESULT_FILE).exists()


def test_jsonable_stores_nan_and_inf_as_null():
    assert jsonable({"a": [1.0, math.nan], "b": {"c": math.inf}}) == {
        "a": [1.0, None],
        "b": {"c": None},
    }


@pytest.mark.parametrize(
    "values, ordered",
    [
        (["[16]", "[4]", "[8,8]", "[2]"], ["[2]", "[4]", "[16]", "[8,8]"]),
        (["0.1", "0.003", "1e-4"], ["1e-4", "0.003", "0.1"]),
        (["tanh", "relu", "gelu"], ["gelu", "relu", "tanh"]),
    ],
)
def test_natural_key_orders_numbers_by_value_and_widths_by_depth_then_size(values, ordered):
    assert sorted(values, key=natural_key) == ordered


def test_the_summary_is_the_mean_std_and_t_interval_over_seeds_of_completed_runs():
    rows = [
        {"hidden": "[4]", "seed": s, "status": "completed", "val_acc": v}
        for s, v in enumerate([0.80, 0.85, 0.90])
    ] + [
        {"hidden": "[4]", "seed": 3, "status": "failed", "val_acc": None},
        {"hidden": "[4]", "seed": 4, "status": "pruned", "val_acc": 0.5},
        {"hidden": "[8]", "seed": 0, "status": "completed", "val_acc": 0.95},
    ]  # fmt: skip
    summary = summarize_sweep(pd.DataFrame(rows)).set_index("hidden")
    four = pd.Series([0.80, 0.85, 0.90])
    assert summary.at["[4]", "val_acc_mean"] == pytest.approx(four.mean())
    assert summary.at["[4]", "val_acc_std"] == pytest.approx(four.std())
    half = sp.t.ppf(0.975, 2) * four.std() / math.sqrt(3)  # scipy's t, by hand
    assert summary.at["[4]", "val_acc_ci95"] == pytest.approx(half)
    # the failed run counts as failed; the pruned one neither in the means nor as failed
    assert summary.at["[4]", "n"] == 3 and summary.at["[4]", "n_failed"] == 1
    assert summary.at["[8]", "n"] == 1 and pd.isna(summary.at["[8]", "val_acc_ci95"])


def _summary_by_loop(results: pd.DataFrame) -> pd.DataFrame:
    """The summary computed the plain way, group by group and column by column."""
    from mlplab.results import FINISHED, REPEATS, TEXT_COLUMNS, is_knob
    from mlplab.stats import half_width

    keys = [c for c in results.columns if is_knob(c) and c not in REPEATS]
    outcomes = [c for c in results.columns if not is_knob(c) and c not in TEXT_COLUMNS
                and c not in ("best_epoch", "trial") and pd.api.types.is_numeric_dtype(results[c])]  # fmt: skip
    done = results["status"] == "completed"
    rows = []
    by = [results[k].astype(str) for k in keys]
    for _, block in results.groupby(by, sort=False, dropna=False):
        ok = block[done.loc[block.index]]
        row = block.iloc[0][keys].to_dict()
        for c in outcomes:
            row[f"{c}_mean"] = ok[c].astype(float).mean() if len(ok) else None
            row[f"{c}_std"] = ok[c].astype(float).std() if len(ok) > 1 else None
            count = int(ok[c].notna().sum())
            row[f"{c}_ci95"] = half_width(row[f"{c}_std"], count) if count > 1 else None
        row["n"] = len(ok)
        row["n_failed"] = int((~block["status"].isin(FINISHED)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_summary_is_what_a_loop_over_groups_gives():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        status = rng.choice(["completed"] * 6 + ["failed", "pruned", "diverged"])
        rows.append({
            "hidden": rng.choice(["[4]", "[8, 8]", "[16]"]),
            "optimizer.lr": rng.choice([0.1, 0.01, np.nan]),  # a knob some jobs lack
            "seed": i,
            "status": status,
            "val_acc": None if status == "failed" or rng.random() < 0.1 else rng.random(),
            "params": int(rng.integers(10, 100)),
            "stopped_early": bool(rng.random() < 0.5),
        })  # fmt: skip
    rows.append({"hidden": "[32]", "optimizer.lr": 0.1, "seed": 0, "status": "failed",
                 "val_acc": None, "params": 5, "stopped_early": False})  # a group with none done  # fmt: skip
    results = pd.DataFrame(rows)
    fast, plain = summarize_sweep(results), _summary_by_loop(results)
    assert list(fast.columns) == list(plain.columns)
    assert len(fast) == 10  # 3 widths x (2 lrs and none), and the failed [32]
    pd.testing.assert_frame_equal(
        fast.astype(object).where(fast.notna(), None),
        plain.astype(object).where(plain.notna(), None),
        check_exact=False,
        rtol=1e-12,
    )
    # and as written: the same CSV to the last digit that is not rounding
    a = pd.read_csv(io.StringIO(fast.to_csv(index=False)))
    b = pd.read_csv(io.StringIO(plain.to_csv(index=False)))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_collect_lists_a_recorded_job_without_a_result_as_incomplete(tmp_path):
    done = Job(0, ("seed=0",), tmp_path / "seed=0", {"seed": 0}, None)
    never = Job(1, ("seed=1",), tmp_path / "seed=1", {"seed": 1}, None)
    record_jobs(tmp_path, [done, never])
    write_json(done.run_dir / RESULT_FILE, {"status": "completed", "config": {"seed": 0},
                                            "overrides": ["seed=0"], "val_acc": 0.9})  # fmt: skip
    table = collect(tmp_path).set_index("seed")
    assert table.at[0, "status"] == "completed" and table.at[0, "val_acc"] == 0.9
    assert table.at[1, "status"] == "incomplete" and table.at[1, "overrides"] == "seed=1"
    lines = (tmp_path / "jobs.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_dir"] for line in lines] == ["seed=0", "seed=1"]
