"""Job folders are written without pandas: write_rows writes what DataFrame.to_csv writes."""

import math
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import make_settings

from mlplab.job import run_job
from mlplab.results import _csv_cells, write_rows


def pandas_csv(rows, columns) -> str:
    return pd.DataFrame(rows, columns=list(columns)).to_csv(index=False)


def written(tmp_path, rows, columns) -> str:
    write_rows(tmp_path / "x.csv", rows, columns)
    return (tmp_path / "x.csv").read_text()


VALUES = [0, 1, -7, 2**40, 0.1, 1 / 3, 1e-7, 1e22, -0.0, 1.0, math.inf, -math.inf, math.nan,
          None, True, False, "hidden", "a,b", 'q"z', "", "line\nbreak", "1.5"]  # fmt: skip


def test_write_rows_writes_what_pandas_writes_for_mixed_columns(tmp_path):
    rng = random.Random(0)
    for _ in range(400):
        columns = [f"c{i}" for i in range(rng.randint(1, 5))]
        pools = {c: rng.sample(VALUES, rng.randint(1, 4)) for c in columns}
        rows = [{c: rng.choice(pools[c]) for c in columns if rng.random() < 0.9}
                for _ in range(rng.randint(0, 6))]  # fmt: skip
        assert written(tmp_path, rows, columns) == pandas_csv(rows, columns), rows


def test_numpy_scalars_go_through_pandas_itself(tmp_path):
    rows = [{"a": np.float32(0.1), "b": np.int64(3)}, {"a": np.float32(2.5), "b": np.int64(4)}]
    assert _csv_cells([r["a"] for r in rows]) is None
    assert written(tmp_path, rows, ["a", "b"]) == pandas_csv(rows, ["a", "b"])


@pytest.mark.parametrize(
    "overrides",
    [["dataset=two_moons"], ["dataset=sine"], ["dataset=iris", "trainer.timing=true"],
     ["dataset=two_moons", "optimizer.lr=1e6", "optimizer=sgd"],  # diverges: inf and NaN
     ["dataset=two_moons", "trainer.layer_stats_every=2"]],
)  # fmt: skip
def test_a_jobs_history_and_layers_are_what_pandas_writes(tmp_path, overrides, monkeypatch):
    import mlplab.job

    seen = {}

    def recording(path, rows, columns):
        seen[path.name] = (list(rows), columns)
        write_rows(path, seen[path.name][0], columns)

    monkeypatch.setattr(mlplab.job, "write_rows", recording)
    run_job(make_settings(*overrides, "trainer.epochs=6"), tmp_path, in_sweep=True)
    assert set(seen) == {"history.csv", "layers.csv"}
    for name, (rows, columns) in seen.items():
        assert (tmp_path / name).read_text() == pandas_csv(rows, columns)
        for c in columns:  # and pandas was not needed for any column
            assert _csv_cells([row.get(c) for row in rows]) is not None, (name, c)


def test_writing_job_folders_imports_no_pandas():
    code = ("import sys, mlplab.cli, mlplab.job, mlplab.results, mlplab.stacked, "
            "hydra_plugins.mlplab_launcher.stacked_launcher; print('pandas' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
