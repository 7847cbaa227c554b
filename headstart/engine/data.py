"""What the engine needs from data: batches addressed by index.

A ``BatchSource`` returns batch ``i`` as a pure function of ``i`` (and its own seed).  That is what
makes resume exact and instant: the engine stores the next batch index in the checkpoint and asks for
it again, with no replay of the data seen so far and no loader state to pickle.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class BatchSource(Protocol):
    unit: str  # what throughput counts, e.g. "tokens" or "samples"

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        """Batch number ``index``; the same index always gives the same batch."""

    def units(self, batch: dict[str, torch.Tensor]) -> int:
        """How many units (tokens, samples) the batch trains on."""
