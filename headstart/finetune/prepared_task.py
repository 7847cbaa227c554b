"""Tasks whose labeled data are folders from ``headstart prepare images`` or ``prepare audio``.

Both keep examples in per-split arrays with a manifest; what a task reads, how splits are named and
checked for overlap, and how class names are matched between training and test are the same for
both.  ``PreparedFolderTask`` does that once; a modality names its array reader and what "the same
kind of example" means (image size, mel bins).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import HeadstartError
from .config import DataRef, TaskConfig
from ..modality import TaskModality

SPLITS = ("train", "val")


class LabeledRows:
    """Labeled examples drawn from one or more splits of prepared folders, read lazily from their maps."""

    def __init__(self, parts: list, rows: np.ndarray, labels: np.ndarray, label_names: list[str], source: str):
        self.parts, self.rows, self.labels = parts, rows, labels  # rows: (N, 2) of (part, row in that part)
        self.label_names, self.source = label_names, source

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, indices: Sequence[int]) -> "LabeledRows":
        indices = np.asarray(indices, dtype=np.int64)
        return type(self)(self.parts, self.rows[indices], self.labels[indices], self.label_names, self.source)

    def concat(self, other: "LabeledRows") -> "LabeledRows":
        """These examples, then ``other``'s (aligned to the same label ids)."""
        shifted = other.rows + np.array([len(self.parts), 0], dtype=np.int64)
        source = self.source if other.source == self.source else f"{self.source} + {other.source}"
        return type(self)(self.parts + other.parts, np.concatenate([self.rows, shifted]),
                          np.concatenate([self.labels, other.labels]), self.label_names, source)

    def items(self, indices: Sequence[int]) -> list:
        """Examples ``indices`` as their readers return them (an image array, a clip's frames)."""
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        out: list[Any] = [None] * len(rows)
        for part in np.unique(rows[:, 0]):
            here = np.flatnonzero(rows[:, 0] == part)
            for position, item in zip(here, self.parts[part].read(rows[here, 1])[0]):
                out[position] = item
        return out


class PreparedFolderTask(TaskModality):
    """``read``, ``check_overlap`` and ``align`` for prepared folders; subclasses set the rest."""

    arrays: Callable  # (prepared_dir, split) -> reader with class_names, labels, __len__, read(indices)
    load_manifest: Callable[[Path], dict]
    data_class: type = LabeledRows
    unit: str = "examples"  # "images", "clips": for messages, and the count of a split in the manifest

    def compatible(self, train: LabeledRows, other: LabeledRows) -> None:
        """Raise when ``other``'s examples cannot go through the model ``train``'s do (size, channels)."""

    def read(self, ref: DataRef, task: TaskConfig, key: str) -> LabeledRows:
        splits = self._splits(ref, key)
        parts = [type(self).arrays(ref.path, split) for split in splits]
        names = parts[0].class_names
        if names is None:
            raise HeadstartError(f"{key}: {ref.path} was prepared without labels; fine-tuning needs labeled "
                                 f"{self.unit} (see `headstart prepare {self.name} --help`)")
        rows = np.concatenate([np.stack((np.full(len(p), i), np.arange(len(p))), 1) for i, p in enumerate(parts)])
        labels = np.concatenate([p.labels for p in parts]).astype(np.int64)
        where = f"{ref.path} ({'+'.join(splits)})"
        if len(rows) == 0:
            raise HeadstartError(f"{key}: {where} holds no {self.unit}")
        return self.data_class(parts, rows.astype(np.int64), labels, list(names), where)

    def read_pool(self, ref: DataRef, task: TaskConfig, field: str, label_names: list[str]) -> LabeledRows:
        """A prepared folder (labeled or not) as an unlabeled pool: every non-empty split, or ``ref.split``.
        Labels it has are kept only to report the pseudo-labels' accuracy; classes training never saw are -1."""
        if not Path(ref.path).is_dir():
            raise HeadstartError(f"semi_supervised.unlabeled: {ref.path} is not a folder from `headstart prepare "
                                 f"{self.name}`")
        parts = [type(self).arrays(ref.path, split) for split in self._splits(ref, "semi_supervised.unlabeled")]
        parts = [part for part in parts if len(part)]
        if not parts:
            raise HeadstartError(f"semi_supervised.unlabeled: {ref.path} holds no {self.unit}")
        ids = {name: i for i, name in enumerate(label_names)}
        labels = []
        for part in parts:
            if part.class_names is None or part.labels is None:
                labels.append(np.full(len(part), -1, dtype=np.int64))
            else:
                mapping = np.array([ids.get(name, -1) for name in part.class_names], dtype=np.int64)
                labels.append(mapping[np.asarray(part.labels, dtype=np.int64)])
        rows = np.concatenate([np.stack((np.full(len(p), i), np.arange(len(p))), 1) for i, p in enumerate(parts)])
        return self.data_class(parts, rows.astype(np.int64), np.concatenate(labels), list(label_names), str(ref.path))

    def _splits(self, ref: DataRef, key: str) -> list[str]:
        """A named split; else task.train's "train", and every non-empty split for val and test."""
        if ref.split is not None:
            if ref.split not in SPLITS:
                raise HeadstartError(f"{key}.split: {ref.split!r} is not a split of a prepared folder "
                                     f"({', '.join(SPLITS)})")
            return [ref.split]
        if key == "task.train":
            return ["train"]
        splits = type(self).load_manifest(ref.path).get("splits", {})
        return [s for s in SPLITS if splits.get(s, {}).get(self.unit)] or ["train"]

    def check_overlap(self, task: TaskConfig) -> None:
        train = set(self._splits(task.train, "task.train"))
        for key, ref in (("task.val", task.val), ("task.test", task.test)):
            if ref is not None and _same_folder(ref.path, task.train.path):
                shared = train & set(self._splits(ref, key))
                if shared:
                    raise HeadstartError(f"{key}: the {'+'.join(sorted(shared))} split of {ref.path} is also "
                                         f"task.train's; name another split, e.g. {{path: {ref.path}, split: val}}")

    def align(self, train: LabeledRows, other: LabeledRows) -> LabeledRows:
        ids = {name: i for i, name in enumerate(train.label_names)}
        mapping = np.array([ids.get(name, -1) for name in other.label_names], dtype=np.int64)
        unseen = sorted({other.label_names[c] for c in np.unique(other.labels) if mapping[c] < 0})
        if unseen:
            raise HeadstartError(f"{other.source}: class {unseen[0]!r} never appears in the training set "
                                 f"{train.source} (training classes: {', '.join(train.label_names[:20])})")
        self.compatible(train, other)
        return self.data_class(other.parts, other.rows, mapping[other.labels], train.label_names, other.source)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
