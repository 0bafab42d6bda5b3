"""fit(): loss by task, a hand-checked SGD step, repeatability, divergence, epochs=0."""

import copy
import dataclasses
import inspect

import pytest
import torch
from conftest import make_settings

from mlplab import train
from mlplab.job import prepare
from mlplab.settings import ConfigError, OptimizerSettings
from mlplab.train import evaluate, fit, make_optimizer, output_dim, resolve_loss


def prepared(*overrides):
    s = make_settings(*overrides)
    data, model, loss = prepare(s)
    return s, data, model, loss


def test_auto_loss_follows_the_task():
    assert [resolve_loss("auto", t) for t in ("binary", "multiclass", "regression")] == [
        "bce",
        "cross_entropy",
        "mse",
    ]
    assert resolve_loss("cross_entropy", "binary") == "cross_entropy"
    # seed 002's MSE for classification: a sigmoid output, MSE on the probability
    assert resolve_loss("mse", "binary") == "sigmoid_mse"
    assert resolve_loss("mse", "regression") == "mse"


@pytest.mark.parametrize(
    "loss, task, match",
    [
        (
            "bce",
            "multiclass",
            r"loss=bce does not fit a multiclass task \(3 classes\). Choose one of: auto, cross_entropy",
        ),
        (
            "cross_entropy",
            "regression",
            r"loss=cross_entropy does not fit a regression task \(real-valued targets\). Choose one of: auto, mse",
        ),
        (
            "mse",
            "multiclass",
            r"loss=mse does not fit a multiclass task \(3 classes\). Choose one of: auto, cross_entropy\.$",
        ),
        (
            "bce",
            "regression",
            r"loss=bce does not fit a regression task \(real-valued targets\). Choose one of: auto, mse\.$",
        ),
    ],
)
def test_a_loss_that_does_not_fit_the_task_is_refused(loss, task, match):
    with pytest.raises(ConfigError, match=match):
        resolve_loss(loss, task, n_classes=3)


def test_cross_entropy_on_a_binary_task_gives_two_logits():
    s, data, model, loss = prepared("dataset=two_moons", "loss=cross_entropy", "trainer.epochs=3")
    assert output_dim(loss, data) == 2 and model[-1].out_features == 2
    assert fit(model, data, s, loss).status == "completed"


def test_one_full_batch_sgd_step_matches_the_hand_gradient():
    s, data, model, loss = prepared(
        "dataset=diag_flip", "model.hidden=[]", "model.init=normal", "model.init_std=0.3",
        "optimizer=sgd", "optimizer.lr=0.1", "trainer.epochs=1", "trainer.batch_size=null",
    )  # fmt: skip
    W0, b0 = model[0].weight.detach().clone(), model[0].bias.detach().clone()
    X, Y = data.X_train, data.y_train
    # MSE averages over N*4 entries: dL/dW = 2/(N*4) * (XW^T + b - Y)^T X
    residual = X @ W0.T + b0 - Y
    n = residual.numel()
    W1 = W0 - 0.1 * (2 / n) * residual.T @ X
    b1 = b0 - 0.1 * (2 / n) * residual.sum(0)
    fit(model, data, s, loss)
    assert torch.allclose(model[0].weight, W1, atol=1e-6)
    assert torch.allclose(model[0].bias, b1, atol=1e-6)


def test_history_has_epoch_zero_at_init_and_one_row_per_epoch():
    s, data, model, loss = prepared("trainer.epochs=4")
    r = fit(model, data, s, loss)
    assert [row["epoch"] for row in r.history] == [0, 1, 2, 3, 4]
    assert set(r.history[0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "train_acc",
        "val_acc",
        "seconds",
    }


def test_epochs_zero_evaluates_the_initial_network_and_trains_nothing():
    s, data, model, loss = prepared("trainer.epochs=0")
    before = copy.deepcopy(model.state_dict())
    r = fit(model, data, s, loss)
    assert len(r.history) == 1 and r.status == "completed"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    loss0, acc0 = evaluate(model, data.X_train, data.y_train, loss)
    assert r.history[0]["train_loss"] == float(loss0) and r.history[0]["train_acc"] == float(acc0)


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["model.dropout=0.3"],
        ["model.norm=batch"],
        ["optimizer=rmsprop", "optimizer.momentum=0.5"],
    ],
)
def test_same_settings_give_bitwise_identical_histories(extra):
    def losses(*ov):
        s, data, model, loss = prepared("trainer.epochs=5", *ov)
        torch.manual_seed(999)  # global state before the run must not matter
        return [
            (r["train_loss"], r["val_loss"], r["train_acc"], r["val_acc"])
            for r in fit(model, data, s, loss).history
        ]

    assert losses(*extra) == losses(*extra)
    assert losses(*extra) != losses("seed=1", *extra)


def test_accuracy_is_computed_as_by_hand():
    s, data, model, loss = prepared("trainer.epochs=0")
    with torch.no_grad():
        predicted = (model(data.X_val) > 0).float()
    by_hand = (predicted == data.y_val).sum().item() / len(data.y_val)
    assert float(evaluate(model, data.X_val, data.y_val, loss)[1]) == pytest.approx(by_hand)


def test_a_non_finite_loss_stops_the_run_as_diverged():
    s, data, model, loss = prepared(
        "dataset=diag_flip", "optimizer=sgd", "optimizer.lr=1e6", "trainer.epochs=50"
    )
    r = fit(model, data, s, loss)
    assert r.status == "diverged" and "non-finite loss" in r.error
    assert len(r.history) < 51


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_lowers_the_loss(optimizer):
    s, data, model, loss = prepared(
        "dataset=diag_flip", f"optimizer={optimizer}", "trainer.epochs=30"
    )
    r = fit(model, data, s, loss)
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]


def test_device_cuda_without_cuda_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(
        ConfigError,
        match=r"trainer.device=cuda but no CUDA device is available. Choose one of: auto, cpu",
    ):
        prepared("trainer.device=cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_runs_on_cuda_with_data_on_the_device():
    s, data, model, loss = prepared("trainer.device=cuda", "trainer.epochs=3")
    assert data.X_train.is_cuda and next(model.parameters()).is_cuda
    assert fit(model, data, s, loss).status == "completed"


TORCH_OPTIMIZERS = {
    "adam": lambda p, o, **kw: torch.optim.Adam(p, lr=o.lr, weight_decay=o.weight_decay, **kw),
    "adamw": lambda p, o, **kw: torch.optim.AdamW(p, lr=o.lr, weight_decay=o.weight_decay, **kw),
    "sgd": lambda p, o, **kw: torch.optim.SGD(
        p, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum, **kw
    ),
    "rmsprop": lambda p, o, **kw: torch.optim.RMSprop(
        p, lr=o.lr, weight_decay=o.weight_decay, momentum=o.momentum, **kw
    ),
}


def optimizer_settings(**values) -> OptimizerSettings:
    """OptimizerSettings with configs/' defaults for every key not in ``values``."""
    return dataclasses.replace(make_settings().optimizer, **values)


@pytest.mark.parametrize(
    "values",
    [
        dict(name="adam", lr=0.01),
        dict(name="adam", lr=0.01, weight_decay=0.1),
        dict(name="adamw", lr=0.003, weight_decay=0.01),
        dict(name="sgd", lr=0.1),
        dict(name="sgd", lr=0.1, weight_decay=0.01, momentum=0.9),
        dict(name="rmsprop", lr=0.001),
        dict(name="rmsprop", lr=0.001, weight_decay=0.01, momentum=0.5),
    ],
    ids=str,
)
def test_make_optimizer_steps_as_torch_optim_does(values):
    o = optimizer_settings(**values)
    # fit calls torch.optim's functional update with state of its own; the classes
    # are the reference: bit for bit against the same kernel (fused, or foreach for
    # RMSprop), and within rounding against the default single-tensor loop.
    gen = torch.Generator().manual_seed(0)
    shapes = [(16, 2), (16,), (1, 16), (1,)]
    start = [torch.randn(s, generator=gen) for s in shapes]
    grads = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(5)]
    ours = [torch.nn.Parameter(t.clone()) for t in start]
    same_kernel = [torch.nn.Parameter(t.clone()) for t in start]
    textbook = [torch.nn.Parameter(t.clone()) for t in start]
    step = make_optimizer(ours, o)
    kernel = {"foreach": True} if o.name == "rmsprop" else {"fused": True}
    references = [
        TORCH_OPTIMIZERS[o.name](same_kernel, o, **kernel),
        TORCH_OPTIMIZERS[o.name](textbook, o, foreach=False),
    ]
    for g in grads:
        step(g)
        for params, ref in zip((same_kernel, textbook), references):
            for p, gi in zip(params, g):
                p.grad = gi.clone()
            ref.step()
    for a, b, c, a0 in zip(ours, same_kernel, textbook, start):
        assert not torch.equal(a, a0)  # the step moved something
        assert torch.equal(a, b)
        assert torch.allclose(a, c, rtol=1e-5, atol=1e-7)


def test_optimizer_constants_are_torch_optims_defaults():
    adam = inspect.signature(torch.optim.Adam).parameters
    rmsprop = inspect.signature(torch.optim.RMSprop).parameters
    assert train.ADAM_BETAS == adam["betas"].default and train.ADAM_EPS == adam["eps"].default
    assert train.RMSPROP_ALPHA == rmsprop["alpha"].default
    assert train.RMSPROP_EPS == rmsprop["eps"].default
