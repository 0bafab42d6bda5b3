"""Datasets: the seeds' generators checked against their defining rules, splits, files."""

import importlib.util
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_settings, run_cli

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
        ("mnist1d", 40, "multiclass", 10, 3200, 800),
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


def test_folds_replace_val_fraction_beside_a_large_test_split():
    # 0.9 test + the default 0.2 val would leave nothing, but folds replace val_fraction
    d = load(dataset("dataset=two_moons", "dataset.test_fraction=0.9", "dataset.folds=5"))
    assert (len(d.X_train), len(d.X_val), len(d.X_test)) == (24, 6, 270)
    with pytest.raises(ConfigError, match=r"val_fraction \+ dataset\.test_fraction must be < 1"):
        dataset("dataset=two_moons", "dataset.test_fraction=0.9")


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


# ---------------------------------------------------------------- broken files: one line each

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
RNG = np.random.default_rng(0)
GARBAGE = bytes(RNG.integers(128, 256, 300, dtype=np.uint8))  # not UTF-8, not a zip, no magic


def table(**columns):
    return pd.DataFrame(columns)


def csv(frame):
    return lambda p: frame.to_csv(p, index=False)


def text(content: str | bytes):
    return lambda p: p.write_bytes(content if isinstance(content, bytes) else content.encode())


def npz(**arrays):
    return lambda p: np.savez(p, **arrays)


def zipped(**members):
    def write(p):
        with zipfile.ZipFile(p, "w") as z:
            for name, content in members.items():
                z.writestr(name, content)

    return write


def truncated_npz(p):
    np.savez(p, X=np.zeros((50, 2)), y=np.arange(50) % 2)
    p.write_bytes(p.read_bytes()[:300])


def npy_named_npz(p):
    with open(p, "wb") as f:
        np.save(f, np.zeros((4, 2)))


X10, y10 = RNG.normal(size=(10, 2)), np.arange(10) % 2
NAN_AT_3_1 = X10.copy()
NAN_AT_3_1[3, 1] = np.nan

# (name of the file, how to write it, extra overrides, what the one line says after the file)
BROKEN_FILES = {
    "csv-not-text": ("d.csv", text(GARBAGE), ["dataset.target=y"],
                     r"cannot be read as a \.csv file \('utf-8' codec can't decode"),
    "csv-empty-file": ("d.csv", text(""), ["dataset.target=y"], r"the file is empty \(0 bytes\)"),
    "csv-long-row": ("d.csv", text("a,b,y\n1,2,0\n3,4,5,1\n"), ["dataset.target=y"],
                     r"cannot be read as a \.csv file \(Error tokenizing data\. C error: "
                     r"Expected 3 fields in line 3, saw 4\)"),
    "csv-short-row": ("d.csv", text("y,a,b\n0,1,2\n1,3\n0,5,6\n"), ["dataset.target=y"],
                      r"the features contain NaN, empty or infinite values \(first in column "
                      r"'b', data row 2\)"),
    "csv-header-only": ("d.csv", text("a,y\n"), ["dataset.target=y"],
                        r"the dataset is empty \(0 samples\)"),
    "csv-no-target-given": ("d.csv", csv(table(a=[1.0, 2.0], y=[0, 1])), [],
                            r"a table needs dataset\.target=COLUMN\. Columns: a, y\."),
    "csv-target-missing": ("d.csv", csv(table(a=[1.0, 2.0], y=[0, 1])), ["dataset.target=label"],
                           r"Unknown dataset\.target 'label'\. Choose one of: a, y\."),
    "csv-only-the-target": ("d.csv", csv(table(y=[0, 1, 0])), ["dataset.target=y"],
                            r"no feature columns besides the target 'y'"),
    "csv-nan-feature": ("d.csv", csv(table(a=[1.0, np.nan, 3.0], y=[0, 1, 0])),
                        ["dataset.target=y"],
                        r"the features contain NaN, empty or infinite values \(first in column "
                        r"'a', data row 2\)"),
    "csv-inf-feature": ("d.csv", text("a,b,y\n1,2,0\n3,inf,1\n"), ["dataset.target=y"],
                        r"the features contain NaN, empty or infinite values \(first in column 'b', data row 2\)"),
    "csv-text-feature": ("d.csv", csv(table(a=["x", "z"], y=[0, 1])), ["dataset.target=y"],
                         r"feature columns must be numeric; not numeric: a\."),
    "csv-nan-target": ("d.csv", csv(table(a=[1.0, 2.0, 3.0], y=[0.5, np.nan, 1.5])),
                       ["dataset.target=y"],
                       r"the target column 'y' has missing values \(first in data row 2\)"),
    "csv-missing-label": ("d.csv", text("a,y\n1,cat\n2,\n3,dog\n"), ["dataset.target=y"],
                          r"the target column 'y' has missing values \(first in data row 2\)"),
    "csv-one-class": ("d.csv", csv(table(a=[1.0, 2.0, 3.0], y=[1, 1, 1])), ["dataset.target=y"],
                      r"the target has a single class \(np\.int64\(1\)\); nothing to learn"),
    "npz-not-a-zip": ("d.npz", text(GARBAGE), [],
                      r"cannot be read as a \.npz file \(not a zip archive of \.npy arrays"),
    "npz-empty-file": ("d.npz", text(""), [], r"the file is empty \(0 bytes\)"),
    "npz-truncated": ("d.npz", truncated_npz, [],
                      r"cannot be read as a \.npz file \(File is not a zip file\)"),
    "npz-a-single-npy": ("d.npz", npy_named_npz, [],
                         r"holds one array \(\.npy\), not an \.npz archive of arrays X and y"),
    "npz-zip-of-text": ("d.npz", zipped(**{"notes.txt": "hello"}), [],
                        r"the \.npz needs arrays X and y; it has \['notes\.txt'\]"),
    "npz-members-not-npy": ("d.npz", zipped(**{"X.npy": "not an array", "y.npy": "nor this"}),
                            [], r"'X' in the archive is not a NumPy array \(\.npy\)"),
    "npz-object-array": ("d.npz", npz(X=np.array([[1, "a"]], dtype=object), y=np.array([0])),
                         [], r"array 'X' cannot be read \(Object arrays cannot be loaded"),
    "npz-without-y": ("d.npz", npz(X=X10), [], r"the \.npz needs arrays X and y; it has \['X'\]"),
    "npz-X-y-lengths": ("d.npz", npz(X=X10, y=y10[:9]), [], r"X has 10 rows but y has 9\."),
    "npz-X_test-alone": ("d.npz", npz(X=X10, y=y10, X_test=X10[:3]), [],
                         r"X_test comes without y_test; give both or neither\."),
    "npz-y_test-alone": ("d.npz", npz(X=X10, y=y10, y_test=y10[:3]), [],
                         r"y_test comes without X_test; give both or neither\."),
    "npz-X_test-features": ("d.npz", npz(X=X10, y=y10, X_test=RNG.normal(size=(3, 5)),
                                         y_test=y10[:3]), [],
                            r"X_test has 5 features but X has 2\."),
    "npz-X_test-y_test-lengths": ("d.npz", npz(X=X10, y=y10, X_test=X10[:3], y_test=y10[:4]),
                                  [], r"X_test has 3 rows but y_test has 4\."),
    "npz-y_test-outputs": ("d.npz", npz(X=X10, y=RNG.normal(size=(10, 2)), X_test=X10[:3],
                                        y_test=RNG.normal(size=(3, 3))), [],
                           r"y_test has shape \(3, 3\) but y has \(10, 2\); they need the same "
                           r"outputs per sample\."),
    "npz-X-3d": ("d.npz", npz(X=np.zeros((10, 2, 2)), y=y10), [],
                 r"X must be 2-D \(samples x features\), got shape \(10, 2, 2\)\."),
    "npz-X_test-3d": ("d.npz", npz(X=X10, y=y10, X_test=np.zeros((3, 2, 1)), y_test=y10[:3]),
                      [], r"X_test must be 2-D \(samples x features\), got shape \(3, 2, 1\)\."),
    "npz-y-3d": ("d.npz", npz(X=X10, y=np.zeros((10, 2, 2))), [],
                 r"y must be 1-D \(one label or value per sample\) or 2-D \(samples x outputs\), "
                 r"got shape \(10, 2, 2\)\."),
    "npz-X-no-features": ("d.npz", npz(X=np.zeros((10, 0)), y=y10), [],
                          r"X has no features \(shape \(10, 0\)\)\."),
    "npz-empty-arrays": ("d.npz", npz(X=np.zeros((0, 2)), y=np.zeros(0)), [],
                         r"the dataset is empty \(0 samples\)\."),
    "npz-nan-X": ("d.npz", npz(X=NAN_AT_3_1, y=y10), [],
                  r"the features contain NaN or infinite values \(first at X\[3, 1\]\)\."),
    "npz-inf-X_test": ("d.npz", npz(X=X10, y=y10, X_test=np.full((2, 2), np.inf),
                                    y_test=y10[:2]), [],
                       r"the features contain NaN or infinite values \(first at X_test\[0, 0\]\)"),
    "npz-nan-y": ("d.npz", npz(X=X10, y=np.where(np.arange(10) == 2, np.nan, 0.5)), [],
                  r"the target contains NaN or infinite values \(first at y\[2\]\)\."),
    "npz-nan-y_test": ("d.npz", npz(X=X10, y=X10[:, 0], X_test=X10[:2],
                                    y_test=np.array([0.1, np.inf])), [],
                       r"the target contains NaN or infinite values \(first at y_test\[1\]\)\."),
    "npz-text-X": ("d.npz", npz(X=np.array([["1", "2"]] * 10), y=y10), [],
                   r"X must hold numbers, got dtype <U1\."),
    "npz-complex-X": ("d.npz", npz(X=X10 + 1j, y=y10), [],
                      r"X must hold numbers, got dtype complex128\."),
    "npz-one-class": ("d.npz", npz(X=X10, y=np.zeros(10, int)), [],
                      r"the target has a single class"),
    "unknown-suffix": ("d.txt", text("1,2"), [],
                       r"unknown file type '\.txt'\. Choose one of: \.csv, \.npz, \.parquet\."),
    "parquet-not-parquet": ("d.parquet", text(GARBAGE), ["dataset.target=y"],
                            r"cannot be read as a \.parquet file \(Could not open Parquet input "
                            r"source"),
    "parquet-csv-inside": ("d.parquet", text("a,y\n1,0\n2,1\n"), ["dataset.target=y"],
                           r"cannot be read as a \.parquet file \(Could not open Parquet"),
    "parquet-empty-file": ("d.parquet", text(""), ["dataset.target=y"],
                           r"the file is empty \(0 bytes\)"),
    "parquet-nan-feature": ("d.parquet",
                            lambda p: table(a=[1.0, np.nan], y=[0, 1]).to_parquet(p),
                            ["dataset.target=y"],
                            r"the features contain NaN, empty or infinite values \(first in column 'a', data row 2\)"),
}  # fmt: skip


NEEDS_PYARROW = pytest.mark.skipif(
    not HAS_PYARROW, reason="pyarrow (mlplab[parquet]) not installed"
)


def with_markers(cases):
    """Each case as a pytest.param, a .parquet one marked as needing pyarrow."""
    return [
        pytest.param(case, marks=NEEDS_PYARROW) if BROKEN_FILES[case][0].endswith(".parquet")
        else case
        for case in cases
    ]  # fmt: skip


@pytest.mark.parametrize("case", with_markers(BROKEN_FILES))
def test_every_broken_file_gets_one_line_naming_it(tmp_path, case):
    name, write, extra, says = BROKEN_FILES[case]
    path = tmp_path / name
    write(path)
    with pytest.raises(ConfigError) as info:
        load(file_settings(path, *extra))
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(rf"dataset\.path='{re.escape(str(path))}': {says}.*", message), message


def test_a_missing_file_is_named():
    with pytest.raises(ConfigError, match=r"^dataset\.path='/no/such/d\.csv': no such file\.$"):
        load(DatasetSettings("file", path="/no/such/d.csv", target="y"))


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


# ---------------------------------------------------------------- k-fold cross-validation


def rows(X: torch.Tensor) -> set:
    """The samples of a split as a set of feature rows (these sets' rows are unique)."""
    return {tuple(r) for r in X.tolist()}


@pytest.mark.parametrize(
    "name, n_samples",
    [("tabular", 203), ("sign4", 301), ("sine", 97)],
    ids=["binary", "4-classes", "regression"],
)
def test_each_sample_is_in_exactly_one_folds_validation_split(name, n_samples):
    K = 5
    common = [f"dataset={name}", f"dataset.n_samples={n_samples}", "dataset.test_fraction=0.1"]
    whole = load(dataset(*common, "dataset.val_fraction=0"))  # train = everything but the test
    folds = [load(dataset(*common, f"dataset.folds={K}", f"dataset.fold={i}")) for i in range(K)]
    everyone = rows(whole.X_train)
    vals = [rows(f.X_val) for f in folds]
    assert sum(len(v) for v in vals) == len(everyone) == len(set().union(*vals))
    sizes = sorted(len(f.X_val) for f in folds)
    assert sizes[-1] - sizes[0] <= 1  # as even as K allows
    for f, v in zip(folds, vals):
        train = rows(f.X_train)
        assert not train & v and train | v == everyone
        assert torch.equal(f.X_test, whole.X_test)  # the test split is never touched
    if whole.task != "regression":  # stratified: each class split as evenly as K allows
        for c in range(whole.n_classes):
            counts = [int((f.y_val.reshape(-1) == c).sum()) for f in folds]
            assert max(counts) - min(counts) <= 1, (c, counts)


def test_unstratified_folds_would_fail_the_class_balance_check():
    # the balance check above can fail: random folds of the same sizes break it
    y = load(dataset("dataset=sign4", "dataset.n_samples=301")).y_train.numpy()
    fold = np.random.default_rng(0).permutation(len(y)) % 5
    counts = [[int(((fold == i) & (y == c)).sum()) for i in range(5)] for c in range(4)]
    assert max(max(cs) - min(cs) for cs in counts) > 1


def test_folds_replace_val_fraction_and_keep_a_files_own_test_split(tmp_path):
    rng = np.random.default_rng(0)
    X, X_test = rng.normal(size=(40, 3)), rng.normal(size=(7, 3))
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % 3, X_test=X_test, y_test=np.arange(7) % 3)
    for i in range(4):
        d = load(
            file_settings(
                tmp_path / "d.npz", "dataset.standardize=false", "dataset.val_fraction=0.5",
                "dataset.folds=4", f"dataset.fold={i}",
            )
        )  # fmt: skip
        assert (len(d.X_train), len(d.X_val)) == (30, 10)
        assert torch.allclose(d.X_test, torch.as_tensor(X_test, dtype=torch.float32))


def test_too_few_samples_for_the_folds_is_one_line():
    with pytest.raises(
        ConfigError,
        match=r"^dataset=xor: dataset.folds=5 needs at least 5 samples outside the test split, got 4\.$",
    ):
        load(dataset("dataset=xor", "dataset.folds=5"))


def test_fold_range_is_a_sweep_axis_through_the_cli(tmp_path):
    done = run_cli(
        "-m", "dataset.folds=3", "dataset.fold=range(3)", "trainer.epochs=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert sorted(results["dataset.fold"]) == [0, 1, 2]
    assert set(results["status"]) == {"completed"}
    # two moons' 300 samples: each fold holds out 100 and trains on 200
    assert set(results["n_train"]) == {200}


@pytest.mark.parametrize(
    "case",
    with_markers(
        [
            "csv-not-text",
            "csv-long-row",
            "csv-target-missing",
            "npz-a-single-npy",
            "npz-X-y-lengths",
            "npz-X_test-alone",
            "npz-X_test-features",
            "parquet-not-parquet",
        ]
    ),
)
def test_a_broken_file_through_the_cli_is_one_line_exit_2_and_no_run_folder(tmp_path, case):
    name, write, extra, says = BROKEN_FILES[case]
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / name
    write(path)
    outputs = tmp_path / "outputs"
    done = run_cli(
        "dataset=file", f"dataset.path={path}", *extra, f"hydra.run.dir={outputs / 'run'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.fullmatch(
        rf"mlplab: error: dataset\.path='{re.escape(str(path))}': {says}.*\n", done.stderr
    ), done.stderr
    assert not outputs.exists()  # the run folder Hydra made is gone, and its empty parent


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


def test_mnist1d_is_the_published_split_made_offline(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("dataset=mnist1d reached for the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    d = load(dataset("dataset=mnist1d", "dataset.val_fraction=0"))
    assert (len(d.X_train), len(d.X_test), d.in_dim, d.n_classes) == (4000, 1000, 40, 10)
    # all ten classes in both splits, about 400 and 100 of each
    assert torch.bincount(d.y_train).tolist() == pytest.approx([400] * 10, abs=60)
    assert torch.bincount(d.y_test).tolist() == pytest.approx([100] * 10, abs=30)
    again = load(dataset("dataset=mnist1d", "dataset.val_fraction=0"))
    assert torch.equal(d.X_train, again.X_train) and torch.equal(d.y_test, again.y_test)


def test_mnist1d_without_its_package_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mnist1d", None)  # as if not installed: import fails
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(
        ConfigError, match=r"^dataset=mnist1d needs .*pip install 'mlplab\[mnist1d\]'"
    ):
        load(dataset("dataset=mnist1d"))


def test_a_file_bigger_than_the_free_memory_is_refused_before_loading(tmp_path):
    # an .npz whose X header declares 200,000 x 1,000,000 float32 (800 GB): no machine here
    # has that free, and the check reads the headers only (the file itself is tiny)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, shape in (("X", (200_000, 1_000_000)), ("y", (200_000,))):
            with archive.open(f"{name}.npy", "w") as f:
                header = {"descr": "<f4", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(f, header)
                f.write(b"\0" * 64)
    outputs = tmp_path / "outputs"
    done = run_cli("dataset=file", f"dataset.path={path}", f"hydra.run.dir={outputs / 'run'}",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert re.fullmatch(
        rf"mlplab: error: dataset\.path='{re.escape(str(path))}': loading it needs about "
        r"1600\.0 GB of memory \(800\.0 GB of data, and the splits copied from it\), but "
        r"[0-9.]+ GB are free\.\n",
        done.stderr,
    ), done.stderr
    assert not outputs.exists()


@pytest.mark.parametrize(
    "rows, extra, says",
    [
        # 2 rows: 20% for validation rounds to none
        (2, [], r"dataset\.val_fraction=0\.2 of 2 samples is not one row; give more samples"),
        (6, ["dataset.val_fraction=0", "dataset.test_fraction=0.05"],
         r"dataset\.test_fraction=0\.05 of 6 samples is not one row"),
        # 3 of class 1 cannot be dealt to 5 folds
        (13, ["dataset.folds=5"], r"class 1 has 3 samples outside the test split, fewer than dataset\.folds=5"),
    ],
)  # fmt: skip
def test_a_file_too_small_for_its_splits_is_one_line_through_the_cli(tmp_path, rows, extra, says):
    labels = [0] * (rows - 3) + [1] * 3 if rows > 3 else [0, 1] * (rows // 2)
    lines = [f"{i * 0.1:.1f},{label}" for i, label in enumerate(labels)]
    path = tmp_path / "small.csv"
    path.write_text("x,label\n" + "\n".join(lines) + "\n")
    done = run_cli("dataset=file", f"dataset.path={path}", "dataset.target=label", *extra,
                   "trainer.epochs=1", "hydra.run.dir=out/run", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert re.fullmatch(rf"mlplab: error: dataset\.path='{re.escape(str(path))}': {says}.*\n",
                        done.stderr), done.stderr  # fmt: skip
    assert not (tmp_path / "out").exists()
