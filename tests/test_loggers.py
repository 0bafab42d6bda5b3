"""logger=tensorboard|mlflow through the real command, read back with TensorBoard's and
MLflow's own readers: every job of a sweep (stacked groups, diverged and failed jobs),
Hydra's basic launcher, single runs with their figures, the dashboard, bad input."""

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_cli

from mlplab import settings
from mlplab.loggers import LOGGERS, RESULT_PREFIX
from mlplab.results import NOT_KNOBS

pytest.importorskip("tensorboard")
mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402

EPOCHS = 6
# 8 jobs in two stacked groups (depth 1 and depth 2); lr=1e12 diverges at the first epoch
GRID = ["optimizer=sgd", "optimizer.lr=0.1,1e12", "model.hidden=[4],[8,8]", "seed=0,1"]
HISTORY = ("train_loss", "val_loss", "train_acc", "val_acc")


def store(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The stacked launcher, two worker processes, both loggers, a fresh MLflow store."""
    root = tmp_path_factory.mktemp("loggers")
    args = ["-m", *GRID, f"trainer.epochs={EPOCHS}", "logger=[tensorboard,mlflow]",
            f"logger.mlflow.tracking_uri={store(root)}", "hydra.launcher.workers=2",
            "hydra.sweep.dir=sweep"]  # fmt: skip
    proc = run_cli(*args, cwd=root, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the diverged jobs
    assert "8 in 2 stacks" in proc.stderr and "on 2 processes" in proc.stderr, proc.stderr
    results = pd.read_csv(root / "sweep" / "results.csv")
    return root, args, results


def events(run_dir: Path) -> EventAccumulator:
    (file,) = run_dir.glob("events.out.tfevents.*")  # one file per run folder
    accumulator = EventAccumulator(str(file))
    accumulator.Reload()
    return accumulator


def hparams_of(accumulator: EventAccumulator) -> dict:
    content = accumulator.PluginTagToContent("hparams")[hparams_metadata.SESSION_START_INFO_TAG]
    info = hparams_metadata.parse_session_start_info_plugin_data(content)
    return {
        name: value.string_value if value.HasField("string_value") else value.number_value
        for name, value in info.hparams.items()
    }


def history_of(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "history.csv")


def test_tensorboard_has_every_jobs_history_knobs_and_results(sweep):
    root, _, results = sweep
    assert sorted(results["status"]) == ["completed"] * 4 + ["diverged"] * 4
    assert not [c for c in results.columns if c.startswith("logger")]  # not knobs
    assert not results["run_dir"].str.contains("logger").any()  # nor in job folder names
    for row in results.itertuples():
        run_dir = root / "sweep" / row.run_dir
        tb, history = events(run_dir), history_of(run_dir)
        for name in HISTORY:  # per epoch, as history.csv has it (float32 in the file)
            scalars = tb.Scalars(name)
            assert [s.step for s in scalars] == history["epoch"].tolist()
            assert [s.value for s in scalars] == pytest.approx(
                history[name].tolist(), rel=1e-6, nan_ok=True
            )
        hparams = hparams_of(tb)
        assert hparams["hidden"] == row.hidden and hparams["seed"] == row.seed
        assert hparams["lr"] == pytest.approx(row.lr) and hparams["status"] == row.status
        assert hparams["optimizer"] == "sgd" and hparams["depth"] == row.depth
        if row.status == "completed":
            (last,) = tb.Scalars(RESULT_PREFIX + "val_acc")
            assert last.step == row.epochs_run == EPOCHS
            assert last.value == pytest.approx(row.val_acc, rel=1e-6)
            (best,) = tb.Scalars(RESULT_PREFIX + "best_val_acc")
            assert best.value == pytest.approx(history["val_acc"].max(), rel=1e-6)
        else:  # diverged at epoch 1: a history up to it, no final metrics
            assert history["epoch"].tolist() == [0, 1]
            assert math.isnan(tb.Scalars("train_loss")[-1].value)


def test_mlflow_has_one_run_per_job_with_its_status_params_and_metrics(sweep, monkeypatch):
    root, _, results = sweep
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store(root))
    runs = mlflow.search_runs(experiment_names=["sweep"])  # named after the sweep folder
    assert len(runs) == 8
    runs = runs.set_index("tags.mlflow.runName").loc[results["run_dir"]]
    expected = results["status"].map({"completed": "FINISHED", "diverged": "FAILED"})
    assert runs["status"].tolist() == expected.tolist()
    assert runs["params.hidden"].tolist() == results["hidden"].tolist()
    assert runs["params.seed"].tolist() == results["seed"].astype(str).tolist()
    assert runs["tags.mlplab.overrides"].tolist() == results["overrides"].tolist()
    done = results["status"] == "completed"
    assert runs["metrics.result/val_acc"][done.values].tolist() == pytest.approx(
        results["val_acc"][done].tolist(), rel=1e-9
    )
    client = MlflowClient(store(root))
    for (run_id, error), row in zip(
        runs[["run_id", "tags.mlplab.error"]].values, results.itertuples()
    ):
        history = history_of(root / "sweep" / row.run_dir)
        for name in HISTORY:
            logged = client.get_metric_history(run_id, name)
            assert sorted(m.step for m in logged) == history["epoch"].tolist()
            values = [m.value for m in sorted(logged, key=lambda m: m.step)]
            assert values == pytest.approx(history[name].tolist(), rel=1e-9, nan_ok=True)
        assert (error == row.error) if row.status != "completed" else pd.isna(error)
        run = client.get_run(run_id)
        provenance = json.loads((root / "sweep" / row.run_dir / "result.json").read_text())[
            "provenance"
        ]
        assert run.data.tags["mlplab.provenance.torch"] == provenance["torch"]
        assert run.data.tags["mlplab.provenance.threads"] == str(provenance["threads"])


def test_a_job_run_again_replaces_its_event_file_and_gets_another_mlflow_run(sweep):
    root, args, results = sweep
    proc = run_cli(*args, cwd=root, timeout=600)  # the same command: the diverged jobs again
    assert "4 complete (skipped)" in proc.stderr, proc.stderr[-2000:]
    for row in results.itertuples():
        assert len(list((root / "sweep" / row.run_dir).glob("events.out.tfevents.*"))) == 1
    runs = MlflowClient(store(root)).search_runs(
        [MlflowClient(store(root)).get_experiment_by_name("sweep").experiment_id]
    )
    per_job = pd.Series([r.info.run_name for r in runs]).value_counts()
    assert per_job[results["run_dir"][results["status"] == "completed"]].eq(1).all()
    assert per_job[results["run_dir"][results["status"] == "diverged"]].eq(2).all()


def test_hydras_basic_launcher_logs_each_job_and_a_failed_one(tmp_path):
    (tmp_path / "data.csv").write_text(
        "a,b,y\n" + "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(40))
    )  # dataset.target=nope fails when the data is loaded, inside the job
    proc = run_cli(
        "-m", "hydra/launcher=basic", "dataset=file", "dataset.path=data.csv",
        "dataset.target=y,nope", "trainer.epochs=3", "logger=[tensorboard,mlflow]",
        f"logger.mlflow.tracking_uri={store(tmp_path)}", "hydra.sweep.dir=basic",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    results = pd.read_csv(tmp_path / "basic" / "results.csv").set_index("dataset.target")
    assert results["status"].to_dict() == {"y": "completed", "nope": "failed"}
    runs = MlflowClient(store(tmp_path)).search_runs(
        [MlflowClient(store(tmp_path)).get_experiment_by_name("basic").experiment_id]
    )
    by_target = {r.data.params["dataset.target"]: r for r in runs}
    assert by_target.keys() == {"y", "nope"}
    assert by_target["y"].info.status == "FINISHED" and by_target["nope"].info.status == "FAILED"
    assert by_target["nope"].data.tags["mlplab.error"] == results.at["nope", "error"]
    assert "nope" in results.at["nope", "error"] and not by_target["nope"].data.metrics
    assert by_target["y"].data.metrics["result/val_acc"] == pytest.approx(
        results.at["y", "val_acc"]
    )
    failed = events(tmp_path / "basic" / results.at["nope", "run_dir"])
    assert hparams_of(failed)["status"] == "failed" and failed.Tags()["scalars"] == []
    done = events(tmp_path / "basic" / results.at["y", "run_dir"])
    assert [s.step for s in done.Scalars("val_loss")] == [0, 1, 2, 3]


def test_a_single_run_logs_its_figures_and_the_thinned_history(tmp_path):
    proc = run_cli(
        "trainer.epochs=7", "logger=[tensorboard,mlflow]", "logger.every_n_epochs=3",
        f"logger.mlflow.tracking_uri={store(tmp_path)}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    assert len(history_of(run_dir)) == 8  # history.csv keeps every epoch
    assert [s.step for s in events(run_dir).Scalars("val_acc")] == [0, 3, 6, 7]
    client = MlflowClient(store(tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("runs").experiment_id])
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_acc")) == [
        0,
        3,
        6,
        7,
    ]
    figures = sorted(p.name for p in run_dir.glob("*.png"))
    assert "boundary.png" in figures
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == figures
    # the artifacts lie beside the store, not in the working directory
    assert (tmp_path / "mlartifacts").is_dir() and not (tmp_path / "mlruns").exists()


def test_a_server_lost_during_a_sweep_costs_a_warning_not_the_sweep(tmp_path):
    """A tracking server that answers its health check, then fails every MLflow call (as one
    that goes down mid-sweep): each group's report fails at once, in one warning line."""
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = run_cli("-m", "seed=0,1", "model.hidden=[4],[4,4]", "trainer.epochs=2", "logger=mlflow",
                       f"logger.mlflow.tracking_uri=http://127.0.0.1:{server.server_port}",
                       "hydra.sweep.dir=sweep", cwd=tmp_path)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if "could not report" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        "mlplab: warning: logger=mlflow could not report 2 run(s)"
    )
    assert warnings[0].endswith("The sweep goes on.")
    # the end counts them, whichever process reported them
    assert (
        "mlplab: warning: logger=mlflow: 4 of 4 runs were not reported; their folders are complete"
        in proc.stderr
    )
    assert "Retrying" not in proc.stdout + proc.stderr  # no urllib3 retry lines
    results = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert (results["status"] == "completed").all() and len(results) == 4


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["logger=nope"], "Unknown logger 'nope'. Choose one of: csv, mlflow, tensorboard."),
        (["logger=tensorboard", "logger.every_n_epochs=0"],
         "logger.every_n_epochs must be a positive integer, got 0."),
        (["logger=mlflow", "logger.mlflow.tracking_uri= "],
         "logger.mlflow.tracking_uri is empty: give a tracking URI, e.g. "
         "sqlite:///outputs/mlflow.db or http://host:5000."),
        (["logger.mlflow.nope=1"],
         "Unknown key 'logger.mlflow.nope'. Choose one of: enabled, experiment, tracking_uri."),
    ],
)  # fmt: skip
def test_bad_logger_input_gets_one_line_and_leaves_nothing(tmp_path, overrides, message):
    for args in (overrides, ["-m", *overrides, "seed=0,1"]):  # a run, and a sweep
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [f"mlplab: error: {message}"]
        assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no file written


def test_a_logger_whose_package_is_missing_is_refused(tmp_path):
    code = (
        "import sys; sys.modules['mlflow'] = None; sys.argv = ['mlplab-run', 'logger=mlflow']; "
        "from mlplab.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "mlplab: error: logger=mlflow needs the mlflow package: pip install 'mlplab[mlflow]'."
    )
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_logger_names_and_settings_agree_with_the_configs():
    assert sorted(LOGGERS) == sorted(p.stem for p in (REPO / "configs" / "logger").glob("*.yaml"))
    # every logger setting stays out of results.csv's knob columns
    s = settings.from_tree(
        {"tensorboard": {"enabled": False}, "every_n_epochs": 1,
         "mlflow": {"enabled": False, "tracking_uri": "x", "experiment": None}},
        settings.LoggerSettings,
    )  # fmt: skip
    assert {f"logger.{k}" for k in settings.flat(s)} <= set(NOT_KNOBS)


@pytest.mark.parametrize("server", ["refuses", "never answers"])
@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
def test_a_tracking_server_that_does_not_answer_is_one_line_before_any_training(
    tmp_path, server, multirun
):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if server == "never answers":
        listener.listen(1)  # connections queue, nothing reads them: the check times out
    else:
        listener.close()  # nothing there: refused at once
    try:
        uri = f"http://127.0.0.1:{port}"
        args = ["-m", "seed=0,1"] if multirun else []
        proc = run_cli(*args, "logger=mlflow", f"logger.mlflow.tracking_uri={uri}",
                       "trainer.epochs=2", "hydra.run.dir=out/run", "hydra.sweep.dir=out/sweep",
                       cwd=tmp_path)  # fmt: skip
    finally:
        listener.close()
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(
        f"mlplab: error: logger.mlflow.tracking_uri={uri}: no MLflow server answers there ("
    )
    assert line.endswith(
        "or log to a file store, e.g. logger.mlflow.tracking_uri=sqlite:///outputs/mlflow.db."
    )
    assert "Retrying" not in proc.stdout + proc.stderr and not (tmp_path / "out").exists()
