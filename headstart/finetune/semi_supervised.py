"""Semi-supervised fine-tuning: the unlabeled pool, batches that carry it, and self-training's pseudo-labels.

Consistency training (UDA, FixMatch) runs inside the engine: each batch is a labeled batch plus ``ratio``
times as many unlabeled examples under ``u_`` keys (``WithUnlabeled``), and the classification objective
adds the consistency loss (``objectives/consistency.py``).  Batch ``i`` of both parts is a pure function of
``(seed, i)``, so a run resumes exactly.  Self-training (Noisy Student, Xie et al. 2020) runs around the
engine: a teacher fine-tuned on the labels pseudo-labels the pool, and a student trains on both.

No pool example is ever counted as a label: a budget of N stays N (``results.json``: ``labels``), and the
pseudo-labels are reported apart (``pseudo_labels``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import HeadstartError
from ..objectives.consistency import UNLABELED, Consistency
from ..engine.rng import seed_everything
from .config import DataRef, FinetuneConfig, TaskConfig
from .graph_labels import graph_pseudo_probabilities

log = logging.getLogger("headstart")


def read_pool(cfg: FinetuneConfig, modality, label_names: list[str]):
    """The unlabeled pool of ``cfg.semi_supervised``, checked: not the test or validation data (that would be
    contamination), of the task's modality, not empty; at most ``max_pool`` examples (a seeded subset)."""
    semi, task = cfg.semi_supervised, cfg.task
    ref = semi.unlabeled
    if not Path(ref.path).exists():
        raise HeadstartError(f"semi_supervised.unlabeled: {ref.path}: no such file or folder")
    for key, held_out in (("task.test", task.test), ("task.val", task.val)):
        if held_out is not None and _same(ref, held_out):
            raise HeadstartError(f"semi_supervised.unlabeled: {ref.path} is {key}; learning from held-out examples, "
                                 f"even without their labels, is contamination: give a pool of its own")
    from .task import task_modality
    found = task_modality(TaskConfig(train=ref)) if Path(ref.path).is_dir() else None
    if (found.name if found else "text") != modality.name:
        raise HeadstartError(f"semi_supervised.unlabeled: {ref.path} holds {found.name if found else 'text'}, "
                             f"but the task is {modality.name}")
    pool = modality.read_pool(ref, task, semi.field, label_names)
    if semi.max_pool is not None and semi.max_pool < len(pool):
        pick = np.random.Generator(np.random.PCG64([cfg.train.seed, 7])).choice(len(pool), semi.max_pool,
                                                                                 replace=False)
        pool = pool.subset(np.sort(pick).tolist())
    log.info("semi-supervised (%s): %d unlabeled examples from %s", semi.method, len(pool), ref.path)
    return pool


def _same(a: DataRef, b: DataRef) -> bool:
    try:
        same_path = os.path.samefile(a.path, b.path)
    except OSError:
        return False
    return same_path and (a.split is None or b.split is None or a.split == b.split)


class WithUnlabeled:
    """Batch ``i``: labeled batch ``i`` and unlabeled batch ``i`` (keys prefixed ``u_``); throughput counts
    the labeled examples."""

    def __init__(self, labeled, unlabeled):
        self.labeled, self.unlabeled = labeled, unlabeled
        self.unit = labeled.unit

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        return {**self.labeled.batch(index),
                **{UNLABELED + key: value for key, value in self.unlabeled.batch(index).items()}}

    def units(self, batch: dict) -> int:
        return len(batch["labels"])


def consistency_rule(cfg: FinetuneConfig, backbone) -> Consistency:
    semi = cfg.semi_supervised
    weak, strong = backbone.consistency_views(semi.method)
    threshold, temperature = semi.rule()
    return Consistency(weak=weak, strong=strong, threshold=threshold, temperature=temperature, weight=semi.weight)


def with_pseudo_labels(train, pool, teacher_dir: Path, cfg: FinetuneConfig, modality):
    """``train`` plus pool examples with the teacher's pseudo-labels, balanced: each class keeps as many as the
    others, as Noisy Student does, so a teacher's bias towards one class is not taught twice.  Kept: the
    examples above the confidence threshold (each class as many as the class with fewest), or ``keep`` of the
    pool (``quota_allocation``).  With ``pseudo_labels: graph`` the teacher's scores are first propagated over
    the pool's k-NN graph (``pool_features``) and balanced (``graph_labels``).  Returns (data, a record for
    results.json)."""
    from ..classifier import load_classifier  # the classifier package builds on fine-tuning
    semi = cfg.semi_supervised
    hidden, probs = load_classifier(teacher_dir).score(pool)
    record: dict = {"pool": int(len(pool)), "labeled_by": semi.pseudo_labels,
                    "teacher_pool_accuracy": _accuracy_where_known(probs.argmax(1), hidden)}
    if semi.pseudo_labels == "graph":
        probs = graph_pseudo_probabilities(pool_features(cfg, modality, pool, probs.shape[1]), probs,
                                           _class_shares(train.labels, probs.shape[1]), semi.neighbours, semi.alpha)
        record["graph_pool_accuracy"] = _accuracy_where_known(probs.argmax(1), hidden)
    fraction = semi.kept_fraction()
    if fraction is None:
        record["threshold"] = semi.rule()[0]
        chosen, labels, per_class = _above_threshold(probs, record["threshold"], train.label_names)
    else:
        per_class = min(max(1, int(fraction * len(pool) / probs.shape[1])), len(pool) // probs.shape[1])
        if per_class == 0:
            raise HeadstartError(f"self-training: a pool of {len(pool)} examples cannot give each of "
                                 f"{probs.shape[1]} classes one pseudo-label")
        chosen, labels = quota_allocation(probs, per_class)
        record["keep"] = fraction
    pseudo = pool.subset(chosen.tolist())
    pseudo.labels = labels if isinstance(train.labels, np.ndarray) else labels.tolist()
    # A benchmark's pool with its own labels: reported, never trained on.
    record.update(pseudo_labels=int(len(chosen)), per_class=per_class,
                  pseudo_accuracy=_accuracy_where_known(labels, hidden[chosen]))
    record = {key: value for key, value in record.items() if value is not None}
    log.info("self-training: %d pseudo-labels (%d a class) from %d pool examples (%s)%s", len(chosen), per_class,
             len(pool), f"keep {fraction:g}" if fraction is not None else f"confidence >= {record['threshold']:g}",
             f"; their accuracy {record['pseudo_accuracy']:.3f}" if "pseudo_accuracy" in record else "")
    return train.concat(pseudo), record


def _above_threshold(probs: np.ndarray, threshold: float, label_names: list[str]):
    """(pool indices, their labels, per class): the most confident predictions of each class above the
    threshold, as many a class as the class with fewest."""
    confidence, guess = probs.max(1), probs.argmax(1)
    confident = confidence >= threshold
    counts = [int(np.sum(confident & (guess == c))) for c in range(probs.shape[1])]
    if min(counts) == 0:
        raise HeadstartError(f"self-training: the teacher is confident (>= {threshold}) about no pool example of "
                             f"class {label_names[counts.index(0)]!r}; lower semi_supervised.threshold, or give keep")
    chosen = np.sort(np.concatenate([
        np.flatnonzero(confident & (guess == c))[np.argsort(-confidence[confident & (guess == c)], kind="stable")]
        [:min(counts)] for c in range(probs.shape[1])]))
    return chosen, guess[chosen].astype(np.int64), min(counts)


def quota_allocation(probs: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool indices, their labels): ``per_class`` examples for every class (``per_class`` x classes <= pool),
    each class taking the examples it is most probable for, the surest (example, class) pairs first, each
    example at most once.  A class the teacher seldom ranks first still gets its quota from the examples it
    scores highest, so a balanced allocation stays balanced (the rule a threshold cannot give)."""
    n, classes = probs.shape
    order = np.argsort(-probs, axis=None, kind="stable")  # (example, class) pairs, most probable first
    taken, filled = np.zeros(n, dtype=bool), np.zeros(classes, dtype=np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    missing = per_class * classes
    for example, cls in zip(*np.unravel_index(order, probs.shape)):
        if not taken[example] and filled[cls] < per_class:
            taken[example], labels[example] = True, cls
            filled[cls] += 1
            missing -= 1
            if missing == 0:
                break
    chosen = np.flatnonzero(taken)
    return chosen, labels[chosen]


def pool_features(cfg: FinetuneConfig, modality, pool, num_classes: int) -> np.ndarray:
    """Features of the pool under the backbone fine-tuning starts from (pre-trained weights, or the scratch
    arm's random ones drawn from the run's seed): what graph pseudo-labels link neighbours by."""
    seed_everything(cfg.train.seed)
    return modality.backbone(cfg).features(pool, num_classes)


def _class_shares(labels, num_classes: int) -> np.ndarray:
    """The classes' shares of the labels (the pool is assumed to hold them as the labels do), never 0."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64) + 1.0
    return counts / counts.sum()


def _accuracy_where_known(guess: np.ndarray, hidden: np.ndarray) -> Optional[float]:
    known = hidden >= 0
    return float(np.mean(guess[known] == hidden[known])) if known.any() else None


def student_config(cfg: FinetuneConfig) -> FinetuneConfig:
    """The fine-tuning config of self-training's student: the teacher's with ``semi_supervised.student``'s
    settings in place (min_lr keeps its ratio to lr, so the schedule's shape stays)."""
    student = cfg.semi_supervised.student
    if student is None:
        return cfg
    update: dict = {}
    if student.strategy is not None:
        update["strategy"] = student.strategy
    if student.epochs is not None:
        update["epochs"] = student.epochs
    if student.dropout is not None:
        update["dropout"] = student.dropout
    if student.lr is not None:
        ratio = cfg.train.min_lr / cfg.train.lr
        update["train"] = cfg.train.model_copy(update={"lr": student.lr, "min_lr": student.lr * ratio})
    return cfg.model_copy(update=update)
