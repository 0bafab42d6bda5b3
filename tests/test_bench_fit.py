"""scripts/bench_fit.py --quick runs end to end and prints its tables; no timing is asserted."""

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
