"""The seeds' known errors (REFERENCE.md), each recomputed here, never typed in.

``SEED_ERRORS`` lists them in REFERENCE.md's order; ``compute(n)`` returns the right
value and how it was obtained, from mlplab's own ``make_mlp``/``count_params``, a formula,
or the seed's code run as printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mlplab.diagnostics import linear_regions
from mlplab.model import count_params, make_mlp


@dataclass(frozen=True)
class SeedError:
    number: int
    seed: str  #: seed file
    section: str  #: the page section where it occurs
    said: str  #: what the seed says, in its words


@dataclass(frozen=True)
class Correction:
    right: str  #: the right value
    how: str  #: how the script computed it
    confirmed: bool  #: the computation disagrees with the seed, as REFERENCE.md says


def params(in_dim: int, hidden: list[int], out_dim: int) -> int:
    """mlplab's own count for the network [in_dim, *hidden, out_dim]."""
    return count_params(make_mlp(in_dim, hidden, out_dim))


def regions_bound(n: int, dim: int) -> int:
    """At most sum_{i<=dim} C(n, i) regions for one layer of n ReLUs on a dim-D input."""
    return sum(math.comb(n, i) for i in range(dim + 1))


def _e1() -> Correction:
    deep, balanced = params(4, [4, 4], 4), params(4, [8, 8], 4)
    return Correction(
        f"4→4→4→4 has **{deep}**, 4→8→8→4 has **{balanced}**",
        "make_mlp(4, [4, 4], 4) and make_mlp(4, [8, 8], 4), counted by count_params",
        (deep, balanced) != (52, 140),
    )


def _e2() -> Correction:
    fan_in = 1000
    torch.manual_seed(0)
    default = torch.nn.Linear(fan_in, fan_in).weight.std().item()  # PyTorch's own init
    he = math.sqrt(2 / fan_in)
    return Correction(
        f"nn.Linear's default draws weights with std **{default:.4f}** at fan_in {fan_in} "
        f"(1/√(3·fan_in) = {1 / math.sqrt(3 * fan_in):.4f}); He is √(2/fan_in) = {he:.4f}, "
        f"**{he / default:.2f}×** larger",
        "the std of a freshly built torch.nn.Linear(1000, 1000) against He's formula",
        he / default > 2,
    )


def _e3() -> Correction:
    from mlplab.data import load
    from mlplab.settings import DatasetSettings

    d = load(
        DatasetSettings(
            "two_moons", 300, noise=0.1, val_fraction=0.0, legacy_seed=42, shuffle_split=False
        )
    )
    X = d.X_train.numpy()
    lo, hi = X.min(axis=0), X.max(axis=0)
    return Correction(
        f"its own generator under np.random.seed(42) gives X[0] = [{X[0, 0]:.4f}, {X[0, 1]:.4f}] "
        f"(the seed prints [-0.2139, 1.0612]); x ∈ [{lo[0]:.2f}, {hi[0]:.2f}], "
        f"**y ∈ [{lo[1]:.2f}, {hi[1]:.2f}]**",
        "mlplab.data.load with dataset.legacy_seed=42 (the seed's code, NumPy's legacy generator)",
        not (np.isclose(lo[1], -1.25, atol=0.01) and np.isclose(hi[1], 1.63, atol=0.01)),
    )


def _e4() -> Correction:
    n = params(4, [63], 4)
    return Correction(
        f"4→63→4 has **{n}**", "make_mlp(4, [63], 4), counted by count_params", n != 507
    )


def _e5() -> Correction:
    two, three = params(4, [4, 4], 4), params(4, [4, 4, 4], 4)
    return Correction(
        f"the sum 4×4+4 (three times) = {two} is 4→4→4→4, **2** hidden layers; 3 hidden layers "
        f"of 4 (4→4→4→4→4) have **{three}**",
        "make_mlp(4, [4, 4], 4) and make_mlp(4, [4, 4, 4], 4), counted by count_params",
        three != 60,
    )


def _e6() -> Correction:
    bounds = [regions_bound(n, 4) for n in (2, 3, 8, 16)]
    return Correction(
        "in 4-D one layer of n ReLUs has at most Σ_{i≤4} C(n, i) regions: **"
        + " / ".join(map(str, bounds))
        + "** for n = 2 / 3 / 8 / 16 (n+1 is the bound for a 1-D input)",
        "the hyperplane-arrangement bound, by formula (math.comb)",
        bounds != [3, 4, 9, 17],
    )


def _e14() -> Correction:
    bound = regions_bound(16, 2)
    return Correction(
        f"on a 2-D input one layer of 16 ReLUs has at most 1 + 16 + C(16, 2) = **{bound}** "
        "regions (16 + 1 is the bound for a 1-D input)",
        "the hyperplane-arrangement bound, by formula (math.comb)",
        bound != 17,
    )


def _e7() -> Correction:
    deep, wide = params(1, [4, 4, 4], 1), params(1, [8], 1)
    return Correction(
        f"with 1-D input and output, width 4 × depth 3 has **{deep}**, width 8 × depth 1 **{wide}**",
        "make_mlp(1, [4, 4, 4], 1) and make_mlp(1, [8], 1), counted by count_params",
        deep > wide,
    )


def _e8() -> Correction:
    ratio = 0.0984 / 0.0244
    return Correction(
        f"0.0984 / 0.0244 = **{ratio:.2f}**: a ratio of the epoch-99 losses; the epochs each init "
        "needs to reach a loss are another measure (E3's figure shows the curves)",
        "the seed's own numbers, divided",
        abs(ratio - 4) < 0.1,
    )


def _e9() -> Correction:
    targets = torch.tensor(
        [[i, k, j, l] for i in (0, 1) for j in (0, 1) for k in (0, 1) for l in (0, 1)],
        dtype=torch.float,
    )
    zero_mse = targets.pow(2).mean().item()
    return Correction(
        f"an output near zero has MSE **{zero_mse:.3f}** on these targets and 0.5·MSE "
        f"**{zero_mse / 2:.3f}**; the seed's σ = 0.01 epoch-0 loss is 0.2302, so its losses are "
        "0.5·MSE (its code: `0.5 * np.mean((y_hat - Y[i])**2)`); mlplab's `mse` is the mean "
        "squared error, twice as large",
        "the mean of the squared diagonal-flip targets",
        abs(zero_mse / 2 - 0.2302) < abs(zero_mse - 0.2302),
    )


def _e10() -> Correction:
    z = torch.randn(
        4, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    ).requires_grad_()
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=torch.float64)
    a = torch.sigmoid(z)
    seed = ((a - y) / 4 * a * (1 - a)).detach()  # the seed's dZ2
    bce = torch.autograd.grad(torch.nn.functional.binary_cross_entropy(a, y), z, retain_graph=True)[
        0
    ]
    half_mse = torch.autograd.grad(0.5 * ((a - y) ** 2).mean(), z)[0]
    return Correction(
        "the seed's dZ2 equals autograd's gradient of **0.5·MSE** through the sigmoid "
        f"(max difference {(seed - half_mse).abs().max().item():.1e}); BCE's gradient is (A2 − y)/4 "
        f"(max difference from the seed's {(seed - bce).abs().max().item():.2f})",
        "torch.autograd on the seed's forward pass, for 4 random logits",
        torch.allclose(seed, half_mse) and not torch.allclose(seed, bce),
    )


def _e11() -> Correction:
    np.random.seed(42)  # the seed's code, as printed
    np.random.randn(100)  # its x (unused by the loop)
    grad = np.ones(100)
    norms = []
    for _ in range(5):
        W = np.random.randn(100, 100) * 0.5
        grad = (grad @ W.T) * 0.2
        norms.append(np.linalg.norm(grad))
    gain = 0.5 * math.sqrt(100) * 0.2
    return Correction(
        f"per-layer gain 0.5·√100·0.2 = **{gain:g}**: its own loop prints gradient norms "
        + ", ".join(f"{v:.1f}" for v in norms)
        + " from 10.0 at the start; nothing vanishes",
        "the seed's loop run as printed (np.random.seed(42))",
        min(norms) > 1.0,
    )


def _e12() -> Correction:
    return Correction(
        f"⌈240/32⌉ = **{math.ceil(240 / 32)}** updates per epoch for the 240 training points; "
        f"for 300 points it would be ⌈300/32⌉ = {math.ceil(300 / 32)}",
        "ceil(n / batch)",
        math.ceil(300 / 32) != 8,
    )


def zigzag(width: int, layers: int) -> torch.nn.Sequential:
    """A hand-set ReLU network whose every layer folds [0, 1] onto itself ``width`` times."""
    # one layer: f(x) = sum_j c_j relu(x - j/width), slopes +-width alternating on each piece
    net = make_mlp(1, [width] * layers, 1)
    knots = torch.arange(width, dtype=torch.float) / width
    slopes = torch.tensor([width * (-1) ** j for j in range(width)], dtype=torch.float)
    coef = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])  # change of slope at each knot
    offset = torch.tensor(0.0)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, layer in enumerate(linears[:-1]):
            if i == 0:
                layer.weight.copy_(torch.ones(width, 1))
            else:
                layer.weight.copy_(coef.repeat(width, 1))
            layer.bias.copy_(-knots + (offset if i else 0.0))
        linears[-1].weight.copy_(coef[None, :])
        linears[-1].bias.zero_()
    return net


def _e13() -> Correction:
    line = ((torch.arange(20000) + 0.5) / 20000)[:, None]
    one = make_mlp(1, [5], 1)
    with torch.no_grad():  # five kinks at 0.1, 0.3, ..., 0.9
        one[0].weight.fill_(1.0)
        one[0].bias.copy_(-torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9]))
    single = linear_regions(one, line)
    triples = [linear_regions(zigzag(3, depth), line) for depth in (1, 2, 3)]
    return Correction(
        f"one layer of 5 ReLUs on a 1-D input already makes **{single}** regions (from 1: more "
        "than double), and hand-set layers of width 3 that fold [0, 1] three times give "
        f"**{' → '.join(map(str, triples))}** regions for 1, 2, 3 layers: ×3 per layer",
        "mlplab's diagnostics.linear_regions on hand-set make_mlp networks, on 20 000 points of [0, 1]",
        single > 2 and triples[-1] > 2**3,
    )


SEED_ERRORS = [
    SeedError(1, "000", "E2", "“4→4→4→4 (deep) 52” and “4→8→8→4 (balanced) 140” parameters"),
    SeedError(
        2,
        "000",
        "E3",
        "“Use He initialization with ReLU (the default in PyTorch)”; PyTorch's default is “close to He init”",
    ),
    SeedError(
        3,
        "002",
        "E4",
        "two moons “x ∈ [−1.25, 1.63], y ∈ [−1.25, 1.63]” (and it is often taken for scikit-learn's make_moons)",
    ),
    SeedError(
        4, "000", "E2", "“A single-layer network would need 63 neurons (and 507 parameters!)”"
    ),
    SeedError(
        5,
        "000",
        "E2",
        "“4 neurons per layer and 3 hidden layers has only 4×4+4+4×4+4+4×4+4 = 60 parameters”",
    ),
    SeedError(6, "000", "E1", "“Max Linear Regions” 3 / 4 / 9 / 17 for the 4→n→4 networks (n+1)"),
    SeedError(
        7, "000", "E2", "widget: “Width = 4, Depth = 3: Fewer parameters than Width=8/Depth=1”"
    ),
    SeedError(8, "000", "E3", "“Small random initialization (0.0984) converges 4× slower”"),
    SeedError(9, "000", "E1", "the losses of its tables (w=16: 0.0005; σ=0.01: 0.2302 → 0.0984)"),
    SeedError(
        10,
        "001",
        "E8",
        "XOR: prints binary cross-entropy, backpropagates `dZ2 = dA2 * sigmoid_grad(A2)`",
    ),
    SeedError(
        11, "004", "E11", "“Sigmoid gradients vanish rapidly!” (W ~ N(0, 0.5²), width 100, × 0.2)"
    ),
    SeedError(12, "002", "E18", "“batch_size=32 … 8 updates per epoch” beside “300 samples”"),
    SeedError(
        13,
        "001",
        "E12",
        "“each layer of a ReLU network can at most double the number of linear regions”",
    ),
    SeedError(
        14,
        "002",
        "E17",
        "“With 16 ReLU neurons, we get 17 linear regions” for the two-moons plane (a 2-D input)",
    ),
]

_COMPUTE = {
    1: _e1,
    2: _e2,
    3: _e3,
    4: _e4,
    5: _e5,
    6: _e6,
    7: _e7,
    8: _e8,
    9: _e9,
    10: _e10,
    11: _e11,
    12: _e12,
    13: _e13,
    14: _e14,
}


def compute(number: int) -> Correction:
    """The right value for seed error ``number``, computed now."""
    return _COMPUTE[number]()
