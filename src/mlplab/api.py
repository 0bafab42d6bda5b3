"""mlplab from Python: the same runs, sweeps, launchers and folders as ``mlplab-run``.

Each call goes through :func:`mlplab.cli.run`, the real Hydra app, so a notebook or a
script gets what the command line gets, and raises where the command would exit: a
user's mistake raises :class:`~mlplab.settings.ConfigError` with the command's one-line
message, a Ctrl-C (a notebook's "interrupt") ``KeyboardInterrupt``. A run that fails or
diverges is a result (its ``status`` and ``error`` say so), and a sweep's failed jobs are
rows of its table. Calls can repeat in one process: Hydra is set up afresh by each, and
the logging set-up Hydra makes for a run (its handlers on the root logger) is undone
after it, so a notebook's own logging is left as it was.

Overrides are a list of strings, as typed after ``mlplab-run``, or a dict from key to
value: ``{"model.hidden": [8, 8], "optimizer.lr": 0.01, "dataset": "iris"}``. Values are
written as Hydra reads them (lists as ``[8,8]``, None as ``null``, booleans as
``true``); a string is passed as typed (``"range(5)"`` works). In :func:`sweep` a list
value is a sweep axis: ``{"seed": [0, 1, 2]}`` runs three seeds, so a knob whose value
is itself a list is given as a list of lists: ``{"model.hidden": [[4], [8, 8]]}`` sweeps
two architectures and ``{"model.hidden": [[8, 8]]}`` fixes one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

from . import cli, settings
from .lifecycle import SweepFailed
from .results import NOT_KNOBS, RESULT_FILE, RESULTS_CSV, SUMMARY_CSV, read_result
from .settings import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import torch

Overrides = Union[Sequence[str], Mapping[str, object]]  # noqa: UP007  (a runtime alias on 3.10)


def run(overrides: Overrides = (), data=None, target: str | None = None) -> dict:
    """One training run, as ``mlplab-run OVERRIDES``: its result (``result.json``'s keys)
    with ``run_dir``, the run's folder. A failed or diverged run is returned too.

    ``data``: train on a DataFrame (``target``: its label column), ``(X, y)`` or
    ``(X, y, X_test, y_test)`` instead of a ``dataset``; it is written once into the run's
    folder as ``data-<hash of its content>.npz`` and read as ``dataset=file``.
    """
    args = arguments(overrides, sweep=False)
    written = None
    if data is not None:
        given = [a.split("=", 1)[1].strip("'\"") for a in args if a.startswith("hydra.run.dir=")]
        folder = Path(given[-1]) if given else cli.new_run_dir()
        written, args = _with_data(args, _checked_data(data, target), folder)
        args = args if given else [*args, f"hydra.run.dir={_quoted(folder)}"]
    try:
        with _mistakes_as_config_errors(), _logging_restored():
            return cli.run(args)
    except cli.RunFailed as failed:
        return failed.result
    except ConfigError:
        if written is not None:  # a run that never started leaves nothing (as the command)
            written.unlink(missing_ok=True)
            cli.discard_run_dir(written.parent)
        raise


def sweep(overrides: Overrides = (), data=None, target: str | None = None) -> pd.DataFrame:
    """A sweep, as ``mlplab-run -m OVERRIDES``: its ``results.csv``, one row per job (failed
    jobs included, with their ``status`` and ``error``). ``frame.attrs["sweep_dir"]`` is
    the sweep's folder; each row's ``run_dir`` is relative to it.

    ``data``: as in :func:`run`; it is written once into the sweep's folder, whose default
    name carries the data's hash: the same call with the same data resumes, other data
    gets a folder of its own (and a ``hydra.sweep.dir`` that holds other data is refused).
    """
    args = arguments(overrides, sweep=True)
    if data is not None:
        arrays = _checked_data(data, target)
        digest = _digest(arrays)
        folder = cli.sweep_dir_of([*args, f"data={digest}"])
        args = [*(a for a in args if not a.startswith("hydra.sweep.dir=")),
                f"hydra.sweep.dir={_quoted(folder)}"]  # fmt: skip
        _, args = _with_data(args, arrays, folder, digest)
    try:
        with _mistakes_as_config_errors(), _logging_restored():
            folder = cli.run(["-m", *args])
    except SweepFailed:  # some jobs did not complete: their rows say why
        folder = cli.sweep_dir_of(args).absolute()
    if folder is None or not (Path(folder) / RESULTS_CSV).is_file():  # sweep.plan=true
        import pandas as pd

        frame = pd.DataFrame()
    else:
        frame = load_sweep(folder)[0]
    frame.attrs["sweep_dir"] = Path(folder) if folder is not None else None
    return frame


DATA_FILE = "data-{}.npz"  # a notebook's data, in its run's or sweep's folder


def _checked_data(data, target) -> dict:
    """``data`` as the arrays of an .npz file, checked as a file is (``data.from_python``)."""
    from .data import from_python

    return from_python(data, target)


def _digest(arrays: dict) -> str:
    """A hash of the arrays' content (names, dtypes, shapes and bytes)."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name} {a.dtype.str} {a.shape}".encode())
        h.update(a.tobytes() if a.flags.c_contiguous else a.copy(order="C").tobytes())
    return h.hexdigest()


def _with_data(args: list[str], arrays: dict, folder: Path, digest: str | None = None):
    """(the data file, the overrides that train on it): the checked ``arrays`` written once
    into ``folder`` (the same content is not written again; other data there is refused)."""
    import numpy as np

    from .results import atomic_write

    clash = [
        a
        for a in args
        if a.split("=", 1)[0].lstrip("+~") in ("dataset", "dataset.path", "dataset.target")
    ]
    if clash:
        raise ConfigError(f"data= and {clash[0]} both give the data: give one of them.")
    digest = digest or _digest(arrays)
    path = Path(folder) / DATA_FILE.format(digest)
    others = sorted(p.name for p in Path(folder).glob(DATA_FILE.format("*")) if p != path)
    if others:
        raise ConfigError(
            f"data: {folder} holds the results of other data ({others[0]}); give another "
            "hydra.sweep.dir (or hydra.run.dir), or delete that folder."
        )
    if not path.is_file():

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        atomic_write(path, write)
    # one file for every job: its path stays out of the job folders' names
    unnamed = ",".join([*NOT_KNOBS, "dataset", "dataset.path"])
    return path, [*args, "dataset=file", f"dataset.path={_quoted(path)}",
                  f"hydra.job.config.override_dirname.exclude_keys=[{unnamed}]"]  # fmt: skip


def _quoted(path: Path) -> str:
    """A path as one quoted value of Hydra's override grammar (its folder may hold = , [ ])."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def load_sweep(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A sweep folder's (results, summary): its ``results.csv`` and ``summary.csv``, or,
    where they were never written (a killed sweep), the same tables built from its job
    folders, as ``mlplab-aggregate`` would, without writing anything."""
    import pandas as pd

    from .results import collect, summarize_sweep

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"load_sweep: {str(path)!r} is not a folder (a sweep's folder).")
    if (folder / RESULTS_CSV).is_file() and (folder / SUMMARY_CSV).is_file():
        results, summary = pd.read_csv(folder / RESULTS_CSV), pd.read_csv(folder / SUMMARY_CSV)
    else:
        results = collect(folder)
        if results.empty:
            raise FileNotFoundError(f"load_sweep: no jobs in {str(path)!r} (not a sweep folder?).")
        # as the CSV files would read back (missing values as NaN, the same dtypes)
        results = pd.read_csv(io.StringIO(results.to_csv(index=False)))
        summary = pd.read_csv(io.StringIO(summarize_sweep(results).to_csv(index=False)))
    for frame in (results, summary):
        frame.attrs["sweep_dir"] = folder.absolute()
    return results, summary


def load_model(run_dir: str | Path) -> torch.nn.Module:
    """The model a run saved (``model.safetensors``), rebuilt on the CPU from the settings in
    its ``result.json``, in eval mode. Settings a run's file predates take today's defaults."""
    from safetensors.torch import load_file

    from .results import CHECKPOINT_FILE
    from .train import prepare

    result = read_result(Path(run_dir))
    if result is None or not result.get("config"):
        raise FileNotFoundError(f"load_model: no {RESULT_FILE} with a config in {str(run_dir)!r}.")
    s = settings_of(result["config"])
    _, model, _ = prepare(
        dataclasses.replace(s, trainer=dataclasses.replace(s.trainer, device="cpu"))
    )
    model.load_state_dict(load_file(str(Path(run_dir) / CHECKPOINT_FILE)))
    return model.eval()


def settings_of(config: dict) -> settings.RunSettings:
    """Validated settings from a result's flat config (``section.key`` -> value), over
    today's defaults for any key it lacks."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        tree = settings.task_tree(compose(config_name="config"))
    return settings.validate(settings.from_tree(settings.unflatten(config, tree)))


# ---------------------------------------------------------------- overrides


def arguments(overrides: Overrides, sweep: bool) -> list[str]:
    """The command-line overrides for a list or dict of them (see the module's doc)."""
    if isinstance(overrides, str):
        raise TypeError(
            f"overrides: give a list of strings or a dict, not the string {overrides!r} "
            f"(e.g. [{overrides!r}])."
        )
    if isinstance(overrides, Mapping):
        return [f"{key}={_value(str(key), value, sweep)}" for key, value in overrides.items()]
    args = [str(o) for o in overrides]
    flags = [a for a in args if a.startswith("-")]
    if flags:
        call = "sweep" if sweep else "run"
        raise ConfigError(
            f"mlplab.{call}() takes overrides (key=value), not {flags[0]!r}: "
            "use the mlplab-run command for Hydra's flags."
        )
    return args


def _value(key: str, value, sweep: bool) -> str:
    if not (sweep and isinstance(value, list | tuple)):
        return _literal(value)
    if not value:
        raise ConfigError(f"{key}: an empty list of values to sweep over.")
    if _is_list_knob(key) and not all(isinstance(v, list | tuple) for v in value):
        raise ConfigError(
            f"{key}={list(value)}: {key} is a list, and in sweep() a list is a sweep axis: "
            f"give a list of lists, e.g. {{{key!r}: [{list(value)!r}]}} for this one value."
        )
    return ",".join(_literal(v) for v in value)


def _literal(value) -> str:
    """``value`` as Hydra's override grammar reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float | str):
        return str(value) if isinstance(value, str) else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    raise TypeError(f"override value {value!r}: give a number, string, bool, None or a list.")


def _is_list_knob(key: str) -> bool:
    """Is ``key`` a setting whose value is a list (``model.hidden``)? Read off the settings'
    type hints (``list[int]``)."""
    kind = settings.RunSettings
    for part in key.split("."):
        if not dataclasses.is_dataclass(kind):
            return False
        kind = typing.get_type_hints(kind).get(part)
    return typing.get_origin(kind) is list


@contextlib.contextmanager
def _mistakes_as_config_errors():
    """A user's mistake that Hydra or OmegaConf raises (an unknown key, a value of the wrong
    type, an override that does not parse) as ConfigError, with the command's one line."""
    try:
        yield
    except (ConfigError, cli.RunFailed, SweepFailed):
        raise
    except Exception as exc:
        message = cli.explain(exc)
        if message is None:  # not a mistake of the user's: a bug, with its traceback
            raise
        if isinstance(exc, OSError) and exc.filename is not None:
            raise  # a folder that cannot be written: the OSError says which
        raise ConfigError(message) from None


@contextlib.contextmanager
def _logging_restored():
    """Undo the logging set-up Hydra makes for a run (handlers and level of the root logger;
    its file handler on the run's log), so that calls do not stack up handlers."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
