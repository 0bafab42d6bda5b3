"""The Python API (mlplab.run, sweep, load_sweep, load_model) in this process, through the
real Hydra app: the same folders as the command, errors that raise, calls that repeat."""

import io
import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import make_settings

import mlplab
from mlplab.api import arguments
from mlplab.settings import ConfigError
from mlplab.train import prepare


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outputs/ goes here, as it would beside a notebook


def test_run_returns_the_result_with_its_folder(tmp_path):
    result = mlplab.run({"model.hidden": [8, 8], "trainer.epochs": 3, "trainer.figures": False})
    run_dir = tmp_path / "outputs" / "runs"
    (folder,) = run_dir.glob("*/*")
    assert result["run_dir"] == str(folder.absolute())
    on_disk = json.loads((folder / "result.json").read_text())
    assert {k: v for k, v in result.items() if k != "run_dir"} == on_disk
    assert result["status"] == "completed" and result["config"]["model.hidden"] == [8, 8]
    assert result["overrides"] == [
        "model.hidden=[8,8]",
        "trainer.epochs=3",
        "trainer.figures=false",
    ]


def test_calls_repeat_in_one_process_and_leave_logging_as_it_was(tmp_path):
    root = logging.getLogger()
    mine = logging.StreamHandler(io.StringIO())
    root.addHandler(mine)
    before = (list(root.handlers), root.level)
    try:
        first = mlplab.run(["trainer.epochs=2", "trainer.figures=false"])
        second = mlplab.run(["trainer.epochs=2", "trainer.figures=false"])
        table = mlplab.sweep({"seed": [0, 1], "trainer.epochs": 2})
        assert (list(root.handlers), root.level) == before  # Hydra's handlers are gone again
        logging.getLogger("notebook").warning("one line")
    finally:
        root.removeHandler(mine)
    assert mine.stream.getvalue() == "one line\n"  # once, not once per call
    assert first["run_dir"] != second["run_dir"] and len(table) == 2
    assert first["val_loss"] == second["val_loss"]  # the same command, the same numbers


def test_sweep_returns_results_csv_with_failed_jobs_as_rows(tmp_path):
    table = mlplab.sweep(
        {"model.hidden": [[4], [8, 8]], "model.dropout": [0.0, 1.5], "trainer.epochs": 2}
    )
    folder = table.attrs["sweep_dir"]
    assert folder == tmp_path / "outputs" / "sweeps" / (
        "model.dropout=0.0,1.5__model.hidden=[4],[8,8]__trainer.epochs=2"
    )  # the folder the command names after the same overrides
    pd.testing.assert_frame_equal(table, pd.read_csv(folder / "results.csv"))
    assert sorted(table["status"]) == ["completed", "completed", "failed", "failed"]
    failed = table[table["status"] == "failed"]
    assert (failed["model.dropout"] == 1.5).all()
    assert failed["error"].str.contains("model.dropout must be in").all()


def test_a_dict_gives_the_overrides_typed_on_the_command_line():
    grid = {"model.hidden": [[4], [8, 8]], "seed": [0, 1, 2], "optimizer.lr": 0.001,
            "trainer.batch_size": None, "model.residual": False, "dataset": "iris",
            "logger": [["tensorboard", "mlflow"]], "trainer.epochs": "range(2,4)"}  # fmt: skip
    assert arguments(grid, sweep=True) == [
        "model.hidden=[4],[8,8]", "seed=0,1,2", "optimizer.lr=0.001", "trainer.batch_size=null",
        "model.residual=false", "dataset=iris", "logger=[tensorboard,mlflow]",
        "trainer.epochs=range(2,4)",
    ]  # fmt: skip
    # in run() a list is the value itself
    assert arguments({"model.hidden": [8, 8], "logger": ["tensorboard", "mlflow"]}, False) == [
        "model.hidden=[8,8]",
        "logger=[tensorboard,mlflow]",
    ]
    assert arguments(["seed=1", "model.hidden=[4]"], sweep=True) == ["seed=1", "model.hidden=[4]"]


def test_load_sweep_reads_the_tables_and_rebuilds_them_when_missing(tmp_path):
    table = mlplab.sweep({"model.hidden": [[4], [8]], "seed": [0, 1], "trainer.epochs": 2})
    folder = table.attrs["sweep_dir"]
    results, summary = mlplab.load_sweep(folder)
    pd.testing.assert_frame_equal(results, table)
    pd.testing.assert_frame_equal(summary, pd.read_csv(folder / "summary.csv"))
    assert summary["n"].tolist() == [2, 2]
    (folder / "results.csv").unlink()  # as after a kill: built from the job folders
    (folder / "summary.csv").unlink()
    rebuilt, resummed = mlplab.load_sweep(str(folder))
    pd.testing.assert_frame_equal(rebuilt, results, check_dtype=False)
    assert resummed["val_acc_mean"].tolist() == pytest.approx(summary["val_acc_mean"].tolist())
    assert not (folder / "results.csv").exists()  # nothing written
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        mlplab.load_sweep(tmp_path / "nowhere")


@pytest.mark.parametrize("predates_loggers", [False, True])
def test_load_model_rebuilds_the_saved_network(tmp_path, predates_loggers):
    overrides = ["model.hidden=[8,8]", "model.activation=tanh", "trainer.epochs=5"]
    result = mlplab.run([*overrides, "trainer.figures=false"])
    path = tmp_path / result["run_dir"] / "result.json"
    if predates_loggers:  # a result.json written before the logger settings existed
        saved = json.loads(path.read_text())
        saved["config"] = {k: v for k, v in saved["config"].items() if not k.startswith("logger")}
        path.write_text(json.dumps(saved))
    model = mlplab.load_model(result["run_dir"])
    # its validation accuracy, computed here from data composed another way, is the run's
    data, _, _ = prepare(make_settings(*overrides, "trainer.device=cpu"))
    with torch.no_grad():
        predicted = (model(data.X_val)[:, 0] > 0).float()
    accuracy = (predicted == data.y_val.reshape(-1)).float().mean().item()
    assert accuracy == pytest.approx(result["val_acc"])
    assert [m.out_features for m in model if isinstance(m, torch.nn.Linear)] == [8, 8, 1]
    with pytest.raises(FileNotFoundError, match="no result.json"):
        mlplab.load_model(tmp_path)


def test_a_diverged_run_is_a_result_not_an_exception():
    result = mlplab.run({"optimizer": "sgd", "optimizer.lr": 1e12, "trainer.epochs": 3,
                         "trainer.figures": False})  # fmt: skip
    assert result["status"] == "diverged" and "non-finite loss" in result["error"]


@pytest.mark.parametrize(
    "call, overrides, error, message",
    [
        ("run", {"model.activation": "rleu"}, ConfigError, "Unknown model.activation 'rleu'"),
        ("run", ["nope=1"], ConfigError, "Unknown key 'nope'. Choose one of: dataset, logger"),
        ("run", ["dataset=nope"], ConfigError, "Unknown dataset 'nope'. Choose one of:"),
        ("run", ["model.hidden=[8"], ConfigError, "Cannot parse override 'model.hidden=[8'"),
        ("run", ["--cfg", "job"], ConfigError, "takes overrides (key=value), not '--cfg'"),
        ("run", "seed=1", TypeError, "give a list of strings or a dict"),
        ("sweep", {"model.hidden": [8, 8]}, ConfigError, "give a list of lists"),
        ("sweep", {"seed": []}, ConfigError, "seed: an empty list of values"),
        ("sweep", ["model.activation=rleu,tanhh"], ConfigError, "Unknown model.activation 'rleu'"),
        ("run", {"experiment": "two_moon_arch"}, ConfigError, "Unknown experiment 'two_moon_arch'"),
        ("sweep", {"init_scheme": ["he", "hee"]}, ConfigError, "Unknown init_scheme 'hee'"),
    ],
)  # fmt: skip
def test_a_mistake_raises_one_clear_error_and_writes_nothing(
    tmp_path, capfd, call, overrides, error, message
):
    with pytest.raises(error) as raised:
        getattr(mlplab, call)(overrides)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.__cause__ is None  # no chained Hydra error to read through
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_data_file_edited_between_two_runs_is_read_again(tmp_path):
    data = tmp_path / "data.csv"
    rows = [f"{i % 7 * 0.1:.1f},{i % 5 * 0.2:.1f},{i % 2}" for i in range(40)]
    data.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    knobs = {"dataset": "file", "dataset.path": str(data), "dataset.target": "label",
             "trainer.epochs": 1, "trainer.figures": False}  # fmt: skip
    assert mlplab.run(knobs)["n_train"] == 32
    data.write_text("a,b,label\n" + "\n".join(rows + rows) + "\n")  # in the same process
    assert mlplab.run(knobs)["n_train"] == 64


# ---------------------------------------------------------------- data straight from Python


def _cancer():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def test_a_run_on_a_dataframe_writes_it_once_into_its_folder_and_trains_as_on_the_file(tmp_path):
    import numpy as np

    frame = _cancer()
    result = mlplab.run({"model.hidden": [8], "trainer.epochs": 3}, data=frame, target="target")
    assert result["status"] == "completed"
    run_dir = Path(result["run_dir"])
    (written,) = run_dir.glob("data-*.npz")
    assert Path(result["config"]["dataset.path"]).resolve() == written.resolve()
    with np.load(written) as z:  # the frame's features and labels, as they were
        assert np.array_equal(z["X"], frame.drop(columns="target").to_numpy(np.float32))
        assert np.array_equal(z["y"], frame["target"].to_numpy())
    # the same data given as a file on the command line trains to the same numbers
    by_file = mlplab.run(["model.hidden=[8]", "trainer.epochs=3", "dataset=file",
                          f"dataset.path={written}"])  # fmt: skip
    assert by_file["val_acc"] == result["val_acc"] and by_file["train_loss"] == result["train_loss"]
    assert mlplab.load_model(run_dir)[0].in_features == 30


def test_a_sweep_on_arrays_resumes_with_the_same_data_and_never_mixes_other_data(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    X, X_test = rng.standard_normal((200, 5)), rng.standard_normal((50, 5))
    y, y_test = (X[:, 0] > 0).astype(int), (X_test[:, 0] > 0).astype(int)
    knobs = {"model.hidden": [[4], [8]], "seed": [0, 1], "trainer.epochs": 3}
    first = mlplab.sweep(knobs, data=(X, y, X_test, y_test))
    folder = first.attrs["sweep_dir"]
    assert len(first) == 4 and (first["status"] == "completed").all()
    assert first["test_acc"].notna().all()  # the given test split
    assert len(list(folder.glob("data-*.npz"))) == 1
    # the job folders are named by their knobs, not by the data file's long path
    assert sorted(first["run_dir"]) == sorted(
        f"model.hidden=[{w}],seed={s},trainer.epochs=3" for w in (4, 8) for s in (0, 1)
    )
    capsys.readouterr()
    again = mlplab.sweep(knobs, data=(X, y, X_test, y_test))
    assert again.attrs["sweep_dir"] == folder
    assert "4 jobs: 4 complete (skipped)" in capsys.readouterr().err
    pd.testing.assert_frame_equal(first, again)
    # other data: a folder of its own, so the tables never mix them
    other = mlplab.sweep(knobs, data=(X, 1 - y))
    assert other.attrs["sweep_dir"] != folder and len(other) == 4
    # ... and a folder that holds other data is refused, with nothing written
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ConfigError, match=r"^data: .* holds the results of other data \(data-"):
        mlplab.sweep({**knobs, "hydra.sweep.dir": str(folder)}, data=(X, 1 - y))
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.parametrize(
    "make, target, message",
    [
        (lambda f: f, None, r"^data: a DataFrame needs target=COLUMN\. Columns: mean radius"),
        (lambda f: f, "label", r"^data: Unknown target 'label'\. Choose one of the DataFrame's columns: "),
        (lambda f: f.assign(kind="a"), "target", r"^data: feature columns must be numeric; not numeric: kind\.$"),
        (lambda f: f.assign(**{"mean radius": float("nan")}), "target",
         r"^data: the features contain NaN, empty or infinite values \(first in column 'mean radius', data row 1\)\.$"),
        (lambda f: (f.to_numpy()[:, :-1], f.to_numpy()[:-1, -1]), None, r"^data: X has 569 rows but y has 568\.$"),
        (lambda f: (f.to_numpy()[:, :-1], f.to_numpy()[:, -1], f.to_numpy()[:, :-1]), None,
         r"^data: give a pandas DataFrame"),
        (lambda f: f.to_numpy(), None, r"^data: give a pandas DataFrame .*; got ndarray\.$"),
        (lambda f: {"X": f.to_numpy()}, None, r"^data: give a pandas DataFrame .*; got dict\.$"),
    ],
    ids=["no-target", "unknown-target", "object-column", "nan", "lengths", "three-arrays", "one-array",
         "dict"],
)  # fmt: skip
def test_bad_data_from_python_is_one_config_error_and_writes_nothing(
    tmp_path, make, target, message
):
    with pytest.raises(ConfigError, match=message):
        mlplab.sweep({"seed": [0]}, data=make(_cancer()), target=target)
    with pytest.raises(ConfigError, match=message):
        mlplab.run({}, data=make(_cancer()), target=target)
    assert not (tmp_path / "outputs").exists()


def test_data_and_a_dataset_override_are_refused_together(tmp_path):
    with pytest.raises(ConfigError, match=r"^data= and dataset=iris both give the data"):
        mlplab.run({"dataset": "iris"}, data=_cancer(), target="target")
    assert not (tmp_path / "outputs").exists()


def test_the_api_names_stay_functions_once_the_modules_behind_them_are_imported():
    import mlplab.comparison  # noqa: F401
    import mlplab.lifecycle  # noqa: F401

    for name in mlplab.API:
        assert callable(getattr(mlplab, name)), name
