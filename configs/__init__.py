# Ships the configs inside the wheel as `mlplab.configs` (see pyproject.toml), so
# Hydra finds them with `pkg://mlplab.configs` from a checkout or an install.
