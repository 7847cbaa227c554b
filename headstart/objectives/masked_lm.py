"""Masked language modelling (BERT-style): 15% of tokens chosen, of those 80% masked, 10% random, 10% kept."""
from __future__ import annotations

from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..engine import draws
from .base import ObjectiveOutput, perplexity

IGNORE = -100


def ordinary_ids(vocab_size: int, special_ids: Iterable[int]) -> torch.Tensor:
    """The token ids a random replacement may use: the vocabulary without special tokens."""
    keep = torch.ones(vocab_size, dtype=torch.bool)
    keep[list(set(special_ids))] = False
    return keep.nonzero().squeeze(1)


def mask_tokens(tokens: torch.Tensor, *, mask_id: int, special_ids: Iterable[int] | torch.Tensor, replacement_ids: torch.Tensor,
                prob: float = 0.15, generator: Optional[torch.Generator] = None):
    """Return ``(inputs, targets)``; targets are ``IGNORE`` except at the chosen positions.

    Special tokens (document separators, padding) are never chosen; random replacements are drawn
    from ``replacement_ids`` (see ``ordinary_ids``), never a special token.
    """
    specials = special_ids if torch.is_tensor(special_ids) else torch.tensor(sorted(set(special_ids)))
    specials = specials.to(tokens.device)  # a no-op for MaskedLM's buffer, already on the device
    # Without a generator: the engine's per-example draws (the same masks however a batch is split over processes).
    draw = lambda: (torch.rand(tokens.shape, device=tokens.device, generator=generator) if generator is not None  # noqa: E731
                    else draws.rand(*tokens.shape, device=tokens.device))
    chosen = (draw() < prob) & ~torch.isin(tokens, specials)
    targets = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE))
    action = draw()
    inputs = tokens.clone()
    inputs[chosen & (action < 0.8)] = mask_id
    randomise = chosen & (action >= 0.8) & (action < 0.9)
    replacement_ids = replacement_ids.to(tokens.device)
    picks = (torch.randint(len(replacement_ids), tokens.shape, device=tokens.device, generator=generator)
             if generator is not None else draws.randint(len(replacement_ids), *tokens.shape, device=tokens.device))
    inputs[randomise] = replacement_ids[picks][randomise]
    return inputs, targets


class MaskedLM(nn.Module):
    """Batch ``{"tokens": (B, T)}``; masks per example from the engine's draws (``engine.draws``)."""

    derived_metrics = staticmethod(perplexity)  # added to evaluation results
    sequence_offset = 0

    def __init__(self, model: nn.Module, *, mask_id: int, special_ids: Iterable[int], mask_prob: float = 0.15):
        super().__init__()
        self.model = model
        self.mask_id, self.mask_prob = mask_id, mask_prob
        # Computed once: building it per batch would loop over the vocabulary in Python every step.
        self.register_buffer("replacement_ids", ordinary_ids(model.cfg.vocab_size, special_ids), persistent=False)
        # On the model's device once, not copied from the host at every step.
        self.register_buffer("special_id_tensor", torch.tensor(sorted(set(special_ids))), persistent=False)

    def forward(self, batch: dict) -> ObjectiveOutput:
        inputs, targets = mask_tokens(batch["tokens"], mask_id=self.mask_id, special_ids=self.special_id_tensor,
                                      replacement_ids=self.replacement_ids, prob=self.mask_prob)
        chosen = targets != IGNORE
        # Project only the chosen positions to the vocabulary: ~7x less head compute than all of them.
        hidden = self.model.hidden_states(inputs)[chosen]
        logits = self.model.logits(hidden).float()
        # Summed and divided by the global batch's mean count per process: under torchrun the processes' losses
        # average to the mean over every chosen token, as on one process, however unevenly the masks fall.
        n_chosen = draws.global_count(chosen.sum()).clamp(min=1)
        loss = F.cross_entropy(logits, targets[chosen], reduction="sum") / n_chosen
        accuracy = (logits.argmax(-1) == targets[chosen]).float().sum() / n_chosen
        return ObjectiveOutput(loss, {"loss": loss.detach(), "masked_accuracy": accuracy.detach()})
