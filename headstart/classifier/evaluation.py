"""Metrics of a classifier on a labeled test set, from its predicted probabilities: accuracy with a 95%
Wilson interval, macro-F1, per-class precision/recall/F1, the confusion matrix, log loss and calibration.

Accuracy, macro-F1 and ECE are the fine-tuning evaluation's own (``headstart.finetune.evaluate``), so a
number here matches the number fine-tuning logged for the same predictions.
"""
from __future__ import annotations

import math

import numpy as np

from headstart.finetune.evaluate import (CALIBRATION_BINS, calibration_bins, expected_calibration_error,
                                         macro_f1)

LOG_LOSS_FLOOR = 1e-15  # a probability of 0 on the true class costs -log(1e-15) ≈ 34.5 nats, not infinity
_Z95 = 1.959963984540054  # two-sided 95% normal quantile
_SUM_TOLERANCE = 1e-3  # softmax rows in float32 sum to 1 within ~1e-6; logits miss by far more


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, label_names: list[str]) -> dict:
    """Every metric of the evaluation report, as a JSON-serialisable dict.

    ``labels``: (n,) integer class ids in 0..k-1.  ``probabilities``: (n, k), each row a distribution over
    the k classes of ``label_names`` (softmax outputs).  The prediction is the most probable class (the
    lowest id on a tie) and its probability is the confidence.

    Returns ``n``, ``label_names``, ``accuracy``, ``accuracy_interval`` ({"method": "wilson", "level":
    0.95, "low", "high"}), ``macro_f1``, ``per_class`` ({name: {"precision", "recall", "f1", "support"}}
    in label order; None where the ratio is 0/0, i.e. a class never predicted or absent from the labels),
    ``confusion_matrix`` ({"labels": names, "counts": rows = true class, columns = predicted}),
    ``log_loss`` (mean cross-entropy in nats, probabilities floored at ``LOG_LOSS_FLOOR``), ``ece`` and
    ``calibration_bins`` (15 equal-width bins of confidence).  ``macro_f1`` is the mean of the per-class
    F1 values that are not None.
    """
    labels, probabilities = _checked(labels, probabilities, label_names)
    n, k = probabilities.shape
    predictions = probabilities.argmax(axis=1)
    confidences = probabilities[np.arange(n), predictions]
    correct = predictions == labels
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)

    per_class = {}
    for c, name in enumerate(label_names):
        tp, predicted, support = int(counts[c, c]), int(counts[:, c].sum()), int(counts[c].sum())
        per_class[name] = {"precision": _ratio(tp, predicted), "recall": _ratio(tp, support),
                           "f1": _ratio(2 * tp, predicted + support), "support": support}
    hits = int(correct.sum())
    true_class = np.clip(probabilities[np.arange(n), labels], LOG_LOSS_FLOOR, 1.0)
    return {"n": n, "label_names": list(label_names),
            "accuracy": hits / n,
            "accuracy_interval": {"method": "wilson", "level": 0.95, **wilson_interval(hits, n)},
            "macro_f1": macro_f1(labels, predictions, k),
            "per_class": per_class,
            "confusion_matrix": {"labels": list(label_names), "counts": counts.tolist()},
            "log_loss": float(-np.log(true_class).mean()),
            "ece": expected_calibration_error(confidences, correct, CALIBRATION_BINS),
            "calibration_bins": calibration_bins(confidences, correct, CALIBRATION_BINS)}


def wilson_interval(successes: int, n: int, z: float = _Z95) -> dict:
    """Wilson score interval for a proportion: deterministic, inside [0, 1], and sensible at 0% and 100%
    where the normal (Wald) interval collapses to a point."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return {"low": max(0.0, centre - half), "high": min(1.0, centre + half)}


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _checked(labels, probabilities, label_names) -> tuple[np.ndarray, np.ndarray]:
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=np.float64)
    k = len(label_names)
    if len(set(label_names)) != k:
        raise ValueError("label_names must be distinct: the per-class metrics are keyed by name")
    if probabilities.ndim != 2 or probabilities.shape[1] != k:
        raise ValueError(f"probabilities must have shape (n, {k}) for {k} label names, got {probabilities.shape}")
    if labels.shape != probabilities.shape[:1]:
        raise ValueError(f"labels must have shape ({probabilities.shape[0]},), got {labels.shape}")
    if labels.size == 0:
        raise ValueError("no examples to evaluate")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}")
    outside = (labels < 0) | (labels >= k)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} labels are outside 0..{k - 1} (first: {labels[outside][0]}); "
                         f"there are {k} label names")
    if not np.isfinite(probabilities).all() or (probabilities < 0).any() \
            or not np.allclose(probabilities.sum(axis=1), 1.0, atol=_SUM_TOLERANCE):
        raise ValueError("each row of probabilities must be a distribution (non-negative, summing to 1): "
                         "pass softmax outputs, not logits")
    return labels, probabilities
