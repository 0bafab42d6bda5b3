"""Every experiment file runs its whole grid through the real command, with a tiny budget."""

import math
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, run_cli
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from mlplab.settings import ConfigError

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


def test_every_experiment_the_seed_course_runs_has_a_file():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO / "scripts"))
        from seedcourse.course import EXPERIMENTS as course

    assert [e.id for e in course] == [f"E{i}" for i in range(1, 23)]
    used = {name for e in course for name in e.sweeps}
    assert used == set(EXPERIMENTS)  # every file is used, and every used file exists


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
    assert "warning" not in proc.stderr.lower(), proc.stderr  # its plot_by, its metric: all found


def test_plot_by_takes_a_knobs_short_or_dotted_name(tmp_path):
    from mlplab.results import column_named

    columns = ["status", "hidden", "lr", "model.init_std", "depth", "val_acc"]
    assert column_named("lr", columns) == "lr"
    assert column_named("optimizer.lr", columns) == "lr"
    assert column_named("init_std", columns) == "model.init_std"
    with pytest.raises(
        ConfigError,
        match=r"Unknown sweep.plot_by 'widht'. Choose one of the knobs: hidden, lr, model.init_std, depth\.$",
    ):
        column_named("widht", columns)


def test_reproduce_script_writes_the_page_and_its_figure(tmp_path):
    out = tmp_path / "docs" / "seeds.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reproduce.py"), "--quick", "--only", "E8", "E22",
         "--root", str(tmp_path / "runs"), "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = out.read_text()
    assert "## E8 — XOR" in page and "| [] | 3 |" in page and "## E5" not in page
    assert "--quick run: tiny budgets, the verdicts below mean nothing" in page
    assert "![E8](figures/E8.png)" in page and (out.parent / "figures" / "E8.png").is_file()
    assert (tmp_path / "runs" / "xor" / "results.csv").is_file()
    assert "mlplab 0." in page and "commit " in page  # the version and commit it was made with
    assert "## E22 — Cross-validation" in page and (out.parent / "figures" / "E22.png").is_file()
    assert "**Pending" not in page


def test_reproduce_refuses_an_unknown_experiment(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reproduce.py"), "--only", "E99", "--root",
         str(tmp_path / "runs"), "--out", str(tmp_path / "seeds.md")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0 and "--only ['E99']: no such experiment" in proc.stderr
    assert not (tmp_path / "seeds.md").exists() and not (tmp_path / "runs").exists()
