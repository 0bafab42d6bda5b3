"""Which runs train together, priced: the cost model that plans a sweep's stacks.

``stack_key`` says which settings *can* share one stacked model (``fit_many``); ``plan``
says which *should*: it prices each candidate stack with ``stack_seconds`` and stacks
models only where that is cheaper than training them apart, bounds the padding, and cuts
the stacks so that every worker is busy until the end. Torch-free, so the process that
plans a sweep never imports torch.
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass

from .settings import RunSettings

MAX_MODELS = 256  # the largest stack: beyond a few hundred tiny models a bigger one stops paying
MAX_PADDING = 0.25  # the share of a stack's estimated time that padded units may take

# The cost model's constants, measured with one thread on this 2-core machine
# (fit_many's step on two moons and on 784-feature data; scripts/bench_real.py):
STEP_SECONDS = 1e-4  # a training step's fixed cost (Python, kernel launches): ~100 us
MODEL_STEP_SECONDS = 4e-6  # each model's extra cost per step in a stack, beyond its FLOPs
MACS_PER_SECOND = 3e10  # multiply-adds in batched matmuls: 25-44 G/s at 100-784 features
# A cut for the workers must save this much wall time: a unit more costs a worker's start,
# a data load (~0.5 s for an MNIST-sized file), model building and writing, none priced above.
CUT_SAVING = 0.5


@dataclass(frozen=True)
class Shape:
    """What the cost model needs of a dataset: its rows and features (``data.shape_of``)."""

    samples: int
    features: int


def stackable(s: RunSettings) -> bool:
    """Whether ``fit_many`` can train ``s``: plain Linear -> activation [-> dropout] layers.

    Batch norm mixes the rows of a batch and layer norm the units of a padded layer;
    residual blocks are another architecture. Those runs go through ``fit``.
    """
    return s.model.norm == "none" and not (s.model.residual and s.model.hidden)


def stack_key(s: RunSettings) -> tuple | None:
    """Settings with equal keys can share one ``fit_many`` call; None: use ``fit``.

    Free within a group: seed, widths (same depth), init, init_std, dropout, lr,
    weight decay, momentum, lr schedule and warmup, gradient clipping, early stopping.
    """
    if not stackable(s):
        return None
    t = s.trainer
    return (
        s.dataset, len(s.model.hidden), s.model.activation, s.loss, s.optimizer.name,
        t.batch_size, t.epochs, t.device, t.threads,
    )  # fmt: skip


@dataclass(frozen=True)
class Price:
    """What training one unit of work is estimated to cost (``stack_seconds``)."""

    seconds: float
    padding: float  #: the share of ``seconds`` spent on padded units
    arithmetic: float  #: the share of ``seconds`` spent on multiply-adds (the rest: overhead)
    bytes: int  #: memory the stack's tensors take while it trains


def stack_seconds(group: list[RunSettings], shape: Shape | None) -> Price:
    """What training ``group`` as one stack is estimated to cost.

    Each epoch: steps x (a fixed cost + per model, its overhead and the multiply-adds of a
    forward and backward pass, 3x the forward's, over a batch at the padded widths), plus
    a forward pass over the train and validation rows for the history. A group of one is
    a model trained alone with ``fit``. Unknown data (``shape`` None) is priced as tiny.
    """
    s = group[0]
    samples, features = (shape.samples, shape.features) if shape else (1, 1)
    d = s.dataset
    held_out = (1 / d.folds if d.folds else d.val_fraction) + d.test_fraction
    rows = max(1, round(samples * (1 - held_out)))
    evaluated = max(rows, round(samples * (1 - d.test_fraction)))
    batch = rows if s.trainer.batch_size is None else min(s.trainer.batch_size, rows)
    steps = s.trainer.epochs * math.ceil(rows / batch)

    def macs(hidden) -> int:  # per sample; the output layer taken as one unit wide
        sizes = [features, *hidden, 1]
        return sum(a * b for a, b in zip(sizes, sizes[1:]))

    K = len(group)
    padded = [max(x.model.hidden[l] for x in group) for l in range(len(s.model.hidden))]
    per_sample = s.trainer.epochs * (3 * rows + evaluated) / MACS_PER_SECOND
    work = K * macs(padded) * per_sample
    seconds = steps * (STEP_SECONDS + K * MODEL_STEP_SECONDS) + work
    padding = work - sum(macs(x.model.hidden) for x in group) * per_sample
    # float32 (K, P) buffers: weights, gradients, optimizer state, mask, best weights; and
    # the activations of a training batch (kept for the backward pass) and of an eval chunk
    params = macs(padded) + sum(padded) + 1
    activations = K * sum(padded) * (3 * batch + min(evaluated, 1 << 12))
    share = (lambda part: part / seconds) if seconds else (lambda part: 0.0)  # epochs=0: none
    return Price(seconds, share(padding), share(work), 4 * (8 * K * params + activations))


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_memory() -> float:
    """Bytes of memory the kernel says are available (Linux's MemAvailable); inf elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


def threads_for(price: Price, cores: int, units: int) -> int:
    """Threads for one unit of work when ``trainer.threads`` is null: its share of the cores
    when the units are fewer than the cores and its time is mostly multiply-adds, else 1.

    Measured here (2 cores): MNIST-sized [256,256] trains 1.4x faster on 2 threads; a tiny
    model's step is Python and kernel launches, which a second thread only slows (and on a
    busy machine makes 5-24x slower now and then).
    """
    if units >= cores or price.arithmetic < 0.5:
        return 1
    return max(1, cores // max(1, units))


def plan(
    settings_list: list[RunSettings],
    shapes: dict,
    workers: int = 1,
    max_models: int = MAX_MODELS,
    memory: float = math.inf,
) -> list[list[int]]:
    """Indices of ``settings_list`` grouped into units of work, the costliest first.

    ``shapes`` maps each ``settings.dataset`` to its ``Shape`` (or None). Within one
    ``stack_key``, models sorted by width join a stack while the stack stays cheaper than
    training them apart, its padding stays within ``MAX_PADDING`` of its time, and it
    holds at most ``max_models`` and ``memory`` bytes (a worker's share of the free
    memory: a grid too big for it is planned as more, smaller stacks). Then units are
    halved where that shortens the ``makespan``. A non-stackable setting is a unit of its own.
    """
    keyed: dict[tuple, list[int]] = {}
    units: list[list[int]] = []
    for i, s in enumerate(settings_list):
        key = stack_key(s)
        if key is None:
            units.append([i])
        else:
            keyed.setdefault(key, []).append(i)

    def price(unit: list[int]) -> Price:
        group = [settings_list[i] for i in unit]
        return stack_seconds(group, shapes.get(group[0].dataset))

    def cost(unit: list[int]) -> float:
        return price(unit).seconds

    for members in keyed.values():
        members.sort(key=lambda i: (settings_list[i].model.hidden, i))
        stack: list[int] = []
        for i in members:
            grown = [*stack, i]
            bigger = price(grown)
            if stack and (
                len(grown) > max_models
                or bigger.padding > MAX_PADDING
                or bigger.seconds > cost(stack) + cost([i])
                or bigger.bytes > memory
            ):
                units.append(stack)
                stack = [i]
            else:
                stack = grown
        if stack:
            units.append(stack)

    # Cut the units into pieces of at most an even share of a worker's time, or a half,
    # third or quarter of it (finer pieces balance better, at more per-step overhead), and
    # keep whichever cut ends soonest, if it saves more than CUT_SAVING over the uncut one.
    share = sum(map(cost, units)) / max(1, workers)
    cuts = [units] + [_cut(units, cost, share / m) for m in (1, 2, 3, 4)]
    for cut in cuts:
        cut.sort(key=cost, reverse=True)
    spans = [makespan([cost(u) for u in cut], workers) for cut in cuts]
    best = min(range(len(cuts)), key=spans.__getitem__)
    return cuts[best] if spans[0] - spans[best] > CUT_SAVING else cuts[0]


def _cut(units: list[list[int]], cost, most: float) -> list[list[int]]:
    """``units`` halved and halved again until each costs at most ``most`` or is one model."""
    pieces, todo = [], list(units)
    while todo:
        unit = todo.pop()
        if len(unit) > 1 and cost(unit) > most:
            todo += [unit[: len(unit) // 2], unit[len(unit) // 2 :]]
        else:
            pieces.append(unit)
    return pieces


def makespan(costs: list[float], workers: int) -> float:
    """When the last worker finishes ``costs`` (in this order) taken by whichever is free first."""
    free = [0.0] * max(1, workers)
    for c in costs:
        heapq.heapreplace(free, free[0] + c)
    return max(free)


def stack_groups(settings_list: list[RunSettings], max_models: int = MAX_MODELS) -> list[list[int]]:
    """``plan`` for one worker with every dataset priced as tiny: the groups ``fit_many`` takes
    (each in input order, the groups in the order of their first setting)."""
    return sorted(sorted(unit) for unit in plan(settings_list, {}, 1, max_models))
