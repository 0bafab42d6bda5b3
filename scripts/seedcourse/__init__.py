"""The seed course (REFERENCE.md E1-E22): each seed's claim, the sweeps that test it, the verdict.

``scripts/reproduce.py`` runs the sweeps and writes docs/seeds.md from this package:
``verdicts`` (the one criterion), ``sweeps`` (running and reading them), ``figures``,
``errors`` (the seeds' known errors, computed), ``page`` (the markdown), ``experiment``
(what a section is), and the experiments by topic: ``widths`` (E1, E2, E17), ``inits``
(E3, E9, E11), ``moons`` (E4, E5), ``training`` (E14, E15, E18), ``tabular`` (E6, E7, E19, E20, E22),
``depth`` (E12, E13), ``representation`` (E8, E10, E16, E21); ``course`` gathers them.
"""
