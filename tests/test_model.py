"""make_mlp: architecture as a list, true parameter counts, initializer statistics."""

import math

import pytest
import torch
from torch import nn

from mlplab.model import ACTIVATIONS, INITIALIZERS, NORMS, count_params, make_mlp, resolve_init


@pytest.mark.parametrize(
    "in_dim, hidden, out_dim, expected",
    [
        (4, [4, 4], 4, 60),  # REFERENCE.md: seed 000 says 52 in one table; 60 is right
        (4, [8, 8], 4, 148),  # the seed says 140
        (4, [2], 4, 22),
        (4, [16], 4, 148),
        (2, [4], 1, 17),  # seed 002's two-moons table
        (2, [16], 1, 65),
        (2, [32], 1, 129),
        (2, [8, 8], 1, 105),
        (2, [16, 16], 1, 337),
        (2, [], 1, 3),  # linear model
    ],
)
def test_parameter_counts_are_the_true_ones(in_dim, hidden, out_dim, expected):
    # count by hand: each layer has fan_in*fan_out weights and fan_out biases
    sizes = [in_dim, *hidden, out_dim]
    by_hand = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    assert by_hand == expected
    assert count_params(make_mlp(in_dim, hidden, out_dim)) == expected


def test_empty_hidden_is_one_linear_layer():
    net = make_mlp(3, [], 2)
    assert [type(m) for m in net] == [nn.Linear]


def test_forward_pass_matches_a_hand_computation():
    net = make_mlp(2, [2], 1, activation="relu")
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0]))
        net[2].weight.copy_(torch.tensor([[2.0, -3.0]]))
        net[2].bias.copy_(torch.tensor([0.5]))
    x = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
    # x1: h = relu([1-2, 0.5+4-1]) = [0, 3.5]  -> 2*0 - 3*3.5 + 0.5 = -10.0
    # x2: h = relu([3-1, 1.5+2-1]) = [2, 2.5]  -> 4 - 7.5 + 0.5 = -3.0
    assert torch.allclose(net(x), torch.tensor([[-10.0], [-3.0]]))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("init", list(INITIALIZERS))
def test_every_activation_and_init_builds_and_runs(activation, init):
    net = make_mlp(3, [5, 4], 2, activation=activation, init=init, init_std=0.1)
    out = net(torch.randn(7, 3))
    assert out.shape == (7, 2) and torch.isfinite(out).all()
    biases = [m.bias for m in net.modules() if isinstance(m, nn.Linear)]
    if init == "torch_default":
        assert all(b.abs().sum() > 0 for b in biases)
    else:
        assert all(torch.equal(b, torch.zeros_like(b)) for b in biases)


@pytest.mark.parametrize("norm", list(NORMS))
def test_norm_and_dropout_layers_are_placed(norm):
    net = make_mlp(3, [6, 6], 1, norm=norm, dropout=0.25)
    kinds = [type(m).__name__ for m in net]
    expected_norm = {"none": [], "batch": ["BatchNorm1d"], "layer": ["LayerNorm"]}[norm]
    block = ["Linear", *expected_norm, "ReLU", "Dropout"]
    assert kinds == block * 2 + ["Linear"]


def test_residual_blocks_follow_seed_003():
    net = make_mlp(2, [8, 8], 1, activation="gelu", norm="layer", residual=True, dropout=0.1)
    # embed 2*8+8, two blocks of LN(16) + 8*32+32 + 32*8+8, head 8+1
    assert count_params(net) == 24 + 2 * (16 + 288 + 264) + 9
    x = torch.randn(5, 2)
    net.eval()
    block = net[1]
    h = net[0](x)
    assert torch.allclose(block(h), h + block.fc(block.norm(h)))


LARGE = 2000


@pytest.mark.parametrize(
    "init, activation, expected_std",
    [
        ("he_normal", "relu", math.sqrt(2 / LARGE)),
        ("he_uniform", "relu", math.sqrt(2 / LARGE)),
        ("he_normal", "leaky_relu", math.sqrt(2 / (1 + 0.01**2) / LARGE)),
        ("xavier_normal", "tanh", math.sqrt(2 / (LARGE + LARGE // 2))),
        ("xavier_uniform", "tanh", math.sqrt(2 / (LARGE + LARGE // 2))),
        ("normal", "relu", 0.05),
        ("torch_default", "relu", 1 / math.sqrt(3 * LARGE)),  # Kaiming-uniform a=sqrt(5), not He
        ("auto", "relu", math.sqrt(2 / LARGE)),
        ("auto", "sigmoid", math.sqrt(2 / (LARGE + LARGE // 2))),
    ],
)
def test_initializer_statistics_on_a_wide_layer(init, activation, expected_std):
    g = torch.Generator().manual_seed(0)
    net = make_mlp(
        LARGE, [LARGE // 2], 1, activation=activation, init=init, init_std=0.05, generator=g
    )
    w = net[0].weight
    assert abs(w.mean().item()) < 0.05 * expected_std + 1e-4
    assert w.std().item() == pytest.approx(expected_std, rel=0.02)


def test_auto_init_by_activation_family():
    assert [resolve_init("auto", a) for a in ("relu", "leaky_relu", "gelu", "silu")] == [
        "he_normal"
    ] * 4
    assert [resolve_init("auto", a) for a in ("tanh", "sigmoid", "identity")] == [
        "xavier_normal"
    ] * 3
    assert resolve_init("normal", "relu") == "normal"


def test_same_generator_seed_gives_the_same_weights():
    a = make_mlp(3, [8, 8], 2, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global generator must not matter
    b = make_mlp(3, [8, 8], 2, generator=torch.Generator().manual_seed(7))
    c = make_mlp(3, [8, 8], 2, generator=torch.Generator().manual_seed(8))
    pairs = list(zip(a.state_dict().values(), b.state_dict().values()))
    assert all(torch.equal(x, y) for x, y in pairs)
    assert not torch.equal(a[0].weight, c[0].weight)
