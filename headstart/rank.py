"""``headstart rank``: score several checkpoints for a labeled task with LogME, before any fine-tuning.

LogME (You et al., 2021) is the evidence of a Bayesian linear model on a checkpoint's frozen features:
cheap (one forward pass over the labeled data) and correlated with fine-tuned accuracy, so a user can
pick which checkpoint to fine-tune without fine-tuning them all.  Any modality: the labeled data (a
text file, or a folder from ``headstart prepare images``) says which.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .finetune.config import FinetuneConfig
from .finetune.task import check_classes, task_modality
from .label_budget import stratified_subset
from .transfer.logme import logme_score

log = logging.getLogger("headstart")


def rank_checkpoints(checkpoints: list[Path], train_file: Path, *, fmt: str = "auto", text_field: str = "text",
                     label_field: str = "label", encoding: str = "utf-8", max_examples: int = 2000,
                     pooling: str = "auto") -> list[tuple[str, float]]:
    """[(checkpoint, LogME score)], best first."""
    scores = []
    for path in checkpoints:
        cfg = FinetuneConfig.model_validate({
            "run_dir": ".", "init": path, "pooling": pooling, "train": {},
            "task": {"train": train_file, "format": fmt, "text_field": text_field, "label_field": label_field,
                     "encoding": encoding}})
        modality = task_modality(cfg.task)
        data = modality.read(cfg.task.train, cfg.task, "--train")
        check_classes(data)  # LogME of one class scores nothing but the features' spread
        if len(data) > max_examples:
            data = data.subset(stratified_subset(data.labels, max_examples, 0).tolist())
        backbone = modality.load(path, cfg)
        features = backbone.features(data, len(data.label_names))
        scores.append((backbone.source, logme_score(features, np.asarray(data.labels))))
        log.info("LogME %.4f  %s", scores[-1][1], backbone.source)
    return sorted(scores, key=lambda item: -item[1])
