"""Shared test helpers: compose the real config, shrink it, and run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

# registers hydra/launcher=stacked and hydra/sweeper=grid for in-process compositions,
# even after an import that changes sys.path (ray) has made Python recompute the
# hydra_plugins namespace
import hydra_plugins.mlplab_launcher.stacked_launcher  # noqa: F401
import hydra_plugins.mlplab_sweeper.grid_sweeper  # noqa: F401
import mlplab.cli  # noqa: F401  registers the schema and resolvers, as the CLI does
from mlplab import settings

REPO = Path(__file__).resolve().parents[1]


def make_settings(*overrides: str) -> settings.RunSettings:
    """RunSettings from the real configs/ plus overrides, as `mlplab-run` composes them."""
    with initialize_config_module(config_module="mlplab.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return settings.from_config(cfg)


def run_cli(
    *args: str, cwd: Path, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m mlplab ARGS`` in ``cwd`` (the real entry point, a fresh process)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlplab", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env,
    )  # fmt: skip


@pytest.fixture
def settings_for():
    return make_settings
