"""Utterance classification (keyword spotting, speaker id): a linear head on an audio encoder's
mean-pooled features; the fine-tuning objective for ``AudioEncoder`` backbones."""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .image_classification import ImageClassification


class AudioClassification(ImageClassification):
    """Batch ``{"features": (B, T, n_mels), "padding_mask": (B, T), "labels": (B,)}`` -> cross-entropy.

    The head, its zero initialisation and the loss are ``ImageClassification``'s; only the input differs.
    ``augment(features, padding_mask)`` (e.g. SpecAugment) is applied in training mode only.
    """

    def __init__(self, model, num_classes: int, *,
                 augment: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None, dropout: float = 0.0):
        super().__init__(model, num_classes, augment=augment, dropout=dropout)

    def augmented(self, batch: dict) -> dict:
        return {**batch, "features": self.augment(batch["features"], batch["padding_mask"])}

    def features(self, batch: dict) -> torch.Tensor:
        return self.model.features(batch["features"], batch.get("padding_mask"))
