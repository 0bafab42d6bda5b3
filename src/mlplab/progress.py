"""The progress bar of a run (epochs) and of a sweep (jobs): tqdm, a widget in a notebook."""

from tqdm.auto import tqdm


class ProgressBar(tqdm):
    """tqdm without its monitor thread: a thread left alive in this process would keep a
    later sweep from forking its workers (hydra/launcher=stacked)."""

    monitor_interval = 0
