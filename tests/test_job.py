"""mlplab.job in this process: a group of jobs trained as one stack and written to their
folders, against the same jobs run one at a time; failures recorded, a full disk raised."""

from __future__ import annotations

import errno
import json

import pandas as pd
import pytest
from conftest import make_settings

from mlplab import job as job_module
from mlplab import settings
from mlplab.lifecycle import Job
from mlplab.results import HISTORY_FILE, LAYERS_FILE, RESULT_FILE

FAST = ("dataset=two_moons", "trainer.epochs=3", "trainer.batch_size=32")


def jobs_for(tmp_path, *hiddens: str, extra: tuple[str, ...] = ()) -> list[Job]:
    out = []
    for num, hidden in enumerate(hiddens):
        overrides = (*FAST, f"model.hidden={hidden}", *extra)
        s = make_settings(*overrides)
        out.append(Job(num, overrides, tmp_path / f"job{num}", settings.flat(s), s))
    return out


def test_a_stack_writes_each_folder_as_that_job_alone_would(tmp_path):
    together = job_module.run_group(jobs_for(tmp_path / "stack", "[4]", "[8]", "[8]"))
    alone = [
        job_module.run_group([j])[0] for j in jobs_for(tmp_path / "alone", "[4]", "[8]", "[8]")
    ]
    assert [r["status"] for r in together] == ["completed"] * 3
    for k, (a, b) in enumerate(zip(together, alone)):
        folder = tmp_path / "stack" / f"job{k}"
        assert {p.name for p in folder.iterdir()} >= {
            HISTORY_FILE,
            LAYERS_FILE,
            RESULT_FILE,
            "model.safetensors",
        }
        assert json.loads((folder / RESULT_FILE).read_text())["status"] == "completed"
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=1e-6)
        stacked = pd.read_csv(folder / HISTORY_FILE)
        single = pd.read_csv(tmp_path / "alone" / f"job{k}" / HISTORY_FILE)
        pd.testing.assert_series_equal(stacked["train_loss"], single["train_loss"], atol=1e-5)
        layers = pd.read_csv(folder / LAYERS_FILE)
        assert sorted(layers["epoch"].unique()) == [0, 3]  # at init and at the end


def test_a_broken_data_file_fails_each_job_of_a_sweep_and_raises_in_a_single_run(tmp_path):
    broken = tmp_path / "nope.npz"
    broken.write_bytes(b"not a zip archive")  # a file that exists, so settings pass it
    missing = ("dataset=file", f"dataset.path={broken}")
    group = jobs_for(tmp_path, "[4]", "[8]", extra=missing)
    results = job_module.run_group(group)
    assert [r["status"] for r in results] == ["failed", "failed"]
    for j, r in zip(group, results):
        assert "nope.npz" in r["error"]
        assert json.loads((j.run_dir / RESULT_FILE).read_text())["error"] == r["error"]
    single = jobs_for(tmp_path / "single", "[4]", extra=missing)
    with pytest.raises(settings.ConfigError, match="nope.npz"):
        job_module.run_group(single, single=True)
    assert not (single[0].run_dir / RESULT_FILE).exists()


def test_a_full_disk_is_raised_not_recorded_as_the_jobs_failure(tmp_path, monkeypatch):
    # ENOSPC cannot be made for real here: it is injected where the weights are written
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(job_module, "save_file", no_space)
    group = jobs_for(tmp_path, "[4]")
    with pytest.raises(OSError) as caught:
        job_module.run_group(group)
    assert caught.value.errno == errno.ENOSPC
    assert not (group[0].run_dir / RESULT_FILE).exists()  # no folder claims to be complete


def test_layers_csv_is_measured_on_the_fixed_sample_of_the_training_split(tmp_path):
    from mlplab import diagnostics
    from mlplab.train import prepare

    group = jobs_for(tmp_path, "[16,16]", extra=("dataset.n_samples=1000",))
    job_module.run_group(group)
    data, model, loss = prepare(group[0].settings)  # the data and the network as drawn
    assert len(data.X_train) > diagnostics.LAYER_SAMPLE  # so the sample is a part of it
    rows = slice(0, diagnostics.LAYER_SAMPLE)
    sample = diagnostics.layer_stats(model, data.X_train[rows], data.y_train[rows], loss)
    whole = diagnostics.layer_stats(model, data.X_train, data.y_train, loss)
    written = pd.read_csv(group[0].run_dir / LAYERS_FILE).query("epoch == 0")
    for column in ("act_std", "act_abs_mean", "grad_norm"):
        expected = [row[column] for row in sample]
        assert written[column].tolist() == pytest.approx(expected, rel=1e-5)
        assert written[column].tolist() != pytest.approx([r[column] for r in whole], rel=1e-5)


def test_preloaded_data_is_what_the_groups_that_follow_train_on(tmp_path):
    """A sweep loads its data before forking its workers (``preload``): the groups find it in
    ``_load``'s cache instead of reading it again, and train as they would have."""
    plain = job_module.run_group(jobs_for(tmp_path / "plain", "[4]", "[8]"))
    job_module._load.cache_clear()
    job_module.preload(jobs_for(tmp_path, "[4]")[0].settings)
    assert job_module._load.cache_info().misses == 1
    preloaded = job_module.run_group(jobs_for(tmp_path / "preloaded", "[4]", "[8]"))
    info = job_module._load.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert [r["val_acc"] for r in preloaded] == [r["val_acc"] for r in plain]


def test_preload_leaves_cuda_data_and_broken_files_to_the_workers(tmp_path):
    job_module._load.cache_clear()
    job_module.preload(make_settings(*FAST, "trainer.device=cuda"))  # never before a fork
    broken = tmp_path / "nope.npz"
    broken.write_bytes(b"not a zip archive")
    job_module.preload(make_settings(*FAST, "dataset=file", f"dataset.path={broken}"))  # no raise
    assert job_module._load.cache_info().currsize == 0


def test_a_file_is_read_once_per_stamp_and_never_hashed_to_train(tmp_path):
    """Training keys its loaded data by the file's path, size and modification time: a
    group never hashes the file's content (``data.fingerprint`` is for the identities of a
    sweep's results), and a file written anew is read anew."""
    import numpy as np

    from mlplab import data as data_module

    path = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)).astype(np.float32)
    np.savez(path, X=X, y=(X[:, 0] > 0).astype(int))
    extra = ("dataset=file", f"dataset.path={path}")
    job_module._load.cache_clear()
    data_module._digest.cache_clear()
    first = job_module.run_group(jobs_for(tmp_path / "a", "[4]", extra=extra))
    again = job_module.run_group(jobs_for(tmp_path / "b", "[4]", extra=extra))
    assert (job_module._load.cache_info().misses, job_module._load.cache_info().hits) == (1, 1)
    assert data_module._digest.cache_info().misses == 0  # no content hash to train
    assert first[0]["val_acc"] == again[0]["val_acc"]
    np.savez(path, X=X[:40], y=(X[:40, 0] > 0).astype(int))  # written anew: a new stamp
    smaller = job_module.run_group(jobs_for(tmp_path / "c", "[4]", extra=extra))
    assert job_module._load.cache_info().misses == 2
    assert smaller[0]["n_train"] < first[0]["n_train"]
