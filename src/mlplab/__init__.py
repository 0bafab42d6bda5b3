"""mlplab: MLP architecture experiments with Hydra sweeps and one results table."""

__version__ = "0.1.0"
