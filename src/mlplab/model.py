"""The MLP factory: ``make_mlp(in_dim, hidden, out_dim, ...)`` builds ``[in_dim, *hidden, out_dim]``."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from .settings import choose

ACTIVATIONS: dict[str, type[nn.Module] | partial] = {
    "relu": nn.ReLU,
    "leaky_relu": partial(nn.LeakyReLU, 0.01),
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}

NORMS: dict[str, type[nn.Module] | None] = {
    "none": None,
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}

# The ReLU family keeps half the signal, so He (Kaiming) scales by sqrt(2/fan_in)
# [He et al. 2015]; saturating and linear units get Xavier's sqrt(2/(fan_in+fan_out))
# [Glorot & Bengio 2010].
RELU_FAMILY = ("relu", "leaky_relu", "gelu", "silu")


def _he_normal(w, std, activation, g):
    nn.init.kaiming_normal_(
        w, a=_leak(activation), nonlinearity=_nonlinearity(activation), generator=g
    )


def _he_uniform(w, std, activation, g):
    nn.init.kaiming_uniform_(
        w, a=_leak(activation), nonlinearity=_nonlinearity(activation), generator=g
    )


def _xavier_normal(w, std, activation, g):
    nn.init.xavier_normal_(w, generator=g)


def _xavier_uniform(w, std, activation, g):
    nn.init.xavier_uniform_(w, generator=g)


def _normal(w, std, activation, g):
    nn.init.normal_(w, 0.0, std, generator=g)


def _torch_default(w, std, activation, g):
    # nn.Linear.reset_parameters: Kaiming-uniform with a=sqrt(5), i.e. std = 1/sqrt(3*fan_in).
    nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)


INITIALIZERS = {
    "auto": None,  # resolved by resolve_init()
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "xavier_normal": _xavier_normal,
    "xavier_uniform": _xavier_uniform,
    "normal": _normal,
    "torch_default": _torch_default,
}


def _leak(activation: str) -> float:
    return 0.01 if activation == "leaky_relu" else 0.0


def _nonlinearity(activation: str) -> str:
    return "leaky_relu" if activation == "leaky_relu" else "relu"


def resolve_init(init: str, activation: str) -> str:
    """``auto`` is He normal for the ReLU family and Xavier normal for the rest."""
    if init != "auto":
        return init
    return "he_normal" if activation in RELU_FAMILY else "xavier_normal"


class ResidualBlock(nn.Module):
    """Pre-norm residual block (seed 003): x + W2 drop(act(W1 norm(x))), 4x expansion."""

    def __init__(self, width: int, activation, norm, dropout: float, expansion: int = 4):
        super().__init__()
        self.norm = norm(width) if norm else nn.Identity()
        self.fc = nn.Sequential(
            nn.Linear(width, expansion * width),
            activation(),
            nn.Dropout(dropout) if dropout else nn.Identity(),
            nn.Linear(expansion * width, width),
        )

    def forward(self, x):
        return x + self.fc(self.norm(x))


def make_mlp(
    in_dim: int,
    hidden: list[int] | tuple[int, ...],
    out_dim: int,
    activation: str = "relu",
    init: str = "auto",
    init_std: float = 0.01,
    dropout: float = 0.0,
    norm: str = "none",
    residual: bool = False,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Build an MLP from the list ``[in_dim, *hidden, out_dim]``; ``hidden=[]`` is linear.

    Plain: ``Linear -> [norm] -> act -> [dropout]`` per hidden width, then a linear head.
    Residual (equal widths ``[h]*n``): ``Linear(in, h)``, ``n`` pre-norm blocks, head.
    Weights are drawn from ``generator`` in layer order; biases start at zero except
    for ``init=torch_default``, which keeps ``nn.Linear``'s own bias draw.
    """
    act = ACTIVATIONS[choose("model.activation", activation, ACTIVATIONS)]
    norm_cls = NORMS[choose("model.norm", norm, NORMS)]
    init = resolve_init(choose("model.init", init, INITIALIZERS), activation)
    layers: list[nn.Module] = []
    if residual and hidden:
        width = hidden[0]
        layers.append(nn.Linear(in_dim, width))
        layers += [ResidualBlock(width, act, norm_cls, dropout) for _ in hidden]
        layers.append(nn.Linear(width, out_dim))
    else:
        sizes = [in_dim, *hidden]
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            layers.append(nn.Linear(fan_in, fan_out))
            if norm_cls is not None:
                layers.append(norm_cls(fan_out))
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_dim))
    model = nn.Sequential(*layers)
    init_weights(model, init, activation, init_std, generator)
    return model


@torch.no_grad()
def init_weights(
    model: nn.Module, init: str, activation: str, init_std: float, generator=None
) -> None:
    """Draw every Linear weight (in module order) with the named initializer."""
    fn = INITIALIZERS[resolve_init(init, activation)]
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            fn(layer.weight, init_std, activation, generator)
            if init == "torch_default":
                bound = 1 / math.sqrt(layer.in_features)
                layer.bias.uniform_(-bound, bound, generator=generator)
            else:
                layer.bias.zero_()


def count_params(model: nn.Module) -> int:
    """Trainable parameters, counted as ``sum(p.numel())``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
