"""Token noise for consistency training on unlabeled text (UDA-style): a copy of each text with some
words deleted and some replaced by random words of the vocabulary.

Xie et al. (2020) noised IMDb with back-translation and TF-IDF word replacement; neither fits a laptop
run offline, and random deletion plus replacement at the same rates is the cheap, model-free stand-in
(EDA, Wei & Zou 2019).  Draws come from the global torch RNG, which the engine saves and restores."""
from __future__ import annotations

from typing import Callable

import torch


def token_noise(vocab_size: int, delete: float = 0.15, replace: float = 0.15) -> Callable[[dict], dict]:
    """A function of a text batch (``inputs``, ``padding_mask``) -> the batch with noised tokens: a share
    ``delete`` of each text's tokens masked out (every text keeps at least one) and ``replace`` swapped for
    random ids."""
    def noised(batch: dict) -> dict:
        inputs, mask = batch["inputs"], batch["padding_mask"]
        keep = mask & (torch.rand(mask.shape, device=mask.device) >= delete)
        first = mask.long().argmax(1)  # a text whose every token was dropped keeps its first one
        emptied = ~keep.any(1)
        keep[emptied, first[emptied]] = True
        swap = keep & (torch.rand(mask.shape, device=mask.device) < replace)
        random_ids = torch.randint(0, vocab_size, inputs.shape, device=inputs.device)
        return {**batch, "inputs": torch.where(swap, random_ids, inputs), "padding_mask": keep}
    return noised


def text_views(tokenizer) -> tuple[Callable[[dict], dict], Callable[[dict], dict]]:
    """Consistency views of text: the clean text teaches a copy with words deleted and replaced (UDA)."""
    return (lambda batch: batch), token_noise(tokenizer.get_vocab_size())
