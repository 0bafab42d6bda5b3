"""E1-E22 in order: each topic module's experiments, gathered."""

from __future__ import annotations

from . import depth, inits, moons, representation, tabular, training, widths
from .experiment import Experiment

TOPICS = (widths, inits, moons, training, tabular, depth, representation)

EXPERIMENTS: list[Experiment] = sorted(
    (e for topic in TOPICS for e in topic.EXPERIMENTS), key=lambda e: int(e.id[1:])
)
