"""fit_many against fit: the same histories, statuses and weights for the same settings.

fit is the reference: every test trains the same configs both ways and compares the
numbers, tightly for a few epochs and by final accuracy over full runs.
"""

import json
import math

import pytest
import torch
from conftest import make_settings
from safetensors.torch import load_file, save_file

from mlplab import stacked
from mlplab.data import load
from mlplab.grouping import stack_groups, stack_key, stackable
from mlplab.model import ACTIVATIONS
from mlplab.stacked import fit_many
from mlplab.train import LOSSES, build_model, fit

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


@pytest.fixture(autouse=True)
def one_thread():
    # as prepare() sets it from trainer.threads: two threads on a busy two-core
    # machine make these tiny steps up to 50x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def settings(*per_model, common=(), epochs=4):
    """One RunSettings per override list, all sharing ``common`` and the epoch count."""
    return [make_settings(*common, *extra, f"trainer.epochs={epochs}") for extra in per_model]


def both(settings_list):
    """(fit's results, fit_many's results) for the same settings on the same data."""
    data = load(settings_list[0].dataset)
    many = fit_many(settings_list, data)
    alone = []
    for s in settings_list:
        model, loss = build_model(s, data)
        alone.append(fit(model, data, s, loss))
    return alone, many


def assert_same_history(ref, got, rtol=1e-5):
    assert got.status == ref.status and got.error == ref.error
    for key in ("epochs_run", "best_epoch", "model_epoch", "early_stopping", "stopped_early"):
        assert getattr(got, key) == getattr(ref, key), key
    assert [r["epoch"] for r in got.history] == [r["epoch"] for r in ref.history]
    assert all(set(a) == set(b) for a, b in zip(ref.history, got.history))
    for a, b in zip(ref.history, got.history):
        for key in METRICS:
            if a[key] is None or b[key] is None:
                assert a[key] is None and b[key] is None, key
            elif math.isfinite(a[key]):
                assert b[key] == pytest.approx(a[key], rel=rtol, abs=1e-7), (a["epoch"], key)
            else:
                assert not math.isfinite(b[key]), (a["epoch"], key)


def assert_same_weights(ref_model, got_model, rtol=1e-4):
    ref, got = ref_model.state_dict(), got_model.state_dict()
    assert list(got) == list(ref)
    for key in ref:
        assert got[key].shape == ref[key].shape
        assert torch.allclose(got[key], ref[key], rtol=rtol, atol=1e-5), key


def test_mixed_widths_in_one_group_match_fit_model_by_model():
    group = settings(
        ["seed=0"], ["seed=1", "model.hidden=[4]", "optimizer.lr=0.003"], ["seed=2", "model.hidden=[9]"]
    )  # fmt: skip
    alone, many = both(group)
    for ref, got in zip(alone, many):
        assert_same_history(ref, got)
        assert_same_weights(ref.model, got.model)
        assert not got.model.training


@pytest.mark.parametrize(
    "other",
    [
        ["seed=1"],
        ["optimizer.lr=0.02"],
        ["optimizer.schedule=cosine"],
        ["optimizer.warmup_epochs=1"],
        ["optimizer.schedule=step", "optimizer.step_size=2"],
        ["optimizer.grad_clip=0.05"],
        ["trainer.early_stopping.patience=1"],
        ["loss=mse"],
    ],
)
def test_the_comparison_can_fail(other):
    # the same check must notice another seed, lr, schedule, warmup, clip, patience or loss
    alone, _ = both(settings(["seed=0"]))
    _, wrong = both(settings(["seed=0", *other]))
    with pytest.raises(AssertionError):
        assert_same_history(alone[0], wrong[0])


@pytest.mark.parametrize(
    "optimizer, per_model",
    [
        ("adam", [[], ["optimizer.weight_decay=0.01"]]),
        ("adamw", [[], ["optimizer.weight_decay=0.1", "optimizer.lr=0.01"]]),
        ("sgd", [[], ["optimizer.momentum=0.9", "optimizer.weight_decay=0.001"]]),
        ("rmsprop", [[], ["optimizer.momentum=0.5", "optimizer.weight_decay=0.01"]]),
    ],
)
def test_each_optimizer_with_per_model_hyper_parameters(optimizer, per_model):
    group = settings(
        *[[f"seed={i}", *extra] for i, extra in enumerate(per_model)],
        ["seed=5", "model.hidden=[3]"],
        common=[f"optimizer={optimizer}"],
    )
    for ref, got in zip(*both(group)):
        assert_same_history(ref, got)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_each_activation_two_layers_deep_with_padding(activation):
    group = settings(
        ["seed=0", "model.hidden=[7,3]"], ["seed=1", "model.hidden=[4,9]"],
        common=[f"model.activation={activation}"], epochs=3,
    )  # fmt: skip
    for ref, got in zip(*both(group)):
        assert_same_history(ref, got)


@pytest.mark.parametrize(
    "common, narrow",
    [
        (["dataset=spiral", "trainer.batch_size=null", "trainer.epochs=15"], "[3]"),
        (["dataset=two_moons", "loss=cross_entropy", "trainer.epochs=4"], "[3]"),
        (["dataset=two_moons", "loss=mse", "trainer.epochs=4"], "[3]"),
        (["dataset=diag_flip", "model.hidden=[6,2]", "trainer.epochs=15"], "[3,5]"),
        (["dataset=sine", "trainer.batch_size=16", "trainer.epochs=4"], "[3]"),
        (["dataset=xor", "model.hidden=[]", "trainer.batch_size=null", "trainer.epochs=15"], "[]"),
    ],
    ids=[
        "ce-3-classes-full-batch",
        "ce-binary",
        "sigmoid-mse-binary",
        "mse-4-outputs-no-val",
        "mse-1-input",
        "linear-xor",
    ],
)
def test_each_loss_and_batch_mode(common, narrow):
    group = [
        make_settings(*common, "seed=0"),
        make_settings(*common, "seed=1", f"model.hidden={narrow}"),
    ]
    for ref, got in zip(*both(group)):
        assert_same_history(ref, got)


def test_dropout_masks_are_drawn_as_fit_draws_them():
    group = settings(
        ["seed=0", "model.dropout=0.3"], ["seed=1", "model.hidden=[8,4]", "model.dropout=0.5"],
        ["seed=2", "model.hidden=[16,3]"], common=["model.hidden=[16,16]"],
    )  # fmt: skip
    for ref, got in zip(*both(group)):
        assert_same_history(ref, got)
        assert_same_weights(ref.model, got.model)


def test_one_diverging_model_does_not_disturb_the_others():
    group = settings(
        ["seed=0"], ["seed=1", "optimizer.lr=1e6"], ["seed=2", "model.hidden=[5]"],
        common=["dataset=diag_flip", "optimizer=sgd"], epochs=30,
    )  # fmt: skip
    alone, many = both(group)
    assert [r.status for r in many] == ["completed", "diverged", "completed"]
    assert "non-finite loss" in many[1].error and len(many[1].history) < 31
    for ref, got in zip(alone, many):
        assert_same_history(ref, got)
    for ref, got in zip(alone[::2], many[::2]):
        assert_same_weights(ref.model, got.model)


def test_epochs_zero_returns_the_initial_networks_unchanged():
    group = settings(["seed=0"], ["seed=1", "model.hidden=[3]"], epochs=0)
    alone, many = both(group)
    for ref, got in zip(alone, many):
        assert_same_history(ref, got)
        assert len(got.history) == 1 and got.status == "completed"
        assert_same_weights(ref.model, got.model, rtol=0)  # copied in and out exactly


def test_models_sharing_a_seed_and_a_lone_model_match_fit():
    # one shuffle generator serves every model of a seed; a stack of one still works
    for ref, got in zip(*both(settings(["seed=4"], ["seed=4", "optimizer.lr=0.05"]))):
        assert_same_history(ref, got)
    for ref, got in zip(*both(settings(["seed=4", "model.dropout=0.2"]))):
        assert_same_history(ref, got)


def test_padded_units_stay_exactly_zero(monkeypatch):
    # sigmoid(0) = 0.5: a padded unit has an output, so only masking keeps it at zero
    rows = {}
    unstack = stacked._unstack

    def spy(params_row, slots, model):
        rows[id(model)] = (params_row.clone(), slots)
        unstack(params_row, slots, model)

    monkeypatch.setattr(stacked, "_unstack", spy)
    group = settings(
        ["seed=0", "model.hidden=[16,16]"], ["seed=1", "model.hidden=[3,5]"],
        common=["model.activation=sigmoid", "optimizer=adamw", "optimizer.weight_decay=0.1"],
    )  # fmt: skip
    data = load(group[0].dataset)
    results = fit_many(group, data)
    params, slots = rows[id(results[1].model)]
    real = torch.zeros_like(params)
    for (W, b), lin in zip(
        stacked._layers(real[None], slots), [m for m in results[1].model if hasattr(m, "weight")]
    ):
        W[0, : lin.in_features, : lin.out_features] = 1
        b[0, 0, : lin.out_features] = 1
    assert real.sum() < len(real)  # there is padding to check
    assert torch.all(params[real == 0] == 0)
    assert torch.all(params[real == 1] != 0)


def test_checkpoint_has_fits_keys_and_round_trips(tmp_path):
    group = settings(["seed=0"], ["seed=1", "model.hidden=[4]"])
    data = load(group[0].dataset)
    for s, result in zip(group, fit_many(group, data)):
        model, _ = build_model(s, data)
        state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
        save_file(state, str(tmp_path / "model.safetensors"))
        model.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
        assert result.train_seconds > 0
        assert [r["seconds"] for r in result.history] == sorted(
            r["seconds"] for r in result.history
        )


@pytest.mark.parametrize(
    "dataset, per_model",
    [
        ("two_moons", [["seed=0"], ["seed=1", "model.hidden=[4]"], ["seed=2", "model.hidden=[8]"]]),
        ("xor", [["seed=0", "model.hidden=[4]"], ["seed=1", "model.hidden=[8]"]]),
        ("diag_flip", [["seed=0", "model.hidden=[16]"], ["seed=1", "model.hidden=[2]"]]),
        ("spiral", [["seed=0", "model.hidden=[32]"], ["seed=1", "model.hidden=[8]"]]),
    ],
)
def test_full_runs_end_with_the_same_accuracy(dataset, per_model):
    # 300 epochs amplify rounding differences, but not enough to change a prediction
    group = settings(*per_model, common=[f"dataset={dataset}"], epochs=300)
    for ref, got in zip(*both(group)):
        assert got.status == ref.status == "completed"
        a, b = ref.history[-1], got.history[-1]
        if a["train_acc"] is None:  # diag_flip is a regression
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-2, abs=1e-6)
        else:
            assert (b["train_acc"], b["val_acc"]) == (a["train_acc"], a["val_acc"])


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_hand_written_activation_gradients_are_autograds(activation):
    forward, forward_, backward = stacked.STACKED_ACTIVATIONS[activation]
    gen = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(4, 5, 6, generator=gen)).requires_grad_()
    g = torch.randn(4, 5, 6, generator=gen)
    module = ACTIVATIONS[activation]()
    a = module(z)
    (expected,) = torch.autograd.grad(a, z, g)
    with torch.no_grad():
        assert torch.equal(forward(z), a) and torch.equal(forward_(z.clone()), a)
        assert torch.allclose(backward(g, z, a), expected, rtol=1e-6, atol=1e-7)
    assert set(stacked.STACKED_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize(
    "extra", [["model.norm=batch"], ["model.norm=layer"], ["model.residual=true"]]
)
def test_what_cannot_stack_falls_back_to_fit(extra):
    s = make_settings(*extra)
    assert not stackable(s) and stack_key(s) is None
    plain = make_settings()
    assert stack_groups([plain, s, make_settings("seed=1")]) == [[0, 2], [1]]
    with pytest.raises(ValueError, match="stack_groups"):
        fit_many([s], load(s.dataset))


def test_groups_split_on_what_must_be_shared():
    group = [
        make_settings("seed=0"),
        make_settings(
            "seed=1",
            "model.hidden=[4]",
            "optimizer.lr=0.1",
            "model.dropout=0.2",
            "optimizer.schedule=cosine",
            "optimizer.warmup_epochs=3",
            "optimizer.grad_clip=1",
            "trainer.early_stopping.patience=5",
            "trainer.early_stopping.metric=val_loss",
        ),  # fmt: skip
        make_settings("model.hidden=[4,4]"),  # another depth
        make_settings("optimizer=sgd"),  # another optimizer
        make_settings("trainer.batch_size=16"),  # another batch size
        make_settings("seed=2", "model.init=xavier_uniform"),
    ]
    assert stack_groups(group) == [[0, 1, 5], [2], [3], [4]]
    assert stack_groups(group, max_models=2) == [[0, 1], [2], [3], [4], [5]]
    with pytest.raises(ValueError, match="one stack_key"):
        fit_many(group[:3], load(group[0].dataset))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_many_on_cuda_matches_fit_on_cuda():
    # data and weights stay on the device; no dropout (CUDA masks match only statistically)
    group = settings(
        ["model.hidden=[8]", "seed=0"],
        ["model.hidden=[16]", "seed=1"],
        common=["trainer.device=cuda"],
        epochs=5,
    )
    data = load(group[0].dataset, torch.device("cuda"))
    many = fit_many(group, data)
    for s, got in zip(group, many):
        model, loss = build_model(s, data)
        assert next(model.parameters()).is_cuda and next(got.model.parameters()).is_cuda
        assert_same_history(fit(model, data, s, loss), got, rtol=1e-4)


# ---------------------------------------------------------------- the training knobs, per model

# One stack, every model with its own patience, schedule, warmup, clip value and lr.
MIXED_KNOBS = [
    ["seed=0", "trainer.early_stopping.patience=3"],
    ["seed=1", "model.hidden=[5]", "optimizer.lr=0.03", "optimizer.schedule=cosine",
     "optimizer.warmup_epochs=3", "optimizer.grad_clip=0.1", "trainer.early_stopping.patience=5"],
    ["seed=2", "optimizer.schedule=step", "optimizer.step_size=5", "optimizer.gamma=0.5",
     "optimizer.grad_clip=0.5"],
    ["seed=3", "model.hidden=[9]", "optimizer.lr=0.003", "optimizer.schedule=cosine",
     "optimizer.min_lr=0.001", "trainer.early_stopping.patience=4",
     "trainer.early_stopping.metric=val_loss", "trainer.early_stopping.min_delta=0.001"],
    ["seed=4", "optimizer.warmup_epochs=2", "trainer.early_stopping.patience=6",
     "trainer.early_stopping.metric=train_loss"],
]  # fmt: skip


@pytest.mark.parametrize(
    "common",
    [
        ["optimizer=adam"],
        ["optimizer=adamw", "optimizer.weight_decay=0.01"],
        ["optimizer=sgd", "optimizer.lr=0.1", "optimizer.momentum=0.9"],
        ["optimizer=rmsprop", "optimizer.lr=0.001"],
        ["loss=mse"],
        ["model.dropout=0.2", "model.hidden=[12]"],
    ],
    ids=["adam", "adamw", "sgd-momentum", "rmsprop", "sigmoid-mse", "dropout"],
)
def test_a_stack_mixing_patience_schedules_warmup_and_clipping_matches_fit(common):
    group = settings(*MIXED_KNOBS, common=["dataset.n_samples=200", *common], epochs=40)
    assert stack_groups(group) == [list(range(len(group)))]  # the knobs do not split the stack
    alone, many = both(group)
    for ref, got in zip(alone, many):
        assert_same_history(ref, got)
        assert_same_weights(ref.model, got.model)
    # the stack held models that stopped early, frozen while the others trained on
    stopped = [r.stopped_early for r in alone]
    assert any(stopped) and not all(stopped), stopped


def test_clipping_in_a_stack_is_each_models_own_norm():
    # the same seed and widths, three clip values: only the norm each model sees differs
    group = settings(
        ["optimizer.grad_clip=0.01"], ["optimizer.grad_clip=0.1"], [], ["model.hidden=[4]",
        "optimizer.grad_clip=0.01"], common=["optimizer=sgd", "optimizer.lr=0.5"], epochs=5,
    )  # fmt: skip
    alone, many = both(group)
    for ref, got in zip(alone, many):
        assert_same_history(ref, got)
        assert_same_weights(ref.model, got.model)
    assert alone[0].history[-1]["train_loss"] != alone[1].history[-1]["train_loss"]


def test_a_stopped_a_diverged_and_a_running_model_share_a_stack():
    group = settings(
        ["seed=0", "trainer.early_stopping.patience=2", "trainer.early_stopping.min_delta=0.5",
         "trainer.early_stopping.metric=train_loss"],
        ["seed=1", "optimizer.lr=1e6"],
        ["seed=2", "model.hidden=[5]", "optimizer.schedule=cosine"],
        common=["dataset=diag_flip", "optimizer=sgd"], epochs=30,
    )  # fmt: skip
    alone, many = both(group)
    assert [r.status for r in many] == ["completed", "diverged", "completed"]
    assert [r.stopped_early for r in many] == [True, False, False]
    assert many[0].epochs_run == 2 and many[2].epochs_run == 30
    for ref, got in zip(alone, many):
        assert_same_history(ref, got)
    for ref, got in zip(alone[::2], many[::2]):
        assert_same_weights(ref.model, got.model)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_hand_written_loss_gradients_are_autograds(loss):
    gen = torch.Generator().manual_seed(0)
    K, B = 3, 7
    if loss == "cross_entropy":
        out = torch.randn(K, B, 4, generator=gen).requires_grad_()
        y = torch.randint(0, 4, (K, B), generator=gen)
    else:
        out = (3 * torch.randn(K, B, 2 if loss == "mse" else 1, generator=gen)).requires_grad_()
        y = torch.randn(K, B, out.shape[2], generator=gen)
        if loss != "mse":
            y = (y > 0).float()
    # each model's mean loss, as fit computes it on its own batch
    per_model = [LOSSES[loss][0](out[k], y[k]) for k in range(K)]
    (expected,) = torch.autograd.grad(sum(per_model), out)
    with torch.no_grad():
        assert torch.allclose(
            stacked._loss_grad(out.detach().clone(), y, loss), expected, atol=1e-7
        )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_training_knobs_on_cuda_match_fit_on_cuda():
    group = settings(
        *MIXED_KNOBS, common=["dataset.n_samples=200", "trainer.device=cuda"], epochs=10
    )
    data = load(group[0].dataset, torch.device("cuda"))
    for s, got in zip(group, fit_many(group, data)):
        model, loss = build_model(s, data)
        ref = fit(model, data, s, loss)
        assert_same_history(ref, got, rtol=1e-4)
        assert_same_weights(ref.model, got.model, rtol=1e-3)


def test_a_sweep_over_the_knobs_gives_the_same_table_stacked_or_one_by_one(tmp_path):
    import pandas as pd
    from conftest import run_cli

    tables = {}
    for launcher in ("stacked", "basic"):
        done = run_cli(
            "-m", "trainer.early_stopping.patience=null,3", "optimizer.schedule=constant,cosine",
            "optimizer.grad_clip=null,0.5", "trainer.epochs=30", f"hydra/launcher={launcher}",
            f"hydra.sweep.dir={tmp_path / launcher}", cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        tables[launcher] = pd.read_csv(tmp_path / launcher / "results.csv")
    stacked, basic = tables["stacked"], tables["basic"]
    assert len(stacked) == 8 and set(stacked["status"]) == {"completed"}
    stopping = stacked["trainer.early_stopping.patience"].notna()
    assert (stacked.loc[stopping, "epochs_run"] < 30).any()  # some stopped early
    assert stacked.loc[stopping, "last_val_acc"].notna().all()
    assert stacked.loc[~stopping, "last_val_acc"].isna().all()
    columns = ["epochs_run", "best_epoch", "train_loss", "val_loss", "val_acc", "last_val_loss"]
    pd.testing.assert_frame_equal(
        stacked[columns], basic[columns], check_exact=False, rtol=1e-4, atol=1e-6
    )


# ---------------------------------------------------------------- a stack stopped part-way


def _stopped_at(group, data, epoch: int, state):
    """fit_many on ``group`` asked to stop after ``epoch``; it saves ``state`` and raises."""
    seen = []

    def stop():
        seen.append(None)
        return len(seen) == epoch

    with pytest.raises(stacked.Stopped):
        fit_many(group, data, watch=stacked.Watch(state=state, jobs=["a", "b"], stop=stop))


def _same_bits(ref, got):
    """Histories and weights equal bit for bit (the wall-clock seconds aside)."""
    assert [r.status for r in got] == [r.status for r in ref]
    for a, b in zip(ref, got):
        for key in ("epochs_run", "best_epoch", "model_epoch", "stopped_early", "error"):
            assert getattr(a, key) == getattr(b, key), key
        clean = [[{k: v for k, v in row.items() if k != "seconds"} for row in r.history]
                 for r in (a, b)]  # fmt: skip
        assert len(clean[0]) == len(clean[1])
        for x, y in zip(*clean):
            assert x.keys() == y.keys()
            for key in x:  # NaN == NaN for a diverged row
                assert x[key] == y[key] or (x[key] != x[key] and y[key] != y[key]), key
        for key, value in a.model.state_dict().items():
            assert torch.equal(value, b.model.state_dict()[key]), key


@pytest.mark.parametrize("epoch", [1, 3, 9])
def test_a_stack_stopped_part_way_goes_on_from_its_saved_state_bit_for_bit(tmp_path, epoch):
    # early stopping (one stops at epoch 2, before two of the stops), a diverging model,
    # dropout, a schedule with warmup, momentum and clipping, padding: all in one stack
    group = settings(
        ["seed=0", "trainer.early_stopping.patience=2", "trainer.early_stopping.min_delta=0.5",
         "trainer.early_stopping.metric=train_loss"],
        ["seed=1", "optimizer.lr=1e6"],
        ["seed=2", "model.hidden=[5]", "optimizer.schedule=cosine", "optimizer.warmup_epochs=2"],
        ["seed=2", "model.dropout=0.3", "optimizer.grad_clip=0.5", "optimizer.momentum=0.9"],
        common=["dataset=diag_flip", "optimizer=sgd", "model.hidden=[8]"], epochs=12,
    )  # fmt: skip
    data = load(group[0].dataset)
    whole = fit_many(group, data)
    assert [r.status for r in whole] == ["completed", "diverged", "completed", "completed"]
    state = tmp_path / "stack.pt"
    _stopped_at(group, data, epoch, state)
    manifest = json.loads(state.with_suffix(".json").read_text())
    assert manifest == {"jobs": ["a", "b"], "epoch": epoch}
    trained = []
    watch = stacked.Watch(state=state, progress=trained.append)
    _same_bits(whole, fit_many(group, data, watch=watch))
    # the rest of the epochs, counted per model that trained them
    live = [sum(e < r.epochs_run for r in whole) for e in range(epoch, 12)]
    assert trained == [n for n in live if n]
    # and the comparison can fail: the state of an epoch later holds other weights
    _stopped_at(group, data, epoch, tmp_path / "now.pt")
    _stopped_at(group, data, epoch + 1, tmp_path / "later.pt")
    now, later = (torch.load(tmp_path / f, weights_only=True) for f in ("now.pt", "later.pt"))
    assert now["epoch"] + 1 == later["epoch"]
    assert not torch.equal(now["params"], later["params"])


def test_a_saved_state_is_used_by_the_same_stack_only_and_forgotten_at_the_end(tmp_path):
    group = settings(["seed=0"], ["seed=1", "model.hidden=[4]"], epochs=6)
    data = load(group[0].dataset)
    state = tmp_path / "stack.pt"
    _stopped_at(group, data, 3, state)
    other = settings(["seed=0"], ["seed=1", "model.hidden=[4]", "optimizer.lr=0.5"], epochs=6)
    trained = []
    fit_many(other, data, watch=stacked.Watch(state=state, progress=trained.append))
    assert trained == [2] * 6  # every epoch from the start: the state is another stack's
    watch = stacked.Watch(state=state)
    watch.forget()
    assert not state.exists() and not state.with_suffix(".json").exists()


def test_a_pruned_model_leaves_the_stack_and_the_rest_train_as_without_it():
    per_model = [["seed=0"], ["seed=1", "model.hidden=[4]"], ["seed=2", "optimizer.lr=0.05"]]
    group = settings(*per_model, common=["model.hidden=[8]"], epochs=8)
    data = load(group[0].dataset)
    whole = fit_many(group, data)
    heard = []

    def prune(rows):  # model 1 leaves at epoch 3, model 2 at epoch 5
        heard.append(sorted(rows))
        epoch = next(iter(rows.values()))["epoch"]
        return {1} if epoch == 3 else {2} if epoch == 5 else set()

    got = fit_many(group, data, watch=stacked.Watch(prune=prune))
    assert [r.status for r in got] == ["completed", "pruned", "pruned"]
    assert [r.epochs_run for r in got] == [8, 3, 5]
    # the pruner hears the models still training, at every epoch but the last
    assert heard == [[0, 1, 2]] * 3 + [[0, 2]] * 2 + [[0]] * 2
    # the one left trains as it did beside all three (a smaller stack: rounding only)
    assert_same_history(whole[0], got[0])
    assert_same_weights(whole[0].model, got[0].model)
    for k, epoch in ((1, 3), (2, 5)):
        # the pruned: the same history up to where they left, and the weights of the same
        # model trained that many epochs (the check can fail: later weights differ)
        assert len(got[k].history) == epoch + 1
        short = settings(per_model[k], common=["model.hidden=[8]"], epochs=epoch)
        (ref,) = fit_many(short, data)
        ref.status = "pruned"  # the only difference: it ran to its (shorter) end
        assert_same_history(ref, got[k])
        assert_same_weights(ref.model, got[k].model)
        assert not torch.allclose(got[k].model[0].weight, whole[k].model[0].weight)
