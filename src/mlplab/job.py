"""One job: validated settings -> data -> model -> fit -> a complete run folder."""

from __future__ import annotations

import dataclasses
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import diagnostics
from .data import Dataset, load
from .model import count_params, resolve_init
from .results import (
    CHECKPOINT_FILE,
    HISTORY_COLUMNS,
    HISTORY_FILE,
    RESULT_FILE,
    atomic_write,
    history_frame,
    write_json,
    write_rows,
)
from .settings import RunSettings, flat
from .train import FitResult, build_model, evaluate, fit, resolve_device, summarize

# Results of jobs that hydra/launcher=stacked trained in a group, by run folder;
# run_job writes such a job's folder from its entry instead of training again.
PRETRAINED: dict[Path, FitResult] = {}


def prepare(s: RunSettings, gpu: int | None = None) -> tuple[Dataset, torch.nn.Module, str]:
    """Everything that can fail on user input, done before training or writing anything.

    ``gpu``: a sweep job's number; with several CUDA devices, job n takes device n mod count.
    """
    if s.trainer.threads:
        torch.set_num_threads(s.trainer.threads)
    device = resolve_device(s.trainer.device, gpu)
    data = load(s.dataset, device)
    model, loss = build_model(s, data)
    return data, model, loss


def run_job(
    s: RunSettings,
    run_dir: Path,
    overrides: list[str] | None = None,
    progress: bool = False,
    gpu: int | None = None,
    in_sweep: bool = False,
) -> dict:
    """Train one configuration and write its run folder; ``result.json`` comes last.

    A ConfigError propagates before anything is written. Any other exception is
    recorded as ``status: failed`` with its message, then re-raised.
    """
    run_dir = Path(run_dir)
    data, model, loss = prepare(s, gpu)
    base = {
        "status": "failed",
        "error": None,
        "overrides": list(overrides or []),
        "config": flat(s),
        "task": data.task,
        "loss_fn": loss,
        "params": count_params(model),
        "depth": len(s.model.hidden),
        "n_train": len(data.X_train),
    }
    try:
        inside = _inspect_init(model, data, loss)  # the network as drawn for this seed
        fitted = PRETRAINED.pop(run_dir.absolute(), None)
        if fitted is not None:  # trained already, in a stacked group (hydra/launcher=stacked)
            model = fitted.model
        else:
            bar = _progress_bar(s) if progress else None
            fitted = fit(
                model, data, s, loss, progress=_on_epoch(bar, inside, s, model, data, loss)
            )
            if bar is not None:
                bar.close()
        result = {**base, **_outcome(fitted, model, data, loss)}
        result.update(_inspect_end(inside, fitted, model, data, loss))
        figures = s.trainer.figures if s.trainer.figures is not None else not in_sweep
        _write_artifacts(run_dir, s, fitted, model, data, figures)
        _write_inside(run_dir, s, fitted, model, data, inside, figures)
    except Exception as exc:  # recorded for the sweep table, then re-raised
        write_json(
            run_dir / RESULT_FILE,
            {**base, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()},
        )
        raise
    write_json(run_dir / RESULT_FILE, result)
    return result


def _outcome(fitted: FitResult, model, data: Dataset, loss: str) -> dict:
    out = {"status": fitted.status, "error": fitted.error, "train_seconds": fitted.train_seconds}
    out.update(summarize(fitted, data.task))
    if data.X_test is not None and fitted.status == "completed":
        y = data.y_test.reshape(-1).long() if loss == "cross_entropy" else data.y_test
        test_loss, test_acc = evaluate(model, data.X_test, y, loss)
        out["test_loss"] = float(test_loss)
        if test_acc is not None:
            out["test_acc"] = float(test_acc)
    return out


def _write_artifacts(
    run_dir: Path, s: RunSettings, fitted: FitResult, model, data: Dataset, figures: bool
) -> None:
    history = fitted.history
    if not s.trainer.timing:  # wall-clock time differs run to run; without it the file repeats
        history = [{**row, "seconds": None} for row in history]
    write_rows(run_dir / HISTORY_FILE, history, HISTORY_COLUMNS)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: save_file(state, str(tmp)))
    if not figures:
        return
    from . import plots  # matplotlib costs ~0.4 s to import: only when drawing

    title = f"{s.dataset.name}  hidden={list(s.model.hidden)}  {s.model.activation}"
    plots.curves(history_frame(history), run_dir / "curves.png", title)
    if data.in_dim == 2 and data.task != "regression" and fitted.status == "completed":
        plots.boundary(
            _predictor(model, data),
            data.X_train.cpu().numpy(),
            _labels(data.y_train),
            run_dir / "boundary.png",
            title,
        )


def _labels(y: torch.Tensor) -> np.ndarray:
    return y.reshape(-1).long().cpu().numpy()


def _predictor(model, data: Dataset):
    """Class labels of 2-D points, as a NumPy function (for plots.boundary)."""

    def labels(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        return (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)

    return _numpy_fn(labels, data.X_train.device)


def _progress_bar(s: RunSettings):
    from tqdm.auto import tqdm

    # delay: the bar appears only for runs that last more than a few seconds
    bar = tqdm(total=s.trainer.epochs, delay=3.0, unit="epoch", leave=False, dynamic_ncols=True)

    def update(epoch: int, row: dict):
        bar.update(1)
        if epoch % 10 == 0:
            bar.set_postfix(loss=f"{row['train_loss']:.4g}", refresh=False)

    update.close = bar.close
    return update


def load_model(run_dir: Path, s: RunSettings) -> torch.nn.Module:
    """Rebuild the run's model from its settings and load ``model.safetensors`` (no pickle)."""
    data, model, _ = prepare(
        dataclasses.replace(s, trainer=dataclasses.replace(s.trainer, device="cpu"))
    )
    model.load_state_dict(load_file(str(Path(run_dir) / CHECKPOINT_FILE)))
    return model.eval()


# ---------------------------------------------------------------- looking inside (issue 6)
# layers.csv, the linear-region counts and the diagnostic figures. Measuring never
# changes the run (diagnostics.py measures in eval mode, without .backward()).

LAYERS_FILE = "layers.csv"
ACTIVATION_SAMPLE = 2000  # rows of X_train kept for the activation histograms


def _layer_rows(model, data: Dataset, loss: str, epoch: int) -> list[dict]:
    rows = diagnostics.layer_stats(model, data.X_train, data.y_train, loss)
    return [{"epoch": epoch, **row} for row in rows]


def _regions(model, data: Dataset) -> int | None:
    grid = diagnostics.region_grid(data.X_train)
    return None if grid is None else diagnostics.linear_regions(model, grid)


def _inspect_init(model, data: Dataset, loss: str) -> dict:
    """Everything measured on the initial network: layers.csv rows, regions, activations."""
    start = time.perf_counter()
    acts = diagnostics.hidden_activations(model, data.X_train[:ACTIVATION_SAMPLE])
    inside = {
        "layers": _layer_rows(model, data, loss, 0),
        "regions_init": _regions(model, data),
        "acts_init": [a.cpu().numpy() for a in acts],
    }
    inside["seconds"] = time.perf_counter() - start
    return inside


def _on_epoch(bar, inside: dict, s: RunSettings, model, data: Dataset, loss: str):
    """fit's per-epoch callback: the progress bar, and layers.csv rows every N epochs."""
    every = s.trainer.layer_stats_every
    if not every and bar is None:
        return None

    def on_epoch(epoch: int, row: dict) -> None:
        if bar is not None:
            bar(epoch, row)
        if every and epoch % every == 0:
            start = time.perf_counter()
            inside["layers"] += _layer_rows(model, data, loss, epoch)
            inside["seconds"] += time.perf_counter() - start

    return on_epoch


def _inspect_end(inside: dict, fitted: FitResult, model, data: Dataset, loss: str) -> dict:
    """The result.json keys: regions and layer summaries at init and at the end."""
    start = time.perf_counter()
    layers, end = inside["layers"], fitted.history[-1]["epoch"]
    if layers[-1]["epoch"] != end:
        layers += _layer_rows(model, data, loss, end)
    keys = {
        "linear_regions": _regions(model, data),
        "linear_regions_init": inside["regions_init"],
        **diagnostics.summary([r for r in layers if r["epoch"] == end]),
        **diagnostics.summary([r for r in layers if r["epoch"] == 0], "_init"),
    }
    inside["seconds"] += time.perf_counter() - start
    keys["diagnostics_seconds"] = inside["seconds"]
    return keys


def _write_inside(
    run_dir: Path,
    s: RunSettings,
    fitted: FitResult,
    model,
    data: Dataset,
    inside: dict,
    figures: bool,
) -> None:
    """layers.csv, and the figures that fit this run (plots.why_not decides which)."""
    write_rows(run_dir / LAYERS_FILE, inside["layers"], diagnostics.LAYER_COLUMNS)
    if not figures:
        return
    from . import plots

    depth = len(inside["acts_init"])
    fits = {
        name: plots.why_not(name, data.in_dim, data.task, data.target_dim, depth) is None
        for name in plots.FIGURES
    }
    title = f"{s.dataset.name}  hidden={list(s.model.hidden)}  {s.model.activation}"
    if fits["activations_init"]:
        init = resolve_init(s.model.init, s.model.activation)  # auto -> what was drawn
        init += f" std={s.model.init_std}" if init == "normal" else ""
        plots.activations(
            inside["acts_init"], run_dir / "activations_init.png", f"{title}  init={init}"
        )
    if fitted.status != "completed":
        return  # a diverged network has nothing to show
    device = data.X_train.device
    if fits["fit_1d"]:
        line = diagnostics.region_grid(data.X_train)  # the grid linear_regions counts on
        plots.fit_1d(
            _numpy_fn(model, device), data.X_train.cpu().numpy(), data.y_train.cpu().numpy(),
            run_dir / "fit_1d.png", title, task=data.task,
            kinks=diagnostics.kinks_1d(model, line),
            X_val=None if data.X_val is None else data.X_val.cpu().numpy(),
            y_val=None if data.y_val is None else data.y_val.cpu().numpy(),
        )  # fmt: skip
    if fits["neurons"]:
        labels = None if data.task == "regression" else _labels(data.y_train)
        units = _numpy_fn(diagnostics.first_hidden_units(model), device)
        plots.neurons(units, data.X_train.cpu().numpy(), labels, run_dir / "neurons.png", title)


def _numpy_fn(fn, device):
    """A torch function of (N, d) inputs as a NumPy one (for the torch-free plots module)."""

    @torch.no_grad()
    def call(points: np.ndarray) -> np.ndarray:
        out = fn(torch.as_tensor(points, dtype=torch.float32, device=device))
        return out.squeeze(-1).cpu().numpy() if out.shape[-1] == 1 else out.cpu().numpy()

    return call
