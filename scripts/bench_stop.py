"""What a stopped stack keeps: a sweep interrupted half-way, then resumed, against one run.

    python scripts/bench_stop.py            # the issue's stack: 4 x [64,64] on 20,000 points
    python scripts/bench_stop.py --quick    # a small version (a smoke run)

1. The sweep runs uninterrupted (one stack of 4 models, one process): its wall time.
2. The same sweep in a new folder gets a Ctrl-C (SIGINT) at half that time: how long it
   takes to stop (the stack saves its state at the end of the epoch it is in), and at which
   epoch it saved.
3. The same command again: it goes on from the saved epoch. Its wall time, the total of
   2 and 3 against 1, and whether every job folder's history.csv and model.safetensors
   equal the uninterrupted run's byte for byte.
4. The cost of the periodic save (``hydra.launcher.save_every``, 60 s by default): the time
   of one save of this stack's state, and of the largest stack of the MNIST-sized sweep of
   scripts/bench_real.py (12 x [256]: the planner's biggest unit there), as a share of the
   interval.
Every command runs as a fresh process, as a user runs it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["-m", "model.hidden=[64,64]", "seed=0,1,2,3", "dataset.n_samples=20000"]
SAVE_EVERY = 60.0  # hydra.launcher.save_every's default


def sweep(folder: Path, epochs: int, stop_after: float | None = None) -> tuple[float, int]:
    """(wall seconds, exit status) of the sweep into ``folder``; SIGINT after ``stop_after``."""
    cmd = [sys.executable, "-m", "mlplab", *GRID, f"trainer.epochs={epochs}",
           f"hydra.sweep.dir={folder}"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if stop_after is not None:
        try:
            proc.wait(timeout=stop_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    if proc.returncode not in (0, 130):
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return time.perf_counter() - start, proc.returncode


def save_seconds(hidden: list[int], models: int, features: int) -> tuple[float, float]:
    """One save of a stack's state (fit_many's own save, through stacked.Watch), median of 5."""
    import torch

    from mlplab.stacked import Watch

    sizes = [features, *hidden, 10]
    P = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    params = torch.randn(models, P)
    state = {
        "settings": "x", "epoch": 1, "step": 1, "elapsed": 0.0, "live": list(range(models)),
        "rows": list(range(models)), "params": params,
        "optimizer": [torch.randn_like(params) for _ in range(3)], "best_params": None,
        "shuffles": {k: torch.Generator().get_state() for k in range(models)},
        "members": [{"history": [{"epoch": e, "train_loss": 0.1} for e in range(100)]}
                    for _ in range(models)],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        watch = Watch(state=Path(tmp) / "s.pt", jobs=[str(k) for k in range(models)])
        times = []
        for _ in range(5):
            start = time.perf_counter()
            watch.save(state)
            times.append(time.perf_counter() - start)
        size = watch.state.stat().st_size / 1e6
    return sorted(times)[2], size


def same_folders(a: Path, b: Path) -> bool:
    folders = [p.parent for p in a.glob("*/result.json")]
    return bool(folders) and all(
        (f / name).read_bytes() == (b / f.name / name).read_bytes()
        for f in folders
        for name in ("history.csv", "model.safetensors")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version (a smoke run)")
    epochs = 40 if parser.parse_args().quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        full, _ = sweep(tmp / "whole", epochs)
        stop, status = sweep(tmp / "stopped", epochs, stop_after=full / 2)
        manifests = list((tmp / "stopped" / ".stacks").glob("*.json"))
        saved = json.loads(manifests[0].read_text())["epoch"] if manifests else None
        resume, _ = sweep(tmp / "stopped", epochs)
        equal = same_folders(tmp / "whole", tmp / "stopped")
    rows = [
        ("uninterrupted sweep", f"{full:.1f} s", f"4 models x {epochs} epochs, one stack"),
        ("Ctrl-C at half: until exit", f"{stop:.1f} s",
         f"exit {status}, state saved at epoch {saved} of {epochs}"),
        ("the same command again", f"{resume:.1f} s", f"goes on from epoch {saved}"),
        ("interrupted + resumed / uninterrupted", f"{(stop + resume) / full:.2f}x",
         f"results equal byte for byte: {equal}"),
    ]  # fmt: skip
    for hidden, models, features, what in (
        ([64, 64], 4, 2, "this stack"),
        ([256], 12, 784, "MNIST-sized sweep's largest stack"),
    ):
        seconds, size = save_seconds(hidden, models, features)
        rows.append((f"one save: {what}", f"{seconds * 1000:.1f} ms",
                     f"{size:.1f} MB; {seconds / SAVE_EVERY:.3%} of the {SAVE_EVERY:.0f} s "
                     "interval"))  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>8}  {note}")


if __name__ == "__main__":
    main()
