"""Batches of tokenized, labeled texts for fine-tuning, padded to the longest text in each batch."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..modality import LabeledBatches


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length`` (an empty encoding keeps one pad-free id: EOS)."""
    return [enc.ids[:max_length] for enc in tokenizer.encode_batch(list(texts))]


class TextClassificationBatches(LabeledBatches):
    """``{"inputs", "padding_mask" (True = real token), "labels"}``; ``in_order`` keeps file order."""

    def __init__(self, token_ids: list[list[int]], labels: Sequence[int], *, batch_size: int, pad_id: int,
                 fallback_id: int, seed: int = 0):
        # An empty text still needs one position to pool over: use a special token, never padding.
        self.ids = [ids or [fallback_id] for ids in token_ids]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.pad_id = pad_id
        super().__init__(len(self.ids), batch_size, seed)

    def collate(self, indices) -> dict[str, torch.Tensor]:
        longest = max(len(self.ids[i]) for i in indices)
        inputs = np.full((len(indices), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(indices), longest), dtype=bool)
        for row, i in enumerate(indices):
            inputs[row, : len(self.ids[i])] = self.ids[i]
            mask[row, : len(self.ids[i])] = True
        return {"inputs": torch.from_numpy(inputs), "padding_mask": torch.from_numpy(mask),
                "labels": torch.from_numpy(self.labels[list(indices)])}
