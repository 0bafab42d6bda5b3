"""Training: ``fit`` trains one model on one Dataset in one visible loop."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

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

OPTIMIZERS = {
    "adam": lambda p, o: torch.optim.Adam(p, lr=o.lr, weight_decay=o.weight_decay, foreach=True),
    "adamw": lambda p, o: torch.optim.AdamW(p, lr=o.lr, weight_decay=o.weight_decay, foreach=True),
    "sgd": lambda p, o: torch.optim.SGD(
        p, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum, foreach=True
    ),
    "rmsprop": lambda p, o: torch.optim.RMSprop(
        p, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum, foreach=True
    ),
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


def make_optimizer(params, o: OptimizerSettings) -> torch.optim.Optimizer:
    return OPTIMIZERS[choose("optimizer", o.name, OPTIMIZERS)](params, o)


@dataclass
class FitResult:
    """What ``fit`` returns: per-epoch history rows and the final summary."""

    history: list[dict] = field(default_factory=list)
    status: str = "completed"  #: completed | diverged
    error: str | None = None
    train_seconds: float = 0.0


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str
) -> tuple[float, float | None]:
    """Loss and accuracy (None for regression) on one split, in eval mode, as tensors."""
    was_training = model.training
    model.eval()
    out = model(X)
    value = LOSSES[loss][0](out, y)
    if loss == "bce":
        acc = ((out > 0).float() == y).float().mean()
    elif loss == "cross_entropy":
        acc = (out.argmax(dim=1) == y.reshape(-1).long()).float().mean()
    else:
        acc = None
    model.train(was_training)
    return value, acc


def _target(y: torch.Tensor, loss: str) -> torch.Tensor:
    # cross-entropy wants class indices; a binary task stores y as float (N, 1)
    return y.reshape(-1).long() if loss == "cross_entropy" else y


def fit(model: nn.Module, data: Dataset, s: RunSettings, loss: str, progress=None) -> FitResult:
    """Train ``model`` on ``data``; return a history with one row per epoch (0 = at init).

    Every random draw is seeded from ``s.seed``: the shuffle order from its own
    generator and dropout from the global one, so the same settings give the same
    history bit for bit on CPU. A non-finite loss stops training with ``diverged``.
    """
    t: TrainerSettings = s.trainer
    device = data.X_train.device
    loss_fn = LOSSES[loss][0]
    y_train, y_val = (
        _target(data.y_train, loss),
        (None if data.y_val is None else _target(data.y_val, loss)),
    )
    n = len(data.X_train)
    batch = n if t.batch_size is None else min(t.batch_size, n)
    optimizer = make_optimizer(model.parameters(), s.optimizer)
    shuffle = torch.Generator(device="cpu").manual_seed(s.seed + 1)
    torch.manual_seed(s.seed)  # dropout draws from the global generator
    result = FitResult()
    start = time.perf_counter()

    def record(epoch: int) -> bool:
        # One host sync per epoch, not per step: metrics stay tensors until here.
        tr = evaluate(model, data.X_train, y_train, loss)
        va = evaluate(model, data.X_val, y_val, loss) if data.X_val is not None else (None, None)
        row = {
            "epoch": epoch,
            "train_loss": float(tr[0]),
            "val_loss": None if va[0] is None else float(va[0]),
            "train_acc": None if tr[1] is None else float(tr[1]),
            "val_acc": None if va[1] is None else float(va[1]),
            "seconds": time.perf_counter() - start,
        }
        result.history.append(row)
        finite = math.isfinite(row["train_loss"]) and (
            row["val_loss"] is None or math.isfinite(row["val_loss"])
        )
        if not finite:
            result.status, result.error = "diverged", f"non-finite loss at epoch {epoch}"
        return finite

    if record(0):
        model.train()
        for epoch in range(1, t.epochs + 1):
            order = torch.randperm(n, generator=shuffle).to(device)
            X, y = data.X_train[order], y_train[order]
            for i in range(0, n, batch):
                out = model(X[i : i + batch])
                step_loss = loss_fn(out, y[i : i + batch])
                optimizer.zero_grad(set_to_none=True)
                step_loss.backward()
                optimizer.step()
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
