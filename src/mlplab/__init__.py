"""mlplab: MLP architecture experiments with Hydra sweeps and one results table.

``mlplab.run``, ``mlplab.sweep``, ``mlplab.load_sweep`` and ``mlplab.load_model`` are the
Python API (``mlplab.api``): the same runs, launchers and folders as ``mlplab-run``;
``mlplab.compare`` is ``mlplab-compare``'s (``mlplab.comparison``).
"""

from importlib.metadata import version

__version__ = version("mlplab")  # pyproject.toml says it, once

API = ("run", "sweep", "load_sweep", "load_model", "compare")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    # imported on first use: `import mlplab.settings` (every worker process) stays free of Hydra
    if name == "compare":
        from .comparison import compare

        return compare
    if name in API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlplab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
