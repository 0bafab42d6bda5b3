"""mlplab's Optuna sweeper (hydra/sweeper=optuna): the search space, batches, failures, resume.

End to end through ``mlplab-run -m`` with tiny budgets; the study is read back with
Optuna's own ``load_study``, the tables with pandas, each job's result.json as written.
"""

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_cli
from hydra.core.override_parser.overrides_parser import OverridesParser

from mlplab.results import RESULT_FILE, TRIALS_CSV
from mlplab.settings import ConfigError

optuna = pytest.importorskip("optuna")  # the [optuna] extra
# ruff: noqa: E402  (the rest needs Optuna)
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hydra_plugins.mlplab_optuna_sweeper._impl import (
    SAMPLERS,
    STUDY_FILE,
    make_sampler,
    search_space,
)

SEARCH = ["-m", "hparams_search=two_moons_optuna", "trainer.epochs=3"]


def load_study(sweep: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(sweep / STUDY_FILE)))
    return optuna.load_study(study_name=sweep.name, storage=storage)


def trial_numbers(results: pd.DataFrame) -> list[int]:
    """Every trial number in results.csv's trial column ("3 7" when two trials ran one job)."""
    return sorted(int(n) for cell in results["trial"].dropna().astype(str) for n in cell.split())


def job_result(sweep: Path, run_dir: str) -> dict:
    return json.loads((sweep / run_dir / RESULT_FILE).read_text())


def test_a_failed_trial_is_recorded_and_the_same_command_adds_trials_to_the_study(tmp_path):
    # [0] is an impossible width: those jobs fail, and the search goes on
    args = [*SEARCH, "model.hidden=choice([4],[0],[16])", "hydra.sweeper.sampler.name=random",
            "hydra.sweeper.sampler.seed=3", "hydra.sweeper.n_jobs=4", "hydra.sweep.dir=search"]  # fmt: skip
    proc = run_cli(*args, "hydra.sweeper.n_trials=8", cwd=tmp_path)
    sweep = tmp_path / "search"
    study = load_study(sweep)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(8))
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and {t.params["model.hidden"] for t in failed} == {"[0]"}, "seed 3 asks for [0]"
    assert all(t.state == TrialState.COMPLETE for t in trials if t.params["model.hidden"] != "[0]")
    assert proc.returncode == 1, proc.stderr[-3000:]  # a failed job: the sweep says so
    # each completed trial's value is its job's val_acc (sweep.metric), read from its result.json
    for t in trials:
        result = job_result(sweep, t.user_attrs["run_dir"])
        if t.state == TrialState.COMPLETE:
            assert t.value == pytest.approx(result["val_acc"], abs=0, rel=1e-12)
        else:
            assert result["status"] == "failed" and "width" in result["error"]
    results = pd.read_csv(sweep / "results.csv")
    assert trial_numbers(results) == list(range(8))  # every trial is in the table, once
    bad = results[results["status"] == "failed"]
    assert (bad["hidden"] == "[0]").all()
    assert trial_numbers(bad) == sorted(t.number for t in failed)
    table = pd.read_csv(sweep / TRIALS_CSV)
    assert table["trial"].tolist() == list(range(8))
    assert table["state"].tolist() == [t.state.name for t in trials]
    assert table["value"].tolist() == pytest.approx(
        [t.value or math.nan for t in trials], nan_ok=True
    )
    assert table["model.hidden"].tolist() == [t.params["model.hidden"] for t in trials]

    # mlplab-aggregate rebuilds the same trial column from the folder alone
    rebuilt = subprocess.run([sys.executable, "-c", "from mlplab.cli import aggregate; aggregate()",
                              str(sweep)], capture_output=True, text=True)  # fmt: skip
    assert rebuilt.returncode == 1, rebuilt.stderr[-2000:]
    pd.testing.assert_series_equal(pd.read_csv(sweep / "results.csv")["trial"], results["trial"])

    again = run_cli(*args, "hydra.sweeper.n_trials=3", cwd=tmp_path)
    assert again.returncode in (0, 1), again.stderr[-3000:]
    resumed = load_study(sweep).get_trials()
    assert [t.number for t in resumed] == list(range(11))  # the same study, 3 trials more
    assert [(t.params, t.value) for t in resumed[:8]] == [(t.params, t.value) for t in trials]
    assert trial_numbers(pd.read_csv(sweep / "results.csv")) == list(range(11))

    # a study keeps its direction: the other one is refused in one line, nothing changes
    other = run_cli(*args, "hydra.sweeper.direction=minimize", cwd=tmp_path)
    assert other.returncode == 2
    assert (
        other.stderr.strip()
        .splitlines()[-1]
        .startswith("mlplab: error: hydra.sweeper.direction=minimize: study 'search'")
    )
    assert len(load_study(sweep).trials) == 11


def test_each_batch_of_n_jobs_trials_is_asked_then_launched_at_once(tmp_path):
    # the probe records, as each job starts, its number and the trials asked but not told
    def search(name: str, *launcher: str) -> tuple[subprocess.CompletedProcess, list[tuple]]:
        out = tmp_path / f"{name}.txt"
        probe = [
            "+hydra.callbacks.probe._target_=optuna_probe.RunningTrials",
            f"+hydra.callbacks.probe.journal={tmp_path / name / STUDY_FILE}",
            f"+hydra.callbacks.probe.study={name}", f"+hydra.callbacks.probe.out={out}",
        ]  # fmt: skip
        proc = run_cli(*SEARCH, "hydra.sweeper.n_trials=7", "hydra.sweeper.n_jobs=3",
                       f"hydra.sweep.dir={name}", *probe, *launcher, cwd=tmp_path,
                       env={"PYTHONPATH": str(Path(__file__).parent)})  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc, sorted(tuple(map(int, line.split())) for line in out.read_text().splitlines())

    # jobs 0-2 and 3-5 start while their batch of 3 is untold, job 6 alone (7 = 3 + 3 + 1)
    expected = [(0, 3), (1, 3), (2, 3), (3, 3), (4, 3), (5, 3), (6, 1)]
    proc, started = search("basic", "hydra/launcher=basic")
    assert started == expected
    log = (proc.stdout + proc.stderr).splitlines()
    launches = [line.split("Launching ")[1] for line in log if "Launching" in line]
    assert launches == ["3 jobs locally", "3 jobs locally", "1 jobs locally"]  # Hydra's own log
    # the default launcher runs its jobs without Hydra's per-job callbacks: its own log
    # says what each launch got, and each batch of 3 trains as one stack
    proc = run_cli(*SEARCH, "hydra.sweeper.n_trials=7", "hydra.sweeper.n_jobs=3",
                   "model.hidden=choice([4],[8],[16],[32],[64],[128])",
                   "hydra.sweep.dir=stacked", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "stacked" / "sweep.log").read_text()
    stacked = re.findall(r" (\d+) jobs?: .* (?:in (\d+) stacks?|none stacked)", log)
    assert stacked == [("3", "1")] * 2 + [("1", "")]


def test_trials_that_repeat_a_finished_job_reuse_its_result(tmp_path):
    # two possible jobs, five trials in batches of two: trials repeat jobs within a batch
    # (run once) and across batches (the finished job is skipped)
    proc = run_cli(*SEARCH, "model.hidden=choice([4],[8])", "optimizer.lr=choice(0.01)",
                   "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=2", "hydra.sweep.dir=search",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "search"
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) <= 2 and (results["status"] == "completed").all()
    assert trial_numbers(results) == [0, 1, 2, 3, 4]
    for t in load_study(sweep).get_trials():
        assert t.state == TrialState.COMPLETE
        assert t.value == job_result(sweep, t.user_attrs["run_dir"])["val_acc"]


def test_max_failure_rate_stops_the_search_and_the_default_never_does(tmp_path):
    only_bad = [*SEARCH, "model.hidden=choice([0])", "hydra.sweeper.n_trials=6",
                "hydra.sweeper.n_jobs=2"]  # fmt: skip
    proc = run_cli(*only_bad, "hydra.sweeper.max_failure_rate=0.0", "hydra.sweep.dir=strict",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert "Stopping the search: 2 of 2 trials failed" in proc.stdout + proc.stderr
    assert [t.state for t in load_study(tmp_path / "strict").trials] == [TrialState.FAIL] * 2
    proc = run_cli(*only_bad, "hydra.sweep.dir=lenient", cwd=tmp_path)
    assert proc.returncode == 1 and "Stopping" not in proc.stdout + proc.stderr
    assert [t.state for t in load_study(tmp_path / "lenient").trials] == [TrialState.FAIL] * 6


def test_a_seeded_sampler_asks_the_same_trials_twice(tmp_path):
    # tpe after 3 random trials: the second batch depends on the values told for the first
    def trials(name: str, seed: int) -> pd.DataFrame:
        proc = run_cli(*SEARCH, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=3",
                       f"hydra.sweeper.sampler.seed={seed}",
                       "+hydra.sweeper.sampler.options.n_startup_trials=3",
                       f"hydra.sweep.dir={name}", cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return pd.read_csv(tmp_path / name / TRIALS_CSV)

    first, second = trials("a", 7), trials("b", 7)
    assert len(first) == 6 and (first["state"] == "COMPLETE").all()
    pd.testing.assert_frame_equal(first, second)
    other = trials("c", 8)
    assert not first["optimizer.lr"].equals(other["optimizer.lr"])  # the seed matters


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_asks_batches_from_the_search_space(name):
    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        with pytest.raises(ConfigError, match="sampler.name=cmaes needs the cmaes package"):
            make_sampler(name, 0, {})
        return
    sampler = make_sampler(name, 0, {})
    assert type(sampler) is SAMPLERS[name]
    space = search_space(["optimizer.lr=tag(log, interval(0.001, 0.1))",
                          "model.hidden=choice([4],[8,8])", "trainer.epochs=range(1, 4)"])  # fmt: skip
    study = optuna.create_study(sampler=sampler, direction="maximize")
    for _ in range(3):  # batches of 4: asked together, then told
        trials = [study.ask(space.distributions) for _ in range(4)]
        for t in trials:
            study.tell(t, t.params["optimizer.lr"] * len(t.params["model.hidden"]))
    for t in study.trials:
        assert 0.001 <= t.params["optimizer.lr"] <= 0.1
        assert t.params["model.hidden"] in ("[4]", "[8,8]") and t.params["trainer.epochs"] in (
            1,
            2,
            3,
        )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 12


@pytest.mark.parametrize(
    "line, expected",
    [
        ("optimizer.lr=tag(log, interval(0.0001, 0.1))", FloatDistribution(0.0001, 0.1, log=True)),
        ("optimizer.lr=interval(0.001, 0.1)", FloatDistribution(0.001, 0.1)),
        ("optimizer.lr=interval(1, 10)", FloatDistribution(1.0, 10.0)),  # Hydra: floats
        ("trainer.epochs=tag(int, interval(1, 10))", IntDistribution(1, 10)),
        ("trainer.epochs=tag(log, int, interval(2, 64))", IntDistribution(2, 64, log=True)),
        ("trainer.batch_size=range(16, 129, 16)", IntDistribution(16, 128, step=16)),
        ("trainer.epochs=range(5, 1, -2)", IntDistribution(3, 5, step=2)),
        ("model.dropout=range(0.1, 0.35, 0.1)", FloatDistribution(0.1, 0.3, step=0.1)),
        ("model.hidden=choice([8],[16],[16,16])", CategoricalDistribution(["[8]", "[16]", "[16,16]"])),
        ("model.activation=relu,tanh", CategoricalDistribution(["relu", "tanh"])),
        ("optimizer.lr=choice(0.01, 0.1)", CategoricalDistribution([0.01, 0.1])),
        ("model.residual=choice(true, false)", CategoricalDistribution(["True", "False"])),
        ("dataset=choice(two_moons, xor)", CategoricalDistribution(["two_moons", "xor"])),
    ],
)  # fmt: skip
def test_each_sweep_becomes_the_optuna_distribution_of_the_same_values(line, expected):
    space = search_space([line, "trainer.epochs=3"] if "epochs" not in line else [line])
    (param,) = space.params
    assert param.distribution == expected
    key = line.split("=")[0]
    (sweep,) = OverridesParser.create().parse_overrides([line])
    # the values Hydra's basic sweeper would run, and those the distribution can give
    if isinstance(expected, CategoricalDistribution):
        wanted = list(sweep.sweep_iterator())
        # each choice becomes an override that Hydra parses back to the value typed
        given = [p.value() for c in expected.choices
                 for p in OverridesParser.create().parse_overrides([param.override(c)])]  # fmt: skip
        assert given == wanted
    elif sweep.is_range_sweep():
        wanted = sorted(sweep.sweep_iterator())
        n = round((expected.high - expected.low) / expected.step) + 1
        assert [pytest.approx(expected.low + i * expected.step) for i in range(n)] == wanted
    else:  # an interval: its ends
        assert (expected.low, expected.high) == (sweep.value().start, sweep.value().end)
    assert {p.key for p in space.params} == {key}


def test_fixed_overrides_go_to_every_trial_and_the_command_line_wins():
    space = search_space(
        ["optimizer.lr=tag(log, interval(0.001, 0.1))", "model.hidden=choice([4],[8])",
         "trainer.epochs=5", "optimizer.lr=0.01", "~model.init_std", "hparams_search=two_moons_optuna"]
    )  # fmt: skip
    assert [p.key for p in space.params] == ["model.hidden"]
    assert space.fixed == ("trainer.epochs=5", "optimizer.lr=0.01", "~model.init_std",
                           "hparams_search=two_moons_optuna")  # fmt: skip
    assert space.overrides({"model.hidden": "[8]"}) == ("model.hidden=[8]", *space.fixed)


@pytest.mark.parametrize(
    "line, message",
    [
        ("optimizer.lr=interval(0.1)", "Cannot parse the search space override 'optimizer.lr=interval"),
        ("optimizer.lr=intervl(0.1, 1)", "Unknown function 'intervl'"),
        ("model.hidden=tag(log, choice([4],[8]))", "tag log is not supported"),
        ("optimizer.lr=tag(sqrt, interval(0.1, 1))", "tag sqrt is not supported"),
        ("trainer.epochs=tag(int, interval(1.5, 4))", "an int interval needs whole ends"),
        ("optimizer.lr=tag(log, interval(0, 1))", "low > 0"),
        ("optimizer.lr=interval(1, 0.1)", "low <= high"),
        ("trainer.epochs=range(3, 3)", "the range is empty"),
        ("model.hidden=shuffle([4],[8])", "shuffle means nothing"),
        ("model.hidden=choice([4],[4])", "listed twice"),
    ],
)  # fmt: skip
def test_an_unsupported_sweep_names_itself_and_what_is_supported(line, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")) as err:
        search_space([line])
    assert "\n" not in str(err.value) and line.split("=")[0] in str(err.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (["hydra.sweeper.sampler.name=tpee"], "Unknown hydra.sweeper.sampler.name 'tpee'. Choose one of: cmaes, gp, nsgaii, qmc, random, tpe."),
        (["hydra.sweeper.direction=up"], "Unknown hydra.sweeper.direction 'up'. Choose one of: maximize, minimize."),
        (["hydra.sweeper.n_jobs=0"], "hydra.sweeper.n_jobs=0: give a whole number of at least 1."),
        (["hydra.sweeper.n_trials=-1"], "hydra.sweeper.n_trials=-1: give a whole number of at least 1."),
        (["hydra.sweeper.max_failure_rate=1.5"], "hydra.sweeper.max_failure_rate=1.5: give a fraction from 0.0"),
        (["+hydra.sweeper.sampler.options.n_startup=2"], "hydra.sweeper.sampler.options={'n_startup': 2}: "),
        (["hparams_search=bad_space"], "Cannot parse the search space override 'optimizer.lr=interval(0.1)'"),
        (["model.activation=glob(*)"], "Search space model.activation=glob(*): nothing to choose from"),
        (["model.hidden=tag(log,choice([4],[8]))"], "Search space model.hidden=tag(log,choice([4],[8])): tag log"),
        (["model.hiden=choice([4],[8])"], "Unknown key 'model.hiden'. Did you mean model.hidden? Choose one of: activation,"),
        (["trainer.epochs=choice(3,abc)"], "trainer.epochs: Value 'abc' of type 'str' could not be converted"),
        (["optimizer.lr=interval(0.1)"], "Cannot parse override 'optimizer.lr=interval(0.1)': TypeError"),
        (["hydra.sweeper.pruner=medain"], "Unknown hydra.sweeper.pruner 'medain'. Choose one of: hyperband, median, none, percentile, successive_halving."),
        (["hydra.sweeper.pruner=percentile"], "hydra.sweeper.pruner_options={} (percentile): "),
        (["hydra.sweeper.pruner=median", "+hydra.sweeper.pruner_options.warmup=3"], "hydra.sweeper.pruner_options={'warmup': 3} (median): "),
        (["hydra.sweeper.pruner=median", "hydra.sweeper.report_every=0"], "hydra.sweeper.report_every=0: give a whole number of epochs, at least 1."),
        (["hydra.sweeper.pruner=median", "trainer.epochs=10"], "hydra.sweeper.report_every=10 with trainer.epochs=10: no trial reports before its last epoch"),
    ],
)  # fmt: skip
def test_a_bad_knob_or_search_space_is_one_line_and_writes_nothing(tmp_path, args, message):
    # a search space file with a syntax error, where a user keeps their own searches
    conf = tmp_path / "conf" / "hparams_search"
    conf.mkdir(parents=True)
    (conf / "bad_space.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        "hydra:\n  sweeper:\n    params:\n      optimizer.lr: interval(0.1)\n"
    )
    search = ["hparams_search=two_moons_optuna"] if "hparams_search" not in args[0] else []
    proc = run_cli("-m", *search, *args, f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("mlplab: error: " + message), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]  # no outputs/ folder


def test_bench_optuna_quick_prints_both_rows(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_optuna.py"), "--quick"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines()]
    rows = [row for row in rows if row[0] in ("batched", "one-by-one") and row[1].isdigit()]
    assert [(row[0], row[1]) for row in rows] == [("batched", "4"), ("one-by-one", "1")]
    assert all(0.0 <= float(row[3]) <= 1.0 for row in rows)  # each search's best val_acc
    assert "batched is" in proc.stdout and "x faster" in proc.stdout


@pytest.mark.parametrize(
    "dataset, metric, direction",
    [("two_moons", "auto", "maximize"), ("two_moons", "val_loss", "minimize"),
     ("sine", "auto", "minimize"), ("two_moons", "train_acc", "maximize")],
)  # fmt: skip
def test_a_search_without_a_direction_follows_its_metric(tmp_path, dataset, metric, direction):
    args = ["-m", "hydra/sweeper=optuna", f"dataset={dataset}", f"sweep.metric={metric}",
            "optimizer.lr=tag(log, interval(0.001, 0.5))", "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=4", "trainer.epochs=3", "hydra.sweep.dir=search"]  # fmt: skip
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "is that meant?" not in proc.stderr
    study = load_study(tmp_path / "search")
    assert study.direction.name.lower() == direction
    values = [t.value for t in study.trials if t.state == TrialState.COMPLETE]
    best = (max if direction == "maximize" else min)(values)
    import yaml

    written = yaml.safe_load((tmp_path / "search" / "optimization_results.yaml").read_text())
    assert written["direction"] == direction and written["best_value"] == pytest.approx(best)


def test_a_metric_of_no_known_kind_needs_a_direction_before_any_trial(tmp_path):
    proc = run_cli("-m", "hydra/sweeper=optuna", "sweep.metric=params", "hydra.sweep.dir=search",
                   "optimizer.lr=interval(0.001, 0.1)", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line == (
        "mlplab: error: hydra.sweeper.direction is needed: sweep.metric=params is neither an "
        "accuracy nor a loss. Choose one of: minimize, maximize."
    )
    assert not (tmp_path / "search").exists()


def test_a_direction_against_the_metric_is_said_before_the_first_trial(tmp_path):
    proc = run_cli("-m", "hydra/sweeper=optuna", "hydra.sweeper.direction=minimize",
                   "optimizer.lr=interval(0.001, 0.1)", "hydra.sweeper.n_trials=2",
                   "trainer.epochs=2", "hydra.sweep.dir=search", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()  # Hydra's log lines
    (warned,) = [i for i, line in enumerate(lines) if "is that meant?" in line]
    assert "hydra.sweeper.direction=minimize of sweep.metric=auto" in lines[warned]
    # the search's first line, logged before it asks for a trial
    (started,) = [i for i, line in enumerate(lines) if "(0 trials so far)" in line]
    assert warned < started
    assert load_study(tmp_path / "search").direction.name.lower() == "minimize"  # as asked


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_search_opens_in_optuna_dashboard_as_it_is(tmp_path):
    """The sweep's optuna.journal is what optuna-dashboard reads: Optuna's JournalStorage
    holds its trials, and the dashboard's server (the [dashboard] extra) lists the study
    and its trials through its API."""
    import shutil
    import time
    import urllib.request

    proc = run_cli(*SEARCH, "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=4",
                   "hydra.sweep.dir=search", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # a search's scattered lrs over widths: two knobs vary, but it is no grid to draw
    assert not (tmp_path / "search" / "heatmap.png").exists()
    study = load_study(tmp_path / "search")
    params = {(t.params["model.hidden"], t.params["optimizer.lr"]) for t in study.trials}
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials)
    dashboard = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if dashboard is None:
        pytest.skip("optuna-dashboard is not installed (the [dashboard] extra)")
    for _ in range(3):  # a port another process took in between: another port
        port = _free_port()
        server = subprocess.Popen(
            [dashboard, str(tmp_path / "search" / STUDY_FILE), "--port", str(port), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline, answer = time.monotonic() + 60, None
            while answer is None and server.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/api/studies", timeout=5
                    ) as r:
                        answer = json.load(r)
                except OSError:
                    time.sleep(0.1)  # not listening yet
            if answer is None:
                continue
            (summary,) = answer["study_summaries"]
            assert summary["study_name"] == "search" and summary["directions"] == ["maximize"]
            url = f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}?after=0"
            with urllib.request.urlopen(url, timeout=5) as r:
                trials = json.load(r)["trials"]
            values = [{p["name"]: p["param_external_value"] for p in t["params"]} for t in trials]
            seen = {(v["model.hidden"], float(v["optimizer.lr"])) for v in values}
            assert seen == params
            return
        finally:
            server.kill()
            server.wait()
    pytest.fail(f"optuna-dashboard did not answer: {server.stderr.read()[-2000:]}")


def test_a_pruned_trial_leaves_its_stack_and_is_told_pruned(tmp_path):
    """Successive halving over a batched search: the trials it stops end part-way, their
    folders hold their history to that epoch, the study knows them as PRUNED, the best is
    chosen among the completed ones, and the sweep exits 0."""
    args = [*SEARCH, "trainer.epochs=40", "hydra.sweeper.n_trials=16", "hydra.sweeper.n_jobs=8",
            "hydra.sweeper.sampler.seed=0", "hydra.sweeper.pruner=successive_halving",
            "+hydra.sweeper.pruner_options.min_resource=5", "hydra.sweeper.report_every=5",
            "hydra.sweep.dir=search"]  # fmt: skip
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "search"
    results = pd.read_csv(sweep / "results.csv")
    pruned = results[results["status"] == "pruned"]
    assert len(pruned) and (results["status"] != "pruned").any()
    assert set(results["status"]) <= {"completed", "pruned"}
    assert (pruned["epochs_run"] < 40).all() and (pruned["epochs_run"] % 5 == 0).all()
    for _, row in pruned.iterrows():  # the history to the epoch it left, in its folder
        history = pd.read_csv(sweep / row["run_dir"] / "history.csv")
        assert history["epoch"].max() == row["epochs_run"]
    study = load_study(sweep)
    states = {t.number: t.state for t in study.trials}
    trials = pd.read_csv(sweep / TRIALS_CSV)
    assert dict(zip(trials["trial"], trials["state"])) == {n: s.name for n, s in states.items()}
    for t in study.trials:  # each trial's state is its job's status, its reports its history
        row = results[results["run_dir"] == t.user_attrs["run_dir"]].iloc[0]
        assert (t.state == TrialState.PRUNED) == (row["status"] == "pruned")
        history = pd.read_csv(sweep / row["run_dir"] / "history.csv").set_index("epoch")
        for step, value in t.intermediate_values.items():
            assert value == pytest.approx(history.at[step, "val_acc"])
    import yaml

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(
        t.value for t in study.trials if t.state == TrialState.COMPLETE
    )
    assert states[best["best_trial"]] == TrialState.COMPLETE
    assert "40 jobs" not in proc.stdout and "pruned" in proc.stdout
    # a pruned job is finished: the same job run again is skipped
    again = run_cli("-m", *pruned.iloc[0]["overrides"].split(), "hydra.sweep.dir=search",
                    cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 job: 1 complete (skipped)" in again.stderr


def test_a_pruner_under_a_launcher_that_runs_jobs_alone_says_it_prunes_nothing(tmp_path):
    proc = run_cli(*SEARCH, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                   "hydra.sweeper.pruner=median", "hydra.sweeper.report_every=1",
                   "hydra/launcher=basic", "hydra.sweep.dir=search",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        "hydra.sweeper.pruner=median prunes trials that the stacked launcher trains; "
        "BasicLauncher runs every trial to its end." in proc.stdout
    )  # Hydra's log lines
    assert (pd.read_csv(tmp_path / "search" / "results.csv")["status"] == "completed").all()
