"""``headstart rank``: score several checkpoints for a labeled task with LogME, before any fine-tuning.

LogME (You et al., 2021) is the evidence of a Bayesian linear model on a checkpoint's frozen features:
cheap (one forward pass over the labeled data) and correlated with fine-tuned accuracy, so a user can
pick which checkpoint to fine-tune without fine-tuning them all.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .compare import frozen_features
from .text.labeled import read_labeled, stratified_subset
from .text.pretrained import load_text_model
from .transfer.logme import logme_score

log = logging.getLogger("headstart")


def rank_checkpoints(checkpoints: list[Path], train_file: Path, *, fmt: str = "auto", text_field: str = "text",
                     label_field: str = "label", encoding: str = "utf-8", max_examples: int = 2000,
                     pooling: str = "auto") -> list[tuple[str, float]]:
    """[(checkpoint, LogME score)], best first."""
    data = read_labeled(train_file, fmt=fmt, text_field=text_field, label_field=label_field, encoding=encoding)
    if len(data) > max_examples:
        data = data.subset(stratified_subset(data.labels, max_examples, 0).tolist())
    scores = []
    for path in checkpoints:
        model, tokenizer, checkpoint, _ = load_text_model(path)
        how = pooling if pooling != "auto" else ("last" if model.cfg.causal else "mean")
        features = frozen_features(model, tokenizer, data, how, model.cfg.context_length)
        scores.append((str(checkpoint), logme_score(features, np.asarray(data.labels))))
        log.info("LogME %.4f  %s", scores[-1][1], checkpoint)
    return sorted(scores, key=lambda item: -item[1])
