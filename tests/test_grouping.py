"""The planner: which settings stack, the cost model's prices, and its decisions on made-up shapes."""

import itertools
import math

import numpy as np
import pytest
from conftest import make_settings

from mlplab import grouping
from mlplab.data import shape_of
from mlplab.grouping import Shape, makespan, plan, stack_seconds, threads_for

MNIST = Shape(60_000, 784)
MOONS = Shape(300, 2)


def grid(widths, lrs=(0.001, 0.003), seeds=(0, 1), *extra):
    return [
        make_settings(f"model.hidden={w}".replace(" ", ""), f"optimizer.lr={lr}", f"seed={seed}",
                      "trainer.batch_size=128", "trainer.epochs=2", *extra)
        for w, lr, seed in itertools.product(widths, lrs, seeds)
    ]  # fmt: skip


def shapes_for(settings, shape):
    return {s.dataset: shape for s in settings}


def covers_each_once(units, n):
    return sorted(i for unit in units for i in unit) == list(range(n))


def test_a_price_is_the_formula_worked_by_hand():
    s = make_settings("model.hidden=[8]", "trainer.batch_size=32", "trainer.epochs=3")
    # two moons' 300 samples: val 0.2 -> 240 train rows, 300 evaluated; 8 steps an epoch
    price = stack_seconds([s, s], MOONS)
    macs = 2 * 8 + 8 * 1  # per sample per model: [2, 8, 1]
    work = 2 * macs * 3 * (3 * 240 + 300) / grouping.MACS_PER_SECOND
    overhead = 3 * 8 * (grouping.STEP_SECONDS + 2 * grouping.MODEL_STEP_SECONDS)
    assert price.seconds == pytest.approx(overhead + work)
    assert price.padding == 0 and price.arithmetic == pytest.approx(work / (overhead + work))
    wide = make_settings("model.hidden=[24]", "trainer.batch_size=32", "trainer.epochs=3")
    padded = stack_seconds([s, wide], MOONS)  # the [8] model padded to 24 units
    wasted = (2 * 24 + 24 - macs) * 3 * (3 * 240 + 300) / grouping.MACS_PER_SECOND
    assert padded.padding == pytest.approx(wasted / padded.seconds)


def test_makespan_deals_the_costs_to_whichever_worker_is_free_first():
    assert makespan([3, 2, 2, 1], 2) == 4  # 3+1 and 2+2
    assert makespan([3, 2, 2, 1], 1) == 8
    assert makespan([5, 1, 1], 4) == 5


def test_tiny_models_stack_whatever_their_widths():
    group = [
        make_settings(f"model.hidden=[{w}]", f"seed={k}") for w in (4, 16, 32) for k in range(10)
    ]
    units = plan(group, shapes_for(group, MOONS), workers=1)
    assert units == [sorted(units[0], key=lambda i: (group[i].model.hidden, i))]
    assert len(units[0]) == 30  # one stack: per-step overhead, not padding, is the cost


def test_big_models_of_mixed_widths_are_not_padded():
    group = grid(["[64]", "[128]", "[256]"])
    units = plan(group, shapes_for(group, MNIST), workers=2)
    assert covers_each_once(units, len(group))
    for unit in units:
        assert len({tuple(group[i].model.hidden) for i in unit}) == 1, unit  # equal widths
        assert stack_seconds([group[i] for i in unit], MNIST).padding <= grouping.MAX_PADDING


def test_near_widths_may_share_a_stack_within_the_padding_bound():
    group = grid(["[255]", "[256]"], seeds=(0,))  # one padded unit costs less than a step each
    units = plan(group, shapes_for(group, MNIST), workers=1)
    assert len(units) == 1 and stack_seconds(group, MNIST).padding < 0.05


def test_fewer_stacks_than_workers_get_split_and_the_costliest_go_first():
    group = grid(["[256]"])  # four equal models: one stack would keep a core idle
    one = plan(group, shapes_for(group, MNIST), workers=1)
    two = plan(group, shapes_for(group, MNIST), workers=2)
    assert len(one) == 1 and len(two) >= 2 and covers_each_once(two, 4)
    mixed = grid(["[64]", "[256]"])
    units = plan(mixed, shapes_for(mixed, MNIST), workers=2)
    costs = [stack_seconds([mixed[i] for i in u], MNIST).seconds for u in units]
    assert costs == sorted(costs, reverse=True)
    assert makespan(costs, 2) <= sum(costs) / 2 * 1.25  # the two workers end near together


def test_a_cut_must_save_more_than_starting_a_worker_costs():
    tiny = [make_settings(f"seed={k}", "trainer.epochs=2") for k in range(2)]
    assert len(plan(tiny, shapes_for(tiny, MOONS), workers=2)) == 1  # saves ~1 ms: not cut
    none = stack_seconds([make_settings("trainer.epochs=0")], MOONS)  # evaluates the init only
    assert none.seconds == 0 and none.arithmetic == 0 and none.padding == 0


def test_two_moons_sweeps_keep_their_big_stacks():
    # the 50-job sweep: one stack per depth, as before the cost model
    arch = [make_settings("experiment=two_moons_arch", f"model.hidden={h}", f"seed={k}")
            for h in ("[4]", "[16]", "[32]", "[8,8]", "[16,16]") for k in range(10)]  # fmt: skip
    units = plan(arch, shapes_for(arch, MOONS), workers=2)
    assert sorted(map(len, units)) == [20, 30]


def test_a_grid_too_big_for_the_memory_is_planned_as_smaller_stacks():
    group = [make_settings("model.hidden=[64]", f"seed={k}") for k in range(40)]
    roomy = plan(group, shapes_for(group, MOONS), workers=1)
    one = stack_seconds(group[:1], MOONS).bytes
    tight = plan(group, shapes_for(group, MOONS), workers=1, memory=10.5 * one)
    assert len(roomy) == 1 and covers_each_once(tight, 40)
    assert max(map(len, tight)) <= 10 and len(tight) >= 4


def test_unknown_data_is_priced_as_tiny_and_what_cannot_stack_is_alone():
    group = [make_settings("seed=0"), make_settings("model.norm=batch"), make_settings("seed=1")]
    assert sorted(map(sorted, plan(group, {}, workers=1))) == [[0, 2], [1]]


def test_threads_go_to_arithmetic_bound_work_when_cores_are_free():
    big = stack_seconds(grid(["[256]"])[:1], MNIST)
    tiny = stack_seconds([make_settings()], MOONS)
    assert big.arithmetic > 0.5 > tiny.arithmetic
    assert threads_for(big, cores=2, units=1) == 2
    assert threads_for(big, cores=4, units=2) == 2
    assert threads_for(big, cores=2, units=2) == 1
    assert threads_for(tiny, cores=2, units=1) == 1


def test_shape_of_reads_headers_not_data(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, X=np.zeros((123, 7), np.float32), y=np.zeros(123))
    csv = tmp_path / "d.csv"
    rows = "\n".join(f"{i},{i * 0.5:.3f},{i % 3}" for i in range(1000))
    csv.write_text("a,b,label\n" + rows + "\n")
    assert shape_of(make_settings("dataset=file", f"dataset.path={npz}").dataset) == (123, 7)
    estimated, features = shape_of(make_settings("dataset=file", f"dataset.path={csv}").dataset)
    assert features == 2 and math.isclose(estimated, 1000, rel_tol=0.1)
    assert shape_of(make_settings("dataset=two_moons").dataset) == (300, 2)
    npz.write_bytes(b"not a zip")  # a broken file: loading it will say why
    assert shape_of(make_settings("dataset=file", f"dataset.path={npz}").dataset) is None
