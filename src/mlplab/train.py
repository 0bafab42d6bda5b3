"""Training: ``fit`` trains one model on one Dataset in one visible loop."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.adam import adam as adam_update
from torch.optim.adamw import adamw as adamw_update
from torch.optim.rmsprop import rmsprop as rmsprop_update
from torch.optim.sgd import sgd as sgd_update

from .data import Dataset
from .settings import ConfigError, OptimizerSettings, RunSettings, TrainerSettings, choose

# Loss name -> (function of (output, target), tasks it fits). Outputs are raw
# logits; the sigmoid / softmax live inside the loss for numerical stability.
LOSSES = {
    "mse": (F.mse_loss, ("regression",)),
    "bce": (F.binary_cross_entropy_with_logits, ("binary",)),
    "cross_entropy": (F.cross_entropy, ("binary", "multiclass")),
}
AUTO_LOSS = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}

# torch.optim's defaults for the hyper-parameters a config cannot set
# (tests/test_train.py checks them against torch.optim's signatures).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8


# Optimizer name -> factory of a ``step(grads)`` function that runs torch.optim's own
# functional update (what ``torch.optim.Adam.step`` calls) on state kept here. Why not
# the class: its ``step()`` spends ~40 us in Python (profiler record, hooks, state
# lookups) around a ~10 us fused kernel, and a sweep job is thousands of tiny steps.
# The fused kernels (CPU and CUDA) update every tensor in one call; RMSprop has none
# and takes foreach. tests/test_train.py checks these steps against torch.optim's.
def _adam(params, o: OptimizerSettings, decoupled: bool = False):
    exp_avgs = [torch.zeros_like(p) for p in params]
    exp_avg_sqs = [torch.zeros_like(p) for p in params]
    steps = [torch.zeros((), device=p.device) for p in params]  # float32, as fused wants
    update = adamw_update if decoupled else adam_update

    def step(grads):
        update(
            params, grads, exp_avgs, exp_avg_sqs, [], steps, fused=True, amsgrad=False,
            beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], lr=o.lr, weight_decay=o.weight_decay,
            eps=ADAM_EPS, maximize=False,
        )  # fmt: skip

    return step


def _sgd(params, o: OptimizerSettings):
    buffers = [None] * len(params)  # filled on the first step when momentum > 0

    def step(grads):
        sgd_update(
            params, grads, buffers, fused=True, weight_decay=o.weight_decay,
            momentum=o.momentum, lr=o.lr, dampening=0.0, nesterov=False, maximize=False,
        )  # fmt: skip

    return step


def _rmsprop(params, o: OptimizerSettings):
    square_avgs = [torch.zeros_like(p) for p in params]
    buffers = [torch.zeros_like(p) for p in params] if o.momentum > 0 else []
    steps = [torch.zeros(()) for p in params]

    def step(grads):
        rmsprop_update(
            params, grads, square_avgs, [], buffers, steps, foreach=True, lr=o.lr,
            alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS, weight_decay=o.weight_decay,
            momentum=o.momentum, centered=False,
        )  # fmt: skip

    return step


OPTIMIZERS = {
    "adam": _adam,
    "adamw": lambda params, o: _adam(params, o, decoupled=True),
    "sgd": _sgd,
    "rmsprop": _rmsprop,
}


def resolve_loss(loss: str, task: str, n_classes: int = 0) -> str:
    """Pick the loss for ``auto`` and refuse one that does not fit the task."""
    if choose("loss", loss, ["auto", *LOSSES]) == "auto":
        return AUTO_LOSS[task]
    fits = LOSSES[loss][1]
    if task not in fits:
        what = {
            "binary": "2 classes",
            "multiclass": f"{n_classes} classes",
            "regression": "real-valued targets",
        }[task]
        ok = sorted(name for name, (_, tasks) in LOSSES.items() if task in tasks)
        raise ConfigError(
            f"loss={loss} does not fit a {task} task ({what}). Choose one of: auto, {', '.join(ok)}."
        )
    return loss


def output_dim(loss: str, data: Dataset) -> int:
    """Logits for cross-entropy, one logit for BCE, one output per target column for MSE."""
    if loss == "cross_entropy":
        return max(data.n_classes, 2)
    return 1 if loss == "bce" else data.target_dim


def resolve_device(name: str, index: int | None = None) -> torch.device:
    """``auto`` takes CUDA when present; asking for CUDA without it is a user error.

    ``index`` spreads sweep jobs over several GPUs: device ``index mod device_count``.
    """
    choose("trainer.device", name, ["auto", "cpu", "cuda"])
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "trainer.device=cuda but no CUDA device is available. Choose one of: auto, cpu."
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and index is not None:
        return torch.device("cuda", index % torch.cuda.device_count())
    return torch.device(name)


def make_optimizer(params: list[torch.Tensor], o: OptimizerSettings):
    """``step(grads)``: one in-place torch.optim update of ``params`` (leaf tensors)."""
    update = OPTIMIZERS[choose("optimizer", o.name, OPTIMIZERS)](params, o)

    @torch.no_grad()  # the update writes into leaf tensors that require grad
    def step(grads):
        update(list(grads))

    return step


@dataclass
class FitResult:
    """What ``fit`` returns: per-epoch history rows, the final summary and the trained model."""

    history: list[dict] = field(default_factory=list)
    status: str = "completed"  #: completed | diverged
    error: str | None = None
    train_seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False)  #: trained, in eval mode


def scores(out: torch.Tensor, y: torch.Tensor, loss: str) -> list[torch.Tensor]:
    """``[loss]`` for regression, ``[loss, accuracy]`` for classification, as 0-d tensors."""
    value = LOSSES[loss][0](out, y)
    if loss == "bce":
        return [value, ((out > 0).float() == y).float().mean()]
    if loss == "cross_entropy":
        return [value, (out.argmax(dim=1) == y.reshape(-1).long()).float().mean()]
    return [value]


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss and accuracy (None for regression) on one split, in eval mode, as tensors."""
    was_training = model.training
    model.eval()
    value, *acc = scores(model(X), y, loss)
    model.train(was_training)
    return value, (acc[0] if acc else None)


def targets_for(y: torch.Tensor, loss: str) -> torch.Tensor:
    """``y`` as ``loss`` wants it: class indices (N,) for cross-entropy, else as stored."""
    # a binary task stores y as float (N, 1), which BCE takes as it is
    return y.reshape(-1).long() if loss == "cross_entropy" else y


def history_row(epoch: int, train: list[float], val: list[float] | None, seconds: float) -> dict:
    """One history row from ``scores`` values (``val`` None when there is no val split)."""
    val = val or [None, None]
    return {
        "epoch": epoch,
        "train_loss": train[0],
        "val_loss": val[0],
        "train_acc": train[1] if len(train) > 1 else None,
        "val_acc": val[1] if len(val) > 1 else None,
        "seconds": seconds,
    }


def is_finite_row(row: dict) -> bool:
    return math.isfinite(row["train_loss"]) and (
        row["val_loss"] is None or math.isfinite(row["val_loss"])
    )


def fit(model: nn.Module, data: Dataset, s: RunSettings, loss: str, progress=None) -> FitResult:
    """Train ``model`` on ``data``; return a history with one row per epoch (0 = at init).

    Every random draw is seeded from ``s.seed``: the shuffle order from its own
    generator and dropout from the global one, so the same settings give the same
    history bit for bit on CPU. A non-finite loss stops training with ``diverged``.
    ``stacked.fit_many`` reproduces these draws model by model (tests/test_stacked.py
    holds the two together): change one, change the other.

    Most sweep models are tiny, so the loop is built around per-step overhead, not
    FLOPs: batches are slices of a pre-shuffled tensor on the device, gradients come
    from ``autograd.grad`` (no ``.grad`` to zero), the optimizer is torch.optim's fused
    update without the class around it, and metrics stay tensors until one host sync
    per epoch.
    """
    t: TrainerSettings = s.trainer
    device = data.X_train.device
    loss_fn = LOSSES[loss][0]
    y_train, y_val = (
        targets_for(data.y_train, loss),
        (None if data.y_val is None else targets_for(data.y_val, loss)),
    )
    n = len(data.X_train)
    batch = n if t.batch_size is None else min(t.batch_size, n)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, s.optimizer)
    shuffle = torch.Generator(device="cpu").manual_seed(s.seed + 1)
    torch.manual_seed(s.seed)  # dropout draws from the global generator
    result = FitResult(model=model)
    start = time.perf_counter()

    def record(epoch: int) -> bool:
        # Eval mode on the full splits: dropout off, batch norm on its running stats.
        model.eval()
        with torch.no_grad():
            tr = scores(model(data.X_train), y_train, loss)
            va = [] if data.X_val is None else scores(model(data.X_val), y_val, loss)
        model.train()
        values = torch.stack(tr + va).tolist()  # the epoch's one host sync
        row = history_row(
            epoch, values[: len(tr)], values[len(tr) :] or None, time.perf_counter() - start
        )
        result.history.append(row)
        if not is_finite_row(row):
            result.status, result.error = "diverged", f"non-finite loss at epoch {epoch}"
            return False
        return True

    if record(0):
        for epoch in range(1, t.epochs + 1):
            order = torch.randperm(n, generator=shuffle).to(device)
            X, y = data.X_train[order], y_train[order]
            for i in range(0, n, batch):
                step_loss = loss_fn(model(X[i : i + batch]), y[i : i + batch])
                optimizer(torch.autograd.grad(step_loss, params))
            if not record(epoch):
                break
            if progress is not None:
                progress(epoch, result.history[-1])
    result.train_seconds = time.perf_counter() - start
    model.eval()
    return result


def build_model(s: RunSettings, data: Dataset) -> tuple[nn.Module, str]:
    """The model ``s`` describes, sized for ``data`` and drawn from ``s.seed``, and its loss."""
    from .model import make_mlp

    loss = resolve_loss(s.loss, data.task, data.n_classes)
    init_gen = torch.Generator(device="cpu").manual_seed(s.seed)
    m = s.model
    model = make_mlp(
        data.in_dim, list(m.hidden), output_dim(loss, data), m.activation, m.init, m.init_std,
        m.dropout, m.norm, m.residual, generator=init_gen,
    ).to(data.X_train.device)  # fmt: skip
    return model, loss
