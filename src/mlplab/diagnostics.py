"""Looking inside a network: per-layer statistics and linear-region counts.

Pure functions of a model built by ``make_mlp`` and some inputs; nothing here trains,
writes files or draws. Every measurement runs in eval mode and takes gradients with
``torch.autograd.grad`` (never ``.backward()``), so measuring a model during training
leaves no trace: no dropout draw from the global generator, no BatchNorm running-stat
update, no ``.grad`` left on a parameter. A run with diagnostics every epoch trains
bit for bit like one without.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from . import stacked
from .model import ResidualBlock
from .stacked import Stacked, stack_models  # noqa: F401  (the stack measured here)
from .train import LOSSES, targets_for

# The units whose sign pattern cuts the input space into linear regions. Leaky ReLU
# has the same kink at 0 as ReLU, so its regions are counted the same way.
PIECEWISE_LINEAR_UNITS = (nn.ReLU, nn.LeakyReLU)
PIECEWISE_LINEAR_NAMES = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}  # model.activation names
# Modules that keep a network piecewise linear in eval mode (BatchNorm is then an
# affine map with its running statistics; dropout is the identity).
_PIECEWISE_LINEAR = (
    *PIECEWISE_LINEAR_UNITS, nn.Linear, nn.Identity, nn.Dropout, nn.BatchNorm1d, nn.Sequential,
    ResidualBlock,
)  # fmt: skip

# layers.csv is measured on the training split's first rows (shuffled), at most this many:
# a fixed sample, so that measuring stays a small share of a short training. Measured on
# scripts/bench_real.py's middle size (8,000 training rows, 2 epochs, its 12-job sweep):
# the statistics at init and at the end cost 95% of the sweep's training on 4,096 rows,
# 13% on 512, 7% on 256. The history's train metrics keep train.TRAIN_SAMPLE rows.
LAYER_SAMPLE = 256

# Grid sizes for counting regions: cell midpoints, so a grid point never sits on a
# kink of a hand-built network whose kinks are at round numbers.
LINE_POINTS = 4096
PLANE_POINTS = 200  # per axis: 40 000 points


@contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def layers_of(model: nn.Sequential) -> list[list[nn.Module]]:
    """Group a ``make_mlp`` network into layers: a module holding a Linear, then what follows it.

    Plain MLP: ``[Linear, (norm), act, (dropout)]`` per hidden layer, then ``[Linear]``
    (the output layer). Residual MLP: ``[Linear]`` (the embedding), one layer per
    residual block, then the output layer.
    """
    groups: list[list[nn.Module]] = []
    for module in model:
        if any(isinstance(m, nn.Linear) for m in module.modules()) or not groups:
            groups.append([module])
        else:
            groups[-1].append(module)
    return groups


def hidden_activations(model: nn.Sequential, X: torch.Tensor) -> list[torch.Tensor]:
    """Each hidden layer's output (after its activation) on ``X``, in eval mode: (N, width) each."""
    with _eval_mode(model), torch.no_grad():
        return _layer_outputs(model, X)[:-1]


def _layer_outputs(model: nn.Sequential, X: torch.Tensor) -> list[torch.Tensor]:
    outputs, h = [], X
    for group in layers_of(model):
        for module in group:
            h = module(h)
        outputs.append(h)
    return outputs


def _target(y: torch.Tensor, loss: str) -> torch.Tensor:
    return y.reshape(-1).long() if loss == "cross_entropy" else y


def layer_stats(
    model: nn.Sequential, X: torch.Tensor, y: torch.Tensor | None, loss: str | None
) -> list[dict]:
    """One row per layer (hidden layers, then the output layer) measured on ``X``, ``y``.

    - ``act_mean``, ``act_std``, ``act_abs_mean``: over all N x width outputs of the
      layer (after its activation; the output layer's are the logits). ``act_std`` is
      the population std; ``act_abs_mean`` is seed 004's "mean |activation|".
    - ``zero_fraction``: share of those outputs that are exactly 0;
      ``dead_fraction``: share of units that are 0 on *every* row of ``X`` (a dead
      ReLU gets no gradient from any sample). Both None for the output layer.
    - ``weight_norm``, ``grad_norm``: Frobenius norms of the layer's weight matrices
      and of the gradient of the mean loss over ``X`` with respect to them (biases
      and norm parameters left out). ``grad_norm`` is None when ``loss`` is None.

    Measured in eval mode, as ``train.evaluate`` does: dropout off, BatchNorm with its
    running statistics. For a residual MLP a layer is a block and its output is the
    residual stream, so ``dead_fraction`` says nothing about the ReLUs inside blocks.
    """
    groups = layers_of(model)
    weights = [[p for m in g for p in m.parameters() if p.dim() >= 2] for g in groups]
    with _eval_mode(model), torch.enable_grad():
        outputs = _layer_outputs(model, X)
        grads = None
        if loss is not None:
            value = LOSSES[loss][0](outputs[-1], _target(y, loss))
            flat = [w for ws in weights for w in ws]
            grads = torch.autograd.grad(value, flat, allow_unused=True)
    with torch.no_grad():
        # one (7,) tensor per layer, stacked, so the whole table costs one host sync
        numbers, k = [], 0
        for out, ws in zip(outputs, weights):
            # float64: an exploding init's gradients (1e23 at depth 10) overflow float32 squared
            out = out.detach().reshape(len(X), -1).double()
            zero = out == 0
            grad_sq = out.new_zeros(())
            for g in grads[k : k + len(ws)] if grads is not None else ():
                if g is not None:
                    grad_sq = grad_sq + g.double().pow(2).sum()
            k += len(ws)
            weight_sq = sum((w.detach().double().pow(2).sum() for w in ws), out.new_zeros(()))
            numbers.append(
                torch.stack([
                    out.mean(), out.std(correction=0), out.abs().mean(), zero.float().mean(),
                    zero.all(dim=0).float().mean(), weight_sq.sqrt(), grad_sq.sqrt(),
                ])
            )  # fmt: skip
        table = torch.stack(numbers).cpu().tolist()
    rows = []
    for i, (mean, std, abs_mean, zero_frac, dead_frac, w_norm, g_norm) in enumerate(table):
        hidden = i < len(groups) - 1
        rows.append(
            {
                "layer": i + 1,
                "kind": "hidden" if hidden else "output",
                "width": int(outputs[i].shape[-1]),
                "act_mean": mean,
                "act_std": std,
                "act_abs_mean": abs_mean,
                "zero_fraction": zero_frac if hidden else None,
                "dead_fraction": dead_frac if hidden else None,
                "weight_norm": w_norm,
                "grad_norm": g_norm if grads is not None else None,
            }
        )
    return rows


def summary(rows: list[dict], suffix: str = "") -> dict:
    """The ``result.json`` keys one set of ``layer_stats`` rows gives (``suffix`` names the time).

    ``dead_fraction``: dead units over all hidden units; ``grad_ratio_first_last``:
    gradient norm of the first layer over that of the output layer (much below 1:
    vanishing gradients); ``act_std_last``: ``act_std`` of the last hidden layer.
    """
    hidden = [r for r in rows if r["kind"] == "hidden"]
    units = sum(r["width"] for r in hidden)
    dead = sum(r["dead_fraction"] * r["width"] for r in hidden) / units if units else None
    first, last = rows[0].get("grad_norm"), rows[-1].get("grad_norm")
    if first is None or last is None:
        ratio = None
    else:
        ratio = first / last if last > 0 else (math.nan if first == 0 else math.inf)
    return {
        f"dead_fraction{suffix}": dead,
        f"grad_ratio_first_last{suffix}": ratio,
        f"act_std_last{suffix}": hidden[-1]["act_std"] if hidden else None,
    }


# ---------------------------------------------------------------- linear regions


def piecewise_linear(model: nn.Module) -> str | None:
    """None when ``model`` is piecewise linear in eval mode; else the reason it is not."""
    for module in model.modules():
        if not isinstance(module, _PIECEWISE_LINEAR):
            return f"{type(module).__name__} is not piecewise linear"
    return None


def activation_patterns(model: nn.Module, points: torch.Tensor) -> torch.Tensor | None:
    """Which ReLU-family units are active (pre-activation > 0) at each point: (N, units) bool.

    None when the network is not piecewise linear (GELU, SiLU, tanh, sigmoid,
    LayerNorm): it has no activation regions to speak of.
    """
    if piecewise_linear(model) is not None:
        return None
    signs: list[torch.Tensor] = []

    def record(module, inputs):
        signs.append(inputs[0].reshape(len(points), -1) > 0)

    units = [m for m in model.modules() if isinstance(m, PIECEWISE_LINEAR_UNITS)]
    handles = [m.register_forward_pre_hook(record) for m in units]
    try:
        with _eval_mode(model), torch.no_grad():
            model(points)
    finally:
        for handle in handles:
            handle.remove()
    if not signs:
        return torch.zeros(len(points), 0, dtype=torch.bool, device=points.device)
    return torch.cat(signs, dim=1)


def linear_regions(model: nn.Module, points: torch.Tensor) -> int | None:
    """How many linear regions of ``model`` the ``points`` fall in (distinct activation patterns).

    In a ReLU network every activation pattern holds on one convex polytope, on which
    the network is one affine map, so distinct patterns are distinct regions. On a
    grid this is a lower bound on the regions in the grid's box: a region thinner
    than a cell can be missed. None for networks that are not piecewise linear.
    """
    patterns = activation_patterns(model, points)
    if patterns is None:
        return None
    if patterns.shape[1] == 0:
        return 1  # no kinks anywhere: one affine map
    return distinct_rows(patterns.cpu().numpy())


def distinct_rows(bits: np.ndarray) -> int:
    """How many distinct rows a 2-D bool array has, exactly (each row packed to bytes)."""
    if len(bits) == 0 or bits.shape[1] == 0:
        return min(len(bits), 1)
    packed = np.packbits(bits, axis=1)
    return len(np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel()))


def region_grid(X: torch.Tensor) -> torch.Tensor | None:
    """Points to count regions on: a line over a 1-D input's range, a grid over a 2-D box.

    Cell midpoints of ``LINE_POINTS`` cells (1-D) or ``PLANE_POINTS``² cells (2-D)
    spanning the bounding box of ``X``. None for inputs of 3 or more dimensions.
    """
    dim = X.shape[1]
    if dim not in (1, 2):
        return None
    n = LINE_POINTS if dim == 1 else PLANE_POINTS
    lo, hi = X.min(dim=0).values, X.max(dim=0).values
    mid = (torch.arange(n, device=X.device, dtype=X.dtype) + 0.5) / n
    axes = [lo[j] + mid * (hi[j] - lo[j]) for j in range(dim)]
    if dim == 1:
        return axes[0][:, None]
    gx, gy = torch.meshgrid(axes[0], axes[1], indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def kinks_1d(model: nn.Module, x: torch.Tensor) -> list[float] | None:
    """Where along a sorted (N, 1) line of inputs the activation pattern changes (midpoints)."""
    patterns = activation_patterns(model, x)
    if patterns is None:
        return None
    change = (patterns[1:] != patterns[:-1]).any(dim=1)
    mids = (x[1:, 0] + x[:-1, 0]) / 2
    return mids[change].cpu().tolist()


# ---------------------------------------------------------------- arrays for the figures


def first_hidden_units(model: nn.Sequential):
    """A function mapping (N, in_dim) inputs to layer 1's outputs (N, width), as in layers.csv.

    For a plain MLP that is the first hidden layer after its activation; for a
    residual MLP, the embedding. Raises ValueError for a linear model.
    """
    if len(layers_of(model)) < 2:
        raise ValueError("a linear model (model.hidden=[]) has no hidden units")
    first = layers_of(model)[0]

    @torch.no_grad()
    def units(points: torch.Tensor) -> torch.Tensor:
        with _eval_mode(model):
            h = points
            for module in first:
                h = module(h)
        return h.reshape(len(points), -1)

    return units


# ---------------------------------------------------------------- whole stacks at once
# A sweep measures thousands of small models that share depth and activation. These
# functions take them as one stack, weights (K, fan_in, fan_out) with narrower models
# zero-padded, and measure every model in a few batched passes: the same numbers as
# layer_stats and linear_regions give model by model (tests/test_diagnostics.py holds
# them together), at a fraction of the cost.


def stack_layer_stats(
    stack: Stacked,
    X: torch.Tensor,
    y: torch.Tensor | None,
    loss: str | None,
    budget: int = 1 << 22,
) -> list[list[dict]]:
    """``layer_stats`` of every model of the stack: one list of rows per model.

    The rows of ``X`` go through ``fit_many``'s own batched forward pass a chunk at a time
    (``budget`` bounds the activations a chunk holds, K x rows x width), and every sum (of
    outputs, squares, |outputs|, zeros, and the loss gradients, weighted by each chunk's
    share of the rows) accumulates in float64, so the numbers are those of one pass over
    all of ``X`` (tests/test_diagnostics.py holds them together) at a bounded memory.
    """
    act = stacked.STACKED_ACTIVATIONS[stack.activation][0]
    K, depth, N = len(stack.widths), len(stack.sizes) - 1, len(X)
    rows = max(1, budget // (K * max(stack.sizes[1:])))
    params = stack.params.detach().clone().requires_grad_(loss is not None)
    layers = stack.like(params)
    f64 = {"dtype": torch.float64, "device": X.device}
    # per layer, per model: sum, sum of squares, sum of |a|, zeros; per unit: ever nonzero
    sums = [torch.zeros(K, 4, **f64) for _ in range(depth)]
    alive = [torch.zeros(K, width, dtype=torch.bool, device=X.device) for width in stack.sizes[1:]]
    grads = torch.zeros(params.shape, **f64) if loss is not None else None
    for i in range(0, N, rows):
        x = X[i : i + rows]
        with torch.enable_grad():
            out, cache = stacked.forward(layers, x.expand(K, -1, -1), stack.activation)
            outputs = [a for _, _, a in cache[:-1]] + [out]
            if loss is not None:
                per_model = stacked.stack_scores(out, targets_for(y[i : i + rows], loss), loss)[0]
                grads += torch.autograd.grad(per_model.sum() * (len(x) / N), params)[0]
        with torch.no_grad():
            for l, a in enumerate(outputs):
                zero, a = a == 0, a.detach().double()  # one float64 copy for the three sums
                sums[l] += torch.stack(
                    [a.sum((1, 2)), (a * a).sum((1, 2)), a.abs().sum((1, 2)),
                     zero.sum((1, 2)).double()], 1,
                )  # fmt: skip
                alive[l] |= ~zero.all(1)
    numbers = []
    with torch.no_grad():
        real = stack.like(stack.real())
        grad_layers = stack.like(grads) if grads is not None else None
        for l in range(depth):
            # Sums over every unit, less what the padding adds: a padded unit's weights and
            # bias are zero, so it outputs act(0) on every row (sigmoid's is 0.5). float64
            # accumulators: an exploding init's squares overflow float32.
            widths = torch.tensor([w[l] for w in stack.widths], **f64)
            pad = stack.sizes[l + 1] - widths  # (K,) padded units
            c = float(act(torch.zeros(()))) if l < depth - 1 else 0.0
            n = N * widths
            total, squares, absolute, zeros = sums[l].unbind(1)
            total = total - N * pad * c
            squares = squares - N * pad * c * c
            absolute = absolute - N * pad * abs(c)
            zeros = zeros - N * pad * (c == 0)
            dead = (~alive[l]).sum(1) - pad * (c == 0)
            mean = total / n
            std = (squares / n - mean**2).clamp_min(0).sqrt()
            weight = _norm(layers[l][0].detach(), 2)
            if grad_layers is None:
                grad = torch.full_like(weight, math.nan)
            else:  # padding's gradients left out (sigmoid's act(0) feeds the next layer's)
                grad = _norm(grad_layers[l][0] * real[l][0], 2)
            numbers.append(
                torch.stack([mean, std, absolute / n, zeros / n, dead / widths, weight, grad], 1)
            )
        table = torch.stack(numbers, 1).cpu().tolist()  # (K, layers, 7): one host sync
    rows = []
    for k in range(K):
        rows.append([
            {
                "layer": l + 1, "kind": "hidden" if l < depth - 1 else "output",
                "width": stack.widths[k][l], "act_mean": mean, "act_std": std,
                "act_abs_mean": abs_mean,
                "zero_fraction": zero if l < depth - 1 else None,
                "dead_fraction": dead if l < depth - 1 else None,
                "weight_norm": w_norm, "grad_norm": g_norm if grads is not None else None,
            }
            for l, (mean, std, abs_mean, zero, dead, w_norm, g_norm) in enumerate(table[k])
        ])  # fmt: skip
    return rows


def _norm(x: torch.Tensor, order: int) -> torch.Tensor:
    """Each model's vector norm of x (K, ...), accumulated in float64."""
    return torch.linalg.vector_norm(x, order, dim=tuple(range(1, x.dim())), dtype=torch.float64)


def stack_regions(stack: Stacked, points: torch.Tensor, budget: int = 1 << 24) -> list[int | None]:
    """``linear_regions`` of every model of the stack on the same ``points``.

    Grid points come in rows, and neighbours mostly share their activation pattern: only
    the first point of each run of equal patterns can be new, so only those are packed
    into bytes and counted (a distinct (model, pattern) pair is one region of that model).
    ``budget`` bounds the booleans held at once (models are taken a chunk at a time).
    """
    K, hidden = len(stack.widths), stack.layers[:-1]
    if PIECEWISE_LINEAR_NAMES.get(stack.activation) is None:
        return [None] * K
    if not hidden:
        return [1] * K
    act_ = stacked.STACKED_ACTIVATIONS[stack.activation][1]
    units = sum(W.shape[2] for W, _ in hidden)
    chunk = max(1, budget // (len(points) * units))
    counts: list[int] = []
    with torch.no_grad():
        for k0 in range(0, K, chunk):
            h, signs = points.expand(min(chunk, K - k0), -1, -1), []
            for W, b in hidden:
                z = torch.baddbmm(b[k0 : k0 + chunk], h, W[k0 : k0 + chunk])
                signs.append(z > 0)
                h = act_(z)
            bits = torch.cat(signs, 2)  # (k, N, units); padding is never > 0
            new = torch.ones(bits.shape[:2], dtype=torch.bool, device=bits.device)
            new[:, 1:] = (bits[:, 1:] != bits[:, :-1]).any(2)
            model, point = new.nonzero(as_tuple=True)
            packed = np.packbits(bits[model, point].cpu().numpy(), axis=1)
            owner = model.cpu().numpy().astype(">u4").view(np.uint8).reshape(-1, 4)
            keyed = np.concatenate([owner, packed], 1)  # (model, pattern) as one byte string
            distinct = np.unique(keyed.view(np.dtype((np.void, keyed.shape[1]))).ravel())
            owners = np.frombuffer(distinct.tobytes(), np.uint8).reshape(len(distinct), -1)[:, :4]
            counts += np.bincount(owners.copy().view(">u4").ravel(), minlength=len(bits)).tolist()
    return counts
