"""Batches of tokenized, labeled texts for fine-tuning, padded to the longest text in each batch."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to ``max_length`` (an empty encoding keeps one pad-free id: EOS)."""
    return [enc.ids[:max_length] for enc in tokenizer.encode_batch(list(texts))]


class TextClassificationBatches:
    """Batch ``i`` comes from a per-epoch permutation seeded by ``(seed, epoch)``: addressable by index,
    so fine-tuning resumes exactly like pre-training."""

    unit = "samples"

    def __init__(self, token_ids: list[list[int]], labels: Sequence[int], *, batch_size: int, pad_id: int,
                 fallback_id: int, seed: int = 0):
        # An empty text still needs one position to pool over: use a special token, never padding.
        self.ids = [ids or [fallback_id] for ids in token_ids]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.batch_size, self.pad_id, self.seed = batch_size, pad_id, seed
        self.per_epoch = max(1, -(-len(self.ids) // batch_size))
        self._order: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))  # the current epoch's permutation

    def _collate(self, indices) -> dict[str, torch.Tensor]:
        longest = max(len(self.ids[i]) for i in indices)
        inputs = np.full((len(indices), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(indices), longest), dtype=bool)
        for row, i in enumerate(indices):
            inputs[row, : len(self.ids[i])] = self.ids[i]
            mask[row, : len(self.ids[i])] = True
        return {"inputs": torch.from_numpy(inputs), "padding_mask": torch.from_numpy(mask),
                "labels": torch.from_numpy(self.labels[list(indices)])}

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        epoch, position = divmod(index, self.per_epoch)
        if self._order[0] != epoch:  # drawn once per epoch, not at every step
            self._order = (epoch, np.random.Generator(np.random.PCG64([self.seed, epoch])).permutation(len(self.ids)))
        return self._collate(self._order[1][position * self.batch_size:(position + 1) * self.batch_size])

    def in_order(self) -> Iterator[dict[str, torch.Tensor]]:
        """Every example once, in file order (for evaluation)."""
        for start in range(0, len(self.ids), self.batch_size):
            yield self._collate(range(start, min(start + self.batch_size, len(self.ids))))

    def units(self, batch: dict) -> int:
        return len(batch["labels"])

    def __len__(self) -> int:
        return len(self.ids)
