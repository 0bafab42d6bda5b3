"""The real entry point, end to end: run folders, repeatability, and the bad-input catalogue."""

import json

import pandas as pd
import pytest
import torch
from conftest import make_settings, run_cli

import mlplab
from mlplab.train import evaluate, prepare

FAST = ["trainer.epochs=15"]


def run_dirs(root):
    return sorted(p for p in (root / "outputs" / "runs").glob("*/*") if p.is_dir())


def test_the_issue_command_leaves_tables_checkpoint_and_plots(tmp_path):
    args = [
        "dataset=two_moons",
        "model.hidden=[16,16]",
        "model.activation=gelu",
        "optimizer=sgd",
        "optimizer.lr=0.1",
        *FAST,
    ]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (run,) = run_dirs(tmp_path)
    assert "completed:" in proc.stdout and str(run.relative_to(tmp_path)) in proc.stdout
    for name in (
        "history.csv",
        "result.json",
        "model.safetensors",
        "curves.png",
        "boundary.png",
        ".hydra/config.yaml",
    ):
        assert (run / name).is_file(), name
    result = json.loads((run / "result.json").read_text())
    for key in ("status", "params", "epochs_run", "train_seconds", "train_loss", "train_acc", "val_loss",
                "val_acc", "best_val_acc", "best_epoch", "error"):  # fmt: skip
        assert key in result, key
    assert (
        result["status"] == "completed" and result["params"] == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    )
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == [
        "epoch",
        "train_loss",
        "val_loss",
        "train_acc",
        "val_acc",
        "seconds",
    ]
    assert len(history) == 16 and history["epoch"].tolist() == list(range(16))
    assert result["val_acc"] == history["val_acc"].iloc[-1]
    assert result["best_val_acc"] == history["val_acc"].max()
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the checkpoint loads back (safetensors, no pickle) to the same predictions
    s = make_settings(*args)
    model = mlplab.load_model(run)
    data, _, loss = prepare(s)
    val_loss, val_acc = evaluate(model, data.X_val, data.y_val, loss)
    assert float(val_loss) == result["val_loss"] and float(val_acc) == result["val_acc"]


def test_the_same_command_twice_gives_identical_histories(tmp_path):
    args = ["dataset=spiral", "model.hidden=[8,8]", "model.dropout=0.1", *FAST]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    first, second = run_dirs(tmp_path)
    assert first != second  # every run its own folder
    assert (first / "history.csv").read_text().count("\n") == 1 + 16
    assert (first / "history.csv").read_bytes() == (
        second / "history.csv"
    ).read_bytes()  # bit for bit


def test_timing_fills_the_seconds_column(tmp_path):
    assert (
        run_cli("dataset=xor", "trainer.epochs=3", "trainer.timing=true", cwd=tmp_path).returncode
        == 0
    )
    (run,) = run_dirs(tmp_path)
    seconds = pd.read_csv(run / "history.csv")["seconds"]
    assert seconds.notna().all() and seconds.is_monotonic_increasing


def test_python_dash_m_and_epochs_zero_and_user_config_dir(tmp_path):
    user_configs = tmp_path / "my_configs" / "dataset"
    user_configs.mkdir(parents=True)
    (user_configs / "tiny_moons.yaml").write_text(
        "name: two_moons\nn_samples: 40\nnoise: 0.2\nval_fraction: 0.25\n"
    )
    proc = run_cli(
        "--config-dir",
        str(tmp_path / "my_configs"),
        "dataset=tiny_moons",
        "trainer.epochs=0",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = run_dirs(tmp_path)
    result = json.loads((run / "result.json").read_text())
    assert result["epochs_run"] == 0 and result["n_train"] == 30


BAD = [
    (
        ["model.activation=rleu"],
        "Unknown model.activation 'rleu'. Choose one of: gelu, identity, leaky_relu, relu",
    ),
    (["dataset=twomoons"], "Unknown dataset 'twomoons'. Choose one of: breast_cancer, circles"),
    (["optimizer=adamm"], "Unknown optimizer 'adamm'. Choose one of: adam, adamw, rmsprop, sgd"),
    (
        ["model.hiden=[4]"],
        "Unknown key 'model.hiden'. Did you mean model.hidden? Choose one of: activation, dropout, hidden",
    ),
    (
        ["sed=3"],
        "Unknown key 'sed'. Did you mean seed? Choose one of: dataset, logger, loss, model, optimizer, seed, sweep, trainer",
    ),
    (
        ["trainer.epochs=ten"],
        "trainer.epochs: Value 'ten' of type 'str' could not be converted to Integer",
    ),
    (
        ["model.hidden=[16,0]"],
        "model.hidden=[16, 0]: every width must be a positive integer, got 0",
    ),
    (["model.hidden=[4"], "Cannot parse override 'model.hidden=[4'"),
    (["optimizer.lr=0"], "optimizer.lr must be a positive number, got 0"),
    (["model.init=kaiming"], "Unknown model.init 'kaiming'. Choose one of: auto, he_normal"),
    (["loss=hinge"], "Unknown loss 'hinge'. Choose one of: auto, bce, cross_entropy, mse"),
    (
        ["dataset=spiral", "loss=bce"],
        "loss=bce does not fit a multiclass task (3 classes). Choose one of: auto, cross_entropy",
    ),
    (
        ["dataset=sine", "loss=cross_entropy"],
        "loss=cross_entropy does not fit a regression task (real-valued targets)",
    ),
    (["dataset=file"], "dataset=file needs dataset.path=FILE"),
    (["dataset=file", "dataset.path=nope.csv"], "dataset.path='nope.csv': no such file"),
    (
        ["dataset=file", "dataset.path=data.csv", "dataset.target=lable"],
        "Unknown dataset.target 'lable'. Choose one of: label, x0, x1",
    ),
    (["dataset=file", "dataset.path=nan.csv", "dataset.target=label"], "features contain NaN"),
    (
        ["dataset=file", "dataset.path=empty.csv", "dataset.target=label"],
        "the dataset is empty (0 samples)",
    ),
    # an output folder that cannot be made (a file stands where a folder should go)
    (["hydra.run.dir=data.csv/run"], "cannot write"),
    # sweeps: nothing is written when a group, a type or every job's value is wrong
    (["-m", "dataset=two_moons,twomoons"], "Unknown dataset 'twomoons'. Choose one of:"),
    (["-m", "model.hidden=[4],[8]", "trainer.epochs=ten"], "trainer.epochs: Value 'ten'"),
    (["-m", "model.activation=rleu", "seed=0,1"], "Unknown model.activation 'rleu'. Choose"),
    (["-m", "seed=0,1", "hydra.sweep.dir=data.csv/sweep"], "hydra.sweep.dir="),
    # a key's last part, or a near spelling: the full path it most likely means
    (["lr=0.1"], "Unknown key 'lr'. Did you mean optimizer.lr? Choose one of: dataset, logger,"),
    (["epochs=3"], "Unknown key 'epochs'. Did you mean trainer.epochs? Choose one of: dataset,"),
    (
        ["model.activaton=tanh"],
        "Unknown key 'model.activaton'. Did you mean model.activation? Choose one of: activation,",
    ),
    (["nothing_like_it=1"], "Unknown key 'nothing_like_it'. Choose one of: dataset, logger,"),
    # a key under a hydra plugin's node: the keys it has
    (
        ["hydra.sweeper.pruner=median"],
        "Unknown key 'hydra.sweeper.pruner'. Choose one of: max_batch_size, params.",
    ),
    # a typo in an optional group (Hydra would skip it and train the defaults)
    (
        ["experiment=two_moon_arch"],
        "Unknown experiment 'two_moon_arch'. Choose one of: activations,",
    ),
    (
        ["init_scheme=hee"],
        "Unknown init_scheme 'hee'. Choose one of: he, large_normal, small_normal",
    ),
    (
        ["hparams_search=two_moons_optun"],
        "Unknown hparams_search 'two_moons_optun'. Choose one of: two_moons_optuna.",
    ),
    (["-m", "init_scheme=he,hee"], "Unknown init_scheme 'hee'. Choose one of: he,"),
    (["-m", "experiment=xor,xorr", "hydra/launcher=basic"], "Unknown experiment 'xorr'. Choose"),
]
if not torch.cuda.is_available():
    BAD.append(
        (
            ["trainer.device=cuda"],
            "trainer.device=cuda but no CUDA device is available. Choose one of: auto, cpu",
        )
    )


@pytest.mark.parametrize("overrides, message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_input_gets_one_clear_line_and_leaves_nothing(tmp_path, overrides, message):
    (tmp_path / "data.csv").write_text("x0,x1,label\n0.1,0.2,0\n0.3,0.1,1\n0.5,0.5,0\n")
    (tmp_path / "nan.csv").write_text("x0,x1,label\n0.1,,0\n0.3,0.1,1\n")
    (tmp_path / "empty.csv").write_text("x0,x1,label\n")
    proc = run_cli(*overrides, *FAST, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"mlplab: error: {proc.stderr.strip().removeprefix('mlplab: error: ')}"
    ]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert run_dirs(tmp_path) == [] and not list(tmp_path.rglob("result.json"))
    assert not (tmp_path / "outputs" / "sweeps").exists()


def test_configs_ship_inside_the_wheel_and_are_found_from_any_folder(tmp_path):
    import subprocess
    import sys
    import zipfile

    from conftest import REPO

    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO), "-w", str(tmp_path / "whl")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "whl").glob("mlplab-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    assert (
        "mlplab/configs/config.yaml" in names and "mlplab/configs/dataset/two_moons.yaml" in names
    )
    assert "mlplab/configs/experiment/two_moons_arch.yaml" in names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the unpacked wheel comes first on the path, ahead of this checkout's editable install
    proc = run_cli(
        "dataset=xor", "trainer.epochs=1", cwd=elsewhere, env={"PYTHONPATH": str(tmp_path / "site")}
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list((elsewhere / "outputs" / "runs").glob("*/*/result.json"))) == 1


@pytest.mark.parametrize("library", ["turns it into an ImportError", "lets it through"])
def test_a_ctrl_c_during_an_import_still_ends_as_interrupted(monkeypatch, capsys, library):
    """A Ctrl-C inside numpy's import (under torch's) comes out as an ImportError."""
    import os
    import signal
    import time

    import mlplab.cli

    def run():
        try:
            os.kill(os.getpid(), signal.SIGINT)  # delivered to this thread, in the sleep
            time.sleep(30)
        except KeyboardInterrupt:
            if library == "turns it into an ImportError":
                raise ImportError("cannot load module more than once per process") from None
            raise

    monkeypatch.setattr(mlplab.cli, "run", run)
    monkeypatch.setattr("sys.argv", ["mlplab-run", "-m", "seed=0,1"])
    # Python's own Ctrl-C handler, as a terminal's foreground process has it: a process that
    # a shell starts in the background inherits SIGINT ignored, which main() leaves as it is
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exit_:
            mlplab.cli.main()
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert exit_.value.code == 130
    line = capsys.readouterr().err.strip()
    assert line.startswith("mlplab: interrupted; the same command resumes the sweep in ")
    assert line.endswith("outputs/sweeps/seed=0,1")


def test_a_typo_in_a_users_own_experiment_lists_their_experiments_too(tmp_path):
    mine = tmp_path / "my_configs" / "experiment"
    mine.mkdir(parents=True)
    (mine / "my_grid.yaml").write_text("# @package _global_\ntrainer:\n  epochs: 1\n")
    common = ["--config-dir", str(tmp_path / "my_configs"), "hydra.run.dir=out/run"]
    typo = run_cli(*common, "experiment=my_gird", cwd=tmp_path)
    assert typo.returncode == 2 and typo.stderr.count("\n") == 1, typo.stderr
    assert "Unknown experiment 'my_gird'. Choose one of: activations," in typo.stderr
    assert ", my_grid, " in typo.stderr and not (tmp_path / "out").exists()
    right = run_cli(*common, "experiment=my_grid", cwd=tmp_path)
    assert right.returncode == 0, right.stderr
    assert json.loads((tmp_path / "out" / "run" / "result.json").read_text())["epochs_run"] == 1
