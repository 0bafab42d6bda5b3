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

from .data import Dataset, load
from .settings import (
    LOSS_NAMES,
    METRIC_NAMES,
    ConfigError,
    EarlyStoppingSettings,
    OptimizerSettings,
    RunSettings,
    TrainerSettings,
    choose,
)


def sigmoid_mse(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Seed 002's MSE for classification: the squared error of the probability sigmoid(out)."""
    return F.mse_loss(torch.sigmoid(out), y, reduction=reduction)


# Loss name -> (function of (output, target), tasks it fits). Outputs are raw logits;
# the sigmoid / softmax live inside the loss (BCE and cross-entropy take them in their
# numerically stable log-sum-exp form).
LOSSES = {
    "mse": (F.mse_loss, ("regression",)),
    "bce": (F.binary_cross_entropy_with_logits, ("binary",)),
    "cross_entropy": (F.cross_entropy, ("binary", "multiclass")),
    "sigmoid_mse": (sigmoid_mse, ("binary",)),
}
AUTO_LOSS = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}
# A config's loss name -> the loss it means on a task where that differs: loss=mse on a
# binary task is seed 002's sigmoid output with MSE on the probability (the loss whose
# gradient vanishes where the sigmoid saturates: its case for BCE). Not a config name.
TASK_LOSSES = {("mse", "binary"): "sigmoid_mse"}
# Losses of one logit per sample: class 1 where sigmoid(logit) > 0.5, i.e. where logit > 0
ONE_LOGIT = ("bce", "sigmoid_mse")

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

    def step(grads, lr):
        update(
            params, grads, exp_avgs, exp_avg_sqs, [], steps, fused=True, amsgrad=False,
            beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], lr=lr, weight_decay=o.weight_decay,
            eps=ADAM_EPS, maximize=False,
        )  # fmt: skip

    return step


def _sgd(params, o: OptimizerSettings):
    buffers = [None] * len(params)  # filled on the first step when momentum > 0

    def step(grads, lr):
        sgd_update(
            params, grads, buffers, fused=True, weight_decay=o.weight_decay,
            momentum=o.momentum, lr=lr, dampening=0.0, nesterov=False, maximize=False,
        )  # fmt: skip

    return step


def _rmsprop(params, o: OptimizerSettings):
    square_avgs = [torch.zeros_like(p) for p in params]
    buffers = [torch.zeros_like(p) for p in params] if o.momentum > 0 else []
    steps = [torch.zeros(()) for p in params]

    def step(grads, lr):
        rmsprop_update(
            params, grads, square_avgs, [], buffers, steps, foreach=True, lr=lr,
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
    """The key of LOSSES that config name ``loss`` means on ``task``; refuse a misfit."""
    if choose("loss", loss, LOSS_NAMES) == "auto":
        return AUTO_LOSS[task]

    def fits(name: str) -> bool:
        return task in LOSSES[TASK_LOSSES.get((name, task), name)][1]

    if not fits(loss):
        what = {
            "binary": "2 classes",
            "multiclass": f"{n_classes} classes",
            "regression": "real-valued targets",
        }[task]
        ok = sorted(name for name in LOSS_NAMES if name != "auto" and fits(name))
        raise ConfigError(
            f"loss={loss} does not fit a {task} task ({what}). Choose one of: auto, {', '.join(ok)}."
        )
    return TASK_LOSSES.get((loss, task), loss)


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
    """``step(grads, lr=o.lr)``: one in-place torch.optim update of ``params`` (leaf tensors)."""
    update = OPTIMIZERS[choose("optimizer", o.name, OPTIMIZERS)](params, o)

    @torch.no_grad()  # the update writes into leaf tensors that require grad
    def step(grads, lr: float = o.lr):
        update(list(grads), lr)

    return step


# Schedule name -> the lr factor after ``k`` of the ``n`` epochs that follow the warmup:
# 1, then the closed forms of torch.optim.lr_scheduler's StepLR and CosineAnnealingLR
# (tests/test_train.py holds them against the schedulers themselves).
SCHEDULES = {
    "constant": lambda o, k, n: 1.0,
    "step": lambda o, k, n: o.gamma ** (k // o.step_size),
    # SGDR's cosine annealing [Loshchilov & Hutter 2017], from lr down towards min_lr
    "cosine": lambda o, k, n: (
        o.min_lr / o.lr + (1 - o.min_lr / o.lr) * (1 + math.cos(math.pi * k / n)) / 2
    ),
}


def lr_factor(o: OptimizerSettings, epoch: int, epochs: int) -> float:
    """The multiplier of ``o.lr`` in training epoch ``epoch`` (1..``epochs``).

    What a torch.optim.lr_scheduler stepped once per epoch gives: epoch 1 trains at
    the scheduler's initial lr, epoch e after e - 1 steps. The warmup is
    LinearLR(start_factor=1/(w+1), total_iters=w) ahead of the schedule in a
    SequentialLR: 1/(w+1), 2/(w+1), ..., w/(w+1), then the schedule from its start
    (the gradual warmup of Goyal et al. 2017, which spends no epoch at lr 0).
    """
    k, w = epoch - 1, o.warmup_epochs
    if k < w:
        return (k + 1) / (w + 1)
    return SCHEDULES[o.schedule](o, k - w, epochs - w)


# The history's train_loss and train_acc, and layers.csv, are measured on the first rows of
# the (shuffled) training split, at most this many: every generated set, scikit-learn's and
# MNIST-1D's whole; at MNIST's size a full pass each epoch costs a third of the epoch's
# training, this a thirtieth. The validation and test splits are always measured whole.
TRAIN_SAMPLE = 4096

CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by total_norm + 1e-6


def clip_grad_norm(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """``grads`` scaled to a global L2 norm of at most ``max_norm``: the rule of
    ``torch.nn.utils.clip_grad_norm_`` (which needs ``.grad``) on autograd.grad's tensors."""
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = (max_norm / (norm + CLIP_EPS)).clamp(max=1.0)
    return [g * scale for g in grads]


def early_stopping_metric(es: EarlyStoppingSettings, data: Dataset) -> str:
    """The history column early stopping and ``best_epoch`` follow; refuse one ``data`` lacks.

    ``auto`` is val_acc, or val_loss for regression; without a validation split it
    is the training split's (as scikit-learn's MLP then watches its training loss).
    """
    split = "train" if data.X_val is None else "val"
    if es.metric == "auto":
        return f"{split}_loss" if data.task == "regression" else f"{split}_acc"
    key = f"trainer.early_stopping.metric={es.metric}"
    if es.metric.endswith("_acc") and data.task == "regression":
        raise ConfigError(
            f"{key}: a regression task has no accuracy. Choose one of: auto, train_loss, val_loss."
        )
    if es.metric.startswith("val_") and data.X_val is None:
        raise ConfigError(
            f"{key} needs a validation split (dataset.val_fraction > 0 or dataset.folds=K). "
            f"Choose one of: auto, train_acc, train_loss."
        )
    return es.metric


@dataclass
class BestEpoch:
    """The epoch where one history metric was best so far, and how many epochs ago."""

    metric: str  #: a history column; accuracies are maximized, losses minimized
    min_delta: float  #: an improvement must beat the best by more than this
    epoch: int = -1  #: -1 until the first row
    value: float = math.nan
    since: int = 0  #: epochs since the best one (patience runs out when it reaches patience)

    def update(self, row: dict) -> bool:
        """Take the next epoch's history row; True when it is the new best."""
        value = row[self.metric]
        gain = value - self.value if self.metric.endswith("_acc") else self.value - value
        if self.epoch < 0 or gain > self.min_delta:
            self.epoch, self.value, self.since = row["epoch"], value, 0
            return True
        self.since += 1
        return False


@dataclass
class FitResult:
    """What ``fit`` returns: per-epoch history rows, the final summary and the trained model."""

    history: list[dict] = field(default_factory=list)  #: one row per epoch run, 0 = at init
    status: str = "completed"  #: completed | diverged | pruned (a search stopped it)
    error: str | None = None
    train_seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False)  #: trained, in eval mode
    epochs_run: int = 0  #: the last epoch trained (< trainer.epochs if stopped or diverged)
    best_epoch: int = 0  #: where trainer.early_stopping.metric was best (0 = at init)
    model_epoch: int = 0  #: whose weights ``model`` holds: best_epoch under early stopping
    early_stopping: bool = False  #: trainer.early_stopping.patience was set
    stopped_early: bool = False  #: patience ran out before trainer.epochs

    def settle(self, best: BestEpoch, early_stopping: bool) -> None:
        """The epochs of a finished run; under early stopping, ``model`` holds the best's
        weights (a diverged run keeps the weights it diverged with)."""
        self.epochs_run = self.history[-1]["epoch"]
        self.best_epoch = max(best.epoch, 0)  # -1 when the initial network diverged
        self.early_stopping = early_stopping
        restored = early_stopping and self.status == "completed"
        self.model_epoch = self.best_epoch if restored else self.epochs_run


def summarize(fitted: FitResult, task: str) -> dict:
    """The metric keys of ``result.json``.

    ``train_loss`` ... ``val_acc`` are those of the weights returned (the best epoch
    under early stopping, else the last); ``best_*`` those of the best epoch; under
    early stopping ``last_*`` those of the last epoch run.
    """
    names = [m for m in METRIC_NAMES if task != "regression" or m.endswith("loss")]
    kept, best, last = (
        fitted.history[e] for e in (fitted.model_epoch, fitted.best_epoch, fitted.epochs_run)
    )
    out = {"epochs_run": fitted.epochs_run, **{k: kept[k] for k in names}}
    if task != "regression":
        out["best_val_acc"] = best["val_acc"]
    out["best_val_loss"] = best["val_loss"]
    out["best_epoch"] = fitted.best_epoch
    if fitted.early_stopping:
        out.update({f"last_{k}": last[k] for k in names})
    return out


def scores(out: torch.Tensor, y: torch.Tensor, loss: str) -> list[torch.Tensor]:
    """``[loss]`` for regression, ``[loss, accuracy]`` for classification, as 0-d tensors."""
    value = LOSSES[loss][0](out, y)
    if loss in ONE_LOGIT:
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

    The lr follows ``lr_factor`` once per epoch; ``optimizer.grad_clip`` scales each
    step's gradients to that global norm. Under early stopping (``patience``) training
    ends after that many epochs without a new best, and ``model`` gets the best
    epoch's weights back (Prechelt 1998, "Early stopping - but when?").

    Most sweep models are tiny, so the loop is built around per-step overhead, not
    FLOPs: each batch is gathered from the split's tensors on the device (no shuffled
    copy of the split), gradients come from ``autograd.grad`` (no ``.grad`` to zero), the
    optimizer is torch.optim's fused update without the class around it, and metrics
    stay tensors until one host sync per epoch.
    """
    t: TrainerSettings = s.trainer
    o, patience = s.optimizer, t.early_stopping.patience
    device = data.X_train.device
    loss_fn = LOSSES[loss][0]
    y_train, y_val = (
        targets_for(data.y_train, loss),
        (None if data.y_val is None else targets_for(data.y_val, loss)),
    )
    n = len(data.X_train)
    batch = n if t.batch_size is None else min(t.batch_size, n)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, o)
    shuffle = torch.Generator(device="cpu").manual_seed(s.seed + 1)
    torch.manual_seed(s.seed)  # dropout draws from the global generator
    result = FitResult(model=model)
    best = BestEpoch(early_stopping_metric(t.early_stopping, data), t.early_stopping.min_delta)
    best_state = None  # under early stopping: the best epoch's weights (and norm buffers)
    start = time.perf_counter()

    def record(epoch: int) -> bool:
        nonlocal best_state
        # Eval mode: dropout off, batch norm on its running stats; the training split's
        # first TRAIN_SAMPLE rows, the validation split whole.
        model.eval()
        with torch.no_grad():
            sample = slice(0, TRAIN_SAMPLE)
            tr = scores(model(data.X_train[sample]), y_train[sample], loss)
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
        if best.update(row) and patience is not None:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    if record(0):
        for epoch in range(1, t.epochs + 1):
            lr = o.lr * lr_factor(o, epoch, t.epochs)
            order = torch.randperm(n, generator=shuffle).to(device)
            for i in range(0, n, batch):
                # each batch gathered from the split, as fit_many does: a shuffled copy of
                # the whole split each epoch was 13% of an MNIST-sized epoch (its page faults)
                rows = order[i : i + batch]
                X, y = data.X_train.index_select(0, rows), y_train.index_select(0, rows)
                step_loss = loss_fn(model(X), y)
                grads = torch.autograd.grad(step_loss, params)
                if o.grad_clip is not None:
                    grads = clip_grad_norm(grads, o.grad_clip)
                optimizer(grads, lr)
            if not record(epoch):
                break
            if progress is not None:
                progress(epoch, result.history[-1])
            if patience is not None and best.since >= patience:
                result.stopped_early = epoch < t.epochs
                break
    result.settle(best, early_stopping=patience is not None)
    if result.model_epoch != result.epochs_run:  # restore the best epoch's weights
        model.load_state_dict(best_state)
    result.train_seconds = time.perf_counter() - start
    model.eval()
    return result


def build_model(s: RunSettings, data: Dataset) -> tuple[nn.Module, str]:
    """The model ``s`` describes, sized for ``data`` and drawn from ``s.seed``, and its loss."""
    from .model import make_mlp

    loss = resolve_loss(s.loss, data.task, data.n_classes)
    early_stopping_metric(s.trainer.early_stopping, data)  # refused here, before any training
    init_gen = torch.Generator(device="cpu").manual_seed(s.seed)
    m = s.model
    model = make_mlp(
        data.in_dim, list(m.hidden), output_dim(loss, data), m.activation, m.init, m.init_std,
        m.dropout, m.norm, m.residual, generator=init_gen,
    ).to(data.X_train.device)  # fmt: skip
    return model, loss


def prepare(s: RunSettings, gpu: int | None = None) -> tuple[Dataset, nn.Module, str]:
    """The data, the network as drawn for ``s.seed``, and its loss (what a run starts from)."""
    data = load(s.dataset, resolve_device(s.trainer.device, gpu))
    model, loss = build_model(s, data)
    return data, model, loss
