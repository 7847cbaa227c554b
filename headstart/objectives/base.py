from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class ObjectiveOutput:
    """What every objective returns: the loss to minimise and metrics worth logging."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


def perplexity(metrics: dict[str, float]) -> dict[str, float]:
    """exp(mean token cross-entropy), as language-model papers and HF run_clm/run_mlm report it."""
    return {"perplexity": math.exp(min(metrics["loss"], 50.0))}  # capped: exp overflows past ~709
