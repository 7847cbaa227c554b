"""``headstart pretrain``: read the config, let the data's modality (found in the registry, never imported
here) assemble model, objective and batches, and hand them to the engine."""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable, Optional, Union

import yaml
from torch import nn

from . import modality
from .config import PretrainConfig, load_pretrain_config
from .engine import Checkpointer, Trainer, TrainResult
from .engine.distributed import barrier, init_from_env
from .engine.rng import RNGStateError, seed_everything
from .errors import HeadstartError
from .modality import PretrainSetup  # noqa: F401  (its home before the registry; imported from here by users)

log = logging.getLogger("headstart")

# Run-config keys a resume may change: moving the data, or watching the run differently.
# Where things live may change between a stop and a resume (a moved run or data folder); what is
# computed may not.
# model.kind: text checkpoints from before model records named their kind resume under code that writes it
# (a real change of model shows in the architecture's own keys).
RESUMABLE_CONFIG_KEYS = frozenset({"run_dir", "data.path", "monitor.knn_train_images", "monitor.knn_val_images",
                                   "model.kind"})


def prepared_modality(path: Path) -> Optional[str]:
    """The name of the modality ("text", "images", ...) whose ``prepare`` wrote folder ``path``; None when it
    cannot tell (the modality's own reader then says what is wrong with the folder)."""
    found = modality.prepared_modality(path)
    return found.name if found is not None else None


def check_data_modality(cfg: PretrainConfig) -> None:
    """``data.path`` must hold what the objective trains on."""
    found = prepared_modality(cfg.data.path) or cfg.modality
    if found != cfg.modality:
        names = modality.modality(found).objective_names
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise HeadstartError(f"objective.name: {cfg.objective.name} trains on {cfg.modality}, but data.path "
                             f"{cfg.data.path} holds {found} (`headstart prepare {found}`); use {listed}")


def build_setup(cfg: PretrainConfig) -> PretrainSetup:
    check_data_modality(cfg)
    return modality.modality(cfg.modality).pretrain_setup(cfg)


def pretrain(config: Union[PretrainConfig, str, Path], overrides: list[str] = (),
             resume: Union[bool, str, Path] = False, on_eval=None) -> TrainResult:
    """Pre-train as ``config`` says.  ``resume=True`` continues from the run's latest checkpoint,
    ``resume=PATH`` from that checkpoint.  ``on_eval(step, val_metrics) -> stop?`` is the engine's hook
    after each evaluation (``Trainer``)."""
    cfg = config if isinstance(config, PretrainConfig) else load_pretrain_config(config, overrides)
    own_trainer = modality.objective(cfg.objective.name).own_trainer
    if own_trainer is not None:  # e.g. word vectors, which gensim trains
        check_data_modality(cfg)
        return own_trainer(cfg, resume)
    here = init_from_env()  # under torchrun: join the process group; otherwise one process
    seed_everything(cfg.train.seed)  # before building the model: initial weights depend on the seed
    setup = build_setup(cfg)

    checkpointer = Checkpointer(cfg.run_dir / "checkpoints")
    start_from = None
    if resume:
        start_from = Path(resume) if not isinstance(resume, bool) else checkpointer.latest()
        if start_from is None:
            raise HeadstartError(f"--resume: no checkpoint in {checkpointer.dir} yet; run without --resume")
    elif checkpointer.latest() is not None:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; pass --resume to continue that run "
                             f"or set run_dir to a new directory")
    if start_from is None and setup.fresh_start is not None:
        log.info("%s", setup.fresh_start())  # before the trainer wraps the model and builds its optimizer
    barrier()  # every rank has looked before rank 0 writes anything

    trainer = Trainer(setup.objective, setup.train_data, setup.val_data, cfg.train, cfg.run_dir,
                      run_config=setup.run_config, flops_per_unit=setup.flops_per_unit,
                      extra_files=setup.extra_files, monitor=no_scores_without_a_loss(setup.monitor),
                      resumable_changes=RESUMABLE_CONFIG_KEYS,
                      on_eval=on_eval)
    if start_from is not None:
        try:
            trainer.resume(start_from)
        except RNGStateError as error:  # it names the file; the checkpoint is known here
            raise HeadstartError(f"cannot resume from {start_from}: {error}") from None
    if here.is_main:
        write_run_config(cfg.run_dir, setup.run_config)
    global_batch = f" x {here.world_size} processes" if here.distributed else ""
    log.info("model: %s; objective %s; %s per step%s", setup.summary, cfg.objective.name, setup.per_step, global_batch)
    return trainer.fit()


def write_run_config(run_dir: Path, run_config: dict) -> None:
    """``run_dir/config.yaml``: the run's full config, written before the first step (a full disk is
    one line here, not a traceback)."""
    path = run_dir / "config.yaml"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(run_config, sort_keys=False))
    except OSError as error:
        raise HeadstartError(f"could not write {path}: {error.strerror or error}") from None


Monitor = Callable[[nn.Module, dict], dict]
SCORE_NAMES = ("accuracy", "R@", "f1")  # validation metrics that rank predictions: meaningless on NaN outputs


def no_scores_without_a_loss(monitor: Optional[Monitor]) -> Monitor:
    """``monitor`` (or none), and NaN for every validation score when the validation loss is not finite.

    The engine calls the monitor with the objective's validation metrics and logs what it returns over
    them: the one place to catch every objective's scores.  NaN outputs still have an argmax (NaN counts as
    the largest), so a NaN model "predicts" the same code as a NaN target: BEST-RQ's masked accuracy was
    1.0 with a NaN loss.  Scores (accuracies, retrieval recall@K) mean nothing then; what describes the
    data (the masked fraction) is kept, and anything computed from the outputs is NaN already."""
    def checked(objective: nn.Module, metrics: dict) -> dict:
        extra = monitor(objective, metrics) if monitor is not None else {}
        loss = metrics.get("loss")
        if loss is None or math.isfinite(loss):
            return extra
        scores = [name for name in {**metrics, **extra} if any(part in name for part in SCORE_NAMES)]
        log.warning("validation loss is %s: the model's outputs are not finite numbers; %s reported as NaN",
                    loss, ", ".join(scores) or "no score")
        return {**extra, **{name: math.nan for name in scores}}
    return checked
