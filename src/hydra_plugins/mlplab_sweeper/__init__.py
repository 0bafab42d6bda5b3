"""mlplab's Hydra sweeper plugin: ``hydra/sweeper=grid``, the default (see grid_sweeper.py)."""
