"""Sweeps through the real command: tables, failures, fail_fast, kill + resume, aggregate, compare."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import run_cli

FAST = ["trainer.epochs=5", "hydra.sweep.dir=sweep"]


def read(tmp_path, name):
    return pd.read_csv(tmp_path / "sweep" / name)


def test_architecture_sweep_leaves_results_summary_and_plot(tmp_path):
    proc = run_cli(
        "-m",
        "model.hidden=[4],[16],[32],[8,8],[16,16]",
        "seed=0,1,2",
        "dataset=two_moons",
        *FAST,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    results, summary = read(tmp_path, "results.csv"), read(tmp_path, "summary.csv")
    assert len(results) == 15 and (results["status"] == "completed").all()
    assert len(summary) == 5 and (summary["n"] == 3).all()
    assert results["hidden"].tolist()[::3] == ["[4]", "[16]", "[32]", "[8,8]", "[16,16]"]
    by_hidden = results.groupby("hidden")
    assert by_hidden["depth"].first().to_dict() == {
        "[4]": 1,
        "[16]": 1,
        "[32]": 1,
        "[8,8]": 2,
        "[16,16]": 2,
    }
    assert by_hidden["width"].first().to_dict() == {
        "[4]": 4,
        "[16]": 16,
        "[32]": 32,
        "[8,8]": 8,
        "[16,16]": 16,
    }
    assert by_hidden["params"].first().to_dict() == {
        "[4]": 17,
        "[16]": 65,
        "[32]": 129,
        "[8,8]": 105,
        "[16,16]": 337,
    }
    for column in (
        "dataset",
        "activation",
        "init",
        "optimizer",
        "lr",
        "seed",
        "val_acc",
        "best_val_acc",
        "epochs_run",
        "seconds",
        "error",
        "run_dir",
    ):
        assert column in results.columns, column
    # summary = the results grouped over seeds, computed here a second way
    expected = by_hidden["val_acc"].agg(["mean", "std"])
    got = summary.set_index("hidden")
    for hidden, row in expected.iterrows():
        assert got.at[hidden, "val_acc_mean"] == pytest.approx(row["mean"])
        assert got.at[hidden, "val_acc_std"] == pytest.approx(row["std"])
    assert (tmp_path / "sweep" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    # the printed table and where the files are
    assert "val_acc %" in proc.stdout and "[16,16]" in proc.stdout and "results.csv" in proc.stdout
    # every job folder is named after its own overrides
    assert (
        tmp_path
        / "sweep"
        / "dataset=two_moons,model.hidden=[8,8],seed=2,trainer.epochs=5"
        / "result.json"
    ).is_file()


def test_an_impossible_grid_point_is_recorded_and_the_rest_complete(tmp_path):
    proc = run_cli(
        "-m", "model.hidden=[4],[0],[8]", "seed=0,1", "sweep.metric=train_loss", *FAST, cwd=tmp_path
    )
    assert proc.returncode == 1
    assert (
        "train_loss" in proc.stdout and "val_acc" not in proc.stdout
    )  # the table ranks by the chosen metric
    results = read(tmp_path, "results.csv")
    assert len(results) == 6
    bad = results[results["hidden"] == "[0]"]
    assert (bad["status"] == "failed").all() and len(bad) == 2
    assert bad["error"].str.contains("every width must be a positive integer, got 0").all()
    assert bad["overrides"].str.contains("model.hidden=\\[0\\]").all()
    assert (results[results["hidden"] != "[0]"]["status"] == "completed").all()
    assert "failed: model.hidden=[0]" in proc.stderr and "Traceback" not in proc.stderr
    summary = read(tmp_path, "summary.csv").set_index("hidden")
    assert summary.at["[0]", "n"] == 0 and summary.at["[0]", "n_failed"] == 2


def test_a_diverging_job_is_marked_diverged(tmp_path):
    proc = run_cli(
        "-m", "dataset=diag_flip", "optimizer=sgd", "optimizer.lr=0.05,1e6", *FAST, cwd=tmp_path
    )
    assert proc.returncode == 1
    results = read(tmp_path, "results.csv").set_index("lr")
    assert results.at[1e6, "status"] == "diverged" and "non-finite loss" in results.at[1e6, "error"]
    assert results.at[0.05, "status"] == "completed"


def test_fail_fast_stops_launching_after_the_first_failure(tmp_path):
    proc = run_cli("-m", "model.hidden=[0],[4],[8]", "sweep.fail_fast=true", *FAST, cwd=tmp_path)
    assert proc.returncode == 1 and "fail_fast: stopped after model.hidden=[0]" in proc.stderr
    results = read(tmp_path, "results.csv")  # the jobs never launched are listed, to re-run
    assert results["hidden"].tolist() == ["[0]", "[4]", "[8]"]
    assert results["status"].tolist() == ["failed", "incomplete", "incomplete"]
    assert not (tmp_path / "sweep" / "model.hidden=[4],trainer.epochs=5").exists()
    # without fail_fast, the same sweep resumes and runs the rest
    proc = run_cli("-m", "model.hidden=[0],[4],[8]", *FAST, cwd=tmp_path)
    assert len(read(tmp_path, "results.csv")) == 3


def result_mtimes(sweep):
    return {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/result.json")}


def kill_when(proc, done, deadline=300):
    """SIGKILL the sweep once ``done()`` holds (polled; the test's condition, not a time)."""
    end = time.monotonic() + deadline
    while not done() and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.05)
    assert done(), "the sweep ended or stalled before the point it should be killed at"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize(
    "seeds, first, last, workers",
    [
        # One worker runs the plan in its order, the costliest stack first: the 8 jobs of
        # 2500 epochs, then the 8 of 1250. The kill lands once the first are written,
        # while the last still train (half the first's time; the poll takes 50 ms).
        ("range(8)", 2500, 1250, 1),
        # 2000 jobs on two workers: 1000 of 400 epochs (4 stacks, two per worker, dealt
        # first: the plan's order is its makespan's), then 1000 of 100 (4 stacks)
        ("range(1000)", 400, 100, 2),
    ],
)
def test_killed_sweep_aggregates_then_resumes_running_each_job_once(
    tmp_path, seeds, first, last, workers
):
    args = ["-m", f"seed={seeds}", f"trainer.epochs={first},{last}", "model.hidden=[2]",
            f"hydra.launcher.workers={workers}", "hydra.sweep.dir=sweep"]  # fmt: skip
    sweep = tmp_path / "sweep"
    n = 2 * len(range(*map(int, seeds[6:-1].split(","))))
    proc = subprocess.Popen([sys.executable, "-m", "mlplab", *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    first_done = lambda: sum(f"epochs={first}" in name for name in result_mtimes(sweep)) == n // 2  # noqa: E731
    kill_when(proc, first_done)
    done_before = result_mtimes(sweep)
    assert n // 2 <= len(done_before) < n, "the sweep should have been killed part-way"

    # mlplab-aggregate after the kill: the finished rows, the rest listed as incomplete
    agg = subprocess.run([sys.executable, "-c", "from mlplab.cli import aggregate; aggregate()", str(sweep)],
                         capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert agg.returncode == 1, agg.stderr
    partial = pd.read_csv(sweep / "results.csv")
    assert len(partial) == n and (partial["status"] == "completed").sum() == len(done_before)
    assert set(partial["status"]) == {"completed", "incomplete"}
    assert (
        partial.loc[partial["status"] == "incomplete", "overrides"]
        .str.contains(f"epochs={last}")
        .all()
    )

    first_history = {name: (sweep / name / "history.csv").read_bytes() for name in done_before}
    rerun = run_cli(*args, cwd=tmp_path, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} complete (skipped)" in rerun.stderr
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) == n and (results["status"] == "completed").all()
    after = result_mtimes(sweep)
    assert all(after[name] == mtime for name, mtime in done_before.items())  # untouched
    assert all(
        (sweep / name / "history.csv").read_bytes() == data for name, data in first_history.items()
    )


def test_rerunning_a_finished_sweep_changes_no_result(tmp_path):
    args = ["-m", "model.hidden=[4],[8]", *FAST]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    before = result_mtimes(tmp_path / "sweep")
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    assert result_mtimes(tmp_path / "sweep") == before


def test_default_sweep_folder_is_named_after_the_command(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[8]", "trainer.epochs=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    assert sweep.name == "model.hidden=[4],[8]__trainer.epochs=2"
    assert len(pd.read_csv(sweep / "results.csv")) == 2


def test_aggregate_metric_and_by_options_and_a_bad_metric(tmp_path):
    assert (
        run_cli(
            "-m", "model.hidden=[4],[8,8]", "model.activation=relu,tanh", *FAST, cwd=tmp_path
        ).returncode
        == 0
    )
    sweep = tmp_path / "sweep"
    before = (sweep / "results.csv").read_bytes()
    agg = [sys.executable, "-c", "from mlplab.cli import aggregate; aggregate()", str(sweep)]
    bad = subprocess.run(
        [*agg, "--metric", "val_acc_typo"], capture_output=True, text=True, cwd=tmp_path
    )
    assert (
        bad.returncode == 2
        and "Unknown --metric 'val_acc_typo'. Choose one of: auto," in bad.stderr
    )
    assert (
        len(bad.stderr.strip().splitlines()) == 1 and (sweep / "results.csv").read_bytes() == before
    )
    (sweep / "sweep.png").unlink()
    good = subprocess.run(
        [*agg, "--metric", "train_loss", "--by", "activation"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    assert "train_loss" in good.stdout and "val_acc" not in good.stdout
    # the three figures are drawn side by side in forked processes: each one is there
    for name in ("sweep.png", "curves.png", "layers.png"):
        assert (sweep / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    odd = subprocess.run([*agg, "--by", "nosuch"], capture_output=True, text=True, cwd=tmp_path)
    assert odd.returncode == 0 and (sweep / "results.csv").is_file()
    (warning,) = odd.stderr.strip().splitlines()  # one line, naming the knobs there are
    assert warning.startswith(
        "mlplab: warning: sweep figures skipped: Unknown sweep.plot_by 'nosuch'. "
        "Choose one of the knobs: hidden, activation, depth, width"
    ), odd.stderr


def test_aggregate_refuses_a_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "from mlplab.cli import aggregate; aggregate()", "nowhere"],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == "mlplab: error: SWEEP_DIR 'nowhere': no such folder."
    )


# ---------------------------------------------------------------- mlplab-compare


def compare(*args, cwd):
    return subprocess.run([sys.executable, "-c", "from mlplab.cli import compare; compare()", *args],
                          capture_output=True, text=True, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def two_sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    for act in ("relu", "tanh"):
        proc = run_cli(
            "-m",
            "model.hidden=[4],[8,8]",
            "seed=0,1",
            f"model.activation={act}",
            "trainer.epochs=5",
            f"hydra.sweep.dir={act}",
            cwd=root,
        )
        assert proc.returncode == 0, proc.stderr
    return root


def test_compare_joins_on_knobs_with_deltas(two_sweeps):
    out = two_sweeps / "cmp.csv"
    proc = compare("relu/summary.csv", "tanh/summary.csv", "--out", str(out), cwd=two_sweeps)
    assert proc.returncode == 0, proc.stderr
    joined = pd.read_csv(out).set_index("hidden")
    relu = pd.read_csv(two_sweeps / "relu/summary.csv").set_index("hidden")["val_acc_mean"]
    tanh = pd.read_csv(two_sweeps / "tanh/summary.csv").set_index("hidden")["val_acc_mean"]
    assert set(joined.index) == {"[4]", "[8,8]"}
    for h in joined.index:
        assert joined.at[h, "activation=relu"] == pytest.approx(relu[h])
        assert joined.at[h, "activation=tanh - activation=relu"] == pytest.approx(tanh[h] - relu[h])
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "activation=tanh - activation=relu" in proc.stdout


def test_compare_takes_sweep_folders_and_sorts_widths_as_numbers(tmp_path):
    for act in ("relu", "tanh"):
        made = run_cli("-m", "model.hidden=[16],[4],[8,8]", f"model.activation={act}",
                       "trainer.epochs=2", f"hydra.sweep.dir={act}", cwd=tmp_path)  # fmt: skip
        assert made.returncode == 0, made.stderr
    out = tmp_path / "cmp.csv"
    proc = compare("relu", "tanh", "--out", str(out), cwd=tmp_path)  # the folders
    assert proc.returncode == 0, proc.stderr
    joined = pd.read_csv(out)
    assert joined["hidden"].tolist() == ["[4]", "[16]", "[8,8]"]  # not "[16]" before "[4]"
    relu = pd.read_csv(tmp_path / "relu" / "summary.csv").set_index("hidden")["val_acc_mean"]
    assert joined.set_index("hidden")["activation=relu"].to_dict() == pytest.approx(relu.to_dict())


def test_compare_results_tables_on_seed_too(two_sweeps):
    proc = compare("relu/results.csv", "tanh/results.csv", "--metric", "train_loss", cwd=two_sweeps)
    assert proc.returncode == 0, proc.stderr
    assert "joined on: seed, hidden" in proc.stdout or "joined on: hidden" in proc.stdout


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory):
    """A known difference: 10 epochs at lr 0.03 against lr 0.0003, five seeds each; and the
    same lr 0.03 sweep again with only its timing on (the same runs: a known tie)."""
    root = tmp_path_factory.mktemp("decide")
    for name, extra in (("lr", ["optimizer.lr=0.0003,0.03"]),
                        ("again", ["optimizer.lr=0.03", "trainer.timing=true"])):  # fmt: skip
        proc = run_cli("-m", *extra, "seed=range(5)", "model.hidden=[8]", "trainer.epochs=10",
                       f"hydra.sweep.dir={name}", cwd=root)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    return root


def test_compare_decides_a_known_difference_paired_by_seed_with_its_interval(lr_sweep):
    from scipy import stats as sp

    out = lr_sweep / "by_lr.csv"
    proc = compare("lr", "--by", "lr", "--baseline", "0.0003", "--out", str(out), cwd=lr_sweep)
    assert proc.returncode == 0, proc.stderr
    row = pd.read_csv(out).iloc[0]
    runs = pd.read_csv(lr_sweep / "lr" / "results.csv").sort_values("seed")
    slow, fast = (runs[runs["lr"] == lr]["val_acc"].to_numpy() for lr in (0.0003, 0.03))
    ref = sp.ttest_rel(fast, slow).confidence_interval(0.95)  # paired: the same seeds
    name = "lr=0.03 - lr=0.0003"
    assert row[name] == pytest.approx(fast.mean() - slow.mean())
    assert (row[f"{name} low"], row[f"{name} high"]) == pytest.approx((ref.low, ref.high))
    assert row[f"{name} test"] == "paired" and ref.low > 0 and row[f"{name} decision"] == "higher"
    half = sp.t.ppf(0.975, 4) * fast.std(ddof=1) / 5**0.5
    assert row["lr=0.03 ci95"] == pytest.approx(half) and row["lr=0.03 n"] == 5
    assert "95% t intervals; differences" in proc.stdout and "higher" in proc.stdout
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    import mlplab  # the same from Python

    frame = mlplab.compare(lr_sweep / "lr", by="lr", baseline="0.0003")
    assert frame.attrs["metric"] == "val_acc" and not frame.attrs["log"]
    assert frame.iloc[0][f"{name} decision"] == "higher"
    assert frame.iloc[0][f"{name} low"] == pytest.approx(ref.low)
    # a loss is compared as a ratio on the log scale by default, and it says so
    loss = compare("lr", "--by", "optimizer.lr", "--metric", "val_loss", cwd=lr_sweep)
    assert "ratios of geometric means on the log scale (the default for a loss" in loss.stdout
    assert "lr=0.03 / lr=0.0003" in loss.stdout and "lower" in loss.stdout


def test_compare_calls_the_same_runs_equal_within_a_margin_and_unresolved_without(lr_sweep):
    (lr_sweep / "fast").mkdir(exist_ok=True)
    runs = pd.read_csv(lr_sweep / "lr" / "results.csv")
    runs[runs["lr"] == 0.03].to_csv(lr_sweep / "fast" / "results.csv", index=False)
    tie = compare("fast/results.csv", "again", "--margin", "0.01", "--out", "tie.csv", cwd=lr_sweep)
    assert tie.returncode == 0, tie.stderr
    (decision,) = [c for c in pd.read_csv(lr_sweep / "tie.csv").columns if c.endswith("decision")]
    assert pd.read_csv(lr_sweep / "tie.csv")[decision].tolist() == ["equal within ±0.01"]
    plain = compare("fast/results.csv", "again", "--out", "plain.csv", cwd=lr_sweep)
    assert plain.returncode == 0, plain.stderr
    assert pd.read_csv(lr_sweep / "plain.csv")[decision].tolist() == ["not resolved at n=5"]


def test_compare_leaves_a_small_noisy_difference_unresolved_and_says_how_many_runs_would_do(
    two_sweeps,
):
    from scipy import stats as sp

    out = two_sweeps / "noisy.csv"
    proc = compare("relu", "tanh", "--out", str(out), cwd=two_sweeps)  # folders: their runs
    assert proc.returncode == 0, proc.stderr
    joined = pd.read_csv(out).set_index("hidden")
    relu, tanh = (
        pd.read_csv(two_sweeps / a / "results.csv").sort_values("seed") for a in ("relu", "tanh")
    )
    name = "activation=tanh - activation=relu"
    for hidden in joined.index:
        a = relu[relu["hidden"] == hidden]["val_acc"].to_numpy()
        b = tanh[tanh["hidden"] == hidden]["val_acc"].to_numpy()
        ref = sp.ttest_rel(b, a).confidence_interval(0.95)
        decision = joined.at[hidden, f"{name} decision"]
        if ref.low > 0 or ref.high < 0:
            assert decision == ("higher" if ref.low > 0 else "lower")
        else:
            assert decision.startswith("not resolved at n=2"), decision
    assert joined[f"{name} decision"].str.startswith("not resolved at n=2 (~").any()


@pytest.mark.parametrize(
    "args, message",
    [
        (["relu/summary.csv", "missing.csv"], "'missing.csv': no such file"),
        (["relu/summary.csv"], "needs two or more tables to compare (or one with --by KNOB)"),
        (
            ["relu/summary.csv", "tanh/summary.csv", "--metric", "val_accc"],
            "Unknown --metric 'val_accc'. Choose one of:",
        ),
        (["relu/summary.csv", "relu/.hydra_missing"], "no such file"),
        (["relu", "--by", "activaton"], "Unknown --by knob 'activaton'."),
        (
            ["relu", "--by", "hidden", "--baseline", "[5]"],
            "--baseline [5]: no run has hidden=[5]. Choose one of: [4], [8,8].",
        ),
        (
            ["relu", "--by", "activation"],
            "--by activation: the table holds one value of it (relu); nothing to compare.",
        ),
        (
            ["relu", "tanh", "--baseline", "relu"],
            "--baseline names a level of --by KNOB: give --by too.",
        ),
        (
            ["relu/summary.csv", "tanh/summary.csv", "--log"],
            "--log needs results tables (runs), not summaries",
        ),
        (
            ["relu", "tanh", "--margin", "-0.01"],
            "--margin -0.01: give the largest difference that counts as equal (> 0).",
        ),
    ],
)
def test_compare_bad_input(two_sweeps, args, message):
    proc = compare(*args, cwd=two_sweeps)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "signum, status, word, group",
    [
        (signal.SIGINT, 130, "interrupted", True),  # Ctrl-C: the terminal's whole group
        (signal.SIGTERM, 143, "terminated", False),  # kill, docker stop: the process alone
        (signal.SIGTERM, 143, "terminated", True),  # scancel: every process of the job
    ],
    ids=["ctrl-c", "sigterm", "sigterm-to-the-group"],
)
def test_ctrl_c_or_sigterm_stops_the_sweep_with_one_line_and_it_resumes(
    tmp_path, signum, status, word, group
):
    # two stacks (depth 1 and 2) on two worker processes
    args = ["-m", "model.hidden=[4],[8],[4,4],[8,8]", "seed=0,1,2", "trainer.epochs=1500",
            "hydra.launcher.workers=2", "hydra.sweep.dir=sweep"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "mlplab", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 120
    log = tmp_path / "sweep" / "sweep.log"  # written once the launcher runs the stacks
    while not log.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    (os.killpg if group else os.kill)(proc.pid, signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"mlplab: {word}; the same command resumes the sweep in {tmp_path / 'sweep'}"
    )
    assert not list((tmp_path / "sweep").glob("*/result.json"))  # 1500 epochs: none finished
    # the tables of what finished (nothing yet): every job listed as incomplete
    assert set(read(tmp_path, "results.csv")["status"]) == {"incomplete"}
    rerun = run_cli(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len(read(tmp_path, "results.csv")) == 12


@pytest.mark.parametrize(
    "workers, signum, status",
    [(1, signal.SIGINT, 130), (2, signal.SIGTERM, 143)],
    ids=["ctrl-c-in-process", "sigterm-on-two-workers"],
)
def test_a_stopped_stack_keeps_its_work_and_the_same_command_ends_as_if_uninterrupted(
    tmp_path, workers, signum, status
):
    # two stacks (depth 2 and 3), long enough that a signal lands while they train
    grid = ["-m", "model.hidden=[16,16],[8,8,8]", "seed=0,1", "model.dropout=0.1",
            "dataset.n_samples=2000", "trainer.epochs=400", f"hydra.launcher.workers={workers}"]  # fmt: skip
    whole = run_cli(*grid, "hydra.sweep.dir=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    args = [*grid, "hydra.sweep.dir=sweep", "hydra.launcher.save_every=0.2"]
    proc = subprocess.Popen([sys.executable, "-m", "mlplab", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    stacks = tmp_path / "sweep" / ".stacks"
    deadline = time.monotonic() + 240
    while len(list(stacks.glob("*.json"))) < workers and proc.poll() is None:
        assert time.monotonic() < deadline, "no stack state was saved"
        time.sleep(0.05)
    saved = {p.name: json.loads(p.read_text())["epoch"] for p in stacks.glob("*.json")}
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == status, err[-2000:]
    assert "mlplab: stopping: running stacks save their state at the end of this epoch" in err
    assert not list((tmp_path / "sweep").glob("*/result.json"))  # no stack had finished
    # each stack saved where it stopped: an epoch at or after the one seen before the signal
    stopped = {p.name: json.loads(p.read_text())["epoch"] for p in stacks.glob("*.json")}
    assert all(stopped[name] >= epoch for name, epoch in saved.items()), (saved, stopped)
    assert all(p.with_suffix(".pt").is_file() for p in stacks.glob("*.json"))
    plan = run_cli(*args, "sweep.plan=true", cwd=tmp_path)
    going_on = len(stopped)
    assert (
        f"4 in 2 stacks ({going_on} go{'es' if going_on == 1 else ''} on from a saved epoch)"
        in plan.stdout
    )
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not list(stacks.iterdir())  # the saved states are gone with their stacks
    for folder in (tmp_path / "whole").glob("*/result.json"):
        for name in ("history.csv", "model.safetensors", "layers.csv"):
            ref, got = folder.parent / name, tmp_path / "sweep" / folder.parent.name / name
            assert got.read_bytes() == ref.read_bytes(), (folder.parent.name, name)
    ref, got = pd.read_csv(tmp_path / "whole" / "results.csv"), read(tmp_path, "results.csv")
    timing = [c for c in ref.columns if c.endswith("seconds") or c in ("run_dir", "started")]
    pd.testing.assert_frame_equal(ref.drop(columns=timing), got.drop(columns=timing))


# ---------------------------------------------------------------- watching a sweep


def test_the_plan_shows_the_stacks_and_runs_nothing(tmp_path):
    grid = [
        "-m",
        "model.hidden=[4],[8],[4,4]",
        "seed=0,1",
        "trainer.epochs=2",
        "hydra.sweep.dir=sweep",
    ]
    plan = run_cli(*grid, "sweep.plan=true", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert (
        lines[0]
        == "plan: 6 jobs: 0 complete (skipped), 0 invalid, 6 in 2 stacks, 0 alone; on 2 processes"
    )
    # one line per unit of work, costliest first, with the estimate that planned it
    assert re.match(r"  1\. 4 models \(~[0-9.e-]+ s, 0% padding, overhead-bound, 1 thread\): "
                    r"dataset=two_moons depth=1 activation=relu", lines[1]), lines[1]  # fmt: skip
    assert lines[1].endswith("widths 4, 8") and "depth=2" in lines[2]
    assert not (tmp_path / "sweep").exists()  # nothing written
    # after part of the grid has run, the plan says what a resume skips
    assert run_cli(*grid[:1], "model.hidden=[4]", *grid[2:], cwd=tmp_path).returncode == 0
    again = run_cli(*grid, "sweep.plan=true", "model.hidden=[4],[8],[4,4],[0]", cwd=tmp_path)
    assert again.stdout.splitlines()[0].startswith(
        "plan: 8 jobs: 2 complete (skipped), 2 invalid, 4 in 2 stacks"
    )
    assert re.search(
        r"invalid: model.hidden=\[0\] seed=0 .*: model.hidden=\[0\]: every width", again.stdout
    )
    # a launcher that runs jobs one by one: the count
    basic = run_cli(*grid, "sweep.plan=true", "hydra/launcher=basic", cwd=tmp_path)
    assert (
        basic.stdout.strip()
        == "plan: 6 jobs: 2 complete (skipped); BasicLauncher runs each job alone"
    )


def test_a_sweep_shows_one_progress_bar_on_a_terminal_and_logs_each_job_to_a_file(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()  # a terminal of 100 columns, as a user's shell gives one
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlplab", "-m", "model.hidden=[4],[8],[0]", "seed=0,1",
         "trainer.epochs=3", "hydra.sweep.dir=sweep"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the other end closed: the sweep is over
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 1  # the [0] jobs failed
    screen = seen.decode(errors="replace")
    # counted in job-epochs: 4 jobs x 3 epochs (the 2 invalid never ran)
    assert re.search(r"sweep: 100%.*\| 12/12 \[.*failed=0, jobs=4/4", screen), screen
    assert "#" not in screen  # no line per job on the terminal ...
    log = (tmp_path / "sweep" / "sweep.log").read_text().splitlines()
    assert len([line for line in log if " completed: " in line]) == 4  # ... they are in the log
    assert "6 jobs: 0 complete (skipped), 2 invalid, 4 in 1 stack," in log[0]


def test_summary_groups_over_folds_as_over_seeds(tmp_path):
    proc = run_cli("-m", "dataset=iris", "dataset.folds=3", "dataset.fold=range(3)", "seed=0,1",
                   "model.hidden=[4],[8]", "trainer.epochs=3", "hydra.sweep.dir=sweep", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results, summary = read(tmp_path, "results.csv"), read(tmp_path, "summary.csv")
    assert len(results) == 12 and sorted(summary["hidden"]) == ["[4]", "[8]"]
    assert (summary["n"] == 6).all() and "dataset.fold" not in summary.columns
    by_hand = results.groupby("hidden")["val_acc"].mean()
    for _, row in summary.iterrows():
        assert row["val_acc_mean"] == pytest.approx(by_hand[row["hidden"]])


def test_planning_and_resuming_a_finished_sweep_never_import_torch(tmp_path):
    """The launching process plans, records and writes the tables without torch (~1 s)."""
    script = (
        "import sys\nfrom mlplab.cli import run\n"
        "run(['-m', 'model.hidden=[4],[8]', 'seed=0,1', 'trainer.epochs=2', 'hydra.sweep.dir=sweep', *sys.argv[1:]])\n"
        "print('torch' in sys.modules)\n"
    )
    plan = subprocess.run([sys.executable, "-c", script, "sweep.plan=true"], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert plan.returncode == 0 and plan.stdout.strip().endswith("False"), plan.stderr[-2000:]
    assert run_cli("-m", "model.hidden=[4],[8]", "seed=0,1", "trainer.epochs=2", "hydra.sweep.dir=sweep",
                   cwd=tmp_path).returncode == 0  # fmt: skip
    resumed = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "4 complete (skipped)" in resumed.stderr and resumed.stdout.strip().endswith("False")


# ---------------------------------------------------------------- a full disk

# The fault is injected where every file is written: results.atomic_write's os.replace.
# (CI cannot fill a real device; a 600 KB tmpfs does, by hand, as NOTES-env.md says.) A
# sitecustomize on the command's PYTHONPATH makes the rename of any file into a folder
# whose name holds FULL_DISK_AT fail as a full device does (ENOSPC), in every process.
FULL_DISK = """
import errno, os
_replace = os.replace
def replace(src, dst, *args, **kwargs):
    marker = os.environ.get("FULL_DISK_AT")
    if marker and marker in os.fspath(dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(dst))
    return _replace(src, dst, *args, **kwargs)
os.replace = replace
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_disk_is_one_line_keeps_what_finished_and_the_same_command_completes(
    tmp_path, workers
):
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(FULL_DISK)
    args = ["-m", "model.hidden=[4],[8,8]", "seed=range(6)", "trainer.epochs=3",
            f"hydra.launcher.workers={workers}", "hydra.sweep.dir=sweep"]  # fmt: skip
    env = {"PYTHONPATH": str(inject), "FULL_DISK_AT": "seed=3"}
    full = run_cli(*args, cwd=tmp_path, env=env)
    sweep = tmp_path / "sweep"
    kept = result_mtimes(sweep)
    assert full.returncode == 1, full.stderr[-3000:]
    assert full.stderr.strip().splitlines()[-1] == (
        f"mlplab: no space left on the device holding {sweep}; {len(kept)} finished jobs are "
        "kept; free space and run the same command"
    )
    assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) <= 3
    assert 0 < len(kept) < 12 and not any("seed=3" in name for name in kept)
    # no failure record for what the disk refused: the job is not failed, only not written
    assert not any((sweep / name / "result.json").exists() for name in
                   [p.name for p in sweep.iterdir() if "seed=3" in p.name])  # fmt: skip
    done = run_cli(*args, cwd=tmp_path)  # space freed: the same command
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{len(kept)} complete (skipped)" in done.stderr
    results = read(tmp_path, "results.csv")
    assert len(results) == 12 and (results["status"] == "completed").all()
    after = result_mtimes(sweep)
    assert all(after[name] == mtime for name, mtime in kept.items())  # untouched


def test_a_full_disk_in_a_single_run_is_one_line(tmp_path):
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(FULL_DISK)
    env = {"PYTHONPATH": str(inject), "FULL_DISK_AT": "history.csv"}
    proc = run_cli("trainer.epochs=2", "hydra.run.dir=run", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"mlplab: no space left on the device holding {tmp_path / 'run'}; the run is not "
        "complete; free space and run the same command"
    ]
    assert not (tmp_path / "run" / "result.json").exists()


# ---------------------------------------------------------------- a job's identity


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=basic"]], ids=["stacked", "basic"])
def test_a_result_made_under_another_config_is_rerun_and_its_folder_kept_aside(tmp_path, launcher):
    mine = tmp_path / "conf" / "experiment"
    mine.mkdir(parents=True)
    grid = mine / "mine.yaml"
    grid.write_text("# @package _global_\ntrainer:\n  epochs: 2\n")
    args = ["-m", "--config-dir", str(tmp_path / "conf"), "experiment=mine", "seed=0,1",
            "model.hidden=[4]", "hydra.sweep.dir=sweep", *launcher]  # fmt: skip
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    before = result_mtimes(tmp_path / "sweep")
    grid.write_text("# @package _global_\ntrainer:\n  epochs: 3\n")  # the file edited
    if not launcher:  # the stacked launcher's plan and headline say it
        plan = run_cli(*args, "sweep.plan=true", cwd=tmp_path)
        assert "0 complete (skipped), 2 stale (made under another config or data" in plan.stdout
        assert result_mtimes(tmp_path / "sweep") == before  # the plan moves nothing
    rerun = run_cli(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    if not launcher:
        assert "2 stale (made under another config or data; their folders kept in stale/)" in (
            rerun.stderr
        )
    assert set(read(tmp_path, "results.csv")["epochs_run"]) == {3}
    kept = sorted((tmp_path / "sweep" / "stale").glob("*/result.json"))
    assert [json.loads(p.read_text())["epochs_run"] for p in kept] == [2, 2]
    rerun_mtimes = result_mtimes(tmp_path / "sweep")
    again = run_cli(*args, cwd=tmp_path)  # nothing changed since: all reused
    assert again.returncode == 0 and result_mtimes(tmp_path / "sweep") == rerun_mtimes
    if not launcher:
        assert "2 complete (skipped), 0 invalid" in again.stderr


def test_a_result_made_on_other_data_is_rerun(tmp_path):
    data = tmp_path / "data.csv"
    rows = [f"{i % 7 * 0.1:.1f},{i % 5 * 0.2:.1f},{i % 2}" for i in range(40)]
    data.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    args = ["-m", "dataset=file", f"dataset.path={data}", "dataset.target=label", "seed=0,1",
            "trainer.epochs=2", "hydra.sweep.dir=sweep"]  # fmt: skip
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    assert set(read(tmp_path, "results.csv")["n_train"]) == {32}
    data.write_text("a,b,label\n" + "\n".join(rows + rows) + "\n")  # 80 rows now
    rerun = run_cli(*args, cwd=tmp_path)
    assert rerun.returncode == 0 and "2 stale" in rerun.stderr, rerun.stderr
    assert set(read(tmp_path, "results.csv")["n_train"]) == {64}


def test_a_result_of_the_same_config_is_reused_under_either_launcher(tmp_path):
    args = ["-m", "seed=0,1", "model.hidden=[4]", "trainer.epochs=2", "hydra.sweep.dir=sweep"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    before = result_mtimes(tmp_path / "sweep")
    # a result written before identities were recorded: checked against its stored config
    first = next((tmp_path / "sweep").glob("*/result.json"))
    old = json.loads(first.read_text())
    del old["identity"]
    first.write_text(json.dumps(old))
    before[first.parent.name] = first.stat().st_mtime_ns
    basic = run_cli(*args, "hydra/launcher=basic", cwd=tmp_path)
    assert basic.returncode == 0, basic.stderr
    stacked = run_cli(*args, "trainer.progress=false", cwd=tmp_path)  # not a knob: same identity
    assert "2 complete (skipped), 0 invalid" in stacked.stderr
    assert result_mtimes(tmp_path / "sweep") == before


def test_the_printed_summary_marks_every_missing_value_alike(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[0]", "trainer.epochs=2", "hydra.sweep.dir=sweep",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1  # the [0] job failed
    row = next(line.split() for line in proc.stdout.splitlines() if line.strip().startswith("[0]"))
    assert row == ["[0]", "0", "-", "-", "-", "0", "1"]  # params and both metrics missing
    assert "<NA>" not in proc.stdout and "nan" not in proc.stdout.lower()


# ---------------------------------------------------------------- the two-knob heatmap


def aggregate(*args, cwd):
    return subprocess.run([sys.executable, "-c", "from mlplab.cli import aggregate; aggregate()",
                           *args], capture_output=True, text=True, cwd=cwd)  # fmt: skip


def test_a_sweep_over_two_knobs_draws_the_metric_per_cell(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[16],[8,8]", "optimizer.lr=0.003,0.03", "seed=0,1",
                   "trainer.epochs=3", "hydra.sweep.dir=sweep", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sweep" / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    from mlplab.results import heatmap

    results = read(tmp_path, "results.csv")
    cells = heatmap(results, "lr", "hidden", "val_acc")
    # hidden down in its natural order, lr across by value; each cell the mean of its 2 seeds
    assert list(cells.mean.index) == ["[4]", "[16]", "[8,8]"]
    assert list(cells.mean.columns) == ["0.003", "0.03"]
    by_hand = results.groupby(["hidden", "lr"])["val_acc"].mean()
    for (hidden, lr), value in by_hand.items():
        assert cells.mean.at[hidden, str(lr)] == pytest.approx(value)
    assert (cells.n == 2).all().all() and cells.note == "mean of n=2 runs per cell"


def test_a_sweep_over_one_or_three_knobs_has_no_heatmap_but_aggregate_draws_one(tmp_path):
    proc = run_cli("-m", "model.hidden=[4],[8]", "optimizer.lr=0.01,0.1",
                   "model.activation=relu,tanh", "seed=0,1", "trainer.epochs=3",
                   "hydra.sweep.dir=sweep", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "sweep"
    assert not (sweep / "heatmap.png").exists()
    results = read(tmp_path, "results.csv")
    fixed = aggregate("sweep", "--heatmap", "optimizer.lr,hidden", "--where", "activation=tanh",
                      cwd=tmp_path)  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr
    line = fixed.stdout.strip().splitlines()[-1]
    assert line == ("heatmap: sweep/heatmap_lr_hidden.png  (val_acc: lr across, hidden down; "
                    "mean of n=2 runs per cell, where activation=tanh)")  # fmt: skip
    assert (sweep / "heatmap_lr_hidden.png").read_bytes()[:4] == b"\x89PNG"
    from mlplab.results import heatmap

    tanh = results[results["activation"] == "tanh"].groupby(["hidden", "lr"])["val_acc"].mean()
    cells = heatmap(results, "lr", "hidden", "val_acc", {"activation": "tanh"})
    for (hidden, lr), value in tanh.items():
        assert cells.mean.at[hidden, str(lr)] == pytest.approx(value)
    averaged = aggregate("sweep", "--heatmap", "lr,hidden", "--metric", "train_loss", cwd=tmp_path)
    assert "mean of n=4 runs per cell, averaged over activation)" in averaged.stdout
    cells = heatmap(results, "lr", "hidden", "train_loss")
    assert cells.mean.at["[8]", "0.1"] == pytest.approx(
        results[(results["hidden"] == "[8]") & (results["lr"] == 0.1)]["train_loss"].mean()
    )


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("heatmap")
    proc = run_cli("-m", "model.hidden=[4],[8]", "optimizer.lr=0.01,0.1", "trainer.epochs=2",
                   "hydra.sweep.dir=sweep", cwd=root)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.mark.parametrize(
    "args, message",
    [
        (["--heatmap", "lr,hiden"], "Unknown --heatmap knob 'hiden'. Choose one of the knobs: hidden, lr,"),
        (["--heatmap", "lr"], "--heatmap 'lr': give two knobs, e.g. --heatmap lr,hidden."),
        (["--heatmap", "lr,optimizer.lr"], "--heatmap lr,lr: give two different knobs."),
        (["--heatmap", "lr,hidden", "--where", "lr=0.5"],
         "--where lr=0.5: no completed run has it. Choose one of: 0.01, 0.1."),
        (["--heatmap", "lr,hidden", "--where", "activaton=relu"], "Unknown --where knob 'activaton'"),
        (["--heatmap", "lr,hidden", "--where", "relu"], "--where 'relu': give KNOB=VALUE"),
        (["--where", "lr=0.1"], "--where fixes a knob of a heatmap: give --heatmap X,Y too."),
    ],
)  # fmt: skip
def test_a_heatmap_that_cannot_be_drawn_gets_one_line_and_writes_nothing(grid, args, message):
    tmp_path = grid  # one sweep for every case: nothing here may write to it
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "sweep").iterdir()}
    bad = aggregate("sweep", *args, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith(f"mlplab: error: {message}"), bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "sweep").iterdir()} == before


def test_heatmap_axes_are_log_for_log_spaced_numbers_linear_for_even_ones_else_one_per_value():
    from mlplab.plots import _cell_edges

    edges, log = _cell_edges(["0.001", "0.01", "0.1"])
    assert log and edges == pytest.approx([10**-3.5, 10**-2.5, 10**-1.5, 10**-0.5])
    edges, log = _cell_edges(["0.1", "0.2", "0.3"])
    assert not log and edges == pytest.approx([0.05, 0.15, 0.25, 0.35])
    edges, log = _cell_edges(["[4]", "[16]", "[8,8]"])
    assert not log and list(edges) == [-0.5, 0.5, 1.5, 2.5]
