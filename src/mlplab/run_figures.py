"""A single run's figures: a trained network turned into the NumPy functions that the
torch-free :mod:`mlplab.plots` draws (curves, activations at init, the decision boundary,
a 1-D fit, the first layer's units). ``plots.why_not`` decides which fit the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import diagnostics
from .data import Dataset
from .model import resolve_init
from .results import history_frame
from .settings import RunSettings
from .train import FitResult


def draw(run_dir: Path, s: RunSettings, fitted: FitResult, model, data: Dataset, acts_init):
    """curves.png, and the figures that fit this run (plots.why_not decides which)."""
    from . import plots  # matplotlib costs ~0.4 s to import: only when drawing

    title = f"{s.dataset.name}  hidden={list(s.model.hidden)}  {s.model.activation}"
    plots.curves(history_frame(fitted.history), run_dir / "curves.png", title)
    fits = {
        name: plots.why_not(name, data.in_dim, data.task, data.target_dim, len(acts_init)) is None
        for name in plots.FIGURES
    }
    if fits["activations_init"] and acts_init:
        init = resolve_init(s.model.init, s.model.activation)  # auto -> what was drawn
        init += f" std={s.model.init_std}" if init == "normal" else ""
        plots.activations(acts_init, run_dir / "activations_init.png", f"{title}  init={init}")
    if fitted.status != "completed":
        return  # a diverged network has nothing more to show
    device = data.X_train.device
    X, labels = data.X_train.cpu().numpy(), None
    if data.task != "regression":
        labels = data.y_train.reshape(-1).long().cpu().numpy()
    if data.in_dim == 2 and data.task != "regression":
        plots.boundary(
            numpy_fn(_classes(model), device), X, labels, run_dir / "boundary.png", title
        )
    if fits["fit_1d"]:
        line = diagnostics.region_grid(data.X_train)  # the grid linear_regions counts on
        plots.fit_1d(
            numpy_fn(model, device), X, data.y_train.cpu().numpy(), run_dir / "fit_1d.png",
            title, task=data.task, kinks=diagnostics.kinks_1d(model, line),
            X_val=None if data.X_val is None else data.X_val.cpu().numpy(),
            y_val=None if data.y_val is None else data.y_val.cpu().numpy(),
        )  # fmt: skip
    if fits["neurons"]:
        units = numpy_fn(diagnostics.first_hidden_units(model), device)
        plots.neurons(units, X, labels, run_dir / "neurons.png", title)


def _classes(model):
    """Class labels of a classifier's outputs (one logit: its sign; several: the largest)."""

    def labels(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        return (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)

    return labels


def numpy_fn(fn, device):
    """A torch function of (N, d) inputs as a NumPy one (for the torch-free plots module)."""

    @torch.no_grad()
    def call(points: np.ndarray) -> np.ndarray:
        out = fn(torch.as_tensor(points, dtype=torch.float32, device=device))
        return out.squeeze(-1).cpu().numpy() if out.shape[-1] == 1 else out.cpu().numpy()

    return call
