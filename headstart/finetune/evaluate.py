"""Classification metrics over a whole evaluation set: accuracy and macro-F1."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F


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


@torch.no_grad()
def evaluate_classifier(objective, batches: Iterable[dict], device: torch.device, num_classes: int) -> dict:
    was_training = objective.training
    objective.eval()
    labels, predictions, loss_sum = [], [], 0.0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = objective.logits(batch)
        loss_sum += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
        labels.append(batch["labels"].cpu().numpy())
        predictions.append(logits.argmax(-1).cpu().numpy())
    objective.train(was_training)
    y, p = np.concatenate(labels), np.concatenate(predictions)
    return {"accuracy": float(np.mean(y == p)), "macro_f1": macro_f1(y, p, num_classes), "loss": loss_sum / len(y)}
