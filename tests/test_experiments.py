"""Every experiment file runs its whole grid through the real command, with a tiny budget."""

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_cli
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

EXPERIMENTS = sorted(p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml"))


def grid_size(name: str) -> int:
    """Jobs in the experiment's grid, seeds excluded, counted by Hydra's own override parser."""
    params = OmegaConf.load(REPO / "configs" / "experiment" / f"{name}.yaml").hydra.sweeper.params
    parser = OverridesParser.create()
    sizes = [
        len(list(parser.parse_override(f"{k}={v}").sweep_string_iterator()))
        for k, v in params.items()
        if k != "seed"
    ]
    return math.prod(sizes)


def test_there_is_an_experiment_for_each_seed_table():
    assert len(EXPERIMENTS) >= 12


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_its_grid(tmp_path, name):
    proc = run_cli(
        "-m",
        f"experiment={name}",
        "seed=0",
        "trainer.epochs=1",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert len(results) == grid_size(name) and (results["status"] == "completed").all()
    assert (tmp_path / "sweep" / "summary.csv").is_file()


def test_reproduce_script_writes_the_page(tmp_path):
    out = tmp_path / "seeds.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reproduce.py"), "--quick", "--only", "E8",
         "--root", str(tmp_path / "runs"), "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = out.read_text()
    assert "## E8" in page and "| [4] | 17 |" in page and "## E5" not in page
    assert "--quick" in page  # a quick page says its findings mean nothing
    assert Path(tmp_path / "runs" / "xor" / "results.csv").is_file()
