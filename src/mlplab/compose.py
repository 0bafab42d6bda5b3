"""Every job of a sweep as validated settings, composed once per set of config-group choices.

Hydra composes each job of a sweep from scratch (``load_sweep_config``: ~60 ms here, more
than training a two-moons MLP in a stack). Most jobs differ only in values (``seed=3``,
``model.hidden=[8,8]``), which Hydra applies *after* it has composed the defaults list. So
:class:`JobConfigs` composes with Hydra's own loader once per distinct set of structural
overrides (config-group choices such as ``dataset=iris``, and every ``hydra.*`` override),
works out once what each distinct value override changes in that config, and builds each
job's settings from those changes: a few microseconds a job.

This is mlplab's one module that uses Hydra internals, where no public API exists:
``BasicSweeper.split_arguments`` (a sweep's grid, as Hydra's basic sweeper expands it),
``ConfigLoaderImpl._apply_overrides_to_config`` (value overrides, applied as Hydra applies
them) and ``get_overrides_dirname`` (``hydra.job.override_dirname``).
``tests/test_compose.py`` holds every job of every seed experiment, and every kind of
override, against Hydra's own ``load_sweep_config``.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from . import settings
from .lifecycle import Job
from .settings import ConfigError

# configs/config.yaml names each job's folder after its overrides with this resolver;
# tests/test_compose.py checks that the YAML says exactly this.
DEFAULT_SUBDIR = "${mlplab_job_dir:${hydra.job.override_dirname}}"


def folder_name(text: str, limit: int = 120) -> str:
    """A readable, filesystem-safe folder name; long ones end in a hash of the full text."""
    safe = re.sub(r"[^A-Za-z0-9_.,=+\-\[\]]", "_", text) or "default"
    if len(safe) <= limit:
        return safe
    return f"{safe[: limit - 9]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def expand_grid(overrides: Sequence[str]) -> list[list[str]]:
    """Each job's overrides for a sweep command, in the order Hydra's basic sweeper runs them."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


@dataclass
class _Base:
    """The config composed for one set of structural overrides, and what follows from it."""

    config: DictConfig
    tree: dict  #: the task keys as plain values (resolved)
    interpolated: bool  #: the task keys use ${...}: a change can reach other keys
    subdir: str  #: hydra.sweep.subdir, unresolved
    dirname: dict  #: hydra.job.config.override_dirname: kv_sep, item_sep, exclude_keys


class JobConfigs:
    """A sweep's jobs from their overrides, as Hydra's ``load_sweep_config`` would compose them.

    ``loader`` is Hydra's config loader (``hydra_context.config_loader``); ``master`` the
    sweep's config (the sweeper's and launcher's ``config``).
    """

    def __init__(self, loader, master: DictConfig) -> None:
        self.loader, self.master = loader, master
        self.sweep_dir = Path(str(master.hydra.sweep.dir)).absolute()
        #: the sweep's own settings (``sweep.*``), typed: what sweepers and launcher read
        self.sweep = settings.from_tree(
            OmegaConf.to_container(master.sweep, resolve=True), settings.SweepSettings
        )
        self.groups: dict[str, set[str]] = {}  # parent group -> its subgroups, as asked
        self.made: dict[tuple[tuple[str, ...], int], Job] = {}
        self.parser = OverridesParser.create()
        self.parsed: dict[str, object] = {}
        self.bases: dict[tuple[str, ...], _Base] = {}
        self.changes: dict[tuple[tuple[str, ...], str], list] = {}
        self.leaves: dict[tuple, tuple[str, ...]] = {}  # (structural, key, type) -> its leaf

    def jobs(self, job_overrides: Sequence[Sequence[str]], first: int = 0) -> list[Job]:
        """Every job, numbered from ``first``. A composition error (an unknown group, a value
        of the wrong type) raises before anything runs; a job whose settings fail
        validation comes back with its ``error``."""
        return [self.job(list(o), first + i) for i, o in enumerate(job_overrides)]

    def job(self, overrides: list[str], num: int) -> Job:
        key = (tuple(overrides), num)
        if key not in self.made:  # the sweeper's check and the launcher make the same jobs
            self.made[key] = self._make(overrides, num)
        return self.made[key]

    def _make(self, overrides: list[str], num: int) -> Job:
        parsed = [self.parse(line) for line in overrides]
        structural = tuple(o.input_line for o in parsed if not self.is_value(o))
        values = [o for o in parsed if self.is_value(o)]
        base = self.base(structural)
        task = [o for o in parsed if not o.is_hydra_override()]
        cfg = None  # the job's whole config, composed only where the fast way is not exact
        if base.interpolated or not all(map(_plain_assignment, values)):
            cfg = self.config(overrides, num)
            tree = settings.task_tree(cfg)
        else:
            tree = _copy(base.tree)
            for o in values:
                for path, value in self.change(structural, o):
                    _set(tree, path, value)
        if cfg is None and base.subdir == DEFAULT_SUBDIR:
            dirname = get_overrides_dirname(overrides=task, **base.dirname)
            run_dir = self.sweep_dir / folder_name(dirname)
        else:  # a subdir of the user's own, or ${...} in a value: resolved as Hydra would
            cfg = cfg or self.config(overrides, num)
            run_dir = self.sweep_dir / str(cfg.hydra.sweep.subdir)
        lines = tuple(o.input_line for o in task)
        try:
            s = settings.validate(settings.from_tree(tree))
        except ConfigError as exc:
            return Job(num, lines, run_dir, settings.flat(tree), None, str(exc))
        return Job(num, lines, run_dir, settings.flat(tree), s)

    def config(self, overrides: list[str], num: int = 0) -> DictConfig:
        """One job's whole config, as ``load_sweep_config`` composes it (``hydra.job.num`` set)."""
        parsed = [self.parse(line) for line in overrides]
        structural = tuple(o.input_line for o in parsed if not self.is_value(o))
        cfg = pickle.loads(pickle.dumps(self.base(structural).config))  # a deep copy, 5x faster
        ConfigLoaderImpl._apply_overrides_to_config([o for o in parsed if self.is_value(o)], cfg)
        task = [o for o in parsed if not o.is_hydra_override()]
        dirname = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in task]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=task,
                exclude_keys=list(dirname.exclude_keys),
                item_sep=dirname.item_sep,
                kv_sep=dirname.kv_sep,
            )
            cfg.hydra.job.num = cfg.hydra.job.id = num
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg

    def base(self, structural: tuple[str, ...]) -> _Base:
        if structural not in self.bases:
            cfg = self.loader.load_sweep_config(self.master, list(structural))
            check_choices(cfg.hydra.runtime.choices, self.loader)
            raw = OmegaConf.to_container(cfg, resolve=False)
            del raw["hydra"]
            self.bases[structural] = _Base(
                config=cfg,
                tree=settings.task_tree(cfg),
                interpolated="${" in repr(raw),
                subdir=OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"],
                dirname=OmegaConf.to_container(cfg.hydra.job.config.override_dirname),
            )
        return self.bases[structural]

    def change(self, structural: tuple[str, ...], override) -> list[tuple[tuple[str, ...], object]]:
        """The (path, value) leaves one value override changes in a base, found once by
        applying it with Hydra's own function and comparing the result."""
        key = (structural, override.input_line)
        if key not in self.changes:
            value = override.value()
            leaf = (structural, override.key_or_group, type(value))
            if leaf in self.leaves:  # another value of a key already seen to be one leaf
                self.changes[key] = [(self.leaves[leaf], value)]
                return self.changes[key]
            base = self.base(structural)
            cfg = pickle.loads(pickle.dumps(base.config))
            ConfigLoaderImpl._apply_overrides_to_config([override], cfg)
            self.changes[key] = list(_diff(base.tree, settings.task_tree(cfg)))
            # A plain key=value that set just its own leaf to the value as given sets any
            # other value of that type there too: a search's thousand lrs need one Hydra
            # application, not one each (~5 ms)
            path = tuple(override.key_or_group.split("."))
            found = self.changes[key]
            as_given = found == [(path, value)] and type(found[0][1]) is type(value)
            if as_given and type(value) in _LEAF_TYPES:
                self.leaves[leaf] = path
        return self.changes[key]

    def parse(self, line: str):
        """One override, parsed once per distinct string (a sweep repeats most of them)."""
        if line not in self.parsed:
            self.parsed[line] = self.parser.parse_overrides([line])[0]
        return self.parsed[line]

    def is_value(self, override) -> bool:
        """Does Hydra apply this override to the composed config (not to the defaults list)?

        Hydra's own test (``defaults_list.Overrides``): a task override whose key is not a
        config group, or whose value is a dict. Every ``hydra.*`` override is structural here.
        """
        if override.is_hydra_override():
            return False
        return isinstance(override.value(), dict) or not self.is_group(override.key_or_group)

    def is_group(self, key: str) -> bool:
        """Is ``key`` (``dataset``, ``hydra/launcher``) a config group? Keys with a dot
        (``model.hidden``) never are; the others are looked up with the public list_groups."""
        if "." in key:
            return False
        parent, _, name = key.rpartition("/")
        if parent not in self.groups:
            self.groups[parent] = set(self.loader.list_groups(parent))
        return name in self.groups[parent]


def check_choices(choices, loader) -> None:
    """Refuse a config-group choice that names no config file, in one line.

    Hydra composes a missing choice of an *optional* group (``experiment``, ``init_scheme``,
    ``hparams_search``) as nothing at all, so a typo would train the defaults; the choices
    are checked against the group's options on the config search path (a user's
    ``--config-dir`` included), with the loader's public ``get_group_options``.
    """
    for group, choice in choices.items():
        if not isinstance(choice, str) or group.startswith("hydra/"):
            continue
        options = loader.get_group_options(group)
        if choice not in options:
            raise ConfigError(
                f"Unknown {group} {choice!r}. Choose one of: {', '.join(sorted(options))}."
            )


def _plain_assignment(override) -> bool:
    """``key=value`` whose effect is only on its own key (no +, ++, ~, dict or ${...})."""
    if override.is_delete() or override.is_add() or override.is_force_add():
        return False
    value = override.value()
    return not isinstance(value, dict) and "${" not in str(value)


def _diff(before: dict, after: dict, path: tuple[str, ...] = ()):
    for key, value in after.items():
        old = before.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(old, dict):
            yield from _diff(old, value, (*path, key))
        elif old is _MISSING or old != value or type(old) is not type(value):
            yield (*path, key), value


_MISSING = object()
_LEAF_TYPES = (int, float, bool, str)


def _copy(tree):
    """A copy of plain config values (dicts, lists, scalars), ~10x faster than deepcopy."""
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    return [_copy(v) for v in tree] if isinstance(tree, list) else tree


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = _copy(value)


def command_line(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """(is it a sweep, its overrides) from ``mlplab-run``'s arguments, as hydra.main reads them."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(argv))
    return bool(args.multirun), list(args.overrides)
