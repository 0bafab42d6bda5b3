"""The stacked launcher's lean run_job pieces give what Hydra's own would.

save_config writes what Hydra's ``_save_config`` (``OmegaConf.to_yaml``) writes, byte
for byte, on libyaml where that is safe; hydra_view is the HydraConfig that
``HydraConfig.set_config`` makes, without its copy.
"""

import copy
import random
import string

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import setup_globals
from omegaconf import OmegaConf, open_dict, read_write

from hydra_plugins.mlplab_launcher import stacked_launcher as sl
from mlplab.compose import ComposeOnce
from tests.test_compose import EXPERIMENTS, loader, sweep_jobs

pytestmark = pytest.mark.skipif(sl._FAST_DUMPER is None, reason="PyYAML without libyaml")

WORDS = [
    "", " ", "true", "no", "on", "null", "~", "1", "1.5", "1e3", "-", "- x", ":", ": ", "#",
    "a: b", "'q'", '"q"', "[1,2]", "{a: 1}", "${x}", "${hydra:runtime.output_dir}", "&a", "*a",
    "!t", "%x", "@x", "`x", "|", "> x", " lead", "trail ", "a\nb", "bv \nx", "x\n\n",
]  # fmt: skip
ALPHABETS = [
    string.printable,
    string.ascii_letters + "  \n",
    string.ascii_letters + "{}.:=-_[]()%'\"#&*!|>@` \n",
    string.ascii_letters + "éü🙂\x85\u2028 \n",
]


def random_text(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(rng.randint(0, 300)))
    if kind == 1:
        return rng.choice(WORDS)
    return " ".join(rng.choice(WORDS + ["word"] * 5) for _ in range(rng.randint(1, 60)))


def written(tmp_path, cfg) -> str:
    sl.save_config(cfg, "x.yaml", tmp_path)
    return (tmp_path / "x.yaml").read_text(encoding="utf-8")


def test_save_config_writes_what_omegaconf_writes_for_any_string(tmp_path):
    rng = random.Random(0)
    fast = 0
    for _ in range(1500):
        text = random_text(rng).replace("$", "")  # no accidental broken interpolations
        for tree in (
            {"a": {"b": [text, {"c": text}]}, "x": [[text]], "y": text, "n": [1, 2.5, None, True]},
            {"a": {text: 1, "b": {text: [text]}}},
        ):
            cfg = OmegaConf.create(tree)
            assert written(tmp_path, cfg) == OmegaConf.to_yaml(cfg), repr(text)
            fast += sl._libyaml_same(OmegaConf.to_container(cfg))
    assert 500 < fast < 3000  # both paths were taken, many times each


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_job_files_of_every_seed_experiment(experiment, tmp_path):
    """config.yaml, hydra.yaml and overrides.yaml of real jobs; libyaml writes them all."""
    master, jobs = sweep_jobs(
        [f"experiment={experiment}", "seed=0,1", f"hydra.sweep.dir={tmp_path}"]
    )
    fast = ComposeOnce(loader())
    for job in jobs[:4]:
        cfg = fast.load_sweep_config(master, job)
        task = copy.deepcopy(cfg)
        with open_dict(task):
            del task["hydra"]
        for part in (task, sl.hydra_view(cfg), cfg.hydra.overrides.task):
            assert written(tmp_path, part) == OmegaConf.to_yaml(part)
            assert sl._libyaml_same(OmegaConf.to_container(part))


def test_hydra_view_is_what_set_config_makes(tmp_path):
    setup_globals()  # Hydra's resolvers (${now:...} in hydra.run.dir)
    master, jobs = sweep_jobs(["experiment=two_moons_arch", f"hydra.sweep.dir={tmp_path}"])
    cfg = ComposeOnce(loader()).load_sweep_config(master, jobs[3])
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
        cfg.hydra.runtime.output_dir = str(tmp_path / "3")  # job logging interpolates it
    plain = copy.deepcopy(cfg)
    before = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(plain)
        hydra_cfg = HydraConfig.instance().cfg
        view = sl.hydra_view(cfg)
        assert OmegaConf.to_yaml(view) == OmegaConf.to_yaml(hydra_cfg)
        # interpolations in it resolve against the whole job config, as Hydra's do
        resolved = OmegaConf.to_container(view, resolve=True)
        expected = OmegaConf.to_container(hydra_cfg, resolve=True)
        for tree in (resolved, expected):
            del tree["hydra"]["run"]  # a single run's folder: a fresh random suffix each time
        assert resolved == expected
        assert resolved["hydra"]["job_logging"]["handlers"]["file"]["filename"].startswith(
            str(tmp_path / "3")
        )
        assert OmegaConf.is_readonly(view.hydra) and OmegaConf.is_readonly(cfg.hydra)
        assert OmegaConf.get_type(view, "hydra") is OmegaConf.get_type(hydra_cfg, "hydra")
    finally:
        HydraConfig.instance().cfg = before
