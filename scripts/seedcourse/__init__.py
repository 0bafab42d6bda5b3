"""The seed course (REFERENCE.md E1-E22): each seed's claim, the sweeps that test it, the verdict.

``scripts/reproduce.py`` runs the sweeps and writes docs/seeds.md from this package:
``verdicts`` (the one criterion), ``sweeps`` (running and reading them), ``figures``,
``errors`` (the seeds' known errors, computed), ``page`` (the markdown), and the
experiments themselves in ``course_a`` (E1-E11) and ``course_b`` (E12-E22).
"""
