"""Utterance classification (keyword spotting, speaker id): a linear head on an audio encoder's
mean-pooled features; the fine-tuning objective for ``AudioEncoder`` backbones."""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .base import ObjectiveOutput
from .image_classification import ImageClassification


class AudioClassification(ImageClassification):
    """Batch ``{"features": (B, T, n_mels), "padding_mask": (B, T), "labels": (B,)}`` -> cross-entropy.

    The head, its zero initialisation and the loss are ``ImageClassification``'s; only the input differs.
    ``augment(features, padding_mask)`` (e.g. SpecAugment) is applied in training mode only.
    """

    def __init__(self, model, num_classes: int, *,
                 augment: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None, dropout: float = 0.0):
        super().__init__(model, num_classes, dropout=dropout)
        self.augment_clips = augment

    def forward(self, batch: dict) -> ObjectiveOutput:
        if self.augment_clips is not None and self.training:
            batch = {**batch, "features": self.augment_clips(batch["features"], batch["padding_mask"])}
        return super().forward(batch)

    def features(self, batch: dict) -> torch.Tensor:
        return self.model.features(batch["features"], batch.get("padding_mask"))
