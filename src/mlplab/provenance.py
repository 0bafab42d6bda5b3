"""Where a result came from: the software, the hardware, the start time and the code's commit.

Every ``result.json`` holds a ``provenance`` record (:func:`record`), and a sweep folder one
``provenance.json`` for the sweep. What stays fixed for a process (versions, CPU model, the
git state of the working directory) is looked up once per process and working directory,
so a job pays for a dict copy and a timestamp. The git state is that of the working
directory the command runs in (your project's checkout), read with the ``git`` command;
outside a checkout, or without git installed, the git keys are null. Uncommitted changes
count tracked files only: untracked files (outputs, notebooks' checkpoints) do not make a
checkout dirty.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

PROVENANCE_FILE = "provenance.json"  #: a sweep folder's record, written when the sweep starts


def now() -> datetime:
    """The current local time, with its UTC offset (what ``started`` records)."""
    return datetime.now().astimezone()


def record(started: datetime | None = None, device=None) -> dict:
    """Provenance of a run that started at ``started`` (default: now) on ``device``
    (a ``torch.device`` or its name; default: the CPU).

    Where torch is not loaded (the process that plans a sweep and records its invalid
    jobs), the versions come from the installed packages and the torch-only keys are null.
    """
    torch = sys.modules.get("torch")
    device = str(device) if device is not None else "cpu"
    cuda = device.startswith("cuda") and torch is not None
    return {
        **_environment(),
        "cuda_devices": torch.cuda.device_count() if torch is not None else None,
        **git_state(os.getcwd()),
        "device": device,
        "device_name": _gpu_name(device) if cuda else cpu_model(),
        "threads": torch.get_num_threads() if torch is not None else None,
        "started": (started or now()).isoformat(timespec="milliseconds"),
    }


@functools.cache
def _environment() -> dict:
    return {
        "mlplab": version("mlplab"),
        "torch": version("torch"),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "platform": platform.platform(),
    }


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@functools.cache
def _gpu_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(device)


@functools.cache
def git_state(folder: str) -> dict:
    """``git_commit`` (HEAD's hash) and ``git_dirty`` (tracked files changed) of the checkout
    holding ``folder``; both None outside a checkout or without git."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    changes = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if changes is None else bool(changes)}


def _git(folder: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", folder, *args],
            capture_output=True,
            text=True,
            timeout=30,
            # a read-only look: `git status` takes no lock a user's own git command could meet
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):  # no git installed, or it hung
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
