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
from .results import RESULT_FILE, RESULTS_CSV, SUMMARY_CSV, SweepFailed, read_result
from .settings import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import torch

Overrides = Union[Sequence[str], Mapping[str, object]]  # noqa: UP007  (a runtime alias on 3.10)


def run(overrides: Overrides = ()) -> dict:
    """One training run, as ``mlplab-run OVERRIDES``: its result (``result.json``'s keys)
    with ``run_dir``, the run's folder. A failed or diverged run is returned too."""
    args = arguments(overrides, sweep=False)
    try:
        with _mistakes_as_config_errors(), _logging_restored():
            return cli.run(args)
    except cli.RunFailed as failed:
        return failed.result


def sweep(overrides: Overrides = ()) -> pd.DataFrame:
    """A sweep, as ``mlplab-run -m OVERRIDES``: its ``results.csv``, one row per job (failed
    jobs included, with their ``status`` and ``error``). ``frame.attrs["sweep_dir"]`` is
    the sweep's folder; each row's ``run_dir`` is relative to it."""
    args = arguments(overrides, sweep=True)
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
    from .job import load_model as load_weights

    result = read_result(Path(run_dir))
    if result is None or not result.get("config"):
        raise FileNotFoundError(f"load_model: no {RESULT_FILE} with a config in {str(run_dir)!r}.")
    return load_weights(Path(run_dir), settings_of(result["config"]))


def settings_of(config: dict) -> settings.RunSettings:
    """Validated settings from a result's flat config (``section.key`` -> value), over
    today's defaults for any key it lacks."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        tree = settings.task_tree(compose(config_name="config"))
    for key, value in config.items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return settings.validate(settings.from_tree(tree))


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
