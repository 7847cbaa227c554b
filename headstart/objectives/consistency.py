"""Consistency training on unlabeled examples, added to a classification objective's loss.

One rule covers FixMatch (Sohn et al. 2020) and UDA (Xie et al. 2020): the model's prediction on a lightly
noised (or clean) unlabeled example, computed without gradient, is the target of its prediction on a
strongly noised copy, wherever that prediction is confident.  FixMatch's target is the hard label (``
temperature=None``, threshold 0.95); UDA's is the prediction sharpened by a temperature (0.4, threshold 0.8).

A semi-supervised batch is a labeled batch plus the unlabeled one under ``u_`` keys (``u_inputs``,
``u_padding_mask``, ...), so the engine moves, checkpoints and resumes it like any other batch.  A pool
that happens to have labels (a benchmark's) brings them as ``u_labels``: they are never trained on, only
reported as the accuracy of the pseudo-labels, the first sign of a failing run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .base import ObjectiveOutput

UNLABELED = "u_"


@dataclass
class Consistency:
    weak: Callable[[dict], dict]  # the target's view: clean (UDA) or lightly augmented (FixMatch)
    strong: Callable[[dict], dict]  # the view that learns
    threshold: float
    temperature: Optional[float]  # None: hard pseudo-labels (FixMatch); else sharpened soft targets (UDA)
    weight: float


def split_batch(batch: dict) -> tuple[dict, Optional[dict]]:
    """(the labeled batch, the unlabeled one or None)."""
    unlabeled = {k[len(UNLABELED):]: v for k, v in batch.items() if k.startswith(UNLABELED)}
    labeled = {k: v for k, v in batch.items() if not k.startswith(UNLABELED)}
    return labeled, unlabeled or None


def consistency_loss(logits_of: Callable[[dict], torch.Tensor], unlabeled: dict,
                     rule: Consistency) -> tuple[torch.Tensor, dict]:
    """The weighted unlabeled loss and its metrics: ``mask_rate`` (share of unlabeled examples confident
    enough to teach) and, for a labeled pool, ``pseudo_accuracy`` of the confident ones."""
    hidden = unlabeled.pop("labels", None)
    with torch.no_grad():
        probs = logits_of(rule.weak(unlabeled)).float().softmax(-1)
        confidence, hard = probs.max(-1)
        mask = (confidence >= rule.threshold).float()
        if rule.temperature is not None:
            target = (probs.clamp_min(1e-12).log() / rule.temperature).softmax(-1)
    log_probs = logits_of(rule.strong(unlabeled)).float().log_softmax(-1)
    per_example = (F.nll_loss(log_probs, hard, reduction="none") if rule.temperature is None
                   else -(target * log_probs).sum(-1))
    loss = rule.weight * (per_example * mask).mean()
    metrics = {"unlabeled_loss": loss.detach(), "mask_rate": mask.mean()}
    if hidden is not None and bool((hidden >= 0).all()) and mask.sum() > 0:
        metrics["pseudo_accuracy"] = ((hard == hidden).float() * mask).sum() / mask.sum()
    return loss, metrics


def supervised_plus_consistency(objective: nn.Module, batch: dict,
                                supervised_logits: Callable[[dict], torch.Tensor]) -> ObjectiveOutput:
    """Cross-entropy on the labeled part of ``batch`` (through ``supervised_logits``, which may augment), plus,
    in training with ``objective.consistency`` set and an unlabeled part present, the consistency loss."""
    labeled, unlabeled = split_batch(batch)
    logits = supervised_logits(labeled)
    loss = F.cross_entropy(logits, labeled["labels"])
    metrics = {"loss": loss.detach(), "accuracy": (logits.argmax(-1) == labeled["labels"]).float().mean().detach()}
    rule = getattr(objective, "consistency", None)
    if rule is not None and unlabeled is not None and objective.training:
        extra, more = consistency_loss(objective.logits, unlabeled, rule)
        loss = loss + extra
        metrics.update(supervised_loss=metrics["loss"], loss=loss.detach(), **more)
    return ObjectiveOutput(loss, metrics)
