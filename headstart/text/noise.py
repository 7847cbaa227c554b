"""Token noise for consistency training on unlabeled text (UDA-style): a copy of each text with some
words deleted and some replaced by random words of the vocabulary.

Xie et al. (2020) noised IMDb with back-translation and TF-IDF word replacement; neither fits a laptop
run offline, and random deletion plus replacement at the same rates is the cheap, model-free stand-in
(EDA, Wei & Zou 2019).  Draws are per text over its own tokens (``engine.draws.rand_rows``): the same whatever
else is in the batch, so fine-tuning under torchrun draws what one process would."""
from __future__ import annotations

from typing import Callable

import torch

from ..engine import draws


def token_noise(vocab_size: int, delete: float = 0.15, replace: float = 0.15) -> Callable[[dict], dict]:
    """A function of a text batch (``inputs``, ``padding_mask``) -> the batch with noised tokens: a share
    ``delete`` of each text's tokens masked out (every text keeps at least one) and ``replace`` swapped for
    random ids."""
    def noised(batch: dict) -> dict:
        inputs, mask = batch["inputs"], batch["padding_mask"]
        lengths, width = mask.sum(1), mask.shape[1]
        keep = mask & (draws.rand_rows(lengths, width, device=mask.device) >= delete)
        first = mask.long().argmax(1)  # a text whose every token was dropped keeps its first one
        emptied = ~keep.any(1)
        keep[emptied, first[emptied]] = True
        swap = keep & (draws.rand_rows(lengths, width, device=mask.device) < replace)
        random_ids = (draws.rand_rows(lengths, width, fill=0.0, device=inputs.device) * vocab_size).long()
        random_ids = random_ids.clamp(max=vocab_size - 1)
        return {**batch, "inputs": torch.where(swap, random_ids, inputs), "padding_mask": keep}
    return noised


def text_views(tokenizer) -> tuple[Callable[[dict], dict], Callable[[dict], dict]]:
    """Consistency views of text: the clean text teaches a copy with words deleted and replaced (UDA)."""
    return (lambda batch: batch), token_noise(tokenizer.get_vocab_size())
