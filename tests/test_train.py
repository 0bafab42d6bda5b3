"""fit(): loss by task, a hand-checked SGD step, repeatability, divergence, epochs=0."""

import copy
import dataclasses
import inspect
import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import make_settings

from mlplab import train
from mlplab.settings import ConfigError, OptimizerSettings
from mlplab.train import evaluate, fit, lr_factor, make_optimizer, output_dim, prepare, resolve_loss


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


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_refused():
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


# ---------------------------------------------------------------- lr schedules and clipping


def torch_scheduler(opt, o, epochs):
    """torch.optim.lr_scheduler's own schedulers for ``o``: the reference for lr_factor."""
    sched = torch.optim.lr_scheduler
    w = o.warmup_epochs
    after = {
        "constant": lambda: sched.LambdaLR(opt, lambda k: 1.0),
        "step": lambda: sched.StepLR(opt, step_size=o.step_size, gamma=o.gamma),
        "cosine": lambda: sched.CosineAnnealingLR(opt, T_max=epochs - w, eta_min=o.min_lr),
    }[o.schedule]
    if not w:
        return after()
    warmup = sched.LinearLR(opt, start_factor=1 / (w + 1), end_factor=1.0, total_iters=w)
    return sched.SequentialLR(opt, [warmup, after()], milestones=[w])


SCHEDULES = [
    dict(schedule="constant"),
    dict(schedule="constant", warmup_epochs=3),
    dict(schedule="step", step_size=4, gamma=0.5),
    dict(schedule="step", step_size=3, gamma=0.1, warmup_epochs=2),
    dict(schedule="cosine"),
    dict(schedule="cosine", min_lr=0.001),
    dict(schedule="cosine", warmup_epochs=4, min_lr=0.002),
]


@pytest.mark.parametrize("values", SCHEDULES, ids=str)
def test_lr_factor_is_torchs_scheduler_stepped_once_per_epoch(values):
    o = optimizer_settings(name="sgd", lr=0.01, **values)
    epochs = 20
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=o.lr)
    scheduler = torch_scheduler(opt, o, epochs)
    lrs = []
    for epoch in range(1, epochs + 1):
        assert o.lr * lr_factor(o, epoch, epochs) == pytest.approx(
            opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15
        ), epoch
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert (len(set(lrs)) == 1) == (values == dict(schedule="constant"))  # the lr moves


def test_clip_grad_norm_is_torchs_clip_grad_norm_():
    gen = torch.Generator().manual_seed(0)
    shapes = [(16, 2), (16,), (1, 16), (1,)]
    grads = [torch.randn(s, generator=gen) for s in shapes]
    norm = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
    for max_norm in (0.1 * norm.item(), 10 * norm.item()):  # clipping, then not
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        ours = train.clip_grad_norm(grads, max_norm)
        for p, g in zip(params, ours):
            assert torch.allclose(p.grad, g, rtol=1e-6, atol=0)
    assert not torch.allclose(train.clip_grad_norm(grads, 0.1 * norm.item())[0], grads[0])


def textbook_fit(model, data, s, clip=True, schedule=True):
    """fit's recipe as the PyTorch tutorials write it: torch.optim's class, .backward(),
    clip_grad_norm_ on .grad and lr_scheduler stepped once per epoch; fit's shuffle order."""
    o, t = s.optimizer, s.trainer
    opt = TORCH_OPTIMIZERS[o.name](list(model.parameters()), o, foreach=False)
    scheduler = torch_scheduler(opt, o, t.epochs) if schedule else None
    shuffle = torch.Generator().manual_seed(s.seed + 1)
    n, clipped = len(data.X_train), 0
    for _ in range(t.epochs):
        order = torch.randperm(n, generator=shuffle)
        X, y = data.X_train[order], data.y_train[order]
        for i in range(0, n, t.batch_size):
            opt.zero_grad()
            batch = slice(i, i + t.batch_size)
            F.binary_cross_entropy_with_logits(model(X[batch]), y[batch]).backward()
            if clip:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
                clipped += int(norm > o.grad_clip)
            opt.step()
        if scheduler is not None:
            scheduler.step()
    return clipped


@pytest.mark.parametrize(
    "extra",
    [
        ["optimizer=sgd", "optimizer.momentum=0.9", "optimizer.schedule=step",
         "optimizer.step_size=2", "optimizer.gamma=0.5", "optimizer.grad_clip=0.05"],
        ["optimizer=adam", "optimizer.schedule=cosine", "optimizer.warmup_epochs=2",
         "optimizer.min_lr=0.001", "optimizer.grad_clip=0.1"],
        ["optimizer=rmsprop", "optimizer.schedule=cosine", "optimizer.grad_clip=0.1"],
    ],
    ids=["sgd-step-clip", "adam-warmup-cosine-clip", "rmsprop-cosine-clip"],
)  # fmt: skip
def test_fit_follows_torchs_scheduler_and_clip_grad_norm(extra):
    s, data, model, loss = prepared("dataset=two_moons", "trainer.epochs=6", *extra)
    reference, unclipped, unscheduled = (copy.deepcopy(model) for _ in range(3))
    fit(model, data, s, loss)
    assert textbook_fit(reference, data, s) > 0  # the clip acted
    textbook_fit(unclipped, data, s, clip=False)
    textbook_fit(unscheduled, data, s, schedule=False)
    for key, value in model.state_dict().items():
        assert torch.allclose(value, reference.state_dict()[key], rtol=1e-4, atol=1e-6), key
    for other in (unclipped, unscheduled):  # the comparison can tell either knob's absence
        assert not all(
            torch.allclose(v, other.state_dict()[k], rtol=1e-4, atol=1e-6)
            for k, v in model.state_dict().items()
        )


# ---------------------------------------------------------------- early stopping


def stop_by_hand(values: list[float], patience: int, larger_is_better: bool, min_delta=0.0):
    """(best epoch, last epoch run) of the patience rule, applied to a history column."""
    best, since = 0, 0
    for epoch in range(1, len(values)):
        gain = values[epoch] - values[best]
        if (gain if larger_is_better else -gain) > min_delta:
            best, since = epoch, 0
        else:
            since += 1
            if since == patience:
                return best, epoch
    return best, len(values) - 1


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def weights(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "extra",
    [[], ["model.norm=batch"], ["model.dropout=0.2"]],
    ids=["plain", "batch-norm", "dropout"],
)
def test_early_stopping_stops_by_the_rule_and_returns_the_best_epochs_weights(extra):
    common = ["dataset=two_moons", "trainer.epochs=80", *extra]
    s, data, model, loss = prepared(*common, "trainer.early_stopping.patience=4")
    r = fit(model, data, s, loss)
    best, last = stop_by_hand([row["val_acc"] for row in r.history], 4, larger_is_better=True)
    assert r.stopped_early and r.early_stopping and (r.best_epoch, r.epochs_run) == (best, last)
    assert r.model_epoch == best < last == len(r.history) - 1 < 80
    # early stopping changes nothing in the training, it ends it: the same run without
    # patience has the same history up to there ...
    s_all, _, model_all, _ = prepared(*common)
    full = fit(model_all, data, s_all, loss)
    assert untimed(full.history[: last + 1]) == untimed(r.history) and not full.early_stopping
    assert (full.model_epoch, full.epochs_run) == (80, 80)
    # ... and the weights returned are those of a run of best_epoch epochs, bit for bit
    s_best, _, model_best, _ = prepared(*common, f"trainer.epochs={best}")
    fit(model_best, data, s_best, loss)
    ours, ref = weights(r.model), weights(model_best)
    assert all(torch.equal(ours[k], ref[k]) for k in ref)
    acc = evaluate(r.model, data.X_val, data.y_val, loss)[1]
    assert float(acc) == r.history[best]["val_acc"]


@pytest.mark.parametrize(
    "metric, larger_is_better",
    [("val_loss", False), ("train_loss", False), ("train_acc", True), ("val_acc", True)],
)
def test_the_metric_decides_the_best_epoch(metric, larger_is_better):
    s, data, model, loss = prepared(
        "dataset=two_moons", "trainer.epochs=25", "trainer.early_stopping.patience=1000",
        f"trainer.early_stopping.metric={metric}",
    )  # fmt: skip
    r = fit(model, data, s, loss)
    values = [row[metric] for row in r.history]
    best, last = stop_by_hand(values, 1000, larger_is_better)
    assert (r.best_epoch, r.model_epoch, r.epochs_run, r.stopped_early) == (best, best, 25, False)
    assert best == (values.index(max(values)) if larger_is_better else values.index(min(values)))


def test_min_delta_counts_only_larger_improvements():
    # no epoch beats epoch 0's accuracy by more than 0.6: stop after `patience` epochs, at init
    s, data, model, loss = prepared(
        "dataset=two_moons", "trainer.epochs=50", "trainer.early_stopping.patience=3",
        "trainer.early_stopping.min_delta=0.6",
    )  # fmt: skip
    initial = weights(model)
    r = fit(model, data, s, loss)
    assert (r.best_epoch, r.epochs_run, r.stopped_early) == (0, 3, True)
    assert all(torch.equal(v, initial[k]) for k, v in r.model.state_dict().items())
    values = [row["val_acc"] for row in r.history]
    assert stop_by_hand(values, 3, True, min_delta=0.6) == (0, 3)
    assert stop_by_hand(values, 3, True) != (0, 3)  # without min_delta it would go on


def test_without_patience_the_best_epoch_is_reported_and_the_last_kept():
    s, data, model, loss = prepared("dataset=two_moons", "trainer.epochs=10")
    r = fit(model, data, s, loss)
    accs = [row["val_acc"] for row in r.history]
    assert r.best_epoch == accs.index(max(accs)) and r.model_epoch == r.epochs_run == 10
    assert not (r.early_stopping or r.stopped_early)


def test_without_a_val_split_auto_follows_the_training_split():
    s, data, model, loss = prepared(
        "dataset=two_moons", "dataset.val_fraction=0", "trainer.epochs=40",
        "trainer.early_stopping.patience=3",
    )  # fmt: skip
    assert train.early_stopping_metric(s.trainer.early_stopping, data) == "train_acc"
    r = fit(model, data, s, loss)
    best, last = stop_by_hand([row["train_acc"] for row in r.history], 3, True)
    assert (r.best_epoch, r.epochs_run) == (best, last)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (
            ["dataset.val_fraction=0", "trainer.early_stopping.metric=val_loss"],
            r"^trainer.early_stopping.metric=val_loss needs a validation split \(dataset.val_fraction"
            r" > 0 or dataset.folds=K\). Choose one of: auto, train_acc, train_loss\.$",
        ),
        (
            ["dataset=sine", "trainer.early_stopping.metric=val_acc"],
            r"^trainer.early_stopping.metric=val_acc: a regression task has no accuracy. "
            r"Choose one of: auto, train_loss, val_loss\.$",
        ),
    ],
)
def test_a_metric_the_data_cannot_give_is_refused_before_training(overrides, match):
    with pytest.raises(ConfigError, match=match):
        prepared(*overrides)


def test_summarize_reports_the_returned_the_best_and_the_last_epoch():
    history = [
        {"epoch": e, "train_loss": 1 / (e + 1), "val_loss": l, "train_acc": e / 10, "val_acc": a}
        for e, (l, a) in enumerate([(0.9, 0.5), (0.5, 0.8), (0.4, 0.9), (0.6, 0.85), (0.7, 0.8)])
    ]
    stopped = train.FitResult(
        history, epochs_run=4, best_epoch=2, model_epoch=2, early_stopping=True, stopped_early=True
    )
    assert train.summarize(stopped, "binary") == {
        "epochs_run": 4, "train_loss": 1 / 3, "val_loss": 0.4, "train_acc": 0.2, "val_acc": 0.9,
        "best_val_acc": 0.9, "best_val_loss": 0.4, "best_epoch": 2,
        "last_train_loss": 0.2, "last_val_loss": 0.7, "last_train_acc": 0.4, "last_val_acc": 0.8,
    }  # fmt: skip
    plain = train.FitResult(history, epochs_run=4, best_epoch=2, model_epoch=4)
    assert train.summarize(plain, "regression") == {
        "epochs_run": 4, "train_loss": 0.2, "val_loss": 0.7, "best_val_loss": 0.4, "best_epoch": 2,
    }  # fmt: skip


def test_result_json_under_early_stopping_through_the_cli(tmp_path):
    from conftest import run_cli
    from safetensors.torch import load_file

    run = tmp_path / "run"
    done = run_cli(
        "dataset=two_moons", "trainer.epochs=200", "trainer.early_stopping.patience=5",
        "dataset.test_fraction=0.2", f"hydra.run.dir={run}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((run / "result.json").read_text())
    history = pd.read_csv(run / "history.csv")
    best, last = result["best_epoch"], result["epochs_run"]
    assert best < last == history["epoch"].iloc[-1] < 200
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert result[key] == pytest.approx(history[key][best], rel=1e-12)
        assert result[f"last_{key}"] == pytest.approx(history[key][last], rel=1e-12)
    assert result["best_val_acc"] == result["val_acc"] == history["val_acc"].max()
    # model.safetensors holds the best epoch's weights: they score its val_acc
    s = make_settings("dataset=two_moons", "dataset.test_fraction=0.2")
    data, model, loss = prepare(s)
    model.load_state_dict(load_file(str(run / "model.safetensors")))
    val_loss, val_acc = evaluate(model, data.X_val, data.y_val, loss)
    assert float(val_acc) == pytest.approx(result["val_acc"], abs=1e-7)
    assert float(val_loss) == pytest.approx(result["val_loss"], rel=1e-5)
    test_acc = evaluate(model, data.X_test, data.y_test, loss)[1]
    assert float(test_acc) == pytest.approx(result["test_acc"], abs=1e-7)


# ---------------------------------------------------------------- loss=mse on a binary task


def test_mse_on_a_binary_task_is_the_squared_error_of_the_probability():
    s, data, model, loss = prepared("dataset=two_moons", "loss=mse", "trainer.epochs=0")
    assert loss == "sigmoid_mse" and model[-1].out_features == 1
    r = fit(model, data, s, loss)
    with torch.no_grad():
        p = torch.sigmoid(model(data.X_val))
    by_hand = ((p - data.y_val) ** 2).mean().item()
    acc = ((p > 0.5).float() == data.y_val).float().mean().item()  # probability > 0.5
    assert r.history[0]["val_loss"] == pytest.approx(by_hand, rel=1e-6)
    assert r.history[0]["val_acc"] == pytest.approx(acc)
    assert 0.0 < acc < 1.0  # a real mix of right and wrong


def test_one_full_batch_sgd_step_of_sigmoid_mse_matches_the_hand_gradient():
    s, data, model, loss = prepared(
        "dataset=two_moons", "loss=mse", "model.hidden=[]", "model.init=normal",
        "model.init_std=0.5", "optimizer=sgd", "optimizer.lr=0.5", "trainer.epochs=1",
        "trainer.batch_size=null",
    )  # fmt: skip
    W0, b0 = model[0].weight.detach().clone(), model[0].bias.detach().clone()
    X, y = data.X_train, data.y_train
    p = torch.sigmoid(X @ W0.T + b0)
    # L = mean((p - y)^2): dL/dz = 2/N (p - y) p (1 - p), the sigmoid's derivative included
    dz = 2 / len(X) * (p - y) * p * (1 - p)
    fit(model, data, s, loss)
    assert torch.allclose(model[0].weight, W0 - 0.5 * dz.T @ X, atol=1e-6)
    assert torch.allclose(model[0].bias, b0 - 0.5 * dz.sum(0), atol=1e-6)
    # and not the gradient of BCE, (p - y) / N: the comparison tells the two apart
    assert not torch.allclose(model[0].weight, W0 - 0.5 * ((p - y) / len(X)).T @ X, atol=1e-4)


def test_loss_mse_on_a_binary_task_through_the_cli_is_reported_as_typed(tmp_path):
    from conftest import run_cli

    done = run_cli(
        "-m", "loss=mse,bce", "trainer.epochs=3", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "sweep" / "results.csv")
    assert sorted(results["loss"]) == ["bce", "mse"] and results["val_acc"].notna().all()
    for run_dir in results["run_dir"]:
        result = json.loads((tmp_path / "sweep" / run_dir / "result.json").read_text())
        expected = {"mse": "sigmoid_mse", "bce": "bce"}[result["config"]["loss"]]
        assert result["loss_fn"] == expected


def test_the_history_measures_the_training_split_on_its_first_rows():
    # 6000 samples: 4800 train rows, more than TRAIN_SAMPLE; the validation split whole
    s = make_settings("dataset=tabular", "dataset.n_samples=6000", "trainer.epochs=1")
    data, model, loss = prepare(s)
    assert len(data.X_train) > train.TRAIN_SAMPLE
    at_init = copy.deepcopy(model)
    first = slice(0, train.TRAIN_SAMPLE)
    sample_loss, sample_acc = evaluate(at_init, data.X_train[first], data.y_train[first], loss)
    full_loss, _ = evaluate(at_init, data.X_train, data.y_train, loss)
    val_loss, _ = evaluate(at_init, data.X_val, data.y_val, loss)
    from mlplab.stacked import fit_many

    stacked = fit_many([s, dataclasses.replace(s, seed=1)], data)[0].history[0]
    for row in (fit(model, data, s, loss).history[0], stacked):
        assert row["train_loss"] == pytest.approx(sample_loss.item(), rel=1e-6)
        assert row["train_acc"] == pytest.approx(sample_acc.item())
        assert row["train_loss"] != pytest.approx(full_loss.item(), rel=1e-6)  # can tell them apart
        assert row["val_loss"] == pytest.approx(val_loss.item(), rel=1e-6)
