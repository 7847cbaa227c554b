"""What a modality hands to fine-tuning, ``compare`` and ``rank``: its labeled data, batches and backbones.

Fine-tuning is the same for every modality: split the labeled data, put a head on a backbone, train
with the engine, score.  What differs is how labeled examples are read, batched and fed to the
backbone, and which classical baseline a pre-trained model has to beat.  A ``TaskModality`` supplies
those; each modality folder registers one (``headstart.modality.registry``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch
from torch import nn

from ..engine.distributed import world
from ..errors import HeadstartError

if TYPE_CHECKING:  # annotations only: the configs live with fine-tuning, above this layer
    from ..finetune.config import DataRef, FinetuneConfig, TaskConfig


class TaskData(Protocol):
    """Labeled examples of one split: ``labels`` are ids into ``label_names``."""

    labels: Sequence[int]
    label_names: list[str]
    source: str  # where they were read, for messages and the report's title

    def __len__(self) -> int: ...

    def subset(self, indices: Sequence[int]) -> "TaskData": ...

    def concat(self, other: "TaskData") -> "TaskData":
        """These examples, then ``other``'s (already aligned to the same label ids)."""


class LabeledBatches(ABC):
    """Batch ``i`` of a labeled split comes from a per-epoch permutation seeded by ``(seed, epoch)``:
    addressable by index, so fine-tuning resumes exactly like pre-training.  ``in_order`` walks every
    example once, for evaluation.  A modality says how a list of examples becomes a batch.

    Under torchrun, ``batch_size`` is per process as in pre-training: global batch ``i`` holds ``batch_size x
    world_size`` examples, sorted, and each process collates its slice, so N processes train on what one process
    with an N times larger batch would (``engine.draws`` keeps their augmentations the same too)."""

    unit = "samples"

    def __init__(self, count: int, batch_size: int, seed: int):
        here = world()
        self.count, self.batch_size, self.seed = count, batch_size, seed
        self.rank, self.world_size = here.rank, here.world_size
        self.per_epoch = max(1, -(-count // (batch_size * self.world_size)))
        self._order: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))  # the current epoch's permutation

    @abstractmethod
    def collate(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch of examples ``indices`` (ascending), with ``labels``."""

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        epoch, position = divmod(index, self.per_epoch)
        if self._order[0] != epoch:  # drawn once per epoch, not at every step
            self._order = (epoch, np.random.Generator(np.random.PCG64([self.seed, epoch])).permutation(self.count))
        width = self.batch_size * self.world_size
        chosen = np.sort(self._order[1][position * width:(position + 1) * width])
        if self.world_size == 1:
            return self.collate(chosen)
        if len(chosen) < self.world_size:  # an epoch's last, short batch: no process may get none
            chosen = np.sort(np.concatenate([chosen, self._order[1][:self.world_size - len(chosen)]]))
        return self.collate(np.array_split(chosen, self.world_size)[self.rank])

    def in_order(self) -> Iterator[dict[str, torch.Tensor]]:
        for start in range(0, self.count, self.batch_size):
            yield self.collate(np.arange(start, min(start + self.batch_size, self.count)))

    def units(self, batch: dict) -> int:
        return len(batch["labels"])

    def __len__(self) -> int:
        return self.count


def with_dropout(model: nn.Module, dropout: Optional[float]) -> nn.Module:
    """``model`` with dropout ``dropout`` (None: as it is).  Pre-training often runs without dropout;
    fine-tuning on few labels wants some (BERT: 0.1).  Dropout lives in the architecture config, so
    the model is rebuilt with the new rate and keeps its weights."""
    if dropout is None or dropout == model.cfg.dropout:
        return model
    rebuilt = type(model)(model.cfg.model_copy(update={"dropout": dropout}))
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt


class TaskBackbone(ABC):
    """A backbone ready for a task: the model, where its weights came from, and how data reaches it."""

    model: nn.Module
    source: str  # "runs/x/checkpoints/step_000600", or "random init ..."

    def checkpoint_files(self, run_dir: Path) -> dict[str, Path]:
        """Files (written under ``run_dir``) to copy into every fine-tuning checkpoint, e.g. the tokenizer."""
        return {}

    @abstractmethod
    def objective(self, num_classes: int) -> nn.Module:
        """The classification objective: ``forward(batch)`` for training, ``logits(batch)`` and
        ``features(batch)`` (pooled, before the head) for evaluation and probes."""

    @abstractmethod
    def batches(self, data: TaskData, batch_size: int, seed: int = 0) -> LabeledBatches: ...

    @abstractmethod
    def with_fresh_weights(self) -> "TaskBackbone":
        """The same architecture and input pipeline with a new random initialisation."""

    def describe(self) -> str:
        """What the log says about how the model reads the task, e.g. its pooling."""
        return ""

    def consistency_views(self, method: str) -> tuple[Callable[[dict], dict], Callable[[dict], dict]]:
        """(weak, strong) noise of an unlabeled batch for consistency training: the weak view's prediction
        teaches the strong view's (``objectives/consistency.py``)."""
        raise HeadstartError(f"semi_supervised.method {method}: not available for {type(self).__name__}")

    @torch.no_grad()
    def features(self, data: TaskData, num_classes: int) -> np.ndarray:
        """Frozen pooled features of ``data``, one row per example (for probes and LogME)."""
        objective = self.objective(num_classes).eval()
        return np.concatenate([objective.features(b).float().numpy() for b in self.batches(data, 64).in_order()])


class TaskModality(ABC):
    name: str
    baseline_name: str  # the classical baseline, as the report names it
    baseline_protocol: str  # its key in ``transfer.probes.PROBE_PROTOCOL``
    ngram_side: bool = False  # whether its backbones can add the n-gram baseline's logits (``ngrams: true``)

    @abstractmethod
    def read(self, ref: DataRef, task: TaskConfig, key: str) -> TaskData:
        """The labeled examples ``ref`` names (``key`` is its config key, for messages)."""

    @abstractmethod
    def align(self, train: TaskData, other: TaskData) -> TaskData:
        """``other`` relabeled with ``train``'s ids; a label unseen in training is an error."""

    @abstractmethod
    def backbone(self, cfg: FinetuneConfig) -> TaskBackbone:
        """From ``cfg.init`` (pre-trained, or its architecture with ``cfg.scratch``) or ``cfg.model``."""

    @abstractmethod
    def load(self, checkpoint: Path, cfg: FinetuneConfig) -> TaskBackbone:
        """Another pre-trained checkpoint for the same task (``compare``'s and ``rank``'s extra candidates)."""

    @abstractmethod
    def baseline(self, train: TaskData, test: TaskData, seed: int) -> float:
        """Test accuracy of the classical baseline trained on ``train``'s labels."""

    def check_overlap(self, task: TaskConfig) -> None:
        """Raise when a held-out split shares examples with training; a file-per-split modality cannot."""

    def read_pool(self, ref: DataRef, task: TaskConfig, field: str, label_names: list[str]) -> TaskData:
        """The unlabeled pool ``ref`` as task data with labels -1, or the pool's own labels where it has them
        (a benchmark's pool: they are only ever reported, as the pseudo-labels' accuracy)."""
        raise HeadstartError(f"semi_supervised: the {self.name} modality has no unlabeled pool reader")
