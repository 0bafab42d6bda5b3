"""mlplab on real-sized data, against a textbook PyTorch loop run by this same script.

    python scripts/bench_real.py            # MNIST size, the middle size and two moons
    python scripts/bench_real.py --quick    # small versions of all (a smoke run)

For each data size (an MNIST-sized file, 60,000 + 10,000 x 784 float32 with 10 classes,
and a middle one, 10,000 + 2,000 x 100; both generated here, nothing downloaded):

- ``np.load`` of the file alone, and one standardization pass over it;
- a textbook loop (TensorDataset + DataLoader + nn.Sequential + torch.optim.Adam) for each
  architecture used, one thread, as a person writes it (no history, no diagnostics);
- one ``mlplab-run`` of [256,256] (wall time, its train_seconds, what is not training);
- the 12-job sweep hidden=[64],[128],[256] x lr=0.001,0.003 x seed=0,1 under the default
  (stacked) launcher and under hydra/launcher=basic, against the 12 textbook trainings run
  one after another.

Then the two-moons sweeps (50 jobs against hydra/launcher=basic, 2000 jobs against their
own training seconds) so that no size regresses. Every mlplab command runs as a fresh
process (imports, loading, writing and the tables count); the peak RSS of each process
(the largest of a sweep's processes) comes from wait4's rusage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = {"mnist": (60_000, 10_000, 784), "middle": (10_000, 2_000, 100)}
QUICK_SIZES = {"mnist": (6_000, 1_000, 784), "middle": (2_000, 400, 100)}
GRID = ["model.hidden=[64],[128],[256]", "optimizer.lr=0.001,0.003", "seed=0,1"]
TRAIN = ["trainer.batch_size=128", "trainer.epochs=2"]
MOONS = {
    "50": ["experiment=two_moons_arch", "seed=range(10)"],
    "2000": [
        "model.hidden=[2],[4],[8],[16],[32],[64],[128],[256]",
        "optimizer.lr=0.001,0.003,0.01,0.03,0.1", "seed=range(50)", "trainer.epochs=100",
    ],
}  # fmt: skip
QUICK_MOONS = {
    "50": ["experiment=two_moons_arch", "seed=range(2)", "trainer.epochs=20"],
    "2000": [
        "model.hidden=[2],[16]",
        "optimizer.lr=0.01,0.1",
        "seed=range(3)",
        "trainer.epochs=10",
    ],
}


def make_file(path: Path, train: int, test: int, features: int, classes: int = 10) -> None:
    """A learnable 10-class set: class templates plus noise, float32, saved with np.savez."""
    rng = np.random.default_rng(0)
    centres = (0.08 * rng.standard_normal((classes, features))).astype(np.float32)
    y = rng.integers(0, classes, train + test)
    X = centres[y] + rng.standard_normal((train + test, features), dtype=np.float32)
    np.savez(path, X=X[:train], y=y[:train], X_test=X[train:], y_test=y[train:])


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of the largest of its processes) of a command."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        # ru_maxrss from wait4: the largest of the process and the children it waited for
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            sys.exit(f"{' '.join(cmd)} failed:\n{log.read()[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def mlplab(*args: str) -> tuple[float, float]:
    wall, rss = timed([sys.executable, "-m", "mlplab", *args])
    return wall, rss


def textbook(path: Path, hidden: list[int], lr: float, seed: int, threads: int = 1) -> float:
    """Seconds a textbook loop takes to train one model for 2 epochs, its data already in
    memory; run in a process of its own, so that this one stays small (a child forked
    from it starts with its memory, which its peak RSS would count)."""
    out = subprocess.run(
        [sys.executable, __file__, "--textbook", str(path), json.dumps(hidden), str(lr),
         str(seed), str(threads)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.split()[-1])


def _textbook(path: str, hidden: list[int], lr: float, seed: int, threads: int) -> float:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(threads)
    with np.load(path) as z:
        X, y = torch.from_numpy(z["X"]), torch.from_numpy(z["y"]).long()
    X = (X - X.mean(0)) / X.std(0).clamp_min(1e-12)
    n_train = int(0.8 * len(X))
    torch.manual_seed(seed)
    sizes = [X.shape[1], *hidden]
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(X[:n_train], y[:n_train]), batch_size=128, shuffle=True)
    start = time.perf_counter()
    for _ in range(2):
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    return time.perf_counter() - start


def _load(path: str) -> tuple[float, float, float]:
    """Seconds of np.load, of one float32 standardization pass, and of mlplab's data.load
    (torch imported before the clocks start, and numpy.random, which NumPy imports on first
    use: ~6 ms, a one-time import that the middle size's ~15 ms would count as loading)."""
    import numpy.random  # noqa: F401
    import torch  # noqa: F401

    from mlplab.data import load
    from mlplab.settings import DatasetSettings

    start = time.perf_counter()
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np_load = time.perf_counter() - start
    X = arrays["X"]
    start = time.perf_counter()
    mean = X.mean(0, dtype=np.float64).astype(np.float32)
    std = np.sqrt(((X - mean) ** 2).mean(0, dtype=np.float64)).astype(np.float32)
    X = (X - mean) / std
    standardize = time.perf_counter() - start
    del arrays, X
    start = time.perf_counter()
    load(DatasetSettings("file", path=path, val_fraction=0.2, standardize=True))
    return np_load, standardize, time.perf_counter() - start


def bench_size(name: str, folder: Path, sizes: tuple) -> list[dict]:
    path = folder / f"{name}.npz"
    subprocess.run([sys.executable, __file__, "--make", str(path), *map(str, sizes)], check=True)
    rows = []
    # loading, in a process of its own: np.load alone, one float32 standardization pass,
    # and mlplab's load (this process stays small: a child forked from it would count it)
    np_load, standardize, mlplab_load = map(float, subprocess.run(
        [sys.executable, __file__, "--load", str(path)], capture_output=True, text=True, check=True
    ).stdout.split())  # fmt: skip
    rows.append({"size": name, "what": "loading: np.load + one standardization vs mlplab's load",
                 "baseline": np_load + standardize, "mlplab": mlplab_load,
                 "ratio": mlplab_load / (np_load + standardize), "note": f"np.load alone {np_load:.2f} s"})  # fmt: skip

    data = ["dataset=file", f"dataset.path={path}", *TRAIN]
    # one run
    for threads in (1, None):  # one thread each; then mlplab's choice against torch's default
        book = textbook(path, [256, 256], 1e-3, 0, threads or os.cpu_count())
        run_dir = folder / f"{name}-run-{threads}"
        wall, rss = mlplab(*data, "model.hidden=[256,256]", f"trainer.threads={threads or 'null'}",
                           f"hydra.run.dir={run_dir}")  # fmt: skip
        result = json.loads((run_dir / "result.json").read_text())
        train, chosen = result["train_seconds"], result["provenance"]["threads"]
        rows.append({"size": name, "what": f"one run [256,256], threads {threads or 'auto'}: "
                                           f"training vs textbook ({threads or os.cpu_count()} threads)",
                     "baseline": book, "mlplab": train, "ratio": train / book,
                     "note": f"{chosen} threads; wall {wall:.1f} s, not training {wall - train:.2f} s "
                             f"(diagnostics {result['diagnostics_seconds']:.2f} s), peak {rss:.0f} MB"})  # fmt: skip
    # the 12-job sweep: textbook one after another, stacked, basic
    book12 = sum(
        textbook(path, [w], lr, seed) for w in (64, 128, 256) for lr in (0.001, 0.003)
        for seed in (0, 1)
    )  # fmt: skip
    stacked_dir, basic_dir = folder / f"{name}-stacked", folder / f"{name}-basic"
    wall_s, rss_s = mlplab("-m", *data, *GRID, f"hydra.sweep.dir={stacked_dir}")
    wall_b, rss_b = mlplab(
        "-m", *data, *GRID, "hydra/launcher=basic", f"hydra.sweep.dir={basic_dir}"
    )
    results = pd.read_csv(stacked_dir / "results.csv")
    diag = results["diagnostics_seconds"].sum() / results["seconds"].sum()
    rows.append({"size": name, "what": "12-job sweep vs 12 textbook trainings in a row",
                 "baseline": book12, "mlplab": wall_s, "ratio": book12 / wall_s,
                 "note": f"speed-up; peak {rss_s:.0f} MB; diagnostics {diag:.1%} of training"})  # fmt: skip
    rows.append({"size": name, "what": "12-job sweep vs hydra/launcher=basic",
                 "baseline": wall_b, "mlplab": wall_s, "ratio": wall_b / wall_s,
                 "note": f"speed-up; basic's peak {rss_b:.0f} MB"})  # fmt: skip
    return rows


def bench_moons(folder: Path, sweeps: dict) -> list[dict]:
    rows = []
    wall, rss = mlplab("-m", *sweeps["50"], f"hydra.sweep.dir={folder / 'm50'}")
    wall_b, _ = mlplab(
        "-m", *sweeps["50"], "hydra/launcher=basic", f"hydra.sweep.dir={folder / 'm50b'}"
    )
    rows.append({"size": "two moons", "what": "50-job sweep vs hydra/launcher=basic",
                 "baseline": wall_b, "mlplab": wall, "ratio": wall_b / wall,
                 "note": f"speed-up; peak {rss:.0f} MB"})  # fmt: skip
    wall, rss = mlplab("-m", *sweeps["2000"], f"hydra.sweep.dir={folder / 'm2000'}")
    results = pd.read_csv(folder / "m2000" / "results.csv")
    train = results["seconds"].sum()
    rows.append({"size": "two moons", "what": "2000-job sweep: wall vs its sum of training",
                 "baseline": train, "mlplab": wall, "ratio": wall / train,
                 "note": f"{len(results)} jobs; peak {rss:.0f} MB"})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small versions of everything")
    parser.add_argument("--only", choices=["mnist", "middle", "moons"], help="one part")
    parser.add_argument("--textbook", nargs=5, help=argparse.SUPPRESS)  # a baseline's process
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.textbook:
        path, hidden, lr, seed, threads = args.textbook
        print(_textbook(path, json.loads(hidden), float(lr), int(seed), int(threads)))
        return
    if args.make:
        make_file(Path(args.make[0]), *map(int, args.make[1:]))
        return
    if args.load:
        print(*_load(args.load))
        return
    sizes = QUICK_SIZES if args.quick else SIZES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in sizes.items():
            if args.only in (None, name):
                rows += bench_size(name, Path(tmp), shape)
                print(pd.DataFrame(rows).to_string(index=False, float_format="%.2f"), flush=True)
        if args.only in (None, "moons"):
            rows += bench_moons(Path(tmp), QUICK_MOONS if args.quick else MOONS)
    print()
    table = pd.DataFrame(rows)
    print("| size | what | baseline s | mlplab s | ratio | note |\n|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(
            f"| {r.size} | {r.what} | {r.baseline:.2f} | {r.mlplab:.2f} | {r.ratio:.2f} | {r.note} |"
        )


if __name__ == "__main__":
    main()
