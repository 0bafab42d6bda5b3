"""Compose a sweep's job configs once per set of config-group choices, not once per job.

Hydra composes every job of a sweep from scratch, twice: the sweeper composes each
job to check it (``Sweeper.validate_batch_is_legal``) and the launcher composes it
again to run it. A composition reads and merges every YAML file on the defaults list,
about 0.1 s here, which is more than training a two-moons MLP in a stacked group.

Most jobs of a sweep differ only in values (``seed=3``, ``model.hidden=[8,8]``), and
Hydra applies value overrides *after* it has composed the defaults list, to the
finished config. So :class:`ComposeOnce` composes with Hydra's own loader once for
each distinct set of structural overrides (config-group choices such as
``dataset=iris`` and every ``hydra.*`` override), copies that config for each job,
and applies the job's value overrides with Hydra's own function. It then fills in the
fields Hydra derives from the overrides (``hydra.overrides.task`` and
``hydra.job.override_dirname``). The config the sweeper's check composes is then
handed to the launcher (:meth:`ComposeOnce.take`), so each job is derived once.

``tests/test_compose.py`` checks that every job config comes out identical to Hydra's
own ``load_sweep_config`` (every seed experiment's grid, group, append, delete, dict
and ``hydra.*`` overrides, and the errors).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict


class ComposeOnce:
    """A config loader that wraps Hydra's and speeds up ``load_sweep_config``.

    Everything else is Hydra's loader itself (attribute access falls through).
    """

    def __init__(self, loader) -> None:
        self.loader = loader
        self.parser = OverridesParser.create()
        self.bases: dict[tuple[str, ...], bytes] = {}  # each base config, pickled
        self.ready: dict[tuple[str, ...], list[DictConfig]] = {}
        self.parsed: dict[str, object] = {}

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: Sequence[str]
    ) -> DictConfig:
        """Hydra's entry point (the sweeper's check): compose, and keep it for :meth:`take`."""
        cfg = self.compose(master_config, list(sweep_overrides))
        self.ready.setdefault(tuple(sweep_overrides), []).append(cfg)
        return cfg

    def take(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> DictConfig:
        """The launcher's entry point: the config the sweeper's check composed, else a new one.

        The sweeper only reads the config it checks, so the launcher may own it.
        """
        waiting = self.ready.get(tuple(sweep_overrides))
        if waiting:
            return waiting.pop(0)
        return self.compose(master_config, list(sweep_overrides))

    def compose(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """One job's config, as ``ConfigLoaderImpl.load_sweep_config`` would compose it."""
        parsed = [self.parse(line) for line in sweep_overrides]
        is_value = [self.is_value(o) for o in parsed]
        values = [o for o, v in zip(parsed, is_value) if v]
        structural = [o.input_line for o, v in zip(parsed, is_value) if not v]
        base = self.bases.get(tuple(structural))
        if base is None:
            base = pickle.dumps(self.loader.load_sweep_config(master_config, structural))
            self.bases[tuple(structural)] = base
        cfg = pickle.loads(base)  # a deep copy, 5x faster than copy.deepcopy of a DictConfig
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        task = [o for o in parsed if not o.is_hydra_override()]
        dirname = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in task]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=task,
                kv_sep=dirname.kv_sep,
                item_sep=dirname.item_sep,
                exclude_keys=dirname.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg

    def parse(self, line: str):
        """One override, parsed once per distinct string (a sweep repeats most of them)."""
        if line not in self.parsed:
            self.parsed[line] = self.parser.parse_overrides([line])[0]
        return self.parsed[line]

    def is_value(self, override) -> bool:
        """Does Hydra apply this override to the composed config (not to the defaults list)?

        The same test as Hydra's ``defaults_list.Overrides``: a task override whose key
        is not a config group, or whose value is a dict.
        """
        if override.is_hydra_override():
            return False
        return isinstance(override.value(), dict) or not self.loader.repository.group_exists(
            override.key_or_group
        )
