"""docs/example.ipynb, executed top to bottom in a real Jupyter kernel (nbclient)."""

import base64
import os
import re

import pandas as pd
import pytest
from conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = REPO / "docs" / "example.ipynb"
ARCHITECTURES = ["[4]", "[16]", "[64]", "[4,4]", "[16,16]", "[64,64]"]


def outputs(cell) -> list:
    return cell.get("outputs", [])


def text_of(cell) -> str:
    parts = []
    for out in outputs(cell):
        parts.append(out.get("text", "") + out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def images_of(cell) -> list[bytes]:
    return [
        base64.b64decode(out["data"]["image/png"])
        for out in outputs(cell)
        if "image/png" in out.get("data", {})
    ]


def test_the_example_notebook_runs_top_to_bottom_in_a_kernel(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
    )  # fmt: skip
    client.execute()  # raises CellExecutionError on the first cell that fails
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    imports, sweep, summary, plot, boundary, model, own = code

    # the sweep: 6 architectures x 2 seeds, trained in the kernel's worker processes
    results = pd.read_csv(tmp_path / "outputs" / "sweeps" / "width_depth" / "results.csv")
    assert len(results) == 12 and (results["status"] == "completed").all()
    assert sorted(results["hidden"].unique()) == sorted(ARCHITECTURES)
    assert "12 jobs: 12 completed" in text_of(sweep)
    if len(os.sched_getaffinity(0)) > 1:  # the kernel has threads: workers from a fork server
        assert re.search(r"in \d stacks, 0 alone; on 2 processes", text_of(sweep))
    # the grouped table: one row per architecture, each over 2 seeds
    table = text_of(summary)
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    assert [(int(r[1]), int(r[2])) for r in rows] == [
        (1, 4), (1, 16), (1, 64), (2, 4), (2, 16), (2, 64)
    ]  # fmt: skip
    assert all(r[-1] == "2" for r in rows)
    # the plot appears inline (mlplab's own figures leave pyplot's backend alone)
    assert len(images_of(plot)) == 1 and images_of(plot)[0][:4] == b"\x89PNG"
    # the best job re-run alone reproduces its sweep row, and shows its boundary.png
    line = re.search(r"val_acc ([\d.]+) \(in the sweep: ([\d.]+)\)", text_of(boundary))
    assert line and line.group(1) == line.group(2)
    (runs,) = (tmp_path / "outputs" / "runs").glob("*/*/boundary.png")
    assert images_of(boundary) == [runs.read_bytes()]
    assert "Linear(in_features=2" in text_of(model)
    # a DataFrame straight in: written once into its sweep's folder, 2 x 2 jobs on it
    (folder,) = (tmp_path / "outputs" / "sweeps").glob("data=*")
    assert len(list(folder.glob("data-*.npz"))) == 1
    tabular = pd.read_csv(folder / "results.csv")
    assert len(tabular) == 4 and (tabular["status"] == "completed").all()
    assert (tabular["dataset"] == "file").all() and folder.name in text_of(own)


def test_the_committed_notebook_is_small_and_in_order():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    has_outputs = any(outputs(cell) for cell in code)
    if has_outputs:  # committed with its outputs only while they are small
        assert NOTEBOOK.stat().st_size < 300_000
        assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not any(out.get("output_type") == "error" for cell in code for out in outputs(cell))
