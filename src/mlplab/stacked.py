"""``fit_many``: K compatible MLPs trained at once as one stacked model.

Most sweep jobs are tiny MLPs whose cost is per-step overhead, not FLOPs. Models that
share depth, activation, loss, optimizer, batch size and epochs (``stack_key``) are
stacked along a leading model axis: weights (K, fan_in, fan_out), activations
(K, batch, width), one batched matmul per layer, a hand-written backward (autograd's
engine costs more than the arithmetic at these sizes) and one elementwise optimizer
over a flat (K, P) parameter buffer. Narrower models are padded to the widest with
zeros that stay exactly zero (their gradients are masked).

Each model gets what ``fit`` would give it alone, up to floating-point rounding
(tests/test_stacked.py checks this against ``fit``): the initial weights of
``build_model(settings, data)``, ``fit``'s shuffle order (one ``randperm`` per epoch
from ``Generator().manual_seed(seed + 1)``), dropout masks drawn in ``fit``'s order
from a generator in ``fit``'s global-generator state (exact on CPU), its own
learning rate, weight decay, momentum, lr schedule and warmup, its own gradient
clipping (over its own real parameters), and its own divergence and early stopping,
each of which freezes that model alone: it leaves the stack, the rest train on.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .data import Dataset
from .grouping import stack_key, stackable
from .model import ACTIVATIONS
from .results import atomic_write, write_json
from .settings import RunSettings
from .train import (
    ADAM_BETAS,
    ADAM_EPS,
    CLIP_EPS,
    LOSSES,
    ONE_LOGIT,
    RMSPROP_ALPHA,
    RMSPROP_EPS,
    TRAIN_SAMPLE,
    BestEpoch,
    FitResult,
    build_model,
    early_stopping_metric,
    history_row,
    is_finite_row,
    lr_factor,
    resolve_loss,
    targets_for,
)

aten = torch.ops.aten
LEAKY_SLOPE = ACTIVATIONS["leaky_relu"]().negative_slope

# Activation name -> (forward of z, the same in place, backward of (grad wrt output, z,
# output)). The backward functions are the ATen kernels autograd runs for these
# activations in fit, so both compute the same thing in the same way.
STACKED_ACTIVATIONS = {
    "relu": (torch.relu, torch.relu_, lambda g, z, a: aten.threshold_backward(g, a, 0)),
    "leaky_relu": (
        lambda z: F.leaky_relu(z, LEAKY_SLOPE),
        lambda z: F.leaky_relu_(z, LEAKY_SLOPE),
        lambda g, z, a: aten.leaky_relu_backward(g, z, LEAKY_SLOPE, False),
    ),
    "gelu": (F.gelu, aten.gelu_, lambda g, z, a: aten.gelu_backward(g, z)),
    "tanh": (torch.tanh, torch.tanh_, lambda g, z, a: aten.tanh_backward(g, a)),
    "sigmoid": (torch.sigmoid, torch.sigmoid_, lambda g, z, a: aten.sigmoid_backward(g, a)),
    "silu": (F.silu, lambda z: F.silu(z, inplace=True), lambda g, z, a: aten.silu_backward(g, z)),
    "identity": (lambda z: z, lambda z: z, lambda g, z, a: g),
}


# ---------------------------------------------------------------- the stacked network


def _layout(sizes: list[int]) -> tuple[list[tuple[int, tuple[int, int]]], int]:
    """(offset, shape) of W0, b0, W1, b1, ... in a flat (K, P) buffer, and P."""
    slots, offset = [], 0
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        slots += [(offset, (fan_in, fan_out)), (offset + fan_in * fan_out, (1, fan_out))]
        offset += fan_in * fan_out + fan_out
    return slots, offset


def _layers(flat: torch.Tensor, slots) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer views (W (K, fan_in, fan_out), b (K, 1, fan_out)) into ``flat`` (K, P)."""
    K = flat.shape[0]
    views = [flat[:, a : a + r * c].view(K, r, c) for a, (r, c) in slots]
    return list(zip(views[::2], views[1::2]))


@dataclass
class Stacked:
    """K plain MLPs of one depth and activation (``make_mlp`` without norm or residual) as one
    padded flat buffer: row k of ``params`` is model k, laid out by ``_layout``. What
    ``fit_many`` trains and ``diagnostics.stack_*`` measure, through the same ``forward``."""

    params: torch.Tensor  #: (K, P) every weight and bias, zero on padding
    sizes: list[int]  #: the padded widths: input, hidden layers, output
    widths: list[list[int]]  #: each model's real widths: hidden layers, then the output
    activation: str  #: one name of ``STACKED_ACTIVATIONS``

    @property
    def slots(self):
        return _layout(self.sizes)[0]

    @property
    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer views (W (K, fan_in, fan_out), b (K, 1, fan_out)) into ``params``."""
        return _layers(self.params, self.slots)

    def like(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer views into another (K, P) buffer laid out as ``params`` (its gradients)."""
        return _layers(flat, self.slots)

    def real(self) -> torch.Tensor:
        """(K, P): 1 on each model's real weights and biases, 0 on padding."""
        mask = torch.zeros_like(self.params)
        for k, widths in enumerate(self.widths):
            fan_ins = [self.sizes[0], *widths[:-1]]
            for (W, b), fan_in, fan_out in zip(self.like(mask), fan_ins, widths):
                W[k, :fan_in, :fan_out] = 1
                b[k, 0, :fan_out] = 1
        return mask


def stack_models(models: list[nn.Module], activation: str, sizes: list[int] | None = None):
    """``Stacked`` copies of ``make_mlp`` networks of one depth and activation, padded to the
    widest (or to ``sizes``)."""
    linears = [[m for m in model if isinstance(m, nn.Linear)] for model in models]
    widths = [[lin.out_features for lin in layer] for layer in linears]
    if sizes is None:
        sizes = [linears[0][0].in_features, *map(max, zip(*widths))]
    slots, P = _layout(sizes)
    params = linears[0][0].weight.new_zeros(len(models), P)
    views = _layers(params, slots)
    with torch.no_grad():
        for k, layer in enumerate(linears):
            for (W, b), lin in zip(views, layer):
                W[k, : lin.in_features, : lin.out_features] = lin.weight.T
                b[k, 0, : lin.out_features] = lin.bias
    return Stacked(params, list(sizes), widths, activation)


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` per model, for a (K, m, k) and b (K, k, n).

    One-unit layers make matrix-vector shapes, where batched GEMM (MKL, one thread)
    is 3-7x faster computing the transposed product b^T a^T (a row vector times a
    matrix) than a matrix times a column vector; an outer product is a broadcast.
    """
    if a.shape[2] == 1:
        return a * b
    if b.shape[2] == 1:
        return torch.bmm(b.transpose(1, 2), a.transpose(1, 2)).transpose(1, 2)
    return torch.bmm(a, b)


def _linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x (K, B, fan_in) @ W (K, fan_in, fan_out) + b (K, 1, fan_out)."""
    if x.shape[2] == 1 or W.shape[2] == 1:
        return _bmm(x, W).add_(b)
    return torch.baddbmm(b, x, W)


def forward(layers, x, activation, masks=None):
    """Output (K, B, out) and, per layer, (input, z, activation) for ``_backward``."""
    act = STACKED_ACTIVATIONS[activation][0]
    cache = []
    h = x
    for l, (W, b) in enumerate(layers[:-1]):
        z = _linear(h, W, b)
        a = act(z)
        cache.append((h, z, a))
        h = a if masks is None else a * masks[l]  # dropout after the activation, as make_mlp
    W, b = layers[-1]
    cache.append((h, None, None))
    return _linear(h, W, b), cache


def _predict(layers, X: torch.Tensor, activation: str) -> torch.Tensor:
    """Eval-mode outputs (K, N, out) of every model on the shared inputs X (N, in)."""
    act_ = STACKED_ACTIVATIONS[activation][1]
    h = X.expand(layers[0][0].shape[0], -1, -1)
    for W, b in layers[:-1]:
        # In place: a fresh multi-MB temporary every epoch costs more in page faults
        # than the arithmetic (3x on the benchmark's K=200 evaluation).
        h = act_(_linear(h, W, b))
    W, b = layers[-1]
    return _linear(h, W, b)


def _backward(layers, cache, dout, activation, masks, out: torch.Tensor) -> torch.Tensor:
    """Gradients of every model's mean loss, written into ``out`` (K, P) laid out as the weights."""
    act_grad = STACKED_ACTIVATIONS[activation][2]
    grads = []
    dz = dout  # (K, B, fan_out) of the current layer
    for l in range(len(layers) - 1, -1, -1):
        h = cache[l][0]
        grads += [dz.sum(1, keepdim=True), _bmm(h.transpose(1, 2), dz)]  # b, then W
        if l > 0:
            dh = _bmm(dz, layers[l][0].transpose(1, 2))
            if masks is not None:
                dh = dh * masks[l - 1]
            _, z, a = cache[l - 1]
            dz = act_grad(dh, z, a)
    K = dout.shape[0]
    return torch.cat([g.reshape(K, -1) for g in reversed(grads)], 1, out=out)


def _loss_grad(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """d(each model's mean loss)/d(out) for out (K, B, out): what autograd gives fit."""
    if loss == "bce":
        return (torch.sigmoid(out) - y).div_(out[0].numel())
    if loss == "mse":
        return (out - y).mul_(2 / out[0].numel())
    if loss == "sigmoid_mse":  # MSE's gradient on the probability, then back through the sigmoid
        p = torch.sigmoid(out)
        return aten.sigmoid_backward((p - y).mul_(2 / out[0].numel()), p)
    # cross-entropy: softmax minus the one-hot target, y (K, B) class indices
    grad = torch.softmax(out, 2)
    grad.scatter_add_(2, y.unsqueeze(2), torch.full_like(grad[..., :1], -1.0))
    return grad.div_(out.shape[1])


EVAL_BUDGET = 1 << 24  # floats of activations one evaluation chunk may hold (64 MB)


def _scores_in_chunks(layers, X, y, activation: str, loss: str) -> list[torch.Tensor]:
    """``stack_scores`` of every model on all of X, a chunk of rows at a time: (K,) float64 each.

    A chunk's means are weighted by its rows in float64, which is exact for one chunk
    (a float32 times an integer, divided by it again): small sets get the one-pass numbers.
    """
    K, widest = layers[0][0].shape[0], max(W.shape[2] for W, _ in layers)
    rows = max(1, EVAL_BUDGET // (K * widest))
    totals = None
    for i in range(0, len(X), rows):
        x = X[i : i + rows]
        weighted = [
            value.double() * len(x)
            for value in stack_scores(_predict(layers, x, activation), y[i : i + rows], loss)
        ]
        totals = weighted if totals is None else [a + b for a, b in zip(totals, weighted)]
    return [total / len(X) for total in totals]


def stack_scores(out: torch.Tensor, y: torch.Tensor, loss: str) -> list[torch.Tensor]:
    """Per-model (K,) loss [and accuracy] for out (K, N, out) against shared targets y."""
    K = out.shape[0]
    if loss == "cross_entropy":
        value = F.cross_entropy(out.reshape(K * len(y), -1), y.repeat(K), reduction="none")
        return [value.view(K, -1).mean(1), (out.argmax(2) == y).float().mean(1)]
    value = LOSSES[loss][0](out, y.expand_as(out), reduction="none").mean((1, 2))
    if loss in ONE_LOGIT:
        return [value, ((out > 0).float() == y).float().mean((1, 2))]
    return [value]


# ---------------------------------------------------------------- the stacked optimizer
# torch.optim's single-tensor formulas (torch/optim/adam.py, sgd.py, rmsprop.py) on the
# flat (K, P) buffer, with lr, weight decay and momentum as (K, 1) columns. ``state``
# holds the (K, P) buffers torch.optim keeps per parameter, plus a scratch buffer:
# every op is in place, because fresh multi-MB temporaries each step cost more in
# page faults than the arithmetic on wide models. ``g`` is fit_many's own gradient
# buffer and may be overwritten. ``t`` is the step count, shared by the whole stack.


def _adam_step(p, g, state, hp, t, decoupled=False):
    m, v, scratch = state
    if decoupled:  # AdamW [Loshchilov & Hutter 2019]: decay the weights, not the gradient
        p.mul_(1 - hp["lr"] * hp["weight_decay"])
    elif hp["any_decay"]:
        g.addcmul_(p, hp["weight_decay"])  # the L2 penalty's gradient, as torch.optim adds it
    beta1, beta2 = ADAM_BETAS
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    denom = torch.sqrt(v, out=scratch).div_(math.sqrt(1 - beta2**t)).add_(ADAM_EPS)
    step_size = hp["lr"] / (1 - beta1**t)  # (K, 1)
    p.sub_(torch.div(m, denom, out=scratch).mul_(step_size))


def _sgd_step(p, g, state, hp, t):
    (buf,) = state
    if hp["any_decay"]:
        g.addcmul_(p, hp["weight_decay"])
    if hp["any_momentum"]:  # a model with momentum 0 keeps buf == g: 0 * buf + g
        if t == 1:
            buf.copy_(g)
        else:
            buf.mul_(hp["momentum"]).add_(g)
        g = buf
    p.addcmul_(g, hp["lr"], value=-1)


def _rmsprop_step(p, g, state, hp, t):
    square_avg, buf, scratch = state
    if hp["any_decay"]:
        g.addcmul_(p, hp["weight_decay"])
    square_avg.mul_(RMSPROP_ALPHA).addcmul_(g, g, value=1 - RMSPROP_ALPHA)
    avg = torch.sqrt(square_avg, out=scratch).add_(RMSPROP_EPS)
    step = torch.div(g, avg, out=scratch)
    if hp["any_momentum"]:
        step = buf.mul_(hp["momentum"]).add_(step)
    p.addcmul_(step, hp["lr"], value=-1)


# Optimizer name -> (its update, how many (K, P) buffers its state holds)
STACKED_OPTIMIZERS = {
    "adam": (_adam_step, 3),
    "adamw": (lambda p, g, state, hp, t: _adam_step(p, g, state, hp, t, decoupled=True), 3),
    "sgd": (_sgd_step, 1),
    "rmsprop": (_rmsprop_step, 3),
}


# ---------------------------------------------------------------- a stack's saved work


class Stopped(BaseException):
    """The sweep asked a running stack to stop (Ctrl-C, SIGTERM); its state is saved.

    Not an ``Exception``: nothing that records a job's failure may catch it."""


@dataclass
class Watch:
    """What a sweep asks of a stack while it trains, besides the training.

    ``progress(n)`` hears of every epoch: n models trained one more epoch (job-epochs, the
    sweep bar's unit). ``prune`` (an Optuna search's pruner) hears each model's history row
    at every epoch but the last, and names the models that leave the stack there, as
    early stopping makes them leave (status ``pruned``, their weights as they are). When ``stop()`` turns true, the stack saves its state at the end of
    the epoch it is in and raises ``Stopped``. It also saves every ``every`` seconds of
    training (0: only when stopped), so a SIGKILL loses at most that much. ``state`` is the
    file it saves to (``torch.save`` of tensors, numbers and strings; read back with
    ``weights_only=True``), written atomically, with a JSON manifest beside it naming the
    stack's ``jobs`` (identities) and its epoch for the sweep's plan, which reads no torch.
    The same stack, started again with the same ``state``, goes on from that epoch and ends
    exactly as it would have uninterrupted; ``forget()`` removes the files once its jobs are
    written.
    """

    state: Path | None = None
    jobs: list[str] = field(default_factory=list)
    every: float = 0.0
    stop: Callable[[], bool] = lambda: False
    progress: Callable[[int], None] = lambda n: None
    #: a search's pruner: given {k: this epoch's history row} of the models still training
    #: (k: their place in the stack's settings), the k that leave now, ``pruned``
    prune: Callable[[dict[int, dict]], set[int]] | None = None

    @property
    def manifest(self) -> Path:
        return self.state.with_suffix(".json")

    def save(self, state: dict) -> None:
        if self.state is None:
            return
        atomic_write(self.state, lambda tmp: torch.save(state, tmp))
        write_json(self.manifest, {"jobs": self.jobs, "epoch": state["epoch"]})

    def saved(self) -> dict | None:
        if self.state is None or not self.state.exists():
            return None
        return torch.load(self.state, weights_only=True)

    def forget(self) -> None:
        if self.state is not None:
            self.manifest.unlink(missing_ok=True)
            self.state.unlink(missing_ok=True)


def _settings_key(settings_list: list[RunSettings]) -> str:
    """A digest of every setting of the stack: a saved state is used only by the same stack."""
    text = json.dumps([asdict(s) for s in settings_list], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- fit_many


@dataclass
class _Member:
    """One model of the stack: its settings, its network and result, its dropout stream."""

    settings: RunSettings
    model: nn.Module  #: built by build_model; receives the trained weights
    dropout_gen: torch.Generator | None  #: fit's global generator after manual_seed(seed)
    best: BestEpoch  #: its early-stopping metric's best epoch so far, as fit keeps it
    result: FitResult = field(default_factory=FitResult)

    @property
    def patience(self) -> int | None:
        return self.settings.trainer.early_stopping.patience


@dataclass
class _Stack:
    """The live models as stacked tensors; row k of every tensor is ``members[k]``."""

    members: list[_Member]
    params: torch.Tensor  #: (K, P) every weight and bias, laid out by ``_layout``
    mask: torch.Tensor | None  #: (K, P) 1 on real units, 0 on padding; None: no padding
    state: list[torch.Tensor]  #: the optimizer's (K, P) buffers
    hp: dict  #: lr, weight_decay, momentum, grad_clip (inf: off) as (K, 1) columns; any_*
    dropout: bool  #: whether any member uses dropout
    best_params: torch.Tensor | None  #: (K, P) each model's best epoch's weights (patience)


def _stack(members: list[_Member], sizes: list[int], n_state: int, device) -> _Stack:
    """Copy every member's weights into the padded flat buffer; zero optimizer state."""
    net = stack_models([m.model for m in members], members[0].settings.model.activation, sizes)
    params = net.params.to(device)
    padded = any(m.settings.model.hidden != members[0].settings.model.hidden for m in members)
    mask = net.real().to(device) if padded else None
    o = [m.settings.optimizer for m in members]
    clip = [math.inf if x.grad_clip is None else x.grad_clip for x in o]
    hp = {
        "lr": torch.tensor([[x.lr] for x in o], device=device),
        "weight_decay": torch.tensor([[x.weight_decay] for x in o], device=device),
        "momentum": torch.tensor([[x.momentum] for x in o], device=device),
        "grad_clip": torch.tensor([[c] for c in clip], device=device),
        "any_decay": any(x.weight_decay for x in o),
        "any_momentum": any(x.momentum for x in o),
        "any_clip": any(x.grad_clip is not None for x in o),
        "any_schedule": any(x.schedule != "constant" or x.warmup_epochs for x in o),
    }
    state = [torch.zeros_like(params) for _ in range(n_state)]
    best_params = params.clone() if any(m.patience is not None for m in members) else None
    return _Stack(
        members, params, mask, state, hp, any(m.dropout_gen for m in members), best_params
    )


def _keep(stack: _Stack, rows: list[int]) -> _Stack:
    """The stack without the models not in ``rows`` (those that diverged or stopped)."""
    index = torch.tensor(rows, device=stack.params.device)
    hp = {k: v.index_select(0, index) if torch.is_tensor(v) else v for k, v in stack.hp.items()}
    members = [stack.members[k] for k in rows]
    return _Stack(
        members, stack.params.index_select(0, index),
        None if stack.mask is None else stack.mask.index_select(0, index),
        [buf.index_select(0, index) for buf in stack.state], hp,
        any(m.dropout_gen for m in members),
        None if stack.best_params is None else stack.best_params.index_select(0, index),
    )  # fmt: skip


def _unstack(params_row: torch.Tensor, slots, model: nn.Module) -> None:
    """Copy one model's weights (a (P,) row of the flat buffer) back into its nn.Sequential."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for (W, b), lin in zip(_layers(params_row[None], slots), linears):
        lin.weight.copy_(W[0, : lin.in_features, : lin.out_features].T)
        lin.bias.copy_(b[0, 0, : lin.out_features])
    model.eval()


def _dropout_masks(members: list[_Member], sizes: list[int], batch: int, device):
    """Per hidden layer a (K, batch, width) mask, drawn as fit's nn.Dropout draws it:
    bernoulli(1 - p) / (1 - p) of shape (batch, width) per model and layer, in layer order."""
    masks = [torch.zeros(len(members), batch, width, device=device) for width in sizes[1:-1]]
    for k, member in enumerate(members):
        keep = 1 - member.settings.model.dropout
        for l, width in enumerate(member.settings.model.hidden):
            if member.dropout_gen is None:
                masks[l][k, :, :width] = 1.0
            else:
                draw = torch.empty(batch, width).bernoulli_(keep, generator=member.dropout_gen)
                masks[l][k, :, :width] = draw.div_(keep)
    return masks


@torch.no_grad()
def fit_many(
    settings_list: list[RunSettings],
    data: Dataset,
    models: list[nn.Module] | None = None,
    watch: Watch | None = None,
) -> list[FitResult]:
    """Train every model of ``settings_list`` (one ``stack_key``) on ``data`` at once.

    Returns one ``FitResult`` per setting, in order, as ``fit`` would: the history
    (epoch 0 = at init; eval-mode loss and accuracy on the full splits every epoch),
    the status (a non-finite loss freezes that model alone as ``diverged``), its
    early stopping (patience that runs out freezes that model alone, with its best
    epoch's weights) and ``.model``: the ``build_model`` network holding the trained
    weights, in eval mode, ready for ``model.state_dict()`` and safetensors. ``models``:
    the networks ``build_model`` gives these settings, if the caller has them already
    (they are trained in place). ``seconds`` and ``train_seconds`` are each model's share
    of the group's wall time (elapsed / K),
    so they add up to the sweep's time. Threads are the caller's (torch.set_num_threads).
    ``watch``: progress, stopping and saved state for a sweep (``Watch``); a state saved by
    the same settings is taken up where it stopped.
    """
    watch = watch or Watch()
    if not settings_list:
        return []
    if len({stack_key(s) for s in settings_list} - {None}) != 1 or not all(
        map(stackable, settings_list)
    ):
        raise ValueError(
            "fit_many needs stackable settings that share one stack_key; group them with "
            "stack_groups() and train the rest with fit()."
        )
    run = _Training(settings_list, data, models)
    saved = watch.saved()
    if saved is not None and saved["settings"] != _settings_key(settings_list):
        saved = None  # another stack's (it cannot happen through a sweep's file names)
    live, first_epoch = (
        (run.record(0), 1) if saved is None else (run.restore(saved), saved["epoch"] + 1)
    )
    last_save = time.perf_counter()
    for epoch in range(first_epoch, run.epochs + 1):
        if len(live) < len(run.stack.members):
            if not live:
                break
            run.stack = _keep(run.stack, live)
        run.train_epoch(epoch)
        live = run.record(epoch)
        if watch.prune is not None and live and epoch < run.epochs:
            live = _pruned(run.stack, live, watch.prune, run.position, epoch, run.slots)
        watch.progress(len(run.stack.members))
        if live and epoch < run.epochs:
            stopping = watch.stop()
            if stopping or (watch.every and time.perf_counter() - last_save >= watch.every):
                watch.save(run.state(epoch, live))
                last_save = time.perf_counter()
            if stopping:
                raise Stopped
    return run.finish(live)


class _Training:
    """One ``fit_many`` call's stack and what it needs: set up once, then an epoch at a time
    (``train_epoch``), each followed by ``record``; ``finish`` gives the results."""

    def __init__(self, settings_list: list[RunSettings], data: Dataset, models) -> None:
        self.everyone, loss = [], None
        for k, s in enumerate(settings_list):
            # fit's exact initial weights for this seed; one stack_key means one loss
            model, loss = build_model(s, data) if models is None else (models[k], None)
            loss = loss or resolve_loss(s.loss, data.task, data.n_classes)
            dropout_gen = torch.Generator().manual_seed(s.seed) if s.model.dropout else None
            es = s.trainer.early_stopping
            best = BestEpoch(early_stopping_metric(es, data), es.min_delta)
            self.everyone.append(_Member(s, model, dropout_gen, best))
        first = settings_list[0]
        self.settings_list, self.data, self.loss = settings_list, data, loss
        self.epochs, self.activation = first.trainer.epochs, first.model.activation
        self.device, self.n = data.X_train.device, len(data.X_train)
        widest = [
            max(s.model.hidden[l] for s in settings_list) for l in range(len(first.model.hidden))
        ]
        self.sizes = [data.in_dim, *widest, self.everyone[0].model[-1].out_features]
        self.slots, _ = _layout(self.sizes)
        self.batch = (
            self.n if first.trainer.batch_size is None else min(first.trainer.batch_size, self.n)
        )
        self.update, n_state = STACKED_OPTIMIZERS[first.optimizer.name]
        self.stack = _stack(self.everyone, self.sizes, n_state, self.device)
        # One shuffle generator per seed (fit's): models that share a seed share its order.
        self.shuffles = {s.seed: torch.Generator().manual_seed(s.seed + 1) for s in settings_list}
        self.y_train = targets_for(data.y_train, loss)
        self.y_val = None if data.y_val is None else targets_for(data.y_val, loss)
        self.position = {id(m): k for k, m in enumerate(self.everyone)}
        self.step, self.start = 0, time.perf_counter()

    def train_epoch(self, epoch: int) -> None:
        """One epoch of every live model: its lr for the epoch, then each batch's step."""
        stack, device, data, y_train = self.stack, self.device, self.data, self.y_train
        if stack.hp["any_schedule"]:  # each model's lr for this epoch, as fit computes it
            stack.hp["lr"] = torch.tensor(
                [[m.settings.optimizer.lr * lr_factor(m.settings.optimizer, epoch, self.epochs)]
                 for m in stack.members], device=device,
            )  # fmt: skip
        K, layers = len(stack.members), _layers(stack.params, self.slots)
        grads = torch.empty_like(stack.params)  # (K, P), written by _backward
        perms = {seed: torch.randperm(self.n, generator=g) for seed, g in self.shuffles.items()}
        order = torch.stack([perms[m.settings.seed] for m in stack.members]).to(device)  # (K, n)
        for i in range(0, self.n, self.batch):
            # each model's batch gathered from the one shared X: no per-model copy of the data
            rows = order[:, i : i + self.batch]
            x = data.X_train.index_select(0, rows.reshape(-1)).view(K, rows.shape[1], -1)
            y = y_train.index_select(0, rows.reshape(-1)).view(K, rows.shape[1], *y_train.shape[1:])
            masks = (
                _dropout_masks(stack.members, self.sizes, len(x[0]), device)
                if stack.dropout
                else None
            )
            out, cache = forward(layers, x, self.activation, masks)
            _backward(
                layers, cache, _loss_grad(out, y, self.loss), self.activation, masks, out=grads
            )
            if stack.mask is not None:
                grads.mul_(stack.mask)  # padding gets no gradient, so it stays exactly zero
            if stack.hp["any_clip"]:
                _clip(grads, stack.hp["grad_clip"])
            self.step += 1
            self.update(stack.params, grads, stack.state, stack.hp, self.step)

    def record(self, epoch: int) -> list[int]:
        """Append each live model's history row; return the rows that train on.

        A model that diverged keeps the weights it diverged with; one whose patience
        ran out gets its best epoch's weights, as fit gives them.
        """
        stack, data, slots = self.stack, self.data, self.slots
        layers = _layers(stack.params, slots)
        sample = slice(0, TRAIN_SAMPLE)  # the training split's first rows, as fit measures
        train = _scores_in_chunks(
            layers, data.X_train[sample], self.y_train[sample], self.activation, self.loss
        )
        val = (
            []
            if data.X_val is None
            else _scores_in_chunks(layers, data.X_val, self.y_val, self.activation, self.loss)
        )
        per_model = torch.stack(train + val, 1).tolist()  # (K, metrics): one host sync
        seconds = (time.perf_counter() - self.start) / len(self.everyone)
        live, improved, stopped = [], [], []
        for k, (member, values) in enumerate(zip(stack.members, per_model)):
            row = history_row(epoch, values[: len(train)], values[len(train) :] or None, seconds)
            member.result.history.append(row)
            if not is_finite_row(row):
                member.result.status = "diverged"
                member.result.error = f"non-finite loss at epoch {epoch}"
                _unstack(stack.params[k], slots, member.model)  # the weights it diverged with
                continue
            if member.best.update(row) and member.patience is not None:
                improved.append(k)
            if member.patience is not None and member.best.since >= member.patience:
                stopped.append(k)
            else:
                live.append(k)
        if improved:  # each model's best weights so far, one copy for the stack
            index = torch.tensor(improved, device=self.device)
            stack.best_params.index_copy_(0, index, stack.params.index_select(0, index))
        for k in stopped:
            stack.members[k].result.stopped_early = epoch < self.epochs
            _unstack(stack.best_params[k], slots, stack.members[k].model)
        return live

    def state(self, epoch: int, live: list[int]) -> dict:
        """The stack's state after ``epoch``: what the next epoch starts from."""
        stack = self.stack
        return {
            "settings": _settings_key(self.settings_list), "epoch": epoch, "step": self.step,
            "elapsed": time.perf_counter() - self.start, "live": live,
            "rows": [self.position[id(m)] for m in stack.members],
            "params": stack.params, "optimizer": stack.state, "best_params": stack.best_params,
            "shuffles": {seed: g.get_state() for seed, g in self.shuffles.items()},
            "members": [_member_state(m, [stack.members[k] for k in live]) for m in self.everyone],
        }  # fmt: skip

    def restore(self, saved: dict) -> list[int]:
        """Take up a saved state (``state``); return its live rows."""
        self.stack = _restore(saved, self.stack, self.everyone, self.shuffles)
        self.step = saved["step"]
        self.start -= saved["elapsed"]
        return saved["live"]

    def finish(self, live: list[int]) -> list[FitResult]:
        """The models that ran every epoch get their weights; every result is settled."""
        for k in live:
            member = self.stack.members[k]
            weights = self.stack.params if member.patience is None else self.stack.best_params
            _unstack(weights[k], self.slots, member.model)
        seconds = (time.perf_counter() - self.start) / len(self.everyone)
        for member in self.everyone:
            member.result.train_seconds, member.result.model = seconds, member.model
            member.result.settle(member.best, early_stopping=member.patience is not None)
        return [member.result for member in self.everyone]


def _pruned(stack: _Stack, live: list[int], prune, position: dict, epoch: int, slots) -> list[int]:
    """The rows of ``live`` that train on after the search's pruner has heard this epoch."""
    rows = {position[id(stack.members[k])]: stack.members[k].result.history[-1] for k in live}
    leaving = prune(rows)
    kept = []
    for k in live:
        member = stack.members[k]
        if position[id(member)] in leaving:
            member.result.status = "pruned"
            _unstack(stack.params[k], slots, member.model)  # its weights at this epoch
        else:
            kept.append(k)
    return kept


def _member_state(member: _Member, training: list[_Member]) -> dict:
    """What a saved stack keeps of one model: its history and stopping state so far, its
    dropout stream, and, once it no longer trains, its final weights (they are its own)."""
    r, best = member.result, member.best
    gone = all(m is not member for m in training)
    return {
        "history": r.history, "status": r.status, "error": r.error,
        "stopped_early": r.stopped_early, "best": [best.epoch, best.value, best.since],
        "dropout": None if member.dropout_gen is None else member.dropout_gen.get_state(),
        "weights": member.model.state_dict() if gone else None,
    }  # fmt: skip


def _restore(saved: dict, stack: _Stack, everyone: list[_Member], shuffles: dict) -> _Stack:
    """The stack as ``save`` left it: its models, weights, optimizer and random streams."""
    for member, kept in zip(everyone, saved["members"]):
        r = member.result
        r.history, r.status, r.error = kept["history"], kept["status"], kept["error"]
        r.stopped_early = kept["stopped_early"]
        member.best.epoch, member.best.value, member.best.since = kept["best"]
        if kept["dropout"] is not None:
            member.dropout_gen.set_state(kept["dropout"])
        if kept["weights"] is not None:
            member.model.load_state_dict(kept["weights"])
            member.model.eval()
    for seed, state in saved["shuffles"].items():
        shuffles[seed].set_state(state)
    stack = _keep(stack, saved["rows"])
    stack.params.copy_(saved["params"])
    for buf, kept in zip(stack.state, saved["optimizer"]):
        buf.copy_(kept)
    if stack.best_params is not None:
        stack.best_params.copy_(saved["best_params"])
    return stack


def _clip(grads: torch.Tensor, max_norm: torch.Tensor) -> None:
    """Scale each row of ``grads`` (K, P) to an L2 norm of at most its ``max_norm`` (K, 1).

    fit's clip_grad_norm (torch.nn.utils.clip_grad_norm_'s rule) model by model: the
    padding's gradients are zero, so a row's norm is its model's norm over its own
    parameters; a model that does not clip has max_norm inf and keeps its gradients.
    """
    norm = torch.linalg.vector_norm(grads, dim=1, keepdim=True)
    scale = (max_norm / (norm + CLIP_EPS)).clamp_(max=1.0)
    grads.mul_(torch.where(max_norm.isinf(), 1.0, scale))
