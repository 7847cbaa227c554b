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

POOLINGS = ("first", "mean", "last", "max", "mean_max")


def pooled_width(d_model: int, how: str) -> int:
    return 2 * d_model if how == "mean_max" else d_model


def pool(hidden: torch.Tensor, padding_mask: Optional[torch.Tensor], how: str) -> torch.Tensor:
    """(B, T, D) -> (B, D), or (B, 2D) for ``mean_max`` (the mean and the per-dimension max, concatenated,
    as bag-of-embeddings classifiers pool).  ``last`` takes the last real position (a decoder has seen
    everything there)."""
    if how == "first":
        return hidden[:, 0]
    if how == "mean_max":
        return torch.cat([pool(hidden, padding_mask, "mean"), pool(hidden, padding_mask, "max")], dim=-1)
    if how == "max":
        if padding_mask is not None:
            hidden = hidden.masked_fill(~padding_mask.unsqueeze(-1), float("-inf"))
        return hidden.amax(1)
    if padding_mask is None:
        return hidden.mean(1) if how == "mean" else hidden[:, -1]
    if how == "mean":
        weights = padding_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    last = padding_mask.long().sum(1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class Classification(nn.Module):
    """Batch ``{"inputs", "padding_mask" (optional, True = real), "labels"}`` -> cross-entropy."""

    def __init__(self, model: nn.Module, num_classes: int, pooling: str = "mean", dropout: float = 0.1,
                 feature_norm: bool = False):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model, self.pooling = model, pooling
        width = pooled_width(model.cfg.d_model, pooling)
        # A transformer's pooled states come out of its final norm; a bag of word vectors has none, and
        # its averages are small (word2vec's vectors, averaged over hundreds of words): normalised, one
        # learning rate suits the head of both.
        self.norm = nn.LayerNorm(width) if feature_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = Linear(width, num_classes)
        nn.init.zeros_(self.head.weight)  # start from uniform predictions: no random bias towards a class
        nn.init.zeros_(self.head.bias)

    def features(self, batch: dict) -> torch.Tensor:
        mask = batch.get("padding_mask")
        return pool(self.model.hidden_states(batch["inputs"], mask, **self._extra_inputs(batch)), mask, self.pooling)

    @staticmethod
    def _extra_inputs(batch: dict) -> dict:
        """Subword n-grams of words outside a word-vector model's vocabulary (``text/word_bags.py``)."""
        if "subword_positions" not in batch:
            return {}
        return {"subwords": {"positions": batch["subword_positions"], "buckets": batch["subword_buckets"]}}

    def logits(self, batch: dict) -> torch.Tensor:
        return self.head(self.dropout(self.norm(self.features(batch)))).float()

    def forward(self, batch: dict) -> ObjectiveOutput:
        logits = self.logits(batch)
        loss = F.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        return ObjectiveOutput(loss, {"loss": loss.detach(), "accuracy": accuracy.detach()})
