"""Texts as bags of word ids for a word-vector model, with fastText's subword n-grams for unseen words.

The word tokenizer (``prepare text --tokenizer word``) maps a word outside its vocabulary to
``<unk>``; a model with subword vectors gives that word the mean of its character n-grams' vectors
instead, hashed exactly as gensim's FastText hashed them in pre-training (gensim's own functions, so
the two can never drift apart).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import torch

from ..modality import LabeledBatches
from ..tokenizer import special_token_ids


class WordBagEncoder:
    """``encode(texts)`` -> per text ``(ids, unseen)``: token ids, and ``{position: n-gram buckets}`` of
    its words outside the vocabulary (empty when the model has no subword vectors)."""

    def __init__(self, tokenizer, subword_buckets: int = 0, min_n: int = 3, max_n: int = 6):
        self.tokenizer, self.buckets, self.min_n, self.max_n = tokenizer, subword_buckets, min_n, max_n
        self.unk = special_token_ids(tokenizer)["unk"]

    def encode(self, texts: Sequence[str], max_length: Optional[int] = None) -> list[tuple[list[int], dict]]:
        out = []
        for text, encoding in zip(texts, self.tokenizer.encode_batch(list(texts))):
            ids = encoding.ids[:max_length]
            unseen = {}
            if self.buckets:
                for position, (token_id, (start, end)) in enumerate(zip(ids, encoding.offsets)):
                    if token_id == self.unk and end > start:
                        unseen[position] = self._ngrams(self._normalized(text[start:end]))
            out.append((ids, unseen))
        return out

    def _normalized(self, word: str) -> str:
        normalizer = self.tokenizer.normalizer
        return normalizer.normalize_str(word) if normalizer is not None else word

    @lru_cache(maxsize=65536)
    def _ngrams(self, word: str) -> tuple[int, ...]:
        from gensim.models.fasttext import ft_ngram_hashes
        return tuple(ft_ngram_hashes(word, self.min_n, self.max_n, self.buckets))


class WordBagBatches(LabeledBatches):
    """``{"inputs", "padding_mask", "labels"}`` plus ``subword_positions`` / ``subword_buckets`` when some
    word of the batch is outside the vocabulary and the model has n-gram vectors."""

    def __init__(self, encoded: list[tuple[list[int], dict]], labels: Sequence[int], *, batch_size: int,
                 pad_id: int, fallback_id: int, seed: int = 0):
        # An empty text still needs one position to pool over: a special token, never padding.
        self.encoded = [(ids, unseen) if ids else ([fallback_id], {}) for ids, unseen in encoded]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.pad_id = pad_id
        super().__init__(len(self.encoded), batch_size, seed)

    def collate(self, indices) -> dict[str, torch.Tensor]:
        rows = [self.encoded[i] for i in indices]
        longest = max(len(ids) for ids, _ in rows)
        inputs = np.full((len(rows), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), longest), dtype=bool)
        positions, bags = [], []
        for row, (ids, unseen) in enumerate(rows):
            inputs[row, :len(ids)] = ids
            mask[row, :len(ids)] = True
            for position, buckets in unseen.items():
                positions.append(row * longest + position)
                bags.append(buckets)
        batch = {"inputs": torch.from_numpy(inputs), "padding_mask": torch.from_numpy(mask),
                 "labels": torch.from_numpy(self.labels[list(indices)])}
        if positions:
            width = max(len(b) for b in bags)
            buckets = np.full((len(bags), max(width, 1)), -1, dtype=np.int64)
            for k, bag in enumerate(bags):
                buckets[k, :len(bag)] = bag
            batch["subword_positions"] = torch.tensor(positions, dtype=torch.int64)
            batch["subword_buckets"] = torch.from_numpy(buckets)
        return batch
