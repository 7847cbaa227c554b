"""Classification metrics over a whole evaluation set: accuracy, macro-F1 and calibration (ECE)."""
from __future__ import annotations

import logging
import math
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger("headstart")


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in labels or predictions."""
    scores = []
    for c in range(num_classes):
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


CALIBRATION_BINS = 15  # Guo et al. (2017), "On calibration of modern neural networks"


def calibration_bins(confidences: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-width bins of top-label confidence: each bin's count, mean confidence and accuracy (the points of
    a reliability diagram).  Empty bins are kept, with None for their means."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)  # (lo, hi], 0 in the first
    rows = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": n,
                     "confidence": float(confidences[inside].mean()) if n else None,
                     "accuracy": float(correct[inside].mean()) if n else None})
    return rows


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over ``calibration_bins``
    (0 = the model's probabilities mean what they say)."""
    total = len(confidences)
    return float(sum(row["count"] / total * abs(row["confidence"] - row["accuracy"])
                     for row in calibration_bins(confidences, correct, bins) if row["count"])) if total else 0.0


@torch.no_grad()
def evaluate_classifier(objective, batches: Iterable[dict], device: torch.device, num_classes: int) -> dict:
    was_training = objective.training
    objective.eval()
    labels, predictions, confidences, loss_sum = [], [], [], 0.0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = objective.logits(batch)
        loss_sum += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
        labels.append(batch["labels"].cpu().numpy())
        top = logits.softmax(-1).max(-1)
        predictions.append(top.indices.cpu().numpy())
        confidences.append(top.values.cpu().numpy())
    objective.train(was_training)
    y, p, confidence = np.concatenate(labels), np.concatenate(predictions), np.concatenate(confidences)
    loss = loss_sum / len(y)
    if not math.isfinite(loss):
        # NaN logits still have an argmax (NaN counts as the largest): scoring those predictions would
        # report an accuracy, even 1.0, for a model that computes nothing.
        log.warning("evaluation loss is %s: the model's outputs are not finite numbers; accuracy, macro-F1 and "
                    "ECE are reported as NaN", loss)
        return {"accuracy": math.nan, "macro_f1": math.nan, "loss": loss, "ece": math.nan}
    return {"accuracy": float(np.mean(y == p)), "macro_f1": macro_f1(y, p, num_classes), "loss": loss,
            "ece": expected_calibration_error(confidence, y == p)}
