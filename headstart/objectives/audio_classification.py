"""Utterance classification (keyword spotting, speaker id): a linear head on an audio encoder's
mean-pooled features; the fine-tuning objective for ``AudioEncoder`` backbones."""
from __future__ import annotations

import torch

from .image_classification import ImageClassification


class AudioClassification(ImageClassification):
    """Batch ``{"features": (B, T, n_mels), "padding_mask": (B, T), "labels": (B,)}`` -> cross-entropy.

    The head, its zero initialisation and the loss are ``ImageClassification``'s; only the input differs.
    """

    def __init__(self, model, num_classes: int, dropout: float = 0.0):
        super().__init__(model, num_classes, dropout=dropout)

    def features(self, batch: dict) -> torch.Tensor:
        return self.model.features(batch["features"], batch.get("padding_mask"))
