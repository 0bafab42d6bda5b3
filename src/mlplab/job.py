"""One job: validated settings -> data -> model -> fit -> a complete run folder."""

from __future__ import annotations

import dataclasses
import traceback
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import plots
from .data import Dataset, load
from .model import count_params
from .results import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    RESULT_FILE,
    atomic_write,
    history_frame,
    summarize,
    write_csv,
    write_json,
)
from .settings import ConfigError, RunSettings, flat
from .train import FitResult, build_model, evaluate, fit, resolve_device


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
        fitted = PRETRAINED.pop(run_dir.absolute(), None)
        if fitted is not None:  # trained already, in a stacked group (hydra/launcher=stacked)
            model = fitted.model
        else:
            bar = _progress_bar(s) if progress else None
            fitted = fit(model, data, s, loss, progress=bar)
            if bar is not None:
                bar.close()
        result = {**base, **_outcome(fitted, model, data, loss)}
        _write_artifacts(run_dir, s, fitted, model, data)
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
    out.update(summarize(fitted.history, data.task))
    if data.X_test is not None and fitted.status == "completed":
        y = data.y_test.reshape(-1).long() if loss == "cross_entropy" else data.y_test
        test_loss, test_acc = evaluate(model, data.X_test, y, loss)
        out["test_loss"] = float(test_loss)
        if test_acc is not None:
            out["test_acc"] = float(test_acc)
    return out


def _write_artifacts(
    run_dir: Path, s: RunSettings, fitted: FitResult, model, data: Dataset
) -> None:
    history = history_frame(fitted.history)
    write_csv(run_dir / HISTORY_FILE, history)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: save_file(state, str(tmp)))
    title = f"{s.dataset.name}  hidden={list(s.model.hidden)}  {s.model.activation}"
    plots.curves(history, run_dir / "curves.png", title)
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
    device = data.X_train.device

    @torch.no_grad()
    def predict(points: np.ndarray) -> np.ndarray:
        out = model(torch.as_tensor(points, dtype=torch.float32, device=device))
        labels = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)
        return labels.cpu().numpy()

    return predict


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


__all__ = ["ConfigError", "load_model", "prepare", "run_job"]
