"""Datasets: one registry from config names to generators, and one split/standardize path.

Every generator returns NumPy arrays ``(X, y)`` (or a dict with ``X_test``/``y_test``
too) drawn from ``np.random.default_rng(dataset.seed)``; ``load`` infers the task,
splits, standardizes with training statistics only, and moves tensors to the device.
"""

from __future__ import annotations

import functools
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .settings import ConfigError, DatasetSettings, choose

# torch is imported where tensors are made (load): the process that plans a sweep reads
# the data's shape (shape_of) without it.
if TYPE_CHECKING:
    import torch

TASKS = ("binary", "multiclass", "regression")


@dataclass
class Dataset:
    """Train/val/test tensors on one device, with the task they pose.

    ``y`` is float (N, 1) for binary, long (N,) for multiclass, float (N, out) for
    regression. ``val``/``test`` tensors are None when the split is empty.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor | None
    y_val: torch.Tensor | None
    X_test: torch.Tensor | None
    y_test: torch.Tensor | None
    task: str  #: binary | multiclass | regression
    n_classes: int  #: 0 for regression
    in_dim: int
    target_dim: int  #: columns of y for regression, 1 otherwise

    def to(self, device) -> Dataset:
        import torch

        fields = {
            k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()
        }
        return Dataset(**fields)


# ---------------------------------------------------------------- generators (the seeds)


def _required(d: DatasetSettings, key: str) -> int:
    value = getattr(d, key)
    if value is None:
        raise ConfigError(f"dataset={d.name} needs dataset.{key} (a positive integer), got null.")
    return value


def diag_flip(d: DatasetSettings, rng):
    """Seed 000: all 16 binary 2x2 images; the target is the transpose [a,b,c,d] -> [a,c,b,d]."""
    X = np.array(
        [[i, j, k, l] for i in (0, 1) for j in (0, 1) for k in (0, 1) for l in (0, 1)], float
    )
    return X, X[:, [0, 2, 1, 3]].copy()


def xor(d: DatasetSettings, rng):
    """Seed 001: the four XOR corners (n_samples repeats them, noise jitters the inputs)."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0])
    reps = max(1, (d.n_samples or 4) // 4)
    X, y = np.tile(X, (reps, 1)), np.tile(y, reps)
    return X + d.noise * rng.standard_normal(X.shape), y


def two_moons(d: DatasetSettings, rng):
    """Seed 002's generator (not scikit-learn's): overlapping moons, class 0 on top.

    With ``dataset.legacy_seed=42`` the draws come from NumPy's legacy generator, as
    the seed's ``np.random.seed(42)`` sets it: its exact 300 points (X[0] = [-0.2139, 1.0612]).
    """
    if d.legacy_seed is not None:
        rng = np.random.RandomState(d.legacy_seed)  # standard_normal, permutation: as np.random's
    n = _required(d, "n_samples") // 2
    t = np.linspace(0, np.pi, n)
    top = np.c_[np.cos(t), np.sin(t)]
    bottom = np.c_[np.cos(t) + 0.5, -np.sin(t) + 0.5]
    X = np.vstack([top, bottom]) + d.noise * rng.standard_normal((2 * n, 2))
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    perm = rng.permutation(2 * n)
    return X[perm], y[perm]


def circles(d: DatasetSettings, rng):
    """Seed 004's ring-versus-centre set: class 0 on a radius-2 ring, class 1 ~ N(0, 0.5^2)."""
    n = _required(d, "n_samples") // 2
    theta = rng.uniform(0, 2 * np.pi, n)
    ring = 2 * np.c_[np.cos(theta), np.sin(theta)] + d.noise * rng.standard_normal((n, 2))
    centre = 0.5 * rng.standard_normal((n, 2))
    return np.vstack([ring, centre]), np.r_[np.zeros(n, int), np.ones(n, int)]


def spiral(d: DatasetSettings, rng):
    """CS231n's 3-arm spiral: radius 0..1, angle 4j..4(j+1) plus N(0, noise^2) per arm."""
    arms, n = 3, _required(d, "n_samples") // 3
    X, y = [], []
    for j in range(arms):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(4 * j, 4 * (j + 1), n) + d.noise * rng.standard_normal(n)
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(n, j))
    return np.vstack(X), np.concatenate(y)


def sine(d: DatasetSettings, rng):
    """Seed 004's universal-approximation target: sin(x) on [-pi, pi]."""
    x = np.linspace(-np.pi, np.pi, _required(d, "n_samples"))
    return x[:, None], (np.sin(x) + d.noise * rng.standard_normal(x.shape))[:, None]


def sawtooth(d: DatasetSettings, rng):
    """Telgarsky's sawtooth: the tent map on [0, 1] composed k times (2**k linear pieces)."""
    x = np.linspace(0.0, 1.0, _required(d, "n_samples"))
    y = x.copy()
    for _ in range(_required(d, "k")):
        y = np.where(y <= 0.5, 2 * y, 2 - 2 * y)
    return x[:, None], (y + d.noise * rng.standard_normal(x.shape))[:, None]


def tabular(d: DatasetSettings, rng):
    """Seed 001: X ~ N(0, 1), y = (x0 + x1*x2 > 0) — an interaction no linear model sees."""
    X = rng.standard_normal((_required(d, "n_samples"), _required(d, "n_features")))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)


def sign4(d: DatasetSettings, rng):
    """Seed 001's 4-class rule: y = 2*(x0 > 0) + (x1*x2 > 0)."""
    X = rng.standard_normal((_required(d, "n_samples"), _required(d, "n_features")))
    return X, 2 * (X[:, 0] > 0).astype(int) + (X[:, 1] * X[:, 2] > 0).astype(int)


def gaussian(d: DatasetSettings, rng):
    """Seed 004's signal-propagation input: X ~ N(0, 1), y = X w with w ~ N(0, 1/n_features).

    The linear teacher gives a unit-variance regression target, so the set can also be
    trained on; at ``trainer.epochs=0`` only X matters.
    """
    n, dim = _required(d, "n_samples"), _required(d, "n_features")
    X = rng.standard_normal((n, dim))
    w = rng.standard_normal(dim) / np.sqrt(dim)
    return X, X @ w + d.noise * rng.standard_normal(n)


def _sklearn(loader_name: str):
    def load_bundled(d: DatasetSettings, rng):
        try:
            import sklearn.datasets
        except ImportError:
            raise ConfigError(
                f"dataset={loader_name} needs scikit-learn: pip install 'mlplab[sklearn]'."
            ) from None
        bunch = getattr(sklearn.datasets, f"load_{loader_name}")()
        return bunch.data.astype(float), bunch.target

    load_bundled.__doc__ = f"scikit-learn's bundled {loader_name} set (offline)."
    return load_bundled


def mnist1d(d: DatasetSettings, rng):
    """Greydanus & Kobak's MNIST-1D (2020): 4,000 train + 1,000 test samples x 40, 10 classes.

    Made offline by the ``mnist1d`` package's own generator with its default arguments,
    which reproduce the published set (its ``get_dataset(download=True)`` would fetch a
    pickle instead: never called). The generator seeds NumPy's global generator (42).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ConfigError(
            "dataset=mnist1d needs the mnist1d package: pip install 'mlplab[mnist1d]'."
        ) from None
    made = make_dataset(get_dataset_args())
    return {"X": made["x"], "y": made["y"], "X_test": made["x_test"], "y_test": made["y_test"]}


# What a reader raises on a file that is not in its format (pyarrow's errors subclass
# ValueError and OSError; pandas' ParserError, EmptyDataError and UnicodeDecodeError, ValueError).
UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile)
FILE_TYPES = (".csv", ".npz", ".parquet")


def from_file(d: DatasetSettings, rng):
    """A user's table: CSV or Parquet with a target column, or NPZ with X, y (X_test, y_test).

    A file that cannot be read, or holds what mlplab cannot train on, raises one
    ConfigError line naming the file and what is wrong with it.
    """
    path = Path(d.path).expanduser()
    where = f"dataset.path={d.path!r}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file.")
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise ConfigError(
            f"{where}: unknown file type {suffix!r}. Choose one of: {', '.join(FILE_TYPES)}."
        )
    if path.stat().st_size == 0:
        raise ConfigError(f"{where}: the file is empty (0 bytes).")
    _check_memory(path, suffix, where)
    try:
        if suffix == ".npz":
            return _read_npz(path, where)
        frame = _read_table(path, suffix)
    except ConfigError:  # said already (a ValueError too)
        raise
    except UNREADABLE as exc:
        raise ConfigError(f"{where}: cannot be read as a {suffix} file ({_reason(exc)}).") from None
    return _table_arrays(frame, d, where)


def _check_memory(path: Path, suffix: str, where: str) -> None:
    """Refuse, before reading a byte of data, a file whose loading needs more than the free
    memory: its arrays (an .npz's headers say how big; a table is taken at its file size)
    and the split copies made of them."""
    from .grouping import available_memory

    try:
        headers = _npz_headers(path) if suffix == ".npz" else {}
    except (*UNREADABLE, KeyError):
        headers = {}  # reading it will say what is wrong
    arrays = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
    arrays = arrays or path.stat().st_size
    free = available_memory()
    if 2 * arrays > free:
        raise ConfigError(
            f"{where}: loading it needs about {2 * arrays / 1e9:.1f} GB of memory "
            f"({arrays / 1e9:.1f} GB of data, and the splits copied from it), but "
            f"{free / 1e9:.1f} GB are free."
        )


def _npz_headers(path: Path) -> dict:
    """{array name: (shape, dtype)} of an .npz, from each member's .npy header alone."""
    read = {1: np.lib.format.read_array_header_1_0, 2: np.lib.format.read_array_header_2_0}
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as f:
                major, _ = np.lib.format.read_magic(f)
                if major in read:
                    shape, _, dtype = read[major](f)
                    headers[member.removesuffix(".npy")] = (shape, dtype)
    return headers


def _reason(exc: Exception) -> str:
    """A reader's error as one line: its first line, or its type when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_npz(path: Path, where: str) -> dict:
    with open(path, "rb") as f:
        magic = f.read(6)
    # np.load reads anything that is neither a zip nor a .npy as a pickle, and its
    # refusal then talks about pickles: say what the file is not instead
    if magic == b"\x93NUMPY":
        raise ConfigError(
            f"{where}: holds one array (.npy), not an .npz archive of arrays X and y (np.savez)."
        )
    if not magic.startswith(b"PK"):
        raise ConfigError(
            f"{where}: cannot be read as a .npz file (not a zip archive of .npy arrays, "
            f"as np.savez writes)."
        )
    with np.load(path, allow_pickle=False) as z:  # never unpickle a user's file
        if {"X", "y"} - set(z.files):
            raise ConfigError(f"{where}: the .npz needs arrays X and y; it has {sorted(z.files)}.")
        arrays = {}
        for key in ("X", "y", "X_test", "y_test"):
            if key not in z.files:
                continue
            try:
                arrays[key] = z[key]
            except UNREADABLE as exc:  # an object array (pickled), a broken .npy header
                raise ConfigError(
                    f"{where}: array {key!r} cannot be read ({_reason(exc)})."
                ) from None
            if not isinstance(arrays[key], np.ndarray):  # a member that is no .npy at all
                raise ConfigError(f"{where}: {key!r} in the archive is not a NumPy array (.npy).")
    return arrays


def _read_table(path: Path, suffix: str):
    import pandas as pd

    if suffix == ".csv":
        return pd.read_csv(path)
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise ConfigError(
            "Reading .parquet needs pyarrow: pip install 'mlplab[parquet]'."
        ) from None


def _table_arrays(frame, d: DatasetSettings, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from a table: every column but the target is a numeric feature."""
    import pandas as pd

    frame.columns = [str(c) for c in frame.columns]
    if not d.target:
        raise ConfigError(
            f"{where}: a table needs dataset.target=COLUMN. Columns: {', '.join(frame.columns)}."
        )
    if d.target not in frame.columns:
        raise ConfigError(
            f"{where}: Unknown dataset.target {d.target!r}. "
            f"Choose one of: {', '.join(sorted(frame.columns))}."
        )
    if frame.empty:
        raise ConfigError(f"{where}: the dataset is empty (0 samples).")
    features = frame.drop(columns=[d.target])
    if features.shape[1] == 0:
        raise ConfigError(f"{where}: no feature columns besides the target {d.target!r}.")
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ConfigError(
            f"{where}: feature columns must be numeric; not numeric: {', '.join(bad)}."
        )
    X = features.to_numpy(np.float32)  # a user's table trains in float32: no float64 copy
    rows, cols = _not_finite(X)
    if len(rows):  # an empty cell, a short row, NaN or inf
        raise ConfigError(
            f"{where}: the features contain NaN, empty or infinite values "
            f"(first in column {features.columns[cols[0]]!r}, data row {rows[0] + 1})."
        )
    missing = np.flatnonzero(frame[d.target].isna().to_numpy())
    if len(missing):
        raise ConfigError(
            f"{where}: the target column {d.target!r} has missing values (first in data row "
            f"{missing[0] + 1})."
        )
    return X, frame[d.target].to_numpy()


DATASETS = {
    "two_moons": two_moons,
    "xor": xor,
    "diag_flip": diag_flip,
    "circles": circles,
    "spiral": spiral,
    "sine": sine,
    "sawtooth": sawtooth,
    "tabular": tabular,
    "sign4": sign4,
    "gaussian": gaussian,
    "digits": _sklearn("digits"),
    "iris": _sklearn("iris"),
    "wine": _sklearn("wine"),
    "breast_cancer": _sklearn("breast_cancer"),
    "diabetes": _sklearn("diabetes"),
    "mnist1d": mnist1d,
    "file": from_file,
}


def generate(d: DatasetSettings, rng) -> tuple[dict, str]:
    """The named set's arrays ``{X, y[, X_test, y_test]}``, generated from ``rng`` or read,
    and how an error names it (``dataset=...`` or ``dataset.path=...``)."""
    where = f"dataset.path={d.path!r}" if d.name == "file" else f"dataset={d.name}"
    out = DATASETS[choose("dataset", d.name, DATASETS)](d, rng)
    return (out if isinstance(out, dict) else {"X": out[0], "y": out[1]}), where


def shape_of(d: DatasetSettings) -> tuple[int, int] | None:
    """(samples, features) of the dataset ``d`` names, found cheaply, for planning a sweep.

    A generated set is drawn (NumPy only, small); a file's shape comes from its headers
    (.npz, .parquet) or, for a .csv, from its header line and the length of its first lines.
    None when it cannot be told: loading the data will say why.
    """
    try:
        if d.name == "file":
            return _file_shape(Path(d.path).expanduser())
        X = np.asarray(generate(d, np.random.default_rng(d.seed))[0]["X"])
    except (*UNREADABLE, ConfigError, KeyError, ImportError, TypeError):
        return None
    return len(X), (X.shape[1] if X.ndim == 2 else 1)


def file_stamp(d: DatasetSettings) -> tuple[str, int, int] | None:
    """A user's data file as (its resolved path, size, modification time in ns): what tells
    an edited file from the one read before (None for generated data, or no such file)."""
    if d.name != "file" or not d.path:
        return None
    path = Path(d.path).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return None  # no such file: loading it will say so
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def fingerprint(d: DatasetSettings) -> str | None:
    """A digest of a user's data file's content (None for generated data, which the config
    fixes), read once per process for each ``file_stamp``.

    BLAKE2b at ~1 GB/s: an MNIST-sized .npz (220 MB) takes ~0.2-0.3 s here.
    """
    stamp = file_stamp(d)
    return None if stamp is None else _digest(*stamp)


@functools.lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def task_of(d: DatasetSettings) -> str:
    """The task (binary, multiclass or regression) the dataset ``d`` names poses, torch-free.

    The data is generated or read, not split; a file that cannot be read raises its line.
    """
    arrays, where = generate(d, np.random.default_rng(d.seed))
    return infer_task(_targets(arrays["y"], "y", where), where)[0]


def _file_shape(path: Path) -> tuple[int, int] | None:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        shape = _npz_headers(path)["X"][0]
        return shape[0], (shape[1] if len(shape) == 2 else 1)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        return meta.num_rows, meta.num_columns - 1
    with open(path, "rb") as f:
        head = f.read(1 << 16).splitlines()
    if len(head) < 2:
        return None
    sample = head[1:-1] or head[1:]  # the last line read may be cut short
    per_row = sum(len(line) + 1 for line in sample) / len(sample)
    rows = int((path.stat().st_size - len(head[0]) - 1) / per_row)
    return rows, len(head[0].split(b",")) - 1


# ---------------------------------------------------------------- task, split, tensors


def infer_task(y: np.ndarray, where: str = "dataset") -> tuple[str, np.ndarray, int]:
    """Classify the target: (task, y encoded, n_classes). Floats with fractions are regression."""
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression", y.astype(np.float32), 0
    y = y.reshape(-1)
    integral = y.dtype.kind in "iub" or (
        y.dtype.kind == "f" and np.all(y == np.round(y)) and len(np.unique(y)) <= 50
    )
    if y.dtype.kind in "OUS" or integral:
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ConfigError(
                f"{where}: the target has a single class ({classes[0]!r}); nothing to learn."
            )
        return ("binary" if len(classes) == 2 else "multiclass"), codes, len(classes)
    return "regression", y.astype(np.float32)[:, None], 0


def scale_first_feature(X: np.ndarray, scale: float) -> np.ndarray:
    """``X`` with its first column multiplied by ``scale`` (seed 001's badly scaled input)."""
    if scale == 1.0:
        return X
    X = X.copy()
    X[:, 0] *= scale
    return X


def flip_labels(y: np.ndarray, fraction: float, n_classes: int, rng) -> np.ndarray:
    """``y`` with ``round(fraction * len(y))`` labels, picked at random, moved to another class.

    The new class is drawn uniformly from the other ``n_classes - 1`` (binary: flipped).
    """
    y = y.copy()
    picked = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    y[picked] = (y[picked] + rng.integers(1, n_classes, size=len(picked))) % n_classes
    return y


def _features(a, name: str, where: str) -> np.ndarray:
    """``a`` as a finite float (samples, features) array, or the ConfigError that says why not.

    Float arrays keep their type and are not copied (a user's float32 file stays float32;
    the generators' float64 sets, all small, keep the precision the seed course ran at);
    integers and booleans become float32.
    """
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ConfigError(f"{where}: {name} must hold numbers, got dtype {a.dtype}.")
    if a.dtype.kind != "f" or a.dtype.itemsize < 4:
        a = a.astype(np.float32)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2:
        raise ConfigError(f"{where}: {name} must be 2-D (samples x features), got shape {a.shape}.")
    if a.shape[1] == 0:
        raise ConfigError(f"{where}: {name} has no features (shape {a.shape}).")
    rows, cols = _not_finite(a)
    if len(rows):
        raise ConfigError(
            f"{where}: the features contain NaN or infinite values "
            f"(first at {name}[{rows[0]}, {cols[0]}])."
        )
    return a


def _not_finite(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the non-finite entries of a 2-D float array (usually none)."""
    if np.isfinite(a.sum(dtype=np.float64)):  # one buffered pass, no mask: the usual case
        return np.empty(0, int), np.empty(0, int)
    return np.nonzero(~np.isfinite(a))


def _targets(a, name: str, where: str) -> np.ndarray:
    """``a`` as labels or values: (samples,), or (samples, outputs) for several outputs."""
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[1] == 0):
        raise ConfigError(
            f"{where}: {name} must be 1-D (one label or value per sample) or 2-D "
            f"(samples x outputs), got shape {a.shape}."
        )
    if a.dtype.kind not in "biufOUS":
        raise ConfigError(f"{where}: {name} must hold numbers or labels, got dtype {a.dtype}.")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        first = np.argwhere(~np.isfinite(a))[0]
        raise ConfigError(
            f"{where}: the target contains NaN or infinite values "
            f"(first at {name}[{', '.join(map(str, first))}])."
        )
    return a


def from_python(data, target: str | None = None) -> dict[str, np.ndarray]:
    """A notebook's data as the arrays of an ``.npz`` file (X, y and maybe X_test, y_test),
    checked as a file's would be: ConfigError (``data: ...``) for a frame without its
    ``target`` column, non-numeric features, NaN, or lengths that do not match.

    ``data``: a pandas DataFrame (every column but ``target`` a feature), ``(X, y)``, or
    ``(X, y, X_test, y_test)`` (arrays, frames or CPU tensors). Labels that are strings
    are stored as text (no pickle).
    """
    import pandas as pd

    where = "data"
    if isinstance(data, pd.DataFrame):
        if target is None:
            raise ConfigError(
                f"{where}: a DataFrame needs target=COLUMN. Columns: "
                f"{', '.join(map(str, data.columns))}."
            )
        frame = data.copy(deep=False)
        if str(target) not in map(str, frame.columns):
            raise ConfigError(
                f"{where}: Unknown target {target!r}. Choose one of the DataFrame's columns: "
                f"{', '.join(sorted(map(str, frame.columns)))}."
            )
        X, y = _table_arrays(frame, _Target(str(target)), where)
        arrays = {"X": X, "y": y}
    elif isinstance(data, tuple | list) and len(data) in (2, 4):
        if target is not None:
            raise ConfigError(
                f"{where}: target={target!r} names a DataFrame's column; (X, y) has none."
            )
        arrays = dict(zip(("X", "y", "X_test", "y_test"), (np.asarray(a) for a in data)))
    else:
        raise ConfigError(
            f"{where}: give a pandas DataFrame (with target=COLUMN), (X, y) or "
            f"(X, y, X_test, y_test); got {type(data).__name__}."
        )
    X, y, test = _checked(arrays, where)
    out = {"X": X, "y": y}
    if test:
        out.update(X_test=test["X"], y_test=test["y"])
    return {k: v.astype(str) if v.dtype.kind == "O" else v for k, v in out.items()}


@dataclass
class _Target:
    """What ``_table_arrays`` reads of a dataset's settings: its target column."""

    target: str


def _checked(arrays: dict, where: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """X, y and the optional own test split {X_test, y_test}, checked against each other."""
    X, y = _features(arrays["X"], "X", where), _targets(arrays["y"], "y", where)
    if len(X) == 0:
        raise ConfigError(f"{where}: the dataset is empty (0 samples).")
    if len(y) != len(X):
        raise ConfigError(f"{where}: X has {len(X)} rows but y has {len(y)}.")
    given = [k for k in ("X_test", "y_test") if k in arrays]
    if len(given) == 1:
        other = {"X_test": "y_test", "y_test": "X_test"}[given[0]]
        raise ConfigError(f"{where}: {given[0]} comes without {other}; give both or neither.")
    if not given:
        return X, y, {}
    X_test = _features(arrays["X_test"], "X_test", where)
    y_test = _targets(arrays["y_test"], "y_test", where)
    if X_test.shape[1] != X.shape[1]:
        raise ConfigError(f"{where}: X_test has {X_test.shape[1]} features but X has {X.shape[1]}.")
    if len(y_test) != len(X_test):
        raise ConfigError(f"{where}: X_test has {len(X_test)} rows but y_test has {len(y_test)}.")
    if y_test.shape[1:] != y.shape[1:]:
        raise ConfigError(
            f"{where}: y_test has shape {y_test.shape} but y has {y.shape}; "
            f"they need the same outputs per sample."
        )
    return X, y, {"X": X_test, "y": y_test}


def split_indices(
    n: int, y: np.ndarray, task: str, d: DatasetSettings, has_test: bool, rng, where: str
):
    """Indices (test, val, train) of ``n`` samples whose targets (codes) are ``y``.

    The test split is drawn first (unless the file brings its own) and is the same
    with or without folds. The rest goes to validation by ``dataset.val_fraction``,
    or, with ``dataset.folds=K``, into K folds of which ``dataset.fold`` is held out:
    stratified for classification (each class dealt out to the folds in turn, so
    every fold holds its share of each), in the order of the seeded shuffle.
    """
    n_test = 0 if has_test else int(round(d.test_fraction * n))
    n_val = int(round(d.val_fraction * n))
    asked = {
        "test": not has_test and d.test_fraction > 0,
        "val": d.folds is None and d.val_fraction > 0,
    }
    for key, fraction, rows in (("test", d.test_fraction, n_test), ("val", d.val_fraction, n_val)):
        if asked[key] and rows == 0:  # a split asked for, rounded to nothing
            raise ConfigError(
                f"{where}: dataset.{key}_fraction={fraction} of {n} samples is not one row; "
                f"give more samples, a larger fraction, or dataset.{key}_fraction=0."
            )
    if not d.shuffle_split:  # the data's own order, train rows first (seed 002: X[:240], X[240:])
        n_train = n - n_val - n_test
        if n_train < 1:
            raise ConfigError(
                f"{where}: {n} samples leave none to train on after the val/test split."
            )
        train, val, test = np.split(np.arange(n), [n_train, n_train + n_val])
        return test, val, train
    perm = rng.permutation(n)
    test, rest = perm[:n_test], perm[n_test:]
    if d.folds is None:
        if len(rest) - n_val < 1:
            raise ConfigError(
                f"{where}: {n} samples leave none to train on after the val/test split."
            )
        return test, rest[:n_val], rest[n_val:]
    if len(rest) < d.folds:
        raise ConfigError(
            f"{where}: dataset.folds={d.folds} needs at least {d.folds} samples outside "
            f"the test split, got {len(rest)}."
        )
    if task != "regression":  # stratified: every fold holds at least one of each class
        classes, counts = np.unique(y[rest], return_counts=True)
        if counts.min() < d.folds:
            raise ConfigError(
                f"{where}: class {classes[counts.argmin()]} has {counts.min()} samples outside "
                f"the test split, fewer than dataset.folds={d.folds}: every fold needs one."
            )
    # a stable sort by class keeps each class in its shuffled order
    dealt = np.argsort(y[rest], kind="stable") if task != "regression" else np.arange(len(rest))
    fold = np.empty(len(rest), dtype=int)
    fold[dealt] = np.arange(len(rest)) % d.folds
    return test, rest[fold == d.fold], rest[fold != d.fold]


STATS_CHUNK = 1 << 22  # elements of X per chunk of column_stats (a 32 MB float64 temporary)


def column_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and population std, accumulated in float64, a chunk of rows at a time.

    Two passes, as ``X.mean(0)`` and ``X.std(0)`` make them; a set that fits one chunk
    (every generated one) gets NumPy's own numbers bit for bit, a larger one never holds
    more than a chunk in float64.
    """
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros_like(mean)
    rows = max(1, STATS_CHUNK // max(1, X.shape[1]))
    for i in range(0, len(X), rows):
        centred = X[i : i + rows] - mean  # float64 (rows, features)
        squares += (centred * centred).sum(axis=0)
    return mean, np.sqrt(squares / max(1, len(X)))


def _rows(X: np.ndarray, index: np.ndarray) -> torch.Tensor:
    """X[index] as a new tensor of X's float type (one copy of just those rows)."""
    import torch

    return torch.from_numpy(np.take(X, index, axis=0))


def load(d: DatasetSettings, device: str | torch.device = "cpu") -> Dataset:
    """Generate or read the named dataset, split it, and return tensors on ``device``."""
    import torch

    rng = np.random.default_rng(d.seed)
    arrays, where = generate(d, rng)  # the split below draws from the same rng, after it
    X, y_raw, own_test = _checked(arrays, where)
    X = scale_first_feature(X, d.feature_scale)
    if own_test:
        own_test["X"] = scale_first_feature(own_test["X"], d.feature_scale)
    y_all = np.concatenate([y_raw, own_test["y"]]) if own_test else y_raw
    task, codes, n_classes = infer_task(y_all, where)
    n = len(X)
    y = codes[:n]
    test_idx, val_idx, train_idx = split_indices(n, y, task, d, bool(own_test), rng, where)
    y_test = codes[n:] if own_test else y[test_idx]
    ys = {"train": y[train_idx], "val": y[val_idx], "test": y_test}
    if d.label_noise:
        if task == "regression":
            raise ConfigError(
                f"dataset.label_noise={d.label_noise} applies to classification; dataset={d.name} is a regression task."
            )
        # a stream of its own, so the noisy set keeps the same inputs and split as the clean one
        ys["train"] = flip_labels(
            ys["train"], d.label_noise, n_classes, np.random.default_rng([d.seed, 1])
        )
    # One gather per split, standardized in place: X is never copied whole, and a float32
    # file never has a float64 copy (the statistics accumulate in float64 a chunk at a time).
    Xs = {"train": _rows(X, train_idx), "val": _rows(X, val_idx)}
    X_test = own_test["X"] if own_test else X
    Xs["test"] = _rows(X_test, np.arange(len(X_test)) if own_test else test_idx)
    if d.standardize:
        mean, std = column_stats(Xs["train"].numpy())
        std[std == 0] = 1.0  # a constant column stays constant (zero) instead of NaN
        dtype = Xs["train"].dtype
        mean, std = torch.from_numpy(mean).to(dtype), torch.from_numpy(std).to(dtype)
        for v in Xs.values():
            v.sub_(mean).div_(std)

    def tensors(split):
        if len(Xs[split]) == 0:
            return None, None
        Xt = Xs[split].to(device=device, dtype=torch.float32)
        yt = torch.as_tensor(ys[split], device=device)
        yt = (
            yt.float().reshape(-1, 1)
            if task == "binary"
            else (yt.long() if task == "multiclass" else yt.float())
        )
        return Xt, yt

    (Xtr, ytr), (Xv, yv), (Xte, yte) = tensors("train"), tensors("val"), tensors("test")
    target_dim = codes.shape[1] if task == "regression" else 1
    return Dataset(Xtr, ytr, Xv, yv, Xte, yte, task, n_classes, X.shape[1], target_dim)
