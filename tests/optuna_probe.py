"""A Hydra callback for test_optuna: as each job starts, how many trials are still untold.

Optuna's trials are RUNNING from ``Study.ask`` until ``Study.tell``; a sweeper that
launches its batch of k at once and tells them afterwards has k running at every job
start of that batch.
"""

from pathlib import Path

import optuna
from hydra.experimental.callback import Callback
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState


class RunningTrials(Callback):
    def __init__(self, journal: str, study: str, out: str) -> None:
        self.journal, self.study, self.out = journal, study, Path(out)

    def on_job_start(self, config, **kwargs) -> None:
        storage = JournalStorage(JournalFileBackend(self.journal))
        study = optuna.load_study(study_name=self.study, storage=storage)
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        with self.out.open("a") as f:  # one short line per write: appends do not interleave
            f.write(f"{config.hydra.job.num} {running}\n")
