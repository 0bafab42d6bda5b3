"""Thin entry points: ``mlplab-run`` (Hydra), ``mlplab-aggregate`` and ``mlplab-compare``.

Nothing here imports torch before the config is validated, so a typo costs well
under a second.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import traceback
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import settings
from .settings import ConfigError
from .workers import AHEAD, Ahead, WorkerDied, catch_ctrl_c, interrupted

CONFIG_PATH = "pkg://mlplab.configs"
STOP_FILE = ".mlplab-stop"  # left in a sweep folder by the first failure under fail_fast

ConfigStore.instance().store(name="mlplab_schema", node=settings.schema())


def _expose_launcher_plugin() -> None:
    """Let Hydra's plugin scan see ``hydra/launcher=stacked`` from an editable checkout.

    Hydra lists plugins with pkgutil over ``hydra_plugins.__path__``; setuptools'
    editable finder is invisible to pkgutil, so a checkout adds its own folder. An
    installed wheel needs nothing: its plugin sits in site-packages/hydra_plugins.
    """
    import hydra_plugins

    here = Path(__file__).resolve().parents[1] / "hydra_plugins"
    if here.is_dir() and str(here) not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(str(here))


_expose_launcher_plugin()


def _folder_name(text: str, limit: int = 120) -> str:
    """A readable, filesystem-safe folder name; long ones end in a hash of the full text."""
    safe = re.sub(r"[^A-Za-z0-9_.,=+\-\[\]]", "_", text) or "default"
    if len(safe) <= limit:
        return safe
    return f"{safe[: limit - 9]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _sweep_name() -> str:
    """The sweep folder's name: the command's own overrides (so a re-run resumes there).

    Resolved once, in the launching process, from the overrides SweepTables saw at the
    start of the sweep; Hydra copies the resolver cache into every job's config, so
    jobs in other processes get the same folder.
    """
    if SweepTables.overrides is None:
        from datetime import datetime

        return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    overrides = sorted(SweepTables.overrides)
    experiments = [o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")]
    rest = [o for o in overrides if not o.startswith("experiment=")]
    return _folder_name("__".join(experiments + rest))


# A short random token in every single-run folder name: two runs started in the
# same second never share a folder (hydra #1817). Cached resolvers resolve once
# per command, and Hydra copies the cache into every job of a sweep.
OmegaConf.register_new_resolver(
    "mlplab_uid", lambda: secrets.token_hex(3), use_cache=True, replace=True
)
OmegaConf.register_new_resolver("mlplab_sweep_name", _sweep_name, use_cache=True, replace=True)
OmegaConf.register_new_resolver(
    "mlplab_job_dir", lambda name: _folder_name(str(name)), replace=True
)


def _fail(message: str, code: int = 2) -> None:
    print(f"mlplab: error: {message}", file=sys.stderr)
    sys.exit(code)


def _discard_run_dir(run_dir: Path) -> None:
    """Remove the folder Hydra made for a run that never started (only Hydra's own files)."""
    if run_dir.is_dir() and all(
        p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir()
    ):
        shutil.rmtree(run_dir, ignore_errors=True)
        parent = run_dir.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()


def describe(result: dict) -> str:
    """One line for a finished run: status, architecture, size and final metrics."""
    cfg = result["config"]
    parts = [
        f"{result['status']}:",
        f"dataset={cfg['dataset.name']}",
        f"hidden={cfg['model.hidden']}",
        f"activation={cfg['model.activation']}",
        f"params={result['params']}",
        f"epochs={result.get('epochs_run')}",
    ]
    for key in ("train_loss", "val_loss", "train_acc", "val_acc", "test_acc"):
        value = result.get(key)
        if value is not None:
            parts.append(f"{key}={value:.2%}" if key.endswith("acc") else f"{key}={value:.4g}")
    if result.get("error"):
        parts.append(f"error={result['error']}")
    return "  ".join(parts)


# ---------------------------------------------------------------- mlplab-run


def _task(cfg: DictConfig) -> dict | None:
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return _sweep_job(cfg, hydra_cfg)
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        s = settings.from_config(cfg)
        from .job import run_job  # imports torch: only after the config is known good

        result = run_job(s, run_dir, list(hydra_cfg.overrides.task), progress=s.trainer.progress)
    except ConfigError as exc:
        _discard_run_dir(run_dir)
        _fail(str(exc))
    print(describe(result))
    print(f"run folder: {run_dir}")
    if result["status"] != "completed":
        sys.exit(1)
    return result


def _sweep_job(cfg: DictConfig, hydra_cfg) -> dict | None:
    """One job of a sweep: skip it if done, never let it raise, record why it failed.

    Returns the job's result with ``run_dir`` (its folder) added: the Optuna sweeper
    reads the trial's value from it. None: not run (fail_fast).
    """
    from .results import read_result

    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep_dir = Path(hydra_cfg.sweep.dir)
    result = read_result(run_dir)
    if (
        result is None or result.get("status") != "completed"
    ):  # resume: completed jobs are never rerun
        if (sweep_dir / STOP_FILE).exists():
            _discard_run_dir(run_dir)  # fail_fast: an earlier job failed; launch nothing more
            return None
        result = _train_or_record(cfg, hydra_cfg, run_dir)
        if result["status"] != "completed" and OmegaConf.select(
            cfg, "sweep.fail_fast", default=False
        ):
            (sweep_dir / STOP_FILE).write_text(
                f"{' '.join(result['overrides'])}: {result['error']}\n"
            )
    return {**result, "run_dir": str(run_dir.absolute())}


def _train_or_record(cfg: DictConfig, hydra_cfg, run_dir: Path) -> dict:
    """Run the job; if anything goes wrong, write its failed result.json instead of raising."""
    from .results import RESULT_FILE, write_json

    overrides = list(hydra_cfg.overrides.task)
    try:
        s = settings.from_config(cfg)
        from .job import run_job

        # with several GPUs, job n of a sweep takes GPU n mod count (round-robin)
        return run_job(s, run_dir, overrides, gpu=hydra_cfg.job.get("num"), in_sweep=True)
    except Exception as exc:  # a failing job must not cost the sweep
        config = settings.flat(OmegaConf.to_container(cfg, resolve=True))
        result = {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "overrides": overrides,
            "config": config,
        }
        if not isinstance(exc, ConfigError):
            result["traceback"] = traceback.format_exc()
        write_json(run_dir / RESULT_FILE, result)
        return result


class SweepTables(Callback):
    """Remembers the sweep, so its folder can be named and ``run`` can write its tables."""

    overrides: list[str] | None = None
    config: DictConfig | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        SweepTables.overrides = list(config.hydra.overrides.task)
        SweepTables.config = config

    @staticmethod
    def sweep_dir() -> Path | None:
        if SweepTables.config is None:
            return None
        return Path(SweepTables.config.hydra.sweep.dir).absolute()


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _hydra_main(cfg: DictConfig) -> dict | None:
    return _task(cfg)


def run() -> None:
    """``mlplab-run``: one training run, or a sweep with ``-m``."""
    # Let Hydra's composition errors reach us, to be told in one line; a real crash
    # (a bug, not a typo) then shows its whole traceback.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray's launcher: no token in ~/.ray
    if {"-m", "--multirun"} & set(sys.argv[1:]):
        # pandas and matplotlib (~0.6 s) are imported in a process of its own while this
        # one starts the sweep and imports torch; the tables and figures are made there
        AHEAD["mlplab.plots"] = Ahead("mlplab.plots")
    try:
        _run()
    finally:
        while AHEAD:
            AHEAD.popitem()[1].close()


def _interrupted() -> None:
    """Ctrl-C: finished jobs are on disk; say how to go on."""
    sweep_dir = SweepTables.sweep_dir()
    where = f"; the same command resumes the sweep in {sweep_dir}" if sweep_dir else ""
    print(f"mlplab: interrupted{where}", file=sys.stderr)
    sys.exit(130)


def _run() -> None:
    catch_ctrl_c()
    try:
        _hydra_main()
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:
        if interrupted():  # a Ctrl-C that a library turned into an error (an import's)
            _interrupted()
        message = explain(exc)
        sweep_dir = SweepTables.sweep_dir()
        if sweep_dir is not None and sweep_dir.is_dir():  # the jobs on disk still get their tables
            _finish(sweep_dir)
        if message is None:
            raise
        _fail(message)
    if interrupted():  # a Ctrl-C that a library swallowed
        _interrupted()
    sweep_dir = SweepTables.sweep_dir()
    if sweep_dir is not None:
        sweep = SweepTables.config.get("sweep", {})
        code = _finish(sweep_dir, sweep.get("metric", "auto"), sweep.get("plot_by", "depth"))
        (sweep_dir / STOP_FILE).unlink(missing_ok=True)  # the next attempt starts clean
        sys.exit(code)


def main() -> None:
    """The ``mlplab-run`` console script: :func:`run`, then a quick exit."""
    try:
        try:
            run()
            code = 0
        except KeyboardInterrupt:  # a Ctrl-C while the sweep's tables were being written
            _interrupted()
    except SystemExit as exc:
        code = exc.code
    _exit_now(code)


def _exit_now(code) -> None:
    """Exit without tearing the interpreter down, once everything is written.

    Unloading torch, pandas and matplotlib takes ~0.5 s at every exit, after the work
    is done. The atexit handlers still run (logging flushes and closes its files, Ray
    shuts down); only the module teardown is skipped. With other threads alive, a
    normal exit lets them finish.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: a Ctrl-C now changes nothing
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _finish(sweep_dir: Path, metric: str = "auto", by: str = "depth") -> int:
    """:func:`finish_sweep`, in the process started with the sweep where there is one.

    That process has imported pandas and matplotlib while this one ran the sweep, so
    this one never does (~0.6 s); it prints to the same terminal.
    """
    ahead = AHEAD.pop("mlplab.plots", None)
    if ahead is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            return ahead.call(finish_sweep, sweep_dir, metric, by)
        except WorkerDied:  # it was killed: do it here
            pass
    return finish_sweep(sweep_dir, metric, by)


def finish_sweep(sweep_dir: Path, metric: str = "auto", by: str = "depth") -> int:
    """Write the sweep's tables, print its summary and failures; return the exit code."""
    from .results import write_sweep_tables

    results, summary = write_sweep_tables(sweep_dir, metric, by)
    if results.empty:
        print(f"no jobs found under {sweep_dir}", file=sys.stderr)
        return 1
    print(format_summary(results, summary, metric))
    counts = ", ".join(f"{n} {status}" for status, n in results["status"].value_counts().items())
    print(f"\n{len(results)} jobs: {counts}")
    print(
        f"tables: {sweep_dir / 'results.csv'}  {sweep_dir / 'summary.csv'}  plot: {sweep_dir / 'sweep.png'}"
    )
    bad = results[results["status"] != "completed"]
    for _, row in bad.head(10).iterrows():
        print(
            f"  {row['status']}: {row['overrides'] or row['run_dir']}: {row['error']}",
            file=sys.stderr,
        )
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more (see results.csv)", file=sys.stderr)
    stop = sweep_dir / STOP_FILE
    if stop.exists():
        print(f"fail_fast: stopped after {stop.read_text().strip()}", file=sys.stderr)
    return 0 if bad.empty and not stop.exists() else 1


def format_summary(results, summary, metric: str = "auto") -> str:
    """The summary as an aligned text table: varying knobs, params, metric mean ± std, n."""
    import pandas as pd

    from .results import default_metric, is_knob

    metric = default_metric(results) if metric == "auto" else metric
    keys = [c for c in summary.columns if is_knob(c) and summary[c].astype(str).nunique() > 1]
    keys = keys or [c for c in ("dataset", "hidden") if c in summary.columns]
    table = summary[keys].copy()
    if "params_mean" in summary.columns:
        table["params"] = summary["params_mean"].round().astype("Int64")
    for name in dict.fromkeys(("train_acc" if metric.endswith("acc") else "train_loss", metric)):
        mean, std = summary.get(f"{name}_mean"), summary.get(f"{name}_std")
        if mean is None:
            continue
        scale, fmt, fmt_std = (
            (100, "{:.1f}", "{:.1f}") if name.endswith("acc") else (1, "{:.4g}", "{:.2g}")
        )
        stds = std if std is not None else [None] * len(mean)
        table[name + (" %" if scale == 100 else "")] = [
            "-"
            if pd.isna(m)
            else fmt.format(m * scale) + ("" if pd.isna(s) else " ± " + fmt_std.format(s * scale))
            for m, s in zip(mean, stds)
        ]
    table["n"] = summary["n"]
    if summary["n_failed"].any():
        table["failed"] = summary["n_failed"]
    return table.to_string(index=False)


def explain(exc: BaseException) -> str | None:
    """One line for a Hydra/OmegaConf composition error (key, value, choices), else None."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    cause = exc if isinstance(exc, ConfigError) else exc.__cause__
    if isinstance(cause, ConfigError):  # a plugin's knob (raised in, or wrapped by, Hydra)
        return str(cause)
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
        return f"Unknown key {full_key!r}. Choose one of: {', '.join(settings.keys_of(parent))}."
    if isinstance(cause, OmegaConfBaseException) and full_key:
        return f"{full_key}: {str(cause).splitlines()[0]}."
    if isinstance(exc, HydraException | OmegaConfBaseException):
        return " ".join(str(exc).split())
    return None


# ---------------------------------------------------------------- mlplab-aggregate, mlplab-compare


def aggregate(argv: list[str] | None = None) -> None:
    """``mlplab-aggregate SWEEP_DIR``: rebuild a sweep's results.csv, summary.csv and plot."""
    parser = argparse.ArgumentParser(prog="mlplab-aggregate", description=aggregate.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder (holding job folders)")
    parser.add_argument(
        "--metric", default="auto", help="summary/plot metric (default: val_acc or val_loss)"
    )
    parser.add_argument(
        "--by", default="depth", help="one plot line per value of this column (default: depth)"
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        _fail(f"SWEEP_DIR {str(args.sweep_dir)!r}: no such folder.")
    from .results import collect

    columns = sorted(
        map(str, collect(args.sweep_dir).columns)
    )  # checked before anything is written
    if args.metric != "auto" and args.metric not in columns:
        _fail(f"Unknown --metric {args.metric!r}. Choose one of: auto, {', '.join(columns)}.")
    sys.exit(finish_sweep(args.sweep_dir, args.metric, args.by))


def compare(argv: list[str] | None = None) -> None:
    """``mlplab-compare A.csv B.csv ...``: results side by side, joined on their knobs, with deltas."""
    from .compare import main

    main(argv)
