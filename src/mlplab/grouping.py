"""Which runs train together: settings that can share one stacked model (``fit_many``).

Torch-free, so the process that plans a sweep never imports torch.
"""

from __future__ import annotations

from .settings import RunSettings


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


def stack_groups(settings_list: list[RunSettings], max_models: int = 256) -> list[list[int]]:
    """Indices of ``settings_list`` grouped for ``fit_many``, at most ``max_models`` each.

    Each non-stackable setting is a group of its own (to be run with ``fit``).
    Groups keep the input order inside; beyond a few hundred tiny models a larger
    stack stops paying (scripts/bench_fit.py).
    """
    groups: dict[tuple, list[int]] = {}
    alone: list[list[int]] = []
    for i, s in enumerate(settings_list):
        key = stack_key(s)
        if key is None:
            alone.append([i])
        else:
            groups.setdefault(key, []).append(i)
    chunks = [g[j : j + max_models] for g in groups.values() for j in range(0, len(g), max_models)]
    return chunks + alone
