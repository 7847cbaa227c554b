"""What a modality hands to the engine for ``headstart pretrain``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from torch import nn

from ..engine.data import BatchSource


@dataclass
class PretrainSetup:
    """A modality's model, objective and batches, ready for the engine."""

    objective: nn.Module  # holds the model as .model
    train_data: BatchSource
    val_data: BatchSource
    run_config: dict  # the config's record plus what the data settled: the model's full config, ...
    flops_per_unit: float = 0.0  # training FLOPs per train_data unit, for MFU; 0 when not counted
    extra_files: dict[str, Path] = field(default_factory=dict)  # copied into every checkpoint
    monitor: Optional[Callable[[nn.Module, dict], dict]] = None  # more validation metrics
    summary: str = ""  # for the log: the model's size
    per_step: str = ""  # for the log: what one optimizer step trains on, e.g. "1536 tokens"
    # What a new run (not a resumed one, whose checkpoint holds the weights) does to the model before the
    # first step, e.g. seed token embeddings from word vectors; returns a line for the log.
    fresh_start: Optional[Callable[[], str]] = None
