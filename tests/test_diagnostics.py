"""Diagnostics: per-layer statistics and linear regions, checked on networks small enough to do by hand."""

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_settings

from mlplab import diagnostics
from mlplab.data import DATASETS
from mlplab.job import run_single
from mlplab.model import ResidualBlock, make_mlp
from mlplab.results import LAYER_COLUMNS
from mlplab.settings import DatasetSettings
from mlplab.train import build_model, prepare


def set_layer(layer: torch.nn.Linear, weight, bias) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))


def hand_network() -> torch.nn.Sequential:
    """2 -> 3 ReLU -> 1. Unit 3's bias of -10 keeps it below zero on every input below."""
    net = make_mlp(2, [3], 1)
    set_layer(net[0], [[1, 0], [0, 1], [-1, -1]], [0, 0, -10])
    set_layer(net[2], [[1, -1, 2]], [0.5])
    return net


# Pre-activations X W1^T + b1, row by row:
#   (1, 2)  -> [ 1,  2, -13] -> h = [1, 2, 0]
#   (3, -1) -> [ 3, -1, -12] -> h = [3, 0, 0]
#   (-2, 1) -> [-2,  1,  -9] -> h = [0, 1, 0]
#   (0, 0)  -> [ 0,  0, -10] -> h = [0, 0, 0]
# Output h W2^T + 0.5 = [-0.5, 3.5, -0.5, 0.5]; with y = [0, 3, 0, 0] the residual is
# r = [-0.5, 0.5, -0.5, 0.5] and dMSE/dout = 2r/4 = [-1/4, 1/4, -1/4, 1/4].
X_HAND = torch.tensor([[1.0, 2.0], [3.0, -1.0], [-2.0, 1.0], [0.0, 0.0]])
Y_HAND = torch.tensor([[0.0], [3.0], [0.0], [0.0]])


def test_relu_layer_statistics_match_the_hand_computation():
    hidden, output = diagnostics.layer_stats(hand_network(), X_HAND, Y_HAND, "mse")
    assert (hidden["layer"], hidden["kind"], hidden["width"]) == (1, "hidden", 3)
    # h holds 1+2+3+1 = 7 over 12 entries; 8 entries are 0; unit 3 is 0 on all 4 rows
    assert hidden["act_mean"] == pytest.approx(7 / 12)
    assert hidden["act_abs_mean"] == pytest.approx(7 / 12)
    # E[h^2] = (1+4+9+1)/12 = 15/12, so var = 15/12 - (7/12)^2 = 131/144
    assert hidden["act_std"] == pytest.approx(math.sqrt(131) / 12)
    assert hidden["zero_fraction"] == pytest.approx(8 / 12)
    assert hidden["dead_fraction"] == pytest.approx(1 / 3)
    assert hidden["weight_norm"] == pytest.approx(2.0)  # four entries of magnitude 1
    # dL/dW1 = sum_i g_i (W2 * 1[z_i > 0]) x_i^T = [[1/2, -3/4], [-1/4, 3/4], [0, 0]]
    # (row 4 sits exactly on every kink: ReLU's gradient at 0 is 0)
    assert hidden["grad_norm"] == pytest.approx(math.sqrt(23) / 4)

    assert (output["layer"], output["kind"], output["width"]) == (2, "output", 1)
    assert output["act_mean"] == pytest.approx(3 / 4)  # (-0.5 + 3.5 - 0.5 + 0.5) / 4
    assert output["act_abs_mean"] == pytest.approx(5 / 4)
    assert output["act_std"] == pytest.approx(math.sqrt(43) / 4)  # 13/4 - 9/16 = 43/16
    assert output["zero_fraction"] is None and output["dead_fraction"] is None
    assert output["weight_norm"] == pytest.approx(math.sqrt(6))
    # dL/dW2 = sum_i g_i h_i = [1/2, -3/4, 0]
    assert output["grad_norm"] == pytest.approx(math.sqrt(13) / 4)


def test_summary_keys_from_the_hand_network():
    rows = diagnostics.layer_stats(hand_network(), X_HAND, Y_HAND, "mse")
    assert diagnostics.summary(rows, "_init") == pytest.approx(
        {
            "dead_fraction_init": 1 / 3,
            "grad_ratio_first_last_init": math.sqrt(23 / 13),
            "act_std_last_init": math.sqrt(131) / 12,
        }
    )


def test_statistics_without_a_loss_leave_gradients_out():
    rows = diagnostics.layer_stats(hand_network(), X_HAND, None, None)
    assert [r["grad_norm"] for r in rows] == [None, None]
    assert diagnostics.summary(rows)["grad_ratio_first_last"] is None


def test_a_large_negative_bias_kills_exactly_that_unit_on_real_data():
    s = make_settings("dataset=two_moons", "model.hidden=[8,4]", "trainer.epochs=0")
    data, model, loss = prepare(s)
    with torch.no_grad():
        model[0].bias[3] = -100.0  # two-moons inputs lie within |x| < 3: never reaches 0
    rows = diagnostics.layer_stats(model, data.X_train, data.y_train, loss)
    h1 = model[1](model[0](data.X_train))  # a second way: the layer by hand
    assert (h1[:, 3] == 0).all()
    assert rows[0]["dead_fraction"] == (h1 == 0).all(dim=0).float().mean().item()
    assert rows[0]["dead_fraction"] >= 1 / 8
    assert rows[0]["zero_fraction"] == pytest.approx((h1 == 0).float().mean().item())


def test_measuring_leaves_no_trace_on_the_model():
    s = make_settings("dataset=spiral", "model.hidden=[8,8]", "model.dropout=0.3",
                      "model.norm=batch", "trainer.epochs=1")  # fmt: skip
    data, model, loss = prepare(s)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}  # incl. BatchNorm buffers
    rng = torch.get_rng_state()
    diagnostics.layer_stats(model, data.X_train, data.y_train, loss)
    diagnostics.linear_regions(model, diagnostics.region_grid(data.X_train))
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())  # no dropout draw


def test_stats_every_epoch_trains_bit_for_bit_like_none(tmp_path):
    common = ["dataset=spiral", "model.hidden=[8,8]", "model.dropout=0.2", "model.norm=batch",
              "trainer.epochs=4"]  # fmt: skip
    plain = run_single(make_settings(*common), tmp_path / "plain")
    every = run_single(make_settings(*common, "trainer.layer_stats_every=1"), tmp_path / "every")
    metrics = ["train_loss", "val_loss", "train_acc", "val_acc"]
    a, b = (pd.read_csv(tmp_path / d / "history.csv") for d in ("plain", "every"))
    assert a[metrics].equals(b[metrics])
    assert plain["linear_regions"] == every["linear_regions"]
    layers = pd.read_csv(tmp_path / "every" / "layers.csv")
    assert sorted(layers["epoch"].unique()) == [0, 1, 2, 3, 4]
    assert sorted(pd.read_csv(tmp_path / "plain" / "layers.csv")["epoch"].unique()) == [0, 4]


def test_layers_csv_every_n_epochs_plus_the_end(tmp_path):
    s = make_settings("dataset=xor", "model.hidden=[4,4]", "trainer.epochs=7",
                      "trainer.layer_stats_every=3")  # fmt: skip
    run_single(s, tmp_path)
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert list(layers.columns) == list(LAYER_COLUMNS)
    assert layers["epoch"].tolist() == [e for e in (0, 3, 6, 7) for _ in range(3)]
    assert layers["kind"].tolist()[:3] == ["hidden", "hidden", "output"]


# ---------------------------------------------------------------- E9: signal propagation


def test_e9_signal_vanishes_explodes_or_survives_ten_layers(tmp_path):
    """Seed 004: 10 ReLU layers of 256, 100 samples of N(0, 1), no training."""
    deep = "model.hidden=[256,256,256,256,256,256,256,256,256,256]"
    inits = {
        "small": ["model.init=normal", "model.init_std=0.01"],
        "large": ["model.init=normal", "model.init_std=1.0"],
        "he": ["model.init=he_normal"],
    }
    last, dead = {}, {}
    for name, init in inits.items():
        s = make_settings("dataset=gaussian", deep, "trainer.epochs=0", *init)
        result = run_single(s, tmp_path / name)
        layers = pd.read_csv(tmp_path / name / "layers.csv")
        hidden = layers[layers["kind"] == "hidden"]
        assert hidden["layer"].tolist() == list(range(1, 11))
        last[name] = hidden["act_abs_mean"].iloc[-1]  # the seed's "mean |activation|"
        dead[name] = result["dead_fraction"]
        assert result["act_std_last_init"] == hidden["act_std"].iloc[-1]
    # per layer a ReLU layer scales the signal by ~sqrt(256 * std^2 / 2): 0.11, 11.3, 1
    assert last["small"] < 1e-8
    assert last["large"] > 1e8
    assert 0.1 < last["he"] < 10
    # ReLU with zero biases is positively homogeneous: scaling every weight changes
    # no sign, so the three inits (one draw, three scales) kill the same units
    assert dead["small"] == dead["large"] == dead["he"]


# ---------------------------------------------------------------- linear regions


def regions_on_a_line(net, lo: float, hi: float) -> int:
    """Second implementation for one hidden layer: kinks at -b/w, counted between grid points."""
    w, b = net[0].weight[:, 0].detach().numpy(), net[0].bias.detach().numpy()
    kinks = -b[w != 0] / w[w != 0]
    points = diagnostics.region_grid(torch.tensor([[lo], [hi]]))[:, 0].numpy()
    # the pattern changes between neighbours exactly when a kink lies between them
    between = ((kinks[None, :] > points[:-1, None]) & (kinks[None, :] < points[1:, None])).any(1)
    return 1 + int(between.sum())


@pytest.mark.parametrize("width", [1, 3, 8, 50])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_layer_on_a_line_has_at_most_width_plus_one_regions(width, seed):
    g = torch.Generator().manual_seed(seed)
    net = make_mlp(1, [width], 1, init="torch_default", generator=g)  # random biases: spread kinks
    grid = diagnostics.region_grid(torch.tensor([[-3.0], [3.0]]))
    count = diagnostics.linear_regions(net, grid)
    assert count == regions_on_a_line(net, -3.0, 3.0)
    assert count <= width + 1


def test_three_lines_cut_the_square_into_seven_regions():
    # units x > 0, y > 0, x + y > 1/2: three lines in general position, all crossing
    # inside [-1, 1]^2, make 1 + 3 + 3 = 7 regions
    net = make_mlp(2, [3], 1)
    set_layer(net[0], [[1, 0], [0, 1], [1, 1]], [0, 0, -0.5])
    grid = diagnostics.region_grid(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    assert diagnostics.linear_regions(net, grid) == 7
    set_layer(net[0], [[1, 0], [1, 0], [1, 0]], [0, 0, 0])  # three copies of one line
    assert diagnostics.linear_regions(net, grid) == 2


def sawtooth_network(k: int) -> torch.nn.Sequential:
    """Telgarsky's construction: each 2-unit layer applies the tent map 2relu(y) - 4relu(y - 1/2)."""
    net = make_mlp(1, [2] * k, 1)
    set_layer(net[0], [[1], [1]], [0, -0.5])
    for i in range(1, k):
        set_layer(net[2 * i], [[2, -4], [2, -4]], [0, -0.5])
    set_layer(net[2 * k], [[2, -4]], [0])
    return net


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_depth_k_sawtooth_network_has_two_to_the_k_regions(k):
    net = sawtooth_network(k)
    X = torch.tensor([[0.0], [1.0]])
    # it computes the sawtooth dataset's target exactly (a check of the construction)
    x, y = DATASETS["sawtooth"](
        DatasetSettings("sawtooth", n_samples=257, k=k), np.random.default_rng(0)
    )
    with torch.no_grad():
        assert np.allclose(net(torch.tensor(x, dtype=torch.float32)).numpy(), y, atol=1e-6)
    # 2k units give 2^k regions; one layer of 2k units gives at most 2k + 1
    assert diagnostics.linear_regions(net, diagnostics.region_grid(X)) == 2**k
    line = diagnostics.region_grid(X)
    assert len(diagnostics.kinks_1d(net, line)) == 2**k - 1


@pytest.mark.parametrize(
    "activation, expected",
    [("relu", int), ("leaky_relu", int), ("identity", 1), ("gelu", None), ("silu", None),
     ("tanh", None), ("sigmoid", None)],
)  # fmt: skip
def test_regions_exist_only_for_piecewise_linear_networks(activation, expected):
    net = make_mlp(2, [8, 8], 1, activation=activation, init="torch_default")
    grid = diagnostics.region_grid(torch.randn(50, 2, generator=torch.Generator().manual_seed(0)))
    count = diagnostics.linear_regions(net, grid)
    if expected is int:
        assert isinstance(count, int) and count > 1
    else:
        assert count == expected
    if expected is None:
        assert "is not piecewise linear" in diagnostics.piecewise_linear(net)


def test_layer_norm_is_not_piecewise_linear_but_batch_norm_in_eval_is():
    layer = make_mlp(2, [8], 1, norm="layer")
    batch = make_mlp(2, [8], 1, norm="batch")
    assert diagnostics.piecewise_linear(layer) == "LayerNorm is not piecewise linear"
    assert diagnostics.piecewise_linear(batch) is None


def test_region_grid_is_a_line_a_plane_or_nothing():
    assert diagnostics.region_grid(torch.rand(10, 1)).shape == (diagnostics.LINE_POINTS, 1)
    assert diagnostics.region_grid(torch.rand(10, 2)).shape == (diagnostics.PLANE_POINTS**2, 2)
    assert diagnostics.region_grid(torch.rand(10, 3)) is None


@pytest.mark.parametrize("width", [4, 16])
def test_trained_one_layer_net_on_sine_reports_at_most_n_plus_one(tmp_path, width):
    s = make_settings("dataset=sine", f"model.hidden=[{width}]", "trainer.epochs=150")
    result = run_single(s, tmp_path)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["linear_regions"] == result["linear_regions"]
    assert 2 <= result["linear_regions"] <= width + 1
    # He init with zero biases puts every kink at x = 0: two regions before training
    assert result["linear_regions_init"] == 2


def test_result_json_says_null_where_regions_are_undefined(tmp_path):
    tanh = run_single(make_settings("dataset=two_moons", "model.activation=tanh",
                                 "trainer.epochs=2"), tmp_path / "tanh")  # fmt: skip
    assert tanh["linear_regions"] is None and tanh["linear_regions_init"] is None
    wide = run_single(make_settings("dataset=iris", "trainer.epochs=2"), tmp_path / "iris")
    assert wide["linear_regions"] is None  # 4 inputs: no line or plane to count on
    for key in ("dead_fraction", "grad_ratio_first_last", "act_std_last", "dead_fraction_init",
                "grad_ratio_first_last_init", "act_std_last_init", "diagnostics_seconds"):  # fmt: skip
        assert isinstance(wide[key], float), key


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_diagnostics_and_figures_on_cuda(tmp_path):
    for name in ("two_moons", "sine"):
        s = make_settings(f"dataset={name}", "trainer.device=cuda", "trainer.epochs=3",
                          "trainer.layer_stats_every=1")  # fmt: skip
        result = run_single(s, tmp_path / name)
        assert isinstance(result["linear_regions"], int) and result["dead_fraction"] is not None
        assert len(pd.read_csv(tmp_path / name / "layers.csv")) == 4 * 2
    assert (tmp_path / "two_moons" / "neurons.png").is_file()
    assert (tmp_path / "sine" / "fit_1d.png").is_file()


@pytest.mark.parametrize("units", [0, 1, 7, 8, 63, 64, 65, 130])
def test_distinct_rows_counts_like_a_set_of_row_bytes(units):
    rng = np.random.default_rng(units)
    pool = rng.random((40, units)) < 0.5
    bits = pool[rng.integers(0, len(pool), 2000)]  # at most 40 distinct rows, many repeats
    expected = len({row.tobytes() for row in bits})
    assert diagnostics.distinct_rows(bits) == expected
    assert diagnostics.distinct_rows(bits[:1]) == 1 and diagnostics.distinct_rows(bits[:0]) == 0
    runs = np.repeat(bits[:300], np.random.default_rng(1).integers(1, 9, 300), axis=0)
    assert diagnostics.distinct_rows(runs) == len({row.tobytes() for row in runs})
    if units > 1:  # rows that differ only in their last unit are told apart
        twin = np.zeros((2, units), bool)
        twin[1, -1] = True
        assert diagnostics.distinct_rows(twin) == 2


def patterns_by_hand(net: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    """The sign of every ReLU-family unit's input, from a forward pass with no shortcut."""
    signs = []

    def walk(module, x):
        if isinstance(module, diagnostics.PIECEWISE_LINEAR_UNITS):
            signs.append(x.reshape(len(points), -1) > 0)
        if isinstance(module, torch.nn.Sequential):
            for child in module:
                x = walk(child, x)
            return x
        if isinstance(module, ResidualBlock):
            return x + walk(module.fc, module.norm(x))
        return module(x)

    with torch.no_grad():
        net.eval()
        walk(net, points)
    return torch.cat(signs, dim=1)


@pytest.mark.parametrize(
    "hidden, options",
    [([5], {}), ([8, 3], {"activation": "leaky_relu"}), ([4, 6, 2], {"dropout": 0.3}),
     ([6, 6], {"norm": "batch"}), ([5, 5, 5], {"residual": True})],
)  # fmt: skip
def test_activation_patterns_see_every_unit(hidden, options):
    net = make_mlp(2, hidden, 3, init="torch_default", generator=torch.Generator().manual_seed(1),
                   **options)  # fmt: skip
    points = torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    patterns = diagnostics.activation_patterns(net, points)
    assert len(patterns) == 500 and patterns.shape[1] >= sum(hidden)  # residual: 4x wider inside
    assert torch.equal(patterns, patterns_by_hand(net, points))


def test_activation_patterns_of_a_unit_used_twice_record_both_calls():
    relu = torch.nn.ReLU()
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), relu, torch.nn.Linear(4, 3), relu,
                              torch.nn.Linear(3, 1))  # fmt: skip
    points = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    patterns = diagnostics.activation_patterns(net, points)
    assert torch.equal(patterns, patterns_by_hand(net, points))
    assert patterns.shape == (100, 7)


# ---------------------------------------------------------------- whole stacks at once


def stack_of(activation: str, widths: list[list[int]], dataset: str = "two_moons", **layer):
    """A stack of make_mlp networks (one per widths, seed = its index) and its data."""
    s = make_settings(f"dataset={dataset}", f"model.activation={activation}",
                      f"model.hidden={widths[0]}".replace(" ", ""))  # fmt: skip
    data, _, loss = prepare(s)
    models = [
        build_model(
            dataclasses.replace(s, seed=k, model=dataclasses.replace(s.model, hidden=w)), data
        )[0]
        for k, w in enumerate(widths)
    ]
    return models, data, loss


@pytest.mark.parametrize(
    "activation", ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity"]
)
@pytest.mark.parametrize(
    "widths", [[[3], [8], [5]], [[8, 5], [4, 6], [8, 6]], [[16, 16, 4], [3, 9, 2]]]
)
def test_a_stacks_layer_statistics_are_each_models_own(activation, widths):
    # narrower models are padded; sigmoid's padded units output 0.5 and must not count
    models, data, loss = stack_of(activation, widths)
    stack = diagnostics.stack_models(models, activation)
    rows = diagnostics.stack_layer_stats(stack, data.X_train, data.y_train, loss)
    for model, got in zip(models, rows):
        expected = diagnostics.layer_stats(model, data.X_train, data.y_train, loss)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.keys() == b.keys()
            for key in a:
                if a[key] is None or isinstance(a[key], str):
                    assert a[key] == b[key], key
                else:
                    assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_a_stacks_statistics_in_chunks_are_those_of_one_pass(activation):
    # budget 64 with 3 models of width <= 16: one row per chunk, the last one shorter
    models, data, loss = stack_of(activation, [[16, 4], [9, 12], [16, 16]], dataset="tabular")
    stack = diagnostics.stack_models(models, activation)
    one_pass = diagnostics.stack_layer_stats(stack, data.X_train, data.y_train, loss)
    for budget in (64, 48 * 25, 48 * 333):
        chunked = diagnostics.stack_layer_stats(stack, data.X_train, data.y_train, loss, budget)
        for got, expected in zip(chunked, one_pass):
            for a, b in zip(got, expected):
                for key in a:
                    if a[key] is None or isinstance(a[key], str):
                        assert a[key] == b[key], key
                    else:
                        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), key
    # the dead units are counted over every chunk: a unit alive on one row only is alive
    assert one_pass[0][0]["dead_fraction"] < 1


def test_a_stacks_statistics_can_tell_its_models_apart():
    """The comparison above can fail: another model's numbers are not these."""
    models, data, loss = stack_of("relu", [[8], [8]])
    rows = diagnostics.stack_layer_stats(
        diagnostics.stack_models(models, "relu"), data.X_train, data.y_train, loss
    )
    other = diagnostics.layer_stats(models[1], data.X_train, data.y_train, loss)
    assert rows[0][0]["act_std"] != pytest.approx(other[0]["act_std"], rel=1e-5)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("dataset, widths", [
    ("two_moons", [[3], [12], [7]]), ("two_moons", [[8, 5], [4, 6]]), ("sine", [[16], [5], [9, 3]][:2]),
])  # fmt: skip
def test_a_stacks_linear_regions_are_each_models_own(activation, dataset, widths):
    models, data, loss = stack_of(activation, widths, dataset)
    grid = diagnostics.region_grid(data.X_train)
    stack = diagnostics.stack_models(models, activation)
    # a small budget makes it take the models a chunk at a time
    for budget in (1 << 24, 1):
        got = diagnostics.stack_regions(stack, grid, budget=budget)
        assert got == [diagnostics.linear_regions(m, grid) for m in models]
    one_point = diagnostics.stack_regions(diagnostics.stack_models(models, "relu"), grid[:1])
    assert one_point == [1] * len(models)


def test_smooth_activations_have_no_regions_in_a_stack_either():
    models, data, _ = stack_of("tanh", [[4], [6]])
    grid = diagnostics.region_grid(data.X_train)
    assert diagnostics.stack_regions(diagnostics.stack_models(models, "tanh"), grid) == [None, None]
