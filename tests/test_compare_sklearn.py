"""scripts/compare_sklearn.py runs end to end (--quick) and prints one table row per method."""

import re
import subprocess
import sys

from conftest import REPO


def test_compare_sklearn_quick_prints_one_row_per_method(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compare_sklearn.py"), "--quick"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = re.findall(
        r"^\| 0\.05 \| (.+?) \| ([\d.]+)% ± ([\d.]+)% \| ([\d.]+) \| 2 \|$",
        done.stdout,
        re.MULTILINE,
    )
    assert [name for name, *_ in rows] == [
        "mlplab, last epoch",
        "mlplab, early stopping (restore best)",
        "mlplab, cosine",
        "mlplab, cosine + early stopping",
        "sklearn MLPClassifier, early_stopping",
    ]
    for name, accuracy, spread, epochs in rows:
        assert 10 < float(accuracy) <= 100 and float(spread) >= 0, name  # above chance (10%)
        assert 1 <= float(epochs) <= 3, name  # --quick trains at most 3 epochs
    assert "train 1079, validation 359, test 359" in done.stdout
    assert list(tmp_path.iterdir()) == []  # writes nothing
