"""Thin Hydra entry points: ``mlplab-run``, ``mlplab-aggregate``, ``mlplab-compare``.

Nothing here imports torch before the config is validated, so a typo costs well
under a second.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import settings
from .settings import ConfigError

CONFIG_PATH = "pkg://mlplab.configs"

ConfigStore.instance().store(name="mlplab_schema", node=settings.schema())
# A short random token in every single-run folder name: two runs started in the
# same second never share a folder (hydra #1817). Cached, so it resolves once.
OmegaConf.register_new_resolver(
    "mlplab_uid", lambda: secrets.token_hex(3), use_cache=True, replace=True
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


def _task(cfg: DictConfig) -> dict | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    single = hydra_cfg.mode != RunMode.MULTIRUN
    try:
        s = settings.from_config(cfg)
        from .job import run_job  # imports torch: only after the config is known good

        result = run_job(
            s, run_dir, list(hydra_cfg.overrides.task), progress=single and s.trainer.progress
        )
    except ConfigError as exc:
        if single:
            _discard_run_dir(run_dir)
            _fail(str(exc))
        raise
    if single:
        print(describe(result))
        print(f"run folder: {run_dir}")
        if result["status"] != "completed":
            sys.exit(1)
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _hydra_main(cfg: DictConfig) -> dict | None:
    return _task(cfg)


def run() -> None:
    """``mlplab-run``: one training run, or a sweep with ``-m``."""
    # Let Hydra's composition errors reach us, to be told in one line; a real crash
    # (a bug, not a typo) then shows its whole traceback.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        _hydra_main()
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        _fail(message)


def explain(exc: BaseException) -> str | None:
    """One line for a Hydra/OmegaConf composition error (key, value, choices), else None."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    if isinstance(exc, OverrideParseException):
        return f"Cannot parse override {exc.override!r}: {exc.message.splitlines()[0]}"
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


def aggregate() -> None:
    """``mlplab-aggregate SWEEP_DIR``: rebuild a sweep's results.csv and summary.csv."""
    _fail("mlplab-aggregate is not built yet", 3)


def compare() -> None:
    """``mlplab-compare A.csv B.csv ...``: side-by-side results with deltas."""
    _fail("mlplab-compare is not built yet", 3)
