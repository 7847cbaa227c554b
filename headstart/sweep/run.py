"""``headstart sweep``: an Optuna study over a finetune or pretrain config, resumable from its run_dir.

The study lives in ``run_dir/study.journal``, Optuna's journal storage: JSON lines in one file, no
database server and nothing pickled.  Running the same sweep again loads it: finished trials are kept;
a trial that an interruption (Ctrl-C, SIGTERM, a killed process) left failed or running is failed and
run again with the same params.  Each trial trains in ``run_dir/trials/trial-NNN``.
"""
from __future__ import annotations

import logging
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import HeadstartError
from .config import RangeParam, Sweep, load_sweep, trial_dir

log = logging.getLogger("headstart")

STUDY_NAME = "headstart-sweep"
# Sweep settings a re-run may change: more trials continue the study; anything else would mix trials
# of two different searches in one table.
RESUMABLE_KEYS = {"trials"}


class MetricMissing(HeadstartError):
    """The sweep's metric is not among the run's validation metrics: every trial would fail alike."""


class _StopSweep(Exception):
    """Carries a MetricMissing past Optuna's ``catch``, which records other trial errors and goes on."""


@dataclass
class TrialRun:
    value: Optional[float]
    steps: int
    seconds: float
    intermediate: dict[int, float] = field(default_factory=dict)
    pruned: bool = False


def run_sweep(path, overrides: list[str] = (), command: str = "") -> dict:
    """Run (or resume) the sweep ``path`` describes; returns the rows of every trial, the best one and
    the paths written."""
    import optuna

    from .results import write_results

    sweep = load_sweep(path, overrides)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # headstart logs each trial itself
    sweep.cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with _only_process(sweep.cfg.run_dir):
        study = _open_study(sweep)
        _retry_interrupted(study)
        if sweep.cfg.include_default and not any(t.user_attrs.get("default") for t in study.get_trials()):
            _run_default(study, sweep)
        remaining = sweep.cfg.total_trials() - sum(_counts(t) for t in study.get_trials())
        if remaining > 0:
            log.info("sweep %s: %d trial(s) to run (%s sampler, %s pruner)", sweep.cfg.run_dir, remaining,
                     sweep.cfg.sampler, sweep.cfg.pruner)
            try:
                study.optimize(lambda trial: _objective(trial, sweep), n_trials=remaining, catch=(HeadstartError,))
            except _StopSweep as e:
                raise HeadstartError(str(e)) from None
        return write_results(sweep, study, command)


# ---- the study -----------------------------------------------------------------------------------
def _open_study(sweep: Sweep):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    journal = str(sweep.cfg.run_dir / "study.journal")
    # The open-file lock works wherever the run_dir does (the symlink lock needs symlinks).
    storage = JournalStorage(JournalFileBackend(journal, lock_obj=JournalFileOpenLock(journal)))
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, sampler=_sampler(sweep),
                                pruner=_pruner(sweep), direction=sweep.direction, load_if_exists=True)
    record = _record(sweep)
    if "sweep" not in study.user_attrs:
        study.set_user_attr("sweep", record)
    else:
        old = study.user_attrs["sweep"]
        changed = sorted(k for k in old.keys() | record.keys() if old.get(k) != record.get(k))
        if changed:
            raise HeadstartError(f"{sweep.source}: {sweep.cfg.run_dir} holds a sweep with another "
                                 f"{', '.join(changed)}; give the sweep a new run_dir, or restore the old value "
                                 f"(only trials may change when resuming)")
    return study


def _record(sweep: Sweep) -> dict:
    """What makes two runs the same sweep: its settings (not how many trials) and the base config."""
    settings = sweep.cfg.model_dump(mode="json", exclude={"run_dir", *RESUMABLE_KEYS})
    return {**settings, "base_config": sweep.base_data, "kind": sweep.kind}


def _sampler(sweep: Sweep):
    import optuna

    cfg = sweep.cfg
    if cfg.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v) for k, v in cfg.params.items()}, seed=cfg.seed)
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=cfg.seed)
    # TPE's default of 10 random trials first would leave a 12-trial sweep almost all random.
    return optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=max(2, cfg.total_trials() // 3))


def _pruner(sweep: Sweep):
    import optuna

    if sweep.cfg.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=sweep.cfg.pruner_startup_trials,
                                       n_warmup_steps=sweep.cfg.pruner_warmup_steps)


def _counts(trial) -> bool:
    """Whether a trial counts towards ``trials``: finished, or failed for a reason that a re-run would
    meet again (an interrupted trial is retried instead)."""
    from optuna.trial import TrialState

    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and "error" in trial.user_attrs)


def _retry_interrupted(study) -> None:
    """A RUNNING trial is one a killed process left behind (one process per sweep, see _only_process):
    failed now.  Every trial that failed by interruption is queued again with its params, once."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            # Optuna has no public way to set an attribute on a trial another process started.
            study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
            study.tell(trial.number, state=TrialState.FAIL)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if "error" not in trial.user_attrs and trial.number not in retried:
            log.info("trial %d was interrupted: running its params again", trial.number)
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


@contextmanager
def _only_process(run_dir: Path):
    """Two processes on one sweep would each fail the other's running trial on start: refused."""
    lock = run_dir / "sweep.lock"
    try:
        pid = int(lock.read_text())
    except (OSError, ValueError):
        pid = None
    if pid is not None and pid != os.getpid() and _alive(pid):
        raise HeadstartError(f"{run_dir}: another headstart sweep (process {pid}) is running on it; wait for it "
                             f"or stop it (delete {lock} if that process is gone)")
    lock.write_text(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# ---- one trial -----------------------------------------------------------------------------------
def _objective(trial, sweep: Sweep) -> float:
    import optuna

    params = {key: _suggest(trial, key, space) for key, space in sweep.cfg.params.items()}
    try:
        outcome = run_trial(sweep, trial.number, params, trial)
    except MetricMissing as e:
        raise _StopSweep(str(e)) from None
    except HeadstartError as e:  # a bad value (say, an lr so high the loss is non-finite): noted, go on
        trial.set_user_attr("error", str(e))
        log.warning("trial %d failed: %s", trial.number, e)
        raise
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)
        raise
    trial.set_user_attr("steps", outcome.steps)
    trial.set_user_attr("seconds", outcome.seconds)
    _log_trial(sweep, trial.number, params, outcome)
    if outcome.pruned:
        raise optuna.TrialPruned()
    return outcome.value


def _run_default(study, sweep: Sweep) -> None:
    """Trial 0: the base config as it is, so "better than the default" can be read off the table.  It
    runs outside the sampler (whose params might not include the default values) and is then added
    as a finished trial, with its params when the search space holds them."""
    import optuna

    number = len(study.get_trials(deepcopy=False))
    outcome = run_trial(sweep, number, {}, None)
    _log_trial(sweep, number, {}, outcome)
    distributions = {key: _distribution(space) for key, space in sweep.cfg.params.items()}
    inside = all(_contains(distributions[k], v) for k, v in sweep.default_values.items())
    study.add_trial(optuna.trial.create_trial(
        value=outcome.value, params=dict(sweep.default_values) if inside else {},
        distributions=distributions if inside else {}, intermediate_values=outcome.intermediate,
        user_attrs={"default": True, "values": sweep.default_values, "steps": outcome.steps,
                    "seconds": outcome.seconds}))


def run_trial(sweep: Sweep, number: int, params: dict[str, Any], trial) -> TrialRun:
    """Train one trial in its own run_dir; ``trial`` (Optuna's) hears each evaluation and may prune."""
    run_dir = trial_dir(sweep, number)
    shutil.rmtree(run_dir, ignore_errors=True)  # left by an interrupted attempt at this number
    cfg = sweep.validate(sweep.trial_data(params, run_dir), f"{sweep.source}: trial {number}")
    outcome = TrialRun(None, 0, 0.0)

    def on_eval(step: int, metrics: dict) -> bool:
        if sweep.metric_key not in metrics:
            raise MetricMissing(f"{sweep.source}: metric: the validation of a {sweep.kind} run has no "
                                 f"{sweep.metric_key} (it has {', '.join(sorted(metrics))})")
        outcome.intermediate[step] = float(metrics[sweep.metric_key])
        if trial is None:
            return False
        trial.report(outcome.intermediate[step], step)
        outcome.pruned = trial.should_prune()
        return outcome.pruned

    log.info("trial %d: %s", number, _describe(params) or "the base config")
    if sweep.kind == "finetune":
        from ..finetune import finetune
        summary = finetune(cfg, on_eval=on_eval)
        final, interrupted = summary["val"], summary["interrupted"]
        outcome.steps, outcome.seconds = summary["steps"], summary["seconds"]
    else:
        from ..pretrain import pretrain
        result = pretrain(cfg, on_eval=on_eval)
        final, interrupted = result.final_eval, result.interrupted
        outcome.steps, outcome.seconds = result.step, result.seconds
    if interrupted:  # the engine saved and stopped on SIGTERM/Ctrl-C: not a result, run it again later
        raise KeyboardInterrupt
    # finetune: the best checkpoint's validation (as results.json says); pretrain: the last evaluation.
    outcome.value = float(final[sweep.metric_key])
    return outcome


def _log_trial(sweep: Sweep, number: int, params: dict, outcome: TrialRun) -> None:
    if outcome.pruned:
        step, value = max(outcome.intermediate.items())
        log.info("trial %d pruned at step %d (%s %.4f)", number, step, sweep.metric, value)
    else:
        log.info("trial %d: %s %.4f (%d steps, %.0f s)", number, sweep.metric, outcome.value, outcome.steps,
                 outcome.seconds)


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _distribution(space):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(space, list):
        return CategoricalDistribution(space)
    if space.is_int:
        return IntDistribution(space.low, space.high, log=space.log, step=space.step or 1)
    return FloatDistribution(float(space.low), float(space.high), log=space.log,
                             step=None if space.step is None else float(space.step))


def _suggest(trial, key: str, space):
    if isinstance(space, list):
        return trial.suggest_categorical(key, space)
    if isinstance(space, RangeParam) and space.is_int:
        return trial.suggest_int(key, space.low, space.high, step=space.step or 1, log=space.log)
    return trial.suggest_float(key, float(space.low), float(space.high), log=space.log,
                               step=None if space.step is None else float(space.step))


def _contains(distribution, value) -> bool:
    try:
        return distribution._contains(distribution.to_internal_repr(value))
    except (ValueError, TypeError):
        return False
