"""SimCLR (Chen et al. 2020): two augmented views of each image must find each other among all views.

The objective is the loss, a projection head and the augmentation; the backbone is any model with
``features(images) -> (B, D)`` and ``feature_dim`` (``VisionTransformer``, ``ResNet``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .base import ObjectiveOutput
from .gather import gather_across_ranks
from .heads import ProjectionHead


def nt_xent_loss(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent: the normalised-temperature cross-entropy of SimCLR.  Returns (loss, accuracy).

    ``z_a[i]`` and ``z_b[i]`` are two views of image i.  Each of the 2B views is a query whose
    positive is its partner and whose negatives are every other view (of every rank, under
    torch.distributed); accuracy is how often the positive scores highest.
    """
    z = F.normalize(torch.cat((z_a, z_b)).float(), dim=1)
    candidates, offset = gather_across_ranks(z)
    n = z.shape[0]
    rows = torch.arange(n, device=z.device)
    logits = z @ candidates.T / temperature
    itself = torch.zeros_like(logits, dtype=torch.bool)
    itself[rows, offset + rows] = True
    logits = logits.masked_fill(itself, float("-inf"))  # a view is not its own positive or negative
    positives = offset + (rows + n // 2) % n
    loss = F.cross_entropy(logits, positives)
    accuracy = (logits.argmax(1) == positives).float().mean()
    return loss, accuracy


def embedding_std(embeddings: torch.Tensor) -> torch.Tensor:
    """Collapse metric: per-dimension std of L2-normalised embeddings, averaged, times sqrt(dim).

    About 1 for embeddings spread over the sphere, 0 when they have collapsed to one point (the
    failure that goes unnoticed in lightly #134).  Scaled by sqrt(dim) so the healthy value does not
    depend on the width, unlike lightly's unscaled 1/sqrt(dim).
    """
    normalised = F.normalize(embeddings.detach().float(), dim=1)
    return normalised.std(0).mean() * math.sqrt(embeddings.shape[1])


class SimCLR(nn.Module):
    """Batch ``{"images": (B, C, H, W) float in [0, 1]}``; ``augment(images)`` makes one random view.

    Augmentation draws from the global torch RNG, which the engine saves and restores on resume.
    """

    def __init__(self, model: nn.Module, augment: Callable[[torch.Tensor], torch.Tensor], *,
                 projection_dim: int = 128, hidden_dim: int = 512, temperature: float = 0.5):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.model, self.augment, self.temperature = model, augment, temperature
        self.head = ProjectionHead(model.feature_dim, hidden_dim, projection_dim)

    def forward(self, batch: dict) -> ObjectiveOutput:
        images = batch["images"]
        # One backbone pass per view, as lightly's and solo-learn's loops do: BatchNorm normalises each
        # view with its own batch statistics, and on a CPU two passes of B images run faster than one
        # of 2B (1.27 s vs 1.34 s for resnet-tiny, 512 images of 32 px, bench/resnet_layout.py).
        z_a = self.head(self.model.features(self.augment(images)))
        z_b = self.head(self.model.features(self.augment(images)))
        projections = torch.cat((z_a, z_b))
        loss, accuracy = nt_xent_loss(z_a, z_b, self.temperature)
        # Collapse is watched where the loss acts, as lightly does: the head's BatchNorm centres the
        # projections, so a healthy value is near 1.  Backbone features after ReLU and pooling all
        # point into one orthant, and read well below 1 even when training is fine.
        return ObjectiveOutput(loss, {"loss": loss.detach(), "contrastive_accuracy": accuracy.detach(),
                                      "embedding_std": embedding_std(projections)})
