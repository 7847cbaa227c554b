"""The modality a task's data has (looked up in the registry), and how a task's labels are split.

What fine-tuning needs from a modality (``TaskModality``, ``TaskBackbone``, ``LabeledBatches``) is
defined in ``headstart.modality``, which each modality implements in its own folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .. import modality as registry
from ..errors import HeadstartError
from ..label_budget import stratified_subset
# The contracts' home before the registry; imported from here by earlier code.
from ..modality import LabeledBatches, TaskBackbone, TaskData, TaskModality, with_dropout  # noqa: F401
from .config import FinetuneConfig, TaskConfig


def task_modality(task: TaskConfig) -> TaskModality:
    """The modality of ``task.train``: the one whose ``prepare`` wrote the folder, or for a labeled file
    the modality that reads files (text)."""
    path = task.train.path if not isinstance(task.train, Path) else task.train
    if path.is_dir():
        found = registry.prepared_modality(path)
        if found is None or found.task is None:
            readers = [m for m in registry.modalities() if m.task is not None and not m.reads_task_files]
            preparers = "`headstart " + "` or `".join(f"prepare {m.name}" for m in readers) + "`"
            raise HeadstartError(f"task.train: {path} is a folder but not one {preparers} wrote; "
                                 f"give a labeled text file (tsv, csv, jsonl) or a prepared folder")
        return found.task()
    reader = registry.task_of_files()
    if reader is None:
        raise HeadstartError(f"task.train: {path} is a file, and no modality reads labeled files")
    return reader.task()


def split_task(cfg: FinetuneConfig, modality: Optional[TaskModality] = None):
    """(training examples, validation examples, test examples or None) as ``cfg.task`` says.

    A budget of N labels is N labels in all (Oliver et al. 2018: a validation set larger than the
    training set is not a few-label result).  The N are a stratified draw from ``task.train``; without
    ``task.val``, validation (early stopping, the learning-rate search) is a stratified ``val_fraction``
    of them, at least one per class, and training the rest.  An explicit ``task.val`` is used whole,
    on top of the N: reports then say "N train + M validation labels".  Without a budget, the whole
    training file is the N.
    """
    t, modality = cfg.task, modality or task_modality(cfg.task)
    modality.check_overlap(t)
    train = modality.read(t.train, t, "task.train")
    check_classes(train)
    test = modality.align(train, modality.read(t.test, t, "task.test")) if t.test is not None else None
    labeled = train
    if t.budget is not None:
        check_budget(t.budget, train, explicit_val=t.val is not None)
        if t.budget < len(train):
            labeled = train.subset(stratified_subset(train.labels, t.budget, cfg.train.seed).tolist())
    if t.val is not None:
        return labeled, modality.align(train, modality.read(t.val, t, "task.val")), test
    classes = len(np.unique(np.asarray(labeled.labels)))
    n_val = min(max(classes, int(round(t.val_fraction * len(labeled)))), len(labeled) - classes)
    val_idx = set(stratified_subset(labeled.labels, n_val, cfg.train.seed).tolist())
    pool = labeled.subset([i for i in range(len(labeled)) if i not in val_idx])
    return pool, labeled.subset(sorted(val_idx)), test


def check_classes(train: TaskData) -> None:
    """A classifier of one class is right by construction: its accuracy of 1.0 would mean nothing."""
    present = sorted(set(np.asarray(train.labels).tolist()))
    if len(present) < 2:
        names = ", ".join(repr(train.label_names[i]) for i in present)
        raise HeadstartError(f"{train.source}: the training labels hold {len(present)} class ({names}); a "
                             f"classifier needs examples of at least 2")


def check_budget(budget: int, train: TaskData, explicit_val: bool) -> None:
    """Two labels per class at least: without ``task.val``, one to train on and one to validate on; with
    it, two to train on (one example of a class is a guess at it, not a few-label result)."""
    classes = len(np.unique(np.asarray(train.labels)))
    need = 2 * classes
    if budget < need:
        why = "two to train on" if explicit_val else "one to train and one to validate on"
        raise HeadstartError(f"task.budget {budget}: fewer labels than 2 x the {classes} classes of {train.source}; "
                             f"give at least {need} ({why}, per class)")


def budget_labels(pool: TaskData, val: TaskData) -> TaskData:
    """Every label a fine-tuned arm saw (trained on, or chose its checkpoint and learning rate with): what a
    baseline trains on, so that every arm of a comparison sees the same labels."""
    return pool.concat(val)
