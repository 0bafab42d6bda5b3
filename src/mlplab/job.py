"""Jobs to run folders: data -> models -> training -> measurements -> files, a group at a time.

A sweep's unit of work is a group of jobs that train as one stack (``stacked.fit_many``);
a job that stacks with nothing, and a single run, is a group of one trained with ``fit``.
Everything around the training is done for the whole group at once: the data is loaded
once, the networks are measured in batched passes at init and at the end
(``diagnostics.stack_*``), and each job's folder gets its history, weights, layer
statistics and ``result.json`` (written last: a folder with a result.json is complete).
"""

from __future__ import annotations

import functools
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from . import diagnostics, grouping, loggers, provenance
from .data import Dataset, file_stamp, load
from .lifecycle import Job
from .model import count_params
from .progress import ProgressBar
from .results import (
    CHECKPOINT_FILE,
    HISTORY_COLUMNS,
    HISTORY_FILE,
    LAYER_COLUMNS,
    LAYERS_FILE,
    RESULT_FILE,
    atomic_write,
    disk_full,
    record_failure,
    write_json,
    write_rows,
)
from .run_figures import draw
from .settings import ConfigError, RunSettings, flat
from .stacked import Stopped, Watch, fit_many
from .train import (
    FitResult,
    build_model,
    evaluate,
    fit,
    resolve_device,
    summarize,
    targets_for,
)

ACTIVATION_SAMPLE = 2000  # rows of X_train kept for the activation histograms


def run_group(
    jobs: list[Job], single: bool = False, threads: int | None = None, watch: Watch | None = None
) -> list[dict]:
    """Train, measure and write every job of one group; return their results.

    ``threads``: torch's threads for the group, as the sweep's plan chose them
    (``trainer.threads`` overrides; None: as ``grouping.threads_for`` gives one run alone).

    ``single``: a run of its own (``mlplab-run`` without ``-m``): a progress bar, and by
    default figures and linear-region counts, which sweep jobs leave out. A group that
    cannot be trained together is run one job at a time; a job that fails is recorded as
    failed (its ``result.json`` says why) and never raises. Once the folders are written,
    the group is reported to the loggers its jobs ask for (``logger=tensorboard|mlflow``).

    ``watch``: a sweep's progress and stop requests (``stacked.Watch``); a stack keeps its
    work in ``watch.state`` when stopped (``stacked.Stopped`` is raised) or every
    ``watch.every`` seconds, starts from it if it is there, and removes it once its jobs
    are written. A job trained alone stops at an epoch's end and keeps nothing. A logger
    that fails marks the results it missed (``loggers.log_group``); with a ``watch`` the
    sweep says so, once.
    """
    watched = watch is not None  # by a sweep: it says once what the loggers missed
    watch = watch or Watch()
    results = _train_group(jobs, single, provenance.now(), threads, watch)
    watch.forget()
    loggers.log_group(jobs, results, single, warn=not watched)
    return results


def _train_group(
    jobs: list[Job], single: bool, started, threads: int | None, watch: Watch
) -> list[dict]:
    first = jobs[0].settings
    try:
        device = resolve_device(first.trainer.device, jobs[0].num)
        data = _load(first.dataset, device, file_stamp(first.dataset))
        built = [build_model(job.settings, data) for job in jobs]
        torch.set_num_threads(first.trainer.threads or threads or _threads_alone(first, data))
    except Exception as exc:  # bad data (a user's file), a loss that does not fit, no device
        if single and isinstance(exc, ConfigError):
            raise  # a run of its own says it in one line and leaves nothing
        return [_record_failure(job, exc, started) for job in jobs]
    models, loss = [m for m, _ in built], built[0][1]
    measuring = Measurements(jobs, data, loss, single)
    try:
        measuring.at_init(models)
        if len(jobs) == 1:
            fitted = [_fit_alone(jobs[0].settings, models[0], data, loss, measuring, single, watch)]
        else:
            fitted = fit_many([job.settings for job in jobs], data, models, watch)
        measured = measuring.at_end(fitted)
    except Exception as exc:
        if len(jobs) > 1:  # out of memory for the whole stack, say: one by one instead
            alone = Watch(stop=watch.stop, progress=watch.progress)
            return [
                result
                for job in jobs
                for result in _train_group([job], False, started, threads, alone)
            ]
        return [_record_failure(jobs[0], exc, started)]
    return [
        _write_job(job, data, loss, fit_result, inside, single, started)
        for job, fit_result, inside in zip(jobs, fitted, measured)
    ]


@functools.lru_cache(maxsize=1)
def _load(d, device, stamp: tuple | None) -> Dataset:
    """``data.load``, done once for the groups a process runs one after another on the same
    data (an MNIST-sized file takes ~0.5 s to read and split; nothing writes to its tensors).
    ``stamp``: the file's ``data.file_stamp``, so an edited file is read again (a notebook's
    runs) without hashing its content, which took 0.25 s of an MNIST-sized single run
    (``data.fingerprint`` keeps its digest by the same stamp)."""
    return load(d, device)


def preload(s: RunSettings) -> None:
    """Load ``s``'s data in this process before it forks a sweep's workers, which then find
    it in ``_load``'s cache: one read, shared, where each worker read its own copy at once
    (an MNIST-sized file: ~0.45 s alone, 1.4 s for two at a time here, twice the memory).

    Only where the data goes to the CPU for certain (``trainer.device=cpu``, or ``auto``
    with a torch built without CUDA): asking a CUDA build for its devices before a fork
    can leave the workers without them. Data that cannot be loaded is left to the
    workers, whose jobs record why.
    """
    device = s.trainer.device
    if device == "cpu" or (device == "auto" and not torch.backends.cuda.is_built()):
        try:
            _load(s.dataset, torch.device("cpu"), file_stamp(s.dataset))
        except Exception:  # noqa: BLE001  (the same error reaches each job in its worker)
            return


def _threads_alone(s: RunSettings, data: Dataset) -> int:
    """Threads for a run that has the machine to itself (``grouping.threads_for``)."""
    samples = sum(len(X) for X in (data.X_train, data.X_val, data.X_test) if X is not None)
    price = grouping.stack_seconds([s], grouping.Shape(samples, data.in_dim))
    return grouping.threads_for(price, cores=grouping.usable_cores(), units=1)


def run_single(s: RunSettings, run_dir: Path, overrides: list[str] = ()) -> dict:
    """One run of its own (``mlplab-run``), written to ``run_dir``."""
    job = Job(0, tuple(overrides), Path(run_dir).absolute(), flat(s), s)
    return run_group([job], single=True)[0]


def _fit_alone(
    s: RunSettings, model, data: Dataset, loss: str, measuring, single: bool, watch: Watch
):
    bar = _progress_bar(s) if single and s.trainer.progress else None
    every = s.trainer.layer_stats_every

    def on_epoch(epoch: int, row: dict) -> None:
        if bar is not None:
            bar(epoch, row)
        if every and epoch % every == 0:
            measuring.during(model, epoch)
        watch.progress(1)  # (fit calls it from epoch 1 on)
        if epoch < s.trainer.epochs and watch.stop():
            raise Stopped

    fitted = fit(model, data, s, loss, progress=on_epoch)
    if bar is not None:
        bar.close()
    return fitted


class Measurements:
    """What is measured on a group's networks, at init and at the end, in batched passes.

    Per job: layers.csv rows (``diagnostics.layer_stats``), and, where asked
    (``trainer.regions``; by default in single runs only), the linear regions on a line
    or grid over the inputs. Models that stack are measured as one stack; any other
    (batch/layer norm, residual) one by one.
    """

    def __init__(self, jobs: list[Job], data: Dataset, loss: str, single: bool) -> None:
        self.jobs, self.data, self.loss, self.single = jobs, data, loss, single
        s = jobs[0].settings
        self.regions = s.trainer.regions if s.trainer.regions is not None else single
        self.grid = diagnostics.region_grid(data.X_train) if self.regions else None
        self.stacked = len(jobs) > 1 or grouping.stackable(s)
        self.layers: list[list[dict]] = [[] for _ in jobs]
        self.regions_init: list[int | None] = [None] * len(jobs)
        self.acts_init: list[list[np.ndarray]] = [[] for _ in jobs]
        self.seconds = 0.0

    def at_init(self, models: list) -> None:
        start = time.perf_counter()
        stack = self._stack(models)
        self._measure(models, 0, stack)
        self.regions_init = self._regions(models, stack)
        for job, model, acts in zip(self.jobs, models, self.acts_init):
            if _figures(job.settings, self.single):  # for activations_init.png
                X = self.data.X_train[:ACTIVATION_SAMPLE]
                acts += [a.cpu().numpy() for a in diagnostics.hidden_activations(model, X)]
        self.seconds += time.perf_counter() - start

    def during(self, model, epoch: int) -> None:
        """layers.csv rows at this epoch of a job trained alone (trainer.layer_stats_every)."""
        start = time.perf_counter()
        self._measure([model], epoch, self._stack([model]))
        self.seconds += time.perf_counter() - start

    def at_end(self, fitted: list[FitResult]) -> list[dict]:
        """Each job's result.json keys from the measurements, and its layers.csv rows."""
        start = time.perf_counter()
        models = [f.model for f in fitted]
        ends = [f.model_epoch for f in fitted]  # whose weights each model holds
        stack = self._stack(models)
        self._measure(models, ends, stack)
        regions = self._regions(models, stack)
        self.seconds += time.perf_counter() - start
        share = self.seconds / len(models)  # each job's part of the group's measuring time
        inside = []
        for k, end in enumerate(ends):
            rows = self.layers[k]
            keys = {
                **diagnostics.summary([r for r in rows if r["epoch"] == end]),
                **diagnostics.summary([r for r in rows if r["epoch"] == 0], "_init"),
                "diagnostics_seconds": share,
            }
            if self.regions:
                keys["linear_regions"] = regions[k]
                keys["linear_regions_init"] = self.regions_init[k]
            inside.append({"keys": keys, "layers": rows, "acts_init": self.acts_init[k]})
        return inside

    def _stack(self, models: list) -> diagnostics.Stacked | None:
        """The models as one stack for the batched passes; None for those that do not stack."""
        if not self.stacked:
            return None
        return diagnostics.stack_models(models, self.jobs[0].settings.model.activation)

    def _measure(self, models: list, epochs, stack) -> None:
        """Append layers.csv rows at ``epochs`` (one per model), unless rows at it are there."""
        epochs = epochs if isinstance(epochs, list) else [epochs] * len(models)
        todo = [
            k
            for k, e in enumerate(epochs)
            if not self.layers[k] or self.layers[k][-1]["epoch"] != e
        ]
        if not todo:
            return
        # the training split's first rows (diagnostics.LAYER_SAMPLE): at most a tenth of
        # a short training's cost, where a full pass would cost as much as the training
        rows = slice(0, diagnostics.LAYER_SAMPLE)
        X, y = self.data.X_train[rows], self.data.y_train[rows]
        if stack is not None:
            tables = diagnostics.stack_layer_stats(stack, X, y, self.loss)
        else:
            tables = [diagnostics.layer_stats(m, X, y, self.loss) for m in models]
        for k in todo:
            self.layers[k] += [{"epoch": epochs[k], **row} for row in tables[k]]

    def _regions(self, models: list, stack) -> list[int | None]:
        if self.grid is None:
            return [None] * len(models)
        if stack is not None:
            return diagnostics.stack_regions(stack, self.grid)
        return [diagnostics.linear_regions(m, self.grid) for m in models]


def _figures(s: RunSettings, single: bool) -> bool:
    return s.trainer.figures if s.trainer.figures is not None else single


def _base_result(job: Job, started=None, device=None) -> dict:
    return {
        "status": "failed",
        "error": None,
        "overrides": list(job.overrides),
        "identity": job.identity,
        "config": job.config,
        "provenance": provenance.record(started, device),
    }


def _record_failure(job: Job, exc: BaseException, started=None) -> dict:
    """Write a failed job's result.json (why it failed) and return it.

    A full disk is no job's failure: it stops the group (and the sweep) as it is. A record
    that cannot be written raises the job's own error, not the record's.
    """
    if disk_full(exc):
        raise exc
    trace = None if isinstance(exc, ValueError) else traceback.format_exc()  # a bug: say where
    try:
        return record_failure(job, f"{type(exc).__name__}: {exc}", trace, started)
    except OSError:
        raise exc from None


def _write_job(
    job: Job, data: Dataset, loss: str, fitted: FitResult, inside: dict, single: bool, started
):
    """The job's folder: history.csv, model.safetensors, layers.csv, figures, result.json last."""
    s, run_dir, model = job.settings, job.run_dir, fitted.model
    result = {
        **_base_result(job, started, data.X_train.device),
        "task": data.task,
        "loss_fn": loss,
        "params": count_params(model),
        "depth": len(s.model.hidden),
        "n_train": len(data.X_train),
    }
    try:
        result.update(_outcome(fitted, model, data, loss))
        result.update(inside["keys"])
        history = fitted.history
        if not s.trainer.timing:  # wall-clock time differs run to run; without it the file repeats
            history = [{**row, "seconds": None} for row in history]
        write_rows(run_dir / HISTORY_FILE, history, HISTORY_COLUMNS)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: save_file(state, str(tmp)))
        write_rows(run_dir / LAYERS_FILE, inside["layers"], LAYER_COLUMNS)
        if _figures(s, single):
            draw(run_dir, s, fitted, model, data, inside["acts_init"])
    except Exception as exc:  # recorded for the sweep table
        return _record_failure(job, exc, started)
    write_json(run_dir / RESULT_FILE, result)
    return {**result, "run_dir": str(run_dir)}


def _outcome(fitted: FitResult, model, data: Dataset, loss: str) -> dict:
    out = {"status": fitted.status, "error": fitted.error, "train_seconds": fitted.train_seconds}
    out.update(summarize(fitted, data.task))
    if data.X_test is not None and fitted.status == "completed":
        test_loss, test_acc = evaluate(model, data.X_test, targets_for(data.y_test, loss), loss)
        out["test_loss"] = float(test_loss)
        if test_acc is not None:
            out["test_acc"] = float(test_acc)
    return out


def _progress_bar(s: RunSettings):
    # delay: the bar appears only for runs that last more than a few seconds
    bar = ProgressBar(
        total=s.trainer.epochs, delay=3.0, unit="epoch", leave=False, dynamic_ncols=True
    )

    def update(epoch: int, row: dict):
        bar.update(1)
        if epoch % 10 == 0:
            bar.set_postfix(loss=f"{row['train_loss']:.4g}", refresh=False)

    update.close = bar.close
    return update
