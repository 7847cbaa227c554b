"""Next-token prediction (GPT-style)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .base import ObjectiveOutput, perplexity


class CausalLM(nn.Module):
    """Batch ``{"tokens": (B, T + 1)}``: predict ``tokens[:, 1:]`` from ``tokens[:, :-1]``."""

    derived_metrics = staticmethod(perplexity)  # added to evaluation results
    sequence_offset = 1  # the batch carries one token more than the model sees

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> ObjectiveOutput:
        tokens = batch["tokens"]
        logits = self.model(tokens[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())
        return ObjectiveOutput(loss, {"loss": loss.detach()})
