"""The benchmark scripts run end to end (--quick) and print their tables; no timing is asserted."""

import re
import subprocess
import sys

from conftest import REPO


def test_bench_fit_quick_prints_its_tables(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_fit.py"), "--quick"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for method in ("textbook", "sklearn", "fit", "fit_many K=4", "fit_many K=8"):
        assert re.search(rf"^{method}\s+\d+\.\d+ ", out, re.MULTILINE), method
    assert "us/model-step" in out and "GFLOP/s" in out
    assert re.search(r"^\s+32\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+%$", out, re.MULTILINE)
    assert out.count("fit >= 2x textbook") == 1
    assert list(tmp_path.iterdir()) == []  # writes nothing


def test_bench_sweep_quick_runs_each_sweep_and_the_basic_launcher(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_sweep.py"), "--quick"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    number = r"\s+[\d.]+"
    for name in (
        "50",
        "500",
        "2000",
    ):  # jobs, wall, CPU, train, diagnostics, share, two per-job costs
        assert re.search(
            rf"^{name} stacked\s+\d+{number * 4}\s+[\d.]+%{number} ms{number} ms$", out, re.M
        )
        assert re.search(
            rf"^{name}-job sweep: wall [\d.]+ s (<=|>) the models' training [\d.]+ s$", out, re.M
        )
    assert re.search(r"^50 basic\s+10" + number * 3 + "$", out, re.M)
    assert re.search(
        r"stacked is [\d.]+x faster end to end than basic \(best times; [\d.]+x by medians", out
    )
    gap = float(re.search(r"between the two summaries: ([\d.e-]+)", out).group(1))
    assert gap < 1e-3  # the same sweep, whichever launcher ran it
    assert list(tmp_path.iterdir()) == []  # writes nothing outside its temporary folder
