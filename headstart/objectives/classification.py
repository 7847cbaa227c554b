"""Sequence classification on top of any backbone that maps inputs to hidden states.

The backbone needs ``hidden_states(inputs, padding_mask) -> (B, T, D)`` and ``cfg.d_model``: the text
transformer has them, and vision/audio encoders built on the same blocks will too.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import Linear
from .base import ObjectiveOutput

POOLINGS = ("first", "mean", "last")


def pool(hidden: torch.Tensor, padding_mask: Optional[torch.Tensor], how: str) -> torch.Tensor:
    """(B, T, D) -> (B, D).  ``last`` takes the last real position (a decoder has seen everything there)."""
    if how == "first":
        return hidden[:, 0]
    if padding_mask is None:
        return hidden.mean(1) if how == "mean" else hidden[:, -1]
    if how == "mean":
        weights = padding_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    last = padding_mask.long().sum(1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class Classification(nn.Module):
    """Batch ``{"inputs", "padding_mask" (optional, True = real), "labels"}`` -> cross-entropy."""

    def __init__(self, model: nn.Module, num_classes: int, pooling: str = "mean", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model, self.pooling = model, pooling
        self.dropout = nn.Dropout(dropout)
        self.head = Linear(model.cfg.d_model, num_classes)
        nn.init.zeros_(self.head.weight)  # start from uniform predictions: no random bias towards a class
        nn.init.zeros_(self.head.bias)

    def features(self, batch: dict) -> torch.Tensor:
        mask = batch.get("padding_mask")
        return pool(self.model.hidden_states(batch["inputs"], mask), mask, self.pooling)

    def logits(self, batch: dict) -> torch.Tensor:
        return self.head(self.dropout(self.features(batch))).float()

    def forward(self, batch: dict) -> ObjectiveOutput:
        logits = self.logits(batch)
        loss = F.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        return ObjectiveOutput(loss, {"loss": loss.detach(), "accuracy": accuracy.detach()})
