"""The config of ``hydra/launcher=stacked`` (registered with Hydra's ConfigStore)."""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module
# before it is in sys.modules, and dataclasses cannot resolve string annotations then.
from dataclasses import dataclass, field
from typing import Any, Optional  # noqa: UP035  (see the note on imports)

from hydra.core.config_store import ConfigStore

from mlplab.grouping import MAX_MODELS


@dataclass
class StackedLauncherConf:
    _target_: str = "hydra_plugins.mlplab_launcher.stacked_launcher.StackedLauncher"
    #: the largest stack; beyond a few hundred tiny models a bigger one stops paying
    max_models: int = MAX_MODELS
    #: processes that run the stacks (null: one per core this process may use)
    workers: Optional[int] = None  # noqa: UP045
    #: seconds of a stack's training between saves of its state (0: only on Ctrl-C/SIGTERM)
    save_every: float = 60.0
    #: where each stack runs, as one task: local (this machine's cores) | ray | submitit
    groups_on: str = "local"
    #: ray.init keyword arguments (groups_on=ray)
    ray_init: dict[str, Any] = field(default_factory=dict)
    #: submitit.AutoExecutor: cluster (local | slurm | null = auto) and update_parameters kwargs
    submitit: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/launcher", name="stacked", node=StackedLauncherConf, provider="mlplab"
)
