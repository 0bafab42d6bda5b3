"""mlplab's Hydra launcher plugin: ``hydra/launcher=stacked`` (see stacked_launcher.py)."""
