"""Entry points: ``mlplab-run`` (a Hydra app), ``mlplab-aggregate`` and ``mlplab-compare``.

:func:`run` runs the Hydra app and raises on a mistake (the Python API calls it);
:func:`main` turns what it raises into one line and an exit status. Nothing here
imports torch before the config is known good, so a typo costs well under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import secrets
import shutil
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import environ, settings
from .compose import check_choices, command_line, folder_name
from .lifecycle import SweepFailed
from .results import NOT_KNOBS, RESULT_FILE, disk_full, is_complete
from .settings import ConfigError

CONFIG_PATH = "pkg://mlplab.configs"
SWEEPS = Path("outputs/sweeps")  # where a sweep's folder goes unless hydra.sweep.dir says

ConfigStore.instance().store(name="mlplab_schema", node=settings.schema())


def _register_plugins() -> None:
    """Register mlplab's launcher and sweepers with Hydra through ``Plugins.register``.

    Hydra's own scan lists plugins with pkgutil over ``hydra_plugins.__path__``, which
    setuptools' editable finder hides: a checkout's plugins would go unseen. Registering the
    classes (and, by importing them, their ``hydra/launcher`` and ``hydra/sweeper`` configs)
    works from a checkout and from an install alike; a class the scan found is not doubled.
    """
    from hydra.core.plugins import Plugins

    from hydra_plugins.mlplab_launcher.stacked_launcher import StackedLauncher
    from hydra_plugins.mlplab_optuna_sweeper import config as _optuna_config  # noqa: F401
    from hydra_plugins.mlplab_optuna_sweeper.optuna_sweeper import OptunaSweeper
    from hydra_plugins.mlplab_sweeper.grid_sweeper import GridSweeper

    for plugin in (StackedLauncher, GridSweeper, OptunaSweeper):
        Plugins.instance().register(plugin)


_register_plugins()

# A short random token in every single-run folder name: two runs started in the same
# second never share a folder (hydra #1817). Cached: it resolves once per command.
OmegaConf.register_new_resolver(
    "mlplab_uid", lambda: secrets.token_hex(3), use_cache=True, replace=True
)
OmegaConf.register_new_resolver("mlplab_job_dir", lambda name: folder_name(str(name)), replace=True)


class RunFailed(Exception):
    """A single run that did not complete (failed or diverged): exit status 1."""

    def __init__(self, result: dict) -> None:
        super().__init__(result.get("error"))
        self.result = result  #: the run's result (mlplab.run returns it)


def describe(result: dict) -> str:
    """One line for a finished run: status, architecture, size and final metrics."""
    cfg = result["config"]
    parts = [
        f"{result['status']}:",
        f"dataset={cfg['dataset.name']}",
        f"hidden={cfg['model.hidden']}",
        f"activation={cfg['model.activation']}",
        f"params={result.get('params')}",
        f"epochs={result.get('epochs_run')}",
    ]
    for key in (*settings.METRIC_NAMES, "test_acc"):
        value = result.get(key)
        if value is not None:
            parts.append(f"{key}={value:.2%}" if key.endswith("acc") else f"{key}={value:.4g}")
    if result.get("error"):
        parts.append(f"error={result['error']}")
    return "  ".join(parts)


# ---------------------------------------------------------------- mlplab-run


def _task(cfg: DictConfig, outcome: dict) -> dict | None:
    """The Hydra task: one run, or one job of a sweep under Hydra's own launchers.

    (The stacked launcher, the default for sweeps, runs its jobs without it.) A single
    run's mistake goes into ``outcome["error"]`` for :func:`run` to raise once Hydra is
    done: raised here, Hydra would print a line of its own before it.
    """
    from .data import fingerprint
    from .lifecycle import Job
    from .results import identity, move_aside, reusable

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = tuple(OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False))
    ident = None
    if hydra_cfg.mode == RunMode.MULTIRUN:  # resume: a result of the same identity is done
        try:
            data = fingerprint(settings.from_config(cfg).dataset)
        except ConfigError:
            data = None  # recorded as invalid below
        ident = identity(settings.flat(settings.task_tree(cfg)), data)
        found, result = reusable(run_dir, ident, data)
        if found == "complete":
            return {**result, "run_dir": str(run_dir)}
        if found == "stale":  # kept aside; Hydra has written this run's .hydra/ here already
            move_aside(run_dir, Path(hydra_cfg.sweep.dir), copy=True)
    try:
        check_choices(hydra_cfg.runtime.choices, GlobalHydra.instance().config_loader())
        s = settings.from_config(cfg)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            from .job import run_single  # imports torch: only once the config is good
            from .loggers import check_servers

            check_servers([s])

            result = run_single(s, run_dir, list(overrides))
    except ConfigError as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:  # recorded in the sweep's table
            from .loggers import log_group
            from .results import record_invalid

            config = settings.flat(settings.task_tree(cfg))
            job = Job(hydra_cfg.job.num, overrides, run_dir, config, None, str(exc))
            result = record_invalid(job)
            log_group([job], [result])  # the loggers hear of it too
            return result
        discard_run_dir(run_dir)
        outcome["error"] = exc
        return None
    except OSError as exc:  # a full disk: said in one line by main, not by Hydra first
        if hydra_cfg.mode == RunMode.MULTIRUN or not disk_full(exc):
            raise
        outcome["error"] = exc
        return None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        from .job import run_group

        config = settings.flat(settings.task_tree(cfg))
        job = Job(hydra_cfg.job.num, overrides, run_dir.absolute(), config, s, identity=ident)
        return run_group([job])[0]
    print(describe(result))
    print(f"run folder: {run_dir}")
    outcome["result"] = result
    if result["status"] != "completed":
        outcome["error"] = RunFailed(result)
    return result


def discard_run_dir(run_dir: Path) -> None:
    """Remove the folder Hydra made for a run that never started (only Hydra's own files)."""
    if run_dir.is_dir() and all(
        p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir()
    ):
        shutil.rmtree(run_dir, ignore_errors=True)
        parent = run_dir.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()


def new_run_dir() -> Path:
    """A new single run's folder, as config.yaml's ``hydra.run.dir`` names it (for a caller
    that must write into it before the run: ``mlplab.run(data=...)``)."""
    import datetime

    now = datetime.datetime.now()
    return Path("outputs/runs") / f"{now:%Y-%m-%d}" / f"{now:%H-%M-%S}-{secrets.token_hex(3)}"


def sweep_dir_of(overrides: list[str]) -> Path:
    """The folder a sweep command writes to: ``hydra.sweep.dir`` if given, else one named
    after the command's own overrides (so the same command resumes in the same folder)."""
    given = [o.split("=", 1)[1].strip("'\"") for o in overrides if o.startswith("hydra.sweep.dir=")]
    if given:
        return Path(given[-1])
    kept = sorted(
        o for o in overrides
        if not o.lstrip("+~").startswith("hydra") and o.lstrip("+~").split("=")[0] not in NOT_KNOBS
    )  # fmt: skip
    experiments = [o.split("=", 1)[1] for o in kept if o.startswith("experiment=")]
    rest = [o for o in kept if not o.startswith("experiment=")]
    return SWEEPS / folder_name("__".join(experiments + rest))


def run(argv: list[str] | None = None) -> dict | Path | None:
    """``mlplab-run ARGS``: one run (returns its result) or a sweep with ``-m`` (its folder).

    Raises what goes wrong (ConfigError for a user's mistake, RunFailed, SweepFailed,
    KeyboardInterrupt), never exits on its own (Hydra's ``--help`` and ``--cfg`` do).
    """
    _register_plugins()  # again (a no-op if still there): Hydra's singletons may have been reset
    outcome: dict = {}

    @hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
    def mlplab(cfg: DictConfig) -> dict | None:
        return _task(cfg, outcome)

    args = list(sys.argv[1:] if argv is None else argv)
    multirun, overrides = command_line(args)
    sweep_dir = sweep_dir_of(overrides) if multirun else None
    if multirun and not any(o.startswith("hydra.sweep.dir=") for o in overrides):
        quoted = str(sweep_dir).replace("\\", "\\\\").replace("'", "\\'")
        args.append(f"hydra.sweep.dir='{quoted}'")  # quoted: a folder name holds = and ,
    # Hydra's errors reach us, to be told in one line; a real crash shows its traceback.
    with environ.defaults(HYDRA_FULL_ERROR="1", RAY_AUTH_MODE="disabled"), _argv(args):
        mlplab()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result") if sweep_dir is None else sweep_dir.absolute()


@contextlib.contextmanager
def _argv(args: list[str]):
    """``sys.argv`` as hydra.main reads it, for the length of the call."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "mlplab-run", *args]
    try:
        yield
    finally:
        sys.argv = saved


class Terminated(KeyboardInterrupt):
    """A SIGTERM (``kill``, ``docker stop``, ``scancel``, a cluster's preemption): it stops a
    sweep as Ctrl-C does, workers and tables included."""


def main() -> None:
    """The ``mlplab-run`` console script: :func:`run`, its errors as one line and a status."""
    ctrl_c = []  # Python's own Ctrl-C handler, that also notes the Ctrl-C

    def interrupt(signum, frame):
        ctrl_c.append(signum)
        raise KeyboardInterrupt

    def terminate(signum, frame):
        ctrl_c.append(signum)
        raise Terminated

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate)
    try:
        run()
        # What is left is the interpreter's exit, whose collections walk every object that
        # torch, pandas and matplotlib made (~0.1 s each, several of them): frozen, they are
        # skipped. Measured on the MNIST-sized single run of scripts/bench_real.py (wall
        # 7.4 s, 4.7-4.9 s of it not training), from result.json to the process's end, 3
        # runs each: 0.71 s, 0.14 s frozen; that is 12% of what is not training, past the
        # 10% a trick must earn. The files are written and closed by now; nothing left
        # needs a collection to finish.
        gc.freeze()
    except KeyboardInterrupt as exc:
        _interrupted(isinstance(exc, Terminated))
    except (RunFailed, SweepFailed):
        sys.exit(1)  # the run's line, or the sweep's table and failures, are printed
    except Exception as exc:
        full = next((e for e in (exc, exc.__cause__) if disk_full(e)), None)
        if full is not None:
            _disk_full(full)
        if ctrl_c:  # a Ctrl-C inside an import comes out as another error (numpy's, under torch's)
            _interrupted(ctrl_c[-1] == signal.SIGTERM)
        message = explain(exc)
        if message is None:
            raise
        print(f"mlplab: error: {message}", file=sys.stderr)
        sys.exit(2)


def _disk_full(exc: OSError) -> None:
    """A full disk: one line naming the folder and what is kept, and exit status 1."""
    multirun, overrides = command_line(sys.argv[1:])
    if multirun:
        folder = sweep_dir_of(overrides).absolute()
        kept = sum(is_complete(p.parent) for p in folder.glob(f"*/{RESULT_FILE}"))
        what = f"{kept} finished job{'s are' if kept != 1 else ' is'} kept"
    else:
        folder = Path(exc.filename or ".").absolute().parent
        what = "the run is not complete"
    print(
        f"mlplab: no space left on the device holding {folder}; {what}; free space and run "
        "the same command",
        file=sys.stderr,
    )
    sys.exit(1)


def _interrupted(terminated: bool = False) -> None:
    """Ctrl-C or SIGTERM: one line (where a sweep resumes) and exit status 130 or 143
    (128 + the signal's number, as a shell reports a process the signal ended)."""
    multirun, overrides = command_line(sys.argv[1:])
    where = f"; the same command resumes the sweep in {sweep_dir_of(overrides).absolute()}"
    resume = where if multirun else ""
    print(f"mlplab: {'terminated' if terminated else 'interrupted'}{resume}", file=sys.stderr)
    sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))


def explain(exc: BaseException) -> str | None:
    """One line for a user's mistake (a bad config, override or output folder), else None."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    cause = exc if isinstance(exc, ConfigError) else exc.__cause__
    if isinstance(cause, ConfigError):  # ours, or a plugin's knob (wrapped by Hydra)
        return str(cause)
    if isinstance(exc, OSError) and exc.filename is not None:  # an output folder we cannot write
        return f"cannot write {exc.filename!s}: {exc.strerror}."
    if isinstance(exc, OverrideParseException):  # Hydra's reason, less its frame and link
        lines = exc.message.splitlines()
        reason = [s for s in lines if s and not s.startswith(("Error parsing", "See https"))]
        return f"Cannot parse override {exc.override!r}: {' '.join(reason or lines[:1])}"
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options:
        group, _, name = exc.missing_cfg_file.rpartition("/")
        return f"Unknown {group or 'config'} {name!r}. Choose one of: {', '.join(sorted(exc.options))}."
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
    full_key = getattr(cause, "full_key", None)
    if isinstance(cause, ConfigKeyError | ConfigAttributeError) and full_key:
        parent = full_key.rpartition(".")[0]
        node = getattr(cause, "parent_node", None)
        keys = settings.keys_of(parent) or sorted(
            str(k) for k in (node if node is not None else ()) if not str(k).startswith("_")
        )
        choices = f"Choose one of: {', '.join(keys)}" if keys else f"{parent!r} takes no keys"
        meant = settings.did_you_mean(full_key)
        return (
            f"Unknown key {full_key!r}."
            + (f" Did you mean {meant}?" if meant else "")
            + f" {choices}."
        )
    if isinstance(cause, OmegaConfBaseException) and full_key:
        return f"{full_key}: {str(cause).splitlines()[0]}."
    if isinstance(exc, HydraException | OmegaConfBaseException):
        return " ".join(str(exc).split())
    return None


# ---------------------------------------------------------------- mlplab-aggregate, mlplab-compare


def aggregate(argv: list[str] | None = None) -> None:
    """``mlplab-aggregate SWEEP_DIR``: rebuild a sweep's results.csv, summary.csv and plots."""
    parser = argparse.ArgumentParser(prog="mlplab-aggregate", description=aggregate.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder (holding job folders)")
    parser.add_argument(
        "--metric", default="auto", help="summary/plot metric (default: val_acc or val_loss)"
    )
    parser.add_argument(
        "--by", default="depth", help="one plot line per value of this column (default: depth)"
    )
    parser.add_argument(
        "--heatmap", metavar="X,Y",
        help="also draw the metric over two knobs (X across, Y down) into heatmap_X_Y.png",
    )  # fmt: skip
    parser.add_argument(
        "--where", metavar="K=V", action="append", default=[],
        help="with --heatmap: fix another knob to a value (repeatable); the knobs that vary "
        "and are not fixed are averaged over",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"mlplab: error: SWEEP_DIR {str(args.sweep_dir)!r}: no such folder.", file=sys.stderr)
        sys.exit(2)
    from .lifecycle import finish_sweep
    from .results import collect, default_metric, heatmap

    results = collect(args.sweep_dir)
    columns = sorted(map(str, results.columns))  # checked before anything is written
    if args.metric != "auto" and args.metric not in columns:
        print(
            f"mlplab: error: Unknown --metric {args.metric!r}. Choose one of: auto, {', '.join(columns)}.",
            file=sys.stderr,
        )
        sys.exit(2)
    cells = None
    if args.heatmap or args.where:
        try:
            cells = _heatmap_of(results, args, heatmap, default_metric)
        except ConfigError as exc:
            print(f"mlplab: error: {exc}", file=sys.stderr)
            sys.exit(2)
    from .plots import sweep_figures

    code = finish_sweep(args.sweep_dir, args.metric, args.by, draw=sweep_figures)
    if cells is not None:
        from .plots import heatmap as draw

        path = args.sweep_dir / f"heatmap_{cells.x}_{cells.y}.png"
        draw(cells, path, title=args.sweep_dir.name)
        print(f"heatmap: {path}  ({cells.metric}: {cells.x} across, {cells.y} down; {cells.note})")
    sys.exit(code)


def _heatmap_of(results, args, heatmap, default_metric):
    """The Heatmap ``--heatmap X,Y --where K=V ...`` asks for (ConfigError if it cannot be)."""
    if not args.heatmap:
        raise ConfigError("--where fixes a knob of a heatmap: give --heatmap X,Y too.")
    names = [n.strip() for n in args.heatmap.split(",")]
    if len(names) != 2 or not all(names):
        raise ConfigError(f"--heatmap {args.heatmap!r}: give two knobs, e.g. --heatmap lr,hidden.")
    where = {}
    for item in args.where:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--where {item!r}: give KNOB=VALUE, e.g. --where activation=relu.")
        where[key.strip()] = value.strip()
    done = results[results["status"] == "completed"] if "status" in results else results[:0]
    if done.empty:
        raise ConfigError(f"--heatmap: no completed run in {args.sweep_dir}.")
    metric = default_metric(done) if args.metric == "auto" else args.metric
    return heatmap(results, *names, metric, where)


def compare(argv: list[str] | None = None) -> None:
    """``mlplab-compare A.csv B.csv ...``: results side by side, joined on their knobs, with deltas."""
    from .comparison import main as compare_main

    compare_main(argv)
