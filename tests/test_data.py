"""Datasets: the seeds' generators checked against their defining rules, splits, files."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_settings

from mlplab.data import DATASETS, load
from mlplab.settings import ConfigError, DatasetSettings


def dataset(*overrides):
    return make_settings(*overrides).dataset


@pytest.mark.parametrize(
    "name, in_dim, task, n_classes, n_train, n_val",
    [
        ("two_moons", 2, "binary", 2, 240, 60),
        ("xor", 2, "binary", 2, 4, 0),
        ("diag_flip", 4, "regression", 0, 16, 0),
        ("circles", 2, "binary", 2, 160, 40),
        ("spiral", 2, "multiclass", 3, 240, 60),
        ("sine", 1, "regression", 0, 80, 20),
        ("sawtooth", 1, "regression", 0, 410, 102),
        ("tabular", 20, "binary", 2, 800, 200),
        ("sign4", 20, "multiclass", 4, 640, 160),
        ("iris", 4, "multiclass", 3, 120, 30),
        ("wine", 13, "multiclass", 3, 142, 36),
        ("breast_cancer", 30, "binary", 2, 455, 114),
        ("digits", 64, "multiclass", 10, 1438, 359),
        ("diabetes", 10, "regression", 0, 354, 88),
    ],
)
def test_every_dataset_loads_with_its_task_and_sizes(name, in_dim, task, n_classes, n_train, n_val):
    d = load(dataset(f"dataset={name}"))
    assert (d.in_dim, d.task, d.n_classes) == (in_dim, task, n_classes)
    assert len(d.X_train) == n_train and (0 if d.X_val is None else len(d.X_val)) == n_val
    assert d.X_train.dtype == torch.float32 and torch.isfinite(d.X_train).all()
    if task == "binary":
        assert d.y_train.shape == (n_train, 1) and set(d.y_train.unique().tolist()) <= {0.0, 1.0}
    elif task == "multiclass":
        assert d.y_train.dtype == torch.long and d.y_train.max() < n_classes


def test_every_registry_entry_has_a_config_file():
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "configs" / "dataset"
    assert sorted(p.stem for p in configs.glob("*.yaml")) == sorted(DATASETS)


def test_two_moons_is_the_seed_generator_not_sklearn():
    X, y = DATASETS["two_moons"](
        DatasetSettings("two_moons", n_samples=300, noise=0.0), np.random.default_rng(0)
    )
    top, bottom = X[y == 0], X[y == 1]
    assert len(top) == len(bottom) == 150
    # class 0: the upper unit half-circle; class 1: the circle around (0.5, 0.5), lower half
    assert np.allclose((top**2).sum(1), 1) and (top[:, 1] >= -1e-12).all()
    assert np.allclose(((bottom - 0.5) ** 2).sum(1), 1) and (bottom[:, 1] <= 0.5 + 1e-12).all()
    assert not np.all(y[:150] == 0)  # shuffled


def test_two_moons_noise_has_the_asked_std():
    d = DatasetSettings("two_moons", n_samples=20000, noise=0.1)
    X, y = DATASETS["two_moons"](d, np.random.default_rng(1))
    top = X[y == 0]
    radial = np.sqrt((top**2).sum(1)) - 1
    assert radial.std() == pytest.approx(0.1, rel=0.05)


def test_diag_flip_targets_are_transposes():
    X, Y = DATASETS["diag_flip"](DatasetSettings("diag_flip"), None)
    assert len({tuple(r) for r in X}) == 16
    for x, t in zip(X, Y):
        assert np.array_equal(t, x.reshape(2, 2).T.reshape(-1))


def test_xor_tabular_and_sign4_follow_their_rules():
    X, y = DATASETS["xor"](DatasetSettings("xor", n_samples=4), np.random.default_rng(0))
    assert np.array_equal(y, (X[:, 0] != X[:, 1]).astype(int))
    X, y = DATASETS["tabular"](
        DatasetSettings("tabular", n_samples=500, n_features=5), np.random.default_rng(0)
    )
    assert X.shape == (500, 5) and np.array_equal(y, X[:, 0] + X[:, 1] * X[:, 2] > 0)
    X, y = DATASETS["sign4"](
        DatasetSettings("sign4", n_samples=500, n_features=5), np.random.default_rng(0)
    )
    for xi, yi in zip(X, y):
        assert yi == 2 * (xi[0] > 0) + (xi[1] * xi[2] > 0)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_sawtooth_is_the_composed_tent_map(k):
    x, y = DATASETS["sawtooth"](
        DatasetSettings("sawtooth", n_samples=1025, k=k), np.random.default_rng(0)
    )
    x, y = x[:, 0], y[:, 0]
    # closed form: a triangle wave with 2**k linear pieces on [0, 1]
    assert np.allclose(y, 1 - np.abs(np.mod(2**k * x, 2) - 1))
    slopes = np.sign(np.diff(y))
    assert 1 + np.count_nonzero(np.diff(slopes)) == 2**k


def test_sine_and_spiral():
    x, y = DATASETS["sine"](DatasetSettings("sine", n_samples=100), np.random.default_rng(0))
    assert x[0, 0] == pytest.approx(-np.pi) and x[-1, 0] == pytest.approx(np.pi)
    assert np.allclose(y[:, 0], np.sin(x[:, 0]))
    X, y = DATASETS["spiral"](
        DatasetSettings("spiral", n_samples=300, noise=0.0), np.random.default_rng(0)
    )
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.sqrt((X**2).sum(1)).max() <= 1 + 1e-9


def test_standardize_uses_training_statistics_only():
    d = load(dataset("dataset=tabular", "dataset.standardize=true"))
    assert torch.allclose(d.X_train.mean(0), torch.zeros(20), atol=1e-5)
    assert torch.allclose(d.X_train.std(0, unbiased=False), torch.ones(20), atol=1e-4)
    assert not torch.allclose(d.X_val.mean(0), torch.zeros(20), atol=1e-3)


def test_same_dataset_seed_same_data_other_seed_other_data():
    a, b = load(dataset("dataset=two_moons")), load(dataset("dataset=two_moons"))
    c = load(dataset("dataset=two_moons", "dataset.seed=1"))
    assert torch.equal(a.X_train, b.X_train) and not torch.equal(a.X_train, c.X_train)


def test_val_fraction_zero_trains_on_everything():
    d = load(dataset("dataset=two_moons", "dataset.val_fraction=0"))
    assert len(d.X_train) == 300 and d.X_val is None


def test_test_fraction_makes_a_test_split():
    d = load(dataset("dataset=two_moons", "dataset.test_fraction=0.1"))
    assert (len(d.X_train), len(d.X_val), len(d.X_test)) == (210, 60, 30)


# ---------------------------------------------------------------- user files


def file_settings(path, *more):
    return dataset("dataset=file", f"dataset.path={path}", *more)


def test_csv_with_string_labels_is_multiclass(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    frame["label"] = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, 50)]
    frame.to_csv(tmp_path / "d.csv", index=False)
    d = load(file_settings(tmp_path / "d.csv", "dataset.target=label"))
    assert (d.task, d.n_classes, d.in_dim, len(d.X_train)) == ("multiclass", 3, 3, 40)


def test_csv_with_real_target_is_regression(tmp_path):
    frame = pd.DataFrame({"x": np.linspace(0, 1, 30), "y": np.linspace(0, 1, 30) ** 2 + 0.123})
    frame.to_csv(tmp_path / "r.csv", index=False)
    d = load(file_settings(tmp_path / "r.csv", "dataset.target=y", "dataset.val_fraction=0"))
    assert d.task == "regression" and d.y_train.shape == (30, 1)


def test_npz_with_its_own_test_split_and_multi_output(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", X=rng.normal(size=(40, 3)), y=rng.normal(size=(40, 2)),
             X_test=rng.normal(size=(10, 3)), y_test=rng.normal(size=(10, 2)))  # fmt: skip
    d = load(file_settings(tmp_path / "m.npz"))
    assert d.task == "regression" and d.target_dim == 2
    assert len(d.X_test) == 10 and len(d.X_train) + len(d.X_val) == 40


@pytest.mark.parametrize(
    "make, extra, match",
    [
        (lambda p: None, [], r"dataset.path='.*missing.csv': no such file"),
        (
            lambda p: pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}).to_csv(p, index=False),
            ["dataset.target=label"],
            r"Unknown dataset.target 'label'. Choose one of: a, y",
        ),
        (
            lambda p: pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}).to_csv(p, index=False),
            [],
            r"dataset=file with a table needs dataset.target=COLUMN. Columns: a, y",
        ),
        (
            lambda p: pd.DataFrame({"a": [1.0, np.nan, 3.0], "y": [0, 1, 0]}).to_csv(
                p, index=False
            ),
            ["dataset.target=y"],
            r"features contain NaN",
        ),
        (
            lambda p: pd.DataFrame({"a": [], "y": []}).to_csv(p, index=False),
            ["dataset.target=y"],
            r"empty",
        ),
        (
            lambda p: pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0.5, np.nan, 1.5]}).to_csv(
                p, index=False
            ),
            ["dataset.target=y"],
            r"target contains NaN",
        ),
        (
            lambda p: pd.DataFrame({"a": ["x", "z"], "y": [0, 1]}).to_csv(p, index=False),
            ["dataset.target=y"],
            r"feature columns must be numeric; not numeric: a",
        ),
    ],
)
def test_bad_files_fail_with_a_clear_line(tmp_path, make, extra, match):
    path = tmp_path / "missing.csv"
    make(path)
    with pytest.raises(ConfigError, match=match):
        load(file_settings(path, *extra))


def test_npz_without_y_and_unknown_suffix(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros((3, 2)))
    with pytest.raises(ConfigError, match=r"needs arrays X and y; it has \['X'\]"):
        load(file_settings(tmp_path / "a.npz"))
    (tmp_path / "a.txt").write_text("1,2")
    with pytest.raises(
        ConfigError, match=r"unknown file type '.txt'. Choose one of: .csv, .npz, .parquet"
    ):
        load(file_settings(tmp_path / "a.txt"))


@pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None, reason="pyarrow (mlplab[parquet]) not installed"
)
def test_parquet_reads_like_csv(tmp_path):
    pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "y": [0, 1, 0, 1]}).to_parquet(tmp_path / "p.parquet")
    d = load(file_settings(tmp_path / "p.parquet", "dataset.target=y", "dataset.val_fraction=0"))
    assert d.task == "binary" and len(d.X_train) == 4


def test_gaussian_dataset_is_n01_with_a_linear_target():
    X, y = DATASETS["gaussian"](
        DatasetSettings("gaussian", n_samples=4000, n_features=16), np.random.default_rng(0)
    )
    assert X.shape == (4000, 16) and abs(X.mean()) < 0.02 and abs(X.std() - 1) < 0.02
    w, *_ = np.linalg.lstsq(X, y, rcond=None)  # exactly linear: a perfect least-squares fit
    assert np.allclose(X @ w, y)


def test_gaussian_loads_as_seed_004s_100_unsplit_samples_in_256_dimensions():
    d = load(dataset("dataset=gaussian"))
    assert (d.in_dim, d.task, len(d.X_train), d.X_val) == (256, "regression", 100, None)


# ---------------------------------------------------------------- the seeds' exact data, label noise, scale


def seed_002_points():
    """Seed 002's own code, run as printed (NumPy's global legacy generator)."""
    np.random.seed(42)
    t = np.linspace(0, np.pi, 150)
    X = np.vstack([np.c_[np.cos(t), np.sin(t)], np.c_[np.cos(t) + 0.5, -np.sin(t) + 0.5]])
    X += np.random.randn(300, 2) * 0.1
    y = np.array([0] * 150 + [1] * 150)
    perm = np.random.permutation(300)
    return X[perm], y[perm]


EXACT = ("dataset=two_moons", "dataset.legacy_seed=42", "dataset.shuffle_split=false")


def test_legacy_seed_gives_seed_002s_exact_points_and_split():
    X, y = seed_002_points()
    # the values the seed prints for its first and third shuffled points
    assert np.round(X[0], 4).tolist() == [-0.2139, 1.0612] and y[0] == 0
    assert np.round(X[2], 4).tolist() == [0.9309, -0.3566] and y[2] == 1
    d = load(dataset(*EXACT))
    assert torch.equal(d.X_train, torch.tensor(X[:240], dtype=torch.float32))
    assert torch.equal(d.X_val, torch.tensor(X[240:], dtype=torch.float32))
    assert d.y_train.reshape(-1).tolist() == y[:240].tolist()
    assert d.y_val.reshape(-1).tolist() == y[240:].tolist()


def test_shuffle_split_false_keeps_the_order_train_val_test():
    X, y = DATASETS["sine"](DatasetSettings("sine", n_samples=100), np.random.default_rng(0))
    d = load(dataset("dataset=sine", "dataset.shuffle_split=false", "dataset.test_fraction=0.1"))
    assert torch.equal(d.X_train[:, 0], torch.tensor(X[:70, 0], dtype=torch.float32))
    assert torch.equal(d.X_val[:, 0], torch.tensor(X[70:90, 0], dtype=torch.float32))
    assert torch.equal(d.X_test[:, 0], torch.tensor(X[90:, 0], dtype=torch.float32))


@pytest.mark.parametrize("name, n_classes", [("two_moons", 2), ("spiral", 3), ("sign4", 4)])
def test_label_noise_moves_that_share_of_train_labels_and_nothing_else(name, n_classes):
    clean = load(dataset(f"dataset={name}"))
    noisy = load(dataset(f"dataset={name}", "dataset.label_noise=0.25"))
    changed = clean.y_train.reshape(-1) != noisy.y_train.reshape(-1)
    assert int(changed.sum()) == round(0.25 * len(clean.y_train))  # each picked label moves
    assert noisy.y_train.reshape(-1).max() < n_classes
    assert torch.equal(clean.X_train, noisy.X_train)  # same inputs, same split
    assert torch.equal(clean.X_val, noisy.X_val) and torch.equal(clean.y_val, noisy.y_val)
    again = load(dataset(f"dataset={name}", "dataset.label_noise=0.25"))
    assert torch.equal(noisy.y_train, again.y_train)  # dataset.seed fixes which labels


def test_label_noise_on_binary_labels_flips_them():
    clean = load(dataset("dataset=two_moons")).y_train.reshape(-1)
    noisy = load(dataset("dataset=two_moons", "dataset.label_noise=1.0")).y_train.reshape(-1)
    assert torch.equal(noisy, 1 - clean)


def test_feature_scale_multiplies_the_first_feature_only():
    plain = load(dataset("dataset=tabular"))
    scaled = load(dataset("dataset=tabular", "dataset.feature_scale=1000"))
    assert torch.allclose(scaled.X_train[:, 0], 1000 * plain.X_train[:, 0])
    assert torch.equal(scaled.X_train[:, 1:], plain.X_train[:, 1:])
    # standardizing undoes the scale: the network sees the same features either way
    a = load(dataset("dataset=tabular", "dataset.standardize=true"))
    b = load(dataset("dataset=tabular", "dataset.standardize=true", "dataset.feature_scale=1000"))
    assert torch.allclose(a.X_train, b.X_train, atol=1e-5)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (
            ("dataset=circles", "dataset.legacy_seed=42"),
            r"dataset.legacy_seed applies to dataset=two_moons only .*, not 'circles'",
        ),
        (("dataset.legacy_seed=-1",), r"dataset.legacy_seed must be in \[0, 2\*\*32\)"),
        (("dataset.label_noise=1.5",), r"dataset.label_noise must be in \[0.0, 1.0\], got 1.5"),
        (("dataset.feature_scale=0",), r"dataset.feature_scale must be a positive number, got 0"),
    ],
)
def test_bad_new_dataset_keys_are_refused_with_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match) as info:
        dataset(*overrides)
    assert "\n" not in str(info.value)


def test_label_noise_on_a_regression_task_is_refused():
    with pytest.raises(ConfigError, match=r"dataset.label_noise=0.1 applies to classification"):
        load(dataset("dataset=sine", "dataset.label_noise=0.1"))


def test_bad_new_dataset_key_through_the_cli_exits_2_and_writes_nothing(tmp_path):
    from conftest import run_cli

    proc = run_cli("dataset.label_noise=2", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "mlplab: error: dataset.label_noise must be in [0.0, 1.0], got 2.0."
    ]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no run folder, no file
