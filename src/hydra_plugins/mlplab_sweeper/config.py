"""The config of ``hydra/sweeper=grid`` (registered with Hydra's ConfigStore)."""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module
# before it is in sys.modules, and dataclasses cannot resolve string annotations then.
from dataclasses import dataclass, field
from typing import Optional  # noqa: UP035

from hydra.core.config_store import ConfigStore


@dataclass
class GridSweeperConf:
    _target_: str = "hydra_plugins.mlplab_sweeper.grid_sweeper.GridSweeper"
    #: jobs handed to the launcher at once (null: the whole grid, so it can stack them all)
    max_batch_size: Optional[int] = None  # noqa: UP045
    #: the grid, as Hydra's basic sweeper takes it: key -> "v1,v2" | "range(...)" | ...
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="mlplab"
)
