"""``headstart finetune``: a task head on a pre-trained (or random) backbone, trained by the engine.

The same path serves every modality: the task's data says which (``task_modality``), and the modality
reads the labeled splits, builds the backbone and its batches; the engine does the rest.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Union

import yaml

from ..config import apply_overrides, read_yaml, validate
from ..engine import Checkpointer, Trainer
from ..engine.checkpoint import load_objective_weights, write_json_atomic
from ..engine.device import resolve_device
from ..engine.rng import seed_everything
from ..errors import HeadstartError
from .config import FinetuneConfig
from .evaluate import evaluate_classifier
from .strategies import apply_strategy
from .task import split_task, task_modality

log = logging.getLogger("headstart")


def load_finetune_config(path, overrides=()) -> FinetuneConfig:
    return validate(FinetuneConfig, apply_overrides(read_yaml(path), list(overrides)), str(path))


def finetune(config: Union[FinetuneConfig, str, Path], overrides=(), on_eval=None) -> dict:
    """Fine-tune as ``config`` says; returns (and writes to run_dir/results.json) val and test metrics.
    ``on_eval(step, val_metrics) -> stop?`` is the engine's hook after each evaluation (``Trainer``)."""
    cfg = config if isinstance(config, FinetuneConfig) else load_finetune_config(config, overrides)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise HeadstartError("headstart finetune runs in one process (small labeled sets fit one device); "
                             "torchrun is for headstart pretrain")
    if Checkpointer(cfg.run_dir / "checkpoints").latest() is not None:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; choose a new run_dir")
    seed_everything(cfg.train.seed)
    modality = task_modality(cfg.task)
    train, val, test = split_task(cfg, modality)
    backbone = modality.backbone(cfg)
    num_classes = len(train.label_names)
    objective = backbone.objective(num_classes)
    try:
        plan = apply_strategy(backbone.model, cfg.strategy)
    except ValueError as e:
        raise HeadstartError(str(e)) from None

    train_src = backbone.batches(train, cfg.train.batch_size, cfg.train.seed)
    val_src = backbone.batches(val, cfg.train.batch_size)
    test_src = backbone.batches(test, cfg.train.batch_size) if test is not None else None
    device = resolve_device(cfg.train.device)
    run_config = {**cfg.model_dump(mode="json"), "kind": f"finetune_{modality.name}"}
    trainer = Trainer(objective, train_src, None, cfg.train, cfg.run_dir, run_config=run_config,
                      eval_metric="accuracy", higher_is_better=True,
                      evaluate=lambda obj: evaluate_classifier(obj, val_src.in_order(), device, num_classes),
                      lr_scales=plan.lr_scales, on_step=plan.on_step, on_eval=on_eval,
                      extra_files=backbone.checkpoint_files(cfg.run_dir))
    how = backbone.describe()
    log.info("fine-tuning %s on %d labeled examples (%d classes), %s strategy%s; val %d%s",
             backbone.source, len(train), num_classes, cfg.strategy.name, f", {how}" if how else "", len(val),
             f", test {len(test)}" if test is not None else "")
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
    result = trainer.fit()

    best = result.best_checkpoint or result.last_checkpoint
    load_objective_weights(objective, best)  # the best step's backbone and head
    summary = {"init": backbone.source, "strategy": cfg.strategy.name, "lr": cfg.train.lr, "labels": len(train),
               "label_names": train.label_names, "best_step": result.best_eval and result.best_eval["step"],
               "val": evaluate_classifier(objective, val_src.in_order(), device, num_classes),
               "test": (evaluate_classifier(objective, test_src.in_order(), device, num_classes)
                        if test_src is not None else None),
               "steps": result.step, "seconds": result.seconds, "cost": result.cost,
               "best_checkpoint": str(best),
               "interrupted": result.interrupted}
    write_json_atomic(cfg.run_dir / "results.json", summary)
    return summary
