"""Supervised image classification: a linear head on a backbone's pooled features.

The baseline that pre-training must beat, and the fine-tuning objective for image backbones: any
model with ``features(images) -> (B, D)`` and ``feature_dim`` (``VisionTransformer``, ``ResNet``).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..kernels import Linear
from .base import ObjectiveOutput
from .consistency import Consistency, supervised_plus_consistency
from .heads import ExampleDropout


class ImageClassification(nn.Module):
    """Batch ``{"images": (B, C, H, W) float in [0, 1], "labels": (B,)}`` -> cross-entropy.

    ``augment`` (e.g. a random crop and flip) is applied in training mode only, so evaluation
    scores the images as they are.
    """

    def __init__(self, model: nn.Module, num_classes: int, *,
                 augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, dropout: float = 0.0):
        super().__init__()
        self.model, self.augment = model, augment
        self.dropout = ExampleDropout(dropout)  # per-example masks: N processes = 1
        self.head = Linear(model.feature_dim, num_classes)
        nn.init.zeros_(self.head.weight)  # start from uniform predictions: no random bias towards a class
        nn.init.zeros_(self.head.bias)

    def features(self, batch: dict) -> torch.Tensor:
        """Pooled backbone features (B, D) of the images as they are (no augmentation)."""
        return self.model.features(batch["images"])

    def logits(self, batch: dict) -> torch.Tensor:
        return self.head(self.dropout(self.features(batch))).float()

    def augmented(self, batch: dict) -> dict:
        """The batch with ``augment`` applied to its inputs (subclasses with other inputs override this)."""
        return {**batch, "images": self.augment(batch["images"])}

    consistency: Optional[Consistency] = None  # semi-supervised fine-tuning sets it (objectives/consistency.py)

    def forward(self, batch: dict) -> ObjectiveOutput:
        def logits_of(labeled: dict) -> torch.Tensor:
            if self.augment is not None and self.training:
                labeled = self.augmented(labeled)
            return self.logits(labeled)
        return supervised_plus_consistency(self, batch, logits_of)
